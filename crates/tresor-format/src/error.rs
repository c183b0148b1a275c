use std::fmt;

/// A 1-based line and column in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// Why a document cannot be read. Messages name positions, never value text.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not YAML (as the parser reads it).
    #[error("malformed YAML at {pos}: {msg}")]
    Yaml {
        /// Where.
        pos: Position,
        /// What is wrong.
        msg: String,
    },
    /// Not JSON.
    #[error("malformed JSON at {pos}: {msg}")]
    Json {
        /// Where.
        pos: Position,
        /// What is wrong.
        msg: String,
    },
    /// Valid, but something tresor refuses to pass through (a line break readers disagree
    /// on, a tag on an encrypted value, a duplicate key, …).
    #[error("{pos}: {msg}")]
    Unsupported {
        /// Where.
        pos: Position,
        /// What, and why it is refused.
        msg: String,
    },
    /// No document at all.
    #[error("the document is empty")]
    Empty,
    /// Nesting (or alias expansion) past the limit.
    #[error("{pos}: nesting is deeper than {max} levels")]
    TooDeep {
        /// Where.
        pos: Position,
        /// The limit.
        max: usize,
    },
}

impl FormatError {
    /// Position of the problem in the input, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            FormatError::Yaml { pos, .. }
            | FormatError::Json { pos, .. }
            | FormatError::Unsupported { pos, .. }
            | FormatError::TooDeep { pos, .. } => Some(*pos),
            FormatError::Empty => None,
        }
    }
}
