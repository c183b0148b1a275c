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
    /// Its encrypted bytes, as Git holds them: which values it keeps encrypted.
    pub src: &'a [u8],
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

/// What the repository's current `.sops.yaml` asks of the file being merged. The merge
/// adopts one side's change to the keys or rules only when the result is exactly this, so
/// a branch written without any key (recipients are public) cannot widen who reads the file
/// or narrow what is encrypted. The CLI answers from `tresor-config`; this crate only asks.
pub trait Expected {
    /// Does `meta` carry exactly the key groups and threshold the rule names? `None`: no
    /// `.sops.yaml` rule applies to the file.
    fn keys(&self, meta: &Metadata) -> Option<bool>;
    /// Does `meta` encrypt by exactly the rule (and `mac_only_encrypted`) it names?
    fn rules(&self, meta: &Metadata) -> Option<bool>;
}

/// Whose keys and rules a merge takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// The merge policy ([`plan_keys`]): unattended merges.
    Policy,
    /// A person chose ours (`tresor git mergetool --keys ours`).
    Ours,
    /// A person chose theirs.
    Theirs,
}

/// A key entry without what changes on every wrap: its kind and the fields naming the key.
fn recipient_id(k: &crate::metadata::MasterKey) -> String {
    let named: Vec<&str> =
        k.fields.iter().filter(|(n, _)| n != "enc" && n != "created_at").map(|(_, v)| v.as_str()).collect();
    format!("{} {}", k.kind(), named.join(" "))
}

/// Who can read: the recipients of every group, and the threshold.
fn recipients(m: &Metadata) -> (Vec<std::collections::BTreeSet<String>>, usize) {
    (m.key_groups.iter().map(|g| g.keys.iter().map(recipient_id).collect()).collect(), m.groups_needed())
}

/// Which values are encrypted.
fn rules(m: &Metadata) -> ((&'static str, String), bool) {
    (m.rule.field(), m.mac_only_encrypted)
}

/// A recipient as a message shows it: public, but post-quantum ones run to 2,000 characters.
fn short(id: &str) -> String {
    let clean = tresor_format::printable::printable(id, false);
    match clean.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean.into_owned(),
    }
}

/// "added: a, b; removed: c" between two recipient sets.
fn recipient_change(from: &Metadata, to: &Metadata) -> String {
    let all = |m: &Metadata| -> std::collections::BTreeSet<String> { recipients(m).0.into_iter().flatten().collect() };
    let (f, t) = (all(from), all(to));
    let list = |v: Vec<&String>| v.iter().map(|s| short(s)).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    let added: Vec<&String> = t.difference(&f).collect();
    let removed: Vec<&String> = f.difference(&t).collect();
    if !added.is_empty() {
        parts.push(format!("added {}", list(added)));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", list(removed)));
    }
    if parts.is_empty() {
        parts.push(format!("key groups or threshold {} → {}", from.groups_needed(), to.groups_needed()));
    }
    parts.join("; ")
}

fn rules_text(m: &Metadata) -> String {
    let ((name, value), mac_only) = rules(m);
    format!("{name}: {value}{}", if mac_only { ", mac_only_encrypted" } else { "" })
}

fn key_conflict(why: String) -> Conflict {
    Conflict { path: "sops".into(), why }
}

/// The keys, rules and IVs the merged file gets.
///
/// The policy, so that an unattended merge is never weaker than either side:
/// * **rules** (which values are encrypted): a side's change is taken only when it is what
///   `.sops.yaml` asks for;
/// * **recipients**: likewise, only when exactly what `.sops.yaml` names (`updatekeys`);
/// * **data key**: a side's new data key (rotate — or a file re-created by someone who
///   therefore knows that key) is taken only when the other side brought no change of its
///   own, so no value is ever encrypted under a data key its author did not hold. This is
///   symmetric because a rebase swaps ours and theirs.
///
/// Anything else is a conflict naming what differs; [`KeyChoice::Ours`]/[`KeyChoice::Theirs`]
/// is a person's explicit choice.
pub fn plan_keys<'a>(
    base: Option<&Version<'a>>,
    ours: &Version<'a>,
    theirs: &Version<'a>,
    expected: &dyn Expected,
    choice: KeyChoice,
) -> Result<KeyPlan<'a>, Vec<Conflict>> {
    let (keys_side, rules_side, from) = match choice {
        KeyChoice::Ours => (ours, ours, "ours"),
        KeyChoice::Theirs => (theirs, theirs, "theirs"),
        KeyChoice::Policy if identity(ours.metadata) == identity(theirs.metadata) => (ours, ours, "ours"),
        KeyChoice::Policy => policy(base, ours, theirs, expected)?,
    };
    let mut stash = IvStash::default();
    // Only IVs used under the result's data key may be reused: each is tied to its key.
    for v in base.into_iter().chain([ours, theirs]) {
        if v.key.as_bytes() == keys_side.key.as_bytes() {
            stash.extend(v.stash);
        }
    }
    let mut metadata = keys_side.metadata.clone();
    metadata.rule = rules_side.metadata.rule.clone();
    metadata.mac_only_encrypted = rules_side.metadata.mac_only_encrypted;
    metadata.layout = None;
    Ok(KeyPlan { metadata, key: keys_side.key, stash, from })
}

type Sides<'v, 'a> = (&'v Version<'a>, &'v Version<'a>, &'static str);

/// [`plan_keys`] under [`KeyChoice::Policy`] when the sides' metadata differ: (the side whose
/// keys are taken, the side whose rules are taken, a name for the keys' side).
fn policy<'v, 'a>(
    base: Option<&'v Version<'a>>,
    ours: &'v Version<'a>,
    theirs: &'v Version<'a>,
    expected: &dyn Expected,
) -> Result<Sides<'v, 'a>, Vec<Conflict>> {
    let Some(base) = base else {
        return Err(vec![key_conflict(
            "the file was added on both sides with different keys or rules; there is no common version to keep".into(),
        )]);
    };
    let mut conflicts = Vec::new();
    let name = |v: &Version| if std::ptr::eq(v, ours) { "ours" } else { "theirs" };
    // Which side changed a component: None = neither (both equal), Some(side), or a conflict.
    let changed = |same_ab: bool, same_ob: bool, same_oa: bool| -> Result<Option<bool>, ()> {
        match (same_ab, same_ob, same_oa) {
            (true, _, _) => Ok(None),
            (false, true, _) => Ok(Some(true)),      // ours changed it
            (false, false, true) => Ok(Some(false)), // theirs changed it
            _ => Err(()),
        }
    };
    let kid = |v: &Version| (recipients(v.metadata), v.key.as_bytes().to_vec());
    let (ka, kb, ko) = (kid(ours), kid(theirs), kid(base));
    let keys_side = match changed(ka == kb, ko == kb, ko == ka) {
        Ok(None) => ours,
        Ok(Some(ours_changed)) => {
            let (s, other) = if ours_changed { (ours, theirs) } else { (theirs, ours) };
            if s.key.as_bytes() != base.key.as_bytes() && other.plaintext != base.plaintext {
                conflicts.push(key_conflict(format!(
                    "{} encrypts with a new data key (a rotate, or a file re-created by whoever wrote it), and {} changed values that would be encrypted under it",
                    name(s),
                    name(other)
                )));
            }
            let why = not_asked(expected.keys(s.metadata));
            if let Some(why) = why.filter(|_| recipients(s.metadata) != recipients(base.metadata)) {
                conflicts.push(key_conflict(format!(
                    "{} changed who can read the file ({}), and {why}",
                    name(s),
                    recipient_change(base.metadata, s.metadata)
                )));
            }
            s
        }
        Err(()) => {
            conflicts.push(key_conflict(format!(
                "both sides changed the file's keys differently (ours: {}; theirs: {})",
                key_summary(base, ours),
                key_summary(base, theirs)
            )));
            ours
        }
    };
    let (ra, rb, ro) = (rules(ours.metadata), rules(theirs.metadata), rules(base.metadata));
    let rules_side = match changed(ra == rb, ro == rb, ro == ra) {
        Ok(None) => ours,
        Ok(Some(ours_changed)) => {
            let s = if ours_changed { ours } else { theirs };
            if let Some(why) = not_asked(expected.rules(s.metadata)) {
                conflicts.push(key_conflict(format!(
                    "{} changed which values are encrypted ({} → {}), and {why}",
                    name(s),
                    rules_text(base.metadata),
                    rules_text(s.metadata)
                )));
            }
            s
        }
        Err(()) => {
            conflicts.push(key_conflict(format!(
                "both sides changed which values are encrypted (ours: {}; theirs: {})",
                rules_text(ours.metadata),
                rules_text(theirs.metadata)
            )));
            ours
        }
    };
    if conflicts.is_empty() {
        Ok((keys_side, rules_side, name(keys_side)))
    } else {
        Err(conflicts)
    }
}

/// Why a side's change is not adopted, from [`Expected`]'s answer; `None`: it is exactly
/// what `.sops.yaml` asks.
fn not_asked(answer: Option<bool>) -> Option<&'static str> {
    match answer {
        Some(true) => None,
        None => Some("no .sops.yaml rule applies to the file"),
        Some(false) => Some("that is not what .sops.yaml asks for"),
    }
}

/// How one side's keys differ from the base's, for a message.
fn key_summary(base: &Version, v: &Version) -> String {
    let mut parts = Vec::new();
    if v.key.as_bytes() != base.key.as_bytes() {
        parts.push("a new data key".to_string());
    }
    if recipients(v.metadata) != recipients(base.metadata) {
        parts.push(recipient_change(base.metadata, v.metadata));
    }
    if parts.is_empty() {
        "unchanged".into()
    } else {
        parts.join(", ")
    }
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
    expected: &dyn Expected,
) -> Result<Result<Vec<u8>, Vec<Conflict>>, SopsError> {
    let plan = match plan_keys(base, ours, theirs, expected, KeyChoice::Policy) {
        Ok(p) => p,
        Err(c) => return Ok(Err(c)),
    };
    let text = match merge_plaintext(store, base.map(|b| b.plaintext), ours.plaintext, theirs.plaintext)? {
        Ok(t) => t,
        Err(c) => return Ok(Err(c)),
    };
    encrypt_checked(&text, store, &plan, &[ours, theirs])
}

/// Encrypt a merged (or hand-resolved) plaintext under the plan's keys, reusing its IVs, and
/// refuse the result if it holds in clear a value either side kept encrypted
/// ([`clear_where_encrypted`]): the last line of defence, whatever the plan.
pub fn encrypt_checked(
    text: &str,
    store: &dyn Store,
    plan: &KeyPlan,
    sides: &[&Version],
) -> Result<Result<Vec<u8>, Vec<Conflict>>, SopsError> {
    let out = store.encrypt(
        text.as_bytes(),
        plan.key,
        plan.metadata.clone(),
        &EncryptOptions { stash: Some(&plan.stash) },
    )?;
    let srcs: Vec<&[u8]> = sides.iter().map(|v| v.src).collect();
    let clear = clear_where_encrypted(store, &srcs, &out);
    Ok(if clear.is_empty() { Ok(out) } else { Err(clear) })
}

/// Every place where `result` holds a value (or comment) in clear that one of `sides` (encrypted
/// files of the same store) holds encrypted. Compared by key path, never by value.
pub fn clear_where_encrypted(store: &dyn Store, sides: &[&[u8]], result: &[u8]) -> Vec<Conflict> {
    let Some(res) = encrypted_view(store, result) else {
        return vec![Conflict { path: "file".into(), why: "the merged file cannot be read back".into() }];
    };
    // Each side read once: the comment check below looks at every side for every comment.
    let views: Vec<View> = sides.iter().filter_map(|s| encrypted_view(store, s)).collect();
    let mut out = Vec::new();
    for s in &views {
        for (doc, (sd, rd)) in s.data.iter().zip(&res.data).enumerate() {
            let mut clear = Vec::new();
            find_clear(&[], sd, rd, store.name() == "dotenv", &mut clear);
            for p in clear {
                let mut path = display_path(&p);
                if s.data.len() > 1 {
                    path = format!("document {}: {path}", doc + 1);
                }
                if !out.iter().any(|c: &Conflict| c.path == path) {
                    out.push(Conflict {
                        path,
                        why: "encrypted on one side but in clear in the merge; nothing written".into(),
                    });
                }
            }
        }
        // A comment in clear in the result must be one some side already had in clear.
        if s.comments.iter().any(|c| is_enc(c)) {
            for c in res.comments.iter().filter(|c| !is_enc(c)) {
                let known = views.iter().any(|x| x.comments.contains(c));
                if !known && !out.iter().any(|x| x.path == "comments") {
                    out.push(Conflict {
                        path: "comments".into(),
                        why: "a comment is in clear in the merge where the sides encrypt comments; nothing written"
                            .into(),
                    });
                }
            }
        }
    }
    out
}

struct View {
    data: Vec<J>,
    comments: Vec<String>,
}

/// The data and comments of an encrypted file as they are stored (ciphertexts as strings).
fn encrypted_view(store: &dyn Store, src: &[u8]) -> Option<View> {
    let text = std::str::from_utf8(src).ok()?;
    match store.document_format() {
        Some(format) => {
            let (docs, data) = documents_data(text, format).ok()?;
            Some(View { data, comments: comments(&docs) })
        }
        None => Some(View { data: vec![store.data(src).ok()?], comments: Vec::new() }),
    }
}

/// A ciphertext, as a value or as a comment (`#ENC[…]`).
fn is_enc(s: &str) -> bool {
    crate::cipher::is_enc(s.trim_start_matches('#').trim_start())
}

/// Paths where `side` holds a ciphertext and `res` holds something else. The top-level
/// `sops` metadata (and dotenv's `sops_*` keys) are not data.
fn find_clear(path: &[Seg], side: &J, res: &J, dotenv: bool, out: &mut Vec<Vec<Seg>>) {
    match (side, res) {
        (J::String(s), r) if is_enc(s) && !matches!(r, J::String(r) if is_enc(r)) => out.push(path.to_vec()),
        (J::Object(sm), J::Object(rm)) => {
            for (k, sv) in sm {
                if path.is_empty() && (k == "sops" || (dotenv && k.starts_with("sops_"))) {
                    continue;
                }
                if let Some(rv) = rm.get(k) {
                    find_clear(&push(path, Seg::Key(k.clone())), sv, rv, dotenv, out);
                }
            }
        }
        (J::Array(sa), J::Array(ra)) => {
            for (i, (sv, rv)) in sa.iter().zip(ra).enumerate() {
                find_clear(&push(path, Seg::Index(i)), sv, rv, dotenv, out);
            }
        }
        // A subtree replaced by a scalar (or the reverse): any ciphertext under it that the
        // result does not hold encrypted at the same place counts.
        (J::Object(_) | J::Array(_), r)
            if !r.is_object() && !r.is_array() && !r.is_null() && contains_enc(side) && !is_enc_value(r) =>
        {
            out.push(path.to_vec())
        }
        _ => {}
    }
}

fn is_enc_value(v: &J) -> bool {
    matches!(v, J::String(s) if is_enc(s))
}

fn contains_enc(v: &J) -> bool {
    match v {
        J::String(s) => is_enc(s),
        J::Object(m) => m.values().any(contains_enc),
        J::Array(a) => a.iter().any(contains_enc),
        _ => false,
    }
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
    fn a_value_or_comment_encrypted_on_a_side_and_clear_in_the_result_is_named() {
        let yaml = crate::store::by_name("yaml").unwrap();
        let enc = "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]";
        let side = format!("#{enc}\na: {enc}\nb:\n  c: {enc}\nd: clear\nsops:\n  mac: {enc}\n");
        let fine = format!("#{enc}\na: {enc}\nb:\n  c: {enc}\nd: changed\nsops:\n  mac: x\n");
        assert!(clear_where_encrypted(yaml, &[side.as_bytes()], fine.as_bytes()).is_empty());
        let leaky = format!("# hello\na: {enc}\nb:\n  c: in-clear\nd: clear\nsops:\n  mac: x\n");
        let found = clear_where_encrypted(yaml, &[side.as_bytes()], leaky.as_bytes());
        let paths: Vec<&str> = found.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["[\"b\"][\"c\"]", "comments"]);
        // A subtree replaced by a scalar counts; a value deleted does not.
        let flat = format!("a: {enc}\nb: in-clear\nsops: {{}}\n");
        assert_eq!(clear_where_encrypted(yaml, &[side.as_bytes()], flat.as_bytes())[0].path, "[\"b\"]");
        let env = crate::store::by_name("dotenv").unwrap();
        let side = format!("A={enc}\nsops_mac={enc}\n");
        assert_eq!(clear_where_encrypted(env, &[side.as_bytes()], b"A=x\nsops_mac=y\n")[0].path, "[\"A\"]");
        assert!(clear_where_encrypted(env, &[side.as_bytes()], b"sops_mac=y\n").is_empty());
    }

    #[test]
    fn comments_changed_on_both_sides_next_to_values_conflict() {
        let c = m(Some("# x\na: 1\n"), "# y\na: 2\n", "# z\na: 1\n").unwrap_err();
        assert_eq!(c[0].path, "file");
    }
}
