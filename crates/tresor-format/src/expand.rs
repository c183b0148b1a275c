//! `--expand-aliases`: replace every YAML alias with a copy of the node its anchor names,
//! as sops does when it reads a file (go-yaml hands it the anchored node, and it writes the
//! copy). tresor refuses an alias to a value it would encrypt, because the alias cannot stay
//! an alias once the value is ciphertext; expanding is the explicit way forward, and it
//! changes the file, so the caller shows what changed.
//!
//! The copy is made in the source text, so everything else keeps its bytes: a single-line
//! scalar or flow collection is copied as written, a multi-line scalar is written as a
//! double-quoted string of the same text, and a block collection is copied line by line,
//! re-indented under the alias' key or `-`.

use crate::error::FormatError;
use crate::render::{double_quoted, plain_safe};
use crate::scalar::{resolve_plain, Value};
use crate::tree::{Alias, MapItem, Node, ScalarStyle, SeqItem};

/// Passes over the text (an alias inside a copied node is expanded on the next pass).
const MAX_PASSES: usize = 64;
/// The expanded text may grow to this many times the input (at least 1 MiB): the same
/// bound against alias bombs as the walker's.
const MAX_GROWTH: usize = 16;

/// One alias replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Line of the alias (1-based) in the text of its pass.
    pub line: usize,
    /// The alias' name, without `*`.
    pub name: String,
    /// Line of the anchored node (1-based) in the same text.
    pub from_line: usize,
    /// Lines the copy takes.
    pub lines: usize,
}

/// The text with no aliases left, and what was replaced, pass by pass.
#[derive(Debug)]
pub struct Expanded {
    /// The text, every alias replaced.
    pub text: String,
    /// What was replaced, in the order of their lines.
    pub expansions: Vec<Expansion>,
}

/// Replace every alias of `src` (YAML) with a copy of its anchored node.
pub fn expand_aliases(src: &str) -> Result<Expanded, FormatError> {
    let limit = src.len().saturating_mul(MAX_GROWTH).max(1 << 20);
    let mut text = src.to_string();
    let mut expansions = Vec::new();
    for _ in 0..MAX_PASSES {
        let docs = crate::yaml::parse(&text)?;
        let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
        for d in &docs {
            let mut aliases = Vec::new();
            collect(&d.root, &mut aliases);
            for a in aliases {
                let target = d
                    .anchors
                    .get(a.anchor)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| FormatError::Yaml { pos: a.pos, msg: format!("unknown anchor '{}'", a.name) })?;
                let (range, copy) = copy_for(&text, a, target)?;
                expansions.push(Expansion {
                    line: a.pos.line,
                    name: a.name.clone(),
                    from_line: target.pos().line,
                    lines: copy.matches('\n').count() + usize::from(!copy.starts_with('\n')),
                });
                edits.push((range, copy));
            }
        }
        if edits.is_empty() {
            return Ok(Expanded { text, expansions });
        }
        // The size first (an alias bomb is refused before it is built), then one pass.
        let grown = edits.iter().fold(text.len(), |n, (r, c)| n.saturating_add(c.len()).saturating_sub(r.len()));
        if grown > limit {
            return Err(FormatError::Unsupported {
                pos: crate::error::Position { line: 1, col: 1 },
                msg: format!(
                    "expanding the aliases would make the file {grown} bytes, over {MAX_GROWTH} times its size; \
                     refusing (an alias bomb?)"
                ),
            });
        }
        edits.sort_by_key(|e| e.0.start);
        let mut out = String::with_capacity(grown);
        let mut at = 0;
        for (range, copy) in &edits {
            out.push_str(&text[at..range.start]);
            out.push_str(copy);
            at = range.end;
        }
        out.push_str(&text[at..]);
        text = out;
        expansions.sort_by_key(|e| e.line);
    }
    Err(FormatError::Unsupported {
        pos: crate::error::Position { line: 1, col: 1 },
        msg: format!("aliases still nest after {MAX_PASSES} expansions; refusing"),
    })
}

fn collect<'a>(n: &'a Node, out: &mut Vec<&'a Alias>) {
    match n {
        Node::Alias(a) => out.push(a),
        Node::Map(m) => {
            for i in &m.items {
                if let MapItem::Entry(e) = i {
                    collect(&e.value, out);
                }
            }
        }
        Node::Seq(s) => {
            for i in &s.items {
                if let SeqItem::Value(v) = i {
                    collect(v, out);
                }
            }
        }
        Node::Scalar(_) => {}
    }
}

/// The range to replace (the alias, with the blanks before it when a block follows) and
/// the copy that goes there.
fn copy_for(src: &str, a: &Alias, target: &Node) -> Result<(std::ops::Range<usize>, String), FormatError> {
    let refuse = |why: &str| FormatError::Unsupported {
        pos: a.pos,
        msg: format!("cannot expand the alias '*{}': {why}", a.name),
    };
    match target {
        Node::Scalar(s) => {
            let written = &src[s.span.clone()];
            let single_line = s.header.is_none() && !written.contains('\n');
            let copy = match s.style {
                // A plain string that would not stay one in a flow collection is quoted;
                // numbers, booleans and nulls are copied as written.
                ScalarStyle::Plain if single_line => match resolve_plain(&s.text) {
                    Ok(Value::Str(_)) if !plain_safe(&s.text, true) => double_quoted(&s.text),
                    _ => written.to_string(),
                },
                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if single_line => written.to_string(),
                _ => double_quoted(&s.text),
            };
            let copy = match &s.tag {
                Some(t) => format!("{t} {copy}"),
                None => copy,
            };
            Ok((a.span.clone(), copy))
        }
        Node::Map(_) | Node::Seq(_) => {
            let (span, flow, indent) = match target {
                Node::Map(m) => (m.span.clone(), m.flow, m.indent),
                Node::Seq(s) => (s.span.clone(), s.flow, s.indent),
                _ => unreachable!(),
            };
            let written = src[span.clone()].trim_end();
            if flow && !written.contains('\n') {
                return Ok((a.span.clone(), written.to_string()));
            }
            if flow {
                return Err(refuse("its anchor names a flow collection written over several lines"));
            }
            // Where the copy's lines start: two columns right of the key or `-` that owns
            // the alias.
            let line_start = src[..a.span.start].rfind('\n').map_or(0, |i| i + 1);
            let before = src[line_start..a.span.start].trim_end();
            // The column of the innermost key: past the indentation and any `- ` indicators.
            let key_col = before.len() - before.trim_start_matches([' ', '-']).len();
            let owner = if before.ends_with(':') {
                key_col
            } else if before.ends_with('-') {
                before.len() - 1
            } else {
                return Err(refuse("a block collection can only be copied after a key or `-`"));
            };
            if before[key_col..].contains(['[', '{']) {
                return Err(refuse("a block collection cannot be copied into a flow collection"));
            }
            // A block sequence's span starts at its first item's content; its `-` is earlier.
            let first_line_start = src[..span.start].rfind('\n').map_or(0, |i| i + 1);
            let body = &src[first_line_start..span.start + written.len()];
            let base = match target {
                Node::Seq(_) => body.len() - body.trim_start().len(),
                _ => indent,
            };
            let new_indent = owner + 2;
            let mut copy = String::new();
            for line in body.lines() {
                copy.push('\n');
                let lead = line.len() - line.trim_start().len();
                let t = line.trim_start();
                if t.is_empty() {
                    continue;
                }
                if lead < base && !t.starts_with('#') {
                    return Err(refuse("its anchored collection has lines left of its own column"));
                }
                copy.push_str(&" ".repeat(new_indent + lead.saturating_sub(base)));
                copy.push_str(t);
            }
            // The blanks between the key and the alias go too.
            let mut start = a.span.start;
            while start > line_start && src.as_bytes()[start - 1] == b' ' {
                start -= 1;
            }
            Ok((start..a.span.end, copy))
        }
        Node::Alias(_) => Err(refuse("its anchor names another alias")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(s: &str) -> String {
        expand_aliases(s).unwrap().text
    }

    #[test]
    fn scalars_are_copied_as_written() {
        assert_eq!(expand("a: &p http\nb:\n  port: *p\n"), "a: &p http\nb:\n  port: http\n");
        assert_eq!(expand("a: &n 8080\nb: [*n, 'x']\n"), "a: &n 8080\nb: [8080, 'x']\n");
        assert_eq!(expand("a: &s 'q, r'\nb: *s\n"), "a: &s 'q, r'\nb: 'q, r'\n");
        assert_eq!(expand("a: &s x, y\nb: [*s]\n"), "a: &s x, y\nb: [\"x, y\"]\n");
        assert_eq!(expand("a: &s |\n  l1\n  l2\nb: *s\n"), "a: &s |\n  l1\n  l2\nb: \"l1\\nl2\\n\"\n");
    }

    #[test]
    fn block_collections_are_reindented_under_their_key_or_dash() {
        let src = "image: &image\n  registry: docker.io\n  tag: 1\nsvc:\n  image: *image\nlist:\n  - *image\n  - name: x\n    image: *image\n";
        assert_eq!(
            expand(src),
            "image: &image\n  registry: docker.io\n  tag: 1\nsvc:\n  image:\n    registry: docker.io\n    tag: 1\nlist:\n  -\n    registry: docker.io\n    tag: 1\n  - name: x\n    image:\n      registry: docker.io\n      tag: 1\n"
        );
        let seq = "l: &l\n- a\n- b\nm:\n  k: *l\n";
        assert_eq!(expand(seq), "l: &l\n- a\n- b\nm:\n  k:\n    - a\n    - b\n");
        assert_eq!(expand("base: &b {x: 1}\nd:\n  <<: *b\n"), "base: &b {x: 1}\nd:\n  <<: {x: 1}\n");
    }

    #[test]
    fn nested_aliases_expand_and_bombs_are_refused() {
        assert_eq!(expand("a: &a x\nb: &b [*a, *a]\nc: *b\n"), "a: &a x\nb: &b [x, x]\nc: [x, x]\n");
        let mut bomb = String::from("a: &a [\"lol\"]\n");
        for i in 0..30 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(expand_aliases(&bomb).is_err());
    }
}
