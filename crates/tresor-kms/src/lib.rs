//! Clients for the remote key services that wrap a SOPS data key.
//!
//! * [`vault`]: OpenBao / HashiCorp Vault transit (`hc_vault` in sops metadata).
//! * [`okms`]: OVHcloud KMS service keys (`okms`, a tresor extension sops ignores).
//! * [`scaleway`]: Scaleway Key Manager keys (`scw_kms`, a tresor extension sops ignores).
//! * [`stackit`]: STACKIT KMS key versions (`stackit_kms`, a tresor extension sops ignores).
//! * [`huawei`]: Huawei Cloud / Open Telekom Cloud KMS (`hckms`, as sops ≥ 3.12 writes it).
//!
//! All use the blocking [`http`] layer: timeouts, retries with exponential backoff on
//! connection errors, 429 and 5xx, and TLS with custom CAs and client certificates.

#![deny(missing_docs)]

mod answer;
/// Failures of the key-service clients.
pub mod error;
pub mod http;
pub mod huawei;
pub mod okms;
pub mod scaleway;
pub mod stackit;
pub mod vault;

pub use error::KmsError;
