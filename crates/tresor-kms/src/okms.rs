//! OVHcloud KMS (OKMS) service keys, per the published OpenAPI spec (v2.14):
//! `POST {endpoint}/api/{okmsId}/v1/servicekey/{keyId}/encrypt` with `{"plaintext": b64}`
//! → `{"ciphertext": "<JWE>"}`, and `/decrypt` with `{"ciphertext"}` → `{"plaintext": b64}`.
//! Authentication by access certificate (mutual TLS) or `Authorization: Bearer` token.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::http::{first_line, Client, Settings};

/// An OVHcloud KMS service key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OkmsKey {
    /// `https://eu-west-par.okms.ovh.net` (no trailing slash).
    pub endpoint: String,
    /// The KMS (domain) id.
    pub okms_id: String,
    /// The service key id.
    pub key_id: String,
}

impl OkmsKey {
    /// Parse `https://<region>.okms.ovh.net/api/<okmsId>/v1/servicekey/<keyId>`.
    pub fn parse_uri(uri: &str) -> Result<OkmsKey, KmsError> {
        let bad = |why: &str| KmsError::BadUri { uri: uri.into(), why: why.into() };
        let (endpoint, rest) =
            uri.split_once("/api/").ok_or_else(|| bad("expected <endpoint>/api/<okmsId>/v1/servicekey/<keyId>"))?;
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(bad("the endpoint must be an https:// URL"));
        }
        let mut parts = rest.trim_end_matches('/').split('/');
        let (okms_id, v1, sk, key_id) = (parts.next(), parts.next(), parts.next(), parts.next());
        match (okms_id, v1, sk, key_id, parts.next()) {
            (Some(o), Some("v1"), Some("servicekey"), Some(k), None) if !o.is_empty() && !k.is_empty() => {
                Ok(OkmsKey { endpoint: endpoint.trim_end_matches('/').into(), okms_id: o.into(), key_id: k.into() })
            }
            _ => Err(bad("expected <endpoint>/api/<okmsId>/v1/servicekey/<keyId>")),
        }
    }

    /// The key's URI, as `.sops.yaml` and `--okms` take it.
    pub fn uri(&self) -> String {
        format!("{}/api/{}/v1/servicekey/{}", self.endpoint, self.okms_id, self.key_id)
    }
}

fn env(name: &str) -> Option<String> {
    crate::http::env_first(&[name])
}

/// Credentials and TLS settings, from okms-cli's variables: `KMS_RESTAPI_CERT` +
/// `KMS_RESTAPI_KEY` (access certificate) or `KMS_RESTAPI_TOKEN` (personal access token),
/// `KMS_RESTAPI_CA` (extra CA), `KMS_RESTAPI_TIMEOUT` (seconds), `KMS_RESTAPI_RETRIES`.
pub struct Config {
    /// Timeouts, retries, CA and client certificate.
    pub settings: Settings,
    /// A personal access token, when no certificate is used.
    pub token: Option<Zeroizing<String>>,
}

impl Config {
    /// The settings from okms-cli's variables (`KMS_RESTAPI_*`).
    pub fn from_env() -> Result<Config, KmsError> {
        let cert = env("KMS_RESTAPI_CERT");
        let key = env("KMS_RESTAPI_KEY");
        let token = env("KMS_RESTAPI_TOKEN").map(Zeroizing::new);
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(KmsError::Config("set both KMS_RESTAPI_CERT and KMS_RESTAPI_KEY for OVHcloud KMS".into())),
        };
        if client_cert.is_none() && token.is_none() {
            return Err(KmsError::Config(
                "no OVHcloud KMS credentials: set KMS_RESTAPI_CERT and KMS_RESTAPI_KEY (access certificate) or KMS_RESTAPI_TOKEN".into(),
            ));
        }
        let settings = Settings { ca_file: env("KMS_RESTAPI_CA"), client_cert, ..Settings::default() }
            .with_env(&["KMS_RESTAPI_TIMEOUT"], &["KMS_RESTAPI_RETRIES"]);
        Ok(Config { settings, token })
    }
}

/// A client of the OKMS REST API.
pub struct Okms {
    http: Client,
    token: Option<Zeroizing<String>>,
}

/// OKMS' `ErrorResponse`: `{error_id, error_code, errors[], request_id}`.
fn describe_error(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let errors = v
                .get("errors")
                .and_then(|e| e.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("; "));
            let request = v.get("request_id").and_then(|r| r.as_str());
            let code = v.get("error_code").and_then(|c| c.as_i64());
            let mut s = errors.filter(|e| !e.is_empty()).unwrap_or_else(|| first_line(body));
            if let Some(c) = code {
                s.push_str(&format!(" (error_code {c})"));
            }
            if let Some(r) = request {
                s.push_str(&format!(" [request_id {r}]"));
            }
            s
        }
        Err(_) => first_line(body),
    }
}

impl Okms {
    /// A client with `config`.
    pub fn new(config: Config) -> Result<Okms, KmsError> {
        Ok(Okms { http: Client::new(config.settings)?, token: config.token })
    }

    /// A client configured from the environment.
    pub fn from_env() -> Result<Okms, KmsError> {
        Okms::new(Config::from_env()?)
    }

    fn call(&self, key: &OkmsKey, op: &str, body: Value) -> Result<Value, KmsError> {
        let url = format!("{}/{op}", key.uri());
        let auth;
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(t) = &self.token {
            auth = Zeroizing::new(format!("Bearer {}", t.as_str()));
            headers.push(("Authorization", auth.as_str()));
        }
        let reply = self.http.send_json("POST", &url, &headers, &body, |_| false).map_err(|e| match e {
            KmsError::Server { status, attempts, why, .. } => {
                KmsError::Server { service: "OVHcloud KMS", status, attempts, why: describe_error(&why) }
            }
            other => other,
        })?;
        match reply.status {
            200 | 201 => serde_json::from_str(&reply.body)
                .map_err(|e| KmsError::Protocol { service: "OVHcloud KMS", why: e.to_string() }),
            401 | 403 => Err(KmsError::Denied {
                service: "OVHcloud KMS",
                status: reply.status,
                why: format!(
                    "{} (check the access certificate or token and its IAM policy for {op})",
                    describe_error(&reply.body)
                ),
            }),
            404 => Err(KmsError::NotFound {
                service: "OVHcloud KMS",
                status: 404,
                why: format!("{}: {}", key.uri(), describe_error(&reply.body)),
            }),
            s => Err(KmsError::Rejected { service: "OVHcloud KMS", status: s, why: describe_error(&reply.body) }),
        }
    }

    /// Encrypt `payload` with the service key: the JWE compact string OKMS returns.
    pub fn encrypt(&self, key: &OkmsKey, payload: &[u8]) -> Result<String, KmsError> {
        let v = self.call(key, "encrypt", json!({ "plaintext": B64.encode(payload) }))?;
        v.get("ciphertext")
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .ok_or_else(|| KmsError::Protocol { service: "OVHcloud KMS", why: "response has no ciphertext".into() })
    }

    /// Decrypt a ciphertext `encrypt` returned.
    pub fn decrypt(&self, key: &OkmsKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let v = self.call(key, "decrypt", json!({ "ciphertext": ciphertext }))?;
        crate::answer::plaintext(&v, "OVHcloud KMS", "plaintext")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_okms_uris() {
        let k = OkmsKey::parse_uri("https://eu-west-par.okms.ovh.net/api/0b2e7c4a-1111-2222-3333-444455556666/v1/servicekey/9f1d2c3b-aaaa-bbbb-cccc-ddddeeeeffff").unwrap();
        assert_eq!(k.endpoint, "https://eu-west-par.okms.ovh.net");
        assert_eq!(k.okms_id, "0b2e7c4a-1111-2222-3333-444455556666");
        assert_eq!(k.key_id, "9f1d2c3b-aaaa-bbbb-cccc-ddddeeeeffff");
        assert!(OkmsKey::parse_uri("https://x/v1/servicekey/k").is_err());
    }
}
