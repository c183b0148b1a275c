//! set / unset / rotate / exec-env / exec-file and .sops.yaml discovery.

use crate::common::*;

fn encrypted(sb: &Sandbox, name: &str, text: &str) -> std::path::PathBuf {
    let p = sb.write(name, text);
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    p
}

#[test]
fn set_changes_one_value_and_nothing_else() {
    let sb = Sandbox::new();
    let p = encrypted(&sb, "s.yaml", "db:\n  user: app   # the login\n  password: old\nother: keep\n");
    let before = sb.read("s.yaml");
    sb.tresor().arg("set").arg(&p).args(["[\"db\"][\"password\"]", "\"n3w\""]).ok();
    let after = sb.read("s.yaml");
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim().split(':').next().unwrap().to_string())
        .collect();
    assert!(changed.iter().all(|k| ["password", "mac", "lastmodified"].contains(&k.as_str())), "{changed:?}");
    assert_eq!(
        sb.tresor().arg("decrypt").arg(&p).ok(),
        "db:\n  user: app   # the login\n  password: n3w\nother: keep\n"
    );
    // New keys are added; sops agrees.
    sb.tresor().arg("set").arg(&p).args(["[\"db\"][\"port\"]", "5432"]).ok();
    sb.tresor().arg("set").arg(&p).args(["[\"new\"]", "{\"a\": [1, 2]}"]).ok();
    let dec = sb.tresor().arg("decrypt").arg(&p).ok();
    assert!(dec.contains("  port: 5432\n"), "{dec}");
    let theirs = sb.sops().args(["decrypt", "--extract", "[\"new\"][\"a\"][1]"]).arg(&p).ok();
    let ours = sb.tresor().args(["decrypt", "--extract", "[\"new\"][\"a\"][1]"]).arg(&p).ok();
    assert_eq!(theirs, "2\n");
    assert_eq!(ours, theirs);
    // --value-stdin keeps the secret out of argv.
    let out = sb.tresor().arg("set").arg(&p).args(["[\"other\"]", "--value-stdin"]).stdin_text("\"from-stdin\"");
    assert!(out.status.success());
    assert!(sb.tresor().arg("decrypt").arg(&p).ok().contains("other: from-stdin"));
}

#[test]
fn unset_removes_entries_and_list_items() {
    let sb = Sandbox::new();
    let p = encrypted(&sb, "u.yaml", "a: 1\nb:\n  c: 2\n  d: 3\nlist:\n  - x\n  - y\n");
    sb.tresor().arg("unset").arg(&p).arg("[\"b\"][\"c\"]").ok();
    sb.tresor().arg("unset").arg(&p).arg("[\"list\"][0]").ok();
    assert_eq!(sb.tresor().arg("decrypt").arg(&p).ok(), "a: 1\nb:\n  d: 3\nlist:\n  - y\n");
    sb.tresor().arg("unset").arg(&p).arg("[\"nope\"]").fails_with(1);
    sb.tresor().args(["unset", "--idempotent"]).arg(&p).arg("[\"nope\"]").ok();
    sb.sops().arg("decrypt").arg(&p).ok();
}

#[test]
fn set_on_json_files() {
    let sb = Sandbox::new();
    let p = encrypted(&sb, "j.json", "{\n  \"a\": \"x\",\n  \"b\": {\"c\": 1}\n}\n");
    sb.tresor().arg("set").arg(&p).args(["[\"b\"][\"d\"]", "true"]).ok();
    sb.tresor().arg("unset").arg(&p).arg("[\"a\"]").ok();
    let dec = sb.tresor().arg("decrypt").arg(&p).ok();
    let v: serde_json::Value = serde_json::from_str(&dec).unwrap();
    assert_eq!(v, serde_json::json!({"b": {"c": 1, "d": true}}));
    sb.sops().arg("decrypt").arg(&p).ok();
}

#[test]
fn rotate_changes_the_data_key_and_keeps_values() {
    let sb = Sandbox::new();
    let p = encrypted(&sb, "r.yaml", "k: v\nn: 2\n");
    let before = sb.read("r.yaml");
    let r2 = recipient_of(&testdata("keys/age-test2.txt"));
    sb.tresor().args(["rotate", "-i", "--add-age", &r2]).arg(&p).ok();
    let after = sb.read("r.yaml");
    assert_ne!(before.lines().next(), after.lines().next(), "ciphertext should change under a new data key");
    for k in ["keys/age-test.txt", "keys/age-test2.txt"] {
        let mut s = sb.sops();
        s.arg("decrypt").arg(&p).env("SOPS_AGE_KEY_FILE", testdata(k));
        assert_same_docs(&data(&s.ok(), "r.yaml"), &data("k: v\nn: 2\n", "r.yaml"), "rotated");
    }
    sb.tresor().args(["rotate", "-i", "--rm-age", &r2]).arg(&p).ok();
    sb.tresor().arg("decrypt").arg(&p).env("SOPS_AGE_KEY_FILE", testdata("keys/age-test2.txt")).fails_with(128);
}

#[test]
fn exec_env_and_exec_file_pass_secrets_without_disk() {
    let sb = Sandbox::new();
    let p = encrypted(&sb, "e.yaml", "API_TOKEN: s3cret\nPORT: 8080\n");
    let out = sb.tresor().arg("exec-env").arg(&p).arg("printf '%s:%s' \"$API_TOKEN\" \"$PORT\"").ok();
    assert_eq!(out, "s3cret:8080");
    let out = sb.tresor().arg("exec-file").arg(&p).arg("cat {}").ok();
    assert_eq!(out, "API_TOKEN: s3cret\nPORT: 8080\n");
    let out = sb
        .tresor()
        .args(["exec-file", "--no-fifo", "--output-type", "json"])
        .arg(&p)
        .arg("cat {}; test -p {} || echo regular")
        .ok();
    assert!(out.contains("\"API_TOKEN\": \"s3cret\"") && out.contains("regular"), "{out}");
    // The child's exit code is passed through; nested values are refused like sops.
    sb.tresor().arg("exec-env").arg(&p).arg("exit 7").fails_with(7);
    let q = encrypted(&sb, "n.yaml", "nested:\n  a: b\n");
    sb.tresor().arg("exec-env").arg(&q).arg("true").fails_with(1);
}

#[test]
fn sops_yaml_is_found_from_the_files_directory() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("team/prod")).unwrap();
    let r2 = recipient_of(&testdata("keys/age-test2.txt"));
    sb.write("team/.sops.yaml", &format!("creation_rules:\n  - path_regex: ^prod/.*\\.yaml$\n    age: {r2}\n    encrypted_regex: ^(data|stringData)$\n  - age: {}\n", recipient()));
    let p = sb.write("team/prod/s.yaml", "metadata:\n  name: x\nstringData:\n  k: v\n");
    // Run from an unrelated directory: sops would not find team/.sops.yaml here.
    let other = tempfile::tempdir().unwrap();
    let mut c = sb.tresor();
    c.current_dir(other.path()).args(["encrypt", "-i"]).arg(&p);
    c.ok();
    let enc = sb.read("team/prod/s.yaml");
    assert!(enc.contains(&r2) && enc.contains("name: x") && enc.contains("encrypted_regex"), "{enc}");
    let q = sb.write("team/other.yaml", "a: b\n");
    let mut c = sb.tresor();
    c.current_dir(other.path()).args(["encrypt", "-i"]).arg(&q);
    c.ok();
    assert!(sb.read("team/other.yaml").contains(&recipient()));
    // No matching rule is an error (exit 1), as in sops.
    sb.write("team/.sops.yaml", "creation_rules:\n  - path_regex: ^nothing$\n    age: age1x\n");
    let r = sb.write("team/r.yaml", "a: b\n");
    let err = sb.tresor().args(["encrypt"]).arg(&r).fails_with(1);
    assert!(err.contains("no creation rule matches") && err.contains("--age"), "{err}");
    // Keys named on the command line need no rule, as in sops.
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&r).ok();
    assert!(enc.contains("ENC[AES256_GCM"), "{enc}");
}

#[test]
fn exec_env_and_exec_file_mask_secret_values_in_the_child_output() {
    let sb = Sandbox::new();
    let enc = sb.encrypted("app.env", "DB_PASSWORD=hunter2-secret\nMODE=dev\n");
    let out = sb
        .tresor()
        .args(["exec-env", "--mask"])
        .arg(&enc)
        .arg("echo \"pw=$DB_PASSWORD b64=$(printf %s \"$DB_PASSWORD\" | base64) mode=$MODE\"; echo \"err $DB_PASSWORD\" >&2; exit 3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "the child's exit code passes through");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pw=*** b64=***= mode=dev\n", "short values stay");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err ***\n");
    let file = sb.tresor().args(["exec-file", "--mask"]).arg(&enc).arg("cat {}").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&file.stdout), "DB_PASSWORD=***\nMODE=dev\n");
    // Without --mask the child's output is its own.
    let plain = sb.tresor().args(["exec-env"]).arg(&enc).arg("echo $DB_PASSWORD").ok();
    assert_eq!(plain, "hunter2-secret\n");

    // The forms CI runners mask, printed by the real tools: GNU base64 of `user:PASS` for
    // users of each length mod 3, its wrapped output for a 57+ byte value, jq's JSON
    // escaping, bash's %q quoting, and a single line of a multi-line value.
    let long = format!("{}-end", "k".repeat(70));
    let enc = sb.encrypted(
        "ci.yaml",
        &format!("PASS: 'Tr0ub\"4dor &3'\nLONG: {long}\nPEM: |-\n  -----BEGIN KEY-----\n  MIIEvQIBADANBgkq\n  -----END KEY-----\n"),
    );
    let script = r#"for u in a ab abc; do printf '%s:%s' "$u" "$PASS" | base64; done
printf %s "$LONG" | base64
printf '%s' "$PASS" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'
bash -c 'printf "%q\n" "$PASS"'
printf '%s\n' "$PEM" | sed -n 2p"#;
    let out = sb.tresor().args(["exec-env", "--mask"]).arg(&enc).arg(script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains("***"), "line {i} unmasked: {text}");
        let rest = l.replace("***", "");
        assert!(rest.len() <= 8, "line {i}: at most a few edge characters stay: {text}");
    }
    for needle in ["Tr0ub", "4dor", "MIIEvQIBADANBgkq", &long[..20]] {
        assert!(!text.contains(needle), "{needle}: {text}");
    }
}

/// A re-key campaign over work trees: after `.sops.yaml` gains a key, `updatekeys --repos
/// … --branch` commits the re-wrapped files on that branch in each repository that needs
/// it (the work tree back on its branch, the new key able to decrypt on the branch), leaves
/// one that needs nothing without a branch, refuses one with local changes, and writes a
/// summary per repository.
#[test]
fn updatekeys_campaign_commits_on_a_branch_per_repository() {
    let sb = Sandbox::new();
    let second = recipient_of(&testdata("keys/age-test2.txt"));
    let make = |name: &str, recipients: &str| {
        let dir = sb.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        git_at(&dir, &["init", "-q", "-b", "main"], "2025-01-01T00:00:00Z");
        std::fs::write(dir.join(".sops.yaml"), format!("creation_rules:\n  - age: {}\n", recipient())).unwrap();
        let f = dir.join("s.yaml");
        std::fs::write(&f, "password: hunter2\n").unwrap();
        sb.tresor().args(["encrypt", "-i"]).arg(&f).current_dir(&dir).ok();
        std::fs::write(dir.join(".sops.yaml"), format!("creation_rules:\n  - age: {recipients}\n")).unwrap();
        git_at(&dir, &["add", "-A"], "2025-01-01T00:00:00Z");
        git_at(&dir, &["commit", "-qm", "start"], "2025-01-01T00:00:00Z");
    };
    let both = format!("{},{second}", recipient());
    make("needs", &both);
    make("done", &recipient());
    make("dirty", &both);
    std::fs::write(sb.path("dirty/notes.txt"), "uncommitted\n").unwrap();
    let list = sb.write("repos.txt", "needs\ndone\ndirty\n");
    let out = with_git_identity(&mut sb.tresor())
        .args(["updatekeys", "-y", "--branch", "rekey-2026", "--repos"])
        .arg(&list)
        .run();
    assert_eq!(out.status.code(), Some(1), "one repository failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status: Vec<(&str, &str)> = summary
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["repository"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status, [("needs", "changed"), ("done", "unchanged"), ("dirty", "failed")]);
    assert!(summary[2]["error"].as_str().unwrap().contains("uncommitted"), "{summary}");
    assert_eq!(summary[0]["files"][0]["path"], "s.yaml");
    assert!(summary[0]["files"][0]["added"][0].as_str().unwrap().contains(&second));
    // The commit is on the branch; the work tree is back on main, as it was.
    let needs = sb.path("needs");
    assert_eq!(git_at(&needs, &["rev-parse", "--abbrev-ref", "HEAD"], "2025-01-01T00:00:00Z"), "main");
    let log = git_at(&needs, &["log", "-1", "--format=%B", "rekey-2026"], "2025-01-01T00:00:00Z");
    assert!(log.contains("tresor updatekeys: 1 file(s)") && log.contains("s.yaml") && log.contains("+ age"), "{log}");
    let on_branch = git_at(&needs, &["show", "rekey-2026:s.yaml"], "2025-01-01T00:00:00Z");
    let f = sb.write("from-branch.yaml", &format!("{on_branch}\n"));
    let plain = sb.tresor().arg("decrypt").arg(&f).env("SOPS_AGE_KEY_FILE", testdata("keys/age-test2.txt")).ok();
    assert_eq!(plain, "password: hunter2\n", "the new key opens the re-keyed file");
    assert!(git_at(&sb.path("done"), &["branch", "--list", "rekey-2026"], "2025-01-01T00:00:00Z").is_empty());
    assert!(git_at(&sb.path("dirty"), &["branch", "--list", "rekey-2026"], "2025-01-01T00:00:00Z").is_empty());
    // The branch holds this campaign's commit: a second run (a retried shard) reports it
    // done, the same commit, instead of failing or committing twice.
    let again = with_git_identity(&mut sb.tresor())
        .args(["updatekeys", "-y", "--branch", "rekey-2026", "--repos"])
        .arg(&list)
        .run();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!((&again[0]["status"], &again[0]["resumed"]), (&serde_json::json!("changed"), &serde_json::json!(true)));
    assert_eq!(again[0]["commit"], summary[0]["commit"], "{again}");
    assert_eq!(again[0]["files"][0]["path"], "s.yaml");
    // A branch of that name with someone else's commit is refused, left as it is.
    let other = sb.path("other");
    make("other", &both);
    git_at(&other, &["switch", "-q", "-c", "rekey-2026"], "2025-01-01T00:00:00Z");
    git_at(&other, &["commit", "-q", "--allow-empty", "-m", "work in progress"], "2025-01-01T00:00:00Z");
    git_at(&other, &["switch", "-q", "main"], "2025-01-01T00:00:00Z");
    let mine = sb.write("other.txt", "other\n");
    let out = with_git_identity(&mut sb.tresor())
        .args(["updatekeys", "-y", "--branch", "rekey-2026", "--repos"])
        .arg(&mine)
        .run();
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out[0]["error"].as_str().unwrap().contains("exists already"), "{out}");
    assert_eq!(git_at(&other, &["log", "-1", "--format=%s", "rekey-2026"], "2025-01-01T00:00:00Z"), "work in progress");
    // A bare mirror is re-keyed too (in a linked work tree of its own).
    git_at(&sb.path(""), &["clone", "-q", "--bare", "other", "other-mirror.git"], "2025-01-01T00:00:00Z");
    let mirror_list = sb.write("mirror.txt", "other-mirror.git\n");
    let out = with_git_identity(&mut sb.tresor())
        .args(["updatekeys", "-y", "--branch", "rekey-mirror", "--repos"])
        .arg(&mirror_list)
        .ok();
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out[0]["status"], "changed", "{out}");
    let mirror = sb.path("other-mirror.git");
    let log = git_at(&mirror, &["log", "-1", "--format=%B", "rekey-mirror"], "2025-01-01T00:00:00Z");
    assert!(log.contains("tresor updatekeys: 1 file(s)"), "{log}");
    assert_eq!(
        git_at(&mirror, &["worktree", "list", "--porcelain"], "2025-01-01T00:00:00Z").matches("worktree ").count(),
        1
    );
    // A rotation campaign: a new data key in every file, committed on its branch.
    let done = sb.path("done");
    let before = git_at(&done, &["show", "HEAD:s.yaml"], "2025-01-01T00:00:00Z");
    let list = sb.write("rotate.txt", "done\n");
    let out =
        with_git_identity(&mut sb.tresor()).args(["rotate", "--branch", "rotate-2026", "--repos"]).arg(&list).ok();
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary[0]["status"], "changed", "{summary}");
    let after = git_at(&done, &["show", "rotate-2026:s.yaml"], "2025-01-01T00:00:00Z");
    assert_ne!(after, before, "every value re-encrypted under a new data key");
    let log = git_at(&done, &["log", "-1", "--format=%B", "rotate-2026"], "2025-01-01T00:00:00Z");
    assert!(log.contains("tresor rotate: 1 file(s)") && log.contains("new data key"), "{log}");
    assert_eq!(git_at(&done, &["rev-parse", "--abbrev-ref", "HEAD"], "2025-01-01T00:00:00Z"), "main");
}
