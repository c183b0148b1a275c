//! Many repositories on the fan-out engines teams already run (GitHub Actions matrices,
//! Kubernetes Indexed Jobs, GitLab `parallel`, Argo Workflows): tresor does not schedule;
//! it is the worker. A shard is chosen from the repository's identity by a stable hash, so
//! every repository lands in exactly one shard and a retried shard does the same work;
//! shards' JSON reports merge into incidents, one per secret (by its SHA-256) listing every
//! place it leaked.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::finding::Finding;

/// Shard `index` (0-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

/// Why a shard could not be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    /// `--shard` not `I/N` with 1 ≤ I ≤ N.
    #[error("--shard {0}: expected I/N with 1 <= I <= N (1-based, as CI matrices count)")]
    Spec(String),
    /// An engine's variables that do not make a shard.
    #[error("{0}")]
    Env(String),
}

impl Shard {
    /// Parse `I/N`, 1-based as GitHub matrices and GitLab's `CI_NODE_INDEX` count.
    pub fn parse(spec: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::Spec(spec.chars().take(40).collect());
        let (i, n) = spec.trim().split_once('/').ok_or_else(bad)?;
        let (i, n): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || i == 0 || i > n {
            return Err(bad());
        }
        Ok(Shard { index: i - 1, count: n })
    }

    /// The shard an engine assigned through its environment, when no `--shard` is given:
    /// a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` (0-based) with the count in
    /// `TRESOR_SHARD_COUNT` (a Job does not export its completions), or GitLab's
    /// `CI_NODE_INDEX`/`CI_NODE_TOTAL` (1-based). `None`: not sharded.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, ShardError> {
        if let Some(index) = get("JOB_COMPLETION_INDEX") {
            let count = get("TRESOR_SHARD_COUNT").ok_or_else(|| {
                ShardError::Env(
                    "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but TRESOR_SHARD_COUNT is not: set it to the Job's completions".into(),
                )
            })?;
            let (i, n) = (index.trim().parse::<u32>(), count.trim().parse::<u32>());
            return match (i, n) {
                (Ok(i), Ok(n)) if i < n => Ok(Some(Shard { index: i, count: n })),
                _ => Err(ShardError::Env(format!(
                    "JOB_COMPLETION_INDEX={index} and TRESOR_SHARD_COUNT={count} do not make a shard"
                ))),
            };
        }
        match (get("CI_NODE_INDEX"), get("CI_NODE_TOTAL")) {
            (Some(i), Some(n)) => Shard::parse(&format!("{i}/{n}")).map(Some),
            _ => Ok(None),
        }
    }

    /// The shard a command runs as: `--shard I/N` when given, else the engine's variables
    /// from this process's environment ([`Shard::from_env`]); `None`: not sharded.
    pub fn chosen(flag: Option<&str>) -> Result<Option<Shard>, ShardError> {
        match flag {
            Some(spec) => Shard::parse(spec).map(Some),
            None => Shard::from_env(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty())),
        }
    }

    /// Does this shard own the repository `identity`?
    pub fn owns(&self, identity: &str) -> bool {
        shard_of(identity, self.count) == self.index
    }
}

/// A repository's identity as a list names it: trailing `/` and `.git` removed, so
/// `git@host:org/app.git`, `git@host:org/app` and `mirrors/app.git/` each name one thing.
pub fn identity(entry: &str) -> String {
    let e = entry.trim().trim_end_matches('/');
    e.strip_suffix(".git").unwrap_or(e).to_string()
}

/// The shard of `identity` among `count`: SHA-256 of the identity, its first 8 bytes as a
/// number modulo `count`. Defined by bytes, not by a hasher that may change between
/// versions or platforms, so every worker of every run agrees.
pub fn shard_of(identity: &str, count: u32) -> u32 {
    let d = Sha256::digest(identity.as_bytes());
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (n % u64::from(count.max(1))) as u32
}

/// Is this list entry a URL to clone (`https://…`, `ssh://…`, `git@host:org/repo`) rather
/// than a local path?
pub fn is_url(entry: &str) -> bool {
    entry.contains("://")
        || entry.split_once(':').is_some_and(|(user_host, _)| user_host.contains('@') && !user_host.contains('/'))
}

/// A `--repos` list: one repository per line (a path to a work tree or a bare mirror);
/// blank lines and `#` comments skipped, duplicates (by identity) once.
pub fn read_list(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| seen.insert(identity(l)))
        .map(str::to_string)
        .collect()
}

/// One place a secret leaked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct Place {
    /// The repository (as the list named it).
    pub repository: String,
    /// The file.
    pub file: String,
    /// The line.
    pub line: usize,
    /// The commit that wrote it, in history scans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

/// One secret, wherever it leaked.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// SHA-256 of the secret (never the secret).
    pub secret_hash: String,
    /// The rules that found it.
    pub rules: Vec<String>,
    /// The repositories it is in.
    pub repositories: Vec<String>,
    /// Every place.
    pub places: Vec<Place>,
}

/// Shard reports merged into incidents, one per secret, the most widespread first.
pub fn merge(findings: &[Finding]) -> Vec<Incident> {
    let mut by_hash: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        // A path-only rule's finding names a file, not a secret: each stays its own.
        let key = if f.secret_hash == crate::finding::NO_SECRET_HASH { f.fingerprint.as_str() } else { &f.secret_hash };
        by_hash.entry(key).or_default().push(f);
    }
    let mut out: Vec<Incident> = by_hash
        .into_values()
        .map(|fs| {
            let mut places: Vec<Place> = fs
                .iter()
                .map(|f| Place {
                    repository: f.repository.clone(),
                    file: f.file.clone(),
                    line: f.line,
                    commit: f.commit.clone(),
                })
                .collect();
            places.sort();
            places.dedup();
            let mut rules: Vec<String> = fs.iter().map(|f| f.rule_id.clone()).collect();
            rules.sort();
            rules.dedup();
            let mut repositories: Vec<String> = places.iter().map(|p| p.repository.clone()).collect();
            repositories.dedup();
            Incident { secret_hash: fs[0].secret_hash.clone(), rules, repositories, places }
        })
        .collect();
    out.sort_by(|a, b| b.repositories.len().cmp(&a.repositories.len()).then(a.secret_hash.cmp(&b.secret_hash)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_every_repository_exactly_once_and_stably() {
        let repos: Vec<String> = (0..1000).map(|i| format!("git@example.org:org/repo-{i}")).collect();
        for n in [1u32, 2, 3, 7, 256] {
            let mut counts = vec![0usize; n as usize];
            for r in &repos {
                let owners: Vec<u32> =
                    (1..=n).filter(|i| Shard::parse(&format!("{i}/{n}")).unwrap().owns(&identity(r))).collect();
                assert_eq!(owners.len(), 1, "{r} in {n} shards");
                counts[owners[0] as usize - 1] += 1;
            }
            // Roughly even: no shard of a few holds more than twice its share.
            if n <= 7 {
                assert!(counts.iter().all(|c| *c < 2 * repos.len() / n as usize + 10), "{counts:?}");
            }
        }
        // Defined by SHA-256: the same answer in every version and on every platform.
        assert_eq!(shard_of("git@example.org:org/repo-0", 7), shard_of("git@example.org:org/repo-0", 7));
        assert_eq!(identity("mirrors/app.git/"), "mirrors/app");
        assert_eq!(identity("git@host:org/app.git"), identity("git@host:org/app"));
    }

    #[test]
    fn specs_and_engine_variables() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 1, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0"), ("TRESOR_SHARD_COUNT", "4")])),
            Ok(Some(Shard { index: 0, count: 4 }))
        );
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err(), "count required");
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "4"), ("TRESOR_SHARD_COUNT", "4")])).is_err());
        assert_eq!(
            Shard::from_env(env(&[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "5")])),
            Ok(Some(Shard { index: 1, count: 5 }))
        );
        assert_eq!(Shard::from_env(env(&[])), Ok(None));
    }

    #[test]
    fn urls_and_paths() {
        for u in [
            "https://git.example.org/org/app.git",
            "ssh://git@host/org/app",
            "git@github.com:org/app.git",
            "file:///srv/app",
        ] {
            assert!(is_url(u), "{u}");
        }
        for p in ["mirrors/app.git", "/srv/git/app", "../app", "c:/x"] {
            assert!(!is_url(p), "{p}");
        }
    }

    #[test]
    fn lists_skip_comments_blanks_and_duplicates() {
        assert_eq!(read_list("# fleet\na\n\nb.git\nb\n  c/ \n"), ["a", "b.git", "c/"]);
    }
}

/// What a command needs of a listed repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Its history (`scan`): a work tree or a bare repository will do.
    History,
    /// Its files at HEAD and its history (`audit`): a work tree.
    WorkTree,
}

/// A listed repository opened for reading: the path to read, and the temporary clone behind
/// it (removed when this is dropped), if one was needed.
#[derive(Debug)]
pub struct Opened {
    /// Where to read it.
    pub path: std::path::PathBuf,
    _clone: Option<tempfile::TempDir>,
}

/// Why a listed repository could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A local entry that is not a directory.
    #[error("no such directory")]
    Missing,
    /// git could not clone it (its last line of explanation).
    #[error("cannot clone: {0}")]
    Clone(String),
    /// The clone took longer than the timeout and was stopped.
    #[error("cannot clone: gave up after {0} s (--clone-timeout)")]
    TimedOut(u64),
    /// The temporary directory or git itself.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Open list entry `entry` (paths relative to `base`, the list's directory) for `need`:
/// a URL is cloned (a bare mirror for history, a clone with a work tree otherwise); a local
/// bare repository that must give a work tree is cloned with `--shared` (its objects are
/// borrowed, not copied); a local work tree is read where it is. Clones live in a temporary
/// directory of their own, removed as soon as the repository is done, so a shard's disk use
/// is that of one repository at a time. A clone that takes longer than `timeout` is
/// stopped and reported: one unreachable server must not hold a whole shard.
pub fn open(entry: &str, base: &std::path::Path, need: Need, timeout: Duration) -> Result<Opened, OpenError> {
    let git_clone = |args: &[&str], src: &std::ffi::OsStr| -> Result<Opened, OpenError> {
        let tmp = tempfile::Builder::new().prefix("tresor-fleet-").tempdir()?;
        let dest = tmp.path().join("repo");
        let mut child = std::process::Command::new("git")
            .arg("clone")
            .args(args)
            .args(["--quiet", "--"])
            .arg(src)
            .arg(&dest)
            .env("GIT_TERMINAL_PROMPT", "0")
            // git's own guard against a stalled transfer (below 1 KB/s for a minute), for
            // the helper processes a kill of git itself would not reach at once.
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
            .env("GIT_HTTP_LOW_SPEED_TIME", "60")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() >= timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(OpenError::TimedOut(timeout.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            let mut why = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut why);
            }
            return Err(OpenError::Clone(why.lines().last().unwrap_or("git clone failed").to_string()));
        }
        Ok(Opened { path: dest, _clone: Some(tmp) })
    };
    if is_url(entry) {
        return match need {
            Need::History => git_clone(&["--mirror"], entry.as_ref()),
            Need::WorkTree => git_clone(&[], entry.as_ref()),
        };
    }
    let path = base.join(entry);
    if !path.is_dir() {
        return Err(OpenError::Missing);
    }
    if need == Need::WorkTree && is_bare(&path) {
        return git_clone(&["--shared"], path.as_os_str());
    }
    Ok(Opened { path, _clone: None })
}

/// Is `path` a bare repository (no work tree)?
fn is_bare(path: &std::path::Path) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "--is-bare-repository"])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"true"))
}
