//! Re-key campaigns: `updatekeys --repos FILE --branch NAME` (or `rotate --repos …`) runs
//! the command over every encrypted file of each listed work tree and commits the result on
//! a new branch, for multi-gitter or git-xargs to push and open pull requests. A repository with local
//! changes, an existing branch of that name or a failing file is reported and left as it
//! was; one that needs nothing gets no branch.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Serialize;
use tresor_scan::fleet::{self, Shard};
use tresor_sops::codes;

use super::{KeyChange, Outcome};
use crate::exit::fail;
use crate::fileio::Sink;

/// One repository's result, for the machine-readable summary.
#[derive(Serialize)]
struct RepoResult {
    repository: String,
    /// `changed` (a commit on the branch), `unchanged`, or `failed`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    files: Vec<FileChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct FileChange {
    path: String,
    added: Vec<String>,
    removed: Vec<String>,
}

fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("git {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!("git {}: {}", args.join(" "), why.lines().last().unwrap_or("failed")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A key as a commit message shows it (post-quantum recipients are ~2,000 characters).
fn short(k: &str) -> String {
    if k.chars().count() > 60 {
        format!("{}…", k.chars().take(48).collect::<String>())
    } else {
        k.to_string()
    }
}

/// What a campaign runs in each work tree: its files in, the outcome and the key changes out.
pub(crate) type Apply<'a> = &'a dyn Fn(&[PathBuf]) -> Result<(Outcome, Vec<KeyChange>)>;

/// A campaign's flags.
pub(crate) struct Options<'a> {
    pub list: &'a Path,
    pub branch: Option<&'a str>,
    pub shard: Option<&'a str>,
    pub summary: Option<&'a Path>,
}

fn message(verb: &str, what: &str, changes: &[FileChange]) -> String {
    let mut m = format!("tresor {verb}: {} file(s)\n\n{what}.\n", changes.len());
    for c in changes {
        m.push_str(&format!("\n{}\n", c.path));
        for k in &c.added {
            m.push_str(&format!("  + {}\n", short(k)));
        }
        for k in &c.removed {
            m.push_str(&format!("  - {}\n", short(k)));
        }
    }
    m
}

/// Update one work tree on a new branch; errors leave it on its branch, unchanged.
fn one(apply: Apply, verb: &str, what: &str, repo: &Path, shown: &str, branch: &str) -> RepoResult {
    let mut r = RepoResult {
        repository: shown.to_string(),
        status: "failed",
        branch: None,
        commit: None,
        files: Vec::new(),
        error: None,
    };
    let result = (|| -> Result<(), String> {
        let top = git(repo, &["rev-parse", "--show-toplevel"])?;
        let top = PathBuf::from(top);
        if !git(&top, &["status", "--porcelain"])?.is_empty() {
            return Err("the work tree has uncommitted changes: commit or stash them first".into());
        }
        if git(&top, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]).is_ok() {
            return Err(format!("a branch named {branch} exists already"));
        }
        let original = git(&top, &["rev-parse", "--abbrev-ref", "HEAD"])?;
        let files = tresor_keys::rekey::find_encrypted(&top).map_err(|e| e.to_string())?;
        git(&top, &["switch", "--quiet", "-c", branch])?;
        let back = |top: &Path| {
            let _ = git(top, &["switch", "--quiet", &original]);
        };
        let (outcome, changes) = match apply(&files) {
            Ok(x) => x,
            Err(e) => {
                let _ = git(&top, &["checkout", "--quiet", "--", "."]);
                back(&top);
                let _ = git(&top, &["branch", "--quiet", "-D", branch]);
                return Err(format!("{e:#}"));
            }
        };
        let rel = |p: &Path| p.strip_prefix(&top).unwrap_or(p).to_string_lossy().into_owned();
        r.files = changes
            .iter()
            .map(|c: &KeyChange| FileChange { path: rel(&c.path), added: c.added.clone(), removed: c.removed.clone() })
            .collect();
        if outcome.report(verb) != 0 {
            let _ = git(&top, &["checkout", "--quiet", "--", "."]);
            back(&top);
            let _ = git(&top, &["branch", "--quiet", "-D", branch]);
            r.files.clear();
            return Err("some files could not be updated (listed above); nothing was committed".into());
        }
        if r.files.is_empty() {
            back(&top);
            let _ = git(&top, &["branch", "--quiet", "-D", branch]);
            r.status = "unchanged";
            return Ok(());
        }
        let mut add = vec!["add", "--"];
        let paths: Vec<String> = r.files.iter().map(|f| f.path.clone()).collect();
        add.extend(paths.iter().map(String::as_str));
        git(&top, &add)?;
        git(&top, &["commit", "--quiet", "-m", &message(verb, what, &r.files)])?;
        r.commit = Some(git(&top, &["rev-parse", "HEAD"])?);
        r.branch = Some(branch.to_string());
        r.status = "changed";
        back(&top);
        Ok(())
    })();
    if let Err(e) = result {
        r.error = Some(e);
        r.status = "failed";
    }
    r
}

/// `updatekeys --repos FILE --branch NAME [--shard I/N] [--summary FILE]`, and the same
/// for `rotate`: `what` says in the commit message what the command did.
pub(crate) fn run(o: &Options, verb: &str, what: &str, apply: Apply) -> Result<i32> {
    let list = o.list;
    let branch = o
        .branch
        .ok_or_else(|| fail(codes::ERROR_CONFLICTING_PARAMETERS, "--repos needs --branch NAME for the commits"))?;
    let text = std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let shard = Shard::chosen(o.shard).map_err(|e| fail(codes::ERROR_CONFLICTING_PARAMETERS, e.to_string()))?;
    let base = list.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_default();
    let mut results = Vec::new();
    for repo in fleet::read_list(&text).iter().filter(|r| shard.is_none_or(|s| s.owns(&fleet::identity(r)))) {
        if fleet::is_url(repo) {
            results.push(RepoResult {
                repository: repo.clone(),
                status: "failed",
                branch: None,
                commit: None,
                files: Vec::new(),
                error: Some("a URL: re-key campaigns need a work tree (clone it, or let multi-gitter/git-xargs run `tresor updatekeys -y -r .` in theirs)".into()),
            });
            continue;
        }
        eprintln!("tresor: {}", crate::exit::clean(repo));
        results.push(one(apply, verb, what, &base.join(repo), repo, branch));
    }
    let failed = results.iter().filter(|r| r.status == "failed").count();
    for r in results.iter().filter(|r| r.status == "failed") {
        eprintln!("tresor: error: {}: {}", crate::exit::clean(&r.repository), r.error.as_deref().unwrap_or(""));
    }
    eprintln!(
        "tresor: {} repositor(ies) changed on branch {branch}, {} unchanged, {failed} failed",
        results.iter().filter(|r| r.status == "changed").count(),
        results.iter().filter(|r| r.status == "unchanged").count()
    );
    let json = serde_json::to_string_pretty(&results).expect("serializable") + "\n";
    match o.summary {
        Some(p) => Sink::File(p.to_path_buf()).write(&json, 0o644)?,
        None => Sink::Stdout.write(&json, 0o644)?,
    }
    Ok(if failed > 0 { codes::ERROR_GENERIC } else { 0 })
}
