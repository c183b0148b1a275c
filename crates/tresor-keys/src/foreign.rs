//! Kinds of master key tresor has no client for (AWS KMS, GCP KMS, Azure Key Vault).
//! Their entries are recognised, compared by the key they name, kept
//! byte-for-byte on every rewrite that keeps the data key, and audited; wrapping or
//! unwrapping with them is refused with their name.

use zeroize::Zeroizing;

use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;
use crate::service::{served_kinds, KeyFailure, KeyService};

/// A kind known to the SOPS format without a tresor client.
pub struct Foreign {
    kind: &'static str,
    /// The fields that name the key, joined as `.sops.yaml` writes it (`sep` between).
    id_fields: &'static [&'static str],
    sep: &'static str,
    /// The fields of a structured `.sops.yaml` key-group entry, in `id_fields` order.
    config_fields: &'static [&'static str],
}

impl Foreign {
    /// AWS KMS: `.sops.yaml` writes `arn[+role]`.
    pub const AWS_KMS: Foreign =
        Foreign { kind: "kms", id_fields: &["arn", "role"], sep: "+", config_fields: &["arn", "role"] };
    /// Google Cloud KMS.
    pub const GCP_KMS: Foreign =
        Foreign { kind: "gcp_kms", id_fields: &["resource_id"], sep: "", config_fields: &["resource_id"] };
    /// Azure Key Vault: `.sops.yaml` writes `{vault_url}/keys/{name}/{version}`.
    pub const AZURE_KV: Foreign = Foreign {
        kind: "azure_kv",
        id_fields: &["vault_url", "name", "version"],
        sep: "/keys/",
        config_fields: &["vaultUrl", "key", "version"],
    };
}

impl KeyService for Foreign {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn parse(&self, text: &str) -> Result<String, KeyError> {
        Ok(text.trim().to_string())
    }

    fn parse_entry(&self, fields: &[(String, String)]) -> Result<String, KeyError> {
        let renamed: Vec<(String, String)> = fields
            .iter()
            .filter_map(|(k, v)| {
                let i = self.config_fields.iter().position(|f| f == k)?;
                Some((self.id_fields[i].to_string(), v.clone()))
            })
            .collect();
        self.id_of(&MasterKey { kind: self.kind.into(), fields: renamed }).ok_or_else(|| KeyError::BadKey {
            kind: self.kind.into(),
            why: format!("expected the fields {}", self.config_fields.join(", ")),
        })
    }

    fn id_of(&self, key: &MasterKey) -> Option<String> {
        let parts: Vec<&str> = self.id_fields.iter().filter_map(|f| key.get(f)).filter(|v| !v.is_empty()).collect();
        let first = *parts.first()?;
        Some(match self.kind {
            // `{vault_url}/keys/{name}/{version}`: the separator differs after the name.
            "azure_kv" => {
                let mut s = format!("{}{}{}", first.trim_end_matches('/'), self.sep, parts.get(1).unwrap_or(&""));
                if let Some(v) = parts.get(2) {
                    s.push('/');
                    s.push_str(v);
                }
                s
            }
            _ => parts.join(self.sep),
        })
    }

    fn wrap(&self, id: &str, _payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        Err(KeyError::wrap(format!("{} {id}", self.kind), self.unsupported().into()))
    }

    fn unwrap(&self, _key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        Err(self.unsupported())
    }
}

impl Foreign {
    fn unsupported(&self) -> KeyFailure {
        KeyFailure::Unsupported { kind: self.kind.to_string(), served: served_kinds() }
    }
}
