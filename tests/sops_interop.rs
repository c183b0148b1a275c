//! The other direction: files written by the real sops decrypt with tresor, and sops'
//! own edits (`set`, `edit`, `rotate`) on tresor's files keep working.

use crate::common::*;

#[test]
fn tresor_decrypts_what_sops_encrypts() {
    let sb = Sandbox::new();
    for path in corpus() {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let enc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&path).ok();
        let enc_path = sb.write(&name, &enc);
        let ours = sb.tresor().arg("decrypt").arg(&enc_path).ok();
        let theirs = sb.sops().arg("decrypt").arg(&enc_path).ok();
        assert_same_docs(&data(&ours, &name), &data(&theirs, &name), &name);
    }
}

#[test]
fn sops_set_and_rotate_on_our_file_keep_it_readable() {
    let sb = Sandbox::new();
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(testdata("roundtrip/k8s-secret.yaml")).ok();
    let file = sb.write("secret.yaml", &enc);
    sb.sops().args(["set"]).arg(&file).args(["[\"stringData\"][\"password\"]", "\"rotated-by-sops\""]).ok();
    let dec = sb.tresor().arg("decrypt").arg(&file).ok();
    assert!(dec.contains("password: rotated-by-sops"), "{dec}");
    sb.sops().args(["rotate", "-i"]).arg(&file).ok();
    let dec = sb.tresor().args(["decrypt", "--extract", "[\"stringData\"][\"password\"]"]).arg(&file).ok();
    assert_eq!(dec, "rotated-by-sops");
}

#[test]
fn sops_edit_on_our_file_works() {
    let sb = Sandbox::new();
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(testdata("roundtrip/comments.yaml")).ok();
    let file = sb.write("c.yaml", &enc);
    let editor = sb.write("ed.sh", "#!/bin/sh\nsed -i 's/token: abc123/token: edited-by-sops/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.sops().arg("edit").arg(&file).env("EDITOR", &editor).ok();
    let dec = sb.tresor().arg("decrypt").arg(&file).ok();
    assert!(dec.contains("token: edited-by-sops"), "{dec}");
    assert!(dec.contains("# comment above a key"), "{dec}");
}

#[test]
fn json_interop_both_ways() {
    let sb = Sandbox::new();
    let src = testdata("roundtrip/tabs.json");
    let ours = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&src).ok();
    let f1 = sb.write("a.json", &ours);
    let by_sops = sb.sops().arg("decrypt").arg(&f1).ok();
    let original = std::fs::read_to_string(&src).unwrap();
    assert_same_docs(&data(&original, "a.json"), &data(&by_sops, "a.json"), "tresor→sops");
    let theirs = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&src).ok();
    let f2 = sb.write("b.json", &theirs);
    let by_us = sb.tresor().arg("decrypt").arg(&f2).ok();
    assert_same_docs(&data(&original, "b.json"), &data(&by_us, "b.json"), "sops→tresor");
}

#[test]
fn mac_only_encrypted_and_regex_rules_interoperate() {
    let sb = Sandbox::new();
    let src = testdata("roundtrip/k8s-secret.yaml");
    let enc = sb
        .tresor()
        .args(["encrypt", "--mac-only-encrypted", "--encrypted-regex", "^(data|stringData)$", "--age", &recipient()])
        .arg(&src)
        .ok();
    assert!(enc.contains("name: db-credentials"), "metadata.name should stay readable");
    assert!(enc.contains("encrypted_regex: ^(data|stringData)$"));
    // With mac_only_encrypted, sops and tresor both accept a changed clear-text value.
    let file = sb.write("s.yaml", &enc.replace("namespace: payments", "namespace: billing"));
    sb.sops().arg("decrypt").arg(&file).ok();
    let dec = sb.tresor().arg("decrypt").arg(&file).ok();
    assert!(dec.contains("namespace: billing"));
    // And the other way round.
    let theirs = sb
        .sops()
        .args(["--mac-only-encrypted", "encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", &recipient()])
        .arg(&src)
        .ok();
    let f2 = sb.write("t.yaml", &theirs);
    let dec2 = sb.tresor().arg("decrypt").arg(&f2).ok();
    assert!(dec2.contains("c0rrect-h0rse-battery-staple"));
}

#[test]
fn ssh_ed25519_recipient_interoperates() {
    let sb = Sandbox::new();
    let pubkey = std::fs::read_to_string(testdata("keys/ssh_ed25519.pub")).unwrap();
    let src = testdata("roundtrip/suffix.yaml");
    let enc = sb.tresor().args(["encrypt", "--age", pubkey.trim()]).arg(&src).ok();
    let f = sb.write("ssh.yaml", &enc);
    let ssh_env = ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", testdata("keys/ssh_ed25519"));
    let theirs = sb.sops().arg("decrypt").arg(&f).env(ssh_env.0, &ssh_env.1).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert!(theirs.contains("password: s3cr3t"));
    let ours = sb.tresor().arg("decrypt").arg(&f).env(ssh_env.0, &ssh_env.1).env_remove("SOPS_AGE_KEY_FILE").ok();
    assert_eq!(ours, std::fs::read_to_string(&src).unwrap());
}

#[test]
fn multi_document_files_carry_metadata_in_every_document() {
    let sb = Sandbox::new();
    let src = testdata("roundtrip/multidoc.yaml");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&src).ok();
    assert_eq!(enc.matches("\nsops:").count(), 3);
    let f = sb.write("m.yaml", &enc);
    let theirs = sb.sops().arg("decrypt").arg(&f).ok();
    assert_same_docs(&data(&std::fs::read_to_string(&src).unwrap(), "m.yaml"), &data(&theirs, "m.yaml"), "multidoc");
}

#[test]
fn comment_regex_rules_match_sops() {
    let sb = Sandbox::new();
    let src =
        "user: admin\n# sops:enc\npassword: hunter2\nother: clear\nnested:\n  # sops:enc\n  token: abc\n  plain: x\n";
    let p = sb.write("c.yaml", src);
    let ours =
        sb.tresor().args(["encrypt", "--encrypted-comment-regex", "sops:enc", "--age", &recipient()]).arg(&p).ok();
    // sops' legacy -e mode honours the global comment-regex flag; its output encrypts the same leaves.
    let theirs = sb.sops().args(["--encrypted-comment-regex", "sops:enc", "--age", &recipient(), "-e"]).arg(&p).ok();
    let encrypted_keys = |t: &str| -> Vec<String> {
        t.lines()
            .take_while(|l| !l.starts_with("sops:"))
            .filter(|l| l.contains("ENC[AES256_GCM"))
            .map(|l| l.trim().split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(encrypted_keys(&ours), vec!["password", "token"]);
    assert_eq!(encrypted_keys(&ours), encrypted_keys(&theirs));
    let f1 = sb.write("ours.yaml", &ours);
    let f2 = sb.write("theirs.yaml", &theirs);
    assert_same_docs(&data(&sb.sops().arg("decrypt").arg(&f1).ok(), "a.yaml"), &data(src, "a.yaml"), "sops reads ours");
    assert_same_docs(&data(&sb.tresor().arg("decrypt").arg(&f2).ok(), "a.yaml"), &data(src, "a.yaml"), "we read sops'");
}

/// A YAML file with hundreds of top-level entries (and so many more lines of every shape).
fn many_entries(anchors: bool) -> String {
    let mut doc = String::from("# header\n");
    for part in 0..2 {
        if part == 1 {
            doc += "# trailing comment of the first document\n---\n# second document\n";
        }
        for i in 0..3000 {
            match i % 6 {
                0 => doc += &format!("key{i}: plain value {i} # inline {i}\n"),
                1 => doc += &format!("# sops:enc\nmarked{i}: secret {i}\n"),
                2 => doc += &format!("block{i}: |\n  line one {i}\n  line two\n"),
                3 => {
                    doc += &format!(
                        "nested{i}:\n  # inside {i}\n  a: {i}\n  list: [x{i}, 'y', \"z\"]\n  deep:\n    - k: v{i}\n"
                    )
                }
                4 if anchors => doc += &format!("anchor{i}: &a{i} shared{i}\n"),
                5 if anchors => doc += &format!("alias{i}: *a{}\n", i - 1),
                _ => doc += &format!("number{i}: {}.5\n", i * 7),
            }
        }
    }
    doc
}

/// Large YAML files (here 2 × 3,000 entries, over the size from which parsing runs on its
/// own thread) are encrypted as a stream (batches of top-level entries are written
/// before the rest is parsed). Whatever the batch boundaries cut through (inline and
/// marker comments, anchors used later, documents), the result is lossless, sops reads it,
/// and it encrypts exactly the values sops encrypts.
#[test]
fn large_files_encrypted_as_a_stream_round_trip_and_interoperate() {
    let sb = Sandbox::new();
    // Paths of the encrypted values, whatever the layout (sops reformats, we do not).
    use serde_json::Value as J;
    fn enc_paths(v: &J, at: String, out: &mut Vec<String>) {
        match v {
            J::Object(m) => m.iter().for_each(|(k, x)| enc_paths(x, format!("{at}/{k}"), out)),
            J::Array(a) => a.iter().enumerate().for_each(|(i, x)| enc_paths(x, format!("{at}/{i}"), out)),
            J::String(s) if s.starts_with("ENC[AES256_GCM") => out.push(at),
            _ => {}
        }
    }
    let encrypted_keys = |t: &str| -> Vec<String> {
        let mut out = Vec::new();
        for (i, d) in data(t, "e.yaml").iter().enumerate() {
            enc_paths(d, i.to_string(), &mut out);
        }
        out
    };
    for (anchors, rule) in [(false, None), (true, Some("sops:enc"))] {
        let src = many_entries(anchors);
        let p = sb.write("big.yaml", &src);
        let mut cmd = sb.tresor();
        cmd.arg("encrypt");
        let mut theirs = sb.sops();
        if let Some(r) = rule {
            cmd.args(["--encrypted-comment-regex", r]);
            theirs.args(["--encrypted-comment-regex", r]);
        }
        let ours = cmd.args(["--age", &recipient()]).arg(&p).ok();
        assert_eq!(ours.matches("\nsops:").count(), 2, "metadata in both documents");
        let f = sb.write("big.enc.yaml", &ours);
        assert_eq!(sb.tresor().arg("decrypt").arg(&f).ok(), src, "lossless (anchors: {anchors})");
        let read_by_sops = sb.sops().arg("decrypt").arg(&f).ok();
        assert_same_docs(&data(&read_by_sops, "b.yaml"), &data(&src, "b.yaml"), "sops reads the streamed file");
        let theirs = theirs.args(["--age", &recipient(), "-e"]).arg(&p).ok();
        let (a, b) = (encrypted_keys(&ours), encrypted_keys(&theirs));
        assert!(a.len() >= 100, "{a:?}");
        assert_eq!(a, b, "the same values are encrypted as sops encrypts");
    }
}

/// go-yaml decodes a `!!binary` value that is not UTF-8 into raw bytes, which sops encrypts
/// as `type:str` and writes back as `!!binary`. tresor reads sops' file to the same bytes,
/// writes the same type, and refuses to turn the bytes into JSON text.
#[test]
fn binary_values_that_are_not_utf8_interoperate_with_sops() {
    let sb = Sandbox::new();
    let plain = "bin: !!binary /w==\ntxt: !!binary aGk=\n";
    let p = sb.write("b.yaml", plain);
    let senc = sb.write("b.sops.yaml", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&p).ok());
    let sops_reads = sb.sops().arg("decrypt").arg(&senc).ok();
    assert_eq!(sops_reads, "bin: !!binary /w==\ntxt: hi\n");
    assert_eq!(sb.tresor().arg("decrypt").arg(&senc).ok(), sops_reads);
    let tenc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
    let values: Vec<&str> = tenc.lines().filter(|l| l.starts_with("bin:") || l.starts_with("txt:")).collect();
    assert!(values.len() == 2 && values.iter().all(|l| l.ends_with(",type:str]")), "{tenc}");
    let tenc = sb.write("b.tresor.yaml", &tenc);
    assert_eq!(sb.sops().arg("decrypt").arg(&tenc).ok(), sops_reads);
    assert_eq!(sb.tresor().arg("decrypt").arg(&tenc).ok(), plain);
    let json = sb.tresor().args(["decrypt", "--output-type", "json"]).arg(&senc).output().unwrap();
    assert!(!json.status.success() && json.stdout.is_empty());
    assert!(String::from_utf8_lossy(&json.stderr).contains("cannot be converted to JSON"));
    // sops' binary store with bytes that are not UTF-8: the exact bytes, never the
    // envelope printed in their place.
    let bytes: Vec<u8> = (0u8..=255).rev().collect();
    let raw = sb.path("ks.p12");
    std::fs::write(&raw, &bytes).unwrap();
    let store = sb.write("ks.p12.enc", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&raw).ok());
    let out = sb.tresor().arg("decrypt").arg(&store).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, bytes);
}

/// Input sops refuses is refused, with a message naming the problem; input sops accepts
/// reads as sops reads it.
#[test]
fn yaml_sops_refuses_is_refused_and_key_anchors_read_like_sops() {
    let sb = Sandbox::new();
    for (name, text, says) in [
        ("tab.yaml", "a: |\n \t\n", "a tab where a block scalar's indentation is expected"),
        ("tab2.yaml", "a: |\n\t\n  x\n", "cannot start with a tab"),
        ("anchor.yaml", "x: &a:b 1\ny: *a:b\n", "anchor name '&a:b'"),
        ("anchor2.yaml", "x: &a.b 1\n", "anchor name '&a.b'"),
    ] {
        let p = sb.write(name, text);
        let sops = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&p).output().unwrap();
        assert!(!sops.status.success(), "{name}: sops accepts it now");
        let ours = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(ours.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(ours.stdout.is_empty());
    }
    // An alias as a key: sops writes the key's text in its place; tresor refuses, naming it.
    let p = sb.write("aliaskey.yaml", "x: &k key\n*k : 1\n");
    let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("an alias used as a mapping key is not supported"));
    // A tab after the indentation is content: both accept it.
    let p = sb.write("tab3.yaml", "a: |\n  x\n  \ty\n");
    let enc = sb.write("tab3.enc.yaml", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok());
    assert_eq!(sb.sops().arg("decrypt").arg(&enc).ok(), "a: |\n    x\n    \ty\n");
    // `&k a: 1`: the anchor names the key, for go-yaml and for tresor.
    let p = sb.write("keyanchor.yaml", "&k a: 1\nb: *k\n");
    let enc = sb.tresor().args(["encrypt", "--unencrypted-regex", "^b$", "--age", &recipient()]).arg(&p).ok();
    let enc = sb.write("keyanchor.enc.yaml", &enc);
    assert_eq!(sb.sops().arg("decrypt").arg(&enc).ok(), "a: 1\nb: a\n");
    assert_eq!(sb.tresor().arg("decrypt").arg(&enc).ok(), "&k a: 1\nb: *k\n");
}

/// Every store with the real sops, both ways, and sops' own rewrites of tresor's files.
mod stores {
    use crate::common::*;

    const ENV: &str = "# database\nDB_USER=admin\n\nDB_PASSWORD=p=a=s=s\nQUOTED=\"kept as written\"\nMULTI=line one\\nline two\nPORT_unencrypted=5432\n#\nEMPTY=\n";

    #[test]
    fn dotenv_both_ways_byte_exact_and_through_sops_rewrites() {
        let sb = Sandbox::new();
        let plain = sb.write("app.env", ENV);
        let ours = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        assert!(!ours.contains("admin") && !ours.contains("database") && ours.contains("sops_mac=ENC["), "{ours}");
        let f = sb.write("ours.env", &ours);
        // sops skips blank lines; everything else is the same text.
        let by_sops = sb.sops().arg("decrypt").arg(&f).ok();
        assert_eq!(by_sops, ENV.replace("\n\n", "\n"));
        assert_eq!(sb.tresor().arg("decrypt").arg(&f).ok(), ENV, "tresor round trip is byte-exact");
        let theirs = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        let g = sb.write("theirs.env", &theirs);
        assert_eq!(sb.tresor().arg("decrypt").arg(&g).ok(), by_sops);
        // sops set and rotate on tresor's file.
        sb.sops().args(["set"]).arg(&f).args(["[\"DB_USER\"]", "\"root\""]).ok();
        sb.sops().args(["rotate", "-i"]).arg(&f).ok();
        let after = sb.tresor().arg("decrypt").arg(&f).ok();
        assert!(after.contains("DB_USER=root\n") && after.contains("DB_PASSWORD=p=a=s=s\n"), "{after}");
        // tresor rotate on sops' file; --extract and conversion read the dotenv data.
        sb.tresor().args(["rotate", "-i"]).arg(&g).ok();
        assert_eq!(sb.sops().arg("decrypt").arg(&g).ok(), by_sops);
        assert_eq!(sb.tresor().args(["decrypt", "--extract", "[\"DB_PASSWORD\"]"]).arg(&g).ok(), "p=a=s=s");
        let json = sb.tresor().args(["decrypt", "--output-type", "json"]).arg(&g).ok();
        assert!(json.contains("\"MULTI\": \"line one\\nline two\""), "{json}");
    }

    #[test]
    fn binary_files_of_any_bytes_both_ways() {
        let sb = Sandbox::new();
        // Over 1 MiB: tresor hashes the MAC of such a file on a thread of its own.
        let bytes: Vec<u8> = (0..=255u8).rev().cycle().take((1 << 20) + 10_000).collect();
        let plain = sb.path("cert.der");
        std::fs::write(&plain, &bytes).unwrap();
        let ours = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).output().unwrap();
        assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
        let f = sb.path("ours.der");
        std::fs::write(&f, &ours.stdout).unwrap();
        let by_sops = sb.sops().arg("decrypt").arg(&f).output().unwrap();
        assert_eq!(by_sops.stdout, bytes, "sops reads tresor's binary file");
        let by_us = sb.tresor().arg("decrypt").arg(&f).output().unwrap();
        assert_eq!(by_us.stdout, bytes, "round trip");
        let theirs = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).output().unwrap();
        let g = sb.path("theirs.der");
        std::fs::write(&g, &theirs.stdout).unwrap();
        assert_eq!(sb.tresor().arg("decrypt").arg(&g).output().unwrap().stdout, bytes, "tresor reads sops' file");
        sb.sops().args(["rotate", "-i"]).arg(&f).ok();
        assert_eq!(sb.tresor().arg("decrypt").arg(&f).output().unwrap().stdout, bytes, "after sops rotate");
        sb.tresor().args(["rotate", "-i"]).arg(&g).ok();
        assert_eq!(sb.sops().arg("decrypt").arg(&g).output().unwrap().stdout, bytes, "after tresor rotate");
        // In place and back: the exact bytes.
        let h = sb.path("inplace.bin");
        std::fs::write(&h, &bytes).unwrap();
        sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&h).ok();
        sb.tresor().args(["decrypt", "-i"]).arg(&h).ok();
        assert_eq!(std::fs::read(&h).unwrap(), bytes);
    }

    const INI: &str = "; database settings\n# (two comment lines)\n[db]\n# the admin\nuser = admin\npassword=p4ss w0rd\nport_unencrypted: 5432\n\n[empty]\n[cache]\nurl = redis://cache:6379/0\n";

    /// The shapes real INI files have that go-ini reads its own way: keys before the first
    /// header (`.editorconfig`'s `root = true`, ungrouped inventory hosts: go-ini's DEFAULT
    /// section), a header comment then a blank line (every `alembic init`), a UTF-8 BOM. Both
    /// ways: tresor's file reads in sops as sops' own does, byte-exact in tresor; sops' file
    /// reads in tresor as sops prints it.
    #[test]
    fn ini_default_section_header_comments_and_bom_both_ways() {
        let sb = Sandbox::new();
        let cases = [
            ("editorconfig.ini", "root = true\n\n[*]\nindent_style = space\nindent_size = 4\n\n[*.md]\ntrim_trailing_whitespace = false\n"),
            ("alembic.ini", "# A generic, single database configuration.\n\n[alembic]\n# path to migration scripts\nscript_location = migrations\nsqlalchemy.url = driver://user:pass@localhost/dbname\n"),
            ("hosts.ini", "mail.example.com\n\n[webservers]\nfoo.example.com\n"),
            ("bom.ini", "\u{feff}[client]\nuser = app\npassword = s3cret\n"),
            ("runs.ini", "# one\n# two\n\n# three\n[s]\nk = v\n"),
        ];
        for (name, plain) in cases {
            let src = sb.write(name, plain);
            let theirs = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&src).output().unwrap();
            if !theirs.status.success() {
                // go-ini cannot read an option without a value (hosts.ini): neither tool encrypts it.
                assert!(name == "hosts.ini", "{name}: sops refused: {}", String::from_utf8_lossy(&theirs.stderr));
                sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&src).fails_with(2);
                continue;
            }
            let theirs = sb.write(&format!("s.{name}"), &String::from_utf8(theirs.stdout).unwrap());
            let sops_view = sb.sops().arg("decrypt").arg(&theirs).ok();
            assert_eq!(sb.tresor().arg("decrypt").arg(&theirs).ok(), sops_view, "{name}: tresor reads sops' file");
            let ours =
                sb.write(&format!("t.{name}"), &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&src).ok());
            assert_eq!(sb.tresor().arg("decrypt").arg(&ours).ok(), plain, "{name}: byte-exact");
            let sops_reads_ours = sb.sops().arg("decrypt").arg(&ours).ok();
            if name == "runs.ini" {
                // go-ini merges comment runs across blank lines into one comment; sops then
                // shows the first run only. Data is unaffected (comments are not in the MAC).
                assert!(
                    sops_reads_ours.ends_with("[s]\nk = v\n") && !sops_reads_ours.contains("ENC["),
                    "{sops_reads_ours}"
                );
            } else {
                assert_eq!(sops_reads_ours, sops_view, "{name}: sops reads tresor's file as its own");
            }
        }
    }

    /// Values sops writes that tresor refuses to encrypt (go-ini would read them back
    /// otherwise) are still read from sops' files, printed as sops prints them.
    #[test]
    fn ini_values_with_comment_characters_and_quotes_read_as_sops_prints_them() {
        let sb = Sandbox::new();
        let plain =
            "[s]\na = `x#y`\nb = \"q;r\"\nc = \"\"\"multi\nline\"\"\"\nd = plain \"quoted\" inside\ne = `back`tick`\n";
        let src = sb.write("q.ini", plain);
        let theirs = sb.write("s.ini", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&src).ok());
        assert_eq!(sb.tresor().arg("decrypt").arg(&theirs).ok(), sb.sops().arg("decrypt").arg(&theirs).ok());
        let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&src).fails_with(2);
        assert!(err.contains("INI line 2"), "{err}");
    }

    #[test]
    fn ini_both_ways_byte_exact_and_through_sops_rewrites() {
        let sb = Sandbox::new();
        let plain = sb.write("app.ini", INI);
        let ours = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        assert!(!ours.contains("admin") && !ours.contains("database") && ours.contains("\n[sops]\n"), "{ours}");
        let f = sb.write("ours.ini", &ours);
        assert_eq!(sb.tresor().arg("decrypt").arg(&f).ok(), INI, "byte-exact round trip");
        // sops reads the same data and comments (it re-aligns the lines as go-ini writes them).
        let by_sops = sb.sops().arg("decrypt").arg(&f).ok();
        let has_kv = |text: &str, k: &str, v: &str| {
            text.lines().any(|l| l.split_once('=').is_some_and(|(a, b)| a.trim() == k && b.trim() == v))
        };
        assert!(by_sops.starts_with("; database settings\n# (two comment lines)\n[db]\n; the admin\n"), "{by_sops}");
        for (k, v) in [
            ("user", "admin"),
            ("password", "p4ss w0rd"),
            ("port_unencrypted", "5432"),
            ("url", "redis://cache:6379/0"),
        ] {
            assert!(has_kv(&by_sops, k, v), "{k} = {v} in\n{by_sops}");
        }
        let theirs = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        let g = sb.write("theirs.ini", &theirs);
        assert_eq!(sb.tresor().arg("decrypt").arg(&g).ok(), by_sops, "tresor reads sops' file as sops does");
        sb.sops().args(["set"]).arg(&f).args(["[\"db\"][\"user\"]", "\"root\""]).ok();
        sb.sops().args(["rotate", "-i"]).arg(&f).ok();
        let after = sb.tresor().arg("decrypt").arg(&f).ok();
        assert!(has_kv(&after, "user", "root") && has_kv(&after, "password", "p4ss w0rd"), "{after}");
        sb.tresor().args(["rotate", "-i"]).arg(&g).ok();
        assert_eq!(sb.sops().arg("decrypt").arg(&g).ok(), by_sops);
        assert_eq!(
            sb.tresor().args(["decrypt", "--extract", "[\"cache\"][\"url\"]"]).arg(&g).ok(),
            "redis://cache:6379/0"
        );
        // What go-ini would read differently is refused, naming the line only.
        let bad = sb.write("bad.ini", "[db]\npassword = abc#123\n");
        let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&bad).fails_with(2);
        assert!(err.contains("INI line 2") && !err.contains("abc"), "{err}");
    }

    #[test]
    fn bytes_that_are_not_text_name_the_binary_store() {
        let sb = Sandbox::new();
        let f = sb.path("key.yaml");
        std::fs::write(&f, [0x30u8, 0x82, 0xff, 0xfe, 0x00]).unwrap();
        let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not UTF-8 text") && err.contains("--input-type binary"), "{err}");
        let ok =
            sb.tresor().args(["encrypt", "--input-type", "binary", "--age", &recipient()]).arg(&f).output().unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        let bad = sb.write("bad.env", "A=1\nthis line has no equals sign\n");
        let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("dotenv line 2") && !err.contains("equals sign"), "{err}");
    }
}

/// PGP keys through the real gpg, as sops uses them (ksops' tutorial and fixtures).
mod pgp {
    use crate::common::*;

    #[test]
    fn pgp_files_interoperate_both_ways_and_through_rules_and_rotation() {
        let sb = Sandbox::new();
        let gpg = Gpg::new(&sb);
        let g = |c: &mut std::process::Command| {
            c.env("GNUPGHOME", &gpg.home).env("SOPS_AGE_KEY_FILE", "/dev/null");
        };
        let plain = sb.write("db.yaml", "user: admin\npassword: hunter2\n");
        let mut c = sb.sops();
        g(&mut c);
        let by_sops = sb.write("s.yaml", &c.args(["encrypt", "--pgp", &gpg.fp]).arg(&plain).ok());
        let mut c = sb.tresor();
        g(&mut c);
        assert_eq!(c.arg("decrypt").arg(&by_sops).ok(), "user: admin\npassword: hunter2\n");
        let mut c = sb.tresor();
        g(&mut c);
        let ours = c.args(["encrypt", "-p", &gpg.fp]).arg(&plain).ok();
        assert!(ours.contains("    pgp:\n        - created_at: \"") && ours.contains("          enc: |\n"), "{ours}");
        let by_tresor = sb.write("t.yaml", &ours);
        let mut c = sb.sops();
        g(&mut c);
        assert_eq!(c.arg("decrypt").arg(&by_tresor).ok(), "user: admin\npassword: hunter2\n");
        // A .sops.yaml `pgp:` rule, then a rotation that adds an age recipient.
        sb.write(".sops.yaml", &format!("creation_rules:\n  - path_regex: \\.env$\n    pgp: {}\n", gpg.fp));
        let env = sb.write("app.env", "TOKEN=t0ken\n");
        let mut c = sb.tresor();
        g(&mut c);
        c.args(["encrypt", "-i"]).arg(&env).ok();
        let mut c = sb.tresor();
        g(&mut c);
        c.args(["rotate", "-i", "--add-age", &recipient()]).arg(&env).ok();
        let mut c = sb.sops();
        g(&mut c);
        assert_eq!(c.arg("decrypt").arg(&env).ok(), "TOKEN=t0ken\n", "sops through PGP");
        let by_age = sb.tresor().arg("decrypt").arg(&env).env("GNUPGHOME", sb.path("empty")).ok();
        assert_eq!(by_age, "TOKEN=t0ken\n", "the added age key alone");
    }

    #[test]
    fn a_pgp_file_without_gpg_names_gpg() {
        let sb = Sandbox::new();
        let gpg = Gpg::new(&sb);
        let plain = sb.write("db.yaml", "password: hunter2\n");
        let enc = sb.sops().args(["encrypt", "--pgp", &gpg.fp]).arg(&plain).env("GNUPGHOME", &gpg.home).ok();
        let f = sb.write("s.yaml", &enc);
        let err = sb
            .tresor()
            .arg("decrypt")
            .arg(&f)
            .env("GNUPGHOME", &gpg.home)
            .env("SOPS_AGE_KEY_FILE", "/dev/null")
            .env("SOPS_GPG_EXEC", "/nonexistent/gpg")
            .fails_with(128);
        assert!(err.contains("pgp") && err.contains("PGP keys need gpg"), "{err}");
        assert!(!err.contains("hunter2"));
    }
}

/// age plugin recipients and identities (YubiKey, TPM…) through the plugin protocol, with
/// a real plugin process: the test-only `age-plugin-tresortest`.
mod age_plugin {
    use crate::common::*;

    #[test]
    fn plugin_recipients_and_identities_work_with_tresor_sops_and_rotation() {
        let sb = Sandbox::new();
        let path = path_with_age_plugin();
        let gen = std::process::Command::new(age_plugin_dir().join("age-plugin-tresortest"))
            .arg("--generate")
            .output()
            .unwrap();
        let id_text = String::from_utf8(gen.stdout).unwrap();
        let recipient = id_text.lines().find_map(|l| l.strip_prefix("# recipient: ")).unwrap().to_string();
        assert!(recipient.starts_with("age1tresortest1"), "{id_text}");
        let ids = sb.write("plugin-id.txt", &id_text);
        let plain = sb.write("db.yaml", "user: admin\npassword: hunter2\n");
        let ours = sb.tresor().args(["encrypt", "--age", &recipient]).arg(&plain).env("PATH", &path).ok();
        let f = sb.write("t.yaml", &ours);
        let env = [("PATH", path.as_str()), ("SOPS_AGE_KEY_FILE", ids.to_str().unwrap())];
        let dec = sb.tresor().arg("decrypt").arg(&f).envs(env).output().unwrap();
        assert!(dec.status.success(), "{}", String::from_utf8_lossy(&dec.stderr));
        assert_eq!(String::from_utf8_lossy(&dec.stdout), "user: admin\npassword: hunter2\n");
        // The plugin's message reaches the user.
        assert!(String::from_utf8_lossy(&dec.stderr).contains("unwrapping with the test identity"));
        assert_eq!(sb.sops().arg("decrypt").arg(&f).envs(env).ok(), "user: admin\npassword: hunter2\n");
        // sops writes to the plugin recipient, tresor reads; rotation keeps the recipient.
        let theirs = sb.sops().args(["encrypt", "--age", &recipient]).arg(&plain).envs(env).ok();
        let g = sb.write("s.yaml", &theirs);
        assert_eq!(sb.tresor().arg("decrypt").arg(&g).envs(env).ok(), "user: admin\npassword: hunter2\n");
        sb.tresor().args(["rotate", "-i"]).arg(&g).envs(env).ok();
        assert_eq!(sb.sops().arg("decrypt").arg(&g).envs(env).ok(), "user: admin\npassword: hunter2\n");
    }
}

/// Files as sops 3.12–3.13 write them (only 3.11 installs here), built from tresor's own
/// files by the changes sops' CHANGELOG lists; each must decrypt to the same data.
mod newer_sops {
    use crate::common::*;

    /// The YAML file re-emitted as JSON with its metadata keys sorted (3.12+) and Shamir key
    /// groups (`key_groups`/`shamir_threshold` move), keeping every value and the MAC.
    fn as_sorted_json(yaml_enc: &std::path::Path) -> String {
        let script = "import json,sys,yaml\n\
            d = yaml.safe_load(open(sys.argv[1]))\n\
            def s(x):\n    return {k: s(v) for k, v in sorted(x.items())} if isinstance(x, dict) else [s(i) for i in x] if isinstance(x, list) else x\n\
            d['sops'] = s(d['sops'])\n\
            print(json.dumps(d, indent='\\t'))\n";
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(yaml_enc).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn json_integers_as_type_int_and_sorted_metadata_keys_decrypt() {
        let sb = Sandbox::new();
        // sops 3.13.2 writes JSON integers as `type:int` (before: float); YAML gives them so.
        let plain = sb.write("v.yaml", "count: 5\nbig: 9007199254740993\nname: app\n");
        let second = sb.path("k2.txt");
        let r2 = sb.tresor().args(["keygen", "--output"]).arg(&second).ok();
        sb.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n",
                recipient(),
                r2.trim()
            ),
        );
        let enc = sb.tresor().args(["encrypt"]).arg(&plain).current_dir(sb.dir.path()).ok();
        assert!(enc.contains("type:int") && enc.contains("key_groups"), "{enc}");
        let y = sb.write("v.enc.yaml", &enc);
        let json = as_sorted_json(&y);
        let sops_block = &json[json.find("\"sops\"").unwrap()..];
        assert!(sops_block.find("\"key_groups\"") < sops_block.find("\"shamir_threshold\""), "{json}");
        let j = sb.write("v.enc.json", &json);
        let both = sb.write(
            "both.txt",
            &(std::fs::read_to_string(key_file()).unwrap() + &std::fs::read_to_string(&second).unwrap()),
        );
        let out = sb.tresor().arg("decrypt").arg(&j).env("SOPS_AGE_KEY_FILE", &both).ok();
        assert_eq!(out, "{\n\t\"count\": 5,\n\t\"big\": 9007199254740993,\n\t\"name\": \"app\"\n}\n");
        let big = sb.tresor().args(["decrypt", "--extract", "[\"big\"]"]).arg(&j).env("SOPS_AGE_KEY_FILE", &both).ok();
        assert_eq!(big, "9007199254740993\n");
    }

    /// sops 3.13.2 reads JSON integers that fit int64 as ints and hashes unencrypted ones so
    /// in the MAC (getsops/sops#2222); before, every JSON number went through float64. The
    /// fixture: the real sops 3.11 encrypts YAML (whose integers it hashes exactly), the file
    /// is re-emitted as JSON and its `version` set to 3.13.2 — what 3.13.2 writes.
    #[test]
    fn unencrypted_json_integers_beyond_2_53_verify_by_the_writers_version() {
        let sb = Sandbox::new();
        let plain = sb.write("n.yaml", "id_unencrypted: 1234567890123456789\ncount: 5\n");
        let yaml = sb.write("n.enc.yaml", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok());
        let json = as_sorted_json(&yaml);
        assert!(json.contains("\"version\": \"3.11.0\""), "{json}");
        let as_3132 = sb.write("n132.enc.json", &json.replace("\"version\": \"3.11.0\"", "\"version\": \"3.13.2\""));
        let out = sb.tresor().arg("decrypt").arg(&as_3132).ok();
        assert!(
            out.contains("\"id_unencrypted\": 1234567890123456789,"),
            "exact, MAC verified as 3.13.2 writes it: {out}"
        );
        // The same bytes claiming 3.11: float64 hashing, as sops 3.11 itself checks it.
        let as_311 = sb.write("n311.enc.json", &json);
        sb.tresor().arg("decrypt").arg(&as_311).fails_with(51);
        assert!(!sb.sops().arg("decrypt").arg(&as_311).output().unwrap().status.success(), "sops 3.11 refuses it too");

        // tresor writes nothing that 3.11 and 3.13.2 would verify differently: such an integer
        // in clear is refused (naming the path); encrypted, it is type:int and exact in both.
        let clear = sb.write("c.json", "{\"id_unencrypted\": 1234567890123456789}\n");
        let err = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&clear).fails_with(23);
        assert!(err.contains("[\"id_unencrypted\"]") && err.contains("2^53"), "{err}");
        let enc = sb.write("e.json", "{\"id\": 1234567890123456789, \"small_unencrypted\": 9007199254740992}\n");
        let ours = sb.write("e.enc.json", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&enc).ok());
        assert!(sb.sops().arg("decrypt").arg(&ours).ok().contains("1234567890123456789"));
    }
}

/// Metadata and envelopes tampered without a key, in every store, decrypted by both: tresor
/// never accepts what sops refuses (a value's `type:`, the `version`, `lastmodified`'s
/// spelling, keys added to the binary envelope), and reads what sops reads.
#[test]
fn tampered_types_versions_times_and_envelopes_are_refused_where_sops_refuses() {
    let sb = Sandbox::new();
    let files = [
        ("a.env", "A=hello\nB=2\n"),
        ("a.ini", "[s]\na = hello\n"),
        ("a.yaml", "a: hello\n"),
        ("a.json", "{\"a\": \"hello\"}\n"),
        ("a.bin", "binary data"),
    ];
    // (what, from, to): each applied to the first place it fits.
    let tampers: [(&str, &str, &str); 16] = [
        ("type int", "type:str]", "type:int]"),
        ("type bool", "type:str]", "type:bool]"),
        ("type bytes", "type:str]", "type:bytes]"),
        ("type unknown", "type:str]", "type:zzz]"),
        ("type empty", "type:str]", "type:]"),
        ("version word", "3.11.0", "banana"),
        ("version two parts", "3.11.0", "3.11"),
        ("version with v", "3.11.0", "v3.11.0"),
        ("version leading zero", "3.11.0", "03.11.0"),
        ("version pre-release", "3.11.0", "3.11.0-rc1"),
        ("lastmodified space", "T", " "),
        ("lastmodified lower t", "T", "t"),
        ("lastmodified lower z", "Z", "z"),
        ("lastmodified offset", "Z", "+00:00"),
        ("envelope extra key", "\t\"data\": ", "\t\"extra\": \"x\",\n\t\"data\": "),
        ("envelope data in a list", "\t\"data\": \"ENC", "\t\"data\": [\"ENC"),
    ];
    let mut compared = 0;
    for (name, plain) in files {
        let src = sb.write(name, plain);
        let enc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&src).ok();
        for (what, from, to) in tampers {
            // Times: change the separator or zone of `lastmodified` only.
            let changed = if what.starts_with("lastmodified") {
                let line = enc.lines().find(|l| l.contains("lastmodified")).unwrap();
                let at = if from == "T" { line.find('T').unwrap() } else { line.rfind('Z').unwrap() };
                let mut new_line = line.to_string();
                new_line.replace_range(at..at + 1, to);
                enc.replacen(line, &new_line, 1)
            } else if what == "envelope data in a list" {
                enc.replacen(from, to, 1).replacen("type:str]\",", "type:str]\"],", 1)
            } else {
                enc.replacen(from, to, 1)
            };
            if changed == enc {
                continue;
            }
            let t = sb.write(&format!("t.{name}"), &changed);
            let theirs = sb.sops().arg("decrypt").arg(&t).output().unwrap();
            let ours = sb.tresor().arg("decrypt").arg(&t).output().unwrap();
            compared += 1;
            if !theirs.status.success() {
                assert!(!ours.status.success(), "{name}, {what}: sops refuses, tresor accepted");
            } else {
                assert!(
                    ours.status.success(),
                    "{name}, {what}: sops reads it, tresor refused: {}",
                    text_of(&ours.stderr)
                );
                assert_eq!(ours.stdout, theirs.stdout, "{name}, {what}");
            }
        }
    }
    assert!(compared >= 60, "{compared} tampered files compared");
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty binary file (an empty keystore, a placeholder) both ways with sops.
#[test]
fn an_empty_binary_file_interoperates_with_sops_both_ways() {
    let sb = Sandbox::new();
    let empty = sb.write("empty.bin", "");
    let theirs = sb.write("theirs.bin", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&empty).ok());
    let out = sb.tresor().arg("decrypt").arg(&theirs).output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{}", text_of(&out.stderr));
    let ours = sb.write("ours.bin", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&empty).ok());
    let back = sb.sops().args(["decrypt"]).arg(&ours).output().unwrap();
    assert!(back.status.success() && back.stdout.is_empty(), "{}", text_of(&back.stderr));
    // Empty after an edit too, and the MAC still guards it.
    let tampered =
        sb.write("t.bin", &std::fs::read_to_string(&ours).unwrap().replace("\"data\": \"\"", "\"data\": \"x\""));
    assert!(!sb.tresor().arg("decrypt").arg(&tampered).output().unwrap().status.success());
}

/// A trailing `---` (an empty last document, common at the end of Kubernetes manifests):
/// sops writes its metadata into that empty document too. tresor reads sops' file back to
/// the original bytes (sops prints the empty document as `{}`), and round-trips its own.
#[test]
fn a_trailing_document_marker_reads_in_both_directions() {
    let sb = Sandbox::new();
    let plain = "apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter2\n---\n";
    let src = sb.write("m.yaml", plain);
    let theirs = sb.write("s.yaml", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&src).ok());
    // sops re-indents what it writes; tresor keeps sops' text and gives the last document
    // back empty, as it was, where sops prints `{}`.
    let ours_of_theirs = sb.tresor().arg("decrypt").arg(&theirs).ok();
    assert!(ours_of_theirs.ends_with("password: hunter2\n---\n"), "{ours_of_theirs}");
    assert_eq!(sb.sops().arg("decrypt").arg(&theirs).ok(), format!("{ours_of_theirs}{{}}\n"), "sops' own reading");
    let ours = sb.write("t.yaml", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&src).ok());
    assert_eq!(sb.tresor().arg("decrypt").arg(&ours).ok(), plain);
    assert!(sb.sops().arg("decrypt").arg(&ours).ok().contains("password: hunter2"));
}

/// A key list of a kind tresor does not know — what a newer sops writes for a key type added
/// after 3.11 — must survive every write that keeps the data key, and block a rotation that
/// would leave it wrapping the old one; dropping it silently locks its holders out.
#[test]
fn key_lists_of_unknown_kinds_are_kept_on_set_and_block_rotation() {
    let sb = Sandbox::new();
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(testdata("roundtrip/k8s-secret.yaml")).ok();
    let entry = "    fortanix_dsm:\n        - key_id: 5b1c0d2e\n          enc: Zm9ydGFuaXgtd3JhcHBlZA==\n          created_at: \"2026-01-01T00:00:00Z\"\n";
    let file = sb.write("secret.yaml", &enc.replacen("sops:\n", &format!("sops:\n{entry}"), 1));
    sb.tresor().args(["set"]).arg(&file).args(["[\"stringData\"][\"password\"]", "\"changed\""]).ok();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(entry.trim_end()), "the unknown entry is kept as it was:\n{text}");
    let dec = sb.sops().args(["decrypt", "--extract", "[\"stringData\"][\"password\"]"]).arg(&file).ok();
    assert_eq!(dec, "changed", "sops still reads the file");
    let out = sb.tresor().args(["rotate", "-i"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fortanix_dsm (a key kind tresor does not know)"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "a refused rotation changes nothing");
    // Asked for explicitly, the entry goes, and the rotation says so.
    let out = sb.tresor().args(["rotate", "-i", "--drop-unsupported-keys"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!std::fs::read_to_string(&file).unwrap().contains("fortanix_dsm"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fortanix_dsm"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Aliases to values tresor encrypts (real Helm values do this: alertmanager's
/// `port: *containerPortName`, enterprise-logs' `image: *image`): refused by default with
/// the way forward named; `--expand-aliases` copies each anchored value in place as sops
/// does, lists what it replaced (lines, never values) and gives a file that sops and
/// tresor both read as sops reads its own encryption of the original.
#[test]
fn expand_aliases_copies_anchored_values_as_sops_does() {
    let sb = Sandbox::new();
    let text = "port: &port http\nimage: &image\n  registry: docker.io\n  # the tag\n  tag: '1.2'\nsvc:\n  port: *port\n  image: *image\nlist:\n- name: x\n  image: *image\n- *port\n";
    let plain = sb.write("v.yaml", text);
    let refused = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).output().unwrap();
    assert_eq!(refused.status.code(), Some(23));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--expand-aliases"));
    let out = sb.tresor().args(["encrypt", "--expand-aliases", "--age", &recipient()]).arg(&plain).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("line 7: *port replaced by a copy of line 1") && err.contains("4 alias(es) expanded"),
        "{err}"
    );
    assert!(!err.contains("docker.io") && !err.contains("http"), "values never printed: {err}");
    let ours = sb.write("v.t.yaml", &String::from_utf8(out.stdout).unwrap());
    assert!(!sb.read("v.t.yaml").contains('*'), "no alias left");
    let theirs = sb.write("v.s.yaml", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok());
    let want = data(&sb.sops().arg("decrypt").arg(&theirs).ok(), "x.yaml");
    assert_eq!(data(&sb.sops().arg("decrypt").arg(&ours).ok(), "x.yaml"), want);
    let back = sb.tresor().arg("decrypt").arg(&ours).ok();
    assert_eq!(data(&back, "x.yaml"), want);
    assert!(back.contains("# the tag"), "{back}");
    // Not YAML: a usage error, nothing written.
    let env = sb.write("e.env", "A=1\n");
    let e = sb.tresor().args(["encrypt", "--expand-aliases", "--age", &recipient()]).arg(&env).output().unwrap();
    assert_eq!(e.status.code(), Some(8));
}

/// yaml-test-suite F6MC: folded scalars with an indentation indicator whose first text line
/// is more indented (one after blank lines). Both tools read each other's file to the same
/// data; tresor's own round trip is exact.
#[test]
fn block_scalars_with_an_indentation_indicator_interoperate() {
    let sb = Sandbox::new();
    let text = "a: >2\n   more indented\n  regular\nb: >2\n\n\n   more indented\n  regular\n";
    let plain = sb.write("f.yaml", text);
    let want = data(text, "f.yaml");
    let theirs = sb.write("f.s.yaml", &sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok());
    assert_eq!(data(&sb.tresor().arg("decrypt").arg(&theirs).ok(), "f.yaml"), want);
    let ours = sb.write("f.t.yaml", &sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok());
    assert_eq!(sb.tresor().arg("decrypt").arg(&ours).ok(), text);
    assert_eq!(data(&sb.sops().arg("decrypt").arg(&ours).ok(), "f.yaml"), want);
}

/// sops reads dotenv values as bytes: a Windows-1252 `.env` (value, comment and key bytes
/// that are not UTF-8) encrypts with either tool and decrypts with the other to the same
/// bytes; tresor's round trip is exact.
#[test]
fn dotenv_bytes_that_are_not_utf8_interoperate() {
    let sb = Sandbox::new();
    let bytes: &[u8] = b"PASSWORD=caf\xe9-cr\xe8me\n#commentaire \xe0 garder\nK\xc9Y=1\nPLAIN=ascii\n";
    let plain = sb.path("w.env");
    std::fs::write(&plain, bytes).unwrap();
    let decrypt_bytes = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let ours = decrypt_bytes(sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain));
    let ours_path = sb.path("w.t.env");
    std::fs::write(&ours_path, &ours).unwrap();
    assert_eq!(decrypt_bytes(sb.tresor().arg("decrypt").arg(&ours_path)), bytes);
    assert_eq!(decrypt_bytes(sb.sops().arg("decrypt").arg(&ours_path)), bytes);
    let theirs = decrypt_bytes(sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain));
    let theirs_path = sb.path("w.s.env");
    std::fs::write(&theirs_path, &theirs).unwrap();
    assert_eq!(decrypt_bytes(sb.tresor().arg("decrypt").arg(&theirs_path)), bytes);
}
