//! Lossless document trees for the SOPS stores.
//!
//! Both parsers (YAML via `granit-parser`, JSON via our own lexer) produce the same
//! [`tree`] model: every scalar and comment remembers the exact byte range it came from,
//! so callers can replace *only* values and leave every other byte as the user wrote it.
//! Scalar typing ([`scalar`]) follows go-yaml v3, because that is what sops uses to decide
//! the `type:` tag and the bytes that go into the MAC.

#![deny(missing_docs)]

/// Parse errors and positions.
pub mod error;
pub mod expand;
pub mod hash;
mod input;
pub mod json;
pub mod printable;
pub mod render;
pub mod scalar;
pub mod tree;
pub mod yaml;

pub use error::{FormatError, Position};
pub use scalar::Value;
pub use tree::{Comment, Document, Map, MapItem, Node, Scalar, ScalarStyle, Seq, SeqItem};

/// The file formats (sops calls them stores) we read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2 as go-yaml v3 reads it.
    Yaml,
    /// JSON (RFC 8259).
    Json,
}

impl Format {
    /// Guess the format from a file name, as sops does (`.json` → JSON, else YAML).
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Some(Format::Json)
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(Format::Yaml)
        } else {
            None
        }
    }

    /// The format a `--input-type` style name means (`yaml`, `yml`, `json`).
    pub fn parse_name(name: &str) -> Option<Format> {
        match name {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

/// Parse a whole file into its documents.
pub fn parse(src: &str, format: Format) -> Result<Vec<Document>, FormatError> {
    match format {
        Format::Yaml => yaml::parse(src),
        Format::Json => json::parse(src).map(|d| vec![d]),
    }
}

/// Maximum nesting depth we accept. Deeper input is almost certainly hostile or broken,
/// and every walker in the workspace recurses, so we refuse it up front.
pub const MAX_DEPTH: usize = 256;

/// Maximum number of nodes an alias expansion may visit (billion-laughs guard).
pub const MAX_ALIAS_EXPANSION: usize = 1_000_000;
