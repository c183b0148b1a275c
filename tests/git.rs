//! The `tresor` diff driver with the real git: `tresor git setup`, then `git diff` and
//! `git log -p` show decrypted values to a key holder and, to anyone else, which values'
//! ciphertext changed instead of base64 — and nothing is written in plaintext.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tresor"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.eu", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("PATH", path)
        .env("HOME", dir.join("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("SOPS_AGE_KEY_FILE", key_file());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn diffs_show_values_to_key_holders_and_changed_paths_to_others() {
    let sb = Sandbox::new();
    let dir = sb.path("repo");
    std::fs::create_dir_all(dir.join("home")).unwrap();
    ok(git(&dir, &["init", "-q"], &[]));
    let plain = sb.write("repo/db.enc.yaml", "user: admin\npassword: hunter2\nport: 5432\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&plain).ok();
    ok(git(&dir, &["add", "db.enc.yaml"], &[]));
    ok(git(&dir, &["commit", "-q", "-m", "one"], &[]));

    // Set-up: missing before, present after, idempotent.
    let check = git(&dir, &["status"], &[]);
    assert!(check.status.success());
    let before =
        sb.tresor().args(["git", "setup", "--check"]).current_dir(&dir).env("HOME", dir.join("home")).output().unwrap();
    assert_eq!(before.status.code(), Some(1), "{}", String::from_utf8_lossy(&before.stdout));
    sb.tresor().args(["git", "setup"]).current_dir(&dir).env("HOME", dir.join("home")).ok();
    sb.tresor().args(["git", "setup"]).current_dir(&dir).env("HOME", dir.join("home")).ok();
    assert_eq!(std::fs::read_to_string(dir.join(".gitattributes")).unwrap(), "/db.enc.yaml diff=tresor\n");
    let after =
        sb.tresor().args(["git", "setup", "--check"]).current_dir(&dir).env("HOME", dir.join("home")).output().unwrap();
    assert_eq!(after.status.code(), Some(0), "{}", String::from_utf8_lossy(&after.stdout));

    // Change one value, as a key holder would.
    sb.tresor().args(["set"]).arg(&plain).args(["[\"password\"]", "\"hunter3\""]).ok();
    let diff = ok(git(&dir, &["diff"], &[]));
    assert!(diff.contains("-password: hunter2") && diff.contains("+password: hunter3"), "{diff}");
    assert!(!diff.lines().any(|l| l.starts_with("-user") || l.starts_with("+user")), "{diff}");
    assert!(!diff.contains("ENC[AES256_GCM"), "the metadata is not shown to key holders: {diff}");
    ok(git(&dir, &["commit", "-q", "-am", "two"], &[]));
    let log = ok(git(&dir, &["log", "-p", "-1"], &[]));
    assert!(log.contains("+password: hunter3"), "{log}");

    // Without the key: which value changed, as digests, never base64 or plaintext.
    let keyless = ok(git(&dir, &["log", "-p", "-1"], &[("SOPS_AGE_KEY_FILE", "/dev/null")]));
    assert!(keyless.contains("shown without decrypting"), "{keyless}");
    let changed: Vec<&str> = keyless
        .lines()
        .filter(|l| (l.starts_with('-') || l.starts_with('+')) && !l.starts_with("---") && !l.starts_with("+++"))
        .collect();
    assert!(changed.iter().any(|l| l.starts_with("-password: ENC[sha256:")), "{keyless}");
    assert!(changed.iter().any(|l| l.starts_with("+password: ENC[sha256:")), "{keyless}");
    assert!(
        !changed.iter().any(|l| l.starts_with("-user:") || l.starts_with("-port:")),
        "unchanged values kept their ciphertext: {keyless}"
    );
    assert!(!keyless.contains("hunter") && !keyless.contains("data:"), "{keyless}");

    // Nothing in the working tree holds the plaintext.
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            assert!(!std::fs::read_to_string(&p).unwrap_or_default().contains("hunter"), "{}", p.display());
        }
    }
}
