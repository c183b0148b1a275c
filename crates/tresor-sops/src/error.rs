use tresor_format::{FormatError, Position};

use crate::codes;

/// Errors of the SOPS layer. Each maps to the exit code sops uses for the same failure,
/// so scripts written against sops keep working.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the file has no sops metadata: it is not encrypted (or not by a SOPS tool)")]
    MetadataNotFound,
    #[error("invalid sops metadata: {0}")]
    InvalidMetadata(String),
    #[error("the file is already encrypted (it has a top-level `sops` key)")]
    AlreadyEncrypted,
    #[error("document {doc}: the top level must be a mapping")]
    NotAMapping { doc: usize },
    #[error("the input has no document to encrypt")]
    NoDocument,
    #[error("{pos}: {msg}")]
    CannotEncrypt { pos: Position, msg: String },
    #[error("{pos}: cannot decrypt the value at '{path}': {reason}")]
    CannotDecrypt { pos: Position, path: String, reason: String },
    // The digests are not shown: they are hashes of the secrets.
    #[error("MAC mismatch: the file was modified outside a SOPS tool or is corrupted")]
    MacMismatch { stored: String, computed: String },
    #[error(
        "cannot decrypt the MAC: the file's metadata (lastmodified or mac) was tampered with, or the data key is wrong"
    )]
    MacUndecryptable,
    #[error("the file has no MAC")]
    MacNotFound,
    #[error("{0}")]
    Shamir(String),
    #[error("invalid encryption rule: {0}")]
    InvalidRule(String),
    #[error("path {0} not found in the document")]
    PathNotFound(String),
    #[error("writing the output")]
    Write(#[from] std::io::Error),
    /// A self-check of the output failed: nothing was written. Never quotes a value.
    #[error("{} check failed, nothing was written: {what}; please report this with a redacted input", if *.encrypting { "encryption" } else { "decryption" })]
    Verify { encrypting: bool, what: String },
    #[error("invalid path expression '{0}': expected e.g. '[\"data\"][\"password\"]' or '[\"list\"][0]'")]
    BadPath(String),
    /// Bytes that are not UTF-8 given to a text store. Never quotes the input.
    #[error(
        "the input is not UTF-8 text, so it cannot be read as {store}; to encrypt any bytes, use --input-type binary"
    )]
    NotText { store: &'static str },
    /// A line a line-based store (dotenv, INI) cannot read. Never quotes the line.
    #[error("{store} line {line}: {msg}")]
    Syntax { store: &'static str, line: usize, msg: String },
    /// An operation a store cannot do (nested data in dotenv, an edit of a binary file...).
    #[error("{0}")]
    Unsupported(String),
}

impl SopsError {
    /// The sops exit code for this error (see docs/exit-codes.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            SopsError::Format(FormatError::Empty) | SopsError::NoDocument => codes::NEED_AT_LEAST_ONE_DOCUMENT,
            SopsError::Format(_) | SopsError::NotAMapping { .. } => codes::COULD_NOT_READ_INPUT_FILE,
            SopsError::MetadataNotFound
            | SopsError::InvalidMetadata(_)
            | SopsError::PathNotFound(_)
            | SopsError::Write(_) => codes::ERROR_GENERIC,
            SopsError::AlreadyEncrypted => codes::FILE_ALREADY_ENCRYPTED,
            SopsError::CannotEncrypt { .. } | SopsError::Verify { encrypting: true, .. } => {
                codes::ERROR_ENCRYPTING_TREE
            }
            SopsError::Verify { encrypting: false, .. } => codes::ERROR_DECRYPTING_TREE,
            SopsError::CannotDecrypt { .. } => codes::ERROR_DECRYPTING_TREE,
            SopsError::MacMismatch { .. } | SopsError::MacUndecryptable => codes::MAC_MISMATCH,
            SopsError::MacNotFound => codes::MAC_NOT_FOUND,
            SopsError::Shamir(_) => codes::COULD_NOT_RETRIEVE_KEY,
            SopsError::InvalidRule(_) => codes::ERROR_READING_CONFIG,
            SopsError::BadPath(_) => codes::INVALID_TREE_PATH_FORMAT,
            SopsError::NotText { .. } | SopsError::Syntax { .. } => codes::COULD_NOT_READ_INPUT_FILE,
            SopsError::Unsupported(_) => codes::ERROR_GENERIC,
        }
    }
}
