//! Huawei Cloud KMS (DEW) and Open Telekom Cloud KMS, which runs the same API on its own
//! endpoints, as sops ≥ 3.12 writes them (`hckms` entries: `key_id` = `region:key-uuid`,
//! `created_at`, `enc`). Per the KMS API reference: `POST {endpoint}/v1.0/{project_id}/kms/
//! encrypt-data` with `{"key_id", "plain_text", "encryption_algorithm": "SYMMETRIC_DEFAULT"}`
//! → `{"key_id", "cipher_text"}`, and `/decrypt-data` with `{"cipher_text", "key_id",
//! "encryption_algorithm"}` → `{"key_id", "plain_text"}`; the plaintext is the data key in
//! base64, as sops sends it. Requests are signed with an access key pair (AK/SK,
//! `SDK-HMAC-SHA256`, the API Gateway's signing scheme). Errors are `{"error": {"error_code",
//! "error_msg"}}`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::hmac;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::http::{env_first, first_line, Client, Settings};

const SERVICE: &str = "Huawei Cloud KMS";

/// Open Telekom Cloud's regions (T-Systems, Germany): same API, own endpoints, which
/// sops' Huawei SDK region table does not list.
pub const OTC_REGIONS: [&str; 2] = ["eu-de", "eu-nl"];

/// A key as sops names it: `region:key-uuid`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HcKey {
    /// `eu-west-101`, `ap-southeast-1`, `eu-de` (Open Telekom Cloud), …
    pub region: String,
    /// The key's UUID.
    pub key_uuid: String,
}

impl HcKey {
    /// Parse `region:key-uuid`, as sops' `--hckms` and `.sops.yaml` `hckms` take it.
    pub fn parse(id: &str) -> Result<HcKey, KmsError> {
        let bad = |why: &str| KmsError::BadUri { uri: id.into(), why: why.into() };
        let (region, uuid) = id.trim().split_once(':').ok_or_else(|| bad("expected region:key-uuid"))?;
        let (region, uuid) = (region.trim(), uuid.trim());
        let name_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok(region) || !name_ok(uuid) {
            return Err(bad("expected region:key-uuid (letters, digits and dashes)"));
        }
        Ok(HcKey { region: region.into(), key_uuid: uuid.into() })
    }

    /// `region:key-uuid`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.region, self.key_uuid)
    }

    /// Is this an Open Telekom Cloud region?
    pub fn is_otc(&self) -> bool {
        OTC_REGIONS.contains(&self.region.as_str())
    }

    /// The KMS endpoint of the key's region: Open Telekom Cloud's for `eu-de`/`eu-nl`,
    /// Huawei Cloud's otherwise; `HCKMS_ENDPOINT` overrides both (a private or test
    /// endpoint).
    pub fn endpoint(&self) -> String {
        if let Some(e) = env_first(&["HCKMS_ENDPOINT"]) {
            return e.trim_end_matches('/').to_string();
        }
        if self.is_otc() {
            format!("https://kms.{}.otc.t-systems.com", self.region)
        } else {
            format!("https://kms.{}.myhuaweicloud.com", self.region)
        }
    }
}

/// Credentials and settings, from the variables Huawei Cloud's SDKs read:
/// `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`, `HUAWEICLOUD_SDK_PROJECT_ID` (the project of
/// the key's region; tresor does not ask IAM for it), and tresor's `HCKMS_TIMEOUT` (seconds)
/// and `HCKMS_RETRIES`.
pub struct Config {
    /// Timeouts and retries.
    pub settings: Settings,
    access_key: String,
    secret_key: Zeroizing<String>,
    project_id: String,
}

impl Config {
    /// The settings from the environment.
    pub fn from_env() -> Result<Config, KmsError> {
        let missing = |v: &str| {
            KmsError::Config(format!(
                "no Huawei Cloud credentials: set HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_PROJECT_ID ({v} is missing)"
            ))
        };
        let access_key = env_first(&["HUAWEICLOUD_SDK_AK"]).ok_or_else(|| missing("HUAWEICLOUD_SDK_AK"))?;
        let secret_key =
            env_first(&["HUAWEICLOUD_SDK_SK"]).map(Zeroizing::new).ok_or_else(|| missing("HUAWEICLOUD_SDK_SK"))?;
        let project_id =
            env_first(&["HUAWEICLOUD_SDK_PROJECT_ID"]).ok_or_else(|| missing("HUAWEICLOUD_SDK_PROJECT_ID"))?;
        let settings = Settings::default().with_env(&["HCKMS_TIMEOUT"], &["HCKMS_RETRIES"]);
        Ok(Config { settings, access_key, secret_key, project_id })
    }
}

/// A client of the KMS API.
pub struct HuaweiKms {
    http: Client,
    config: Config,
}

/// `{"error": {"error_code", "error_msg"}}` (or the flat form some gateways answer with).
fn describe_error(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return first_line(body) };
    let e = v.get("error").unwrap_or(&v);
    let s = |k: &str| e.get(k).and_then(Value::as_str);
    match (s("error_msg"), s("error_code")) {
        (Some(m), Some(c)) => format!("{m} ({c})"),
        (Some(m), None) => m.to_string(),
        _ => first_line(body),
    }
}

/// The API Gateway's `SDK-HMAC-SHA256` signature of a request: the canonical request
/// (method, path with a trailing `/`, query, the signed headers lower-cased and sorted, the
/// body's SHA-256), hashed into the string to sign with the `X-Sdk-Date`, signed with the
/// secret key. Returns the `Authorization` header's value.
pub fn sign(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    date: &str,
    access_key: &str,
    secret_key: &str,
) -> String {
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let sha256 = |d: &[u8]| hex(ring::digest::digest(&ring::digest::SHA256, d).as_ref());
    let mut h: Vec<(String, String)> =
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
    h.sort();
    let signed: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
    let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let uri = if path.ends_with('/') { path.to_string() } else { format!("{path}/") };
    let canonical = format!("{method}\n{uri}\n\n{canonical_headers}\n{}\n{}", signed.join(";"), sha256(body));
    let to_sign = format!("SDK-HMAC-SHA256\n{date}\n{}", sha256(canonical.as_bytes()));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret_key.as_bytes());
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    format!("SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={}, Signature={signature}", signed.join(";"))
}

impl HuaweiKms {
    /// A client with `config`.
    pub fn new(config: Config) -> Result<HuaweiKms, KmsError> {
        Ok(HuaweiKms { http: Client::new(config.settings.clone())?, config })
    }

    /// A client configured from the environment.
    pub fn from_env() -> Result<HuaweiKms, KmsError> {
        HuaweiKms::new(Config::from_env()?)
    }

    fn call(&self, key: &HcKey, op: &str, body: Value) -> Result<Value, KmsError> {
        let endpoint = key.endpoint();
        let path = format!("/v1.0/{}/kms/{op}", self.config.project_id);
        let host = endpoint.split_once("://").map_or(endpoint.as_str(), |(_, h)| h).to_string();
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .unwrap_or_default();
        let payload = serde_json::to_vec(&body).expect("JSON");
        // The headers the gateway needs signed; not Content-Type, whose exact value the HTTP
        // library chooses.
        let signed_headers =
            [("Host", host.as_str()), ("X-Project-Id", self.config.project_id.as_str()), ("X-Sdk-Date", date.as_str())];
        let auth =
            sign("POST", &path, &signed_headers, &payload, &date, &self.config.access_key, &self.config.secret_key);
        let headers = [
            ("X-Project-Id", self.config.project_id.as_str()),
            ("X-Sdk-Date", date.as_str()),
            ("Authorization", auth.as_str()),
        ];
        let reply = self.http.send_json("POST", &format!("{endpoint}{path}"), &headers, &body, |_| false).map_err(
            |e| match e {
                KmsError::Server { status, attempts, why, .. } => {
                    KmsError::Server { service: SERVICE, status, attempts, why: describe_error(&why) }
                }
                other => other,
            },
        )?;
        let why = || describe_error(&reply.body);
        match reply.status {
            200 => serde_json::from_str(&reply.body)
                .map_err(|e| KmsError::Protocol { service: SERVICE, why: e.to_string() }),
            401 | 403 => Err(KmsError::Denied {
                service: SERVICE,
                status: reply.status,
                why: format!(
                    "{} (check HUAWEICLOUD_SDK_AK/SK and that HUAWEICLOUD_SDK_PROJECT_ID is the project of region {})",
                    why(),
                    key.region
                ),
            }),
            404 => Err(KmsError::NotFound {
                service: SERVICE,
                status: 404,
                why: format!("{}: {} (is the key in region {}?)", key.id(), why(), key.region),
            }),
            s => Err(KmsError::Rejected { service: SERVICE, status: s, why: why() }),
        }
    }

    /// Encrypt `payload` (a data key or a Shamir share) as sops does: the base64 of the
    /// payload as `plain_text`; returns the `cipher_text`.
    pub fn encrypt(&self, key: &HcKey, payload: &[u8]) -> Result<String, KmsError> {
        let plain = Zeroizing::new(B64.encode(payload));
        let body = json!({ "key_id": key.key_uuid, "plain_text": plain.as_str(), "encryption_algorithm": "SYMMETRIC_DEFAULT" });
        let v = self.call(key, "encrypt-data", body)?;
        crate::answer::ciphertext(&v, SERVICE, "cipher_text")
    }

    /// Decrypt a `cipher_text`.
    pub fn decrypt(&self, key: &HcKey, cipher_text: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let body =
            json!({ "cipher_text": cipher_text, "key_id": key.key_uuid, "encryption_algorithm": "SYMMETRIC_DEFAULT" });
        let v = self.call(key, "decrypt-data", body)?;
        crate::answer::plaintext(&v, SERVICE, "plain_text")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_and_endpoints() {
        let k = HcKey::parse("eu-west-101:0d0466b0-e727-4d9c-b35d-f84bb474a37f").unwrap();
        assert_eq!(k.id(), "eu-west-101:0d0466b0-e727-4d9c-b35d-f84bb474a37f");
        assert!(!k.is_otc());
        let otc = HcKey::parse("eu-de:0d0466b0-e727-4d9c-b35d-f84bb474a37f").unwrap();
        assert!(otc.is_otc());
        if std::env::var_os("HCKMS_ENDPOINT").is_none() {
            assert_eq!(k.endpoint(), "https://kms.eu-west-101.myhuaweicloud.com");
            assert_eq!(otc.endpoint(), "https://kms.eu-de.otc.t-systems.com");
        }
        for bad in ["no-colon", ":uuid", "region:", "re gion:uuid", "eu-de:../x"] {
            assert!(HcKey::parse(bad).is_err(), "{bad}");
        }
    }

    /// The signature depends on every signed part: method, path, each header, the body.
    #[test]
    fn signatures_cover_the_request() {
        let h = [("Host", "kms.eu-de.otc.t-systems.com"), ("X-Sdk-Date", "20261207T120000Z")];
        let base = sign("POST", "/v1.0/p/kms/encrypt-data", &h, b"{}", "20261207T120000Z", "AK", "SK");
        assert!(base.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature="), "{base}");
        assert_ne!(base, sign("POST", "/v1.0/p/kms/decrypt-data", &h, b"{}", "20261207T120000Z", "AK", "SK"));
        assert_ne!(base, sign("POST", "/v1.0/p/kms/encrypt-data", &h, b"{ }", "20261207T120000Z", "AK", "SK"));
        assert_ne!(base, sign("POST", "/v1.0/p/kms/encrypt-data", &h, b"{}", "20261207T120000Z", "AK", "SK2"));
        assert_eq!(base, sign("POST", "/v1.0/p/kms/encrypt-data/", &h, b"{}", "20261207T120000Z", "AK", "SK"));
    }
}
