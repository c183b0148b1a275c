//! A STACKIT KMS test server, written from the KMS API reference (v1,
//! https://docs.api.stackit.cloud/documentation/kms/version/v1, and STACKIT's generated SDK
//! models): `POST /v1/projects/{projectId}/regions/{regionId}/keyrings/{keyRingId}/keys/
//! {keyId}/versions/{versionNumber}/encrypt|decrypt` with `{"data": b64}` → `{"data": b64}`,
//! `Authorization: Bearer` service-account tokens, and `HttpError {"message"}` with the
//! statuses the reference declares (400, 401, 404, 409, 500, 503). Plain HTTP on loopback.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::http::{read_request, write_json};

pub const PROJECT: &str = "5a2f0c7e-0000-4000-8000-00000000cafe";
pub const KEYRING: &str = "7b1e9d2c-0000-4000-8000-00000000f00d";
pub const TOKEN: &str = "stackit-access-token";

#[derive(Default)]
pub struct State {
    /// (region, key id, version) → (AES key, enabled)
    versions: HashMap<(String, String, u64), ([u8; 32], bool)>,
    pub faults: VecDeque<u16>,
    pub log: Vec<String>,
}

pub struct Emulator {
    pub api_url: String,
    pub state: Arc<Mutex<State>>,
}

impl Emulator {
    /// Start with `keys` (versions 1 and 2 of each) in region `eu01`.
    pub fn start(keys: &[&str]) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut st = State::default();
        for (i, k) in keys.iter().enumerate() {
            for v in [1u64, 2] {
                let mut key = [0x5cu8; 32];
                key[0] = i as u8 + 1;
                key[1] = v as u8;
                st.versions.insert(("eu01".into(), k.to_string(), v), (key, true));
            }
        }
        let state = Arc::new(Mutex::new(st));
        let s2 = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                let state = s2.clone();
                std::thread::spawn(move || serve(tcp, state));
            }
        });
        Emulator { api_url: format!("http://127.0.0.1:{port}"), state }
    }

    pub fn key_uri(&self, key_id: &str, version: u64) -> String {
        format!(
            "{}/v1/projects/{PROJECT}/regions/eu01/keyrings/{KEYRING}/keys/{key_id}/versions/{version}",
            self.api_url
        )
    }

    pub fn disable(&self, key_id: &str, version: u64) {
        if let Some(v) = self.state.lock().unwrap().versions.get_mut(&("eu01".into(), key_id.into(), version)) {
            v.1 = false;
        }
    }

    pub fn push_fault(&self, status: u16) {
        self.state.lock().unwrap().faults.push_back(status);
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }
}

fn serve(mut tcp: std::net::TcpStream, state: Arc<Mutex<State>>) {
    let Some(req) = read_request(&mut BufReader::new(&mut tcp)) else { return };
    let token = req.headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string);
    let (status, reply) = handle(&state, &req.method, &req.path, token.as_deref(), &req.body);
    write_json(&mut tcp, status, &reply);
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "message": message }))
}

fn handle(state: &Mutex<State>, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let fault = {
        let mut st = state.lock().unwrap();
        st.log.push(path.to_string());
        st.faults.pop_front()
    };
    if let Some(s) = fault {
        return error(s, "injected fault");
    }
    if token != Some(TOKEN) {
        return error(401, "unauthorized: invalid or expired access token");
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["v1", "projects", project, "regions", region, "keyrings", keyring, "keys", key, "versions", version, op] =
        segs[..]
    else {
        return error(404, "not found");
    };
    if method != "POST" || !(op == "encrypt" || op == "decrypt") {
        return error(404, "not found");
    }
    if project != PROJECT || keyring != KEYRING {
        return error(404, "key ring not found");
    }
    let Ok(version) = version.parse::<u64>() else { return error(400, "invalid version number") };
    let Some((aes, enabled)) = state.lock().unwrap().versions.get(&(region.into(), key.into(), version)).copied()
    else {
        return error(404, "key version not found");
    };
    if !enabled {
        return error(409, "key version is disabled");
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else { return error(400, "invalid body") };
    if req.keys().any(|k| k != "data") {
        return error(400, "unknown field in body");
    }
    let Some(Ok(data)) = req.get("data").and_then(Value::as_str).map(|d| B64.decode(d)) else {
        return error(400, "data must be base64");
    };
    let cipher = Aes256Gcm::new_from_slice(&aes).unwrap();
    if op == "encrypt" {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(
            &(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64)
                .to_le_bytes(),
        );
        let mut blob = nonce.to_vec();
        blob.extend(cipher.encrypt(Nonce::from_slice(&nonce), data.as_slice()).unwrap());
        (200, json!({ "data": B64.encode(blob) }))
    } else {
        if data.len() < 12 {
            return error(400, "invalid ciphertext");
        }
        match cipher.decrypt(Nonce::from_slice(&data[..12]), &data[12..]) {
            Ok(p) => (200, json!({ "data": B64.encode(p) })),
            Err(_) => error(400, "decryption failed"),
        }
    }
}
