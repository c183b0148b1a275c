//! The `tresor` Git drivers with the real git: `tresor git setup`, then `git diff` and
//! `git log -p` show decrypted values to a key holder and, to anyone else, which values'
//! ciphertext changed instead of base64; `git merge`, `rebase` and `cherry-pick` merge
//! encrypted files value by value; `tresor git mergetool` resolves real conflicts — and
//! nothing is written in plaintext.

use crate::common::*;
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
    assert_eq!(std::fs::read_to_string(dir.join(".gitattributes")).unwrap(), "/db.enc.yaml diff=tresor merge=tresor\n");
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

/// A repository whose encrypted files use both drivers, on branch `main`.
struct Repo {
    sb: Sandbox,
    dir: std::path::PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let sb = Sandbox::new();
        let dir = sb.path("repo");
        for d in ["repo/home", "tmp"] {
            std::fs::create_dir_all(sb.path(d)).unwrap();
        }
        let r = Repo { sb, dir };
        r.ok(&["init", "-q", "-b", "main"]);
        r
    }
    fn git(&self, args: &[&str]) -> Output {
        git(&self.dir, args, &[("TMPDIR", self.sb.path("tmp").to_str().unwrap()), ("EDITOR", "false")])
    }
    fn ok(&self, args: &[&str]) -> String {
        ok(self.git(args))
    }
    fn tresor(&self) -> Command {
        let mut c = self.sb.tresor();
        c.current_dir(&self.dir).env("HOME", self.dir.join("home")).env("TMPDIR", self.sb.path("tmp"));
        c
    }
    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.join(rel)
    }
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }
    /// Encrypt `plain` as `rel`, set up the drivers and commit.
    fn add_encrypted(&self, rel: &str, plain: &str) {
        std::fs::write(self.path(rel), plain).unwrap();
        self.tresor().args(["encrypt", "-i", "--age", &recipient(), rel]).ok();
        self.tresor().args(["git", "setup"]).ok();
        self.ok(&["add", "-A"]);
        self.ok(&["commit", "-q", "-m", &format!("add {rel}")]);
    }
    fn set(&self, rel: &str, path: &str, json: &str) {
        self.tresor().args(["set", rel, path, json]).ok();
    }
    fn commit(&self, msg: &str) {
        self.ok(&["commit", "-q", "-am", msg]);
    }
    fn decrypted(&self, rel: &str) -> String {
        self.tresor().args(["decrypt", rel]).ok()
    }
    /// Decrypt with the real sops too: the merged file must be a valid SOPS file.
    fn sops_decrypted(&self, rel: &str) -> String {
        self.sb.sops().args(["decrypt"]).arg(self.path(rel)).ok()
    }
    /// Every place a merge could leave plaintext: the working tree, every object Git
    /// holds (all versions, the index's conflict stages included), and the temp dir.
    fn assert_no_plaintext(&self, needles: &[&str]) {
        let mut texts: Vec<(String, String)> = Vec::new();
        let mut stack = vec![self.dir.clone(), self.sb.path("tmp")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() && p.file_name().unwrap() != ".git" {
                    stack.push(p);
                } else if p.is_file() {
                    texts.push((p.display().to_string(), String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into()));
                }
            }
        }
        let objects = self.ok(&["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"]);
        for line in objects.lines().filter(|l| l.ends_with(" blob")) {
            let id = line.split(' ').next().unwrap();
            texts.push((format!("object {id}"), self.ok(&["cat-file", "blob", id])));
        }
        for (what, text) in &texts {
            for n in needles {
                assert!(!text.contains(n), "plaintext {n:?} found in {what}");
            }
        }
    }
}

/// The `ENC[…]` tokens of a file's data (the metadata's MAC excluded).
fn ciphertexts(text: &str) -> Vec<String> {
    let data = text.split("\nsops:").next().unwrap();
    data.split("ENC[").skip(1).map(|t| format!("ENC[{}", &t[..t.find(']').unwrap() + 1])).collect()
}

const DB: &str =
    "# database\nuser: admin\npassword: hunter2\nhost: db.internal\nport: 5432\nreplicas:\n  - r1\n  - r2\n";

#[test]
fn values_changed_on_two_branches_merge_keeping_every_other_ciphertext() {
    let r = Repo::new();
    r.add_encrypted("db.enc.yaml", DB);
    let base = r.read("db.enc.yaml");
    r.ok(&["checkout", "-q", "-b", "feature"]);
    r.set("db.enc.yaml", "[\"password\"]", "\"correct-horse\"");
    r.commit("theirs: password");
    let theirs = r.read("db.enc.yaml");
    r.ok(&["checkout", "-q", "main"]);
    // The neighbouring line: Git's own line merge would conflict here.
    r.set("db.enc.yaml", "[\"host\"]", "\"db2.internal\"");
    r.commit("ours: host");
    let ours = r.read("db.enc.yaml");

    let merge = r.git(&["merge", "-q", "--no-edit", "feature"]);
    assert!(merge.status.success(), "{}", String::from_utf8_lossy(&merge.stderr));
    let want =
        "# database\nuser: admin\npassword: correct-horse\nhost: db2.internal\nport: 5432\nreplicas:\n  - r1\n  - r2\n";
    assert_eq!(r.decrypted("db.enc.yaml"), want);
    assert_same_docs(&data(&r.sops_decrypted("db.enc.yaml"), "x.yaml"), &data(want, "x.yaml"), "sops reads the merge");

    // Every ciphertext comes from a parent: the changed values from the side that changed
    // them, the rest as they were in all three.
    let merged = ciphertexts(&r.read("db.enc.yaml"));
    let (b, a, t) = (ciphertexts(&base), ciphertexts(&ours), ciphertexts(&theirs));
    assert_eq!(merged.len(), b.len());
    for (i, c) in merged.iter().enumerate() {
        assert!(c == &a[i] || c == &t[i], "value {i} was re-encrypted");
    }
    assert_eq!(merged[2], t[2], "password: theirs' ciphertext");
    assert_eq!(merged[3], a[3], "host: ours' ciphertext");
    assert_eq!(merged[1], b[1], "user: unchanged");
    r.assert_no_plaintext(&["hunter2", "correct-horse", "db2.internal"]);
}

#[test]
fn keys_added_and_removed_on_both_sides_merge() {
    let r = Repo::new();
    r.add_encrypted("db.enc.yaml", DB);
    r.ok(&["checkout", "-q", "-b", "feature"]);
    r.tresor().args(["unset", "db.enc.yaml", "[\"port\"]"]).ok();
    r.set("db.enc.yaml", "[\"token\"]", "\"tok-theirs\"");
    r.set("db.enc.yaml", "[\"replicas\"][2]", "\"r3\"");
    r.commit("theirs");
    r.ok(&["checkout", "-q", "main"]);
    r.tresor().args(["unset", "db.enc.yaml", "[\"user\"]"]).ok();
    r.set("db.enc.yaml", "[\"api_key\"]", "\"key-ours\"");
    r.commit("ours");
    ok(r.git(&["merge", "-q", "--no-edit", "feature"]));
    let want = serde_json::json!({
        "password": "hunter2", "host": "db.internal", "replicas": ["r1", "r2", "r3"],
        "api_key": "key-ours", "token": "tok-theirs"
    });
    assert_same_docs(&data(&r.decrypted("db.enc.yaml"), "x.yaml"), std::slice::from_ref(&want), "tresor");
    assert_same_docs(&data(&r.sops_decrypted("db.enc.yaml"), "x.yaml"), &[want], "sops");
    assert!(r.decrypted("db.enc.yaml").starts_with("# database\n"));
}

#[test]
fn the_same_value_changed_on_both_sides_conflicts_and_mergetool_resolves_it() {
    let r = Repo::new();
    r.add_encrypted("db.enc.yaml", DB);
    r.ok(&["checkout", "-q", "-b", "feature"]);
    r.set("db.enc.yaml", "[\"password\"]", "\"theirs-secret\"");
    r.commit("theirs");
    r.ok(&["checkout", "-q", "main"]);
    r.set("db.enc.yaml", "[\"password\"]", "\"ours-secret\"");
    r.commit("ours");
    let ours = r.read("db.enc.yaml");

    let merge = r.git(&["merge", "-q", "--no-edit", "feature"]);
    assert!(!merge.status.success());
    let err = String::from_utf8_lossy(&merge.stderr);
    assert!(err.contains("conflict at [\"password\"]: changed on both sides"), "{err}");
    assert!(err.contains("tresor git mergetool db.enc.yaml"), "{err}");
    assert!(!err.contains("secret"), "no value in messages: {err}");
    assert_eq!(r.read("db.enc.yaml"), ours, "the working file is ours, encrypted");
    r.assert_no_plaintext(&["ours-secret", "theirs-secret", "hunter2"]);

    // The mergetool: an editor that keeps a third value in place of the conflict block.
    let shm = r.sb.path("shm");
    std::fs::create_dir_all(&shm).unwrap();
    let editor = r.sb.write(
        "resolve.sh",
        "grep -q '^<<<<<<< ' \"$1\" || exit 3\n\
         awk '/^<<<<<<< /{skip=1; print \"password: resolved-secret\"; next} /^>>>>>>> /{skip=0; next} !skip' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n",
    );
    let out = r
        .tresor()
        .args(["git", "mergetool", "db.enc.yaml"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .env("TRESOR_TMPDIR", &shm)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(&shm).unwrap().count(), 0, "the plaintext copy is removed");
    assert!(r.decrypted("db.enc.yaml").contains("password: resolved-secret\n"));
    assert!(r.sops_decrypted("db.enc.yaml").contains("resolved-secret"));
    assert!(r.ok(&["status", "--porcelain"]).contains("M  db.enc.yaml"), "staged");
    r.ok(&["commit", "-q", "--no-edit"]);
    r.assert_no_plaintext(&["ours-secret", "theirs-secret", "resolved-secret", "hunter2"]);
}

#[test]
fn without_the_key_the_merge_is_git_s_conflict_on_ciphertext() {
    let r = Repo::new();
    r.add_encrypted("db.enc.yaml", DB);
    r.ok(&["checkout", "-q", "-b", "feature"]);
    r.set("db.enc.yaml", "[\"password\"]", "\"pass-one-value\"");
    r.commit("theirs");
    r.ok(&["checkout", "-q", "main"]);
    r.set("db.enc.yaml", "[\"host\"]", "\"host-one-value\"");
    r.commit("ours");
    let merge = git(&r.dir, &["merge", "-q", "--no-edit", "feature"], &[("SOPS_AGE_KEY_FILE", "/dev/null")]);
    assert!(!merge.status.success());
    let err = String::from_utf8_lossy(&merge.stderr);
    assert!(err.contains("cannot merge db.enc.yaml value by value"), "{err}");
    let text = r.read("db.enc.yaml");
    assert!(text.contains("<<<<<<< ours") && text.contains("ENC[AES256_GCM"), "{text}");
    // Needles long enough never to occur by chance in base64 (two-letter ones did).
    r.assert_no_plaintext(&["hunter2", "pass-one-value", "host-one-value"]);
}

#[test]
fn a_side_that_updated_keys_for_the_sops_yaml_gives_its_keys_and_a_new_data_key_conflicts() {
    let r = Repo::new();
    r.add_encrypted("db.enc.yaml", DB);
    let second = r.sb.path("second.txt");
    let second_pub = r.tresor().args(["keygen", "--output"]).arg(&second).ok().trim().to_string();

    // updatekeys on one side (same data key, the recipients .sops.yaml names), a value on
    // the other: merged under the new recipients.
    r.sb.write("repo/.sops.yaml", &format!("creation_rules:\n  - age: {},{second_pub}\n", recipient()));
    r.ok(&["add", ".sops.yaml"]);
    r.commit("rules");
    r.ok(&["checkout", "-q", "-b", "added"]);
    r.tresor().args(["updatekeys", "-y", "db.enc.yaml"]).ok();
    r.commit("updatekeys: a second key");
    r.ok(&["checkout", "-q", "main"]);
    r.set("db.enc.yaml", "[\"port\"]", "6543");
    r.commit("port");
    ok(r.git(&["merge", "-q", "--no-edit", "added"]));
    let with_second = r.tresor().args(["decrypt", "db.enc.yaml"]).env("SOPS_AGE_KEY_FILE", &second).ok();
    assert!(with_second.contains("port: 6543\n"), "the new recipient opens the merged file: {with_second}");
    assert!(r.sops_decrypted("db.enc.yaml").contains("6543"));

    // theirs rotates (a new data key its author knows), ours changes a value: ours' value
    // would be encrypted under a key ours never had. A conflict, named, ours left encrypted.
    r.ok(&["checkout", "-q", "-b", "rotated"]);
    r.tresor().args(["rotate", "-i", "db.enc.yaml"]).ok();
    r.commit("rotate");
    r.ok(&["checkout", "-q", "main"]);
    r.set("db.enc.yaml", "[\"user\"]", "\"root\"");
    r.commit("user");
    let ours = r.read("db.enc.yaml");
    let merge = r.git(&["merge", "-q", "--no-edit", "rotated"]);
    assert_eq!(merge.status.code(), Some(1));
    let err = String::from_utf8_lossy(&merge.stderr);
    assert!(err.contains("theirs encrypts with a new data key"), "{err}");
    assert!(err.contains("tresor git mergetool --keys ours db.enc.yaml"), "{err}");
    assert_eq!(r.read("db.enc.yaml"), ours);
    // A person chooses: ours' keys, theirs' values merged in.
    let editor = r.sb.write("keep.sh", "exit 0\n");
    let out = r
        .tresor()
        .args(["git", "mergetool", "--keys", "ours", "db.enc.yaml"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .env("TRESOR_TMPDIR", r.sb.path("tmp"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(r.decrypted("db.enc.yaml").contains("user: root\n"));
    r.ok(&["commit", "-q", "--no-edit"]);

    // Both sides changing the keys differently is a conflict, not a silent choice.
    r.ok(&["checkout", "-q", "-b", "k1"]);
    r.tresor().args(["rotate", "-i", "db.enc.yaml"]).ok();
    r.commit("k1");
    r.ok(&["checkout", "-q", "main"]);
    r.tresor().args(["rotate", "-i", "db.enc.yaml"]).ok();
    r.commit("k2");
    let both = r.git(&["merge", "-q", "--no-edit", "k1"]);
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("both sides changed the file's keys"));
}

/// The four text stores: a file in each, and the line that adds a `gh_token` to it.
const STORES: [(&str, &str, &str); 4] = [
    ("s.enc.yaml", "user: admin\n", "gh_token: OURS-TOKEN"),
    ("s.enc.json", "{\n  \"user\": \"admin\"\n}\n", ""),
    ("s.enc.env", "USER=admin\n", "GH_TOKEN=OURS-TOKEN"),
    ("s.enc.ini", "[app]\nuser = admin\n", "gh_token = OURS-TOKEN"),
];

impl Repo {
    /// A key holder adds `gh_token` (in $EDITOR, or with `set` for JSON).
    fn add_token(&self, file: &str, line: &str) {
        if line.is_empty() {
            return self.set(file, "[\"gh_token\"]", "\"OURS-TOKEN\"");
        }
        let editor = self.sb.write("append.sh", &format!("printf '%s\\n' '{line}' >> \"$1\"\n"));
        self.tresor().args(["edit", file]).env("EDITOR", format!("sh {}", editor.display())).ok();
    }
}

#[test]
fn a_keyless_branch_cannot_make_the_merge_write_a_value_in_clear_in_any_store() {
    for (file, plain, line) in STORES {
        let r = Repo::new();
        r.add_encrypted(file, plain);
        // theirs: only the rule (metadata the MAC does not cover; no key needed).
        r.ok(&["checkout", "-q", "-b", "theirs"]);
        let text = r.read(file);
        assert!(text.contains("_unencrypted"), "{file}: {text}");
        let suffix = if file.ends_with(".env") { "_TOKEN" } else { "_token" };
        // The value only (dotenv's key is `sops_unencrypted_suffix` itself).
        let changed = [("=", ""), (": ", ""), ("= ", ""), (": ", "\"")].iter().fold(text.clone(), |t, (sep, q)| {
            t.replace(&format!("{sep}{q}_unencrypted"), &format!("{sep}{q}{suffix}"))
        });
        assert_ne!(changed, text);
        std::fs::write(r.path(file), changed).unwrap();
        r.commit("rule only");
        r.ok(&["checkout", "-q", "main"]);
        r.add_token(file, line);
        r.commit("ours: token");
        let ours = r.read(file);
        let merge = r.git(&["merge", "-q", "--no-edit", "theirs"]);
        assert_eq!(merge.status.code(), Some(1), "{file}: {}", String::from_utf8_lossy(&merge.stderr));
        let err = String::from_utf8_lossy(&merge.stderr);
        assert!(err.contains("theirs changed which values are encrypted"), "{file}: {err}");
        assert!(err.contains(&format!("unencrypted_suffix: _unencrypted → unencrypted_suffix: {suffix}")), "{err}");
        assert_eq!(r.read(file), ours, "{file}: left as ours, encrypted");
        r.ok(&["merge", "--abort"]);
        r.assert_no_plaintext(&["OURS-TOKEN"]);
    }
}

#[test]
fn a_keyless_branch_cannot_hand_our_new_values_to_another_key_in_any_store() {
    let attacker = Sandbox::new();
    let attacker_key = attacker.path("attacker.txt");
    let attacker_pub = attacker.tresor().args(["keygen", "--output"]).arg(&attacker_key).ok().trim().to_string();
    for (file, plain, line) in STORES {
        let r = Repo::new();
        r.sb.write("repo/.sops.yaml", &format!("creation_rules:\n  - age: {}\n", recipient()));
        r.add_encrypted(file, plain);
        // theirs: written without any key: the file re-created for the team and the attacker.
        r.ok(&["checkout", "-q", "-b", "theirs"]);
        std::fs::write(r.path(file), plain.replace("admin", "mallory")).unwrap();
        let both = format!("{},{attacker_pub}", recipient());
        r.tresor().args(["encrypt", "-i", "--age", &both, file]).env("SOPS_AGE_KEY_FILE", &attacker_key).ok();
        r.commit("re-created");
        r.ok(&["checkout", "-q", "main"]);
        r.add_token(file, line);
        r.commit("ours: token");
        let ours = r.read(file);
        let merge = r.git(&["merge", "-q", "--no-edit", "theirs"]);
        assert_eq!(merge.status.code(), Some(1), "{file}");
        let err = String::from_utf8_lossy(&merge.stderr);
        assert!(err.contains("theirs encrypts with a new data key"), "{file}: {err}");
        let short = &attacker_pub[..20];
        assert!(err.contains("theirs changed who can read the file (added age ") && err.contains(short), "{err}");
        assert_eq!(r.read(file), ours);
        let peek = r.tresor().args(["decrypt", file]).env("SOPS_AGE_KEY_FILE", &attacker_key).output().unwrap();
        assert!(!peek.status.success(), "{file}: the attacker's key opens nothing");
        r.ok(&["merge", "--abort"]);

        // The same re-created file for the team alone: its author still knows the data key.
        r.ok(&["checkout", "-q", "-b", "team-only"]);
        std::fs::write(r.path(file), plain).unwrap();
        r.tresor().args(["encrypt", "-i", "--age", &recipient(), file]).ok();
        r.commit("re-created for the team");
        r.ok(&["checkout", "-q", "main"]);
        let edit = r.sb.write("root.sh", "sed -i 's/admin/root/' \"$1\"\n");
        r.tresor().args(["edit", file]).env("EDITOR", format!("sh {}", edit.display())).ok();
        r.commit("ours: user");
        let merge = r.git(&["merge", "-q", "--no-edit", "team-only"]);
        assert_eq!(merge.status.code(), Some(1), "{file}");
        assert!(String::from_utf8_lossy(&merge.stderr).contains("theirs encrypts with a new data key"));
        r.ok(&["merge", "--abort"]);
        r.assert_no_plaintext(&["OURS-TOKEN"]);
    }
}

#[test]
fn rebase_and_cherry_pick_use_the_driver_and_json_and_multi_document_files_merge() {
    let r = Repo::new();
    r.add_encrypted("app.enc.json", "{\n  \"a\": \"1\",\n  \"b\": \"2\",\n  \"c\": \"3\"\n}\n");
    r.add_encrypted("multi.enc.yaml", "a: 1\nb: 2\n---\nc: 3\nd: 4\n");
    r.ok(&["checkout", "-q", "-b", "feature"]);
    r.set("app.enc.json", "[\"b\"]", "\"20\"");
    r.set("multi.enc.yaml", "[\"b\"]", "20");
    r.commit("feature");
    r.ok(&["checkout", "-q", "main"]);
    r.set("app.enc.json", "[\"c\"]", "\"30\"");
    r.set("app.enc.json", "[\"a\"]", "\"10\"");
    r.commit("main");
    // cherry-pick the feature commit onto main.
    ok(r.git(&["cherry-pick", "feature"]));
    assert_eq!(r.decrypted("app.enc.json"), "{\n  \"a\": \"10\",\n  \"b\": \"20\",\n  \"c\": \"30\"\n}\n");
    // rebase the feature branch onto main (already has it: nothing left), then a new one.
    r.ok(&["checkout", "-q", "-b", "second", "HEAD~1"]);
    r.set("app.enc.json", "[\"a\"]", "\"11\"");
    r.commit("second");
    let rebase = r.git(&["rebase", "-q", "feature"]);
    assert!(rebase.status.success(), "{}", String::from_utf8_lossy(&rebase.stderr));
    assert_eq!(r.decrypted("app.enc.json"), "{\n  \"a\": \"11\",\n  \"b\": \"20\",\n  \"c\": \"30\"\n}\n");
    assert!(r.sops_decrypted("app.enc.json").contains("\"a\": \"11\""));
    // Multi-document YAML: documents merge one by one.
    r.ok(&["checkout", "-q", "main"]);
    r.ok(&["checkout", "-q", "-b", "docs"]);
    r.set("multi.enc.yaml", "[\"a\"]", "10");
    r.commit("docs");
    r.ok(&["checkout", "-q", "main"]);
    // The second document, changed through the editor (set addresses the first only).
    r.tresor().args(["edit", "multi.enc.yaml"]).env("EDITOR", "sed -i 's/^c: 3$/c: 30/'").ok();
    r.commit("second document");
    assert_eq!(r.decrypted("multi.enc.yaml"), "a: 1\nb: 20\n---\nc: 30\nd: 4\n");
    ok(r.git(&["merge", "-q", "--no-edit", "docs"]));
    assert_eq!(r.decrypted("multi.enc.yaml"), "a: 10\nb: 20\n---\nc: 30\nd: 4\n");
    assert_same_docs(
        &data(&r.sops_decrypted("multi.enc.yaml"), "x.yaml"),
        &data("a: 10\nb: 20\n---\nc: 30\nd: 4\n", "x.yaml"),
        "sops reads the merged multi-document file",
    );
}

#[test]
fn tresor_diff_compares_files_and_revisions() {
    let r = Repo::new();
    r.add_encrypted("db.enc.yaml", DB);
    r.set("db.enc.yaml", "[\"password\"]", "\"hunter3\"");
    let out = r.tresor().args(["diff", "HEAD:db.enc.yaml", "db.enc.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("--- a/db.enc.yaml\n+++ b/db.enc.yaml\n"), "{text}");
    assert!(text.contains("\n-password: hunter2\n+password: hunter3\n"), "{text}");
    assert!(!text.contains("ENC["), "{text}");
    let same = r.tresor().args(["diff", "db.enc.yaml", "db.enc.yaml"]).output().unwrap();
    assert_eq!((same.status.code(), same.stdout.len()), (Some(0), 0));
    let keyless = r
        .tresor()
        .args(["diff", "HEAD:db.enc.yaml", "db.enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", "/dev/null")
        .output()
        .unwrap();
    let text = String::from_utf8(keyless.stdout).unwrap();
    assert!(text.contains("-password: ENC[sha256:") && !text.contains("hunter"), "{text}");
    let missing = r.tresor().args(["diff", "nope.yaml", "db.enc.yaml"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.yaml: no such file"));
}

#[test]
fn dotenv_and_ini_files_merge_value_by_value_too() {
    let r = Repo::new();
    r.add_encrypted("app.enc.env", "# app\nUSER=admin\nHOST=db\nPORT=5432\nTOKEN=t0\n");
    r.add_encrypted("app.enc.ini", "[db]\nuser = admin\nhost = db\n\n[cache]\nurl = redis://c\n");
    let edit = |file: &str, from: &str, to: &str| {
        r.tresor().args(["edit", file]).env("EDITOR", format!("sed -i 's|{from}|{to}|'")).ok();
    };
    r.ok(&["checkout", "-q", "-b", "feature"]);
    edit("app.enc.env", "^TOKEN=t0$", "TOKEN=t1");
    edit("app.enc.ini", "^url = redis://c$", "url = redis://c2");
    r.commit("theirs");
    r.ok(&["checkout", "-q", "main"]);
    edit("app.enc.env", "^USER=admin$", "USER=root");
    edit("app.enc.ini", "^user = admin$", "user = root");
    r.commit("ours");
    let merge = r.git(&["merge", "-q", "--no-edit", "feature"]);
    assert!(merge.status.success(), "{}", String::from_utf8_lossy(&merge.stderr));
    assert_eq!(r.decrypted("app.enc.env"), "# app\nUSER=root\nHOST=db\nPORT=5432\nTOKEN=t1\n");
    assert_eq!(r.decrypted("app.enc.ini"), "[db]\nuser = root\nhost = db\n\n[cache]\nurl = redis://c2\n");
    assert!(r.sops_decrypted("app.enc.env").contains("TOKEN=t1"));
    // The same value on both sides: a conflict, the file left as ours and encrypted.
    r.ok(&["checkout", "-q", "-b", "again"]);
    edit("app.enc.env", "^PORT=5432$", "PORT=1");
    r.commit("theirs port");
    r.ok(&["checkout", "-q", "main"]);
    edit("app.enc.env", "^PORT=5432$", "PORT=2");
    r.commit("ours port");
    let ours = r.read("app.enc.env");
    let merge = r.git(&["merge", "-q", "--no-edit", "again"]);
    assert!(!merge.status.success());
    assert!(String::from_utf8_lossy(&merge.stderr).contains("conflict at [\"PORT\"]: changed on both sides"));
    assert_eq!(r.read("app.enc.env"), ours);
    r.assert_no_plaintext(&["t0ken-never", "PORT=1", "PORT=2", "redis://c2"]);
}

#[test]
fn a_binary_file_that_is_not_text_conflicts_naming_the_store() {
    let r = Repo::new();
    let bytes: Vec<u8> = (0..=255u8).collect();
    std::fs::write(r.path("ks.p12"), &bytes).unwrap();
    r.tresor().args(["encrypt", "-i", "--age", &recipient(), "ks.p12"]).ok();
    r.tresor().args(["git", "setup", "--pattern", "*.p12"]).ok();
    r.ok(&["add", "-A"]);
    r.ok(&["commit", "-q", "-m", "add"]);
    let reencrypt = |b: u8| {
        let mut v = bytes.clone();
        v[0] = b;
        std::fs::write(r.path("ks.p12"), &v).unwrap();
        r.tresor().args(["encrypt", "-i", "--age", &recipient(), "ks.p12"]).ok();
    };
    r.ok(&["checkout", "-q", "-b", "other"]);
    reencrypt(1);
    r.commit("theirs");
    r.ok(&["checkout", "-q", "main"]);
    reencrypt(2);
    r.commit("ours");
    let ours = r.read("ks.p12");
    let merge = r.git(&["merge", "-q", "--no-edit", "other"]);
    assert!(!merge.status.success());
    let err = String::from_utf8_lossy(&merge.stderr);
    assert!(err.contains("bytes that are not text (binary file)"), "{err}");
    assert_eq!(r.read("ks.p12"), ours, "left as ours, encrypted");
}
