//! The integration suite, one test binary (as ripgrep has) with one module per area. The
//! tests drive the real `tresor` and `tresor-kustomize` binaries and, where a test says
//! so, the real peers (sops, age, gpg, git, kustomize, kpt, helm, pre-commit, buildah,
//! OpenBao) that `scripts/install-peers.sh` installs. Run one area with
//! `cargo test --test suite scan::`.

mod common;
mod hckms_emulator;
mod okms_emulator;
mod scw_emulator;
mod stackit_emulator;

mod audit;
mod cli;
mod commands;
mod comments;
mod corpus;
mod differential;
mod docs;
mod doctor;
mod errors;
mod fleet;
mod git;
mod gitops;
mod hckms;
mod helm_secrets;
mod hostile;
mod image;
mod image_hostile;
mod keyservice;
mod kustomize;
mod okms;
mod pq_age;
mod precommit;
mod roundtrip;
mod scaleway;
mod scan;
mod sops_interop;
mod stackit;
mod tamper;
mod transcripts;
mod vault;
