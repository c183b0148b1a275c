//! OVHcloud KMS as a key service (`okms` entries, tresor's own list: sops ignores it),
//! through the REST client in `tresor-kms`.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use tresor_kms::okms::{Okms, OkmsKey};
use tresor_kms::KmsError;
use tresor_sops::file::now_rfc3339;
use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;
use crate::service::{required, KeyFailure, KeyService};

/// The OKMS service; its client is created from the environment on first use.
#[derive(Default)]
pub struct OkmsService {
    client: OnceLock<Result<Okms, KmsError>>,
}

impl OkmsService {
    fn client(&self) -> Result<&Okms, KmsError> {
        self.client.get_or_init(Okms::from_env).as_ref().map_err(Clone::clone)
    }
}

fn key_of(key: &MasterKey) -> Result<OkmsKey, KeyFailure> {
    Ok(OkmsKey {
        endpoint: required(key, "endpoint")?.to_string(),
        okms_id: required(key, "okms_id")?.to_string(),
        key_id: required(key, "key_id")?.to_string(),
    })
}

impl KeyService for OkmsService {
    fn kind(&self) -> &'static str {
        "okms"
    }

    fn parse(&self, text: &str) -> Result<String, KeyError> {
        Ok(OkmsKey::parse_uri(text.trim())?.uri())
    }

    fn id_of(&self, key: &MasterKey) -> Option<String> {
        key_of(key).ok().map(|k| k.uri())
    }

    fn wrap(&self, id: &str, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        let o = OkmsKey::parse_uri(id)?;
        let client = self.client()?;
        let created_at = now_rfc3339();
        payloads
            .iter()
            .map(|p| {
                let enc = client.encrypt(&o, p)?;
                Ok(MasterKey::new(
                    "okms",
                    &[
                        ("endpoint", &o.endpoint),
                        ("okms_id", &o.okms_id),
                        ("key_id", &o.key_id),
                        ("created_at", &created_at),
                        ("enc", &enc),
                    ],
                ))
            })
            .collect()
    }

    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        let o = key_of(key)?;
        let enc = required(key, "enc")?;
        Ok(self.client()?.decrypt(&o, enc)?)
    }

    fn location(&self, key: &MasterKey) -> Option<String> {
        key.get("endpoint").map(str::to_string)
    }
}
