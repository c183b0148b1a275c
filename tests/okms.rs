//! The OVHcloud KMS client against the emulator in `okms_emulator.rs`: mTLS and token
//! auth, errors the OpenAPI spec declares, retries, timeouts, and coexistence with sops.

use crate::common::*;
use crate::okms_emulator::{Emulator, Fault};

const KEY: &str = "5e3b0c1d-aaaa-4bbb-8ccc-0123456789ab";

fn with_mtls(cmd: &mut std::process::Command, emu: &Emulator) {
    cmd.env("KMS_RESTAPI_CA", emu.path("ca.pem"))
        .env("KMS_RESTAPI_CERT", emu.path("client.pem"))
        .env("KMS_RESTAPI_KEY", emu.path("client.key"))
        .env("KMS_RESTAPI_RETRIES", "2");
}

fn with_token(cmd: &mut std::process::Command, emu: &Emulator, token: &str) {
    cmd.env("KMS_RESTAPI_CA", emu.path("ca.pem")).env("KMS_RESTAPI_TOKEN", token).env("KMS_RESTAPI_RETRIES", "2");
}

#[test]
fn mtls_round_trip_and_sops_still_decrypts_through_age() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "token: abc\n");
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    c.args(["encrypt", "-i", "--okms", &emu.key_uri(KEY), "--age", &recipient()]).arg(&p).ok();
    let enc = sb.read("s.yaml");
    assert!(
        enc.contains("okms:")
            && enc.contains(&format!("key_id: {KEY}"))
            && enc.contains(&format!("okms_id: {}", emu.okms_id)),
        "{enc}"
    );
    assert!(emu.requests() >= 1);
    // tresor decrypts through OKMS alone (no age identity available).
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    c.arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE");
    assert_eq!(c.ok(), "token: abc\n");
    // sops ignores the okms entry and uses age.
    assert_eq!(sb.sops().arg("decrypt").arg(&p).ok(), "token: abc\n");
}

#[test]
fn bearer_token_auth_and_denials() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("t.yaml", "a: b\n");
    let mut c = sb.tresor();
    with_token(&mut c, &emu, "pat-full");
    c.args(["encrypt", "-i", "--okms", &emu.key_uri(KEY)]).arg(&p).ok();
    let enc = sb.read("t.yaml");
    // 401: unknown token.
    let mut c = sb.tresor();
    with_token(&mut c, &emu, "pat-unknown");
    let err = c.arg("decrypt").arg(&p).fails_with(128);
    assert!(err.contains("401") && err.contains("invalid token") && err.contains("request_id"), "{err}");
    // 403: token whose IAM policy forbids encryption.
    let q = sb.write("q.yaml", "x: y\n");
    let mut c = sb.tresor();
    with_token(&mut c, &emu, "pat-readonly");
    let err = c.args(["encrypt", "-i", "--okms", &emu.key_uri(KEY)]).arg(&q).fails_with(128);
    assert!(err.contains("403") && err.contains("IAM"), "{err}");
    assert_eq!(sb.read("q.yaml"), "x: y\n");
    // The read-only token still decrypts.
    let mut c = sb.tresor();
    with_token(&mut c, &emu, "pat-readonly");
    assert_eq!(c.arg("decrypt").arg(&p).ok(), "a: b\n");
    assert_eq!(sb.read("t.yaml"), enc);
}

#[test]
fn unknown_key_is_404_and_okms_only_files_warn_about_sops() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("n.yaml", "a: b\n");
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    let err =
        c.args(["encrypt", "--okms", &emu.key_uri("00000000-0000-4000-8000-000000000000")]).arg(&p).fails_with(128);
    assert!(err.contains("not found") && err.contains("404"), "{err}");
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    let out = c.args(["encrypt", "--okms", &emu.key_uri(KEY)]).arg(&p).run();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sops and Flux cannot decrypt"));
}

#[test]
fn rate_limits_and_server_errors_are_retried_then_reported() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("r.yaml", "a: b\n");
    emu.push_fault(Fault::Status(429));
    emu.push_fault(Fault::Status(503));
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    c.args(["encrypt", "-i", "--okms", &emu.key_uri(KEY)]).arg(&p).ok();
    assert_eq!(emu.requests(), 3, "429 and 503 should each be retried once");
    // Persistent 500: gives up after the configured retries.
    for _ in 0..3 {
        emu.push_fault(Fault::Status(500));
    }
    let before = emu.requests();
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    let err = c.args(["decrypt"]).arg(&p).fails_with(128);
    assert!(err.contains("500") && err.contains("3 attempts"), "{err}");
    assert_eq!(emu.requests() - before, 3);
}

#[test]
fn timeouts_and_foreign_certificates_fail_cleanly() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("t.yaml", "a: b\n");
    emu.push_fault(Fault::Delay(std::time::Duration::from_secs(3)));
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    let err = c
        .args(["encrypt", "-i", "--okms", &emu.key_uri(KEY)])
        .arg(&p)
        .env("KMS_RESTAPI_TIMEOUT", "1")
        .env("KMS_RESTAPI_RETRIES", "0")
        .fails_with(128);
    assert!(err.contains("did not answer within 1 s"), "{err}");
    assert_eq!(sb.read("t.yaml"), "a: b\n");
    // A client certificate from another CA is rejected in the TLS handshake.
    let mut c = sb.tresor();
    c.env("KMS_RESTAPI_CA", emu.path("ca.pem"))
        .env("KMS_RESTAPI_CERT", emu.path("other-client.pem"))
        .env("KMS_RESTAPI_KEY", emu.path("other-client.key"))
        .env("KMS_RESTAPI_RETRIES", "0");
    let err = c.args(["encrypt", "--okms", &emu.key_uri(KEY)]).arg(&p).fails_with(128);
    assert!(err.to_lowercase().contains("certificate") || err.contains("cannot reach"), "{err}");
    // Without our CA, the emulator's certificate is not trusted.
    let mut c = sb.tresor();
    c.env("KMS_RESTAPI_CERT", emu.path("client.pem"))
        .env("KMS_RESTAPI_KEY", emu.path("client.key"))
        .env("KMS_RESTAPI_RETRIES", "0");
    let err = c.args(["encrypt", "--okms", &emu.key_uri(KEY)]).arg(&p).fails_with(128);
    assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn updatekeys_restores_okms_entries_that_a_sops_rewrite_stripped() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    sb.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n    okms: {}\n", recipient(), emu.key_uri(KEY)));
    let p = sb.write("app.yaml", "password: hunter2\n");
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    c.args(["encrypt", "-i"]).arg(&p).ok();
    assert!(sb.read("app.yaml").contains("okms:"));
    sb.sops().args(["set"]).arg(&p).args(["[\"password\"]", "\"changed\""]).ok();
    assert!(!sb.read("app.yaml").contains("okms:"), "sops is expected to drop okms");
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    c.args(["updatekeys", "--yes"]).arg(&p).ok();
    assert!(sb.read("app.yaml").contains("okms:"));
    let mut c = sb.tresor();
    with_mtls(&mut c, &emu);
    c.arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE");
    assert_eq!(c.ok(), "password: changed\n");
}
