//! Lossless round trips over the corpus in testdata/roundtrip: `decrypt(encrypt(x)) == x`
//! byte for byte, and the real sops decrypts every file we write to the same data.

use crate::common::*;

#[test]
fn every_corpus_file_round_trips_byte_for_byte() {
    let sb = Sandbox::new();
    let files = corpus();
    assert!(files.len() >= 15, "corpus went missing");
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let original = std::fs::read_to_string(&path).unwrap();
        let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&path).ok();
        assert!(enc.contains("\nsops") || enc.contains("\"sops\""), "{name}: no metadata");
        let enc_path = sb.write(&name, &enc);
        let dec = sb.tresor().arg("decrypt").arg(&enc_path).ok();
        assert_eq!(dec, original, "{name}: decrypt(encrypt(x)) differs from x");
    }
}

#[test]
fn secrets_do_not_survive_in_clear_text() {
    let sb = Sandbox::new();
    let path = testdata("roundtrip/k8s-secret.yaml");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&path).ok();
    for secret in ["c0rrect-h0rse-battery-staple", "payments_app", "LS0tLS1CRUdJTiBQUklW", "db-credentials"] {
        assert!(!enc.contains(secret), "'{secret}' is visible in the encrypted file");
    }
    // Keys stay readable.
    for key in ["apiVersion:", "stringData:", "password:", "DATABASE_URL:"] {
        assert!(enc.contains(key), "key {key} is missing");
    }
}

#[test]
fn sops_decrypts_every_file_we_write_to_the_same_data() {
    let sb = Sandbox::new();
    for path in corpus() {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let original = std::fs::read_to_string(&path).unwrap();
        let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&path).ok();
        let enc_path = sb.write(&name, &enc);
        let out = sb.sops().arg("decrypt").arg(&enc_path).run();
        assert!(out.status.success(), "{name}: sops decrypt failed: {}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("unencrypted comment"), "{name}: sops could not decrypt a comment: {stderr}");
        let sops_text = String::from_utf8(out.stdout).unwrap();
        assert_same_docs(&data(&original, &name), &data(&sops_text, &name), &name);
    }
}

#[test]
fn comments_are_encrypted_and_restored_in_place() {
    let sb = Sandbox::new();
    let path = testdata("roundtrip/comments.yaml");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&path).ok();
    assert!(!enc.contains("trailing comment"));
    assert!(enc.contains("#ENC[AES256_GCM,"));
    // Each comment stays on its own line position: the line count is unchanged except for metadata.
    let original = std::fs::read_to_string(&path).unwrap();
    let body = enc.split("\nsops:").next().unwrap();
    assert_eq!(body.lines().count(), original.lines().count());
}

#[test]
fn unchanged_values_keep_ciphertext_when_re_encrypted_by_edit() {
    let sb = Sandbox::new();
    let path = testdata("roundtrip/k8s-secret.yaml");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&path).ok();
    let file = sb.write("secret.yaml", &enc);
    // An "editor" that changes one value.
    let editor = sb.write("editor.sh", "#!/bin/sh\nsed -i 's/username: payments_app/username: payments_v2/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.tresor().arg("edit").arg(&file).env("EDITOR", &editor).ok();
    let after = sb.read("secret.yaml");
    let changed: Vec<(&str, &str)> = enc.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    // lastmodified changes too unless the edit happened within the same second.
    let changed_keys: Vec<String> = changed
        .iter()
        .map(|(a, _)| a.trim_start().split(':').next().unwrap().to_string())
        .filter(|k| k != "lastmodified")
        .collect();
    assert_eq!(changed_keys, vec!["username", "mac"], "diff touched more than the edited value: {changed:?}");
    let dec = sb.tresor().arg("decrypt").arg(&file).ok();
    assert!(dec.contains("username: payments_v2"));
}
