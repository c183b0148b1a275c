//! STACKIT Key Management Service, per its API reference (KMS API v1,
//! https://docs.api.stackit.cloud/documentation/kms/version/v1, as STACKIT's generated SDKs
//! implement it): `POST {api}/v1/projects/{projectId}/regions/{regionId}/keyrings/{keyRingId}
//! /keys/{keyId}/versions/{versionNumber}/encrypt` with `{"data": b64}` → `{"data": b64}`,
//! and `/decrypt` likewise. Authentication by a service account's access token
//! (`Authorization: Bearer`). Errors are `{"message"}` with status 400, 401, 404, 409, 500
//! or 503. The API takes no associated data.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::http::{env_first, first_line, Client, Settings};

/// STACKIT's KMS endpoint.
pub const API_URL: &str = "https://kms.api.stackit.cloud";

/// The regions STACKIT KMS runs in (Germany, Austria).
pub const REGIONS: [&str; 2] = ["eu01", "eu02"];

const SERVICE: &str = "STACKIT KMS";

/// One version of a STACKIT KMS key (encryption names the version: a new version does not
/// change what an old one decrypts).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackitKey {
    /// `https://kms.api.stackit.cloud` (no trailing slash).
    pub api_url: String,
    /// The project UUID.
    pub project_id: String,
    /// `eu01` or `eu02`.
    pub region: String,
    /// The key ring UUID.
    pub keyring_id: String,
    /// The key UUID.
    pub key_id: String,
    /// The version number.
    pub version: u64,
}

impl StackitKey {
    /// Parse `https://kms.api.stackit.cloud/v1/projects/<p>/regions/<r>/keyrings/<k>/keys/<id>/versions/<n>`.
    pub fn parse_uri(uri: &str) -> Result<StackitKey, KmsError> {
        let bad = |why: String| KmsError::BadUri { uri: uri.into(), why };
        let shape = "expected https://kms.api.stackit.cloud/v1/projects/<projectId>/regions/<region>/keyrings/<keyRingId>/keys/<keyId>/versions/<n>";
        let (api, rest) = uri.split_once("/v1/projects/").ok_or_else(|| bad(shape.into()))?;
        if !(api.starts_with("https://") || (api.starts_with("http://") && crate::http::is_loopback(api))) {
            return Err(bad("the API endpoint must be an https:// URL".into()));
        }
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let [project, "regions", region, "keyrings", keyring, "keys", key, "versions", version] = parts[..] else {
            return Err(bad(shape.into()));
        };
        if [project, keyring, key].iter().any(|s| s.is_empty()) {
            return Err(bad(shape.into()));
        }
        if !REGIONS.contains(&region) {
            return Err(bad(format!(
                "unknown STACKIT region '{}' (KMS runs in {})",
                region.chars().take(20).collect::<String>(),
                REGIONS.join(", ")
            )));
        }
        let version = version.parse().map_err(|_| bad(format!("the key version must be a number, not '{version}'")))?;
        Ok(StackitKey {
            api_url: api.trim_end_matches('/').into(),
            project_id: project.into(),
            region: region.into(),
            keyring_id: keyring.into(),
            key_id: key.into(),
            version,
        })
    }

    /// The key version's URI, as `.sops.yaml` and `--stackit-kms` take it.
    pub fn uri(&self) -> String {
        format!(
            "{}/v1/projects/{}/regions/{}/keyrings/{}/keys/{}/versions/{}",
            self.api_url, self.project_id, self.region, self.keyring_id, self.key_id, self.version
        )
    }
}

/// Credentials and settings: `STACKIT_SERVICE_ACCOUNT_TOKEN` (a service account's access
/// token, the variable STACKIT's CLI and SDKs read), `STACKIT_KMS_TIMEOUT` (seconds) and
/// `STACKIT_KMS_RETRIES`.
pub struct Config {
    /// Timeouts and retries.
    pub settings: Settings,
    /// The access token.
    pub token: Zeroizing<String>,
}

impl Config {
    /// The settings from the environment.
    pub fn from_env() -> Result<Config, KmsError> {
        let token = env_first(&["STACKIT_SERVICE_ACCOUNT_TOKEN"]).map(Zeroizing::new).ok_or_else(|| {
            KmsError::Config(
                "no STACKIT credentials: set STACKIT_SERVICE_ACCOUNT_TOKEN (a service account's access token)".into(),
            )
        })?;
        let settings = Settings::default().with_env(&["STACKIT_KMS_TIMEOUT"], &["STACKIT_KMS_RETRIES"]);
        Ok(Config { settings, token })
    }
}

/// A client of the STACKIT KMS API.
pub struct Stackit {
    http: Client,
    token: Zeroizing<String>,
}

/// STACKIT's `HttpError`: `{"message"}`.
fn describe_error(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| first_line(body))
}

impl Stackit {
    /// A client with `config`.
    pub fn new(config: Config) -> Result<Stackit, KmsError> {
        Ok(Stackit { http: Client::new(config.settings)?, token: config.token })
    }

    /// A client configured from the environment.
    pub fn from_env() -> Result<Stackit, KmsError> {
        Stackit::new(Config::from_env()?)
    }

    fn call(&self, key: &StackitKey, op: &str, data: &str) -> Result<Zeroizing<String>, KmsError> {
        let url = format!("{}/{op}", key.uri());
        let auth = Zeroizing::new(format!("Bearer {}", self.token.as_str()));
        let headers = [("Authorization", auth.as_str())];
        let reply =
            self.http.send_json("POST", &url, &headers, &json!({ "data": data }), |_| false).map_err(|e| match e {
                KmsError::Server { status, attempts, why, .. } => {
                    KmsError::Server { service: SERVICE, status, attempts, why: describe_error(&why) }
                }
                other => other,
            })?;
        let why = || describe_error(&reply.body);
        match reply.status {
            200 => {
                let v: Value = serde_json::from_str(&reply.body)
                    .map_err(|e| KmsError::Protocol { service: SERVICE, why: e.to_string() })?;
                v.get("data")
                    .and_then(Value::as_str)
                    .map(|d| Zeroizing::new(d.to_string()))
                    .ok_or_else(|| KmsError::Protocol { service: SERVICE, why: "the response has no data".into() })
            }
            401 | 403 => Err(KmsError::Denied {
                service: SERVICE,
                status: reply.status,
                why: format!(
                    "{} (check STACKIT_SERVICE_ACCOUNT_TOKEN: a current access token of a service account with the KMS role on project {})",
                    why(),
                    key.project_id
                ),
            }),
            404 => Err(KmsError::NotFound {
                service: SERVICE,
                status: 404,
                why: format!(
                    "{}: {} (check the project, region {}, key ring, key and version: each lives in one region)",
                    key.uri(),
                    why(),
                    key.region
                ),
            }),
            s => Err(KmsError::Rejected { service: SERVICE, status: s, why: why() }),
        }
    }

    /// Encrypt `payload` with the key version: the base64 ciphertext STACKIT returns.
    pub fn encrypt(&self, key: &StackitKey, payload: &[u8]) -> Result<String, KmsError> {
        let data = Zeroizing::new(B64.encode(payload));
        let c = self.call(key, "encrypt", &data)?;
        if c.is_empty() {
            return Err(KmsError::Protocol { service: SERVICE, why: "the response's data is empty".into() });
        }
        Ok(c.to_string())
    }

    /// Decrypt a ciphertext [`Stackit::encrypt`] returned.
    pub fn decrypt(&self, key: &StackitKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let p = self.call(key, "decrypt", ciphertext)?;
        crate::answer::decode(&p, SERVICE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_version_uris_and_names_bad_regions_and_versions() {
        let u = "https://kms.api.stackit.cloud/v1/projects/p-1/regions/eu01/keyrings/kr-1/keys/k-1/versions/2";
        let k = StackitKey::parse_uri(u).unwrap();
        assert_eq!(
            (k.region.as_str(), k.keyring_id.as_str(), k.key_id.as_str(), k.version),
            ("eu01", "kr-1", "k-1", 2)
        );
        assert_eq!(k.uri(), u);
        let e = StackitKey::parse_uri(&u.replace("eu01", "us01")).unwrap_err();
        assert!(e.to_string().contains("eu01, eu02"), "{e}");
        assert!(StackitKey::parse_uri(&u.replace("versions/2", "versions/latest")).is_err());
        assert!(StackitKey::parse_uri(&u.replace("https://kms.api.stackit.cloud", "http://kms.example.org")).is_err());
        assert!(StackitKey::parse_uri(&u.replace("https://kms.api.stackit.cloud", "http://127.0.0.1:9")).is_ok());
        assert!(StackitKey::parse_uri("https://kms.api.stackit.cloud/v1/projects/p/regions/eu01/keys/k").is_err());
    }

    #[test]
    fn error_bodies_read_as_their_message() {
        assert_eq!(describe_error(r#"{"message":"key version is disabled"}"#), "key version is disabled");
        assert_eq!(describe_error("upstream connect error"), "upstream connect error");
    }
}
