//! Re-key campaigns: `updatekeys --repos FILE --branch NAME` (or `rotate --repos …`) runs
//! the command over every encrypted file of each listed repository (a work tree or a bare
//! mirror) and commits the result on a new branch, for multi-gitter or git-xargs to push and
//! open pull requests. A repository with local changes, a foreign branch of that name or a
//! failing file is reported and left as it was; one that needs nothing gets no branch; a
//! retried run takes up what an earlier one left.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
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
    /// The commit was made by an earlier run of this campaign (a retried shard); `files`
    /// then lists paths only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    resumed: bool,
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

/// The linked work trees an earlier run of a campaign for `branch` left: our prefix in the
/// path, the branch checked out (`git worktree list --porcelain` records, blank-line separated).
fn stale_worktrees(porcelain: &str, branch: &str) -> Vec<String> {
    let want = format!("branch refs/heads/{branch}");
    porcelain
        .split("\n\n")
        .filter(|rec| rec.lines().any(|l| l == want))
        .filter_map(|rec| rec.lines().find_map(|l| l.strip_prefix("worktree ")))
        .filter(|path| path.contains("/tresor-campaign-"))
        .map(str::to_string)
        .collect()
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

/// Update one repository on a new branch. The work happens in a temporary linked work tree
/// (`git worktree add`), never in the user's: whatever happens — a failing file, a kill —
/// their checkout stays as it was, and a bare mirror can be re-keyed too. A branch of that
/// name left by an earlier run of the same campaign is taken up again: one that never got
/// its commit (the run died first) is made again; one holding this campaign's commit on top
/// of HEAD is reported as done (`resumed`), so a retried shard succeeds. Any other branch
/// of that name is not ours: refused.
fn one(apply: Apply, verb: &str, what: &str, repo: &Path, shown: &str, branch: &str) -> RepoResult {
    let mut r = RepoResult {
        repository: shown.to_string(),
        status: "failed",
        branch: None,
        commit: None,
        resumed: false,
        files: Vec::new(),
        error: None,
    };
    let result = (|| -> Result<(), String> {
        let bare = git(repo, &["rev-parse", "--is-bare-repository"])? == "true";
        let top =
            PathBuf::from(git(repo, &["rev-parse", if bare { "--absolute-git-dir" } else { "--show-toplevel" }])?);
        if !bare && !git(&top, &["status", "--porcelain"])?.is_empty() {
            return Err("the work tree has uncommitted changes: commit or stash them first".into());
        }
        let head = git(&top, &["rev-parse", "HEAD"])?;
        // A killed run may have left its linked work tree (in the temporary directory, with
        // the branch checked out there) or only its registration: remove both.
        git(&top, &["worktree", "prune"])?;
        for left in stale_worktrees(&git(&top, &["worktree", "list", "--porcelain"])?, branch) {
            git(&top, &["worktree", "remove", "--force", &left])?;
        }
        if let Ok(tip) = git(&top, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]) {
            let ours = git(&top, &["log", "-1", "--format=%s", &tip])?.starts_with(&format!("tresor {verb}:"));
            if tip == head {
                git(&top, &["branch", "--quiet", "-D", branch])?;
            } else if ours && git(&top, &["rev-parse", &format!("{tip}^")]).as_deref() == Ok(head.as_str()) {
                let names = git(&top, &["diff", "--name-only", &head, &tip])?;
                r.files = names
                    .lines()
                    .map(|p| FileChange { path: p.to_string(), added: Vec::new(), removed: Vec::new() })
                    .collect();
                r.commit = Some(tip);
                r.branch = Some(branch.to_string());
                r.resumed = true;
                r.status = "changed";
                return Ok(());
            } else {
                return Err(format!("a branch named {branch} exists already"));
            }
        }
        let tmp = tempfile::Builder::new().prefix("tresor-campaign-").tempdir().map_err(|e| e.to_string())?;
        let wt = tmp.path().join("work");
        let wt_arg = wt.to_string_lossy().into_owned();
        git(&top, &["worktree", "add", "--quiet", "-b", branch, &wt_arg, &head])?;
        // Leave no linked work tree behind; drop the branch unless it got its commit.
        let finish = |keep_branch: bool| {
            let _ = git(&top, &["worktree", "remove", "--force", &wt_arg]);
            if !keep_branch {
                let _ = git(&top, &["branch", "--quiet", "-D", branch]);
            }
        };
        let files = match tresor_keys::rekey::find_encrypted(&wt) {
            Ok(f) => f,
            Err(e) => {
                finish(false);
                return Err(e.to_string());
            }
        };
        let (outcome, changes) = match apply(&files) {
            Ok(x) => x,
            Err(e) => {
                finish(false);
                return Err(format!("{e:#}"));
            }
        };
        let rel = |p: &Path| p.strip_prefix(&wt).unwrap_or(p).to_string_lossy().into_owned();
        r.files = changes
            .iter()
            .map(|c: &KeyChange| FileChange { path: rel(&c.path), added: c.added.clone(), removed: c.removed.clone() })
            .collect();
        if outcome.report_under(verb, Some((&wt, shown))) != 0 {
            finish(false);
            r.files.clear();
            return Err("some files could not be updated (listed above); nothing was committed".into());
        }
        if r.files.is_empty() {
            finish(false);
            r.status = "unchanged";
            return Ok(());
        }
        let mut add = vec!["add", "--"];
        let paths: Vec<String> = r.files.iter().map(|f| f.path.clone()).collect();
        add.extend(paths.iter().map(String::as_str));
        let committed =
            git(&wt, &add).and_then(|_| git(&wt, &["commit", "--quiet", "-m", &message(verb, what, &r.files)]));
        if let Err(e) = committed {
            finish(false);
            return Err(e);
        }
        r.commit = Some(git(&wt, &["rev-parse", "HEAD"])?);
        r.branch = Some(branch.to_string());
        r.status = "changed";
        finish(true);
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
    let (text, base) = crate::cmd::repo_list(list)?;
    let shard = Shard::chosen(o.shard).map_err(|e| fail(codes::ERROR_CONFLICTING_PARAMETERS, e.to_string()))?;
    if let Some(s) = shard {
        tresor_kms::http::share_fleet_rate(s.count);
    }
    let mut results = Vec::new();
    let all = fleet::read_list(&text);
    let mine: Vec<&String> = all.iter().filter(|r| shard.is_none_or(|s| s.owns(&fleet::identity(r)))).collect();
    for repo in mine.iter().copied() {
        if fleet::is_url(repo) {
            results.push(RepoResult {
                repository: repo.clone(),
                status: "failed",
                branch: None,
                commit: None,
                resumed: false,
                files: Vec::new(),
                error: Some("a URL: re-key campaigns need a work tree (clone it, or let multi-gitter/git-xargs run `tresor updatekeys -y -r .` in theirs)".into()),
            });
            continue;
        }
        eprintln!("tresor: [{}/{}] {}", results.len() + 1, mine.len(), crate::exit::clean(repo));
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
