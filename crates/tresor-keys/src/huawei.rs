//! Huawei Cloud and Open Telekom Cloud KMS as a key service (`hckms` entries, as sops ≥
//! 3.12 writes them: `key_id` = `region:key-uuid`, `created_at`, `enc`), through the
//! signed REST client in `tresor-kms`.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use tresor_kms::huawei::{HcKey, HuaweiKms};
use tresor_kms::KmsError;
use tresor_sops::file::now_rfc3339;
use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;
use crate::service::{required, KeyFailure, KeyService};

/// The KMS service; its client is created from the environment on first use.
#[derive(Default)]
pub struct HuaweiService {
    client: OnceLock<Result<HuaweiKms, KmsError>>,
}

impl HuaweiService {
    fn client(&self) -> Result<&HuaweiKms, KmsError> {
        self.client.get_or_init(HuaweiKms::from_env).as_ref().map_err(Clone::clone)
    }
}

fn key_of(key: &MasterKey) -> Result<HcKey, KeyFailure> {
    HcKey::parse(required(key, "key_id")?).map_err(|e| KeyFailure::Other(e.to_string()))
}

impl KeyService for HuaweiService {
    fn kind(&self) -> &'static str {
        "hckms"
    }

    fn parse(&self, text: &str) -> Result<String, KeyError> {
        Ok(HcKey::parse(text)?.id())
    }

    fn parse_entry(&self, fields: &[(String, String)]) -> Result<String, KeyError> {
        match fields.iter().find(|(k, _)| k == "key_id") {
            Some((_, v)) => self.parse(v),
            None => {
                Err(KeyError::BadKey { kind: "hckms".into(), why: "a key_id (region:key-uuid) is required".into() })
            }
        }
    }

    fn id_of(&self, key: &MasterKey) -> Option<String> {
        key_of(key).ok().map(|k| k.id())
    }

    fn wrap(&self, id: &str, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        let k = HcKey::parse(id)?;
        let client = self.client()?;
        let created_at = now_rfc3339();
        let key_id = k.id();
        payloads
            .iter()
            .map(|p| {
                let enc = client.encrypt(&k, p)?;
                // sops' field order for an hckms entry.
                Ok(MasterKey::new("hckms", &[("key_id", &key_id), ("created_at", &created_at), ("enc", &enc)]))
            })
            .collect()
    }

    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        let k = key_of(key)?;
        let enc = required(key, "enc")?;
        Ok(self.client()?.decrypt(&k, enc)?)
    }

    fn location(&self, key: &MasterKey) -> Option<String> {
        key_of(key).ok().map(|k| k.endpoint())
    }
}
