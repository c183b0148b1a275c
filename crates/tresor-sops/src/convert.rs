//! Converting a (decrypted) document tree to data, for `--extract`, `--output-type`
//! and `exec-env`. This is not lossless; lossless paths never go through here.

use serde_json::{Map as JMap, Number, Value as J};
use tresor_format::scalar::{self};
use tresor_format::tree::{Document, Node};
use tresor_format::Value;

use crate::error::SopsError;
use crate::walk::Seg;

fn scalar_to_json(v: Value, pos: tresor_format::Position) -> Result<J, SopsError> {
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(b),
        Value::Int(i) => J::Number(i.into()),
        Value::Float(f) => Number::from_f64(f).map(J::Number).unwrap_or_else(|| J::String(scalar::go_format_float(f))),
        Value::Str(s) | Value::Time(s) => J::String(s),
        // JSON strings are text: replacing the bytes (as Go's encoder does) would change
        // the secret.
        Value::Bytes(_) => {
            return Err(SopsError::Format(tresor_format::FormatError::Unsupported {
                pos,
                msg: "a `!!binary` value that is not UTF-8 text cannot be converted to JSON or an \
                      environment variable; decrypt to YAML to keep its bytes"
                    .into(),
            }))
        }
    })
}

/// Converts a tree to data, expanding aliases within a budget of nodes (a billion-laughs
/// document would otherwise expand to gigabytes).
struct Converter<'a> {
    doc: &'a Document,
    left: usize,
}

impl Converter<'_> {
    fn node(&mut self, node: &Node, depth: usize) -> Result<J, SopsError> {
        if depth > tresor_format::MAX_DEPTH * 4 {
            return Err(SopsError::Format(tresor_format::FormatError::TooDeep {
                pos: node.pos(),
                max: tresor_format::MAX_DEPTH * 4,
            }));
        }
        self.left = self.left.checked_sub(1).ok_or_else(|| {
            SopsError::Format(tresor_format::FormatError::Unsupported {
                pos: node.pos(),
                msg: format!(
                    "the document expands to more than {} nodes (aliases repeating aliases?); refusing",
                    tresor_format::MAX_ALIAS_EXPANSION
                ),
            })
        })?;
        Ok(match node {
            Node::Scalar(s) => {
                scalar_to_json(scalar::resolve(s).unwrap_or_else(|_| Value::Str(s.text.clone())), s.pos)?
            }
            Node::Alias(a) => match self.doc.anchors.get(a.anchor).and_then(|n| n.as_ref()) {
                Some(t) => self.node(t, depth + 1)?,
                None => J::Null,
            },
            Node::Seq(s) => J::Array(s.values().map(|v| self.node(v, depth + 1)).collect::<Result<_, _>>()?),
            Node::Map(m) => {
                let mut out = JMap::new();
                for e in m.entries() {
                    out.insert(e.key.clone(), self.node(&e.value, depth + 1)?);
                }
                J::Object(out)
            }
        })
    }
}

fn node_to_json(doc: &Document, node: &Node, depth: usize) -> Result<J, SopsError> {
    Converter { doc, left: tresor_format::MAX_ALIAS_EXPANSION.max(count_nodes(node)) }.node(node, depth)
}

/// Nodes written in the document (aliases counted once): a document without aliases
/// always converts, however large.
fn count_nodes(node: &Node) -> usize {
    match node {
        Node::Scalar(_) | Node::Alias(_) => 1,
        Node::Seq(s) => 1 + s.values().map(count_nodes).sum::<usize>(),
        Node::Map(m) => 1 + m.entries().map(|e| count_nodes(&e.value)).sum::<usize>(),
    }
}

/// The whole document as data, `sops` entry included.
pub fn document_value(doc: &Document) -> Result<J, SopsError> {
    node_to_json(doc, &doc.root, 0)
}

/// The data of a document, without the `sops` entry.
pub fn document_data(doc: &Document) -> Result<J, SopsError> {
    let mut v = node_to_json(doc, &doc.root, 0)?;
    if let J::Object(m) = &mut v {
        m.shift_remove("sops");
    }
    Ok(v)
}

/// Parse an `--extract` path: `["a"]["b"][0]`.
pub fn parse_path(expr: &str) -> Result<Vec<Seg>, SopsError> {
    let bad = || SopsError::BadPath(expr.to_string());
    let mut segs = Vec::new();
    let mut rest = expr.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(bad)?;
        if rest.starts_with('"') || rest.starts_with('\'') {
            let q = rest.chars().next().unwrap();
            let end = rest[1..].find(q).ok_or_else(bad)? + 1;
            segs.push(Seg::Key(rest[1..end].to_string()));
            rest = rest[end + 1..].strip_prefix(']').ok_or_else(bad)?;
        } else {
            let end = rest.find(']').ok_or_else(bad)?;
            segs.push(Seg::Index(rest[..end].trim().parse().map_err(|_| bad())?));
            rest = &rest[end + 1..];
        }
    }
    Ok(segs)
}

/// The part of `data` at `path` (`--extract`), if present.
pub fn extract<'a>(data: &'a J, path: &[Seg]) -> Option<&'a J> {
    let mut cur = data;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), J::Object(m)) => m.get(k)?,
            (Seg::Index(i), J::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Emit data as YAML (block style, sops' 4-space indent).
pub fn to_yaml(v: &J) -> String {
    let mut out = String::new();
    yaml_node(v, 0, &mut out, true);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn yaml_scalar(v: &J) -> String {
    use tresor_format::render::{double_quoted, plain_safe, yaml_float};
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => yaml_float(f),
            _ => n.to_string(),
        },
        J::String(s) if plain_safe(s, false) => s.clone(),
        J::String(s) => double_quoted(s),
        J::Array(_) => "[]".into(),
        J::Object(_) => "{}".into(),
    }
}

fn yaml_node(v: &J, indent: usize, out: &mut String, top: bool) {
    let pad = " ".repeat(indent);
    match v {
        J::Object(m) if !m.is_empty() => {
            for (i, (k, val)) in m.iter().enumerate() {
                if !(top && i == 0 && out.is_empty()) {
                    if !out.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(&pad);
                }
                out.push_str(&yaml_scalar(&J::String(k.clone())));
                out.push(':');
                yaml_value(val, indent, out);
            }
        }
        J::Array(a) if !a.is_empty() => {
            for item in a {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    J::Object(m) if !m.is_empty() => {
                        let mut first = true;
                        for (k, val) in m {
                            if !first {
                                out.push('\n');
                                out.push_str(&" ".repeat(indent + 2));
                            }
                            first = false;
                            out.push_str(&yaml_scalar(&J::String(k.clone())));
                            out.push(':');
                            yaml_value(val, indent + 2, out);
                        }
                    }
                    J::Array(inner) if !inner.is_empty() => {
                        out.push('\n');
                        yaml_node(item, indent + 4, out, false);
                    }
                    other => out.push_str(&yaml_scalar(other)),
                }
            }
        }
        other => out.push_str(&yaml_scalar(other)),
    }
}

fn yaml_value(val: &J, indent: usize, out: &mut String) {
    match val {
        J::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_node(val, indent + 4, out, false);
        }
        J::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_node(val, indent + 4, out, false);
        }
        J::String(s)
            if s.contains('\n')
                && !s.starts_with(' ')
                && s.lines().all(|l| l.is_empty() || l.trim() == l || !l.trim().is_empty())
                && !s.chars().any(|c| c.is_control() && c != '\n') =>
        {
            let content = s.trim_end_matches('\n');
            let chomp = match s.len() - content.len() {
                0 => "-",
                1 => "",
                _ => "+",
            };
            out.push_str(&format!(" |{chomp}"));
            for line in content.split('\n') {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 4));
                    out.push_str(line);
                }
            }
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other));
        }
    }
}

/// Emit data as JSON (tab-indented like sops).
pub fn to_json(v: &J) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("in-memory JSON");
    let mut s = String::from_utf8(buf).expect("JSON is UTF-8");
    s.push('\n');
    s
}
