//! Copies: the same secret pasted into several files or paths (`dev`, `staging`, `prod`)
//! multiplies what one leak opens, and rotating it in one place leaves the others.
//!
//! Values are compared through HMAC-SHA-256 under a key drawn at random for this run and
//! never stored: the digests cannot be checked against guesses after the run, and neither
//! they nor the values are printed — the report names places only.

use std::collections::HashMap;

use serde::Serialize;
use tresor_sops::store::Store;

use crate::value_age::{encrypted_leaves, Opener};

/// Values shorter than this are not compared: `true`, `1`, `admin` are equal everywhere
/// without being the same secret.
pub const MIN_LENGTH: usize = 8;

/// One place a value sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct Place {
    /// The file.
    pub file: String,
    /// The value's path in sops' notation.
    pub path: String,
}

/// A file that could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotOpened {
    /// The file.
    pub file: String,
    /// Why.
    pub why: String,
}

/// The copies among a set of files.
#[derive(Debug, Default, Serialize)]
pub struct CopiesReport {
    /// Each group: two or more places holding the same encrypted value.
    pub groups: Vec<Vec<Place>>,
    /// Encrypted values compared.
    pub values_compared: usize,
    /// Encrypted values too short to compare (see [`MIN_LENGTH`]).
    pub values_too_short: usize,
    /// Files opened.
    pub files_opened: usize,
    /// Files that could not be opened here (no key, not a SOPS file): not compared.
    pub not_opened: Vec<NotOpened>,
}

impl CopiesReport {
    /// The smallest value length compared.
    pub fn min_length(&self) -> usize {
        MIN_LENGTH
    }
}

/// Find the copies among `files` (name, store, bytes), opening each with `open`. Values
/// are compared by tag (`crate::plain`): each opened file is wiped once its leaves are tagged.
pub fn find_copies(files: &[(String, &dyn Store, Vec<u8>)], open: Opener) -> CopiesReport {
    let tagger = crate::plain::Tagger::new();
    let mut by_tag: HashMap<crate::plain::Tag, Vec<Place>> = HashMap::new();
    let mut out = CopiesReport::default();
    for (file, store, bytes) in files {
        let encrypted = store.metadata(bytes).ok().and_then(|_| encrypted_leaves(*store, bytes));
        let Some(encrypted) = encrypted else {
            out.not_opened.push(NotOpened { file: file.clone(), why: "not a SOPS file".into() });
            continue;
        };
        let Some(data) = open(*store, bytes) else {
            out.not_opened.push(NotOpened { file: file.clone(), why: "no key here opens it".into() });
            continue;
        };
        out.files_opened += 1;
        let tags = tagger.tags(data);
        for (path, _) in encrypted {
            let Some(tag) = tags.get(&path) else { continue };
            if tag.len < MIN_LENGTH {
                out.values_too_short += 1;
                continue;
            }
            out.values_compared += 1;
            by_tag.entry(*tag).or_default().push(Place { file: file.clone(), path });
        }
    }
    out.groups = by_tag.into_values().filter(|g| g.len() > 1).collect();
    for g in &mut out.groups {
        g.sort();
    }
    out.groups.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as J;

    #[test]
    fn equal_values_group_and_short_or_unopened_ones_are_counted() {
        let store = tresor_sops::store::for_path("x.yaml");
        let enc = |s: &str| format!("ENC[AES256_GCM,data:{s},iv:x,tag:y,type:str]");
        let m = "sops:\n    version: 3.11.0\n";
        let file = |name: &str, keys: &[&str]| {
            let t: String = keys.iter().map(|k| format!("{k}: {}\n", enc(k))).collect();
            (name.to_string(), store, format!("{t}plain: clear\n{m}").into_bytes())
        };
        let files = [
            file("dev.yaml", &["db", "api", "flag"]),
            file("prod.yaml", &["db", "other"]),
            file("locked.yaml", &["db"]),
            ("notes.yaml".to_string(), store, b"just: text\n".to_vec()),
        ];
        // The "plaintexts": db is the same password in dev and prod; `plain` is not encrypted.
        let open = |_: &dyn Store, bytes: &[u8]| -> Option<J> {
            let t = String::from_utf8_lossy(bytes);
            if t.contains("other") {
                Some(
                    serde_json::json!({"db": "s3cret-password", "other": "different-value", "plain": "clear-but-long"}),
                )
            } else if t.contains("api") {
                Some(
                    serde_json::json!({"db": "s3cret-password", "api": "api-key-123456", "flag": true, "plain": "clear-but-long"}),
                )
            } else {
                None
            }
        };
        let r = find_copies(&files, &open);
        let places = |g: &[Place]| g.iter().map(|p| format!("{} {}", p.file, p.path)).collect::<Vec<_>>();
        assert_eq!(r.groups.len(), 1, "{r:?}");
        assert_eq!(places(&r.groups[0]), ["dev.yaml [\"db\"]", "prod.yaml [\"db\"]"]);
        assert_eq!((r.values_compared, r.values_too_short, r.files_opened), (4, 1, 2));
        let not: Vec<(&str, &str)> = r.not_opened.iter().map(|n| (n.file.as_str(), n.why.as_str())).collect();
        assert_eq!(not, [("locked.yaml", "no key here opens it"), ("notes.yaml", "not a SOPS file")]);
    }
}
