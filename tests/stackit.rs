//! STACKIT KMS against the test server in `stackit_emulator.rs`: round trips alone, beside
//! age (sops still decrypts) and in key groups; rotate to a new key version; the declared
//! errors leaving files untouched; retries on 503.

use crate::common::*;
use crate::stackit_emulator::{Emulator, TOKEN};

const KEY: &str = "0d3c4b5a-0000-4000-8000-000000000001";

fn with_token<'a>(cmd: &'a mut std::process::Command, token: &str) -> &'a mut std::process::Command {
    cmd.env("STACKIT_SERVICE_ACCOUNT_TOKEN", token).env("STACKIT_KMS_RETRIES", "2")
}

#[test]
fn round_trips_and_rotates_to_a_new_key_version() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "token: abc\n");
    with_token(&mut sb.tresor(), TOKEN)
        .args(["encrypt", "-i", "--stackit-kms", &emu.key_uri(KEY, 1), "--age", &recipient()])
        .arg(&p)
        .ok();
    let enc = sb.read("s.yaml");
    assert!(enc.contains("stackit_kms:") && enc.contains("version: \"1\"") && enc.contains("region: eu01"), "{enc}");
    let plain = with_token(&mut sb.tresor(), TOKEN).arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(plain, "token: abc\n");
    assert_eq!(sb.sops().arg("decrypt").arg(&p).ok(), "token: abc\n", "sops ignores the list and uses age");
    // Move to version 2 of the key: the file then names version 2 only and still opens.
    with_token(&mut sb.tresor(), TOKEN)
        .args(["rotate", "-i", "--add-stackit-kms", &emu.key_uri(KEY, 2), "--rm-stackit-kms", &emu.key_uri(KEY, 1)])
        .arg(&p)
        .ok();
    let enc = sb.read("s.yaml");
    assert!(enc.contains("version: \"2\"") && !enc.contains("version: \"1\""), "{enc}");
    emu.disable(KEY, 1);
    let plain = with_token(&mut sb.tresor(), TOKEN).arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(plain, "token: abc\n");
    // Shamir from .sops.yaml: a STACKIT group and an age group, both needed; rotate and
    // updatekeys keep it readable.
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - stackit_kms: [{}]\n      - age: [{}]\n",
            emu.key_uri(KEY, 2),
            recipient()
        ),
    );
    let g = sb.write("g.yaml", "a: b\n");
    with_token(&mut sb.tresor(), TOKEN).args(["encrypt", "-i"]).arg(&g).ok();
    with_token(&mut sb.tresor(), TOKEN).args(["rotate", "-i"]).arg(&g).ok();
    with_token(&mut sb.tresor(), TOKEN).args(["updatekeys", "-y"]).arg(&g).ok();
    assert_eq!(with_token(&mut sb.tresor(), TOKEN).arg("decrypt").arg(&g).ok(), "a: b\n");
    let err = sb.tresor().arg("decrypt").arg(&g).fails_with(128);
    assert!(err.contains("STACKIT_SERVICE_ACCOUNT_TOKEN"), "{err}");
}

#[test]
fn declared_errors_leave_files_untouched_and_503_is_retried() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let q = sb.write("q.yaml", "x: y\n");
    let attempt = |token: Option<&str>, uri: &str| {
        let mut c = sb.tresor();
        if let Some(t) = token {
            with_token(&mut c, t);
        }
        c.args(["encrypt", "-i", "--stackit-kms", uri]).arg(&q).fails_with(128)
    };
    let err = attempt(Some("expired"), &emu.key_uri(KEY, 1));
    assert!(err.contains("401") && err.contains("STACKIT_SERVICE_ACCOUNT_TOKEN"), "{err}");
    let err = attempt(None, &emu.key_uri(KEY, 1));
    assert!(err.contains("STACKIT_SERVICE_ACCOUNT_TOKEN"), "{err}");
    let err = attempt(Some(TOKEN), &emu.key_uri(KEY, 9));
    assert!(err.contains("404") && err.contains("key version not found") && err.contains("region eu01"), "{err}");
    emu.disable(KEY, 1);
    let err = attempt(Some(TOKEN), &emu.key_uri(KEY, 1));
    assert!(err.contains("409") && err.contains("disabled"), "{err}");
    let wrong_region = emu.key_uri(KEY, 2).replace("eu01", "us01");
    let out = with_token(&mut sb.tresor(), TOKEN).args(["encrypt", "--stackit-kms", &wrong_region]).arg(&q).run();
    assert!(String::from_utf8_lossy(&out.stderr).contains("eu01, eu02"));
    assert_eq!(sb.read("q.yaml"), "x: y\n");
    emu.push_fault(503);
    let before = emu.requests();
    with_token(&mut sb.tresor(), TOKEN).args(["encrypt", "-i", "--stackit-kms", &emu.key_uri(KEY, 2)]).arg(&q).ok();
    assert_eq!(emu.requests() - before, 2, "503 retried once");
    let audit = sb.tresor().args(["audit", "--format", "json"]).arg(&q).run();
    let v: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(v["files"][0]["keys"][0]["provider"], "stackit-kms");
}

/// The reference's shapes (`testdata/kms/stackit`) are what the test server reads and
/// writes: a fixture-shaped request gets a fixture-shaped answer, errors are `HttpError`.
#[test]
fn the_test_server_speaks_the_documented_shapes() {
    let emu = Emulator::start(&[KEY]);
    let fixture = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(testdata(&format!("kms/stackit/{name}"))).unwrap()).unwrap()
    };
    let keys = |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let post = |op: &str, body: &serde_json::Value, token: &str| -> (u16, serde_json::Value) {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json"])
            .args(["-H", &format!("Authorization: Bearer {token}"), "--data-binary", &body.to_string()])
            .arg(format!("{}/{op}", emu.key_uri(KEY, 1)))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (json, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), serde_json::from_str(json).unwrap())
    };
    let (code, enc) = post("encrypt", &fixture("encrypt-request.json"), TOKEN);
    assert_eq!((code, keys(&enc)), (200, keys(&fixture("encrypt-response.json"))));
    let (code, dec) = post("decrypt", &enc, TOKEN);
    assert_eq!((code, keys(&dec)), (200, keys(&fixture("decrypt-response.json"))));
    assert_eq!(dec, fixture("encrypt-request.json"));
    let (code, e) = post("encrypt", &fixture("encrypt-request.json"), "nope");
    assert_eq!((code, keys(&e)), (401, keys(&fixture("error.json"))));
}
