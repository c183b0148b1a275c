//! A Huawei Cloud / Open Telekom Cloud KMS test server, written from the KMS API reference
//! (https://support.huaweicloud.com/intl/en-us/api-dew/dew_02_0001.html; Open Telekom
//! Cloud: https://docs.otc.t-systems.com/key-management-service/api-ref/) and the API
//! Gateway's AK/SK signing guide: `POST /v1.0/{project_id}/kms/encrypt-data|decrypt-data`,
//! every request's `SDK-HMAC-SHA256` signature checked against the secret key of its access
//! key (over the headers it names, the path and the body), `X-Project-Id` matching the path,
//! and errors as `{"error": {"error_code", "error_msg"}}` (APIGW.0301 for a bad signature,
//! KMS.* for the service's own). Plain HTTP on loopback.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::http::{read_request, write_json};

pub const AK: &str = "HPUAEXAMPLEACCESSKEY";
pub const SK: &str = "example-secret-key-of-the-test-server";
pub const PROJECT: &str = "0b7a2c5e9f1d4e3a8b6c0d2e4f6a8b0c";

#[derive(Default)]
pub struct State {
    keys: HashMap<String, ([u8; 32], bool)>,
    pub log: Vec<String>,
}

pub struct Emulator {
    pub endpoint: String,
    pub state: Arc<Mutex<State>>,
}

impl Emulator {
    pub fn start(keys: &[&str]) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut st = State::default();
        for (i, k) in keys.iter().enumerate() {
            let mut key = [0x7eu8; 32];
            key[0] = i as u8 + 1;
            st.keys.insert(k.to_string(), (key, true));
        }
        let state = Arc::new(Mutex::new(st));
        let s2 = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut tcp) = conn else { continue };
                let state = s2.clone();
                std::thread::spawn(move || {
                    let Some(req) = read_request(&mut BufReader::new(&mut tcp)) else { return };
                    let (status, reply) = handle(&state, &req);
                    write_json(&mut tcp, status, &reply);
                });
            }
        });
        Emulator { endpoint: format!("http://127.0.0.1:{port}"), state }
    }

    pub fn disable(&self, key: &str) {
        if let Some(k) = self.state.lock().unwrap().keys.get_mut(key) {
            k.1 = false;
        }
    }
}

fn err(status: u16, code: &str, msg: &str) -> (u16, Value) {
    (status, json!({ "error": { "error_code": code, "error_msg": msg } }))
}

/// The signing guide's check: recompute the signature over the headers the request names.
fn signature_ok(req: &crate::common::http::Request) -> bool {
    let Some(auth) = req.headers.get("authorization") else { return false };
    let Some(rest) = auth.strip_prefix("SDK-HMAC-SHA256 ") else { return false };
    let field =
        |name: &str| rest.split(", ").find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap_or("").to_string();
    if field("Access") != AK {
        return false;
    }
    let signed = field("SignedHeaders");
    let names: Vec<&str> = signed.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-sdk-date") {
        return false;
    }
    let headers: Vec<(&str, &str)> =
        names.iter().filter_map(|n| req.headers.get(*n).map(|v| (*n, v.as_str()))).collect();
    if headers.len() != names.len() {
        return false;
    }
    let date = req.headers.get("x-sdk-date").map(String::as_str).unwrap_or("");
    let expected = tresor_kms::huawei::sign(&req.method, &req.path, &headers, &req.body, date, AK, SK);
    expected == *auth
}

fn handle(state: &Mutex<State>, req: &crate::common::http::Request) -> (u16, Value) {
    state.lock().unwrap().log.push(req.path.clone());
    if !signature_ok(req) {
        return err(401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail");
    }
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let ["v1.0", project, "kms", op] = segs[..] else { return err(404, "APIGW.0101", "The API does not exist") };
    if req.method != "POST" || !(op == "encrypt-data" || op == "decrypt-data") {
        return err(404, "APIGW.0101", "The API does not exist");
    }
    if project != PROJECT || req.headers.get("x-project-id").map(String::as_str) != Some(project) {
        return err(403, "KMS.0203", "The project is not authorized or does not match X-Project-Id");
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return err(400, "KMS.0201", "Invalid request body");
    };
    let key_id = body.get("key_id").and_then(Value::as_str).unwrap_or("");
    let Some((key, enabled)) = state.lock().unwrap().keys.get(key_id).copied() else {
        return err(404, "KMS.0205", "The key does not exist");
    };
    if !enabled {
        return err(400, "KMS.0207", "The key is disabled");
    }
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    if op == "encrypt-data" {
        let Some(plain) = body.get("plain_text").and_then(Value::as_str) else {
            return err(400, "KMS.0201", "plain_text is required");
        };
        let nonce = [9u8; 12];
        let mut blob = nonce.to_vec();
        blob.extend(cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).unwrap());
        (200, json!({ "key_id": key_id, "cipher_text": B64.encode(blob) }))
    } else {
        let Some(Ok(blob)) = body.get("cipher_text").and_then(Value::as_str).map(|c| B64.decode(c)) else {
            return err(400, "KMS.0201", "cipher_text is invalid");
        };
        match (blob.len() > 12).then(|| cipher.decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])) {
            Some(Ok(p)) => (200, json!({ "key_id": key_id, "plain_text": String::from_utf8_lossy(&p) })),
            _ => err(400, "KMS.0206", "Failed to decrypt the data"),
        }
    }
}
