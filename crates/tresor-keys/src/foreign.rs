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

    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        match keyservice_plugin(key) {
            Some(what) => Err(KeyFailure::Other(format!(
                "this `kms` entry is {what}; tresor keeps it as it is but cannot unwrap it (run sops with that key service)"
            ))),
            None => Err(self.unsupported()),
        }
    }
}

/// A `kms` entry written through sops' keyservice proof of concept (getsops/sops#2016): its
/// `arn` is not an AWS ARN but base64 of a JSON object naming the external key service. It
/// is kept byte for byte like every foreign entry; this names it (the object's `type`,
/// `plugin`, `name` or `provider`, sanitised) so that `audit` and `doctor` can say what it is
/// instead of calling it an AWS key.
pub fn keyservice_plugin(key: &MasterKey) -> Option<String> {
    use base64::Engine;
    if key.kind() != "kms" {
        return None;
    }
    let arn = key.get("arn")?.trim();
    if arn.starts_with("arn:") {
        return None;
    }
    let engines = [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE];
    let bytes = engines.iter().find_map(|e| e.decode(arn).ok())?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let obj = v.as_object()?;
    let name = ["type", "plugin", "name", "provider"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(|x| x.as_str()))
        .unwrap_or("unnamed");
    let clean: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).take(40).collect();
    Some(format!("an external key service ({clean}) through sops' keyservice proof of concept"))
}

impl Foreign {
    fn unsupported(&self) -> KeyFailure {
        KeyFailure::Unsupported { kind: self.kind.to_string(), served: served_kinds() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn keyservice_poc_entries_are_named_not_taken_for_aws_keys() {
        let json = r#"{"type":"ovh-okms","key":"https://eu-west-par.okms.ovh.net/..."}"#;
        let arn = base64::engine::general_purpose::STANDARD.encode(json);
        let poc = MasterKey::new("kms", &[("arn", &arn), ("enc", "x")]);
        let named = keyservice_plugin(&poc).unwrap();
        assert!(named.contains("ovh-okms"), "{named}");
        let err = Foreign::AWS_KMS.unwrap(&poc).err().unwrap().to_string();
        assert!(err.contains("proof of concept") && err.contains("ovh-okms"), "{err}");
        let aws = MasterKey::new("kms", &[("arn", "arn:aws:kms:eu-central-1:1:key/x"), ("enc", "x")]);
        assert!(keyservice_plugin(&aws).is_none());
        assert!(keyservice_plugin(&MasterKey::new("kms", &[("arn", "bm90IGpzb24=")])).is_none(), "base64, not JSON");
    }
}
