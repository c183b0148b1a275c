//! One walk over a document in sops' order, deciding for every leaf and comment whether
//! it is encrypted and under which AAD path. Encryption, decryption and the MAC all use
//! it, so they cannot disagree about order or paths.

use tresor_format::tree::{Alias, Comment, Document, MapItem, Node, Scalar, SeqItem};
use tresor_format::MAX_ALIAS_EXPANSION;

use crate::error::SopsError;
use crate::rules::Rule;

/// A step in a value's path, for messages and `--extract`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// `path` in sops' notation (`["a"]["b"][0]`).
pub fn display_path(path: &[Seg]) -> String {
    let steps: Vec<Step> = path
        .iter()
        .map(|s| match s {
            Seg::Key(k) => Step::Key(k),
            Seg::Index(i) => Step::Index(*i),
        })
        .collect();
    display_steps(&steps)
}

/// A step of the walker's current path, borrowed from the document tree.
#[derive(Clone, Copy, Debug)]
pub enum Step<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// `path` in sops' notation (`["a"]["b"][0]`).
pub fn display_steps(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        push_step(&mut s, *step);
    }
    s
}

/// One step appended to a path in sops' notation (`["key"]` or `[3]`).
pub fn push_step(path: &mut String, step: Step) {
    match step {
        Step::Key(k) => path.push_str(&format!("[{}]", serde_json::to_string(k).unwrap_or_default())),
        Step::Index(i) => path.push_str(&format!("[{i}]")),
    }
}

/// Where the walker is when it calls the visitor.
pub struct At<'a> {
    /// sops' AAD: map keys joined by `:` with a trailing `:` (list indices left out).
    pub aad: &'a str,
    /// Is the value encrypted under the file's rule?
    pub encrypt: bool,
    /// The key path to it.
    pub path: &'a [Step<'a>],
    /// Inside an alias expansion: the bytes belong to the anchor, not to this place.
    pub in_alias: bool,
}

/// What the walk calls for each value and comment, in sops' order.
pub trait Visitor {
    /// A scalar value.
    fn value(&mut self, s: &Scalar, at: &At) -> Result<(), SopsError>;
    /// A comment.
    fn comment(&mut self, c: &Comment, at: &At) -> Result<(), SopsError>;
    /// Called before an alias' target is walked (with `in_alias` set).
    fn alias(&mut self, _a: &Alias, _at: &At) -> Result<(), SopsError> {
        Ok(())
    }
    /// Whether a list item holding an encrypted comment (`- ENC[…,type:comment]`, how sops
    /// writes a comment inside a list) is a comment to this visitor rather than a value.
    /// Visitors of encrypted files that produce plaintext say yes: in the plaintext the
    /// item is a comment line and does not count as a list index.
    fn item_comments(&self) -> bool {
        false
    }
    /// Such a list item, when [`Visitor::item_comments`] says yes. `opens_empty`: it is the
    /// first of them in a list that holds nothing else — sops' reading of `key: [] # c` —
    /// so the plaintext must say `[]` there or the list would read as null.
    fn item_comment(&mut self, s: &Scalar, at: &At, opens_empty: bool) -> Result<(), SopsError> {
        let _ = opens_empty;
        self.comment(&Comment { text: s.text.clone(), span: s.span.clone(), pos: s.pos }, at)
    }
}

/// Is `s` an encrypted comment stored as a list item?
fn is_item_comment(s: &Scalar) -> bool {
    s.style == tresor_format::ScalarStyle::Plain
        && s.tag.is_none()
        && crate::cipher::parse_enc(&s.text).is_some_and(|e| e.type_name == "comment")
}

struct Walker<'a, V> {
    anchors: &'a [Option<Node>],
    rule: &'a Rule,
    v: &'a mut V,
    aad: String,
    path: Vec<Step<'a>>,
    expanded: usize,
}

/// Walk a document's root mapping, skipping the top-level `sops` entry.
pub fn walk<V: Visitor>(doc: &Document, rule: &Rule, v: &mut V) -> Result<(), SopsError> {
    let mut w = Walker { anchors: &doc.anchors, rule, v, aad: String::new(), path: Vec::new(), expanded: 0 };
    w.node(&doc.root, false, false, false, true)
}

/// The same walk, fed one root-mapping item at a time (from a streaming parse), in
/// document order. Carries what the walk remembers between items.
#[derive(Default)]
pub struct RootWalk {
    /// A marker comment (`encrypted_comment_regex`) was the previous item.
    pending: bool,
    expanded: usize,
}

impl RootWalk {
    /// Walk one root item (entry or comment) of a streamed document.
    pub fn item<'a, V: Visitor>(
        &mut self,
        item: &'a MapItem,
        anchors: &'a [Option<Node>],
        rule: &Rule,
        v: &mut V,
    ) -> Result<(), SopsError> {
        let mut w = Walker { anchors, rule, v, aad: String::new(), path: Vec::new(), expanded: self.expanded };
        let r = w.map_item(item, false, false, &mut self.pending, false, true);
        self.expanded = w.expanded;
        r
    }
}

impl<'a, V: Visitor> Walker<'a, V> {
    fn node(
        &mut self,
        node: &'a Node,
        key_matched: bool,
        marked: bool,
        in_alias: bool,
        top: bool,
    ) -> Result<(), SopsError> {
        // Aliases can stack nodes deeper than the parser's own limit (each alias brings
        // its anchor's depth along): bound the recursion here too.
        if self.path.len() > tresor_format::MAX_DEPTH {
            return Err(SopsError::Format(tresor_format::FormatError::TooDeep {
                pos: node.pos(),
                max: tresor_format::MAX_DEPTH,
            }));
        }
        if in_alias {
            self.expanded += 1;
            if self.expanded > MAX_ALIAS_EXPANSION {
                return Err(SopsError::CannotEncrypt {
                    pos: node.pos(),
                    msg: "aliases expand to more than a million nodes; refusing (billion laughs?)".into(),
                });
            }
        }
        match node {
            Node::Scalar(s) => {
                let enc = self.rule.encrypts(key_matched, marked);
                let at = At { aad: &self.aad, encrypt: enc, path: &self.path, in_alias };
                self.v.value(s, &at)
            }
            Node::Alias(a) => {
                let enc = self.rule.encrypts(key_matched, marked);
                self.v.alias(a, &At { aad: &self.aad, encrypt: enc, path: &self.path, in_alias })?;
                let target = self.anchors.get(a.anchor).and_then(|n| n.as_ref()).ok_or_else(|| {
                    SopsError::Format(tresor_format::FormatError::Yaml {
                        pos: a.pos,
                        msg: format!("unknown anchor '{}'", a.name),
                    })
                })?;
                self.node(target, key_matched, marked, true, false)
            }
            Node::Map(m) => {
                let mut pending = false;
                for item in &m.items {
                    self.map_item(item, key_matched, marked, &mut pending, in_alias, top)?;
                }
                Ok(())
            }
            Node::Seq(s) => {
                let mut pending = false;
                let mut index = 0;
                let item_comments = self.v.item_comments();
                let is_stored_comment =
                    |i: &SeqItem| matches!(i, SeqItem::Value(Node::Scalar(sc)) if is_item_comment(sc));
                let mut opens_empty = item_comments
                    && !s.flow
                    && s.items.iter().any(is_stored_comment)
                    && s.items.iter().all(|i| matches!(i, SeqItem::Comment(_)) || is_stored_comment(i));
                for item in &s.items {
                    match item {
                        SeqItem::Comment(c) => self.comment(c, key_matched, marked, &mut pending, in_alias)?,
                        SeqItem::Value(Node::Scalar(sc)) if item_comments && !s.flow && is_item_comment(sc) => {
                            let encrypt = self.comment_encrypted(&sc.text, key_matched, marked, &mut pending);
                            let aad = comment_aad(&self.aad);
                            self.v.item_comment(sc, &At { aad, encrypt, path: &self.path, in_alias }, opens_empty)?;
                            opens_empty = false;
                        }
                        SeqItem::Value(v) => {
                            let mk = marked || pending;
                            pending = false;
                            self.path.push(Step::Index(index));
                            let r = self.node(v, key_matched, mk, in_alias, false);
                            self.path.pop();
                            index += 1;
                            r?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn map_item(
        &mut self,
        item: &'a MapItem,
        key_matched: bool,
        marked: bool,
        pending: &mut bool,
        in_alias: bool,
        top: bool,
    ) -> Result<(), SopsError> {
        match item {
            MapItem::Comment(c) => self.comment(c, key_matched, marked, pending, in_alias),
            MapItem::Entry(e) => {
                if top && e.key == "sops" {
                    return Ok(());
                }
                if !e.key_is_string {
                    return Err(SopsError::CannotEncrypt {
                        pos: e.key_pos,
                        msg: format!("key '{}' is not a string; sops only supports string keys (quote it)", e.key),
                    });
                }
                let km = key_matched || self.rule.key_matches(&e.key);
                let mk = marked || *pending;
                *pending = false;
                let len = self.aad.len();
                self.aad.push_str(&e.key);
                self.aad.push(':');
                self.path.push(Step::Key(&e.key));
                let r = self.node(&e.value, km, mk, in_alias, false);
                self.path.pop();
                self.aad.truncate(len);
                r
            }
        }
    }

    fn comment(
        &mut self,
        c: &Comment,
        key_matched: bool,
        marked: bool,
        pending: &mut bool,
        in_alias: bool,
    ) -> Result<(), SopsError> {
        let encrypt = self.comment_encrypted(&c.text, key_matched, marked, pending);
        self.v.comment(c, &At { aad: comment_aad(&self.aad), encrypt, path: &self.path, in_alias })
    }

    /// Whether the rules encrypt a comment with this text; a marker comment
    /// (`*_comment_regex`) stays readable and marks what follows it.
    fn comment_encrypted(&self, text: &str, key_matched: bool, marked: bool, pending: &mut bool) -> bool {
        if self.rule.comment_regex().is_some_and(|r| r.is_match(text)) {
            // A marker comment stays readable so the rule still finds it next time.
            *pending = true;
            false
        } else {
            self.rule.encrypts(key_matched, marked)
        }
    }
}

/// A comment's AAD: its collection's path. sops joins the (empty) path and appends ':', so
/// top-level comments use ":".
fn comment_aad(path: &str) -> &str {
    if path.is_empty() {
        ":"
    } else {
        path
    }
}
