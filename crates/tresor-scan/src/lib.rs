//! Secret leak detection for Git repositories, staged changes, Helm values and
//! Dockerfiles.
//!
//! The engine follows gitleaks' design (and reads its TOML rules): an aho-corasick
//! keyword prefilter decides which rules run on a fragment; rules are ASCII regexes with
//! an optional secret group, a Shannon-entropy floor and allowlists. Analyzers add
//! structure-aware checks that regexes cannot make (Helm values, Dockerfile instructions,
//! files that `.sops.yaml` says must be encrypted).

#![deny(missing_docs)]

pub mod analyzers;
pub mod engine;
/// What a scan reports.
pub mod finding;
pub mod fleet;
pub mod git;
pub mod image;
pub mod mask;
pub mod pack;
pub mod report;
pub mod rules;
pub mod sources;
pub mod suppress;
pub mod vendored;

pub use engine::Engine;
pub use finding::Finding;
pub use rules::{RuleSet, RulesError};
