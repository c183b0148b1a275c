//! Wrapping a data key for key groups, and getting it back.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use tresor_kms::okms::{Okms, OkmsKey};
use tresor_kms::vault::{Transit, VaultKey};
use tresor_sops::file::now_rfc3339;
use tresor_sops::metadata::{KeyGroup, MasterKey, Metadata};
use tresor_sops::{shamir, DataKey};
use zeroize::Zeroizing;

use crate::age_key;
use crate::error::KeyError;
use crate::pgp;

/// A master key to encrypt to, before wrapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Age(String),
    Vault(VaultKey),
    Okms(OkmsKey),
    /// A PGP key by fingerprint, used through `gpg` as sops does.
    Pgp(String),
}

impl KeySpec {
    pub fn vault(uri: &str) -> Result<KeySpec, KeyError> {
        Ok(KeySpec::Vault(VaultKey::parse_uri(uri.trim())?))
    }
    pub fn okms(uri: &str) -> Result<KeySpec, KeyError> {
        Ok(KeySpec::Okms(OkmsKey::parse_uri(uri.trim())?))
    }
    pub fn describe(&self) -> String {
        match self {
            KeySpec::Age(r) => format!("age {r}"),
            KeySpec::Vault(v) => format!("hc_vault {}", v.uri()),
            KeySpec::Okms(o) => format!("okms {}", o.uri()),
            KeySpec::Pgp(fp) => format!("pgp {fp}"),
        }
    }
}

/// The spec a stored master key was made from (for `updatekeys` comparisons).
pub fn spec_of(key: &MasterKey) -> Option<KeySpec> {
    match key {
        MasterKey::Age { recipient, .. } => Some(KeySpec::Age(recipient.clone())),
        MasterKey::HcVault { vault_address, engine_path, key_name, .. } => Some(KeySpec::Vault(VaultKey {
            address: vault_address.clone(),
            engine_path: engine_path.clone(),
            key_name: key_name.clone(),
        })),
        MasterKey::Okms { endpoint, okms_id, key_id, .. } => Some(KeySpec::Okms(OkmsKey {
            endpoint: endpoint.clone(),
            okms_id: okms_id.clone(),
            key_id: key_id.clone(),
        })),
        MasterKey::Foreign { kind, fields } if kind == "pgp" => {
            fields.iter().find(|(k, _)| k == "fp").map(|(_, fp)| KeySpec::Pgp(fp.to_ascii_uppercase()))
        }
        MasterKey::Foreign { .. } => None,
    }
}

/// The `enc` of a PGP entry (a foreign key kind that tresor uses through gpg).
fn pgp_enc(key: &MasterKey) -> Option<&str> {
    match key {
        MasterKey::Foreign { kind, fields } if kind == "pgp" => {
            fields.iter().find(|(k, _)| k == "enc").map(|(_, v)| v.as_str())
        }
        _ => None,
    }
}

/// Can sops (and Flux) decrypt a file with these groups? sops ignores `okms` keys, so a
/// group made only of them is empty to sops. Returns a warning when it cannot.
pub fn sops_compatibility(groups: &[Vec<KeySpec>], threshold: usize) -> Option<String> {
    let usable = |g: &Vec<KeySpec>| g.iter().any(|k| !matches!(k, KeySpec::Okms(_)));
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
        Some(format!(
            "sops and Flux cannot decrypt this file: they ignore okms keys, leaving {usable_groups} usable key group(s) of the {needed} needed. \
             Add an age or hc_vault key to the okms-only group(s) if sops/Flux must read it."
        ))
    } else {
        None
    }
}

/// Holds the key-service clients (created on first use) and the local age identities.
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
    pub result: Result<(), String>,
}

#[derive(Default)]
pub struct Keyring {
    identities: OnceLock<Result<age_key::Identities, String>>,
    transit: OnceLock<Result<Transit, String>>,
    okms: OnceLock<Result<Okms, String>>,
}

impl Keyring {
    pub fn new() -> Keyring {
        Keyring::default()
    }

    fn transit(&self) -> Result<&Transit, KeyError> {
        self.transit
            .get_or_init(|| Transit::from_env().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| KeyError::Wrap { key: "OpenBao/Vault".into(), reason: e.clone() })
    }

    fn okms(&self) -> Result<&Okms, KeyError> {
        self.okms
            .get_or_init(|| Okms::from_env().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| KeyError::Wrap { key: "OVHcloud KMS".into(), reason: e.clone() })
    }

    fn identities(&self) -> Result<&age_key::Identities, String> {
        self.identities
            .get_or_init(|| age_key::load_identities().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Wrap the payloads (one per file) for one key, batching remote calls.
    fn wrap_payloads(&self, spec: &KeySpec, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        let created_at = now_rfc3339();
        match spec {
            KeySpec::Age(r) => payloads
                .iter()
                .map(|p| Ok(MasterKey::Age { recipient: r.trim().to_string(), enc: age_key::wrap(r, p)? }))
                .collect(),
            KeySpec::Vault(v) => {
                let encs = self.transit()?.encrypt(v, payloads)?;
                Ok(encs
                    .into_iter()
                    .map(|enc| MasterKey::HcVault {
                        vault_address: v.address.clone(),
                        engine_path: v.engine_path.clone(),
                        key_name: v.key_name.clone(),
                        created_at: created_at.clone(),
                        enc,
                    })
                    .collect())
            }
            KeySpec::Okms(o) => {
                let client = self.okms()?;
                payloads
                    .iter()
                    .map(|p| {
                        Ok(MasterKey::Okms {
                            endpoint: o.endpoint.clone(),
                            okms_id: o.okms_id.clone(),
                            key_id: o.key_id.clone(),
                            created_at: created_at.clone(),
                            enc: client.encrypt(o, p)?,
                        })
                    })
                    .collect()
            }
            KeySpec::Pgp(fp) => payloads
                .iter()
                .map(|p| {
                    let enc = pgp::wrap(fp, p).map_err(|reason| KeyError::Wrap { key: spec.describe(), reason })?;
                    // sops' field order for a PGP entry.
                    Ok(MasterKey::Foreign {
                        kind: "pgp".into(),
                        fields: vec![
                            ("created_at".into(), created_at.clone()),
                            ("enc".into(), enc),
                            ("fp".into(), fp.trim().to_ascii_uppercase()),
                        ],
                    })
                })
                .collect(),
        }
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
                let wrapped = self
                    .wrap_payloads(spec, &ps)
                    .map_err(|e| KeyError::Wrap { key: spec.describe(), reason: e.to_string() })?;
                for (fi, mk) in wrapped.into_iter().enumerate() {
                    out[fi][gi].keys.push(mk);
                }
            }
        }
        Ok(out)
    }

    pub fn wrap_groups(
        &self,
        groups: &[Vec<KeySpec>],
        threshold: usize,
        key: &DataKey,
    ) -> Result<Vec<KeyGroup>, KeyError> {
        Ok(self.wrap_many(groups, threshold, &[key])?.pop().expect("one file"))
    }

    fn unwrap_one(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, String> {
        match key {
            MasterKey::Age { enc, .. } => age_key::unwrap(enc, self.identities()?),
            MasterKey::HcVault { .. } => {
                let Some(KeySpec::Vault(v)) = spec_of(key) else { unreachable!() };
                let MasterKey::HcVault { enc, .. } = key else { unreachable!() };
                let t = self.transit().map_err(|e| e.to_string())?;
                t.decrypt(&v, &[enc.as_str()]).map(|mut v| v.remove(0)).map_err(|e| e.to_string())
            }
            MasterKey::Okms { enc, .. } => {
                let Some(KeySpec::Okms(o)) = spec_of(key) else { unreachable!() };
                let c = self.okms().map_err(|e| e.to_string())?;
                c.decrypt(&o, enc).map_err(|e| e.to_string())
            }
            MasterKey::Foreign { .. } if pgp_enc(key).is_some() => pgp::unwrap(pgp_enc(key).unwrap_or_default()),
            MasterKey::Foreign { kind, .. } => Err(format!(
                "key type '{kind}' is not supported by tresor (it uses age, PGP through gpg, OpenBao/Vault transit and OVHcloud KMS)"
            )),
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
                    id: key.id(),
                    result: self.unwrap_one(key).map(|_| ()),
                });
            }
        }
        out
    }

    /// Where age identities were looked for, in sops' order (what `doctor` reports).
    pub fn identity_sources(&self) -> Result<(Vec<String>, usize), String> {
        self.identities().map(|i| (i.searched.clone(), i.ids.len()))
    }

    /// Recover the data key, trying keys in sops' order (age first, then the rest in
    /// file order) and stopping as soon as enough groups have given their share.
    pub fn data_key(&self, meta: &Metadata) -> Result<DataKey, KeyError> {
        self.data_key_inner(meta, &BTreeMap::new(), true)
    }

    /// Like [`Keyring::data_key`], with payloads already unwrapped in a batch
    /// (keyed by the master key's `enc`).
    #[allow(clippy::needless_pass_by_value)]
    /// `remote: false` tries only local (age) keys.
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
            let mut ordered: Vec<&MasterKey> =
                group.keys.iter().filter(|k| matches!(k, MasterKey::Age { .. })).collect();
            if remote {
                ordered.extend(group.keys.iter().filter(|k| !matches!(k, MasterKey::Age { .. })));
            }
            for key in ordered {
                let enc = enc_of(key);
                let result = match enc.and_then(|e| prefetched.get(e)) {
                    Some(p) => Ok(p.clone()),
                    None => self.unwrap_one(key),
                };
                match result {
                    Ok(p) => {
                        payloads.push(p);
                        break;
                    }
                    Err(e) => failures.push(format!("  group {}: {} {}: {e}", gi + 1, key.kind(), key.id())),
                }
            }
            if payloads.len() >= needed {
                break;
            }
        }
        if payloads.len() < needed || payloads.is_empty() {
            if meta.key_groups.iter().all(|g| g.keys.is_empty()) {
                return Err(KeyError::Unwrap("  the file lists no master keys".into()));
            }
            if payloads.len() < needed && !payloads.is_empty() {
                failures
                    .push(format!("  only {} of the {needed} key groups needed could be decrypted", payloads.len()));
            }
            return Err(KeyError::Unwrap(failures.join("\n")));
        }
        let bytes = if meta.key_groups.len() > 1 {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            shamir::combine(&refs).map_err(|e| KeyError::Unwrap(format!("  combining Shamir shares: {e}")))?
        } else {
            payloads.swap_remove(0)
        };
        DataKey::from_bytes(&bytes)
            .ok_or_else(|| KeyError::Unwrap(format!("  the unwrapped data key has {} bytes, not 32", bytes.len())))
    }

    /// Data keys for many files. Files that a local age identity opens never touch the
    /// network; for the rest, one batched transit call per Vault key serves all files.
    pub fn data_keys(&self, metas: &[&Metadata]) -> Vec<Result<DataKey, KeyError>> {
        let empty = BTreeMap::new();
        let mut results: Vec<Option<Result<DataKey, KeyError>>> =
            metas.iter().map(|m| self.data_key_inner(m, &empty, false).ok().map(Ok)).collect();
        let mut by_vault: BTreeMap<VaultKey, Vec<String>> = BTreeMap::new();
        for (m, r) in metas.iter().zip(&results) {
            if r.is_some() {
                continue;
            }
            for k in m.all_keys() {
                if let (Some(KeySpec::Vault(v)), MasterKey::HcVault { enc, .. }) = (spec_of(k), k) {
                    by_vault.entry(v).or_default().push(enc.clone());
                }
            }
        }
        let mut prefetched: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
        if let (false, Ok(t)) = (by_vault.is_empty(), self.transit()) {
            for (v, encs) in &by_vault {
                let refs: Vec<&str> = encs.iter().map(String::as_str).collect();
                // A failing batch falls back to per-file calls, which report per file.
                if let Ok(plains) = t.decrypt(v, &refs) {
                    for (e, p) in encs.iter().zip(plains) {
                        prefetched.insert(e.clone(), p);
                    }
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

fn enc_of(k: &MasterKey) -> Option<&String> {
    match k {
        MasterKey::Age { enc, .. } | MasterKey::HcVault { enc, .. } | MasterKey::Okms { enc, .. } => Some(enc),
        MasterKey::Foreign { .. } => None,
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
