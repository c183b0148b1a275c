//! What to scan: a directory tree, the staged changes, or Git history.

use std::collections::HashSet;
use std::path::Path;

use crate::analyzers;
use crate::engine::Engine;
use crate::finding::Finding;
use crate::git::{self, GitError};

/// Options for one scan.
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    pub helm: bool,
    pub dockerfile: bool,
    /// `.sops.yaml`: files a creation rule covers must be encrypted.
    pub guard: bool,
}

impl Default for Checks {
    fn default() -> Checks {
        Checks { helm: true, dockerfile: true, guard: true }
    }
}

/// Scan one file's content with the engine and the analyzers that apply to its path.
pub fn scan_content(engine: &Engine, root: &Path, path: &str, content: &[u8], checks: Checks) -> Vec<Finding> {
    // Analyzer findings first, then rule findings in rule order: on one line, the most
    // specific report of a secret wins (rules are ordered specific → generic).
    let mut out = Vec::new();
    // A globally allowlisted path is skipped by every check, not only by the rules.
    if engine.path_allowed(path) {
        return out;
    }
    if let Ok(text) = std::str::from_utf8(content) {
        if checks.helm && analyzers::is_helm_values(&root.join(path).to_string_lossy()) {
            out.extend(analyzers::helm_values(path, text));
        }
        if checks.dockerfile && analyzers::is_dockerfile(path) {
            out.extend(analyzers::dockerfile(path, text));
        }
    }
    if checks.guard {
        out.extend(analyzers::must_be_encrypted(root, path, content));
    }
    out.extend(engine.scan(path, content));
    out.sort_by_key(|f| f.line);
    let mut kept: Vec<Finding> = Vec::with_capacity(out.len());
    for f in out {
        let dup = kept
            .iter()
            .rev()
            .take_while(|k| k.line == f.line)
            .any(|k| k.secret_hash == f.secret_hash || overlaps(k, &f));
        if !dup {
            kept.push(f);
        }
    }
    kept
}

/// Two findings on one line whose secrets overlap (one contains the other's start).
fn overlaps(a: &Finding, b: &Finding) -> bool {
    a.line == b.line && a.column <= b.column + b.redacted.len().max(8) && b.column <= a.column + a.redacted.len().max(8)
}

/// Run `work` over `items` on all cores, keeping the input order of results.
fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if threads < 2 || items.len() < 16 {
        return items.iter().map(&work).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&work).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("scan worker")).collect()
    })
}

/// A directory tree (respecting .gitignore) or individual files.
pub fn scan_paths(engine: &Engine, root: &Path, paths: &[std::path::PathBuf], checks: Checks) -> Vec<Finding> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_file() {
            files.push(p.clone());
            continue;
        }
        let walker = ignore::WalkBuilder::new(p)
            .hidden(false)
            .git_ignore(true)
            .require_git(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for entry in walker.flatten() {
            if entry.file_type().is_some_and(|t| t.is_file()) {
                files.push(entry.into_path());
            }
        }
    }
    let results = parallel(&files, |f| {
        let shown = f.strip_prefix(root).unwrap_or(f).to_string_lossy().replace('\\', "/");
        match std::fs::read(f) {
            Ok(bytes) if bytes.len() <= 32 << 20 => scan_content(engine, root, &shown, &bytes, checks),
            _ => Vec::new(),
        }
    });
    results.into_iter().flatten().collect()
}

/// The staged version of every added or modified file (what `git commit` would record).
pub fn scan_staged(engine: &Engine, repo: &Path, checks: Checks) -> Result<Vec<Finding>, GitError> {
    let files = git::staged(repo)?;
    Ok(parallel(&files, |(path, data)| scan_content(engine, repo, path, data, checks)).into_iter().flatten().collect())
}

/// Every unique blob in `range` (default: all refs), then attribution of the blobs with
/// findings to the commit and path that introduced them. `progress(done, total)`.
pub fn scan_history(
    engine: &Engine,
    repo: &Path,
    range: Option<&str>,
    checks: Checks,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<Finding>, GitError> {
    let blobs = git::blobs(repo, range)?;
    let total = blobs.len() as u64;
    let history_checks = Checks { guard: false, ..checks };
    // Reading blobs (zlib + delta resolution inside git) dominates, so split the list into
    // contiguous parts (neighbours share delta bases) and run one `git cat-file` per core,
    // each feeding its own scanning thread.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    let chunk = blobs.len().div_ceil(workers).max(1);
    let done = std::sync::atomic::AtomicU64::new(0);
    let results: Vec<Result<Vec<(String, Finding)>, GitError>> = std::thread::scope(|s| {
        let handles: Vec<_> = blobs
            .chunks(chunk)
            .map(|part| {
                let done = &done;
                s.spawn(move || {
                    let names: Vec<String> = part.iter().map(|(oid, _)| oid.clone()).collect();
                    let mut found = Vec::new();
                    let mut since = 0u64;
                    git::read_objects(repo, &names, |i, data| {
                        let (oid, path) = &part[i];
                        found.extend(
                            scan_content(engine, repo, path, &data, history_checks)
                                .into_iter()
                                .map(|f| (oid.clone(), f)),
                        );
                        since += 1;
                        if since == 256 {
                            let d = done.fetch_add(since, std::sync::atomic::Ordering::Relaxed) + since;
                            progress(d, total);
                            since = 0;
                        }
                    })?;
                    let d = done.fetch_add(since, std::sync::atomic::Ordering::Relaxed) + since;
                    progress(d, total);
                    Ok(found)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("history worker")).collect()
    });
    let mut findings = Vec::new();
    for r in results {
        findings.extend(r?);
    }
    let wanted: HashSet<String> = findings.iter().map(|(oid, _)| oid.clone()).collect();
    let origins = git::origins(repo, range, &wanted)?;
    let mut out: Vec<Finding> = findings
        .into_iter()
        .map(|(oid, mut f)| {
            if let Some(o) = origins.get(&oid) {
                f.commit = o.commit.clone();
                f.author = o.author.clone();
                f.date = o.date.clone();
                if !o.path.is_empty() {
                    f.file = o.path.clone();
                }
            }
            f.refresh_fingerprint();
            f
        })
        .collect();
    // Later versions of a file still holding a secret are new blobs too; report each secret
    // once per path, at the oldest commit that introduced it (as a diff-based scan would).
    out.sort_by(|a, b| {
        (&a.file, &a.rule_id, &a.secret_hash, &a.date).cmp(&(&b.file, &b.rule_id, &b.secret_hash, &b.date))
    });
    out.dedup_by(|a, b| a.file == b.file && a.rule_id == b.rule_id && a.secret_hash == b.secret_hash);
    Ok(out)
}
