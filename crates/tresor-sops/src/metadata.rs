//! The `sops:` metadata block: reading every layout sops has written (3.7–3.13), and
//! writing the 3.10–3.12 layout (struct field order) so our output diffs like sops'.

use tresor_format::render::{double_quoted, json_string, plain_safe};
use tresor_format::{Map, MapItem, Node};

use crate::error::SopsError;
use crate::rules::Rule;

/// The version string we write. It must be semver (sops checks it on every decrypt); we
/// write the sops release whose format we match.
pub const FORMAT_VERSION: &str = "3.11.0";

#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// One group = the flat layout; several = `key_groups` with Shamir shares.
    pub key_groups: Vec<KeyGroup>,
    pub shamir_threshold: usize,
    pub lastmodified: String,
    pub mac: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
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

#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    pub keys: Vec<MasterKey>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MasterKey {
    Age {
        recipient: String,
        enc: String,
    },
    HcVault {
        vault_address: String,
        engine_path: String,
        key_name: String,
        created_at: String,
        enc: String,
    },
    Okms {
        endpoint: String,
        okms_id: String,
        key_id: String,
        created_at: String,
        enc: String,
    },
    /// A key type we cannot use (AWS/GCP/Azure KMS, PGP, HuaweiCloud): kept for reporting.
    Foreign {
        kind: String,
        fields: Vec<(String, String)>,
    },
}

impl MasterKey {
    pub fn kind(&self) -> &str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::HcVault { .. } => "hc_vault",
            MasterKey::Okms { .. } => "okms",
            MasterKey::Foreign { kind, .. } => kind,
        }
    }

    /// A short human identifier (recipient, key URI, key id).
    pub fn id(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => recipient.clone(),
            MasterKey::HcVault { vault_address, engine_path, key_name, .. } => {
                format!("{vault_address}/v1/{engine_path}/keys/{key_name}")
            }
            MasterKey::Okms { endpoint, okms_id, key_id, .. } => {
                format!("{endpoint}/api/{okms_id}/v1/servicekey/{key_id}")
            }
            MasterKey::Foreign { fields, .. } => fields
                .iter()
                .find(|(k, _)| matches!(k.as_str(), "arn" | "resource_id" | "vault_url" | "fp" | "key_id"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        }
    }

    pub fn created_at(&self) -> Option<&str> {
        match self {
            MasterKey::HcVault { created_at, .. } | MasterKey::Okms { created_at, .. } => Some(created_at),
            MasterKey::Foreign { fields, .. } => {
                fields.iter().find(|(k, _)| k == "created_at").map(|(_, v)| v.as_str())
            }
            MasterKey::Age { .. } => None,
        }
    }
}

const FOREIGN_KINDS: [&str; 5] = ["kms", "gcp_kms", "hckms", "azure_kv", "pgp"];

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

fn field(map: &Map, key: &str) -> Option<String> {
    map.get(key).and_then(scalar_text).filter(|s| !(s == "~" || s == "null"))
}

fn read_group(map: &Map) -> Result<KeyGroup, SopsError> {
    let mut keys = Vec::new();
    let bad = |what: &str| SopsError::InvalidMetadata(format!("{what} entry is missing a field"));
    // sops' struct order: cloud KMSs, hc_vault, (okms), age, pgp.
    for kind in FOREIGN_KINDS.iter().filter(|k| **k != "pgp") {
        for item in list_items(map.get(kind)) {
            if let Some(m) = item.as_map() {
                let fields = m.entries().filter_map(|e| scalar_text(&e.value).map(|v| (e.key.clone(), v))).collect();
                keys.push(MasterKey::Foreign { kind: kind.to_string(), fields });
            }
        }
    }
    for item in list_items(map.get("hc_vault")) {
        let m = item.as_map().ok_or_else(|| bad("hc_vault"))?;
        keys.push(MasterKey::HcVault {
            vault_address: field(m, "vault_address").ok_or_else(|| bad("hc_vault"))?,
            engine_path: field(m, "engine_path").ok_or_else(|| bad("hc_vault"))?,
            key_name: field(m, "key_name").ok_or_else(|| bad("hc_vault"))?,
            created_at: field(m, "created_at").unwrap_or_default(),
            enc: field(m, "enc").ok_or_else(|| bad("hc_vault"))?,
        });
    }
    for item in list_items(map.get("okms")) {
        let m = item.as_map().ok_or_else(|| bad("okms"))?;
        keys.push(MasterKey::Okms {
            endpoint: field(m, "endpoint").ok_or_else(|| bad("okms"))?,
            okms_id: field(m, "okms_id").ok_or_else(|| bad("okms"))?,
            key_id: field(m, "key_id").ok_or_else(|| bad("okms"))?,
            created_at: field(m, "created_at").unwrap_or_default(),
            enc: field(m, "enc").ok_or_else(|| bad("okms"))?,
        });
    }
    for item in list_items(map.get("age")) {
        let m = item.as_map().ok_or_else(|| bad("age"))?;
        keys.push(MasterKey::Age {
            recipient: field(m, "recipient").ok_or_else(|| bad("age"))?,
            enc: field(m, "enc").ok_or_else(|| bad("age"))?,
        });
    }
    for kind in ["pgp"] {
        for item in list_items(map.get(kind)) {
            if let Some(m) = item.as_map() {
                let fields = m.entries().filter_map(|e| scalar_text(&e.value).map(|v| (e.key.clone(), v))).collect();
                keys.push(MasterKey::Foreign { kind: kind.to_string(), fields });
            }
        }
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
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let ok = (parts.len() == 3 || (parts.len() == 2 && parts[0] == "1"))
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(SopsError::InvalidMetadata(format!("version '{v}' is not a Major.Minor.Patch version")))
    }
}

fn group_tree(g: &KeyGroup, in_groups: bool) -> Vec<(String, Meta)> {
    let mut out: Vec<(String, Meta)> = Vec::new();
    for kind in ["kms", "gcp_kms", "hckms", "azure_kv"] {
        let items: Vec<Meta> = g
            .keys
            .iter()
            .filter_map(|k| match k {
                MasterKey::Foreign { kind: k2, fields } if k2 == kind => {
                    Some(Meta::Map(fields.iter().map(|(a, b)| (a.clone(), Meta::Str(b.clone()))).collect()))
                }
                _ => None,
            })
            .collect();
        if !items.is_empty() {
            out.push((kind.into(), Meta::List(items)));
        }
    }
    let vault: Vec<Meta> = g
        .keys
        .iter()
        .filter_map(|k| match k {
            MasterKey::HcVault { vault_address, engine_path, key_name, created_at, enc } => Some(Meta::Map(vec![
                ("vault_address".into(), Meta::Str(vault_address.clone())),
                ("engine_path".into(), Meta::Str(engine_path.clone())),
                ("key_name".into(), Meta::Str(key_name.clone())),
                ("created_at".into(), Meta::Quoted(created_at.clone())),
                ("enc".into(), Meta::Str(enc.clone())),
            ])),
            _ => None,
        })
        .collect();
    if !vault.is_empty() || in_groups {
        out.push(("hc_vault".into(), Meta::List(vault)));
    }
    let okms: Vec<Meta> = g
        .keys
        .iter()
        .filter_map(|k| match k {
            MasterKey::Okms { endpoint, okms_id, key_id, created_at, enc } => Some(Meta::Map(vec![
                ("endpoint".into(), Meta::Str(endpoint.clone())),
                ("okms_id".into(), Meta::Str(okms_id.clone())),
                ("key_id".into(), Meta::Str(key_id.clone())),
                ("created_at".into(), Meta::Quoted(created_at.clone())),
                ("enc".into(), Meta::Str(enc.clone())),
            ])),
            _ => None,
        })
        .collect();
    if !okms.is_empty() {
        out.push(("okms".into(), Meta::List(okms)));
    }
    let age: Vec<Meta> = g
        .keys
        .iter()
        .filter_map(|k| match k {
            MasterKey::Age { recipient, enc } => Some(Meta::Map(vec![
                ("recipient".into(), Meta::Str(recipient.clone())),
                ("enc".into(), Meta::Block(enc.clone())),
            ])),
            _ => None,
        })
        .collect();
    if !age.is_empty() || in_groups {
        out.push(("age".into(), Meta::List(age)));
    }
    let pgp: Vec<Meta> = g
        .keys
        .iter()
        .filter_map(|k| match k {
            MasterKey::Foreign { kind, fields } if kind == "pgp" => Some(Meta::Map(
                fields
                    .iter()
                    .map(|(a, b)| {
                        // The armored message as a literal block, as sops writes it.
                        let v = if b.contains('\n') { Meta::Block(b.clone()) } else { Meta::Str(b.clone()) };
                        (a.clone(), v)
                    })
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    if !pgp.is_empty() {
        out.push(("pgp".into(), Meta::List(pgp)));
    }
    out
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
