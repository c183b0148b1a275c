use tresor_format::{FormatError, Position};

use crate::codes;

/// Errors of the SOPS layer. Each maps to the exit code sops uses for the same failure,
/// so scripts written against sops keep working.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The document cannot be parsed (or holds something refused, see [`FormatError`]).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// No `sops` metadata: the file is not encrypted.
    #[error("the file has no sops metadata: it is not encrypted (or not by a SOPS tool)")]
    MetadataNotFound,
    /// The metadata is there but cannot be used (a missing version, a bad threshold, …).
    #[error("invalid sops metadata: {0}")]
    InvalidMetadata(String),
    /// Encrypting a file that already has metadata.
    #[error("the file is already encrypted (it has a top-level `sops` key)")]
    AlreadyEncrypted,
    /// A document whose root is not a mapping (sops cannot hold metadata in it).
    #[error("document {doc}: the top level must be a mapping")]
    NotAMapping {
        /// The document, 1-based.
        doc: usize,
    },
    /// Nothing to encrypt.
    #[error("the input has no document to encrypt")]
    NoDocument,
    /// A value that cannot be encrypted as written (never quoted).
    #[error("{pos}: {msg}")]
    CannotEncrypt {
        /// Where.
        pos: Position,
        /// Why.
        msg: String,
    },
    /// A value that does not decrypt: tampered, moved, or another data key.
    #[error("{pos}: cannot decrypt the value at '{path}': {reason}")]
    CannotDecrypt {
        /// Where.
        pos: Position,
        /// Its key path.
        path: String,
        /// Why (authentication, base64, type).
        reason: String,
    },
    // The digests are not shown: they are hashes of the secrets.
    /// The data does not match the MAC.
    #[error("MAC mismatch: the file was modified outside a SOPS tool or is corrupted")]
    MacMismatch {
        /// The MAC the file holds (hex).
        stored: String,
        /// The MAC of the data read (hex).
        computed: String,
    },
    /// The stored MAC does not decrypt.
    #[error(
        "cannot decrypt the MAC: the file's metadata (lastmodified or mac) was tampered with, or the data key is wrong"
    )]
    MacUndecryptable,
    /// No MAC in the metadata.
    #[error("the file has no MAC")]
    MacNotFound,
    /// Shamir shares that do not combine.
    #[error("{0}")]
    Shamir(String),
    /// An encryption rule (regex or suffix) that cannot be used.
    #[error("invalid encryption rule: {0}")]
    InvalidRule(String),
    /// `--extract` or `set` named a path the document lacks.
    #[error("path {0} not found in the document")]
    PathNotFound(String),
    /// Writing the output failed.
    #[error("writing the output")]
    Write(#[from] std::io::Error),
    /// A self-check of the output failed: nothing was written. Never quotes a value.
    #[error("{} check failed, nothing was written: {what}; please report this with a redacted input", if *.encrypting { "encryption" } else { "decryption" })]
    Verify {
        /// Encrypting (else decrypting).
        encrypting: bool,
        /// What did not hold.
        what: String,
    },
    /// A path expression that does not parse.
    #[error("invalid path expression '{0}': expected e.g. '[\"data\"][\"password\"]' or '[\"list\"][0]'")]
    BadPath(String),
    /// Bytes that are not UTF-8 given to a text store. Never quotes the input.
    #[error(
        "the input is not UTF-8 text, so it cannot be read as {store}; to encrypt any bytes, use --input-type binary"
    )]
    NotText {
        /// The store's name.
        store: &'static str,
    },
    /// A line a line-based store (dotenv, INI) cannot read. Never quotes the line.
    #[error("{store} line {line}: {msg}")]
    Syntax {
        /// The store's name.
        store: &'static str,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
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
