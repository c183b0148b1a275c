use std::fmt;

/// A 1-based line and column in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("malformed YAML at {pos}: {msg}")]
    Yaml { pos: Position, msg: String },
    #[error("malformed JSON at {pos}: {msg}")]
    Json { pos: Position, msg: String },
    #[error("{pos}: {msg}")]
    Unsupported { pos: Position, msg: String },
    #[error("the document is empty")]
    Empty,
    #[error("{pos}: nesting is deeper than {max} levels")]
    TooDeep { pos: Position, max: usize },
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
