//! Read SOPS metadata *without decrypting* and report, per file, which key services can
//! unwrap the data key, under which jurisdiction each sits, how old the data key is, and
//! whether a policy is met. Evidence for ICT risk registers (DORA) and Schrems II reviews.

#![deny(missing_docs)]

pub mod copies;
pub mod delivery;
pub mod exposure;
pub mod hosting;
pub mod jurisdiction;
pub mod plain;
pub mod policy;
pub mod quantum;
pub mod report;
pub mod target;
pub mod value_age;

pub use jurisdiction::{Jurisdiction, Jurisdictions};
pub use policy::Policy;
pub use report::{audit_file, FileReport, KeyReport, Report};
