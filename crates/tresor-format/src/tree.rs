//! The document model shared by the YAML and JSON parsers.
//!
//! Comments are items of the map or sequence that contains them (as in sops' tree), so a
//! walker sees them in document order with the right enclosing path for their AAD.

use std::ops::Range;

use crate::error::Position;

/// One document of a file.
#[derive(Clone, Debug)]
pub struct Document {
    /// Its root node.
    pub root: Node,
    /// Anchored nodes of this document, indexed by the parser's anchor id.
    pub anchors: Vec<Option<Node>>,
    /// Byte offset where a metadata block can be appended to this document.
    pub append_at: usize,
}

/// A node of the lossless tree.
#[derive(Clone, Debug)]
pub enum Node {
    /// A mapping.
    Map(Map),
    /// A sequence.
    Seq(Seq),
    /// A scalar.
    Scalar(Scalar),
    /// An alias to an anchored node.
    Alias(Alias),
}

/// A mapping, with its comments in place.
#[derive(Clone, Debug)]
pub struct Map {
    /// Entries and comments, in file order.
    pub items: Vec<MapItem>,
    /// Written in flow style (`{a: 1}`).
    pub flow: bool,
    /// Column of the mapping's keys (block style).
    pub indent: usize,
    /// Where it starts.
    pub pos: Position,
    /// Byte range of the whole mapping (for flow/JSON, including the braces).
    pub span: Range<usize>,
}

/// One item of a mapping.
#[derive(Clone, Debug)]
pub enum MapItem {
    /// A key and its value.
    Entry(Entry),
    /// A comment between entries.
    Comment(Comment),
}

/// A key and its value.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// False when a YAML key resolves to something other than a string (`1:`, `true:`).
    pub key_is_string: bool,
    /// The key's bytes in the input.
    pub key_span: Range<usize>,
    /// Where the key starts.
    pub key_pos: Position,
    /// The value.
    pub value: Node,
}

/// A sequence, with its comments in place.
#[derive(Clone, Debug)]
pub struct Seq {
    /// Values and comments, in file order.
    pub items: Vec<SeqItem>,
    /// Written in flow style (`[1, 2]`).
    pub flow: bool,
    /// Column of its dashes.
    pub indent: usize,
    /// Where it starts.
    pub pos: Position,
    /// Its bytes in the input.
    pub span: Range<usize>,
}

/// One item of a sequence.
#[derive(Clone, Debug)]
pub enum SeqItem {
    /// A value.
    Value(Node),
    /// A comment between values.
    Comment(Comment),
}

/// How a scalar is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Plain (`a`), also JSON numbers and literals.
    Plain,
    /// `'a'`.
    SingleQuoted,
    /// `"a"`, also JSON strings.
    DoubleQuoted,
    /// `|` block.
    Literal,
    /// `>` block.
    Folded,
    /// JSON string literal.
    JsonString,
    /// Any other JSON token: number, true, false, null.
    JsonBare,
}

/// A scalar and where it sits.
#[derive(Clone, Debug)]
pub struct Scalar {
    /// The scalar's content after escape processing.
    pub text: String,
    /// How it is written.
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
    /// Where it starts.
    pub pos: Position,
}

/// An alias (`*name`).
#[derive(Clone, Debug)]
pub struct Alias {
    /// Index of its anchor in the document's anchors.
    pub anchor: usize,
    /// The anchor's name.
    pub name: String,
    /// Its bytes in the input.
    pub span: Range<usize>,
    /// Where it starts.
    pub pos: Position,
}

/// A comment and where it sits.
#[derive(Clone, Debug)]
pub struct Comment {
    /// Text after the `#`, as sops stores it (leading space included).
    pub text: String,
    /// Range of the whole comment including `#`.
    pub span: Range<usize>,
    /// Where it starts.
    pub pos: Position,
}

impl Node {
    /// The mapping, if it is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The scalar, if it is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// Where it starts.
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

    /// The value of the first entry with this key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().find(|e| e.key == key).map(|e| &e.value)
    }
}

impl Seq {
    /// The values, without comments.
    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.items.iter().filter_map(|i| match i {
            SeqItem::Value(v) => Some(v),
            SeqItem::Comment(_) => None,
        })
    }
}
