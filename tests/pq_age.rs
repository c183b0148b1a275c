//! Post-quantum age (ML-KEM-768 + X25519 hybrid, `age1pq1…`, as sops 3.12+, ksops 4.5+ and
//! Flux 2.9 write it) end to end, against a second implementation: typage (npm
//! `age-encryption`, on Node.js). typage opens the data key tresor wrapped; tresor opens a
//! file whose wrap typage made; identities made by either work in both; the real sops reads
//! tresor's file; `.sops.yaml`, `updatekeys` and `rotate` carry the ~2 KB recipients.

use crate::common::*;
use std::process::Command;

fn typage_dir() -> std::path::PathBuf {
    peer_path("typage/node_modules/age-encryption/package.json");
    peer_path("typage")
}

fn typage(args: &[&str], stdin: Option<&str>) -> (String, String) {
    let mut c = Command::new("node");
    c.arg(root().join("tests/support/typage.mjs")).args(args).env("TYPAGE_DIR", typage_dir());
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("node");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "typage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// (identity, recipient) made by typage.
fn typage_key() -> (String, String) {
    let (out, _) = typage(&["keygen"], None);
    let mut lines = out.lines();
    (lines.next().unwrap().to_string(), lines.next().unwrap().to_string())
}

#[test]
fn post_quantum_files_cross_between_tresor_typage_and_sops() {
    let sb = Sandbox::new();
    let (id1, r1) = typage_key();
    let (id2, r2) = typage_key();
    assert!(r1.starts_with("age1pq1") && r1.len() > 1900 && id1.starts_with("AGE-SECRET-KEY-PQ-1"));
    // tresor's own post-quantum identity.
    let mine = sb.path("pq.txt");
    let mine_pub = sb.tresor().args(["keygen", "--pq", "-o"]).arg(&mine).ok().trim().to_string();
    assert!(mine_pub.starts_with("age1pq1"), "{mine_pub}");

    let plain = "{\n  \"db\": {\n    \"password\": \"pq-secret\"\n  },\n  \"port\": 5432\n}\n";
    let src = sb.write("app.json", plain);
    let enc = sb.tresor().args(["encrypt", "--age", &format!("{r1},{mine_pub}")]).arg(&src).ok();
    let file = sb.write("app.enc.json", &enc);
    // Identities made by typage and by tresor both open it, in tresor and in sops.
    for (what, key) in
        [("typage's identity", id1.clone()), ("tresor's identity", std::fs::read_to_string(&mine).unwrap())]
    {
        let out = sb.tresor().arg("decrypt").arg(&file).env("SOPS_AGE_KEY", &key).env_remove("SOPS_AGE_KEY_FILE").ok();
        assert_eq!(out, plain, "tresor with {what}");
        let out = sb.sops().arg("decrypt").arg(&file).env("SOPS_AGE_KEY", &key).env_remove("SOPS_AGE_KEY_FILE").ok();
        assert_eq!(data(&out, "x.json"), data(plain, "x.json"), "sops with {what}");
    }

    // typage opens the data key tresor wrapped for r1 and wraps it anew for r2; tresor then
    // opens the file through typage's wrap alone (the MAC proves it is the same data key).
    let mut doc: serde_json::Value = serde_json::from_str(&enc).unwrap();
    let entries = doc["sops"]["age"].as_array_mut().unwrap();
    let at = entries.iter().position(|e| e["recipient"] == r1.as_str()).unwrap();
    let (wrapped, len) = typage(&["rewrap", &id1, &r2], Some(entries[at]["enc"].as_str().unwrap()));
    assert_eq!(len.trim(), "32", "the data key is 32 bytes");
    entries[at]["recipient"] = r2.clone().into();
    entries[at]["enc"] = wrapped.into();
    entries.retain(|e| e["recipient"] == r2.as_str());
    let rewrapped = sb.write("typage.enc.json", &format!("{}\n", serde_json::to_string_pretty(&doc).unwrap()));
    let out = sb.tresor().arg("decrypt").arg(&rewrapped).env("SOPS_AGE_KEY", &id2).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(out, plain, "tresor opens typage's wrap");
    // Without the right identity: refused, naming the post-quantum recipient briefly.
    let err = sb
        .tresor()
        .arg("decrypt")
        .arg(&rewrapped)
        .env("SOPS_AGE_KEY", &id1)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(!err.status.success());
}

#[test]
fn post_quantum_recipients_work_through_sops_yaml_updatekeys_and_rotate() {
    let sb = Sandbox::new();
    let (id1, r1) = typage_key();
    // A creation rule with a ~2 KB recipient, mixed with a classic one (a file is only as
    // strong as its weakest wrap; the audit says so, this test checks the mechanics).
    sb.write(".sops.yaml", &format!("creation_rules:\n  - age: >-\n      {r1},\n      {}\n", recipient()));
    let src = sb.write("s.yaml", "token: pq-token\n");
    sb.tresor().args(["encrypt", "-i"]).arg(&src).ok();
    let text = sb.read("s.yaml");
    assert!(text.contains(&r1), "the recipient is written whole");
    let with_pq = |sb: &Sandbox, f: &std::path::Path| {
        sb.tresor().arg("decrypt").arg(f).env("SOPS_AGE_KEY", &id1).env_remove("SOPS_AGE_KEY_FILE").output().unwrap()
    };
    assert!(with_pq(&sb, &src).status.success());
    // updatekeys to a rule naming only the classic key drops the pq wrap; rotate --add-age
    // brings it back under a new data key.
    sb.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n", recipient()));
    sb.tresor().args(["updatekeys", "-y"]).arg(&src).ok();
    assert!(!sb.read("s.yaml").contains(&r1));
    assert!(!with_pq(&sb, &src).status.success());
    sb.tresor().args(["rotate", "-i", "--add-age", &r1]).arg(&src).ok();
    let out = with_pq(&sb, &src);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "token: pq-token\n");
    assert!(sb
        .sops()
        .arg("decrypt")
        .arg(&src)
        .env("SOPS_AGE_KEY", &id1)
        .env_remove("SOPS_AGE_KEY_FILE")
        .ok()
        .contains("pq-token"));
}

/// The two lines `docs/keys.md` shows, as written.
#[test]
fn the_documented_post_quantum_commands_run_as_written() {
    let sb = Sandbox::new();
    sb.write("s.yaml", "token: t\n");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    let doc = std::fs::read_to_string(root().join("docs/keys.md")).unwrap();
    let block = doc.split("```sh\ntresor keygen --pq").nth(1).expect("the block").split("```").next().unwrap();
    let script = format!("set -e\ntresor keygen --pq{block}");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(sb.dir.path())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("HOME", sb.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    let opened = sb.tresor().arg("decrypt").arg(sb.path("s.yaml")).env("SOPS_AGE_KEY_FILE", sb.path("pq.txt")).ok();
    assert_eq!(opened, "token: t\n");
}
