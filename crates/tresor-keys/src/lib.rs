//! Key services that wrap and unwrap a file's data key.
//!
//! A file's key groups list master keys; with one group any key unwraps the whole data
//! key, with several each group holds a Shamir share and `shamir_threshold` groups are
//! needed. Each kind of master key is one [`service::KeyService`] and one row of
//! [`service::SERVICES`]; [`Keyring`] turns key specs into metadata entries and back into a
//! [`tresor_sops::DataKey`], batching remote calls per key when many files are processed.

#![deny(missing_docs)]

pub mod age_key;
pub mod error;
pub mod foreign;
pub mod groups;
pub mod huawei;
pub mod okms;
pub mod open;
pub mod pgp;
pub mod rekey;
pub mod scaleway;
pub mod service;
pub mod stackit;
pub mod transit;

pub use error::KeyError;
pub use groups::{data_key, sops_compatibility, wrap_groups, Keyring};
pub use service::{KeyFailure, KeySpec};
