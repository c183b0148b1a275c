//! OpenBao / HashiCorp Vault transit as a key service (`hc_vault` entries), through the
//! client in `tresor-kms`. Calls are batched per transit key (`batch_input`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use tresor_kms::vault::{Transit, VaultKey};
use tresor_kms::KmsError;
use tresor_sops::file::now_rfc3339;
use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;
use crate::service::{required, KeyFailure, KeyService};

/// The transit service; its client is created from the environment on first use.
#[derive(Default)]
pub struct TransitService {
    client: OnceLock<Result<Transit, KmsError>>,
}

impl TransitService {
    fn client(&self) -> Result<&Transit, KmsError> {
        self.client.get_or_init(Transit::from_env).as_ref().map_err(Clone::clone)
    }
}

fn key_of(key: &MasterKey) -> Result<VaultKey, KeyFailure> {
    Ok(VaultKey {
        address: required(key, "vault_address")?.to_string(),
        engine_path: required(key, "engine_path")?.to_string(),
        key_name: required(key, "key_name")?.to_string(),
    })
}

impl KeyService for TransitService {
    fn kind(&self) -> &'static str {
        "hc_vault"
    }

    fn parse(&self, text: &str) -> Result<String, KeyError> {
        Ok(VaultKey::parse_uri(text.trim())?.uri())
    }

    fn id_of(&self, key: &MasterKey) -> Option<String> {
        key_of(key).ok().map(|k| k.uri())
    }

    fn wrap(&self, id: &str, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        let v = VaultKey::parse_uri(id)?;
        let created_at = now_rfc3339();
        let encs = self.client()?.encrypt(&v, payloads)?;
        Ok(encs
            .iter()
            .map(|enc| {
                // sops' field order for a Vault entry.
                MasterKey::new(
                    "hc_vault",
                    &[
                        ("vault_address", &v.address),
                        ("engine_path", &v.engine_path),
                        ("key_name", &v.key_name),
                        ("created_at", &created_at),
                        ("enc", enc),
                    ],
                )
            })
            .collect())
    }

    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        let v = key_of(key)?;
        let enc = required(key, "enc")?;
        let mut out = self.client()?.decrypt(&v, &[enc])?;
        Ok(out.remove(0))
    }

    fn unwrap_many(&self, keys: &[&MasterKey]) -> Vec<Option<Zeroizing<Vec<u8>>>> {
        let mut out: Vec<Option<Zeroizing<Vec<u8>>>> = keys.iter().map(|_| None).collect();
        let Ok(client) = self.client() else { return out };
        let mut by_key: BTreeMap<VaultKey, Vec<usize>> = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            if let (Ok(v), Some(_)) = (key_of(k), k.enc()) {
                by_key.entry(v).or_default().push(i);
            }
        }
        for (v, idx) in by_key {
            let encs: Vec<&str> = idx.iter().map(|&i| keys[i].enc().unwrap_or_default()).collect();
            // A failing batch leaves `None`: per-entry calls then report per file.
            if let Ok(plains) = client.decrypt(&v, &encs) {
                for (i, p) in idx.into_iter().zip(plains) {
                    out[i] = Some(p);
                }
            }
        }
        out
    }

    fn location(&self, key: &MasterKey) -> Option<String> {
        key.get("vault_address").map(str::to_string)
    }
}
