//! Key services that wrap and unwrap a file's data key.
//!
//! A file's key groups list master keys; with one group any key unwraps the whole data
//! key, with several each group holds a Shamir share and `shamir_threshold` groups are
//! needed. [`Keyring`] turns key *specs* (an age recipient, a transit or OKMS key URI)
//! into metadata entries and back into a [`tresor_sops::DataKey`], batching remote calls
//! per key when many files are processed at once.

pub mod age_key;
pub mod error;
pub mod groups;
pub mod open;
pub mod pgp;

pub use error::KeyError;
pub use groups::{data_key, sops_compatibility, wrap_groups, KeySpec, Keyring};
