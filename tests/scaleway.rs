//! Scaleway Key Manager against the test server in `scw_emulator.rs`: round trips alone,
//! co-wrapped with age (sops still decrypts) and in Shamir key groups from `.sops.yaml`;
//! rotate and updatekeys; the documented errors (refused credentials, missing
//! permission, unknown key, disabled key, unknown region, unreachable endpoint) leaving
//! files untouched; retries on 429 and 5xx.

use crate::common::*;
use crate::scw_emulator::{Emulator, Fault, DECRYPT_ONLY, FULL};

const KEY: &str = "11111111-2222-4333-8444-555555555555";
const KEY2: &str = "66666666-7777-4888-8999-aaaaaaaaaaaa";

fn with_token<'a>(cmd: &'a mut std::process::Command, token: &str) -> &'a mut std::process::Command {
    cmd.env("SCW_SECRET_KEY", token).env("SCW_KMS_RETRIES", "2")
}

#[test]
fn round_trips_alone_with_age_and_in_shamir_groups() {
    let emu = Emulator::start(&[KEY, KEY2]);
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "token: abc\n");
    with_token(&mut sb.tresor(), FULL)
        .args(["encrypt", "-i", "--scw-kms", &emu.key_uri(KEY), "--age", &recipient()])
        .arg(&p)
        .ok();
    let enc = sb.read("s.yaml");
    assert!(
        enc.contains("scw_kms:") && enc.contains(&format!("key_id: {KEY}")) && enc.contains("region: fr-par"),
        "{enc}"
    );
    // tresor decrypts through Key Manager alone; sops ignores the list and uses age.
    let plain = with_token(&mut sb.tresor(), DECRYPT_ONLY).arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(plain, "token: abc\n");
    assert_eq!(sb.sops().arg("decrypt").arg(&p).ok(), "token: abc\n");
    // A wrap made for the data key does not open with another key's id in the entry.
    let swapped = sb.write("w.yaml", &enc.replace(&format!("key_id: {KEY}"), &format!("key_id: {KEY2}")));
    with_token(&mut sb.tresor(), FULL).arg("decrypt").arg(&swapped).env_remove("SOPS_AGE_KEY_FILE").fails_with(128);

    // Two key groups from .sops.yaml, both needed: Key Manager and age.
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - scw_kms: [{}]\n      - age: [{}]\n",
            emu.key_uri(KEY2),
            recipient()
        ),
    );
    let g = sb.write("g.yaml", "a: b\n");
    with_token(&mut sb.tresor(), FULL).args(["encrypt", "-i"]).arg(&g).ok();
    assert_eq!(with_token(&mut sb.tresor(), FULL).arg("decrypt").arg(&g).ok(), "a: b\n");
    // Without Key Manager credentials one share is missing: refused, naming the service.
    let err = sb.tresor().arg("decrypt").arg(&g).fails_with(128);
    assert!(err.contains("SCW_SECRET_KEY"), "{err}");
    // rotate (new data key, both groups re-wrapped) and updatekeys keep it readable.
    let before = emu.requests();
    with_token(&mut sb.tresor(), FULL).args(["rotate", "-i"]).arg(&g).ok();
    assert!(emu.requests() > before, "rotate re-wrapped through Key Manager");
    with_token(&mut sb.tresor(), FULL).args(["updatekeys", "-y"]).arg(&g).ok();
    assert_eq!(with_token(&mut sb.tresor(), FULL).arg("decrypt").arg(&g).ok(), "a: b\n");
    // rotate --rm-scw-kms drops the entry from a file that has age beside it.
    with_token(&mut sb.tresor(), FULL).args(["rotate", "-i", "--rm-scw-kms", &emu.key_uri(KEY)]).arg(&p).ok();
    assert!(!sb.read("s.yaml").contains("scw_kms:"), "{}", sb.read("s.yaml"));
}

#[test]
fn refused_credentials_permissions_and_keys_leave_files_untouched() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let plain = "x: y\n";
    let q = sb.write("q.yaml", plain);
    let attempt = |token: Option<&str>, uri: &str| {
        let mut c = sb.tresor();
        if let Some(t) = token {
            with_token(&mut c, t);
        }
        c.args(["encrypt", "-i", "--scw-kms", uri]).arg(&q).fails_with(128)
    };
    let err = attempt(Some("not-a-key"), &emu.key_uri(KEY));
    assert!(err.contains("401") && err.contains("SCW_SECRET_KEY") && err.contains("api_key"), "{err}");
    let err = attempt(Some(DECRYPT_ONLY), &emu.key_uri(KEY));
    assert!(err.contains("403") && err.contains("missing: encrypt key_manager_key"), "{err}");
    let err = attempt(Some(FULL), &emu.key_uri("00000000-0000-4000-8000-000000000000"));
    assert!(err.contains("404") && err.contains("is the key in region fr-par"), "{err}");
    let err = attempt(None, &emu.key_uri(KEY));
    assert!(err.contains("SCW_SECRET_KEY"), "{err}");
    emu.disable(KEY);
    let err = attempt(Some(FULL), &emu.key_uri(KEY));
    assert!(err.contains("412") && err.contains("the key is disabled"), "{err}");
    // A region Key Manager does not run in is refused before any request, naming them.
    let before = emu.requests();
    let bad_region = emu.key_uri(KEY).replace("fr-par", "us-east-1");
    let err = with_token(&mut sb.tresor(), FULL).args(["encrypt", "--scw-kms", &bad_region]).arg(&q).run();
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(err.contains("fr-par, nl-ams, pl-waw"), "{err}");
    assert_eq!(emu.requests(), before);
    // The secret key never goes to a non-loopback host in clear.
    let clear = "http://kms.example.org/key-manager/v1alpha1/regions/fr-par/keys/k";
    let out = with_token(&mut sb.tresor(), FULL).args(["encrypt", "--scw-kms", clear]).arg(&q).run();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("https://"));
    // Unreachable: a closed port, reported with the endpoint, quickly.
    let closed = format!("http://127.0.0.1:{}/key-manager/v1alpha1/regions/fr-par/keys/{KEY}", free_port());
    let t = std::time::Instant::now();
    let err = attempt(Some(FULL), &closed);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(sb.read("q.yaml"), plain, "nothing was written");
}

#[test]
fn rate_limits_and_server_errors_are_retried_then_reported() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("r.yaml", "a: b\n");
    emu.push_fault(Fault::Status(429));
    emu.push_fault(Fault::Status(503));
    with_token(&mut sb.tresor(), FULL).args(["encrypt", "-i", "--scw-kms", &emu.key_uri(KEY)]).arg(&p).ok();
    assert_eq!(emu.requests(), 3, "429 and 503 are each retried once");
    for _ in 0..3 {
        emu.push_fault(Fault::Status(500));
    }
    let before = emu.requests();
    let err = with_token(&mut sb.tresor(), FULL).arg("decrypt").arg(&p).fails_with(128);
    assert!(err.contains("500") && err.contains("3 attempts"), "{err}");
    assert_eq!(emu.requests() - before, 3);
}

#[test]
fn doctor_and_audit_name_the_service() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("d.yaml", "a: b\n");
    with_token(&mut sb.tresor(), FULL).args(["encrypt", "-i", "--scw-kms", &emu.key_uri(KEY)]).arg(&p).ok();
    let out = sb.tresor().args(["doctor"]).arg(&p).env_remove("SOPS_AGE_KEY_FILE").run();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && text.contains("scw_kms") && text.contains("SCW_SECRET_KEY"), "{text}");
    let audit = sb.tresor().args(["audit", "--format", "json"]).arg(&p).run();
    let v: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(v["files"][0]["keys"][0]["provider"], "scaleway-kms");
    assert_eq!(v["files"][0]["keys"][0]["wrap"], "symmetric");
    assert_eq!(v["files"][0]["sops_decryptable"], false, "sops has no Scaleway key source");
}

/// The field names of the reference's request and response shapes (`testdata/kms/scaleway`)
/// are the ones the test server reads and writes: a request shaped like the fixture is
/// answered with exactly the fixture's fields, and every error object carries the fields
/// its `type` has.
#[test]
fn the_test_server_speaks_the_documented_shapes() {
    let emu = Emulator::start(&[KEY]);
    let fixture = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(testdata(&format!("kms/scaleway/{name}"))).unwrap()).unwrap()
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let post = |op: &str, body: &serde_json::Value, token: &str| -> (u16, serde_json::Value) {
        let url = format!("{}/{op}", emu.key_uri(KEY));
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json"])
            .args(["-H", &format!("X-Auth-Token: {token}"), "--data-binary", &body.to_string(), &url])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (json, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), serde_json::from_str(json).unwrap())
    };
    let (code, enc) = post("encrypt", &fixture("encrypt-request.json"), FULL);
    assert_eq!((code, keys(&enc)), (200, keys(&fixture("encrypt-response.json"))));
    let mut dreq = fixture("decrypt-request.json");
    dreq["ciphertext"] = enc["ciphertext"].clone();
    let (code, dec) = post("decrypt", &dreq, FULL);
    assert_eq!((code, keys(&dec)), (200, keys(&fixture("decrypt-response.json"))));
    assert_eq!(dec["plaintext"], fixture("encrypt-request.json")["plaintext"]);
    let errors = fixture("errors.json");
    let (code, e) = post("encrypt", &fixture("encrypt-request.json"), "wrong");
    assert_eq!((code, keys(&e)), (401, keys(&errors["401"])));
    let (code, e) = post("encrypt", &fixture("encrypt-request.json"), DECRYPT_ONLY);
    assert_eq!((code, keys(&e)), (403, keys(&errors["403"])));
    let (code, e) = post("encrypt", &serde_json::json!({}), FULL);
    assert_eq!((code, keys(&e)), (400, keys(&errors["400"])));
}

/// KMS budgets at scale: `updatekeys -r` over 2,000 files against a test server that
/// answers 429 above 900 requests per second. With `TRESOR_KEY_SERVICE_RATE=800` every
/// request is spaced under the limit: the run completes without one refusal. Without it the
/// same server refuses requests (the budget is real), which the retries then absorb.
#[test]
fn bulk_updatekeys_stays_within_a_rate_limit() {
    let emu = Emulator::start(&[KEY, KEY2]);
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("fleet")).unwrap();
    let one = sb.write("one.yaml", "password: hunter2\n");
    with_token(&mut sb.tresor(), FULL).args(["encrypt", "-i", "--scw-kms", &emu.key_uri(KEY)]).arg(&one).ok();
    let enc = sb.read("one.yaml");
    for i in 0..2000 {
        std::fs::write(sb.path(&format!("fleet/s{i:04}.yaml")), &enc).unwrap();
    }
    sb.write(
        "fleet/.sops.yaml",
        &format!("creation_rules:\n  - scw_kms: {},{}\n", emu.key_uri(KEY), emu.key_uri(KEY2)),
    );
    emu.set_budget(900, std::time::Duration::from_secs(1));
    let t = std::time::Instant::now();
    with_token(&mut sb.tresor(), FULL)
        .args(["updatekeys", "-y", "-r"])
        .arg(sb.path("fleet"))
        .env("TRESOR_KEY_SERVICE_RATE", "800")
        .env_remove("SOPS_AGE_KEY_FILE")
        .ok();
    let took = t.elapsed();
    let st = emu.state.lock().unwrap();
    assert_eq!(st.refused_for_rate, 0, "no request above the limit");
    let requests = st.log.len();
    drop(st);
    assert!(requests >= 4000, "an unwrap and a wrap per file: {requests}");
    // Spaced at 800/s: at least (requests - 1) / 800 seconds.
    assert!(took.as_secs_f64() >= (requests - 1) as f64 / 800.0 - 0.05, "{took:?} for {requests}");
    for i in [0, 999, 1999] {
        let f = sb.read(&format!("fleet/s{i:04}.yaml"));
        assert!(f.contains(KEY) && f.contains(KEY2), "re-wrapped for both keys");
    }
    // The control: without the rate, a burst at a lower budget is refused (the budget is
    // real); with no retries allowed, the run stops at the first refusal.
    std::fs::create_dir_all(sb.path("burst")).unwrap();
    for i in 0..300 {
        std::fs::write(sb.path(&format!("burst/s{i:03}.yaml")), &enc).unwrap();
    }
    sb.write(
        "burst/.sops.yaml",
        &format!("creation_rules:\n  - scw_kms: {},{}\n", emu.key_uri(KEY), emu.key_uri(KEY2)),
    );
    emu.set_budget(50, std::time::Duration::from_secs(1));
    let out = with_token(&mut sb.tresor(), FULL)
        .args(["updatekeys", "-y", "-r"])
        .arg(sb.path("burst"))
        .env("SCW_KMS_RETRIES", "0")
        .env_remove("SOPS_AGE_KEY_FILE")
        .run();
    assert!(!out.status.success());
    assert!(emu.state.lock().unwrap().refused_for_rate > 0, "the budget refuses a burst");
}

/// A fleet's budget, shared: two shard processes of a re-key campaign run at once against a
/// service that refuses more than 900 requests per second. With
/// `TRESOR_KEY_SERVICE_FLEET_RATE=800` each takes half, 400/s: no request is refused. (Each
/// at 800/s, as `TRESOR_KEY_SERVICE_RATE=800` would set it, is under the limit alone and
/// over it together.)
#[test]
fn shards_of_a_campaign_share_the_fleet_rate_budget() {
    let emu = Emulator::start(&[KEY, KEY2]);
    let sb = Sandbox::new();
    let one = sb.write("one.yaml", "password: hunter2\n");
    with_token(&mut sb.tresor(), FULL).args(["encrypt", "-i", "--scw-kms", &emu.key_uri(KEY)]).arg(&one).ok();
    let enc = sb.read("one.yaml");
    let rules = format!("creation_rules:\n  - scw_kms: {},{}\n", emu.key_uri(KEY), emu.key_uri(KEY2));
    let mut list = String::new();
    for r in 0..8 {
        let dir = sb.path(&format!("repo{r}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..120 {
            std::fs::write(dir.join(format!("s{i:03}.yaml")), &enc).unwrap();
        }
        std::fs::write(dir.join(".sops.yaml"), &rules).unwrap();
        git_at(&dir, &["init", "-q", "-b", "main"], "2025-01-01T00:00:00Z");
        git_at(&dir, &["add", "-A"], "2025-01-01T00:00:00Z");
        git_at(&dir, &["commit", "-qm", "start"], "2025-01-01T00:00:00Z");
        list.push_str(&format!("repo{r}\n"));
    }
    let list = sb.write("repos.txt", &list);
    emu.set_budget(900, std::time::Duration::from_secs(1));
    let shards: Vec<_> = (1..=2)
        .map(|i| {
            let mut c = sb.tresor();
            with_token(&mut c, FULL);
            with_git_identity(&mut c)
                .args(["updatekeys", "-y", "--branch", "rekey", "--shard", &format!("{i}/2"), "--repos"])
                .arg(&list)
                .env("TRESOR_KEY_SERVICE_FLEET_RATE", "800")
                .env("SCW_KMS_RETRIES", "0")
                .env_remove("SOPS_AGE_KEY_FILE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut changed = 0;
    for s in shards {
        let out = s.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        changed += summary.as_array().unwrap().iter().filter(|r| r["status"] == "changed").count();
    }
    assert_eq!(changed, 8, "every repository re-keyed by one of the shards");
    let st = emu.state.lock().unwrap();
    assert!(st.log.len() >= 8 * 120 * 2, "an unwrap and a wrap per file: {}", st.log.len());
    assert_eq!(st.refused_for_rate, 0, "the two shards together stayed under the budget");
}
