//! Scaleway Key Manager, per its public API reference (Key Manager API v1alpha1,
//! https://www.scaleway.com/en/developers/api/key-manager/):
//! `POST {api}/key-manager/v1alpha1/regions/{region}/keys/{key_id}/encrypt` with
//! `{"plaintext": b64, "associated_data": b64}` → `{"key_id", "ciphertext": b64}`, and
//! `/decrypt` with `{"ciphertext", "associated_data"}` → `{"key_id", "plaintext",
//! "ciphertext"}`. Authentication by an API key's secret in `X-Auth-Token`. Errors are
//! Scaleway's standard error objects, told apart by `type` (`denied_authentication`,
//! `permissions_denied`, `not_found`, `invalid_arguments`, `precondition_failed`,
//! `too_many_requests`, …).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::http::{env_first, first_line, Client, Settings};

/// Scaleway's API endpoint.
pub const API_URL: &str = "https://api.scaleway.com";

/// The regions Key Manager runs in (Paris, Amsterdam, Warsaw).
pub const REGIONS: [&str; 3] = ["fr-par", "nl-ams", "pl-waw"];

/// The associated data every wrap of a SOPS data key is bound to. AES-256-GCM
/// authenticates it: a ciphertext the same Key Manager key made for anything else (an
/// application's own data, another tool's secrets) does not decrypt as a data key, so it
/// cannot be passed off as one. Fixed, not stored in the file, so that editing the
/// metadata cannot choose it.
pub const ASSOCIATED_DATA: &[u8] = b"tresor/scw_kms: SOPS data key v1";

const SERVICE: &str = "Scaleway Key Manager";

/// A Key Manager key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScwKey {
    /// `https://api.scaleway.com` (no trailing slash).
    pub api_url: String,
    /// `fr-par`, `nl-ams` or `pl-waw`.
    pub region: String,
    /// The key's id (a UUID).
    pub key_id: String,
}

impl ScwKey {
    /// Parse `https://api.scaleway.com/key-manager/v1alpha1/regions/<region>/keys/<key_id>`.
    pub fn parse_uri(uri: &str) -> Result<ScwKey, KmsError> {
        let bad = |why: String| KmsError::BadUri { uri: uri.into(), why };
        let shape = "expected https://api.scaleway.com/key-manager/v1alpha1/regions/<region>/keys/<key_id>";
        let (api, rest) = uri.split_once("/key-manager/v1alpha1/regions/").ok_or_else(|| bad(shape.into()))?;
        // The secret key travels in a header: only over TLS, except to this machine.
        if !(api.starts_with("https://") || (api.starts_with("http://") && crate::http::is_loopback(api))) {
            return Err(bad("the API endpoint must be an https:// URL".into()));
        }
        let mut parts = rest.trim_end_matches('/').split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(region), Some("keys"), Some(key_id), None) if !key_id.is_empty() => {
                if !REGIONS.contains(&region) {
                    return Err(bad(format!(
                        "unknown Scaleway region '{}' (Key Manager runs in {})",
                        region.chars().take(20).collect::<String>(),
                        REGIONS.join(", ")
                    )));
                }
                Ok(ScwKey { api_url: api.trim_end_matches('/').into(), region: region.into(), key_id: key_id.into() })
            }
            _ => Err(bad(shape.into())),
        }
    }

    /// The key's URI, as `.sops.yaml` and `--scw-kms` take it.
    pub fn uri(&self) -> String {
        format!("{}/key-manager/v1alpha1/regions/{}/keys/{}", self.api_url, self.region, self.key_id)
    }
}

/// Credentials and settings, from the Scaleway CLI's and SDKs' variables: `SCW_SECRET_KEY`
/// (the API key's secret), plus tresor's `SCW_KMS_TIMEOUT` (seconds) and `SCW_KMS_RETRIES`.
pub struct Config {
    /// Timeouts and retries.
    pub settings: Settings,
    /// The API key's secret.
    pub token: Zeroizing<String>,
}

impl Config {
    /// The settings from the environment.
    pub fn from_env() -> Result<Config, KmsError> {
        let token = env_first(&["SCW_SECRET_KEY"]).map(Zeroizing::new).ok_or_else(|| {
            KmsError::Config("no Scaleway credentials: set SCW_SECRET_KEY (the secret of an API key)".into())
        })?;
        let settings = Settings::default().with_env(&["SCW_KMS_TIMEOUT"], &["SCW_KMS_RETRIES"]);
        Ok(Config { settings, token })
    }
}

/// A client of the Key Manager API.
pub struct Scaleway {
    http: Client,
    token: Zeroizing<String>,
}

/// A Scaleway error object, in a sentence: its `message`, what its `type` adds, and the
/// missing permissions or arguments it lists.
fn describe_error(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return first_line(body) };
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let mut out = s("message").map(str::to_string).unwrap_or_else(|| first_line(body));
    match s("type") {
        Some("denied_authentication") => {
            if let (Some(m), Some(r)) = (s("method"), s("reason")) {
                out.push_str(&format!(" ({m}: {r})"));
            }
        }
        Some("permissions_denied") => {
            let needed: Vec<String> = v
                .get("details")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| Some(format!("{} {}", d.get("action")?.as_str()?, d.get("resource")?.as_str()?)))
                .collect();
            if !needed.is_empty() {
                out.push_str(&format!(" (missing: {})", needed.join(", ")));
            }
        }
        Some("not_found") => {
            if let (Some(r), Some(id)) = (s("resource"), s("resource_id")) {
                out.push_str(&format!(" ({r} {id})"));
            }
        }
        Some("invalid_arguments") => {
            let args: Vec<String> = v
                .get("details")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| Some(format!("{}: {}", d.get("argument_name")?.as_str()?, d.get("reason")?.as_str()?)))
                .collect();
            if !args.is_empty() {
                out.push_str(&format!(" ({})", args.join(", ")));
            }
        }
        Some("precondition_failed") => {
            if let Some(p) = s("help_message").or(s("precondition")) {
                out.push_str(&format!(" ({p})"));
            }
        }
        _ => {}
    }
    out
}

impl Scaleway {
    /// A client with `config`.
    pub fn new(config: Config) -> Result<Scaleway, KmsError> {
        Ok(Scaleway { http: Client::new(config.settings)?, token: config.token })
    }

    /// A client configured from the environment.
    pub fn from_env() -> Result<Scaleway, KmsError> {
        Scaleway::new(Config::from_env()?)
    }

    fn call(&self, key: &ScwKey, op: &str, body: Value) -> Result<Value, KmsError> {
        let url = format!("{}/{op}", key.uri());
        let headers = [("X-Auth-Token", self.token.as_str())];
        let reply = self.http.send_json("POST", &url, &headers, &body, |_| false).map_err(|e| match e {
            KmsError::Server { status, attempts, why, .. } => {
                KmsError::Server { service: SERVICE, status, attempts, why: describe_error(&why) }
            }
            other => other,
        })?;
        let why = || describe_error(&reply.body);
        match reply.status {
            200 => serde_json::from_str(&reply.body)
                .map_err(|e| KmsError::Protocol { service: SERVICE, why: e.to_string() }),
            401 => Err(KmsError::Denied {
                service: SERVICE,
                status: 401,
                why: format!("{} (check SCW_SECRET_KEY: the secret of an API key)", why()),
            }),
            403 => Err(KmsError::Denied {
                service: SERVICE,
                status: 403,
                why: format!("{} (the API key's IAM policy must allow KeyManager {op} on this key's project)", why()),
            }),
            404 => Err(KmsError::NotFound {
                service: SERVICE,
                status: 404,
                why: format!("{}: {} (is the key in region {}? keys live in one region)", key.uri(), why(), key.region),
            }),
            s => Err(KmsError::Rejected { service: SERVICE, status: s, why: why() }),
        }
    }

    /// Encrypt `payload` (a data key or a Shamir share) with the key, bound to
    /// [`ASSOCIATED_DATA`]: the base64 ciphertext Key Manager returns.
    pub fn encrypt(&self, key: &ScwKey, payload: &[u8]) -> Result<String, KmsError> {
        let plaintext = Zeroizing::new(B64.encode(payload));
        let body = json!({ "plaintext": plaintext.as_str(), "associated_data": B64.encode(ASSOCIATED_DATA) });
        let v = self.call(key, "encrypt", body)?;
        crate::answer::ciphertext(&v, SERVICE, "ciphertext")
    }

    /// Decrypt a ciphertext [`Scaleway::encrypt`] returned.
    pub fn decrypt(&self, key: &ScwKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let body = json!({ "ciphertext": ciphertext, "associated_data": B64.encode(ASSOCIATED_DATA) });
        let v = self.call(key, "decrypt", body)?;
        crate::answer::plaintext(&v, SERVICE, "plaintext")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_manager_uris_and_names_bad_regions() {
        let k = ScwKey::parse_uri(
            "https://api.scaleway.com/key-manager/v1alpha1/regions/fr-par/keys/11111111-2222-3333-4444-555555555555",
        )
        .unwrap();
        assert_eq!((k.api_url.as_str(), k.region.as_str()), ("https://api.scaleway.com", "fr-par"));
        assert_eq!(
            k.uri(),
            "https://api.scaleway.com/key-manager/v1alpha1/regions/fr-par/keys/11111111-2222-3333-4444-555555555555"
        );
        let e = ScwKey::parse_uri("https://api.scaleway.com/key-manager/v1alpha1/regions/us-east/keys/k").unwrap_err();
        assert!(e.to_string().contains("fr-par, nl-ams, pl-waw"), "{e}");
        assert!(ScwKey::parse_uri("http://api.scaleway.com/key-manager/v1alpha1/regions/fr-par/keys/k").is_err());
        assert!(ScwKey::parse_uri("http://127.0.0.1:9/key-manager/v1alpha1/regions/fr-par/keys/k").is_ok());
        assert!(ScwKey::parse_uri("https://api.scaleway.com/key-manager/v1alpha1/regions/fr-par/k").is_err());
    }

    #[test]
    fn error_objects_read_as_sentences() {
        let e = describe_error(
            r#"{"type":"permissions_denied","message":"insufficient permissions","details":[{"resource":"key_manager_key","action":"write"}]}"#,
        );
        assert_eq!(e, "insufficient permissions (missing: write key_manager_key)");
        let e = describe_error(
            r#"{"type":"not_found","message":"resource is not found","resource":"key","resource_id":"abc"}"#,
        );
        assert_eq!(e, "resource is not found (key abc)");
        assert_eq!(describe_error("<html>bad gateway</html>"), "<html>bad gateway</html>");
    }
}
