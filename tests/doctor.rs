//! `tresor doctor`: which key opens a file here and why each other one does not, with real
//! age identities and a real OpenBao (a token without the key's policy, then sealed), and
//! the checks a delivery tool needs.

use crate::common::*;

const OTHER: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

fn doctor_json(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, serde_json::Value) {
    let mut c = sb.tresor();
    c.args(["doctor", "--format", "json"]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout))),
    )
}

#[test]
fn doctor_names_the_key_that_opens_a_file_and_why_the_others_do_not() {
    let sb = Sandbox::new();
    let plain = sb.write("db.yaml", "password: hunter2\n");
    let enc = sb.tresor().args(["encrypt", "--age", OTHER, "--age", &recipient()]).arg(&plain).ok();
    let f = sb.write("db.enc.yaml", &enc);
    let (code, v) = doctor_json(&sb, &[f.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{v}");
    let file = &v["files"][0];
    assert_eq!(file["decrypts"], true);
    let keys = file["keys"].as_array().unwrap();
    let mine = keys.iter().find(|k| k["id"] == recipient().as_str()).unwrap();
    assert_eq!(mine["opens"], true);
    let other = keys.iter().find(|k| k["id"] == OTHER).unwrap();
    assert_eq!(other["opens"], false);
    assert!(other["reason"].as_str().unwrap().contains("none of the age identities matches"), "{other}");
    // No identity at all: exit 128 (decrypt's code), and the report says where it looked.
    let (code, v) =
        doctor_json(&sb, &[f.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", "/dev/null"), ("HOME", "/nonexistent")]);
    assert_eq!(code, Some(128));
    assert_eq!(v["identities"]["age_found"], 0);
    assert!(v["files"][0]["keys"][0]["reason"].as_str().unwrap().contains("no age identity found"));
    // Secrets never appear: not the plaintext, not the key.
    let text = sb.tresor().arg("doctor").arg(&f).ok();
    let key = std::fs::read_to_string(key_file()).unwrap();
    let secret_line = key.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap();
    assert!(!text.contains("hunter2") && !text.contains(secret_line), "{text}");
}

#[test]
fn doctor_tells_a_token_without_policy_from_a_sealed_openbao() {
    let sb = Sandbox::new();
    let bao = Bao::start();
    let uri = bao.create_key("doctor");
    let plain = sb.write("db.yaml", "password: hunter2\n");
    let mut c = sb.tresor();
    c.args(["encrypt", "--hc-vault-transit", &uri]).arg(&plain).env("VAULT_TOKEN", "root");
    let f = sb.write("db.enc.yaml", &c.ok());
    let f = f.to_str().unwrap();
    let (code, v) = doctor_json(&sb, &[f], &[("VAULT_TOKEN", "root")]);
    assert_eq!(code, Some(0), "{v}");
    // A token that exists but may not use the transit key.
    let weak = bao.cli(&["token", "create", "-policy=default", "-field=token"]);
    let (code, v) = doctor_json(&sb, &[f], &[("VAULT_TOKEN", weak.trim())]);
    assert_eq!(code, Some(128));
    let reason = v["files"][0]["keys"][0]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("permission denied") || reason.contains("403"), "{reason}");
    // The server sealed.
    bao.cli(&["operator", "seal"]);
    let (code, v) = doctor_json(&sb, &[f], &[("VAULT_TOKEN", "root")]);
    assert_eq!(code, Some(128));
    let reason = v["files"][0]["keys"][0]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("sealed") || reason.contains("503"), "{reason}");
}

#[test]
fn doctor_checks_what_flux_and_helm_need() {
    let sb = Sandbox::new();
    let plain = sb.write("values.yaml", "# keep: x\npassword: hunter2\n");
    let ok = sb.write("ok.enc.yaml", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok());
    let (code, v) = doctor_json(&sb, &["--target", "flux", ok.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{v}");
    assert!(v["files"][0]["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{v}");
    // A comment-marker rule: Flux marshals to JSON and loses the markers.
    let marked =
        sb.tresor().args(["encrypt", "--encrypted-comment-regex", "^ *keep", "--age", &recipient()]).arg(&plain).ok();
    let marked = sb.write("marked.enc.yaml", &marked);
    let (code, v) = doctor_json(&sb, &["--target", "flux", marked.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{v}");
    let bad: Vec<_> = v["files"][0]["checks"].as_array().unwrap().iter().filter(|c| c["ok"] == false).collect();
    assert!(bad.len() == 1 && bad[0]["detail"].as_str().unwrap().contains("encrypted_comment_regex"), "{v}");
    // A binary file (a TLS key in a secretGenerator): Flux finds it by the JSON marker.
    let key = sb.write("tls.key", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
    let key_enc = sb.write("tls.key.enc", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&key).ok());
    let (code, v) = doctor_json(&sb, &["--target", "flux", key_enc.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{v}");
    // helm-secrets takes the store from the extension.
    let odd = sb.write("values.enc", &std::fs::read_to_string(&ok).unwrap());
    let (code, v) = doctor_json(&sb, &["--target", "helm", "--input-type", "yaml", odd.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{v}");
    // Not an encrypted file at all: named, exit 128.
    let (code, v) = doctor_json(&sb, &[plain.to_str().unwrap()], &[]);
    assert_eq!(code, Some(128));
    assert!(v["files"][0]["error"].as_str().unwrap().contains("no sops metadata"), "{v}");
}

/// Every diagnosis says what to do next: no identity, a wrong identity.
#[test]
fn doctor_names_the_next_step() {
    let sb = Sandbox::new();
    let f = sb.encrypted("s.yaml", "a: b\n");
    let none = sb.tresor().arg("doctor").arg(&f).env("SOPS_AGE_KEY_FILE", sb.path("absent.txt")).output().unwrap();
    let text = String::from_utf8_lossy(&none.stdout);
    assert!(text.contains("next: fix the identity source"), "{text}");
    let other = sb.path("other.txt");
    sb.tresor().args(["keygen", "-o"]).arg(&other).ok();
    let wrong = sb.tresor().arg("doctor").arg(&f).env("SOPS_AGE_KEY_FILE", &other).output().unwrap();
    let text = String::from_utf8_lossy(&wrong.stdout);
    assert!(text.contains("next: your identities are not age1") && text.contains("tresor updatekeys"), "{text}");
    let (_, v) = doctor_json(&sb, &[f.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", other.to_str().unwrap())]);
    assert!(v["files"][0]["keys"][0]["next"].as_str().unwrap().contains("add your recipient"), "{v}");
}

#[test]
fn doctor_tells_an_unreadable_default_key_file_from_an_absent_one() {
    // Root reads any mode, so the unreadable file here is a directory where the key file
    // should be: what a mis-mounted Secret looks like. It must be named, not taken for absent.
    let sb = Sandbox::new();
    let f = sb.encrypted("s.yaml", "a: b\n");
    let xdg = sb.path("xdg");
    std::fs::create_dir_all(xdg.join("sops/age/keys.txt")).unwrap();
    let doctor = || {
        let out = sb
            .tresor()
            .args(["doctor", "--format", "json"])
            .arg(&f)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("XDG_CONFIG_HOME", &xdg)
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v["files"][0]["keys"][0].clone())
    };
    let (code, key) = doctor();
    assert_eq!(code, Some(128), "{key}");
    assert!(key["reason"].as_str().unwrap().contains("keys.txt exists but cannot be read"), "{key}");
    assert!(key["next"].as_str().unwrap().contains("readable by this user"), "{key}");
    // Absent: the usual advice, no talk of permissions.
    std::fs::remove_dir_all(xdg.join("sops")).unwrap();
    let (_, key) = doctor();
    assert!(!key["reason"].as_str().unwrap().contains("cannot be read"), "{key}");
    assert!(key["next"].as_str().unwrap().contains("put the identity"), "{key}");
}
