//! Bad input gets a clear message and sops' exit code, and never loses the input.

use crate::common::*;

#[test]
fn tampered_value_fails_with_25_and_names_the_path() {
    let sb = Sandbox::new();
    let f = sb.encrypted("t.yaml", "db:\n  password: hunter2\n");
    let text = std::fs::read_to_string(&f).unwrap();
    let start = text.find("data:").unwrap() + 5;
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    std::fs::write(&f, &bytes).unwrap();
    let err = sb.tresor().arg("decrypt").arg(&f).fails_with(25);
    assert!(err.contains("[\"db\"][\"password\"]"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn moved_value_fails_because_the_path_is_authenticated() {
    let sb = Sandbox::new();
    let f = sb.encrypted("m.yaml", "a: one\nb: two\n");
    let text = std::fs::read_to_string(&f).unwrap();
    let swapped = text.replacen("a: ENC", "x: ENC", 1);
    std::fs::write(&f, swapped).unwrap();
    sb.tresor().arg("decrypt").arg(&f).fails_with(25);
}

#[test]
fn tampered_clear_value_or_metadata_fails_mac_with_51() {
    let sb = Sandbox::new();
    let f = sb.encrypted("mac.yaml", "a: one\nb_unencrypted: visible\n");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("visible", "changed")).unwrap();
    let err = sb.tresor().arg("decrypt").arg(&f).fails_with(51);
    assert!(err.contains("MAC mismatch"), "{err}");
    // --ignore-mac still decrypts.
    let out = sb.tresor().args(["decrypt", "--ignore-mac"]).arg(&f).ok();
    assert!(out.contains("b_unencrypted: changed"));
    // Changing lastmodified breaks the MAC's AAD.
    let g = sb.encrypted("lm.yaml", "a: one\n");
    let t = std::fs::read_to_string(&g).unwrap();
    let lm = t.find("lastmodified: \"").unwrap() + 15;
    let mut b = t.into_bytes();
    b[lm + 1] = if b[lm + 1] == b'1' { b'2' } else { b'1' };
    std::fs::write(&g, b).unwrap();
    sb.tresor().arg("decrypt").arg(&g).fails_with(51);
}

#[test]
fn wrong_or_missing_key_fails_with_128_and_lists_what_was_tried() {
    let sb = Sandbox::new();
    let f = sb.encrypted("k.yaml", "a: one\n");
    let err =
        sb.tresor().arg("decrypt").arg(&f).env("SOPS_AGE_KEY_FILE", testdata("keys/age-test2.txt")).fails_with(128);
    assert!(err.contains(&recipient()), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let err = sb.tresor().arg("decrypt").arg(&f).env_remove("SOPS_AGE_KEY_FILE").fails_with(128);
    assert!(err.contains("no age identity found"), "{err}");
}

#[test]
fn plaintext_input_to_decrypt_fails_with_1() {
    let sb = Sandbox::new();
    let f = sb.write("p.yaml", "a: 1\n");
    let err = sb.tresor().arg("decrypt").arg(&f).fails_with(1);
    assert!(err.contains("not encrypted"), "{err}");
}

#[test]
fn malformed_yaml_reports_line_and_column_and_leaves_file_untouched() {
    let sb = Sandbox::new();
    let src = "a: 1\nb: [unclosed\nc: 3\n";
    let f = sb.write("bad.yaml", src);
    let err = sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&f).fails_with(2);
    assert!(err.contains("line"), "{err}");
    assert_eq!(sb.read("bad.yaml"), src);
    let j = sb.write("bad.json", "{\n  \"a\": tru\n}");
    let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&j).fails_with(2);
    assert!(err.contains("line 2, column 8"), "{err}");
}

#[test]
fn deep_nesting_is_refused_cleanly() {
    let sb = Sandbox::new();
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let f = sb.write("deep.json", &format!("{{\"a\": {deep}}}"));
    let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&f).fails_with(2);
    assert!(err.contains("nesting"), "{err}");
    let mut y = String::new();
    for i in 0..400 {
        y.push_str(&" ".repeat(i));
        y.push_str("k:\n");
    }
    let f = sb.write("deep.yaml", &y);
    let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&f).fails_with(2);
    assert!(err.contains("nesting"), "{err}");
}

#[test]
fn already_encrypted_fails_with_203() {
    let sb = Sandbox::new();
    let f = sb.encrypted("twice.yaml", "a: one\n");
    let before = std::fs::read_to_string(&f).unwrap();
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&f).fails_with(203);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
}

#[test]
fn missing_file_fails_with_100_and_empty_file_with_92() {
    let sb = Sandbox::new();
    sb.tresor().args(["decrypt", "nope.yaml"]).fails_with(100);
    let e = sb.write("empty.yaml", "");
    sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&e).fails_with(92);
}

#[test]
fn top_level_list_and_non_string_keys_are_refused() {
    let sb = Sandbox::new();
    let f = sb.write("list.yaml", "- a\n- b\n");
    sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&f).fails_with(2);
    let g = sb.write("intkey.yaml", "1: one\n");
    let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&g).fails_with(23);
    assert!(err.contains("not a string"), "{err}");
}

#[test]
fn integers_beyond_int64_and_aliases_to_secrets_are_refused_with_guidance() {
    let sb = Sandbox::new();
    let f = sb.write("big.yaml", "n: 9223372036854775808\n");
    let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&f).fails_with(23);
    assert!(err.contains("64-bit"), "{err}");
    let g = sb.write("alias.yaml", "a: &x secret\nb: *x\n");
    let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&g).fails_with(23);
    assert!(err.contains("alias"), "{err}");
    // The same when the alias sits in clear, far (many streamed entries) from its encrypted
    // anchor: the value would be decrypted under the alias' path by sops.
    let filler: String = (0..200).map(|i| format!("k{i}: v{i}\n")).collect();
    let far = sb.write("far.yaml", &format!("password: &p secret\n{filler}user: *p\n"));
    let err = sb
        .tresor()
        .args(["encrypt", "--encrypted-regex", "^password$", "--age", &recipient()])
        .arg(&far)
        .fails_with(23);
    assert!(err.contains("alias"), "{err}");
}

#[test]
fn in_place_decrypt_failure_keeps_the_encrypted_file() {
    let sb = Sandbox::new();
    let f = sb.encrypted("keep.yaml", "a: one\n");
    let before = std::fs::read_to_string(&f).unwrap();
    sb.tresor()
        .args(["decrypt", "-i"])
        .arg(&f)
        .env("SOPS_AGE_KEY_FILE", testdata("keys/age-test2.txt"))
        .fails_with(128);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tresor-"))
        .collect();
    assert!(leftovers.is_empty());
}

/// Files larger than what is held back in memory (64 MiB) stream: encryption writes as it
/// goes, decryption verifies the MAC in a first pass and only then writes. A file whose
/// clear values were altered late in the file releases no plaintext at all.
#[test]
fn huge_files_stream_and_release_nothing_before_the_mac_is_verified() {
    let sb = Sandbox::new();
    let mut src = String::with_capacity(72 << 20);
    let mut i = 0;
    while src.len() < 70 << 20 {
        src.push_str(&format!("section{i:06}:\n"));
        for k in 0..20 {
            src.push_str(&format!("    key{k:02}: value {i} {k} {}\n", "x".repeat(40)));
        }
        i += 1;
    }
    src.push_str("last_unencrypted: visible\n");
    let f = sb.encrypted("huge.yaml", &src);
    let out = sb.tresor().arg("decrypt").arg(&f).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == src.as_bytes(), "a huge file round-trips byte for byte");
    // Alter the clear value at the very end: only the MAC can tell.
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("last_unencrypted: visible", "last_unencrypted: changed")).unwrap();
    let out = sb.tresor().arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(51), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "{} bytes of plaintext released before the MAC check", out.stdout.len());
    let dest = sb.path("huge.out.yaml");
    let out = sb.tresor().arg("decrypt").arg(&f).arg("--output").arg(&dest).output().unwrap();
    assert_eq!(out.status.code(), Some(51));
    assert!(!dest.exists(), "no output file from a file that fails its MAC");
}

/// A full disk is an error with its reason, said once, not a silent truncation (stdout on
/// /dev/full; in-place writes go through a temporary file, see `fileio::Sink`).
#[test]
fn a_full_disk_is_reported_and_loses_nothing() {
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "password: hunter2\n");
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(err.matches("No space left").count(), 1, "said once: {err}");
    assert_eq!(sb.read("s.yaml"), "password: hunter2\n");
}

#[test]
fn an_age_plugin_identity_whose_plugin_is_missing_does_not_stop_the_x25519_ones() {
    let sb = Sandbox::new();
    let enc = sb.encrypted("s.yaml", "password: hunter2\n");
    let key = std::fs::read_to_string(key_file()).unwrap();
    // A well-formed plugin identity, with its plugin binary not on PATH.
    let gen =
        std::process::Command::new(age_plugin_dir().join("age-plugin-tresortest")).arg("--generate").output().unwrap();
    let plugin = String::from_utf8(gen.stdout).unwrap();
    let mixed = sb.write("mixed.txt", &format!("{plugin}{key}"));
    let out = sb.tresor().arg("decrypt").arg(&enc).env("SOPS_AGE_KEY_FILE", &mixed).ok();
    assert_eq!(out, "password: hunter2\n");
    let only = sb.write("only.txt", &plugin);
    let err = sb.tresor().arg("decrypt").arg(&enc).env("SOPS_AGE_KEY_FILE", &only).fails_with(128);
    assert!(err.contains("age-plugin-tresortest"), "the missing plugin is named: {err}");
}

#[test]
fn a_dotenv_file_with_cr_line_breaks_is_refused_by_line_before_anything_is_written() {
    let sb = Sandbox::new();
    // sops splits at LF only: this whole file would be one value of A.
    let p = sb.write("cr.env", "A=1\rB=2\r");
    let err = sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).fails_with(2);
    assert!(err.contains("dotenv line 1: a carriage return inside the line"), "{err}");
    assert!(!err.contains("tampered"), "{err}");
    assert_eq!(sb.read("cr.env"), "A=1\rB=2\r");
    // CRLF files are fine and round-trip byte for byte.
    let q = sb.write("crlf.env", "A=1\r\nB=2\r\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&q).ok();
    assert_eq!(sb.tresor().arg("decrypt").arg(&q).ok(), "A=1\r\nB=2\r\n");
}
