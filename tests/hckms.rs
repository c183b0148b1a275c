//! Huawei Cloud / Open Telekom Cloud KMS against the signing test server in
//! `hckms_emulator.rs`: entries shaped as sops ≥ 3.12 writes them (`hckms` between
//! `gcp_kms` and `azure_kv`, `key_id` `region:key-uuid`, `created_at`, `enc`), an Open
//! Telekom Cloud region (which sops' region table lacks), co-wrapped with age so sops 3.11
//! still decrypts, `.sops.yaml` key groups, and refused signatures, projects and keys.

use crate::common::*;
use crate::hckms_emulator::{Emulator, AK, PROJECT, SK};

const KEY: &str = "0d0466b0-e727-4d9c-b35d-f84bb474a37f";

fn with_creds<'a>(cmd: &'a mut std::process::Command, emu: &Emulator) -> &'a mut std::process::Command {
    cmd.env("HCKMS_ENDPOINT", &emu.endpoint)
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT)
        .env("HCKMS_RETRIES", "1")
}

#[test]
fn open_telekom_cloud_round_trip_in_sops_shape() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "token: abc\n");
    let id = format!("eu-de:{KEY}");
    with_creds(&mut sb.tresor(), &emu).args(["encrypt", "-i", "--hckms", &id, "--age", &recipient()]).arg(&p).ok();
    let enc = sb.read("s.yaml");
    let at = enc.find("    hckms:\n        - key_id: eu-de:").unwrap_or_else(|| panic!("{enc}"));
    let after = &enc[at..];
    let (c, e) = (after.find("created_at:").unwrap(), after.find("enc:").unwrap());
    assert!(c < e, "sops' field order: key_id, created_at, enc");
    assert!(enc.find("    hckms:").unwrap() < enc.find("    age:").unwrap(), "{enc}");
    let plain = with_creds(&mut sb.tresor(), &emu).arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(plain, "token: abc\n");
    assert_eq!(sb.sops().arg("decrypt").arg(&p).ok(), "token: abc\n", "sops 3.11 ignores hckms and uses age");
    // The audit: Open Telekom Cloud is T-Systems (Germany) and the wrap symmetric.
    let audit = with_creds(&mut sb.tresor(), &emu)
        .args(["audit", "--format", "json"])
        .arg(&p)
        .env_remove("HCKMS_ENDPOINT")
        .run();
    let v: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let k = v["files"][0]["keys"].as_array().unwrap().iter().find(|k| k["kind"] == "hckms").cloned().unwrap();
    assert_eq!(
        (k["provider"].as_str(), k["jurisdiction"].as_str(), k["wrap"].as_str()),
        (Some("otc-kms"), Some("eu"), Some("symmetric"))
    );
    // Shamir: a key group of sops' structured form ({key_id: …}) and an age group, both
    // needed; rotate (new data key) and updatekeys keep it readable, and only with both.
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - hckms:\n          - key_id: {id}\n      - age: [{}]\n",
            recipient()
        ),
    );
    let g = sb.write("g.yaml", "a: b\n");
    with_creds(&mut sb.tresor(), &emu).args(["encrypt", "-i"]).arg(&g).ok();
    with_creds(&mut sb.tresor(), &emu).args(["rotate", "-i"]).arg(&g).ok();
    with_creds(&mut sb.tresor(), &emu).args(["updatekeys", "-y"]).arg(&g).ok();
    assert_eq!(with_creds(&mut sb.tresor(), &emu).arg("decrypt").arg(&g).ok(), "a: b\n");
    let err = sb.tresor().arg("decrypt").arg(&g).fails_with(128);
    assert!(err.contains("HUAWEICLOUD_SDK_AK"), "one share is missing without the KMS: {err}");
    // rotate --rm-hckms drops the entry from the file that has age beside it.
    with_creds(&mut sb.tresor(), &emu).args(["rotate", "-i", "--rm-hckms", &id]).arg(&p).ok();
    assert!(!sb.read("s.yaml").contains("hckms:"), "{}", sb.read("s.yaml"));
}

#[test]
fn refused_signatures_projects_and_keys_leave_files_untouched() {
    let emu = Emulator::start(&[KEY]);
    let sb = Sandbox::new();
    let q = sb.write("q.yaml", "x: y\n");
    let id = format!("eu-nl:{KEY}");
    let attempt = |env: &[(&str, &str)], id: &str| {
        let mut c = sb.tresor();
        with_creds(&mut c, &emu);
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(["encrypt", "-i", "--hckms", id]).arg(&q).fails_with(128)
    };
    let err = attempt(&[("HUAWEICLOUD_SDK_SK", "wrong-secret")], &id);
    assert!(err.contains("401") && err.contains("APIGW.0301") && err.contains("HUAWEICLOUD_SDK_AK/SK"), "{err}");
    let err = attempt(&[("HUAWEICLOUD_SDK_PROJECT_ID", "another-project")], &id);
    assert!(err.contains("403") && err.contains("KMS.0203") && err.contains("region eu-nl"), "{err}");
    let err = attempt(&[], &format!("eu-nl:{}", "00000000-0000-4000-8000-000000000000"));
    assert!(err.contains("404") && err.contains("KMS.0205"), "{err}");
    emu.disable(KEY);
    let err = attempt(&[], &id);
    assert!(err.contains("KMS.0207") && err.contains("disabled"), "{err}");
    let mut c = sb.tresor();
    let err = c.args(["encrypt", "-i", "--hckms", &id]).arg(&q).env("HCKMS_ENDPOINT", &emu.endpoint).fails_with(128);
    assert!(err.contains("HUAWEICLOUD_SDK_AK"), "{err}");
    assert_eq!(sb.read("q.yaml"), "x: y\n");
}

/// A file with an `hckms` entry exactly as sops ≥ 3.12 writes it (`testdata/kms/hckms/
/// sops-entry.yaml`) next to an age key: tresor reads the entry (the audit names it), keeps
/// it byte for byte through `set`, and writes its own entries in the same shape.
#[test]
fn sops_3_12_entries_are_read_and_kept() {
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "a: b\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    let fixture = std::fs::read_to_string(testdata("kms/hckms/sops-entry.yaml")).unwrap();
    let entry = fixture.strip_prefix("sops:\n").unwrap();
    let with = sb.read("s.yaml").replacen("sops:\n", &format!("sops:\n{entry}"), 1);
    sb.write("s.yaml", &with);
    sb.tresor().arg("set").arg(&p).args(["[\"c\"]", "\"d\""]).ok();
    assert!(sb.read("s.yaml").contains(entry), "kept byte for byte:\n{}", sb.read("s.yaml"));
    let out = sb.tresor().args(["audit", "--format", "json"]).arg(&p).run();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = v["files"][0]["keys"].as_array().unwrap().iter().find(|k| k["kind"] == "hckms").cloned().unwrap();
    assert_eq!(k["key_id"], "eu-de:0d0466b0-e727-4d9c-b35d-f84bb474a37f");
    assert_eq!(k["jurisdiction"], "eu");
}
