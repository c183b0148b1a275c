//! OpenBao / HashiCorp Vault transit, wire-compatible with sops' `hc_vault` key source:
//! `PUT {address}/v1/{engine}/encrypt/{key}` with `{"plaintext": b64}`, ciphertext stored
//! verbatim (`vault:v1:…`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::http::{env_first as env, first_line, Client, Reply, Settings};

/// Transit accepts at most ~1000 JSON strings per request; each batch item costs two.
pub const MAX_BATCH: usize = 499;

/// An OpenBao/Vault transit key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaultKey {
    /// `scheme://host[:port]`, no path.
    pub address: String,
    /// The transit mount, which may contain `/`.
    pub engine_path: String,
    /// The key's name in the mount.
    pub key_name: String,
}

impl VaultKey {
    /// Parse `https://host:8200/v1/<engine...>/keys/<name>` as sops does.
    pub fn parse_uri(uri: &str) -> Result<VaultKey, KmsError> {
        let bad = |why: &str| KmsError::BadUri { uri: uri.into(), why: why.into() };
        let (scheme, rest) =
            uri.split_once("://").ok_or_else(|| bad("expected http(s)://host:port/v1/<engine>/keys/<name>"))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("missing /v1/<engine>/keys/<name>"))?;
        let path = path.trim_end_matches('/');
        let path = path
            .strip_prefix("v1/")
            .ok_or_else(|| bad("the path must start with /v1/ (prefixed URLs are not supported)"))?;
        let (engine, name) = path.rsplit_once("/keys/").ok_or_else(|| bad("the path must end in /keys/<name>"))?;
        if engine.is_empty() || name.is_empty() || name.contains('/') || host.is_empty() {
            return Err(bad("expected /v1/<engine>/keys/<name>"));
        }
        Ok(VaultKey { address: format!("{scheme}://{host}"), engine_path: engine.into(), key_name: name.into() })
    }

    /// The key's URI, as `.sops.yaml` and `--hc-vault-transit` take it.
    pub fn uri(&self) -> String {
        format!("{}/v1/{}/keys/{}", self.address, self.engine_path, self.key_name)
    }
}

/// Token and namespace, from the same places the Vault/OpenBao CLIs look.
#[derive(Clone, Default)]
pub struct Auth {
    /// The token (`VAULT_TOKEN`, `BAO_TOKEN` or the CLI's token file).
    pub token: Option<Zeroizing<String>>,
    /// The namespace (`VAULT_NAMESPACE`, `BAO_NAMESPACE`), for Enterprise/OpenBao namespaces.
    pub namespace: Option<String>,
}

impl Auth {
    /// Token and namespace from the environment, as the Vault and OpenBao CLIs find them.
    pub fn from_env() -> Auth {
        let token = env(&["VAULT_TOKEN", "BAO_TOKEN"]).or_else(|| {
            let home = std::env::var_os("HOME")?;
            let t = std::fs::read_to_string(std::path::Path::new(&home).join(".vault-token")).ok()?;
            Some(t.trim().to_string()).filter(|t| !t.is_empty())
        });
        Auth { token: token.map(Zeroizing::new), namespace: env(&["VAULT_NAMESPACE", "BAO_NAMESPACE"]) }
    }
}

/// TLS/timeout/retry settings from `VAULT_*` (or `BAO_*`) variables.
pub fn settings_from_env() -> Settings {
    Settings {
        ca_file: env(&["VAULT_CACERT", "BAO_CACERT"]),
        client_cert: env(&["VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"]).zip(env(&["VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"])),
        ..Settings::default()
    }
    .with_env(&["VAULT_CLIENT_TIMEOUT", "BAO_CLIENT_TIMEOUT"], &["VAULT_MAX_RETRIES", "BAO_MAX_RETRIES"])
}

/// A client of the transit secrets engine.
pub struct Transit {
    http: Client,
    auth: Auth,
}

fn sealed(r: &Reply) -> bool {
    r.status == 503 && r.body.contains("sealed")
}

fn errors_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors")
                .and_then(|e| e.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("; "))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| first_line(body))
}

impl Transit {
    /// A client with these settings and credentials.
    pub fn new(settings: Settings, auth: Auth) -> Result<Transit, KmsError> {
        Ok(Transit { http: Client::new(settings)?, auth })
    }

    /// A client configured from the environment (`VAULT_*`/`BAO_*`).
    pub fn from_env() -> Result<Transit, KmsError> {
        Transit::new(settings_from_env(), Auth::from_env())
    }

    fn call(&self, key: &VaultKey, op: &str, body: Value) -> Result<Value, KmsError> {
        let url = format!("{}/v1/{}/{op}/{}", key.address, key.engine_path, key.key_name);
        let mut headers: Vec<(&str, &str)> = vec![("X-Vault-Request", "true")];
        if let Some(t) = &self.auth.token {
            headers.push(("X-Vault-Token", t.as_str()));
        }
        if let Some(ns) = &self.auth.namespace {
            headers.push(("X-Vault-Namespace", ns.as_str()));
        }
        let reply = self.http.send_json("PUT", &url, &headers, &body, sealed).map_err(|e| match e {
            KmsError::Server { status, attempts, why, .. } => {
                KmsError::Server { service: "OpenBao/Vault", status, attempts, why }
            }
            other => other,
        })?;
        match reply.status {
            200 | 204 => serde_json::from_str(&reply.body)
                .map_err(|e| KmsError::Protocol { service: "OpenBao/Vault", why: e.to_string() }),
            503 if sealed(&reply) => Err(KmsError::Sealed { service: "OpenBao/Vault", url: key.address.clone() }),
            401 | 403 => Err(KmsError::Denied {
                service: "OpenBao/Vault",
                status: reply.status,
                why: format!(
                    "{} (is VAULT_TOKEN/BAO_TOKEN set, valid, and allowed to {op} with {}?)",
                    errors_of(&reply.body),
                    key.uri()
                ),
            }),
            404 => Err(KmsError::NotFound {
                service: "OpenBao/Vault",
                status: 404,
                why: format!("{}: {}", key.uri(), errors_of(&reply.body)),
            }),
            s => Err(KmsError::Rejected { service: "OpenBao/Vault", status: s, why: errors_of(&reply.body) }),
        }
    }

    /// Wrap each payload; one request per [`MAX_BATCH`] items.
    pub fn encrypt(&self, key: &VaultKey, payloads: &[&[u8]]) -> Result<Vec<String>, KmsError> {
        let mut out = Vec::with_capacity(payloads.len());
        if payloads.len() == 1 {
            let v = self.call(key, "encrypt", json!({ "plaintext": B64.encode(payloads[0]) }))?;
            out.push(field(&v, "ciphertext")?);
            return Ok(out);
        }
        for chunk in payloads.chunks(MAX_BATCH) {
            let items: Vec<Value> = chunk.iter().map(|p| json!({ "plaintext": B64.encode(p) })).collect();
            let v = self.call(key, "encrypt", json!({ "batch_input": items }))?;
            for r in batch_results(&v, chunk.len())? {
                out.push(field(r, "ciphertext")?);
            }
        }
        Ok(out)
    }

    /// Unwrap each ciphertext; one request per [`MAX_BATCH`] items.
    pub fn decrypt(&self, key: &VaultKey, ciphertexts: &[&str]) -> Result<Vec<Zeroizing<Vec<u8>>>, KmsError> {
        let mut out = Vec::with_capacity(ciphertexts.len());
        let decode = |s: String| {
            let s = Zeroizing::new(s);
            B64.decode(s.as_bytes())
                .map(Zeroizing::new)
                .map_err(|e| KmsError::Protocol { service: "OpenBao/Vault", why: e.to_string() })
        };
        if ciphertexts.len() == 1 {
            let v = self.call(key, "decrypt", json!({ "ciphertext": ciphertexts[0] }))?;
            out.push(decode(field(&v, "plaintext")?)?);
            return Ok(out);
        }
        for chunk in ciphertexts.chunks(MAX_BATCH) {
            let items: Vec<Value> = chunk.iter().map(|c| json!({ "ciphertext": c })).collect();
            let v = self.call(key, "decrypt", json!({ "batch_input": items }))?;
            for r in batch_results(&v, chunk.len())? {
                out.push(decode(field(r, "plaintext")?)?);
            }
        }
        Ok(out)
    }
}

fn field(v: &Value, name: &str) -> Result<String, KmsError> {
    let data = v.get("data").unwrap_or(v);
    if let Some(e) = data.get("error").and_then(|e| e.as_str()).filter(|e| !e.is_empty()) {
        return Err(KmsError::Rejected { service: "OpenBao/Vault", status: 400, why: e.to_string() });
    }
    data.get(name)
        .and_then(|c| c.as_str())
        .map(str::to_string)
        .ok_or_else(|| KmsError::Protocol { service: "OpenBao/Vault", why: format!("response has no {name}") })
}

fn batch_results(v: &Value, expected: usize) -> Result<&Vec<Value>, KmsError> {
    let r =
        v.get("data").and_then(|d| d.get("batch_results")).and_then(|b| b.as_array()).ok_or_else(|| {
            KmsError::Protocol { service: "OpenBao/Vault", why: "response has no batch_results".into() }
        })?;
    if r.len() != expected {
        return Err(KmsError::Protocol {
            service: "OpenBao/Vault",
            why: format!("{} results for {expected} items", r.len()),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_uris_like_sops() {
        let k = VaultKey::parse_uri("https://bao.example:8200/v1/team/transit/keys/app").unwrap();
        assert_eq!(k.address, "https://bao.example:8200");
        assert_eq!(k.engine_path, "team/transit");
        assert_eq!(k.key_name, "app");
        assert_eq!(k.uri(), "https://bao.example:8200/v1/team/transit/keys/app");
        assert!(VaultKey::parse_uri("https://h/prefix/v1/transit/keys/k").is_err());
        assert!(VaultKey::parse_uri("https://h/v1/transit/k").is_err());
    }
}
