//! Every shell block in README.md and docs/*.md either runs here, as written, or says on the
//! line before it where it is run instead or why it cannot run in CI:
//!
//! * `<!-- ci: tested by tests/FILE.rs FUNCTION -->` — that test runs it (the function must
//!   exist in that file, so a renamed test cannot leave the block unrun);
//! * `<!-- ci: run by scripts/test.sh -->` — README's install block, a release build, which
//!   `scripts/readme-install.sh` runs as written after the suite;
//! * `<!-- ci: not run: REASON -->` — e.g. it needs a Kubernetes cluster;
//! * no marker — this test runs it with `bash -e` in a fresh sandbox: a Git repository with
//!   an `origin` remote, a `feature` branch, a sibling `../other-repo`, a Kubernetes Secret
//!   (`secret.yaml`), an encrypted `clusters/prod/db-secret.yaml`, the test age key as the
//!   default identity, and this build's `tresor` first on PATH.

use crate::common::*;
use std::path::Path;
use std::process::Command;

struct Block {
    file: String,
    line: usize,
    marker: Option<String>,
    body: String,
}

fn blocks() -> Vec<Block> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let fence = lines[i].trim_end();
            if matches!(fence, "```sh" | "```bash" | "```shell" | "```console") {
                let start = i;
                let mut body = String::new();
                i += 1;
                while i < lines.len() && lines[i].trim_end() != "```" {
                    body.push_str(lines[i]);
                    body.push('\n');
                    i += 1;
                }
                let marker = start
                    .checked_sub(1)
                    .map(|p| lines[p].trim())
                    .filter(|l| l.starts_with("<!-- ci:"))
                    .map(|l| l.trim_start_matches("<!-- ci:").trim_end_matches("-->").trim().to_string());
                let file = f.strip_prefix(root()).unwrap().display().to_string();
                out.push(Block { file, line: start + 1, marker, body });
            }
            i += 1;
        }
    }
    out
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The world the documentation assumes.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    let home = sb.path("home");
    let keys = home.join(".config/sops/age");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(key_file(), keys.join("keys.txt")).unwrap();
    let work = sb.path("home/work");
    std::fs::create_dir_all(work.join("clusters/prod")).unwrap();
    std::fs::write(
        work.join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
    )
    .unwrap();
    let db = work.join("clusters/prod/db-secret.yaml");
    std::fs::write(&db, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: pw\n").unwrap();
    sb.tresor()
        .args(["encrypt", "-i", "--encrypted-regex", "^(data|stringData)$", "--age", &recipient()])
        .arg(&db)
        .ok();
    for (dir, name) in [(&work, "work"), (&sb.path("home/other-repo"), "other")] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("README"), format!("{name}\n")).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A"]);
        git(dir, &["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "start"]);
    }
    git(&sb.path("home"), &["clone", "-q", "--bare", "work", "origin.git"]);
    git(&work, &["remote", "add", "origin", "../origin.git"]);
    git(&work, &["fetch", "-q", "origin"]);
    git(&work, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(work.join("notes.txt"), "from feature\n").unwrap();
    git(&work, &["-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A"]);
    git(&work, &["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "feature"]);
    git(&work, &["checkout", "-q", "main"]);
    sb
}

#[test]
fn every_documented_shell_block_runs_or_says_where_and_why_not() {
    let blocks = blocks();
    assert!(blocks.len() >= 20, "found only {} blocks", blocks.len());
    let bin = Path::new(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    let mut failures = Vec::new();
    let mut ran = 0;
    for b in &blocks {
        let at = format!("{}:{}", b.file, b.line);
        match b.marker.as_deref() {
            Some(m) if m.starts_with("tested by ") => {
                let mut parts = m["tested by ".len()..].split_whitespace();
                let (Some(file), Some(func)) = (parts.next(), parts.next()) else {
                    failures.push(format!("{at}: marker '{m}' wants 'tested by tests/FILE.rs FUNCTION'"));
                    continue;
                };
                let src = std::fs::read_to_string(root().join(file)).unwrap_or_default();
                if !src.contains(&format!("fn {func}(")) {
                    failures.push(format!("{at}: {file} has no test `{func}`"));
                }
            }
            Some("run by scripts/test.sh") => {
                let script = std::fs::read_to_string(root().join("scripts/readme-install.sh")).unwrap_or_default();
                let test_sh = std::fs::read_to_string(root().join("scripts/test.sh")).unwrap_or_default();
                if b.file != "README.md"
                    || !script.contains("ci: run by scripts")
                    || !test_sh.contains("readme-install.sh")
                {
                    failures.push(format!("{at}: scripts/test.sh runs only README.md's marked install block"));
                }
            }
            Some(m) if m.starts_with("not run:") && m.len() > "not run:".len() + 8 => {}
            Some(m) => failures.push(format!("{at}: unknown marker '{m}'")),
            None => {
                ran += 1;
                let sb = sandbox();
                let out = with_git_identity(
                    Command::new("bash")
                        .args(["-e", "-c", &b.body])
                        .current_dir(sb.path("home/work"))
                        .env("HOME", sb.path("home"))
                        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
                        .env_remove("SOPS_AGE_KEY_FILE")
                        .env_remove("SOPS_AGE_KEY"),
                )
                .output()
                .unwrap();
                if !out.status.success() {
                    failures.push(format!(
                        "{at} exits {:?}:\n{}\n{}{}",
                        out.status.code(),
                        b.body,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
    }
    assert!(ran >= 4, "only {ran} blocks ran");
    assert!(failures.is_empty(), "{} blocks:\n{}", failures.len(), failures.join("\n---\n"));
}
