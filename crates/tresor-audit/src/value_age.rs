//! How long each encrypted value has gone unchanged, from Git history and without a key.
//!
//! tresor keeps the exact ciphertext of every value it does not change, so a value whose
//! ciphertext is the same in a run of versions was not changed in that run: the oldest
//! version of the run is when it last changed, **at the latest**. Where the version before
//! the run holds a different ciphertext at the same path, the value may only have been
//! re-encrypted (sops re-encrypts every value on each edit; a rotation re-encrypts them
//! all), so the date is a proven lower bound on its age, marked `exact: false`. Where the
//! run reaches the version that added the value, the date is exact.

use serde::Serialize;
use serde_json::Value as J;
use tresor_sops::store::Store;
use tresor_sops::walk::{push_step, Step};

/// One version of a file: the commit that wrote it, its date and its bytes.
pub struct Version {
    /// The commit id.
    pub commit: String,
    /// The commit's author date (RFC 3339).
    pub date: String,
    /// The file as that commit wrote it.
    pub bytes: Vec<u8>,
}

/// When an encrypted value last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueAge {
    /// The file.
    pub file: String,
    /// The value's path in sops' notation (`["db"]["password"]`).
    pub path: String,
    /// The date of the commit that last changed it (at the latest, unless `exact`).
    pub last_changed: String,
    /// That commit.
    pub commit: String,
    /// Whether the value was added then (true), or only its ciphertext is known to date from
    /// then (false: an older, re-encrypted value may hide behind it).
    pub exact: bool,
    /// The policy's `max_value_age` for it, when one covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_days: Option<u64>,
    /// Unchanged for longer than `max_days` (proven: where `exact` is false the date is a
    /// lower bound on the age, so a value over the limit is over it whatever hides behind).
    pub over_limit: bool,
}

/// Check ages against the policy's `max_value_age` rules (the first that covers a value
/// applies) as of `now`; returns how many values are over their limit.
pub fn apply_limits(ages: &mut [ValueAge], limits: &[crate::policy::AgeLimit], now: time::OffsetDateTime) -> usize {
    let mut over = 0;
    for a in ages {
        let Some(limit) = limits.iter().find(|l| l.covers(&a.file, &a.path)) else { continue };
        a.max_days = Some(limit.days);
        let changed = time::OffsetDateTime::parse(&a.last_changed, &time::format_description::well_known::Rfc3339);
        a.over_limit = changed.is_ok_and(|t| (now - t).whole_days() > limit.days as i64);
        over += usize::from(a.over_limit);
    }
    over
}

/// Every leaf of a document's data by path (sops' notation), the `sops` entry left out.
pub(crate) fn leaves(data: &J) -> Vec<(String, J)> {
    let mut out = Vec::new();
    visit_leaves(data, &mut |path, leaf| out.push((path, leaf.clone())));
    out
}

/// Every leaf of a decrypted or encrypted document (the `sops` entry left out) with its
/// path, by reference: nothing copied.
pub(crate) fn visit_leaves(data: &J, f: &mut dyn FnMut(String, &J)) {
    fn child(step: Step, v: &J, path: &mut String, f: &mut dyn FnMut(String, &J)) {
        let len = path.len();
        push_step(path, step);
        match v {
            J::Object(m) => m.iter().for_each(|(k, x)| child(Step::Key(k), x, path, f)),
            J::Array(a) => a.iter().enumerate().for_each(|(i, x)| child(Step::Index(i), x, path, f)),
            leaf => f(path.clone(), leaf),
        }
        path.truncate(len);
    }
    if let J::Object(top) = data {
        for (k, v) in top.iter().filter(|(k, _)| *k != "sops") {
            child(Step::Key(k), v, &mut String::new(), f);
        }
    }
}

/// The encrypted leaves of an encrypted file, by path: `(path, ciphertext)`.
pub(crate) fn encrypted_leaves(store: &dyn Store, bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let data = store.data(bytes).ok()?;
    Some(
        leaves(&data)
            .into_iter()
            .filter_map(|(p, v)| match v {
                J::String(s) if s.starts_with("ENC[AES256_GCM,") => Some((p, s)),
                _ => None,
            })
            .collect(),
    )
}

/// Opens a version: its plaintext as data (never printed), or `None` when no key here can.
pub type Opener<'a> = &'a dyn Fn(&dyn Store, &[u8]) -> Option<J>;

/// The age of each encrypted value of `versions[0]` (the newest; the rest older, in order).
/// Versions that cannot be read (not a SOPS file then) end the search for every value. With
/// `open`, a different ciphertext is not the end: the plaintexts are compared, so the date
/// is exact wherever the keys here open both versions.
pub fn value_ages(file: &str, store: &dyn Store, versions: &[Version], open: Option<Opener>) -> Vec<ValueAge> {
    use std::collections::HashMap;
    let Some(current) = versions.first().and_then(|v| encrypted_leaves(store, &v.bytes)) else {
        return Vec::new();
    };
    let older: Vec<Option<HashMap<String, String>>> =
        versions[1..].iter().map(|v| encrypted_leaves(store, &v.bytes).map(|l| l.into_iter().collect())).collect();
    // Plaintexts by version, opened once each and only when a comparison needs them.
    // Plaintexts are compared by tag (crate::plain): the opened revisions are wiped at once.
    let tagger = crate::plain::Tagger::new();
    let mut plain: Vec<Option<Option<HashMap<String, crate::plain::Tag>>>> = vec![None; versions.len()];
    let mut plain_at = |i: usize| -> Option<HashMap<String, crate::plain::Tag>> {
        let open = open?;
        plain[i].get_or_insert_with(|| open(store, &versions[i].bytes).map(|d| tagger.tags(d))).clone()
    };
    current
        .into_iter()
        .map(|(path, enc)| {
            let mut at = 0;
            let mut exact = true;
            for (i, o) in older.iter().enumerate() {
                match o.as_ref().map(|m| m.get(&path)) {
                    Some(Some(e)) if *e == enc => at = i + 1,
                    // Absent in the older version: the value was added at `at`.
                    Some(None) => break,
                    // Another ciphertext: the same value re-encrypted, or a change. Only the
                    // plaintexts can tell.
                    _ => {
                        let now = plain_at(0).and_then(|m| m.get(&path).cloned());
                        let then = plain_at(i + 1).map(|m| m.get(&path).cloned());
                        match (now, then) {
                            (Some(n), Some(Some(t))) if n == t => at = i + 1,
                            (Some(_), Some(_)) => break,
                            _ => {
                                exact = false;
                                break;
                            }
                        }
                    }
                }
            }
            ValueAge {
                file: file.to_string(),
                path,
                last_changed: versions[at].date.clone(),
                commit: versions[at].commit.clone(),
                exact,
                max_days: None,
                over_limit: false,
            }
        })
        .collect()
}

/// Why the history of some files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// git failed (not a repository, no commit yet, …).
    #[error(transparent)]
    Git(#[from] tresor_scan::git::GitError),
    /// A file outside the repository, or one that cannot be resolved.
    #[error("{0}: not inside the Git repository at {1}")]
    Outside(String, String),
}

/// [`value_ages`] for files of the Git repository holding them, from HEAD's first-parent
/// history (see [`histories`]). Each file is named in the report as given.
pub fn in_repository(files: &[std::path::PathBuf], open: Option<Opener>) -> Result<Vec<ValueAge>, HistoryError> {
    Ok(in_repository_covering(files, open)?.0)
}

/// [`in_repository`], and what history it read (for evidence).
pub fn in_repository_covering(
    files: &[std::path::PathBuf],
    open: Option<Opener>,
) -> Result<(Vec<ValueAge>, Coverage), HistoryError> {
    let h = histories(files)?;
    let mut out = Vec::new();
    for (shown, versions) in &h.files {
        out.extend(value_ages(shown, tresor_sops::store::for_path(shown), versions, open));
    }
    Ok((out, h.coverage))
}

/// The history a report read: evidence says what it covers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    /// The commit HEAD named when the report was made.
    pub head: String,
    /// The oldest commit date among the revisions read.
    pub oldest: Option<String>,
    /// The newest.
    pub newest: Option<String>,
    /// Revisions read.
    pub revisions: usize,
}

/// Each file's versions, and what history they cover.
pub struct Histories {
    /// `(file as given, versions newest first)`.
    pub files: Vec<(String, Vec<Version>)>,
    /// What was read.
    pub coverage: Coverage,
}

/// The versions of each file along HEAD's first-parent history, newest first, named as
/// given: one `git log` for all the files and one object reader for all their versions.
/// A file's history ends where it was deleted or renamed (Git records a rename as a
/// deletion and an addition).
pub fn histories(files: &[std::path::PathBuf]) -> Result<Histories, HistoryError> {
    let Some(first) = files.first() else {
        return Ok(Histories { files: Vec::new(), coverage: Coverage::default() });
    };
    let dir = first.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let top = tresor_scan::git::toplevel(dir)?;
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let mut rel = Vec::with_capacity(files.len());
    for f in files {
        let outside = || HistoryError::Outside(f.display().to_string(), top.display().to_string());
        let abs = std::fs::canonicalize(f).map_err(|_| outside())?;
        rel.push(abs.strip_prefix(&top).map_err(|_| outside())?.to_string_lossy().replace('\\', "/"));
    }
    let histories = tresor_scan::git::file_versions(&top, &rel)?;
    let oids: Vec<String> = histories.iter().flatten().map(|v| v.oid.clone()).collect();
    let mut blobs: Vec<Option<Vec<u8>>> = vec![None; oids.len()];
    tresor_scan::git::read_objects(&top, &oids, |i, bytes| blobs[i] = Some(bytes))?;
    let mut blobs = blobs.into_iter();
    // RFC 3339 dates with offsets compare as text only within one offset: compare parsed.
    let parse = |d: &str| time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok();
    let mut dated: Vec<(time::OffsetDateTime, &str)> =
        histories.iter().flatten().filter_map(|v| parse(&v.commit.date).map(|t| (t, v.commit.date.as_str()))).collect();
    dated.sort();
    let (oldest, newest) = (dated.first().map(|d| d.1.to_string()), dated.last().map(|d| d.1.to_string()));
    let coverage = Coverage { head: tresor_scan::git::head(&top)?, oldest, newest, revisions: oids.len() };
    let files = files
        .iter()
        .zip(&histories)
        .map(|(f, history)| {
            let versions = history
                .iter()
                .map(|v| Version {
                    commit: v.commit.id.clone(),
                    date: v.commit.date.clone(),
                    bytes: blobs.next().flatten().unwrap_or_default(),
                })
                .collect();
            (f.display().to_string(), versions)
        })
        .collect();
    Ok(Histories { files, coverage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(commit: &str, text: &str) -> Version {
        Version { commit: commit.into(), date: format!("date-{commit}"), bytes: text.as_bytes().to_vec() }
    }

    #[test]
    fn unchanged_ciphertext_dates_back_and_a_different_one_is_a_lower_bound() {
        let store = tresor_sops::store::for_path("s.yaml");
        let enc = |s: &str| format!("ENC[AES256_GCM,data:{s},iv:x,tag:y,type:str]");
        let m = "sops:\n    version: 3.11.0\n";
        let versions = [
            v("c3", &format!("a: {}\nb: {}\nc: {}\n{m}", enc("A"), enc("B2"), enc("C"))),
            v("c2", &format!("a: {}\nb: {}\n{m}", enc("A"), enc("B2"))),
            v("c1", &format!("a: {}\nb: {}\n{m}", enc("A"), enc("B1"))),
        ];
        let ages = value_ages("s.yaml", store, &versions, None);
        let get = |p: &str| ages.iter().find(|a| a.path == p).unwrap().clone();
        assert_eq!((get("[\"a\"]").commit.as_str(), get("[\"a\"]").exact), ("c1", true));
        assert_eq!((get("[\"b\"]").commit.as_str(), get("[\"b\"]").exact), ("c2", false));
        assert_eq!((get("[\"c\"]").commit.as_str(), get("[\"c\"]").exact), ("c3", true));
    }
}
