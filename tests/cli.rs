//! Command-line behaviour: streams, in-place writes, extraction, conversion, keys.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn stdin_to_stdout_needs_a_type_and_round_trips() {
    let sb = Sandbox::new();
    let enc = sb.tresor().args(["encrypt", "--input-type", "yaml", "--age", &recipient()]).stdin_text("k: v\n");
    assert!(enc.status.success());
    let enc = String::from_utf8(enc.stdout).unwrap();
    let dec = sb.tresor().args(["decrypt", "--input-type", "yaml"]).stdin_text(&enc);
    assert_eq!(String::from_utf8(dec.stdout).unwrap(), "k: v\n");
    let out = sb.tresor().args(["encrypt", "--age", &recipient()]).stdin_text("k: v\n");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn in_place_keeps_mode_and_round_trips() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", "password: x\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&f).ok();
    assert!(sb.read("s.yaml").contains("ENC[AES256_GCM"));
    assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o640);
    sb.tresor().args(["decrypt", "-i"]).arg(&f).ok();
    assert_eq!(sb.read("s.yaml"), "password: x\n");
    assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o640);
}

#[test]
fn in_place_and_output_conflict() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", "a: b\n");
    let out = sb.tresor().args(["encrypt", "-i", "--output", "x.yaml"]).arg(&f).run();
    assert!(!out.status.success());
}

#[test]
fn extract_prints_raw_scalars_and_documents_for_subtrees() {
    let sb = Sandbox::new();
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(testdata("roundtrip/k8s-secret.yaml")).ok();
    let f = sb.write("s.yaml", &enc);
    let pw = sb.tresor().args(["decrypt", "--extract", "[\"stringData\"][\"password\"]"]).arg(&f).ok();
    assert_eq!(pw, "c0rrect-h0rse-battery-staple");
    let sub = sb.tresor().args(["decrypt", "--extract", "[\"metadata\"][\"labels\"]"]).arg(&f).ok();
    assert_eq!(sub, "app.kubernetes.io/name: payments-db\n");
    sb.tresor().args(["decrypt", "--extract", "[\"nope\"]"]).arg(&f).fails_with(1);
    // Same as sops.
    let theirs = sb.sops().args(["decrypt", "--extract", "[\"stringData\"][\"password\"]"]).arg(&f).ok();
    assert_eq!(theirs, pw);
}

#[test]
fn output_type_converts_yaml_to_json() {
    let sb = Sandbox::new();
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(testdata("roundtrip/suffix.yaml")).ok();
    let f = sb.write("s.yaml", &enc);
    let json = sb.tresor().args(["decrypt", "--output-type", "json"]).arg(&f).ok();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["password"], "s3cr3t");
    assert_eq!(v["nested_unencrypted"]["deeper"]["leaf"], "clear too");
}

#[test]
fn filestatus_reports_encryption() {
    let sb = Sandbox::new();
    let p = sb.write("p.yaml", "a: 1\n");
    assert_eq!(sb.tresor().arg("filestatus").arg(&p).ok(), "{\"encrypted\":false}\n");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
    let e = sb.write("e.yaml", &enc);
    assert_eq!(sb.tresor().arg("filestatus").arg(&e).ok(), "{\"encrypted\":true}\n");
}

#[test]
fn first_use_creates_a_local_key_that_sops_finds() {
    let sb = Sandbox::new();
    let p = sb.write("p.yaml", "token: abc\n");
    let out = sb.tresor().args(["encrypt"]).arg(&p).env_remove("SOPS_AGE_KEY_FILE").run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = sb.path(".config/sops/age/keys.txt");
    assert!(key.exists());
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let e = sb.write("e.yaml", &String::from_utf8(out.stdout).unwrap());
    // sops discovers the same default key file.
    let theirs = sb.sops().arg("decrypt").arg(&e).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(theirs, "token: abc\n");
}

#[test]
fn keygen_writes_an_identity_age_accepts() {
    let sb = Sandbox::new();
    let path = sb.path("id.txt");
    let public = sb.tresor().args(["keygen", "-o"]).arg(&path).ok();
    assert!(public.trim().starts_with("age1"));
    // The real age CLI encrypts to the public key and decrypts with our identity file.
    let age = which("age").expect("age is not installed: run scripts/install-peers.sh");
    let plain = sb.write("m.txt", "hello");
    let enc = sb.path("m.age");
    let st = std::process::Command::new(&age).args(["-r", public.trim(), "-o"]).arg(&enc).arg(&plain).status().unwrap();
    assert!(st.success());
    let dec = std::process::Command::new(&age).args(["-d", "-i"]).arg(&path).arg(&enc).output().unwrap();
    assert_eq!(dec.stdout, b"hello");
}

#[test]
fn several_recipients_each_decrypt() {
    let sb = Sandbox::new();
    let r2 = recipient_of(&testdata("keys/age-test2.txt"));
    let p = sb.write("p.yaml", "a: b\n");
    let enc = sb.tresor().args(["encrypt", "--age", &format!("{},{r2}", recipient())]).arg(&p).ok();
    let e = sb.write("e.yaml", &enc);
    for k in ["keys/age-test.txt", "keys/age-test2.txt"] {
        sb.tresor().arg("decrypt").arg(&e).env("SOPS_AGE_KEY_FILE", testdata(k)).ok();
        sb.sops().arg("decrypt").arg(&e).env("SOPS_AGE_KEY_FILE", testdata(k)).ok();
    }
    sb.tresor().arg("decrypt").arg(&e).env("SOPS_AGE_KEY_FILE", testdata("keys/age-test3.txt")).fails_with(128);
}

#[test]
fn age_key_from_env_and_command() {
    let sb = Sandbox::new();
    let p = sb.write("p.yaml", "a: b\n");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
    let e = sb.write("e.yaml", &enc);
    let key = std::fs::read_to_string(key_file()).unwrap();
    sb.tresor().arg("decrypt").arg(&e).env_remove("SOPS_AGE_KEY_FILE").env("SOPS_AGE_KEY", &key).ok();
    let cmd = format!("cat {}", key_file().display());
    sb.tresor().arg("decrypt").arg(&e).env_remove("SOPS_AGE_KEY_FILE").env("SOPS_AGE_KEY_CMD", &cmd).ok();
}

#[test]
fn completions_and_man_pages() {
    let sb = Sandbox::new();
    let bash = sb.tresor().args(["completion", "bash"]).ok();
    assert!(bash.contains("_tresor()") && bash.contains("updatekeys"));
    sb.tresor().args(["man"]).arg(sb.path("man")).ok();
    let page = std::fs::read_to_string(sb.path("man/tresor-encrypt.1")).unwrap();
    assert!(page.contains(".TH tresor-encrypt") && page.contains("encrypted\\-regex"), "{page}");
}

#[test]
fn edit_keeps_plaintext_private_and_unchanged_files_untouched() {
    let sb = Sandbox::new();
    let p = sb.write("e.yaml", "secret: value\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    let before = sb.read("e.yaml");
    // An editor that records where the plaintext lives and its mode, and changes nothing.
    let log = sb.path("editor.log");
    let editor = sb.write("ed.sh", &format!("#!/bin/sh\nstat -c '%a %n' \"$1\" > {}\n", log.display()));
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.tresor().arg("edit").arg(&p).env("EDITOR", &editor).fails_with(200);
    assert_eq!(sb.read("e.yaml"), before, "an unchanged edit must not rewrite the file");
    let seen = std::fs::read_to_string(&log).unwrap();
    let (mode, path) = seen.trim().split_once(' ').unwrap();
    assert_eq!(mode, "600");
    if std::path::Path::new("/dev/shm").is_dir() {
        assert!(path.starts_with("/dev/shm/"), "plaintext should be on tmpfs: {path}");
    }
    assert!(!std::path::Path::new(path).exists(), "the plaintext file must be removed");
    // A failing editor leaves the file as it was.
    let bad = sb.write("bad.sh", "#!/bin/sh\necho 'broken: [' > \"$1\"\n");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sb.tresor().arg("edit").arg(&p).env("EDITOR", &bad).run();
    assert!(!out.status.success());
    assert_eq!(sb.read("e.yaml"), before);
}

#[test]
fn every_exit_code_in_the_table_is_documented_with_its_name() {
    let doc = std::fs::read_to_string(root().join("docs/exit-codes.md")).unwrap();
    for (name, code) in tresor_sops::codes::ALL {
        let row = if name == "SIGNAL_BASE" {
            format!("| 128 + N | `{name}` + N |")
        } else {
            format!("| {code} | `{name}` |")
        };
        assert!(doc.contains(&row), "docs/exit-codes.md lacks the row for {name} ({code})");
    }
}

/// A mistyped subcommand is never an action: no file is created or edited, clap says what
/// was meant. The sops form `tresor FILE` still edits an existing file.
#[test]
fn a_typo_is_never_an_edit_and_keygen_never_appends_silently() {
    let sb = Sandbox::new();
    let enc = sb.encrypted("s.yaml", "a: b\n");
    for args in [vec!["ecnrypt"], vec!["decyrpt", "s.yaml"], vec!["rotat", "-i", "s.yaml"]] {
        let out = sb.tresor().args(&args).current_dir(sb.dir.path()).env("EDITOR", "false").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unrecognized subcommand") && err.contains("similar subcommand"), "{args:?}: {err}");
        assert!(!sb.path(args[0]).exists(), "{args:?} created a file");
    }
    assert_eq!(sb.read("s.yaml"), std::fs::read_to_string(&enc).unwrap());
    // The implicit edit of an existing file (helm-secrets runs `sops FILE`) still edits.
    let ed = sb.write("ed.sh", "sed -i 's/a: b/a: c/' \"$1\"\n");
    sb.tresor().arg(&enc).env("EDITOR", format!("sh {}", ed.display())).ok();
    assert!(sb.tresor().arg("decrypt").arg(&enc).ok().contains("a: c"));

    // keygen over an existing identity refuses, naming --append and --force.
    let key = sb.path("k.txt");
    sb.tresor().args(["keygen", "-o"]).arg(&key).ok();
    let first = std::fs::read_to_string(&key).unwrap();
    let err = sb.tresor().args(["keygen", "-o"]).arg(&key).fails_with(1);
    assert!(
        err.contains("already holds an age identity") && err.contains("--append") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), first);
    sb.tresor().args(["keygen", "--append", "-o"]).arg(&key).ok();
    assert_eq!(std::fs::read_to_string(&key).unwrap().matches("AGE-SECRET-KEY-").count(), 2);
    sb.tresor().args(["keygen", "--force", "-o"]).arg(&key).ok();
    let replaced = std::fs::read_to_string(&key).unwrap();
    assert_eq!(replaced.matches("AGE-SECRET-KEY-").count(), 1);
    assert_ne!(replaced, first);
}

/// README's first command, with the binary this test built (the script builds a release
/// binary itself otherwise): a new user's key is created, only the Secret's values are
/// encrypted, one change is one line, the round trip is exact.
#[test]
fn the_readme_demo_runs_as_written() {
    let sb = Sandbox::new();
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/demo.sh"))
        .env("TRESOR", env!("CARGO_BIN_EXE_tresor"))
        .env("HOME", sb.dir.path())
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("kind: Secret\n") && text.contains("  name: db-credentials\n"),
        "metadata stays readable: {text}"
    );
    assert!(!text.contains("c0rrect-h0rse"), "values are encrypted: {text}");
    let changed: Vec<&str> = text.lines().filter(|l| l.starts_with("< ") || l.starts_with("> ")).collect();
    assert_eq!(changed.len(), 2, "one value's line changed: {changed:?}");
    assert!(changed.iter().all(|l| l.contains("username: ENC[")), "{changed:?}");
    assert!(text.contains("decrypt(encrypt(x)) is byte-identical to x"), "{text}");
    assert!(sb.path(".config/sops/age/keys.txt").is_file(), "the local key was created where sops looks");
}

/// README's everyday lines that need no server, run as written, in order, on a Secret.
#[test]
fn the_readme_everyday_lines_run_as_written() {
    let sb = Sandbox::new();
    std::fs::copy(root().join("testdata/roundtrip/k8s-secret.yaml"), sb.path("secret.yaml")).unwrap();
    sb.write("app.enc.env", "");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| {
            (l.starts_with("tresor ") || l.starts_with("echo '"))
                && (l.contains("secret.yaml") || l.starts_with("tresor keygen"))
        })
        .map(|l| l.split("  #").next().unwrap().trim_end())
        .collect();
    assert!(lines.len() >= 8, "{lines:?}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    for line in lines {
        if line.starts_with("tresor edit") {
            continue; // needs an editor: tests/cli.rs covers edit
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(sb.dir.path())
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
            .env("HOME", sb.dir.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dec = sb
        .tresor()
        .arg("decrypt")
        .arg(sb.path("secret.yaml"))
        .env("SOPS_AGE_KEY_FILE", sb.path(".config/sops/age/keys.txt"))
        .ok();
    assert!(dec.contains("n3w-passw0rd") && dec.contains("kind: Secret"), "{dec}");
}
