//! Three-way merges of encrypted files (the Git merge driver and mergetool).
//!
//! The decrypted data of base, ours and theirs is merged per key path; the merged data is
//! then placed in a lossless text (a clean line merge when Git's would be clean, else the
//! text of the side that kept its comments with the other side's changes spliced in); the
//! text is encrypted again with the IVs of every side that shares the result's data key, so
//! a value unchanged on both sides keeps its exact ciphertext and a value changed on one side
//! keeps that side's. Nothing here writes a file.

use serde_json::{Map as JMap, Value as J};
use tresor_format::tree::{Document, MapItem, Node, SeqItem};
use tresor_format::Format;
use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::convert;
use crate::edit;
use crate::error::SopsError;
use crate::file::{EncryptOptions, IvStash};
use crate::metadata::Metadata;
use crate::store::Store;
use crate::walk::{display_path, Seg};

/// One decrypted version of a file taking part in a merge.
pub struct Version<'a> {
    /// Its plaintext.
    pub plaintext: &'a str,
    /// Its metadata.
    pub metadata: &'a Metadata,
    /// Its data key.
    pub key: &'a DataKey,
    /// Its values' IVs.
    pub stash: &'a IvStash,
}

/// A place where the two sides cannot both be kept. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// sops' path notation (`["a"]["b"][0]`), or `sops` for the key metadata, or `file`.
    pub path: String,
    /// Why, never quoting a value.
    pub why: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.why)
    }
}

/// Which keys and metadata the merged file carries, and the IVs it may reuse.
pub struct KeyPlan<'a> {
    /// The metadata to write.
    pub metadata: Metadata,
    /// The data key to encrypt with.
    pub key: &'a DataKey,
    /// IVs that may be reused (only those under this data key).
    pub stash: IvStash,
    /// Which side's keys were taken ("ours" or "theirs").
    pub from: &'static str,
}

/// The metadata without what every write changes (MAC, timestamp, version, layout record):
/// what differs then is the recipients, the wrapped data key and the rules.
fn identity(m: &Metadata) -> String {
    let mut m = m.clone();
    m.mac.clear();
    m.lastmodified.clear();
    m.version.clear();
    m.layout = None;
    m.to_yaml("\n")
}

/// The side whose keys the result keeps: the one that changed them (`updatekeys`,
/// `rotate`), ours when neither or both did the same. Both changing them differently is a
/// conflict: taking either would silently drop the other's recipients or data key.
pub fn plan_keys<'a>(
    base: Option<&Version<'a>>,
    ours: &Version<'a>,
    theirs: &Version<'a>,
) -> Result<KeyPlan<'a>, Conflict> {
    let (o, a, b) = (base.map(|v| identity(v.metadata)), identity(ours.metadata), identity(theirs.metadata));
    let (side, from) = if a == b || o.as_deref() == Some(b.as_str()) {
        (ours, "ours")
    } else if o.as_deref() == Some(a.as_str()) {
        (theirs, "theirs")
    } else {
        return Err(Conflict {
            path: "sops".into(),
            why: "both sides changed the file's keys or rules (updatekeys, rotate or .sops.yaml) differently".into(),
        });
    };
    let mut stash = IvStash::default();
    // Only IVs used under the result's data key may be reused: each is tied to its key.
    for v in base.into_iter().chain([ours, theirs]) {
        if v.key.as_bytes() == side.key.as_bytes() {
            stash.extend(v.stash);
        }
    }
    let mut metadata = side.metadata.clone();
    metadata.layout = None;
    Ok(KeyPlan { metadata, key: side.key, stash, from })
}

fn documents_data(text: &str, format: Format) -> Result<(Vec<Document>, Vec<J>), SopsError> {
    if text.trim().is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let docs = tresor_format::parse(text, format)?;
    let data = docs.iter().map(convert::document_data).collect::<Result<_, _>>()?;
    Ok((docs, data))
}

fn push(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

fn conflict(path: &[Seg], why: &str) -> Conflict {
    let p = display_path(path);
    Conflict { path: if p.is_empty() { "document".into() } else { p }, why: why.into() }
}

/// Three-way merge of data. `None` is "absent". Conflicts are collected; at a conflict the
/// result holds ours so the walk can go on and report every conflict at once.
fn merge_value(path: &[Seg], o: Option<&J>, a: Option<&J>, b: Option<&J>, out: &mut Vec<Conflict>) -> Option<J> {
    if a == b || o == b {
        return a.cloned();
    }
    if o == a {
        return b.cloned();
    }
    let empty = J::Object(JMap::new());
    match (o, a, b) {
        (o @ (Some(J::Object(_)) | None), Some(J::Object(am)), Some(J::Object(bm))) => {
            let om = match o.unwrap_or(&empty) {
                J::Object(m) => m,
                _ => unreachable!("matched an object"),
            };
            let mut keys: Vec<&String> = am.keys().collect();
            keys.extend(bm.keys().filter(|k| !am.contains_key(*k)));
            keys.extend(om.keys().filter(|k| !am.contains_key(*k) && !bm.contains_key(*k)));
            let mut merged = JMap::new();
            for k in keys {
                let p = push(path, Seg::Key(k.clone()));
                if let Some(v) = merge_value(&p, om.get(k), am.get(k), bm.get(k), out) {
                    merged.insert(k.clone(), v);
                }
            }
            Some(J::Object(merged))
        }
        (Some(J::Array(oa)), Some(J::Array(aa)), Some(J::Array(ba)))
            if aa.len() >= oa.len() && ba.len() >= oa.len() =>
        {
            // Items edited in place merge item by item; items appended on both sides are
            // all kept, ours first. A list that lost items on one side is a conflict.
            let n = oa.len();
            let mut merged = Vec::with_capacity(aa.len() + ba.len() - n);
            for i in 0..n {
                let p = push(path, Seg::Index(i));
                match merge_value(&p, oa.get(i), aa.get(i), ba.get(i), out) {
                    Some(v) => merged.push(v),
                    None => {
                        out.push(conflict(&p, "a list item was removed on one side and changed on the other"));
                        merged.push(aa[i].clone());
                    }
                }
            }
            let (ta, tb) = (&aa[n..], &ba[n..]);
            merged.extend(ta.iter().cloned());
            if ta != tb {
                merged.extend(tb.iter().cloned());
            }
            Some(J::Array(merged))
        }
        (Some(_), None, Some(_)) => {
            out.push(conflict(path, "deleted on ours, changed on theirs"));
            None
        }
        (Some(_), Some(_), None) => {
            out.push(conflict(path, "changed on ours, deleted on theirs"));
            a.cloned()
        }
        (None, _, _) => {
            out.push(conflict(path, "added on both sides with different values"));
            a.cloned()
        }
        _ => {
            out.push(conflict(path, "changed on both sides"));
            a.cloned()
        }
    }
}

fn merge_documents(o: Option<&[J]>, a: &[J], b: &[J], out: &mut Vec<Conflict>) -> Vec<J> {
    if a == b || o == Some(b) {
        return a.to_vec();
    }
    if o == Some(a) {
        return b.to_vec();
    }
    let same_count = a.len() == b.len() && o.is_none_or(|o| o.len() == a.len());
    if !same_count {
        out.push(Conflict {
            path: "file".into(),
            why: "documents were added or removed on one side and changed on the other".into(),
        });
        return a.to_vec();
    }
    (0..a.len())
        .map(|i| {
            let p = if a.len() > 1 { vec![Seg::Key(format!("document {}", i + 1))] } else { Vec::new() };
            let mut local = Vec::new();
            let v = merge_value(&[], o.map(|o| &o[i]), Some(&a[i]), Some(&b[i]), &mut local);
            out.extend(local.into_iter().map(|mut c| {
                if !p.is_empty() {
                    c.path = format!("document {}: {}", i + 1, c.path);
                }
                c
            }));
            v.unwrap_or_else(|| a[i].clone())
        })
        .collect()
}

/// Splice edits that turn data `from` into `to` in document `doc`.
enum Op {
    Set(usize, Vec<Seg>, J),
    Unset(usize, Vec<Seg>),
}

fn diff_ops(doc: usize, path: &[Seg], from: &J, to: &J, ops: &mut Vec<Op>) {
    if from == to {
        return;
    }
    match (from, to) {
        (J::Object(f), J::Object(t)) => {
            for k in f.keys().filter(|k| !t.contains_key(*k)) {
                ops.push(Op::Unset(doc, push(path, Seg::Key(k.clone()))));
            }
            for (k, v) in t {
                let p = push(path, Seg::Key(k.clone()));
                match f.get(k) {
                    Some(old) => diff_ops(doc, &p, old, v, ops),
                    None => ops.push(Op::Set(doc, p, v.clone())),
                }
            }
        }
        (J::Array(f), J::Array(t)) => {
            let n = f.len().min(t.len());
            for i in 0..n {
                diff_ops(doc, &push(path, Seg::Index(i)), &f[i], &t[i], ops);
            }
            for (i, v) in t.iter().enumerate().skip(n) {
                ops.push(Op::Set(doc, push(path, Seg::Index(i)), v.clone()));
            }
            for i in (n..f.len()).rev() {
                ops.push(Op::Unset(doc, push(path, Seg::Index(i))));
            }
        }
        _ => ops.push(Op::Set(doc, path.to_vec(), to.clone())),
    }
}

fn comments(docs: &[Document]) -> Vec<String> {
    fn walk(n: &Node, out: &mut Vec<String>) {
        match n {
            Node::Map(m) => {
                for i in &m.items {
                    match i {
                        MapItem::Comment(c) => out.push(c.text.clone()),
                        MapItem::Entry(e) => walk(&e.value, out),
                    }
                }
            }
            Node::Seq(s) => {
                for i in &s.items {
                    match i {
                        SeqItem::Comment(c) => out.push(c.text.clone()),
                        SeqItem::Value(v) => walk(v, out),
                    }
                }
            }
            Node::Scalar(_) | Node::Alias(_) => {}
        }
    }
    let mut out = Vec::new();
    for d in docs {
        walk(&d.root, &mut out);
    }
    out
}

/// Put `target` data into `text` (whose data is `data`) by splicing only what differs.
fn place(text: &str, format: Format, data: &[J], target: &[J]) -> Result<String, SopsError> {
    let mut ops = Vec::new();
    for (i, (d, t)) in data.iter().zip(target).enumerate() {
        diff_ops(i, &[], d, t, &mut ops);
    }
    let mut out = text.to_string();
    for op in ops {
        out = match op {
            Op::Set(doc, path, v) => edit::set_in(&out, format, doc, &path, &v)?,
            Op::Unset(doc, path) => edit::unset_in(&out, format, doc, &path)?,
        };
    }
    Ok(out)
}

fn data_of(text: &str, format: Format) -> Option<Vec<J>> {
    documents_data(text, format).ok().map(|(_, d)| d)
}

/// Merge three plaintexts of a file read by `store`. `base` is `None` when the file was
/// added on both sides. Ok: the merged plaintext, whose data is the per-path merge of the
/// three.
pub fn merge_plaintext(
    store: &dyn Store,
    base: Option<&str>,
    ours: &str,
    theirs: &str,
) -> Result<Result<Zeroizing<String>, Vec<Conflict>>, SopsError> {
    match store.document_format() {
        Some(format) => merge_documents_text(format, base, ours, theirs),
        None => merge_lines(store, base, ours, theirs),
    }
}

/// Stores without a document tree (dotenv, INI): the data merged per key path as for
/// documents, placed by Git's line merge of the plaintexts, which must be clean and give
/// exactly the merged data (else a conflict: the mergetool shows the lines).
fn merge_lines(
    store: &dyn Store,
    base: Option<&str>,
    ours: &str,
    theirs: &str,
) -> Result<Result<Zeroizing<String>, Vec<Conflict>>, SopsError> {
    let data = |t: &str| store.data(t.as_bytes());
    let o = base.map(data).transpose()?;
    let (a, b) = (data(ours)?, data(theirs)?);
    let mut conflicts = Vec::new();
    let merged = merge_value(&[], o.as_ref(), Some(&a), Some(&b), &mut conflicts);
    if !conflicts.is_empty() {
        return Ok(Err(conflicts));
    }
    let (text, clean) = line_merge(base, ours, theirs);
    if clean && store.data(text.as_bytes()).ok() == merged {
        return Ok(Ok(text));
    }
    // Flat stores can take the other side's values by key into ours' text, when theirs
    // changed nothing but values (its comments and layout would be lost otherwise).
    if let (Some(base), Some(merged)) = (base, merged.as_ref()) {
        let theirs_is_values_only = o
            .as_ref()
            .and_then(|o| flat_changes(o, &b))
            .and_then(|c| store.set_values(base, &c))
            .is_some_and(|replayed| replayed == theirs);
        if theirs_is_values_only {
            if let Some(t) = flat_changes(&a, merged).and_then(|c| store.set_values(ours, &c)) {
                if store.data(t.as_bytes()).ok().as_ref() == Some(merged) {
                    return Ok(Ok(Zeroizing::new(t)));
                }
            }
        }
    }
    Ok(Err(vec![Conflict {
        path: "file".into(),
        why: format!(
            "the values merge, but the changed lines touch each other and a {} file has no structure to place them by",
            store.name()
        ),
    }]))
}

/// The top-level value changes that turn flat data `from` into `to` (`None`: removed).
/// `None` when either is not a mapping of strings.
fn flat_changes(from: &J, to: &J) -> Option<Vec<(String, Option<String>)>> {
    let (J::Object(from), J::Object(to)) = (from, to) else { return None };
    let mut changes = Vec::new();
    for (k, v) in to {
        if from.get(k) != Some(v) {
            changes.push((k.clone(), Some(v.as_str()?.to_string())));
        }
    }
    changes.extend(from.keys().filter(|k| !to.contains_key(*k)).map(|k| (k.clone(), None)));
    Some(changes)
}

/// [`merge_plaintext`] for YAML and JSON: a clean line merge when it gives the merged data,
/// else the changes spliced into one side's lossless text.
fn merge_documents_text(
    format: Format,
    base: Option<&str>,
    ours: &str,
    theirs: &str,
) -> Result<Result<Zeroizing<String>, Vec<Conflict>>, SopsError> {
    let (o_docs, o) = match base {
        Some(t) => {
            let (docs, data) = documents_data(t, format)?;
            (docs, Some(data))
        }
        None => (Vec::new(), None),
    };
    let (a_docs, a) = documents_data(ours, format)?;
    let (b_docs, b) = documents_data(theirs, format)?;
    let mut conflicts = Vec::new();
    let merged = merge_documents(o.as_deref(), &a, &b, &mut conflicts);
    if !conflicts.is_empty() {
        return Ok(Err(conflicts));
    }
    if merged == a && comments(&a_docs) == comments(&b_docs) {
        return Ok(Ok(Zeroizing::new(ours.to_string())));
    }
    // A clean line merge keeps both sides' formatting and comments.
    if let Ok(text) = diffy::merge(base.unwrap_or(""), ours, theirs) {
        let text = Zeroizing::new(text);
        if data_of(&text, format).as_ref() == Some(&merged) {
            return Ok(Ok(text));
        }
    }
    // Else splice into the side whose comments must be kept. Comments are not data: a
    // side whose comments changed cannot have them re-created inside the other's text.
    let (c_base, c_ours, c_theirs) = (comments(&o_docs), comments(&a_docs), comments(&b_docs));
    let theirs_changed = base.is_some() && c_theirs != c_base;
    let ours_changed = base.is_some() && c_ours != c_base;
    let (text, data) = match (ours_changed, theirs_changed) {
        (_, false) => (ours, &a),
        (false, true) => (theirs, &b),
        (true, true) => {
            return Ok(Err(vec![Conflict {
                path: "file".into(),
                why: "comments changed on both sides next to changed values".into(),
            }]))
        }
    };
    let cant_place = || {
        Ok(Err(vec![Conflict {
            path: "file".into(),
            why: "the merged values could not be placed in the file's text".into(),
        }]))
    };
    if data.len() != merged.len() {
        return cant_place();
    }
    match place(text, format, data, &merged) {
        Ok(t) if data_of(&t, format).as_ref() == Some(&merged) => Ok(Ok(Zeroizing::new(t))),
        _ => cant_place(),
    }
}

/// A line merge as Git's default driver makes it: the text (with conflict markers
/// `<<<<<<< ours`, `||||||| original`, `=======`, `>>>>>>> theirs` where lines conflict) and
/// whether it is clean.
pub fn line_merge(base: Option<&str>, ours: &str, theirs: &str) -> (Zeroizing<String>, bool) {
    match diffy::merge(base.unwrap_or(""), ours, theirs) {
        Ok(t) => (Zeroizing::new(t), true),
        Err(t) => (Zeroizing::new(t), false),
    }
}

/// True when a text still holds a conflict marker line.
pub fn has_markers(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("<<<<<<< ") || l.starts_with(">>>>>>> ") || l == "=======" || l.starts_with("||||||| "))
}

/// Merge three decrypted versions and encrypt the result. Ok(Err): conflicts, nothing made.
pub fn merge(
    store: &dyn Store,
    base: Option<&Version>,
    ours: &Version,
    theirs: &Version,
) -> Result<Result<Vec<u8>, Vec<Conflict>>, SopsError> {
    let plan = match plan_keys(base, ours, theirs) {
        Ok(p) => p,
        Err(c) => return Ok(Err(vec![c])),
    };
    let text = match merge_plaintext(store, base.map(|b| b.plaintext), ours.plaintext, theirs.plaintext)? {
        Ok(t) => t,
        Err(c) => return Ok(Err(c)),
    };
    Ok(Ok(encrypt_plan(&text, store, &plan)?))
}

/// Encrypt a merged (or hand-resolved) plaintext under the plan's keys, reusing its IVs.
pub fn encrypt_plan(text: &str, store: &dyn Store, plan: &KeyPlan) -> Result<Vec<u8>, SopsError> {
    store.encrypt(text.as_bytes(), plan.key, plan.metadata.clone(), &EncryptOptions { stash: Some(&plan.stash) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(o: Option<&str>, a: &str, b: &str) -> Result<String, Vec<Conflict>> {
        merge_plaintext(crate::store::by_name("yaml").unwrap(), o, a, b).unwrap().map(|t| t.to_string())
    }

    #[test]
    fn dotenv_values_on_separate_lines_merge_and_neighbours_conflict_clearly() {
        let env = crate::store::by_name("dotenv").unwrap();
        let o = "A=1\nB=2\nC=3\nD=4\n";
        let out = merge_plaintext(env, Some(o), "A=10\nB=2\nC=3\nD=4\n", "A=1\nB=2\nC=3\nD=40\n").unwrap();
        assert_eq!(out.unwrap().as_str(), "A=10\nB=2\nC=3\nD=40\n");
        let same = merge_plaintext(env, Some(o), "A=10\nB=2\nC=3\nD=4\n", "A=11\nB=2\nC=3\nD=4\n").unwrap();
        assert_eq!(same.unwrap_err()[0].why, "changed on both sides");
        // Touching lines: placed by key into ours' text.
        let near = merge_plaintext(env, Some(o), "A=10\nB=2\nC=3\nD=4\n", "A=1\nB=20\nC=3\nD=4\nE=5\n").unwrap();
        assert_eq!(near.unwrap().as_str(), "A=10\nB=20\nC=3\nD=4\nE=5\n");
        let gone = merge_plaintext(env, Some(o), "# c\nA=10\nB=2\nC=3\nD=4\n", "A=1\nC=3\nD=4\n").unwrap();
        assert_eq!(gone.unwrap().as_str(), "# c\nA=10\nC=3\nD=4\n");
        // Theirs also changed a comment next to ours' change: not placed by key.
        let o2 = "# c\nA=1\nB=2\n";
        let c = merge_plaintext(env, Some(o2), "# c\nA=10\nB=2\n", "# changed\nA=1\nB=20\n").unwrap();
        assert_eq!(c.unwrap_err()[0].path, "file");
    }

    #[test]
    fn adjacent_values_changed_on_each_side_merge() {
        let o = "a: 1\nb: 2\nc: 3\n";
        assert_eq!(m(Some(o), "a: 1\nb: 20\nc: 3\n", "a: 1\nb: 2\nc: 30\n").unwrap(), "a: 1\nb: 20\nc: 30\n");
    }

    #[test]
    fn same_value_changed_differently_conflicts() {
        let c = m(Some("a: 1\n"), "a: 2\n", "a: 3\n").unwrap_err();
        assert_eq!(c, vec![Conflict { path: "[\"a\"]".into(), why: "changed on both sides".into() }]);
    }

    #[test]
    fn delete_against_change_conflicts_both_ways() {
        let o = "a: 1\nb: 2\n";
        assert_eq!(m(Some(o), "b: 2\n", "a: 5\nb: 2\n").unwrap_err()[0].why, "deleted on ours, changed on theirs");
        assert_eq!(m(Some(o), "a: 5\nb: 2\n", "b: 2\n").unwrap_err()[0].why, "changed on ours, deleted on theirs");
    }

    #[test]
    fn keys_added_on_both_sides_are_kept() {
        let o = "a: 1\nb: 2\n";
        let out = m(Some(o), "a: 1\nx: 9\nb: 2\n", "a: 1\nb: 2\ny: 8\n").unwrap();
        let data = data_of(&out, Format::Yaml).unwrap();
        assert_eq!(data[0], serde_json::json!({"a": 1, "x": 9, "b": 2, "y": 8}));
    }

    #[test]
    fn appends_on_both_sides_are_concatenated_ours_first() {
        let o = "l:\n  - a\n";
        let out = m(Some(o), "l:\n  - a\n  - b\n", "l:\n  - a\n  - c\n").unwrap();
        assert_eq!(data_of(&out, Format::Yaml).unwrap()[0], serde_json::json!({"l": ["a", "b", "c"]}));
    }

    #[test]
    fn comments_changed_on_theirs_are_kept_when_splicing() {
        let o = "# head\na: 1\nb: 2\n";
        let out = m(Some(o), "# head\na: 10\nb: 2\n", "# new head\na: 1\nb: 20\n").unwrap();
        assert_eq!(out, "# new head\na: 10\nb: 20\n");
    }

    #[test]
    fn changes_in_later_documents_are_spliced_into_that_document() {
        // Theirs also rewrote the separator, so the line merge conflicts and the value is
        // spliced into document 2 of ours.
        let out = m(Some("a: 1\n---\nc: 3\n"), "a: 10\n---\nc: 3\n", "a: 1\n--- \nc: 30\n").unwrap();
        assert_eq!(out, "a: 10\n---\nc: 30\n");
    }

    #[test]
    fn comments_changed_on_both_sides_next_to_values_conflict() {
        let c = m(Some("# x\na: 1\n"), "# y\na: 2\n", "# z\na: 1\n").unwrap_err();
        assert_eq!(c[0].path, "file");
    }
}
