//! The document model shared by the YAML and JSON parsers.
//!
//! Comments are items of the map or sequence that contains them (as in sops' tree), so a
//! walker sees them in document order with the right enclosing path for their AAD.

use std::ops::Range;

use crate::error::Position;

#[derive(Clone, Debug)]
pub struct Document {
    pub root: Node,
    /// Anchored nodes of this document, indexed by the parser's anchor id.
    pub anchors: Vec<Option<Node>>,
    /// Byte offset where a metadata block can be appended to this document.
    pub append_at: usize,
}

#[derive(Clone, Debug)]
pub enum Node {
    Map(Map),
    Seq(Seq),
    Scalar(Scalar),
    Alias(Alias),
}

#[derive(Clone, Debug)]
pub struct Map {
    pub items: Vec<MapItem>,
    pub flow: bool,
    /// Column of the mapping's keys (block style).
    pub indent: usize,
    pub pos: Position,
    /// Byte range of the whole mapping (for flow/JSON, including the braces).
    pub span: Range<usize>,
}

#[derive(Clone, Debug)]
pub enum MapItem {
    Entry(Entry),
    Comment(Comment),
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub key: String,
    /// False when a YAML key resolves to something other than a string (`1:`, `true:`).
    pub key_is_string: bool,
    pub key_span: Range<usize>,
    pub key_pos: Position,
    pub value: Node,
}

#[derive(Clone, Debug)]
pub struct Seq {
    pub items: Vec<SeqItem>,
    pub flow: bool,
    pub indent: usize,
    pub pos: Position,
    pub span: Range<usize>,
}

#[derive(Clone, Debug)]
pub enum SeqItem {
    Value(Node),
    Comment(Comment),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
    /// JSON string literal.
    JsonString,
    /// Any other JSON token: number, true, false, null.
    JsonBare,
}

#[derive(Clone, Debug)]
pub struct Scalar {
    /// The scalar's content after escape processing.
    pub text: String,
    pub style: ScalarStyle,
    /// Explicit tag as written (e.g. `!!str`), if any.
    pub tag: Option<String>,
    /// Bytes to replace when the value changes. For block scalars this is the body
    /// (the lines after the header line, without the final line break).
    pub span: Range<usize>,
    /// For block scalars: the `|`/`>` indicator with its chomping/indent characters.
    pub header: Option<Range<usize>>,
    /// Column of the content of a block scalar, or of the key/dash that owns the value.
    pub indent: usize,
    /// True inside a flow collection (`[...]`, `{...}`), where `,[]{}` need quoting.
    pub in_flow: bool,
    pub pos: Position,
}

#[derive(Clone, Debug)]
pub struct Alias {
    pub anchor: usize,
    pub name: String,
    pub span: Range<usize>,
    pub pos: Position,
}

#[derive(Clone, Debug)]
pub struct Comment {
    /// Text after the `#`, as sops stores it (leading space included).
    pub text: String,
    /// Range of the whole comment including `#`.
    pub span: Range<usize>,
    pub pos: Position,
}

impl Node {
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn pos(&self) -> Position {
        match self {
            Node::Map(m) => m.pos,
            Node::Seq(s) => s.pos,
            Node::Scalar(s) => s.pos,
            Node::Alias(a) => a.pos,
        }
    }
}

impl Map {
    /// Entries only, without comments.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|i| match i {
            MapItem::Entry(e) => Some(e),
            MapItem::Comment(_) => None,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().find(|e| e.key == key).map(|e| &e.value)
    }
}

impl Seq {
    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.items.iter().filter_map(|i| match i {
            SeqItem::Value(v) => Some(v),
            SeqItem::Comment(_) => None,
        })
    }
}
