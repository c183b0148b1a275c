//! An OVHcloud KMS emulator for tests, following `okms-openapi.yaml` (v2.14):
//! `POST /api/{okmsId}/v1/servicekey/{keyId}/encrypt|decrypt`, JSON bodies with
//! `additionalProperties: false`, base64 plaintexts, JWE-shaped ciphertexts, and
//! `ErrorResponse {error_id, error_code, errors, request_id}` on failures. It serves
//! HTTPS with a test CA and verifies client certificates (mTLS), or accepts a bearer
//! token. Scripted faults (429, 5xx, delays) exercise the client's retry policy.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde_json::{json, Value};

use crate::common::http::{read_request, write_json};

pub enum Fault {
    Status(u16),
    Delay(Duration),
}

#[derive(Default)]
pub struct State {
    /// keyId → (AES key, operations allowed)
    keys: HashMap<String, [u8; 32]>,
    pub faults: VecDeque<Fault>,
    /// (path, authenticated by) for each request served.
    pub log: Vec<(String, String)>,
    /// Bearer tokens: token → may encrypt?
    tokens: HashMap<String, bool>,
}

pub struct Emulator {
    pub endpoint: String,
    pub okms_id: String,
    pub dir: tempfile::TempDir,
    pub state: Arc<Mutex<State>>,
}

pub struct Pki {
    pub ca_pem: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

fn make_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "tresor test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut sp = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    sp.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = sp.signed_by(&server_key, &ca, &ca_key).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name.push(DnType::CommonName, "tresor-ci");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = cp.signed_by(&client_key, &ca, &ca_key).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
    }
}

fn pem_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).map(|c| c.unwrap()).collect()
}

impl Emulator {
    /// Start on a free loopback port. Writes `ca.pem`, `client.pem`, `client.key` into
    /// `dir` for the client under test, and `other-client.*` signed by an unrelated CA.
    pub fn start(key_ids: &[&str]) -> Emulator {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pki = make_pki();
        let stranger = make_pki();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("client.pem"), &pki.client_cert).unwrap();
        std::fs::write(dir.path().join("client.key"), &pki.client_key).unwrap();
        std::fs::write(dir.path().join("other-client.pem"), &stranger.client_cert).unwrap();
        std::fs::write(dir.path().join("other-client.key"), &stranger.client_key).unwrap();

        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(&pki.ca_pem) {
            roots.add(c).unwrap();
        }
        // Client certificates are optional at the TLS layer (bearer tokens need none), but
        // any certificate presented must chain to the test CA.
        let verifier =
            rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).allow_unauthenticated().build().unwrap();
        use rustls::pki_types::pem::PemObject;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_client_cert_verifier(verifier)
                .with_single_cert(pem_certs(&pki.server_cert), key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let okms_id = "7f1c2e3d-0000-4000-8000-00000000beef".to_string();
        let mut st = State::default();
        for (i, k) in key_ids.iter().enumerate() {
            let mut key = [0u8; 32];
            key[0] = i as u8 + 1;
            key[31] = 0x5a;
            st.keys.insert(k.to_string(), key);
        }
        st.tokens.insert("pat-full".into(), true);
        st.tokens.insert("pat-readonly".into(), false);
        let state = Arc::new(Mutex::new(st));
        let (s2, id2) = (state.clone(), okms_id.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                let (config, state, id) = (config.clone(), s2.clone(), id2.clone());
                std::thread::spawn(move || serve(tcp, config, state, &id));
            }
        });
        Emulator { endpoint: format!("https://127.0.0.1:{port}"), okms_id, dir, state }
    }

    pub fn key_uri(&self, key_id: &str) -> String {
        format!("{}/api/{}/v1/servicekey/{key_id}", self.endpoint, self.okms_id)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn push_fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }
}

/// `ErrorResponse` with an `error_code` in OKMS' bit layout (major REST=3, minor
/// ServicekeysApi=3, category in bits 12–15).
fn error(status: u16, category: u32, msg: &str) -> (u16, Value) {
    let code = (3u32 << 24) | (3 << 16) | (category << 12) | 1;
    (
        status,
        json!({ "error_id": format!("E{status}"), "error_code": code, "errors": [msg], "request_id": "79b66eba-273e-4f7a-b954-78ed7e70b85d" }),
    )
}

fn serve(tcp: std::net::TcpStream, config: Arc<rustls::ServerConfig>, state: Arc<Mutex<State>>, okms_id: &str) {
    let conn = match rustls::ServerConnection::new(config) {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // None: the handshake failed (e.g. a certificate from another CA).
    let Some(req) = read_request(&mut BufReader::new(&mut tls)) else { return };
    let has_cert = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
    let token = req.headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string);
    let (status, reply) = handle(&state, okms_id, &req.method, &req.path, has_cert, token.as_deref(), &req.body);
    write_json(&mut tls, status, &reply);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn handle(
    state: &Mutex<State>,
    okms_id: &str,
    method: &str,
    path: &str,
    has_cert: bool,
    token: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let fault = {
        let mut st = state.lock().unwrap();
        st.log.push((path.to_string(), if has_cert { "mtls".into() } else { token.unwrap_or("none").into() }));
        st.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(s)) => return error(s, if s == 429 { 9 } else { 1 }, "injected fault"),
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        None => {}
    }
    // Authentication: a verified client certificate, or a known bearer token.
    let may_encrypt = match (has_cert, token) {
        (true, _) => true,
        (false, Some(t)) => match state.lock().unwrap().tokens.get(t) {
            Some(w) => *w,
            None => return error(401, 3, "invalid token"),
        },
        (false, None) => return error(401, 3, "missing credentials: access certificate or bearer token required"),
    };
    let Some(rest) = path.strip_prefix(&format!("/api/{okms_id}/v1/servicekey/")) else {
        return error(404, 5, "no such route or OKMS domain");
    };
    let (key_id, op) = rest.split_once('/').unwrap_or((rest, ""));
    if method != "POST" || !(op == "encrypt" || op == "decrypt") {
        return error(404, 5, "no such route");
    }
    let Some(key) = state.lock().unwrap().keys.get(key_id).copied() else {
        return error(404, 5, &format!("service key {key_id} not found"));
    };
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return error(400, 8, "request body is not a JSON object");
    };
    let allowed: &[&str] = if op == "encrypt" { &["plaintext", "context"] } else { &["ciphertext", "context"] };
    if let Some(extra) = req.keys().find(|k| !allowed.contains(&k.as_str())) {
        return error(400, 8, &format!("unknown field {extra}"));
    }
    let context = req.get("context").and_then(|c| c.as_str()).unwrap_or("");
    if context.chars().count() > 64 {
        return error(400, 8, "context longer than 64 characters");
    }
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    if op == "encrypt" {
        if !may_encrypt {
            return error(403, 4, "IAM policy denies okms:apikms:serviceKey/encrypt");
        }
        let Some(p) = req.get("plaintext").and_then(|p| p.as_str()).filter(|p| !p.is_empty() && p.len() <= 5464) else {
            return error(400, 8, "plaintext is required (base64, at most 4096 bytes)");
        };
        let Ok(plain) = B64.decode(p) else { return error(400, 8, "plaintext is not valid base64") };
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(
            &(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64)
                .to_le_bytes(),
        );
        let ct = cipher
            .encrypt(Nonce::from_slice(&iv), aes_gcm::aead::Payload { msg: &plain, aad: context.as_bytes() })
            .unwrap();
        let header = B64URL.encode(json!({ "alg": "dir", "enc": "A256GCM", "kid": key_id }).to_string());
        let (data, tag) = ct.split_at(ct.len() - 16);
        let jwe = format!("{header}..{}.{}.{}", B64URL.encode(iv), B64URL.encode(data), B64URL.encode(tag));
        (200, json!({ "ciphertext": jwe }))
    } else {
        let Some(c) = req.get("ciphertext").and_then(|c| c.as_str()) else {
            return error(400, 8, "ciphertext is required");
        };
        let parts: Vec<&str> = c.split('.').collect();
        if parts.len() != 5 {
            return error(400, 8, "ciphertext is not a JWE compact token");
        }
        let dec = |s: &str| B64URL.decode(s).unwrap_or_default();
        let (iv, mut data, tag) = (dec(parts[2]), dec(parts[3]), dec(parts[4]));
        data.extend_from_slice(&tag);
        if iv.len() != 12 {
            return error(400, 8, "bad JWE IV");
        }
        match cipher.decrypt(Nonce::from_slice(&iv), aes_gcm::aead::Payload { msg: &data, aad: context.as_bytes() }) {
            Ok(p) => (200, json!({ "plaintext": B64.encode(p) })),
            Err(_) => error(400, 8, "decryption failed: wrong key or corrupted ciphertext"),
        }
    }
}
