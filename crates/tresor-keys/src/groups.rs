//! Wrapping a data key for key groups, and getting it back.

use tresor_sops::metadata::{KeyGroup, MasterKey, Metadata};
use tresor_sops::{shamir, DataKey};
use zeroize::Zeroizing;

use crate::age_key;
use crate::error::KeyError;

/// A master key to encrypt to, before wrapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Age(String),
}

impl KeySpec {
    fn wrap(&self, payload: &[u8]) -> Result<MasterKey, KeyError> {
        match self {
            KeySpec::Age(r) => Ok(MasterKey::Age { recipient: r.trim().to_string(), enc: age_key::wrap(r, payload)? }),
        }
    }
}

/// Wrap `key` for each group: the whole key for one group, Shamir shares for several.
pub fn wrap_groups(groups: &[Vec<KeySpec>], threshold: usize, key: &DataKey) -> Result<Vec<KeyGroup>, KeyError> {
    if groups.is_empty() || groups.iter().all(|g| g.is_empty()) {
        return Err(KeyError::NoKeys);
    }
    if groups.len() == 1 {
        let keys = groups[0].iter().map(|k| k.wrap(key.as_bytes())).collect::<Result<_, _>>()?;
        return Ok(vec![KeyGroup { keys }]);
    }
    let t = if threshold == 0 { groups.len() } else { threshold };
    let shares = shamir::split(key.as_bytes(), groups.len(), t)
        .map_err(|_| KeyError::BadThreshold { threshold: t, groups: groups.len() })?;
    groups
        .iter()
        .zip(shares.iter())
        .map(|(g, share)| Ok(KeyGroup { keys: g.iter().map(|k| k.wrap(share)).collect::<Result<_, _>>()? }))
        .collect()
}

/// Recover the data key from the metadata, trying keys in sops' order (age first).
pub fn data_key(meta: &Metadata) -> Result<DataKey, KeyError> {
    let mut identities: Option<age_key::Identities> = None;
    let mut failures = Vec::new();
    let mut payloads: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let needed = if meta.key_groups.len() > 1 {
        if meta.shamir_threshold == 0 {
            meta.key_groups.len()
        } else {
            meta.shamir_threshold
        }
    } else {
        1
    };
    for (gi, group) in meta.key_groups.iter().enumerate() {
        let mut ordered: Vec<&MasterKey> = group.keys.iter().filter(|k| matches!(k, MasterKey::Age { .. })).collect();
        ordered.extend(group.keys.iter().filter(|k| !matches!(k, MasterKey::Age { .. })));
        for key in ordered {
            let result = match key {
                MasterKey::Age { enc, .. } => {
                    if identities.is_none() {
                        identities = Some(age_key::load_identities()?);
                    }
                    age_key::unwrap(enc, identities.as_ref().expect("loaded"))
                }
                other => Err(format!("key type '{}' is not supported by this build", other.kind())),
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
