//! OpenBao transit against a real `bao server -dev` on loopback: interop with sops in
//! both directions, least-privilege tokens, server-side key rotation, and failures
//! (sealed, stopped, wrong token) that leave files untouched.

use crate::common::*;

fn vault_env(cmd: &mut std::process::Command, token: &str) {
    cmd.env("VAULT_TOKEN", token).env_remove("SOPS_AGE_KEY_FILE");
}

#[test]
fn tresor_and_sops_read_each_others_transit_files() {
    let bao = Bao::start();
    let uri = bao.create_key("app");
    let sb = Sandbox::new();
    let src = testdata("roundtrip/k8s-secret.yaml");
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    let enc = c.args(["encrypt", "--hc-vault-transit", &uri]).arg(&src).ok();
    assert!(enc.contains("hc_vault:") && enc.contains("vault:v1:"), "{enc}");
    assert!(enc.contains(&format!("vault_address: {}", bao.addr)));
    let f = sb.write("ours.yaml", &enc);
    let mut s = sb.sops();
    vault_env(&mut s, "root");
    let theirs = s.arg("decrypt").arg(&f).ok();
    let original = std::fs::read_to_string(&src).unwrap();
    assert_same_docs(&data(&theirs, "x.yaml"), &data(&original, "x.yaml"), "tresor→sops");
    // The other direction.
    let mut s = sb.sops();
    vault_env(&mut s, "root");
    let by_sops = s.args(["encrypt", "--hc-vault-transit", &uri]).arg(&src).ok();
    let g = sb.write("theirs.yaml", &by_sops);
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    let ours = c.arg("decrypt").arg(&g).ok();
    assert_same_docs(&data(&ours, "x.yaml"), &data(&std::fs::read_to_string(&src).unwrap(), "x.yaml"), "sops→tresor");
}

#[test]
fn least_privilege_token_and_errors_leave_files_untouched() {
    let mut bao = Bao::start();
    let uri = bao.create_key("app");
    let other = bao.create_key("other");
    let policy = bao.home.path().join("p.hcl");
    std::fs::write(&policy, "path \"transit/encrypt/app\" { capabilities = [\"update\"] }\npath \"transit/decrypt/app\" { capabilities = [\"update\"] }\n").unwrap();
    bao.cli(&["policy", "write", "app-only", policy.to_str().unwrap()]);
    let token = bao.cli(&["token", "create", "-policy=app-only", "-field=token"]);
    let token = token.trim();
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "password: hunter2\n");
    let mut c = sb.tresor();
    vault_env(&mut c, token);
    c.args(["encrypt", "-i", "--hc-vault-transit", &uri]).arg(&p).ok();
    let encrypted = sb.read("s.yaml");
    let mut c = sb.tresor();
    vault_env(&mut c, token);
    assert_eq!(c.arg("decrypt").arg(&p).ok(), "password: hunter2\n");
    // The same token may not use another key.
    let q = sb.write("q.yaml", "a: b\n");
    let mut c = sb.tresor();
    vault_env(&mut c, token);
    let err = c.args(["encrypt", "-i", "--hc-vault-transit", &other]).arg(&q).fails_with(128);
    assert!(err.contains("403") && err.contains("permission denied"), "{err}");
    assert!(err.contains("its policy allows"), "{err}");
    assert_eq!(sb.read("q.yaml"), "a: b\n");
    // Wrong token.
    let mut c = sb.tresor();
    vault_env(&mut c, "not-a-token");
    let err = c.args(["decrypt", "-i"]).arg(&p).fails_with(128);
    assert!(err.contains("OpenBao/Vault refused"), "{err}");
    assert!(err.contains("hint: the key service refused the credentials"), "{err}");
    assert_eq!(sb.read("s.yaml"), encrypted);
    // Sealed server.
    bao.cli(&["operator", "seal"]);
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    let err = c.args(["decrypt", "-i"]).arg(&p).fails_with(128);
    assert!(err.contains("sealed") && err.contains("hint: the OpenBao/Vault server is sealed"), "{err}");
    assert_eq!(sb.read("s.yaml"), encrypted);
    // Stopped server: retried, then a clear error.
    bao.stop();
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    let err = c.args(["decrypt", "-i"]).arg(&p).env("VAULT_MAX_RETRIES", "1").fails_with(128);
    assert!(err.contains("cannot reach") && err.contains("hint: the key service did not answer"), "{err}");
    assert_eq!(sb.read("s.yaml"), encrypted);
}

#[test]
fn server_side_key_rotation_keeps_old_files_readable() {
    let bao = Bao::start();
    let uri = bao.create_key("rot");
    let sb = Sandbox::new();
    let p = sb.write("r.yaml", "k: v\n");
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    c.args(["encrypt", "-i", "--hc-vault-transit", &uri]).arg(&p).ok();
    assert!(sb.read("r.yaml").contains("vault:v1:"));
    bao.cli(&["write", "-f", "transit/keys/rot/rotate"]);
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    assert_eq!(c.arg("decrypt").arg(&p).ok(), "k: v\n");
    // Re-wrapping picks up the new key version.
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    c.args(["rotate", "-i"]).arg(&p).ok();
    assert!(sb.read("r.yaml").contains("vault:v2:"));
    let mut s = sb.sops();
    vault_env(&mut s, "root");
    assert_eq!(s.arg("decrypt").arg(&p).ok(), "k: v\n");
}

#[test]
fn shamir_groups_interoperate_with_sops() {
    let bao = Bao::start();
    let uri = bao.create_key("share");
    let sb = Sandbox::new();
    let (r1, r2) = (recipient(), recipient_of(&testdata("keys/age-test2.txt")));
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{r1}]\n      - age: [{r2}]\n      - hc_vault: [{uri}]\n"
        ),
    );
    let p = sb.write("g.yaml", "secret: shared\nnested:\n  n: 1\n");
    let mut c = sb.tresor();
    vault_env(&mut c, "root");
    c.args(["encrypt", "-i"]).arg(&p).ok();
    let enc = sb.read("g.yaml");
    assert!(enc.contains("shamir_threshold: 2") && enc.contains("key_groups:"), "{enc}");
    // Any two groups decrypt, with tresor and with sops; one is not enough.
    let k1 = testdata("keys/age-test.txt");
    let k2 = testdata("keys/age-test2.txt");
    let both = format!("{}{}", std::fs::read_to_string(&k1).unwrap(), std::fs::read_to_string(&k2).unwrap());
    let mut c = sb.tresor();
    c.arg("decrypt").arg(&p).env_remove("SOPS_AGE_KEY_FILE").env("SOPS_AGE_KEY", &both).env("VAULT_TOKEN", "none");
    assert_eq!(c.ok(), "secret: shared\nnested:\n  n: 1\n");
    for cmd in [sb.tresor(), sb.sops()] {
        let mut cmd = cmd;
        cmd.arg("decrypt").arg(&p).env("SOPS_AGE_KEY_FILE", &k2).env("VAULT_TOKEN", "root");
        assert!(cmd.ok().contains("secret: shared"));
    }
    let mut c = sb.tresor();
    c.arg("decrypt").arg(&p).env("SOPS_AGE_KEY_FILE", &k2).env("VAULT_TOKEN", "wrong").env("VAULT_MAX_RETRIES", "0");
    let err = c.fails_with(128);
    assert!(err.contains("only 1 of the 2"), "{err}");
    // A sops-written Shamir file decrypts with tresor.
    let q = sb.write("h.yaml", "x: z\n");
    let mut s = sb.sops();
    s.args(["encrypt", "-i"]).arg(&q).env("VAULT_TOKEN", "root");
    s.ok();
    let mut c = sb.tresor();
    c.arg("decrypt").arg(&q).env("SOPS_AGE_KEY_FILE", &k1).env("VAULT_TOKEN", "root");
    assert_eq!(c.ok(), "x: z\n");
}

#[test]
fn updatekeys_recursive_rewraps_many_files_in_batches() {
    let bao = Bao::start();
    let uri = bao.create_key("bulk");
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("apps/a")).unwrap();
    sb.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n", recipient()));
    let mut originals = Vec::new();
    for i in 0..12 {
        let name = format!("apps/a/s{i}.yaml");
        let p = sb.write(&name, &format!("n: {i}\npassword: pw-{i}\n"));
        sb.tresor().args(["encrypt", "-i"]).arg(&p).ok();
        originals.push((name, sb.read(&format!("apps/a/s{i}.yaml"))));
    }
    // A corrupt file among them is reported, the rest are still updated.
    sb.write("apps/a/broken.yaml", "n: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n    age:\n        - recipient: age1qqq\n          enc: nope\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: x\n    version: 3.11.0\n");
    sb.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n    hc_vault_transit_uri: {uri}\n", recipient()));
    let mut c = sb.tresor();
    c.args(["updatekeys", "-y", "-r"]).arg(sb.path("apps")).env("VAULT_TOKEN", "root");
    let out = c.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{stderr}");
    assert!(stderr.contains("updated 12 file(s), 0 unchanged, 1 failed"), "{stderr}");
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    for (name, before) in &originals {
        let after = sb.read(name);
        assert!(after.contains("hc_vault:"), "{name}");
        // Values, MAC and lastmodified are untouched.
        let body = |t: &str| t.split("\nsops:").next().unwrap().to_string();
        assert_eq!(body(&after), body(before));
        let mac = |t: &str| t.lines().find(|l| l.trim_start().starts_with("mac:")).unwrap().to_string();
        assert_eq!(mac(&after), mac(before));
        // sops decrypts through the new transit key alone.
        let mut s = sb.sops();
        s.arg("decrypt").arg(sb.path(name)).env_remove("SOPS_AGE_KEY_FILE").env("VAULT_TOKEN", "root");
        assert!(s.ok().contains("password: pw-"));
    }
    // Running again changes nothing.
    let mut c = sb.tresor();
    c.args(["updatekeys", "-y"]).arg(sb.path("apps/a/s0.yaml")).env("VAULT_TOKEN", "root");
    let out = c.run();
    assert!(String::from_utf8_lossy(&out.stderr).contains("updated 0 file(s), 1 unchanged"));
    // Bulk rotation: new data keys everywhere, wrapped in batches; the broken file is
    // reported and the others are rotated.
    let mut c = sb.tresor();
    c.args(["rotate", "-r"]).arg(sb.path("apps")).env("VAULT_TOKEN", "root");
    let out = c.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rotated 12 file(s), 0 unchanged, 1 failed"), "{stderr}");
    for (name, before) in &originals {
        let after = sb.read(name);
        assert_ne!(after.lines().nth(1), before.lines().nth(1), "{name}: ciphertext should change");
        let mut s = sb.sops();
        s.arg("decrypt").arg(sb.path(name)).env_remove("SOPS_AGE_KEY_FILE").env("VAULT_TOKEN", "root");
        assert!(s.ok().contains("password: pw-"));
    }
}
