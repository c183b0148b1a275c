//! Lossless edits of one value in a plaintext document (`set` / `unset`): only the bytes
//! of that value (or entry) change; re-encryption with the IV stash then keeps every
//! other ciphertext as it was.

use serde_json::Value as J;
use tresor_format::render::{self, Rendered, SlotCtx};
use tresor_format::tree::{Node, ScalarStyle};
use tresor_format::{Format, Value};

use crate::error::SopsError;
use crate::splice::{self, Edit};
use crate::walk::{display_path, Seg};

fn to_value(j: &J) -> Value {
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Str(s.clone()),
        _ => Value::Null,
    }
}

/// Text for a new value: scalars in the slot's style; maps and lists as JSON flow
/// collections, which are valid YAML too.
fn render_value(j: &J, format: Format, style: ScalarStyle, in_flow: bool, indent: usize, nl: &str) -> String {
    match j {
        J::Object(_) | J::Array(_) => serde_json::to_string(j).expect("JSON"),
        _ if format == Format::Json => render::json_value(&to_value(j)),
        _ => {
            let ctx = SlotCtx { style, in_flow, block_indent: indent + 2, newline: nl, can_become_block: false };
            match render::yaml_value(&to_value(j), &ctx) {
                Rendered::Inline(t) => t,
                Rendered::Block { header, body } => format!("{header}{nl}{body}"),
            }
        }
    }
}

fn node_span(node: &Node) -> std::ops::Range<usize> {
    match node {
        Node::Map(m) => m.span.clone(),
        Node::Seq(s) => s.span.clone(),
        Node::Scalar(s) => match &s.header {
            Some(h) => h.start..s.span.end,
            None => s.span.clone(),
        },
        Node::Alias(a) => a.span.clone(),
    }
}

fn line_start(src: &str, at: usize) -> usize {
    src[..at].rfind('\n').map(|i| i + 1).unwrap_or(0)
}

fn line_end_incl(src: &str, at: usize) -> usize {
    src[at..].find('\n').map(|i| at + i + 1).unwrap_or(src.len())
}

/// Set the value at `path` to `value` (JSON). Creates the last key of a mapping, or
/// appends to a list when the index equals its length.
pub fn set(src: &str, format: Format, path: &[Seg], value: &J) -> Result<String, SopsError> {
    set_in(src, format, 0, path, value)
}

/// [`set`] in document `doc` (0-based) of a multi-document file.
pub fn set_in(src: &str, format: Format, doc: usize, path: &[Seg], value: &J) -> Result<String, SopsError> {
    let docs = tresor_format::parse(src, format)?;
    let doc = docs.get(doc).ok_or(SopsError::NoDocument)?;
    let nl = crate::file::newline_of(src);
    let (last, parents) = path.split_last().ok_or_else(|| SopsError::BadPath(String::new()))?;
    let mut node = &doc.root;
    for (i, seg) in parents.iter().enumerate() {
        node = child(node, seg).ok_or_else(|| SopsError::PathNotFound(display_path(&path[..=i])))?;
    }
    if let Some(existing) = child(node, last) {
        let (style, in_flow, indent) = match existing {
            Node::Scalar(s) => (s.style, s.in_flow, s.indent),
            _ => (ScalarStyle::Plain, true, 0),
        };
        let mut text = render_value(value, format, style, in_flow, indent, nl);
        let span = node_span(existing);
        let mut range = span.clone();
        let block_collection =
            matches!(existing, Node::Map(m) if !m.flow) || matches!(existing, Node::Seq(s) if !s.flow);
        if format == Format::Yaml && block_collection {
            // A block collection replaced by a flow value moves onto the key's line.
            if let Some(colon) = src[..span.start].rfind(':') {
                range = colon + 1..span.end;
                text = format!(" {text}");
            }
        }
        return Ok(splice::apply(src, vec![Edit { range, text }]));
    }
    // Insert a new entry.
    match (node, last) {
        (Node::Map(m), Seg::Key(k)) => {
            let key_text = if format == Format::Json || !render::plain_safe(k, m.flow) {
                render::json_string(k)
            } else {
                k.clone()
            };
            let val = render_value(value, format, ScalarStyle::Plain, m.flow || format == Format::Json, m.indent, nl);
            let last_end = m.entries().last().map(|e| tresor_format::yaml::node_end(&e.value));
            let edit = if m.flow || format == Format::Json {
                match last_end {
                    Some(end) => Edit { range: end..end, text: format!(", {key_text}: {val}") },
                    None => Edit { range: m.span.start + 1..m.span.start + 1, text: format!("{key_text}: {val}") },
                }
            } else {
                let end = last_end.unwrap_or(m.span.end);
                let at = line_end_incl(src, end);
                let prefix = if at == src.len() && !src.ends_with('\n') { nl } else { "" };
                Edit { range: at..at, text: format!("{prefix}{}{key_text}: {val}{nl}", " ".repeat(m.indent)) }
            };
            Ok(splice::apply(src, vec![edit]))
        }
        (Node::Seq(s), Seg::Index(i)) if *i == s.values().count() => {
            let val = render_value(value, format, ScalarStyle::Plain, s.flow || format == Format::Json, s.indent, nl);
            let last_end = s.values().last().map(tresor_format::yaml::node_end);
            let edit = if s.flow || format == Format::Json {
                match last_end {
                    Some(end) => Edit { range: end..end, text: format!(", {val}") },
                    None => Edit { range: s.span.start + 1..s.span.start + 1, text: val },
                }
            } else {
                let at = line_end_incl(src, last_end.unwrap_or(s.span.end));
                Edit { range: at..at, text: format!("{}- {val}{nl}", " ".repeat(s.indent)) }
            };
            Ok(splice::apply(src, vec![edit]))
        }
        _ => Err(SopsError::PathNotFound(display_path(path))),
    }
}

/// Remove the entry (or list item) at `path`.
pub fn unset(src: &str, format: Format, path: &[Seg]) -> Result<String, SopsError> {
    unset_in(src, format, 0, path)
}

/// [`unset`] in document `doc` (0-based) of a multi-document file.
pub fn unset_in(src: &str, format: Format, doc: usize, path: &[Seg]) -> Result<String, SopsError> {
    let docs = tresor_format::parse(src, format)?;
    let doc = docs.get(doc).ok_or(SopsError::NoDocument)?;
    let (last, parents) = path.split_last().ok_or_else(|| SopsError::BadPath(String::new()))?;
    let mut node = &doc.root;
    for (i, seg) in parents.iter().enumerate() {
        node = child(node, seg).ok_or_else(|| SopsError::PathNotFound(display_path(&path[..=i])))?;
    }
    let not_found = || SopsError::PathNotFound(display_path(path));
    // (start of the item, end of its value) plus the neighbours for separators.
    let (flow, items): (bool, Vec<(usize, usize)>) = match node {
        Node::Map(m) => {
            (m.flow, m.entries().map(|e| (e.key_span.start, tresor_format::yaml::node_end(&e.value))).collect())
        }
        Node::Seq(s) => {
            (s.flow, s.values().map(|v| (item_start(src, v, s.flow), tresor_format::yaml::node_end(v))).collect())
        }
        _ => return Err(not_found()),
    };
    let idx = match (node, last) {
        (Node::Map(m), Seg::Key(k)) => m.entries().position(|e| &e.key == k).ok_or_else(not_found)?,
        (Node::Seq(_), Seg::Index(i)) if *i < items.len() => *i,
        _ => return Err(not_found()),
    };
    let (start, end) = items[idx];
    let range = if flow || format == Format::Json {
        if idx + 1 < items.len() {
            start..items[idx + 1].0
        } else if idx > 0 {
            items[idx - 1].1..end
        } else {
            start..end
        }
    } else {
        // Block style: the item's whole lines.
        let s = line_start(src, start);
        let e = line_end_incl(src, end.max(start));
        s..e
    };
    Ok(splice::apply(src, vec![Edit { range, text: String::new() }]))
}

/// Where a sequence item's text starts: its `- ` indicator in block style.
fn item_start(src: &str, v: &Node, flow: bool) -> usize {
    let span = node_span(v);
    if flow {
        return span.start;
    }
    src[..span.start].rfind('-').unwrap_or(span.start)
}

fn child<'a>(node: &'a Node, seg: &Seg) -> Option<&'a Node> {
    match (node, seg) {
        (Node::Map(m), Seg::Key(k)) => m.get(k),
        (Node::Seq(s), Seg::Index(i)) => s.values().nth(*i),
        _ => None,
    }
}
