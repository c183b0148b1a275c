//! The SOPS file format, implemented to be read and written interchangeably with `sops`.
//!
//! * [`cipher`]: AES-256-GCM with 32-byte IVs and the `ENC[...]` envelope.
//! * [`walk`]: sops' traversal order, AAD paths and encryption rules.
//! * [`file`]: encrypting and decrypting whole files by splicing values in place.
//! * [`metadata`]: the `sops:` block; [`shamir`]: key-group secret sharing.

#![deny(missing_docs)]

pub mod cipher;
pub mod codes;
pub mod convert;
pub mod edit;
/// The errors of the SOPS layer.
pub mod error;
pub mod file;
pub mod layout;
pub mod mac;
pub mod merge;
pub mod metadata;
pub mod rules;
pub mod shamir;
pub mod splice;
pub mod store;
pub mod summary;
pub mod verify;
pub mod walk;

pub use cipher::DataKey;
pub use error::SopsError;
pub use file::{encrypt, encrypt_to, DecryptOptions, Decrypted, EncryptOptions, EncryptedFile, IvStash};
pub use metadata::{KeyGroup, MasterKey, Metadata};
pub use rules::Rule;
pub use verify::{Expected, Verification};
