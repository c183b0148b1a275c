//! The hooks with the real pre-commit framework (PyPI `pre-commit`, via `try-repo` against
//! this repository's `.pre-commit-hooks.yaml`: `language: rust`, so pre-commit itself
//! builds and installs tresor, no set-up step) and a real `git commit` through the plain
//! hook `tresor hook install` writes.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOKEN: &str = "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";

/// A PATH with the directory of the tresor under test first (the hooks run `tresor`).
fn path_with_tresor() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tresor"));
    format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default())
}

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.eu", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap()
}

/// A repository with a leaked token, a plaintext file .sops.yaml says must be encrypted,
/// and an ordinary file; everything staged.
fn repo(sb: &Sandbox) -> PathBuf {
    let dir = sb.path("repo");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(git(&dir, &["init", "-q"]).status.success());
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {}\n", recipient()),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/db.yaml"), "password: hunter2\n").unwrap();
    std::fs::write(dir.join("app.ini"), format!("token = \"{TOKEN}\"\n")).unwrap();
    std::fs::write(dir.join("values.yaml"), "replicas: 2\n").unwrap();
    assert!(git(&dir, &["add", "-A"]).status.success());
    dir
}

fn try_repo(sb: &Sandbox, dir: &Path, hook: &str, all_files: bool) -> (bool, String) {
    try_repo_with(sb, dir, hook, all_files, &[])
}

fn try_repo_with(_sb: &Sandbox, dir: &Path, hook: &str, all_files: bool, extra: &[&str]) -> (bool, String) {
    let pre_commit = which("pre-commit").expect("pre-commit is not installed: run scripts/install-peers.sh");
    let mut c = Command::new(pre_commit);
    c.arg("try-repo").arg(root()).arg(hook).current_dir(dir);
    if all_files {
        c.arg("--all-files");
    }
    c.args(extra);
    // The hooks are `language: rust`: pre-commit builds and installs this repository's
    // binaries (`cargo install --path`) into its own environment. One environment for all
    // tests (pre-commit locks its store), built into a target directory of its own, in the
    // release profile without optimisation: a test checks behaviour, not speed.
    let target = root().join("target");
    c.env("PRE_COMMIT_HOME", target.join("pre-commit-home"))
        .env("CARGO_TARGET_DIR", target.join("pre-commit-build"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    let out = c.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn files_mode_hooks_really_scan_with_all_files_and_report_each_problem_once() {
    let sb = Sandbox::new();
    let dir = repo(&sb);
    let (ok, out) = try_repo(&sb, &dir, "tresor-scan-files", true);
    assert!(!ok, "{out}");
    assert_eq!(out.matches("app.ini:1:10  github-token").count(), 1, "{out}");
    assert!(!out.contains("must-be-encrypted"), "the scan hook leaves the guard to the guard hook:\n{out}");
    let (ok, out) = try_repo(&sb, &dir, "tresor-guard-encrypted-files", true);
    assert!(!ok, "{out}");
    assert_eq!(out.matches("secrets/db.yaml:1:1  must-be-encrypted").count(), 1, "{out}");
    assert!(!out.contains("github-token"), "{out}");
    // The staged hooks split the work the same way.
    let (ok, out) = try_repo(&sb, &dir, "tresor-scan", false);
    assert!(
        !ok && out.matches("app.ini:1:10  github-token").count() == 1 && !out.contains("must-be-encrypted"),
        "{out}"
    );
    let (ok, out) = try_repo(&sb, &dir, "tresor-guard-encrypted", false);
    assert!(
        !ok && out.matches("secrets/db.yaml:1:1  must-be-encrypted").count() == 1 && !out.contains("github-token"),
        "{out}"
    );
}

#[test]
fn the_audit_hook_passes_a_repository_without_encrypted_files() {
    let sb = Sandbox::new();
    let dir = repo(&sb);
    let (ok, out) = try_repo_with(&sb, &dir, "tresor-audit", true, &["--verbose"]);
    assert!(ok, "{out}");
    assert!(out.contains("nothing to audit"), "{out}");
    // Once a file is encrypted, the hook audits it (and the default policy passes an age key).
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(dir.join("secrets/db.yaml")).ok();
    std::fs::write(dir.join("secrets/db.yaml"), enc).unwrap();
    assert!(git(&dir, &["add", "-A"]).status.success());
    let (ok, out) = try_repo_with(&sb, &dir, "tresor-audit", true, &["--verbose"]);
    assert!(ok && !out.contains("nothing to audit") && out.contains("secrets/db.yaml"), "{out}");
}

#[test]
fn the_plain_hook_blocks_leaks_and_fails_closed_without_tresor() {
    let sb = Sandbox::new();
    let dir = repo(&sb);
    let install = sb.tresor().args(["hook", "install"]).current_dir(&dir).output().unwrap();
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let commit = |path: &str| {
        Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.eu", "-c", "commit.gpgsign=false"])
            .args(["commit", "-q", "-m", "x"])
            .env("PATH", path)
            .output()
            .unwrap()
    };
    // With tresor: the leak and the plaintext file block the commit.
    let out = commit(&path_with_tresor());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("github-token") && err.contains("must-be-encrypted"), "{err}");
    // Without tresor on PATH: refused with a message, not let through.
    let git_dir = which("git").unwrap().parent().unwrap().to_path_buf();
    let sh_dir = which("sh").unwrap().parent().unwrap().to_path_buf();
    let bare = format!("{}:{}", git_dir.display(), sh_dir.display());
    let out = commit(&bare);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the commit went through without a scan");
    assert!(err.contains("tresor is not installed"), "{err}");
    assert!(git(&dir, &["rev-parse", "--verify", "-q", "HEAD"]).stdout.is_empty(), "nothing was committed");
    // Clean changes commit.
    assert!(git(&dir, &["rm", "-q", "--cached", "app.ini", "secrets/db.yaml"]).status.success());
    let out = commit(&path_with_tresor());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The `-system` hooks run the `tresor` on PATH (no build): the same findings; without a
/// tresor on PATH they fail, naming it, instead of passing.
#[test]
fn system_hooks_use_the_tresor_on_path_without_building() {
    let sb = Sandbox::new();
    let dir = repo(&sb);
    let pre_commit = which("pre-commit").expect("pre-commit is not installed: run scripts/install-peers.sh");
    let run = |path: String| {
        let out = Command::new(&pre_commit)
            .args(["try-repo"])
            .arg(root())
            .args(["tresor-scan-files-system", "--all-files"])
            .current_dir(&dir)
            .env("PATH", path)
            .env("PRE_COMMIT_HOME", sb.path("pre-commit-home"))
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, text) = run(path_with_tresor());
    assert!(!ok, "{text}");
    assert_eq!(text.matches("app.ini:1:10  github-token").count(), 1, "{text}");
    // The same PATH without any directory that holds a tresor.
    let without: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !std::path::Path::new(d).join("tresor").exists())
        .map(str::to_string)
        .collect();
    let (ok, text) = run(without.join(":"));
    assert!(!ok && text.contains("tresor"), "{text}");
}
