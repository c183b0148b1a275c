//! Hostile and malformed input, tried the way a user or an attacker would: tresor must
//! never be weaker than sops. Each test is a reproduction from the trust issue: it failed
//! on the build before the fix (plaintext left behind, a tampered file accepted, a panic
//! or abort, a lost update) and passes now.

use crate::common::*;
use std::process::Stdio;

/// Encrypt `plain`, replace the first `from` in the encrypted text by `to`, and decrypt
/// the result. Returns the file and the decryption's output.
fn decrypt_tampered(
    sb: &Sandbox,
    name: &str,
    plain: &str,
    from: &str,
    to: &str,
) -> (std::path::PathBuf, std::process::Output) {
    let f = sb.encrypted(name, plain);
    let t = sb.read(name);
    assert!(t.contains(from), "{from:?} not in the encrypted {name}");
    std::fs::write(&f, t.replacen(from, to, 1)).unwrap();
    let out = sb.tresor().arg("decrypt").arg(&f).run();
    (f, out)
}

/// Exit code of a run, asserting it did not panic (101) or abort (134, 139).
fn code_of(out: &std::process::Output) -> i32 {
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(![101, 134, 139, -1].contains(&code) && !err.contains("panicked"), "crashed ({code}): {err}");
    code
}

#[test]
fn encrypt_refuses_a_lone_cr_and_writes_nothing() {
    let sb = Sandbox::new();
    let src = "tls_key: |\r  -----BEGIN PRIVATE KEY-----\r  MIIEvQIBADANBgkqhkiG9w0B\r  -----END PRIVATE KEY-----\rpassword: hunter2\r";
    let p = sb.write("c.yaml", src);
    let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).run();
    assert_eq!(code_of(&out), 2);
    assert!(out.stdout.is_empty(), "output written: {}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("carriage return"));
    // In place: the file is left exactly as it was.
    let out = sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).run();
    assert_eq!(code_of(&out), 2);
    assert_eq!(sb.read("c.yaml"), src);
}

#[test]
fn line_separators_that_yaml_readers_see_as_breaks_are_refused_both_ways() {
    let sb = Sandbox::new();
    for sep in ["\u{2028}", "\u{2029}", "\u{85}"] {
        // Encrypting a file that holds one is refused...
        let p = sb.write("ls.yaml", &format!("a: 1 # note{sep}injected: evil\n"));
        let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).run();
        assert_eq!(code_of(&out), 2, "{sep:?}");
        // ...and so is a comment carrying one added to an encrypted file (sops refuses too:
        // its YAML reader sees a new key the MAC does not cover).
        let f = sb.encrypted("enc.yaml", "password: hunter2\nuser: admin\n");
        let text = sb.read("enc.yaml").replacen("\nuser:", &format!(" # note{sep}injected: evil\nuser:"), 1);
        std::fs::write(&f, &text).unwrap();
        let out = sb.tresor().arg("decrypt").arg(&f).run();
        assert_ne!(code_of(&out), 0, "tresor accepted a line separator in a comment ({sep:?})");
        assert!(out.stdout.is_empty());
        assert_ne!(sb.sops().arg("decrypt").arg(&f).run().status.code(), Some(0), "sops accepted it ({sep:?})");
    }
}

#[test]
fn a_lone_cr_before_the_metadata_does_not_drop_lines_or_panic() {
    let sb = Sandbox::new();
    let f = sb.encrypted("cr.yaml", "a: one\nb: two\nc: three\n");
    let text = sb.read("cr.yaml");
    for (i, _) in text.match_indices('\n').take(4) {
        let mut t = text.clone();
        t.insert(i, '\r');
        t.remove(i + 1);
        std::fs::write(&f, &t).unwrap();
        let out = sb.tresor().arg("decrypt").arg(&f).run();
        if code_of(&out) == 0 {
            let d = data(&String::from_utf8_lossy(&out.stdout), "cr.yaml");
            assert_same_docs(&d, &data("a: one\nb: two\nc: three\n", "x.yaml"), "decrypted after a CR");
        }
    }
}

#[test]
fn a_tag_put_before_ciphertext_is_refused_like_sops() {
    let sb = Sandbox::new();
    let (f, out) =
        decrypt_tampered(&sb, "t.yaml", "password: hunter2\nb: 1\n", "password: ENC", "password: !!null ENC");
    assert_eq!(code_of(&out), 25);
    assert!(out.stdout.is_empty());
    assert_ne!(sb.sops().arg("decrypt").arg(&f).run().status.code(), Some(0));
}

#[test]
fn blank_lines_added_after_a_keep_block_are_refused() {
    let sb = Sandbox::new();
    let (_, out) = decrypt_tampered(&sb, "k.yaml", "a: |+\n  x\n\nb: 1\n", "\nb: ", "\n\n\nb: ");
    assert_eq!(code_of(&out), 25, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty());
    // Untouched, the file still round-trips byte for byte.
    let f = sb.encrypted("k2.yaml", "a: |+\n  x\n\nb: 1\n");
    assert_eq!(sb.tresor().arg("decrypt").arg(&f).ok(), "a: |+\n  x\n\nb: 1\n");
}

#[test]
fn a_recursive_alias_is_a_clean_error_not_a_stack_overflow() {
    let sb = Sandbox::new();
    for src in ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a\n  b: *a\n"] {
        let p = sb.write("r.yaml", src);
        let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).run();
        assert_eq!(code_of(&out), 2, "{src:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Aliases that nest anchors deeper than the parser's own limit are bounded by the walk.
    let mut src = String::new();
    for i in 0..40 {
        src.push_str(&format!("a{i}: &a{i}\n"));
        for d in 1..=10 {
            src.push_str(&format!("{}k:\n", "  ".repeat(d)));
        }
        src.push_str(&format!(
            "{}v: {}\n",
            "  ".repeat(11),
            if i == 0 { "x".to_string() } else { format!("*a{}", i - 1) }
        ));
    }
    let p = sb.write("deep.yaml", &src);
    let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).run();
    assert_ne!(code_of(&out), 0);
}

#[test]
fn an_indented_root_mapping_round_trips_and_sops_reads_it() {
    let sb = Sandbox::new();
    let src = "  user: admin\n  password: x\n";
    let p = sb.write("ind.yaml", src);
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    assert_eq!(sb.tresor().arg("decrypt").arg(&p).ok(), src);
    let theirs = sb.sops().arg("decrypt").arg(&p).ok();
    assert_same_docs(&data(&theirs, "ind.yaml"), &data(src, "ind.yaml"), "sops reads the indented file");
}

#[test]
fn in_place_writes_follow_symlinks_and_refuse_read_only_and_hard_linked_files() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let real = sb.write("real.yaml", "password: hunter2\n");
    std::os::unix::fs::symlink("real.yaml", sb.path("link.yaml")).unwrap();
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(sb.path("link.yaml")).ok();
    assert!(std::fs::symlink_metadata(sb.path("link.yaml")).unwrap().file_type().is_symlink());
    assert!(!sb.read("real.yaml").contains("hunter2"), "the real file kept its plaintext");
    assert_eq!(sb.tresor().arg("decrypt").arg(&real).ok(), "password: hunter2\n");

    let ro = sb.write("ro.yaml", "password: hunter2\n");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&ro).fails_with(3);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(sb.read("ro.yaml"), "password: hunter2\n");

    let h1 = sb.write("h1.yaml", "password: hunter2\n");
    std::fs::hard_link(&h1, sb.path("h2.yaml")).unwrap();
    let err = sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&h1).fails_with(3);
    assert!(err.contains("hard links"), "{err}");
    assert_eq!(sb.read("h2.yaml"), "password: hunter2\n");
}

#[test]
fn concurrent_sets_on_one_file_lose_no_update() {
    let sb = Sandbox::new();
    let f = sb.encrypted("p.yaml", "password: hunter2\n");
    let children: Vec<_> = (0..16)
        .map(|i| {
            sb.tresor()
                .arg("set")
                .arg(&f)
                .arg(format!("[\"k{i}\"]"))
                .arg(format!("\"v{i}\""))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let plain = sb.tresor().arg("decrypt").arg(&f).ok();
    for i in 0..16 {
        assert!(plain.contains(&format!("k{i}: v{i}")), "update {i} lost:\n{plain}");
    }
}

#[test]
fn killed_in_place_runs_leave_no_temporary_files() {
    let sb = Sandbox::new();
    let mut big = String::new();
    for i in 0..60_000 {
        big.push_str(&format!("key{i}: value-{i}-{}\n", "x".repeat(40)));
    }
    let f = sb.encrypted("big.yaml", &big);
    let original = sb.read("big.yaml");
    for delay in [5u64, 20, 40, 80] {
        let mut child =
            sb.tresor().args(["decrypt", "-i"]).arg(&f).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let leftovers: Vec<_> = std::fs::read_dir(sb.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tresor"))
            .collect();
        assert!(leftovers.is_empty(), "left behind after kill -9 at {delay} ms: {leftovers:?}");
        // Either untouched or fully decrypted, never half-written.
        let now = sb.read("big.yaml");
        assert!(now == original || now == big, "half-written file after kill -9 at {delay} ms");
        std::fs::write(&f, &original).unwrap();
    }
}

#[test]
fn sigterm_during_edit_removes_the_plaintext_copy() {
    let sb = Sandbox::new();
    let f = sb.encrypted("e.yaml", "password: hunter2\n");
    let tmp = sb.path("private-tmp");
    std::fs::create_dir(&tmp).unwrap();
    let editor = sb.write("slow-editor.sh", "#!/bin/sh\nsleep 30\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut child = sb
        .tresor()
        .arg("edit")
        .arg(&f)
        .env("EDITOR", &editor)
        .env("TRESOR_TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let copies = || std::fs::read_dir(&tmp).unwrap().count();
    for _ in 0..100 {
        if copies() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(copies(), 1, "edit did not start");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    assert_eq!(copies(), 0, "the plaintext copy outlived SIGTERM");
    assert!(!sb.read("e.yaml").contains("hunter2"));
}

#[test]
fn edit_refuses_to_put_plaintext_on_disk_without_a_tmpfs() {
    let sb = Sandbox::new();
    let f = sb.encrypted("e.yaml", "password: hunter2\n");
    // TRESOR_TMPDIR names a directory that cannot be used: an error, no fallback.
    let out = sb.tresor().arg("edit").arg(&f).env("EDITOR", "true").env("TRESOR_TMPDIR", sb.path("missing")).run();
    assert_ne!(code_of(&out), 0);
}

fn resource_list(generator: &str) -> String {
    let mut indented = String::new();
    for line in generator.lines() {
        indented.push_str("  ");
        indented.push_str(line);
        indented.push('\n');
    }
    format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- {}", indented.trim_start())
}

#[test]
fn the_krm_function_stays_inside_the_kustomization_root() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("app")).unwrap();
    std::fs::create_dir_all(sb.path("other")).unwrap();
    let plain = sb.write("other/x.yaml", "password: hunter2\n");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
    sb.write("other/x.enc.yaml", &enc);
    std::os::unix::fs::symlink(sb.path("other/x.enc.yaml"), sb.path("app/link.enc.yaml")).unwrap();
    sb.write("shadow", "root:$6$saltsalt$9f8e7d6c5b4a:19000:0:99999:7:::\n");
    let absolute = sb.path("other/x.enc.yaml");
    let cases = [
        ("../other/x.enc.yaml", "outside the kustomization root"),
        (absolute.to_str().unwrap(), "outside the kustomization root"),
        ("link.enc.yaml", "outside the kustomization root"),
        ("/dev/zero", "outside the kustomization root"),
        ("../shadow", "outside the kustomization root"),
    ];
    for (file, why) in cases {
        let gen =
            format!("apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: s\nfiles:\n- pw={file}\n");
        let out = sb.tresor().arg("kustomize").current_dir(sb.path("app")).stdin_text(&resource_list(&gen));
        assert_ne!(code_of(&out), 0, "{file} was read");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{file}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("aHVudGVyMg"), "{file}: the secret came out");
    }
    // Inside the root, a file that is not SOPS is named without quoting its bytes.
    sb.write("app/shadow", "root:$6$saltsalt$9f8e7d6c5b4a:19000:0:99999:7:::\n");
    let gen = "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: s\nfiles:\n- pw=shadow\n";
    let out = sb.tresor().arg("kustomize").current_dir(sb.path("app")).stdin_text(&resource_list(gen));
    assert_ne!(code_of(&out), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("root:") && !err.contains("saltsalt"), "file content in the error: {err}");
}

#[test]
fn an_alias_bomb_in_the_resource_list_is_refused_quickly() {
    let sb = Sandbox::new();
    let mut src = String::from(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n",
    );
    for i in 1..12 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        src.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    src.push_str("items: [*x11]\n");
    let t0 = std::time::Instant::now();
    let out = sb.tresor().arg("kustomize").stdin_text(&src);
    assert_ne!(code_of(&out), 0);
    assert!(t0.elapsed() < std::time::Duration::from_secs(20), "took {:?}", t0.elapsed());
}

#[test]
fn duplicate_keys_are_refused_like_sops_and_eof_blocks_read_like_sops() {
    let sb = Sandbox::new();
    let p = sb.write("dup.yaml", "a: 1\nb:\n  c: 2\na: 3\n");
    let out = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).run();
    assert_eq!(code_of(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already defined"));
    assert_ne!(sb.sops().args(["encrypt", "--age", &recipient()]).arg(&p).run().status.code(), Some(0));
    // Merge keys may repeat.
    let p = sb.write("merge.yaml", "x: &x {a: 1}\ny: &y {b: 2}\nz_unencrypted:\n  <<: *x\n  <<: *y\n");
    let _ = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).run();

    // A block scalar ending the file without a line break: the value sops reads from
    // tresor's file is the value sops reads from its own.
    for src in ["a: |\n  x", "a: |+\n  x", "a: >\n  x\n  y", "b: 1\na: |\n  x\n\n  "] {
        let p = sb.write("eof.yaml", src);
        let ours = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
        let ours_path = sb.write("eof.tresor.yaml", &ours);
        assert_eq!(sb.tresor().arg("decrypt").arg(&ours_path).ok(), src, "{src:?}");
        let theirs = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
        let theirs_path = sb.write("eof.sops.yaml", &theirs);
        let a = sb.sops().args(["decrypt", "--output-type", "json"]).arg(&ours_path).ok();
        let b = sb.sops().args(["decrypt", "--output-type", "json"]).arg(&theirs_path).ok();
        assert_eq!(a, b, "{src:?}");
    }

    // A trailing `---` (an empty last document) is accepted, as sops accepts it.
    let p = sb.write("trail.yaml", "a: 1\n---\n");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
    let f = sb.write("trail.enc.yaml", &enc);
    assert_eq!(sb.tresor().arg("decrypt").arg(&f).ok(), "a: 1\n---\n");
    sb.sops().arg("decrypt").arg(&f).ok();
}

/// `tresor edit` killed with SIGKILL while the editor runs: its plaintext copy stays on
/// tmpfs only until the next tresor run (any command), which overwrites and removes it;
/// `tresor doctor` says so. A live edit's copy is never touched.
#[test]
fn a_plaintext_copy_left_by_a_killed_edit_is_swept_by_the_next_run() {
    let sb = Sandbox::new();
    let shm = sb.path("shm");
    std::fs::create_dir_all(&shm).unwrap();
    let enc = sb.encrypted("s.yaml", "password: swept-secret\n");
    // A second file for the live edit: two edits of one file wait on its lock.
    let other = sb.encrypted("t.yaml", "password: live-secret\n");
    let editor = sb.write("wait.sh", "touch \"$1.started\"; sleep 30\n");
    let edit = |sb: &Sandbox, file: &std::path::Path| {
        sb.tresor()
            .arg("edit")
            .arg(file)
            .env("EDITOR", format!("sh {}", editor.display()))
            .env("TRESOR_TMPDIR", &shm)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let copies =
        || -> Vec<std::path::PathBuf> { std::fs::read_dir(&shm).unwrap().flatten().map(|e| e.path()).collect() };
    let wait_started = || {
        for _ in 0..200 {
            let started = copies().iter().any(|d| {
                std::fs::read_dir(d)
                    .map(|r| r.flatten().any(|f| f.path().to_string_lossy().ends_with(".started")))
                    .unwrap_or(false)
            });
            if started {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the editor never started");
    };
    for sweeper in ["filestatus", "doctor"] {
        let mut victim = edit(&sb, &enc);
        wait_started();
        // A second, live edit: its copy must survive the sweep.
        let mut live = edit(&sb, &other);
        for _ in 0..200 {
            if copies().len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert_eq!(copies().len(), 2);
        let victim_dir: Vec<_> = copies()
            .into_iter()
            .filter(|d| {
                std::fs::read_to_string(d.join(".tresor-owner"))
                    .unwrap_or_default()
                    .starts_with(&format!("{} ", victim.id()))
            })
            .collect();
        assert_eq!(victim_dir.len(), 1);
        victim.kill().unwrap(); // SIGKILL: no handler runs
        victim.wait().unwrap();
        assert!(victim_dir[0].exists(), "SIGKILL leaves the copy");
        let out = sb.tresor().arg(sweeper).arg(&enc).env("TRESOR_TMPDIR", &shm).output().unwrap();
        assert!(!victim_dir[0].exists(), "{sweeper} removes the killed edit's copy");
        assert_eq!(copies().len(), 1, "the live edit's copy stays");
        if sweeper == "doctor" {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("removed a plaintext copy left on tmpfs by a tresor that was killed"), "{err}");
        }
        live.kill().unwrap();
        live.wait().unwrap();
        sb.tresor().arg("filestatus").arg(&enc).env("TRESOR_TMPDIR", &shm).output().unwrap();
        assert!(copies().is_empty());
    }
}
