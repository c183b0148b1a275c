//! Wrapping a data key for key groups, and getting it back, through the key services of
//! [`crate::service::SERVICES`].

use std::collections::BTreeMap;

use tresor_sops::metadata::{KeyGroup, MasterKey, Metadata};
use tresor_sops::{shamir, DataKey};
use zeroize::Zeroizing;

use crate::error::{Attempt, Attempts, KeyError};
use crate::service::{by_kind, describe_key, KeyFailure, KeyService, KeySpec, ServiceRow, SERVICES};

/// Can sops (and Flux) decrypt a file with these groups? sops ignores the kinds it has no
/// key source for (`okms`), so a group made only of them is empty to sops. Returns a
/// warning when it cannot.
pub fn sops_compatibility(groups: &[Vec<KeySpec>], threshold: usize) -> Option<String> {
    let usable = |g: &Vec<KeySpec>| g.iter().any(|k| k.row().sops_reads);
    let needed = if groups.len() > 1 {
        if threshold == 0 {
            groups.len()
        } else {
            threshold
        }
    } else {
        1
    };
    let usable_groups = groups.iter().filter(|g| usable(g)).count();
    if usable_groups < needed {
        let ignored: Vec<&str> = SERVICES.iter().filter(|r| !r.sops_reads).map(|r| r.kind).collect();
        Some(format!(
            "sops and Flux cannot decrypt this file: they ignore {} keys, leaving {usable_groups} usable key group(s) of the {needed} needed. \
             Add an age or hc_vault key to the other group(s) if sops/Flux must read it.",
            ignored.join("/")
        ))
    } else {
        None
    }
}

/// One master key of a file, tried on its own.
#[derive(Debug)]
pub struct KeyCheck {
    /// The key group (1-based).
    pub group: usize,
    /// `age`, `hc_vault`, `okms`, `pgp`, `kms`, …
    pub kind: String,
    /// Recipient, key URI or key id.
    pub id: String,
    /// `Ok` when this key unwraps its share here; otherwise why not.
    pub result: Result<(), KeyFailure>,
}

/// The key services of one run (clients and identities created on first use).
pub struct Keyring {
    services: Vec<(&'static ServiceRow, Box<dyn KeyService>)>,
}

impl Default for Keyring {
    fn default() -> Keyring {
        Keyring { services: SERVICES.iter().map(|r| (r, r.service())).collect() }
    }
}

impl Keyring {
    /// A keyring with every service of the table.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    fn service(&self, kind: &str) -> Option<&dyn KeyService> {
        self.services.iter().find(|(r, _)| r.kind == kind).map(|(_, s)| s.as_ref())
    }

    fn is_local(key: &MasterKey) -> bool {
        by_kind(key.kind()).is_some_and(|r| r.local)
    }

    /// Wrap the payloads (one per file) for one key, batching remote calls.
    fn wrap_payloads(&self, spec: &KeySpec, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        let service = self.service(spec.kind()).ok_or_else(|| KeyError::UnknownKind(spec.kind().into()))?;
        service.wrap(spec.id(), payloads)
    }

    /// Wrap one data key per file for the same groups. Remote keys get one batched call
    /// per key for all files (OpenBao `batch_input`).
    pub fn wrap_many(
        &self,
        groups: &[Vec<KeySpec>],
        threshold: usize,
        keys: &[&DataKey],
    ) -> Result<Vec<Vec<KeyGroup>>, KeyError> {
        if groups.is_empty() || groups.iter().all(|g| g.is_empty()) {
            return Err(KeyError::NoKeys);
        }
        // payloads[file][group]
        let payloads: Vec<Vec<Zeroizing<Vec<u8>>>> = if groups.len() == 1 {
            keys.iter().map(|k| vec![Zeroizing::new(k.as_bytes().to_vec())]).collect()
        } else {
            let t = if threshold == 0 { groups.len() } else { threshold };
            keys.iter()
                .map(|k| {
                    shamir::split(k.as_bytes(), groups.len(), t)
                        .map_err(|_| KeyError::BadThreshold { threshold: t, groups: groups.len() })
                })
                .collect::<Result<_, _>>()?
        };
        let mut out: Vec<Vec<KeyGroup>> = vec![vec![KeyGroup::default(); groups.len()]; keys.len()];
        for (gi, group) in groups.iter().enumerate() {
            for spec in group {
                let ps: Vec<&[u8]> = payloads.iter().map(|p| p[gi].as_slice()).collect();
                let wrapped = self.wrap_payloads(spec, &ps).map_err(|e| KeyError::wrap(spec.describe(), e))?;
                for (fi, mk) in wrapped.into_iter().enumerate() {
                    out[fi][gi].keys.push(mk);
                }
            }
        }
        Ok(out)
    }

    /// Wrap one data key for the groups (the whole key for one group, Shamir shares for
    /// several).
    pub fn wrap_groups(
        &self,
        groups: &[Vec<KeySpec>],
        threshold: usize,
        key: &DataKey,
    ) -> Result<Vec<KeyGroup>, KeyError> {
        Ok(self.wrap_many(groups, threshold, &[key])?.pop().expect("one file"))
    }

    fn unwrap_one(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        match self.service(key.kind()) {
            Some(s) => s.unwrap(key),
            None => {
                Err(KeyFailure::Unsupported { kind: key.kind().to_string(), served: crate::service::served_kinds() })
            }
        }
    }

    /// Try every master key of a file on its own (not stopping at the first that opens),
    /// for `tresor doctor`: which key opens it here, and why each other one does not.
    pub fn check_keys(&self, meta: &Metadata) -> Vec<KeyCheck> {
        let mut out = Vec::new();
        for (gi, group) in meta.key_groups.iter().enumerate() {
            for key in &group.keys {
                out.push(KeyCheck {
                    group: gi + 1,
                    kind: key.kind().to_string(),
                    id: describe_key(key),
                    result: self.unwrap_one(key).map(|_| ()),
                });
            }
        }
        out
    }

    /// Where age identities were looked for, in sops' order (what `doctor` reports).
    pub fn identity_sources(&self) -> Result<(Vec<String>, usize), String> {
        self.services.iter().find_map(|(_, s)| s.local_sources()).unwrap_or_else(|| Ok((Vec::new(), 0)))
    }

    /// Recover the data key, trying keys in sops' order (age first, then the rest in
    /// file order) and stopping as soon as enough groups have given their share.
    pub fn data_key(&self, meta: &Metadata) -> Result<DataKey, KeyError> {
        self.data_key_inner(meta, &BTreeMap::new(), true)
    }

    /// Like [`Keyring::data_key`], with payloads already unwrapped in a batch (keyed by
    /// the master key's `enc`). `remote: false` tries only local keys.
    fn data_key_inner(
        &self,
        meta: &Metadata,
        prefetched: &BTreeMap<String, Zeroizing<Vec<u8>>>,
        remote: bool,
    ) -> Result<DataKey, KeyError> {
        let needed = meta.groups_needed();
        let mut failures = Vec::new();
        let mut payloads: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for (gi, group) in meta.key_groups.iter().enumerate() {
            let mut ordered: Vec<&MasterKey> = group.keys.iter().filter(|k| Self::is_local(k)).collect();
            if remote {
                ordered.extend(group.keys.iter().filter(|k| !Self::is_local(k)));
            }
            for key in ordered {
                let result = match key.enc().and_then(|e| prefetched.get(e)) {
                    Some(p) => Ok(p.clone()),
                    None => self.unwrap_one(key),
                };
                match result {
                    Ok(p) => {
                        payloads.push(p);
                        break;
                    }
                    Err(failure) => failures.push(Attempt {
                        group: gi + 1,
                        kind: key.kind().to_string(),
                        id: describe_key(key),
                        failure,
                    }),
                }
            }
            if payloads.len() >= needed {
                break;
            }
        }
        if payloads.len() < needed || payloads.is_empty() {
            let no_keys = meta.key_groups.iter().all(|g| g.keys.is_empty());
            let short = (payloads.len() < needed && !payloads.is_empty()).then_some((payloads.len(), needed));
            return Err(KeyError::Unwrap(Attempts { attempts: failures, no_keys, short, combine: None }));
        }
        let bytes = if meta.key_groups.len() > 1 {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            shamir::combine(&refs)
                .map_err(|e| KeyError::Unwrap(Attempts::combine_failed(format!("combining Shamir shares: {e}"))))?
        } else {
            payloads.swap_remove(0)
        };
        DataKey::from_bytes(&bytes).ok_or_else(|| {
            KeyError::Unwrap(Attempts::combine_failed(format!(
                "the unwrapped data key has {} bytes, not 32",
                bytes.len()
            )))
        })
    }

    /// Data keys for many files. Files that a local identity opens never touch the
    /// network; for the rest, each service unwraps all their entries in as few calls as
    /// it can (one OpenBao `batch_input` call per transit key).
    pub fn data_keys(&self, metas: &[&Metadata]) -> Vec<Result<DataKey, KeyError>> {
        let empty = BTreeMap::new();
        let mut results: Vec<Option<Result<DataKey, KeyError>>> =
            metas.iter().map(|m| self.data_key_inner(m, &empty, false).ok().map(Ok)).collect();
        let mut prefetched: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
        for (row, service) in self.services.iter().filter(|(r, _)| !r.local && r.served) {
            let entries: Vec<&MasterKey> = metas
                .iter()
                .zip(&results)
                .filter(|(_, r)| r.is_none())
                .flat_map(|(m, _)| m.all_keys())
                .filter(|k| k.kind() == row.kind && k.enc().is_some())
                .collect();
            if entries.len() < 2 {
                continue;
            }
            for (k, p) in entries.iter().zip(service.unwrap_many(&entries)) {
                if let (Some(p), Some(enc)) = (p, k.enc()) {
                    prefetched.insert(enc.to_string(), p);
                }
            }
        }
        metas
            .iter()
            .zip(results.iter_mut())
            .map(|(m, r)| r.take().unwrap_or_else(|| self.data_key_inner(m, &prefetched, true)))
            .collect()
    }
}

/// Wrap `key` for each group: the whole key for one group, Shamir shares for several.
pub fn wrap_groups(groups: &[Vec<KeySpec>], threshold: usize, key: &DataKey) -> Result<Vec<KeyGroup>, KeyError> {
    Keyring::new().wrap_groups(groups, threshold, key)
}

/// Recover the data key from the metadata.
pub fn data_key(meta: &Metadata) -> Result<DataKey, KeyError> {
    Keyring::new().data_key(meta)
}
