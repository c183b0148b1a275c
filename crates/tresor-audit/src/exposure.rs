//! What a key that left could still read: offboarding, a lost laptop, a retired KMS key.
//!
//! Removing a recipient protects only what is written afterwards. Every revision in Git
//! whose data key was wrapped for the key stays readable to its holder, and every value of
//! such a revision that is *still current* is exposed today. This module walks each file's
//! history (metadata only: which keys wrapped each revision's data key) and classifies
//! every current encrypted value that an exposed revision held at the same path:
//!
//! - **must rotate**: the value is unchanged since a revision the key could read — proven
//!   without a key by an equal ciphertext (tresor and sops keep a value's ciphertext while
//!   the value and data key stay), or with a key by equal plaintexts (compared in memory,
//!   never printed);
//! - **rotated since**: with a key, every exposed revision held another plaintext there;
//! - **unknown**: without a key, a different ciphertext cannot tell a changed value from a
//!   re-encrypted one (`rotate` and sops' edits re-encrypt everything).
//!
//! In a file with Shamir key groups the key opens only its group's share; revisions it
//! cannot open alone are listed apart, not counted as exposed.

use std::collections::HashMap;

use serde::Serialize;
use tresor_keys::service::{KeySpec, SERVICES};
use tresor_sops::metadata::{MasterKey, Metadata};
use tresor_sops::store::Store;

use crate::value_age::{encrypted_leaves, Opener, Version};

/// The key the report is about, as given: an age recipient (X25519 or post-quantum), a
/// PGP fingerprint (full, or its last 16 hex digits), or a KMS/transit key as tresor spells
/// it in `--hc-vault-transit`, `--okms`, `--kms`… .
pub struct Subject {
    given: String,
    /// `(kind, id)` for every key service that reads `given` as one of its keys.
    specs: Vec<(&'static str, String)>,
}

impl Subject {
    /// Read `text` as every service that accepts it would.
    pub fn new(text: &str) -> Subject {
        let given = text.trim().to_string();
        let specs = SERVICES
            .iter()
            .filter_map(|row| KeySpec::parse(row.kind, &given).ok().map(|s| (s.kind(), s.id().to_string())))
            .collect();
        Subject { given, specs }
    }

    /// The key as given.
    pub fn given(&self) -> &str {
        &self.given
    }

    /// Was `key` made for this subject?
    pub fn matches(&self, key: &MasterKey) -> bool {
        let Some(spec) = KeySpec::of(key) else { return false };
        self.specs.iter().any(|(kind, id)| {
            *kind == spec.kind()
                && (id == spec.id()
                    // A PGP key is often named by its 64-bit key id: the fingerprint's tail.
                    || (*kind == "pgp"
                        && id.len() >= 16
                        && id.bytes().all(|b| b.is_ascii_hexdigit())
                        && spec.id().ends_with(id.as_str())))
        })
    }
}

/// Can the subject alone recover the data key of a revision with this metadata? `None`
/// when it holds no key there; `Some(false)` when it holds a share of a Shamir split that
/// needs more groups than the one it sits in.
fn opens(subject: &Subject, meta: &Metadata) -> Option<bool> {
    let groups_with = meta.key_groups.iter().filter(|g| g.keys.iter().any(|k| subject.matches(k))).count();
    if groups_with == 0 {
        return None;
    }
    let groups = meta.key_groups.len();
    // sops: a threshold of 0 means every group; one group holds the whole key.
    let threshold = if meta.shamir_threshold == 0 { groups } else { meta.shamir_threshold };
    Some(groups <= 1 || groups_with >= threshold)
}

/// A current value a revision readable by the subject held too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposed {
    /// The file.
    pub file: String,
    /// The value's path in sops' notation.
    pub path: String,
    /// For values that must rotate: the oldest readable revision that already held today's
    /// value (readable since then); otherwise the newest readable revision that held the
    /// path (changed, or re-encrypted, since then).
    pub since_commit: String,
    /// That commit's date.
    pub since_date: String,
}

/// A revision the subject holds only a Shamir share of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareOnly {
    /// The file.
    pub file: String,
    /// The revision's commit.
    pub commit: String,
}

/// The exposure of one key across the files' histories.
#[derive(Debug, Default, Serialize)]
pub struct Exposure {
    /// The key as given.
    pub recipient: String,
    /// Current values unchanged since a revision the key could read: rotate these.
    pub must_rotate: Vec<Exposed>,
    /// Current values that changed after every revision the key could read.
    pub rotated_since: Vec<Exposed>,
    /// Current values a readable revision held under another ciphertext, with no key here
    /// to compare the plaintexts (run with `--with-keys` and a key that opens both).
    pub unknown: Vec<Exposed>,
    /// Files whose current revision is still encrypted for the key: remove it first
    /// (`tresor rotate --rm-…`), or every value stays readable.
    pub still_a_recipient: Vec<String>,
    /// Revisions the key holds only a Shamir share of (not readable with it alone).
    pub share_only: Vec<ShareOnly>,
    /// Revisions read, across all files.
    pub revisions_read: usize,
    /// Revisions the key could read.
    pub revisions_exposed: usize,
    /// The history read.
    pub history: crate::value_age::Coverage,
}

/// How one current value compares with one readable revision.
enum Seen {
    Same,
    Different,
    Unknown,
}

/// Whether a revision with this metadata is readable by whoever the report is about:
/// `None` not at all, `Some(false)` only with other Shamir groups, `Some(true)` alone.
pub type Readable<'a> = &'a dyn Fn(&Metadata) -> Option<bool>;

/// Add one file's exposure to `out`. `versions[0]` is the current revision, the rest older
/// in order (as [`crate::value_age::histories`] gives them); `readable` says which
/// revisions count (a key's holder: [`Subject`]; a quantum computer: `crate::quantum`).
pub fn file_exposure(
    file: &str,
    store: &dyn Store,
    versions: &[Version],
    readable: Readable,
    open: Option<Opener>,
    out: &mut Exposure,
) {
    let Some(current) = versions.first().and_then(|v| encrypted_leaves(store, &v.bytes)) else {
        return;
    };
    // Plaintext leaves by revision, opened once each and only when a comparison needs them.
    // Compared by tag (crate::plain): the opened revisions are wiped at once.
    let tagger = crate::plain::Tagger::new();
    let mut plain: Vec<Option<Option<HashMap<String, crate::plain::Tag>>>> = vec![None; versions.len()];
    let mut plain_at = |i: usize| -> Option<HashMap<String, crate::plain::Tag>> {
        let open = open?;
        plain[i].get_or_insert_with(|| open(store, &versions[i].bytes).map(|d| tagger.tags(d))).clone()
    };
    // Per current value: the oldest readable revision holding today's value, the newest
    // readable revision holding the path, and whether any comparison was undecidable.
    let mut same_since: Vec<Option<usize>> = vec![None; current.len()];
    let mut last_held: Vec<Option<usize>> = vec![None; current.len()];
    let mut undecided: Vec<bool> = vec![false; current.len()];
    for (i, v) in versions.iter().enumerate() {
        out.revisions_read += 1;
        let Ok(meta) = store.metadata(&v.bytes) else { continue };
        match readable(&meta) {
            None => continue,
            Some(false) => {
                out.share_only.push(ShareOnly { file: file.to_string(), commit: v.commit.clone() });
                continue;
            }
            Some(true) => {}
        }
        out.revisions_exposed += 1;
        if i == 0 {
            out.still_a_recipient.push(file.to_string());
        }
        let Some(then) = encrypted_leaves(store, &v.bytes) else { continue };
        let then: HashMap<String, String> = then.into_iter().collect();
        for (n, (path, enc)) in current.iter().enumerate() {
            let Some(old) = then.get(path) else { continue };
            last_held[n].get_or_insert(i);
            let seen = if old == enc {
                Seen::Same
            } else {
                let now = plain_at(0).and_then(|m| m.get(path).cloned());
                let was = plain_at(i).and_then(|m| m.get(path).cloned());
                match (now, was) {
                    (Some(a), Some(b)) if a == b => Seen::Same,
                    (Some(_), Some(_)) => Seen::Different,
                    _ => Seen::Unknown,
                }
            };
            match seen {
                // Older revisions come later: the last one seen is the oldest.
                Seen::Same => same_since[n] = Some(i),
                Seen::Different => {}
                Seen::Unknown => undecided[n] = true,
            }
        }
    }
    for (n, (path, _)) in current.into_iter().enumerate() {
        let entry = |i: usize| Exposed {
            file: file.to_string(),
            path: path.clone(),
            since_commit: versions[i].commit.clone(),
            since_date: versions[i].date.clone(),
        };
        match (same_since[n], last_held[n]) {
            (Some(i), _) => out.must_rotate.push(entry(i)),
            (None, Some(i)) if undecided[n] => out.unknown.push(entry(i)),
            (None, Some(i)) => out.rotated_since.push(entry(i)),
            (None, None) => {}
        }
    }
}

/// [`file_exposure`] for files of the Git repository holding them.
pub fn in_repository(
    files: &[std::path::PathBuf],
    subject: &Subject,
    open: Option<Opener>,
) -> Result<Exposure, crate::value_age::HistoryError> {
    let mut out = Exposure { recipient: subject.given().to_string(), ..Exposure::default() };
    let readable = |m: &Metadata| opens(subject, m);
    let h = crate::value_age::histories(files)?;
    for (shown, versions) in &h.files {
        file_exposure(shown, tresor_sops::store::for_path(shown), versions, &readable, open, &mut out);
    }
    out.history = h.coverage;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as J;

    const A: &str = "age1zhwfff0qls0z6yhypyv7c9t4hawqf6uaw2yy3hw0xghnjuzgryzqqsc6ae";
    const B: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    fn enc(s: &str) -> String {
        format!("ENC[AES256_GCM,data:{s},iv:x,tag:y,type:str]")
    }

    /// A YAML revision whose data key is wrapped for `recipients` (age).
    fn rev(commit: &str, values: &[(&str, &str)], recipients: &[&str]) -> Version {
        let mut t: String = values.iter().map(|(k, v)| format!("{k}: {}\n", enc(v))).collect();
        t.push_str("sops:\n    age:\n");
        for r in recipients {
            t.push_str(&format!("        - recipient: {r}\n          enc: x\n"));
        }
        t.push_str("    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: x\n    version: 3.11.0\n");
        Version { commit: commit.into(), date: format!("date-{commit}"), bytes: t.into_bytes() }
    }

    fn paths(v: &[Exposed]) -> Vec<(&str, &str)> {
        v.iter().map(|e| (e.path.as_str(), e.since_commit.as_str())).collect()
    }

    #[test]
    fn unchanged_ciphertext_must_rotate_and_a_new_one_is_unknown_without_a_key() {
        let store = tresor_sops::store::for_path("s.yaml");
        let versions = [
            // A removed (keeping the data key, as updatekeys does): `a` unchanged, `b` re-set.
            rev("c3", &[("a", "A"), ("b", "B2"), ("c", "C")], &[B]),
            rev("c2", &[("a", "A"), ("b", "B1")], &[A, B]),
            rev("c1", &[("a", "A")], &[A, B]),
        ];
        let mut out = Exposure::default();
        file_exposure("s.yaml", store, &versions, &|m| opens(&Subject::new(A), m), None, &mut out);
        assert_eq!(paths(&out.must_rotate), [("[\"a\"]", "c1")]);
        assert_eq!(paths(&out.unknown), [("[\"b\"]", "c2")]);
        assert!(out.rotated_since.is_empty() && out.still_a_recipient.is_empty());
        assert_eq!((out.revisions_read, out.revisions_exposed), (3, 2));
        // B is still a recipient: everything current must rotate, and it says so.
        let mut out = Exposure::default();
        file_exposure("s.yaml", store, &versions, &|m| opens(&Subject::new(B), m), None, &mut out);
        assert_eq!(out.must_rotate.len(), 3);
        assert_eq!(out.still_a_recipient, ["s.yaml"]);
        // A key that never wrapped any revision: nothing.
        let mut out = Exposure::default();
        file_exposure("s.yaml", store, &versions, &|m| opens(&Subject::new("age1xyz"), m), None, &mut out);
        assert!(out.must_rotate.is_empty() && out.unknown.is_empty() && out.revisions_exposed == 0);
    }

    #[test]
    fn with_plaintexts_a_re_encrypted_value_must_rotate_and_a_changed_one_is_rotated() {
        let store = tresor_sops::store::for_path("s.yaml");
        let versions = [rev("c2", &[("a", "A2"), ("b", "B2")], &[B]), rev("c1", &[("a", "A1"), ("b", "B1")], &[A, B])];
        // The "plaintexts": `a` kept its value under a new ciphertext, `b` changed.
        let open = |_: &dyn Store, bytes: &[u8]| -> Option<J> {
            let t = String::from_utf8_lossy(bytes);
            Some(if t.contains("B2") {
                serde_json::json!({"a": "same", "b": "new"})
            } else {
                serde_json::json!({"a": "same", "b": "old"})
            })
        };
        let mut out = Exposure::default();
        file_exposure("s.yaml", store, &versions, &|m| opens(&Subject::new(A), m), Some(&open), &mut out);
        assert_eq!(paths(&out.must_rotate), [("[\"a\"]", "c1")]);
        assert_eq!(paths(&out.rotated_since), [("[\"b\"]", "c1")]);
        assert!(out.unknown.is_empty());
    }

    #[test]
    fn keys_match_by_their_service_and_a_share_alone_is_not_exposure() {
        let pgp = MasterKey::new("pgp", &[("fp", "85D77543B3D624B63CEA9E6DBC17301B491B3F21")]);
        assert!(Subject::new("85d77543b3d624b63cea9e6dbc17301b491b3f21").matches(&pgp));
        assert!(Subject::new("BC17301B491B3F21").matches(&pgp), "a 64-bit key id");
        assert!(!Subject::new("491B3F21").matches(&pgp), "too short to name a key");
        let vault = MasterKey::new(
            "hc_vault",
            &[("vault_address", "https://bao.example:8200"), ("engine_path", "transit"), ("key_name", "k")],
        );
        assert!(Subject::new("https://bao.example:8200/v1/transit/keys/k").matches(&vault));
        assert!(!Subject::new("https://bao.example:8200/v1/transit/keys/other").matches(&vault));
        assert!(!Subject::new(A).matches(&pgp));
        // Two groups, threshold 2: A holds one share only.
        let t = format!(
            "a: {}\nsops:\n    key_groups:\n        - age:\n            - recipient: {A}\n              enc: x\n        - age:\n            - recipient: {B}\n              enc: x\n    shamir_threshold: 2\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: x\n    version: 3.11.0\n",
            enc("A")
        );
        let store = tresor_sops::store::for_path("s.yaml");
        let meta = store.metadata(t.as_bytes()).unwrap();
        assert_eq!(opens(&Subject::new(A), &meta), Some(false));
        let v = [Version { commit: "c1".into(), date: "d".into(), bytes: t.into_bytes() }];
        let mut out = Exposure::default();
        file_exposure("s.yaml", store, &v, &|m| opens(&Subject::new(A), m), None, &mut out);
        assert!(out.must_rotate.is_empty());
        assert_eq!(out.share_only, [ShareOnly { file: "s.yaml".into(), commit: "c1".into() }]);
    }
}
