//! A Scaleway Key Manager test server, written from the public API reference (Key Manager
//! API v1alpha1, https://www.scaleway.com/en/developers/api/key-manager/, and the request
//! and response shapes of Scaleway's generated SDKs): `POST
//! /key-manager/v1alpha1/regions/{region}/keys/{key_id}/encrypt|decrypt`, authentication by
//! `X-Auth-Token`, base64 `plaintext`/`ciphertext`/`associated_data`, AES-256-GCM with the
//! associated data authenticated, and Scaleway's standard error objects (`type`
//! `denied_authentication` 401, `permissions_denied` 403, `not_found` 404,
//! `invalid_arguments` 400, `precondition_failed` 412, `too_many_requests` 429). It serves
//! plain HTTP on loopback (the client allows `http://` only there). Scripted faults and a
//! request budget exercise the client's retries.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::http::{read_request, write_json};

pub enum Fault {
    Status(u16),
    Delay(Duration),
}

/// What an API key may do.
#[derive(Clone, Copy)]
pub struct Perms {
    pub encrypt: bool,
    pub decrypt: bool,
}

#[derive(Default)]
pub struct State {
    /// (region, key id) → (AES key, enabled)
    keys: HashMap<(String, String), ([u8; 32], bool)>,
    tokens: HashMap<String, Perms>,
    pub faults: VecDeque<Fault>,
    /// (path, token) of every request.
    pub log: Vec<(String, String)>,
    /// At most this many requests per window, else 429 (a provider's rate limit).
    pub budget: Option<(usize, Duration)>,
    window: Vec<Instant>,
    pub refused_for_rate: usize,
}

pub struct Emulator {
    pub api_url: String,
    pub state: Arc<Mutex<State>>,
}

pub const FULL: &str = "scw-secret-full";
pub const DECRYPT_ONLY: &str = "scw-secret-decrypt-only";

impl Emulator {
    /// Start on a free loopback port with `keys` in region `fr-par`.
    pub fn start(keys: &[&str]) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut st = State::default();
        for (i, k) in keys.iter().enumerate() {
            let mut key = [0x33u8; 32];
            key[0] = i as u8 + 1;
            st.keys.insert(("fr-par".into(), k.to_string()), (key, true));
        }
        st.tokens.insert(FULL.into(), Perms { encrypt: true, decrypt: true });
        st.tokens.insert(DECRYPT_ONLY.into(), Perms { encrypt: false, decrypt: true });
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

    pub fn key_uri(&self, key_id: &str) -> String {
        format!("{}/key-manager/v1alpha1/regions/fr-par/keys/{key_id}", self.api_url)
    }

    pub fn push_fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }

    pub fn disable(&self, key_id: &str) {
        if let Some(k) = self.state.lock().unwrap().keys.get_mut(&("fr-par".to_string(), key_id.to_string())) {
            k.1 = false;
        }
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }

    pub fn set_budget(&self, requests: usize, per: Duration) {
        self.state.lock().unwrap().budget = Some((requests, per));
    }
}

fn serve(mut tcp: std::net::TcpStream, state: Arc<Mutex<State>>) {
    let Some(req) = read_request(&mut BufReader::new(&mut tcp)) else { return };
    let token = req.headers.get("x-auth-token").cloned();
    let (status, reply) = handle(&state, &req.method, &req.path, token.as_deref(), &req.body);
    write_json(&mut tcp, status, &reply);
}

fn invalid(argument: &str, reason: &str, help: &str) -> (u16, Value) {
    (
        400,
        json!({"type": "invalid_arguments", "message": "invalid argument(s)",
               "details": [{"argument_name": argument, "reason": reason, "help_message": help}]}),
    )
}

fn handle(state: &Mutex<State>, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let fault = {
        let mut st = state.lock().unwrap();
        st.log.push((path.to_string(), token.unwrap_or("none").to_string()));
        if let Some((max, per)) = st.budget {
            let now = Instant::now();
            st.window.retain(|t| now.duration_since(*t) < per);
            if st.window.len() >= max {
                st.refused_for_rate += 1;
                return (
                    429,
                    json!({"type": "too_many_requests", "message": "too many requests", "help_message": "rate limit exceeded, retry later"}),
                );
            }
            st.window.push(now);
        }
        st.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(429)) => {
            return (
                429,
                json!({"type": "too_many_requests", "message": "too many requests", "help_message": "injected"}),
            )
        }
        Some(Fault::Status(s)) => return (s, json!({"message": "internal error", "type": "internal"})),
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        None => {}
    }
    let perms = match token {
        None | Some("") => {
            return (
                401,
                json!({"type": "denied_authentication", "message": "authentication is denied", "method": "api_key", "reason": "invalid_argument"}),
            )
        }
        Some(t) => match state.lock().unwrap().tokens.get(t).copied() {
            Some(p) => p,
            None => {
                return (
                    401,
                    json!({"type": "denied_authentication", "message": "authentication is denied", "method": "api_key", "reason": "not_found"}),
                )
            }
        },
    };
    let Some(rest) = path.strip_prefix("/key-manager/v1alpha1/regions/") else {
        return (404, json!({"message": "route not found", "type": "not_found"}));
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let [region, "keys", key_id, op] = segs[..] else {
        return (404, json!({"message": "route not found", "type": "not_found"}));
    };
    if method != "POST" || !(op == "encrypt" || op == "decrypt") {
        return (404, json!({"message": "route not found", "type": "not_found"}));
    }
    let Some((key, enabled)) = state.lock().unwrap().keys.get(&(region.to_string(), key_id.to_string())).copied()
    else {
        return (
            404,
            json!({"type": "not_found", "message": "resource is not found", "resource": "key", "resource_id": key_id}),
        );
    };
    let allowed = if op == "encrypt" { perms.encrypt } else { perms.decrypt };
    if !allowed {
        return (
            403,
            json!({"type": "permissions_denied", "message": "insufficient permissions",
                   "details": [{"resource": "key_manager_key", "action": op}]}),
        );
    }
    if !enabled {
        return (
            412,
            json!({"type": "precondition_failed", "message": "precondition is not respected",
                   "precondition": "resource_not_usable", "help_message": "the key is disabled"}),
        );
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return invalid("body", "constraint", "the body must be a JSON object");
    };
    let aad = match req.get("associated_data").and_then(Value::as_str).map(|a| B64.decode(a)) {
        None => Vec::new(),
        Some(Ok(a)) => a,
        Some(Err(_)) => return invalid("associated_data", "constraint", "must be base64"),
    };
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    if op == "encrypt" {
        let Some(Ok(plain)) = req.get("plaintext").and_then(Value::as_str).map(|p| B64.decode(p)) else {
            return invalid("plaintext", "required", "base64 plaintext, at most 64 KiB");
        };
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(
            &(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64)
                .to_le_bytes(),
        );
        let ct = cipher.encrypt(Nonce::from_slice(&nonce), aes_gcm::aead::Payload { msg: &plain, aad: &aad }).unwrap();
        let mut blob = vec![1u8];
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        (200, json!({"key_id": key_id, "ciphertext": B64.encode(blob)}))
    } else {
        let Some(Ok(blob)) = req.get("ciphertext").and_then(Value::as_str).map(|c| B64.decode(c)) else {
            return invalid("ciphertext", "required", "base64 ciphertext");
        };
        if blob.len() < 13 || blob[0] != 1 {
            return invalid("ciphertext", "constraint", "not a ciphertext of this key");
        }
        match cipher.decrypt(Nonce::from_slice(&blob[1..13]), aes_gcm::aead::Payload { msg: &blob[13..], aad: &aad }) {
            Ok(p) => (200, json!({"key_id": key_id, "plaintext": B64.encode(p), "ciphertext": B64.encode(&blob)})),
            Err(_) => {
                invalid("ciphertext", "constraint", "the ciphertext does not decrypt with this key and associated data")
            }
        }
    }
}
