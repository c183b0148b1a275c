//! The `sops:` metadata block: reading every layout sops has written (3.7–3.13), and
//! writing the 3.10–3.12 layout (struct field order) so our output diffs like sops'.

use tresor_format::render::{double_quoted, json_string, plain_safe};
use tresor_format::{Map, MapItem, Node};

use crate::error::SopsError;
use crate::rules::Rule;

/// The version string we write. It must be semver (sops checks it on every decrypt); we
/// write the sops release whose format we match.
pub const FORMAT_VERSION: &str = "3.11.0";

/// The `sops` metadata of a file.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// One group = the flat layout; several = `key_groups` with Shamir shares.
    pub key_groups: Vec<KeyGroup>,
    /// Groups needed to decrypt, with several groups (0 = all).
    pub shamir_threshold: usize,
    /// When the data key last changed; part of the MAC's AAD.
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[…]`).
    pub mac: String,
    /// Which values are encrypted.
    pub rule: Rule,
    /// The MAC covers encrypted values only.
    pub mac_only_encrypted: bool,
    /// The sops version that wrote the layout (semver, checked on read).
    pub version: String,
    /// tresor's encrypted record of original value spellings (see `layout`).
    pub layout: Option<String>,
    /// Optional owner/contact, kept in clear text (sops ignores unknown fields).
    pub owner: Option<String>,
}

impl Metadata {
    /// How many key groups must give their share to recover the data key: one for the
    /// flat layout, else the Shamir threshold (all groups when none is set).
    pub fn groups_needed(&self) -> usize {
        match (self.key_groups.len(), self.shamir_threshold) {
            (0 | 1, _) => 1,
            (n, 0) => n,
            (_, t) => t,
        }
    }
}

/// One key group: any one of its keys yields the group's share.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    /// Its master keys, in file order.
    pub keys: Vec<MasterKey>,
}

/// One master key of a key group, as the metadata stores it: the list it sits in (`age`,
/// `hc_vault`, `kms`, …) and its fields in file order. The format does not interpret the
/// fields; the key services in `tresor-keys` do (as age's `Stanza` under its recipients).
/// Kinds no service handles are kept byte-for-byte on every rewrite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterKey {
    /// The metadata list name.
    pub kind: String,
    /// Field name and string value, in the order read (or the service's order when new).
    pub fields: Vec<(String, String)>,
}

impl MasterKey {
    /// A record of `kind` with `fields` in the given order.
    pub fn new(kind: &str, fields: &[(&str, &str)]) -> MasterKey {
        MasterKey {
            kind: kind.to_string(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// The metadata list this key sits in.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// A field's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The wrapped data key (every kind sops writes names it `enc`).
    pub fn enc(&self) -> Option<&str> {
        self.get("enc")
    }

    /// When the key was wrapped, for the kinds that record it.
    pub fn created_at(&self) -> Option<&str> {
        self.get("created_at")
    }
}

/// The key lists of a key group in sops' struct order, with tresor's own (`okms`,
/// `scw_kms`, `stackit_kms`) after `hc_vault`. `in_groups` lists are written even when empty inside `key_groups`, as sops
/// does (its struct has no `omitempty` on them).
const LISTS: [(&str, bool); 10] = [
    ("kms", false),
    ("gcp_kms", false),
    ("hckms", false),
    ("azure_kv", false),
    ("hc_vault", true),
    ("okms", false),
    ("scw_kms", false),
    ("stackit_kms", false),
    ("age", true),
    ("pgp", false),
];

/// The key lists this version writes in sops' order (a kind not among them is still kept,
/// after them, as read).
pub fn known_lists() -> impl Iterator<Item = &'static str> {
    LISTS.iter().map(|(k, _)| *k)
}

/// Is `kind` one of the key lists this version writes in sops' order?
fn is_known_list(kind: &str) -> bool {
    known_lists().any(|k| k == kind)
}

// ---------------------------------------------------------------- reading

fn scalar_text(node: &Node) -> Option<String> {
    match node {
        Node::Scalar(s) => {
            if s.style == tresor_format::ScalarStyle::JsonBare && s.text == "null" {
                None
            } else {
                Some(s.text.clone())
            }
        }
        _ => None,
    }
}

fn list_items(node: Option<&Node>) -> Vec<&Node> {
    match node {
        Some(Node::Seq(s)) => s.values().collect(),
        _ => Vec::new(),
    }
}

/// A scalar's text, with YAML's null spellings (`~`, `null`) read as absent.
fn non_null(node: &Node) -> Option<String> {
    scalar_text(node).filter(|s| !(s == "~" || s == "null"))
}

fn field(map: &Map, key: &str) -> Option<String> {
    map.get(key).and_then(non_null)
}

/// The fields of the `sops` block that are not key lists.
const NON_KEY_FIELDS: [&str; 8] = [
    "key_groups",
    "shamir_threshold",
    "lastmodified",
    "mac",
    "mac_only_encrypted",
    "version",
    "tresor_layout",
    "owner",
];

/// Is `name: value` a key list of a kind tresor does not know — a sequence of mappings
/// under a name that is no other metadata field (a key type a newer sops added)?
fn is_unknown_key_list(name: &str, value: &Node) -> bool {
    !is_known_list(name)
        && !NON_KEY_FIELDS.contains(&name)
        && !Rule::FIELD_NAMES.contains(&name)
        && matches!(value, Node::Seq(s) if s.values().next().is_some() && s.values().all(|v| v.as_map().is_some()))
}

fn read_group(map: &Map) -> Result<KeyGroup, SopsError> {
    let mut keys = Vec::new();
    let mut read = |kind: &str, node: Option<&Node>| -> Result<(), SopsError> {
        for item in list_items(node) {
            let m = item
                .as_map()
                .ok_or_else(|| SopsError::InvalidMetadata(format!("a `{kind}` key entry is not a mapping")))?;
            let fields = m.entries().filter_map(|e| non_null(&e.value).map(|v| (e.key.clone(), v))).collect();
            keys.push(MasterKey { kind: kind.to_string(), fields });
        }
        Ok(())
    };
    for (kind, _) in LISTS {
        read(kind, map.get(kind))?;
    }
    // Key lists of kinds this version does not know are kept, in file order, and written
    // back after the known ones: dropping one would silently lock its holders out.
    for e in map.entries().filter(|e| is_unknown_key_list(&e.key, &e.value)) {
        read(&e.key, Some(&e.value))?;
    }
    Ok(KeyGroup { keys })
}

impl Metadata {
    /// Read metadata from the value of a document's `sops` key.
    pub fn from_node(node: &Node) -> Result<Metadata, SopsError> {
        let map = node.as_map().ok_or_else(|| SopsError::InvalidMetadata("`sops` is not a mapping".into()))?;
        let mut key_groups = Vec::new();
        let groups = list_items(map.get("key_groups"));
        if groups.is_empty() {
            key_groups.push(read_group(map)?);
        } else {
            for g in groups {
                let m = g.as_map().ok_or_else(|| SopsError::InvalidMetadata("key group is not a mapping".into()))?;
                key_groups.push(read_group(m)?);
            }
        }
        let shamir_threshold = match field(map, "shamir_threshold") {
            Some(t) => t.parse().map_err(|_| SopsError::InvalidMetadata(format!("bad shamir_threshold '{t}'")))?,
            None => 0,
        };
        let version = field(map, "version").ok_or_else(|| SopsError::InvalidMetadata("version string empty".into()))?;
        check_semver(&version)?;
        let mut rules = Vec::new();
        for name in Rule::FIELD_NAMES {
            if let Some(v) = field(map, name) {
                rules.push(Rule::from_field(name, &v)?);
            }
        }
        if rules.len() > 1 {
            return Err(SopsError::InvalidMetadata("more than one encryption rule (suffix/regex) in metadata".into()));
        }
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            lastmodified: field(map, "lastmodified").unwrap_or_default(),
            mac: field(map, "mac").unwrap_or_default(),
            rule: rules.pop().unwrap_or_default(),
            mac_only_encrypted: field(map, "mac_only_encrypted").is_some_and(|v| v == "true"),
            version,
            layout: field(map, "tresor_layout"),
            owner: field(map, "owner"),
        })
    }

    /// Every master key of every group.
    pub fn all_keys(&self) -> impl Iterator<Item = &MasterKey> {
        self.key_groups.iter().flat_map(|g| g.keys.iter())
    }

    /// Build the tree we emit, in sops 3.11 struct order.
    fn to_tree(&self) -> Meta {
        let mut top: Vec<(String, Meta)> = Vec::new();
        if self.key_groups.len() > 1 {
            let t = if self.shamir_threshold == 0 { self.key_groups.len() } else { self.shamir_threshold };
            top.push(("shamir_threshold".into(), Meta::Int(t as i64)));
            let groups = self.key_groups.iter().map(|g| Meta::Map(group_tree(g, true))).collect();
            top.push(("key_groups".into(), Meta::List(groups)));
        } else if let Some(g) = self.key_groups.first() {
            top.extend(group_tree(g, false));
        }
        top.push(("lastmodified".into(), Meta::Quoted(self.lastmodified.clone())));
        top.push(("mac".into(), Meta::Str(self.mac.clone())));
        let (name, value) = self.rule.field();
        top.push((name.into(), Meta::Str(value)));
        if self.mac_only_encrypted {
            top.push(("mac_only_encrypted".into(), Meta::Bool(true)));
        }
        if let Some(o) = &self.owner {
            top.push(("owner".into(), Meta::Str(o.clone())));
        }
        if let Some(l) = &self.layout {
            top.push(("tresor_layout".into(), Meta::Str(l.clone())));
        }
        top.push(("version".into(), Meta::Str(self.version.clone())));
        Meta::Map(top)
    }

    /// The metadata block as YAML lines (`sops:` at column 0, sops' 4-space indent).
    pub fn to_yaml(&self, newline: &str) -> String {
        let mut out = String::from("sops:");
        if let Meta::Map(entries) = self.to_tree() {
            emit_yaml_map(&entries, 4, 4, newline, &mut out);
        }
        out
    }

    /// The metadata value as JSON (`{...}`), indented with `unit` from column `depth`.
    pub fn to_json(&self, unit: &str, depth: usize, newline: &str) -> String {
        let mut out = String::new();
        emit_json(&self.to_tree(), unit, depth, newline, &mut out);
        out
    }

    /// [`Metadata::to_json`] without the encryption rule, as sops writes the binary store
    /// (its one value is always encrypted, so a rule would only mislead).
    pub fn to_json_without_rule(&self, unit: &str, depth: usize, newline: &str) -> String {
        let mut tree = self.to_tree();
        if let Meta::Map(entries) = &mut tree {
            entries.retain(|(k, _)| !Rule::FIELD_NAMES.contains(&k.as_str()));
        }
        let mut out = String::new();
        emit_json(&tree, unit, depth, newline, &mut out);
        out
    }

    /// The metadata flattened as sops writes it in dotenv and INI files: nested maps as
    /// `__map_<key>`, list items as `__list_<i>`, every value a string (`true`, `2`).
    /// In sops' struct order; dotenv sorts them, INI keeps them.
    pub fn to_flat(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, node: &Meta, out: &mut Vec<(String, String)>) {
            match node {
                Meta::Map(entries) => {
                    for (k, v) in entries {
                        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}__map_{k}") };
                        walk(&key, v, out);
                    }
                }
                Meta::List(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(&format!("{prefix}__list_{i}"), v, out);
                    }
                }
                Meta::Str(s) | Meta::Quoted(s) | Meta::Block(s) => out.push((prefix.to_string(), s.clone())),
                Meta::Int(i) => out.push((prefix.to_string(), i.to_string())),
                Meta::Bool(b) => out.push((prefix.to_string(), b.to_string())),
            }
        }
        let mut out = Vec::new();
        walk("", &self.to_tree(), &mut out);
        out
    }

    /// Read flattened metadata (see [`Metadata::to_flat`]): the pairs are unflattened into
    /// a tree and read like any other metadata.
    pub fn from_flat(pairs: &[(String, String)]) -> Result<Metadata, SopsError> {
        use serde_json::{Map as JMap, Value as J};
        fn insert(node: &mut J, segs: &[&str], value: &str) -> Result<(), SopsError> {
            let bad = || SopsError::InvalidMetadata("a flattened metadata key does not fit the others".into());
            let Some((first, rest)) = segs.split_first() else {
                *node = J::String(value.to_string());
                return Ok(());
            };
            if let Some(i) = first.strip_prefix("list_") {
                let i: usize = i.parse().map_err(|_| bad())?;
                if node.is_null() {
                    *node = J::Array(Vec::new());
                }
                let list = node.as_array_mut().ok_or_else(bad)?;
                // Indices arrive in any order (INI keeps Go's map order); 4096 bounds a
                // hostile index.
                if i > 4096 {
                    return Err(bad());
                }
                while list.len() <= i {
                    list.push(J::Null);
                }
                insert(&mut list[i], rest, value)
            } else {
                let key = first.strip_prefix("map_").ok_or_else(bad)?;
                if node.is_null() {
                    *node = J::Object(JMap::new());
                }
                let map = node.as_object_mut().ok_or_else(bad)?;
                insert(map.entry(key.to_string()).or_insert(J::Null), rest, value)
            }
        }
        let mut root = J::Object(JMap::new());
        for (k, v) in pairs {
            let mut segs: Vec<&str> = k.split("__").collect();
            let top = format!("map_{}", segs[0]);
            segs[0] = &top;
            insert(&mut root, &segs, v)?;
        }
        let text = serde_json::to_string(&root).map_err(|e| SopsError::InvalidMetadata(e.to_string()))?;
        let doc = tresor_format::json::parse(&text)?;
        Metadata::from_node(&doc.root)
    }
}

fn check_semver(v: &str) -> Result<(), SopsError> {
    // As sops reads it: an optional `v`, then semver's numbers without leading zeros
    // (`03.11.0` is refused, `v3.11.0` is not); files from sops 1.x wrote `1.N`.
    let core = v.strip_prefix('v').unwrap_or(v).split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let number =
        |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0'));
    let ok = (parts.len() == 3 || (parts.len() == 2 && parts[0] == "1")) && parts.iter().all(number);
    if ok {
        Ok(())
    } else {
        Err(SopsError::InvalidMetadata(format!("version '{v}' is not a Major.Minor.Patch version")))
    }
}

fn group_tree(g: &KeyGroup, in_groups: bool) -> Vec<(String, Meta)> {
    let mut out: Vec<(String, Meta)> = Vec::new();
    let items = |kind: &str| -> Vec<Meta> {
        g.keys
            .iter()
            .filter(|k| k.kind == kind)
            .map(|k| Meta::Map(k.fields.iter().map(|(name, v)| (name.clone(), field_meta(name, v))).collect()))
            .collect()
    };
    for (kind, always) in LISTS {
        let items = items(kind);
        if !items.is_empty() || (always && in_groups) {
            out.push((kind.into(), Meta::List(items)));
        }
    }
    // Kinds this version does not know, as read (see `read_group`).
    let mut unknown: Vec<&str> = Vec::new();
    for k in &g.keys {
        if !is_known_list(&k.kind) && !unknown.contains(&k.kind.as_str()) {
            unknown.push(&k.kind);
        }
    }
    for kind in unknown {
        out.push((kind.into(), Meta::List(items(kind))));
    }
    out
}

/// How sops' YAML encoder writes a key field: armored messages (age, PGP) as literal
/// blocks, timestamps double-quoted (go-yaml quotes strings that would read back as a
/// timestamp), the rest plain where that reads back as the same string.
fn field_meta(name: &str, value: &str) -> Meta {
    if value.contains('\n') {
        Meta::Block(value.to_string())
    } else if name == "created_at" {
        Meta::Quoted(value.to_string())
    } else {
        Meta::Str(value.to_string())
    }
}

// ---------------------------------------------------------------- writing

enum Meta {
    Map(Vec<(String, Meta)>),
    List(Vec<Meta>),
    Str(String),
    /// A string sops always double-quotes in YAML (timestamps).
    Quoted(String),
    /// A multi-line string written as a literal block in YAML.
    Block(String),
    Int(i64),
    Bool(bool),
}

fn yaml_str(s: &str) -> String {
    if plain_safe(s, false) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// Emit `entries` as a block mapping whose keys sit at column `indent`. The first key
/// goes on a new line. `block_indent` is where literal block content starts.
fn emit_yaml_map(entries: &[(String, Meta)], indent: usize, block_indent: usize, nl: &str, out: &mut String) {
    for (k, v) in entries {
        out.push_str(nl);
        out.push_str(&" ".repeat(indent));
        emit_yaml_entry(k, v, indent, block_indent, nl, out);
    }
}

fn emit_yaml_entry(k: &str, v: &Meta, indent: usize, block_indent: usize, nl: &str, out: &mut String) {
    out.push_str(k);
    out.push(':');
    match v {
        Meta::Map(m) => emit_yaml_map(m, indent + 4, indent + 4, nl, out),
        Meta::List(items) if items.is_empty() => out.push_str(" []"),
        Meta::List(items) => {
            for item in items {
                out.push_str(nl);
                out.push_str(&" ".repeat(indent + 4));
                out.push_str("- ");
                match item {
                    Meta::Map(m) => {
                        let item_indent = indent + 6;
                        for (i, (k2, v2)) in m.iter().enumerate() {
                            if i > 0 {
                                out.push_str(nl);
                                out.push_str(&" ".repeat(item_indent));
                            }
                            emit_yaml_entry(k2, v2, item_indent, indent + 8, nl, out);
                        }
                    }
                    other => emit_yaml_scalar(other, out),
                }
            }
        }
        Meta::Block(s) => {
            out.push_str(" |");
            let content = s.trim_end_matches('\n');
            for line in content.split('\n') {
                out.push_str(nl);
                if !line.is_empty() {
                    out.push_str(&" ".repeat(block_indent));
                    out.push_str(line.trim_end_matches('\r'));
                }
            }
        }
        other => {
            out.push(' ');
            emit_yaml_scalar(other, out);
        }
    }
}

fn emit_yaml_scalar(v: &Meta, out: &mut String) {
    match v {
        Meta::Str(s) => out.push_str(&yaml_str(s)),
        Meta::Quoted(s) => out.push_str(&double_quoted(s)),
        Meta::Int(i) => out.push_str(&i.to_string()),
        Meta::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Meta::Block(s) => out.push_str(&double_quoted(s)),
        Meta::Map(_) | Meta::List(_) => {}
    }
}

fn emit_json(v: &Meta, unit: &str, depth: usize, nl: &str, out: &mut String) {
    let pad = |d: usize| unit.repeat(d);
    let compact = unit.is_empty();
    match v {
        Meta::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !compact {
                    out.push_str(nl);
                    out.push_str(&pad(depth + 1));
                }
                out.push_str(&json_string(k));
                // Always `": "`, also on one line: Flux's kustomize-controller recognises an
                // encrypted JSON file only by the bytes `"mac": "ENC[`.
                out.push_str(": ");
                emit_json(v, unit, depth + 1, nl, out);
            }
            if !compact && !entries.is_empty() {
                out.push_str(nl);
                out.push_str(&pad(depth));
            }
            out.push('}');
        }
        Meta::List(items) if items.is_empty() => out.push_str("null"),
        Meta::List(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !compact {
                    out.push_str(nl);
                    out.push_str(&pad(depth + 1));
                }
                emit_json(it, unit, depth + 1, nl, out);
            }
            if !compact {
                out.push_str(nl);
                out.push_str(&pad(depth));
            }
            out.push(']');
        }
        Meta::Str(s) | Meta::Quoted(s) | Meta::Block(s) => out.push_str(&json_string(s)),
        Meta::Int(i) => out.push_str(&i.to_string()),
        Meta::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

/// The value of the top-level `sops` entry in the first document, if any.
pub fn find_in(root: &Node) -> Option<&Node> {
    root.as_map()?.items.iter().find_map(|i| match i {
        MapItem::Entry(e) if e.key == "sops" => Some(&e.value),
        _ => None,
    })
}
