//! Git sources: every blob version in history with the commit and path that first wrote
//! it (`git log --raw`), objects by name (`git cat-file --batch`, for what the pack walk
//! does not reach), and the index (staged changes), so the semantics stay exactly git's.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A git command that failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git ARGS` could not run or exited non-zero.
    #[error("git {args}: {why}")]
    Failed {
        /// The arguments, for the message.
        args: String,
        /// git's first error line, or why it could not start.
        why: String,
    },
}

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| GitError::Failed { args: args.join(" "), why: e.to_string() })?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// The repository's top directory (`git rev-parse --show-toplevel`).
pub fn toplevel(dir: &Path) -> Result<std::path::PathBuf, GitError> {
    let out = git(dir, &["rev-parse", "--show-toplevel"])?;
    Ok(String::from_utf8_lossy(&out).trim().into())
}

/// The commit HEAD names (`git rev-parse HEAD`).
pub fn head(repo: &Path) -> Result<String, GitError> {
    let out = git(repo, &["rev-parse", "HEAD"])?;
    Ok(String::from_utf8_lossy(&out).trim().into())
}

/// Read objects by name (`<oid>` or `:<path>`) through one `git cat-file --batch`.
/// Missing objects are skipped. `each` gets (index, bytes).
pub fn read_objects(repo: &Path, names: &[String], mut each: impl FnMut(usize, Vec<u8>)) -> Result<(), GitError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| GitError::Failed { args: "cat-file --batch".into(), why: e.to_string() })?;
    let mut stdin = child.stdin.take().expect("piped");
    let input: Vec<u8> = names.iter().flat_map(|n| n.bytes().chain(std::iter::once(b'\n'))).collect();
    // Feed on a thread so a full stdout pipe cannot deadlock us.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
    let mut header = String::new();
    for i in 0..names.len() {
        header.clear();
        if out.read_line(&mut header).map_err(|e| GitError::Failed { args: "cat-file".into(), why: e.to_string() })?
            == 0
        {
            break;
        }
        let parts: Vec<&str> = header.split_whitespace().collect();
        if parts.len() < 3 || parts[1] == "missing" {
            continue;
        }
        let size: usize = parts[2].parse().unwrap_or(0);
        let mut buf = vec![0u8; size + 1];
        out.read_exact(&mut buf).map_err(|e| GitError::Failed { args: "cat-file".into(), why: e.to_string() })?;
        buf.pop();
        if parts[1] == "blob" {
            each(i, buf);
        }
    }
    let _ = feeder.join();
    let _ = child.wait();
    Ok(())
}

/// Staged files (added, copied, modified, renamed) with their index content.
pub fn staged(repo: &Path) -> Result<Vec<(String, Vec<u8>)>, GitError> {
    let names = git(repo, &["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"])?;
    let paths: Vec<String> =
        names.split(|&b| b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    let specs: Vec<String> = paths.iter().map(|p| format!(":{p}")).collect();
    let mut out = Vec::with_capacity(paths.len());
    read_objects(repo, &specs, |i, data| out.push((paths[i].clone(), data)))?;
    Ok(out)
}

/// The repository's objects directory and object-name length (20: SHA-1, 32: SHA-256).
pub fn object_store(repo: &Path) -> Result<(std::path::PathBuf, usize), GitError> {
    let out = git(repo, &["rev-parse", "--path-format=absolute", "--git-path", "objects", "--show-object-format"])?;
    let text = String::from_utf8_lossy(&out);
    let mut lines = text.lines();
    let dir = lines.next().unwrap_or_default().trim().into();
    let hash_len = if lines.next().unwrap_or_default().trim() == "sha256" { 32 } else { 20 };
    Ok((dir, hash_len))
}

/// A commit, as findings name it.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// Its id.
    pub id: String,
    /// Its author (`Name <email>`).
    pub author: String,
    /// Its author date.
    pub date: String,
}

/// A blob version and where history first wrote it.
#[derive(Clone, Debug)]
pub struct Introduction {
    /// The blob's object id.
    pub oid: String,
    /// The path it was written at.
    pub path: String,
    /// index into `History::commits`
    pub commit: usize,
}

/// Every blob version of a history and the commit that first wrote it.
#[derive(Debug, Default)]
pub struct History {
    /// The commits, oldest first.
    pub commits: Vec<Commit>,
    /// The blob versions.
    pub blobs: Vec<Introduction>,
}

/// A commit read from `git log -z --format=%x01%H%x00%an%x00%aI`: the id after the marker,
/// then the author and date tokens.
fn commit_header<'a>(id: &[u8], tokens: &mut impl Iterator<Item = &'a [u8]>) -> Commit {
    let mut field = || String::from_utf8_lossy(tokens.next().unwrap_or_default()).into_owned();
    let (author, date) = (field(), field());
    Commit { id: String::from_utf8_lossy(id).into_owned(), author, date }
}

/// Every blob version the commits of `range` (default: all refs) wrote, once, with the
/// oldest commit and path that wrote it. One `git log --raw` pass: each commit's changes
/// against each parent (`-m`) and the root commits' whole trees (`--root`) together name
/// every blob reachable from the range's trees.
pub fn history(repo: &Path, range: Option<&str>) -> Result<History, GitError> {
    let mut args = vec![
        "log",
        "-z",
        "--reverse",
        "--no-show-signature",
        "--format=%x01%H%x00%an%x00%aI",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "-m",
        "--root",
    ];
    match range {
        Some(r) => args.extend(r.split_whitespace()),
        None => args.push("--all"),
    }
    let out = git(repo, &args)?;
    let mut h = History::default();
    let mut seen = HashSet::new();
    let mut tokens = out.split(|&b| b == 0).map(|t| t.strip_prefix(b"\n").unwrap_or(t));
    while let Some(t) = tokens.next() {
        if let Some(id) = t.strip_prefix(b"\x01") {
            let c = commit_header(id, &mut tokens);
            // `-m` repeats a merge's header once per parent.
            if h.commits.last().is_none_or(|last| last.id != c.id) {
                h.commits.push(c);
            }
        } else if let Some(raw) = t.strip_prefix(b":") {
            // "100644 100644 <old> <new> M", then the path as the next token
            let path = tokens.next().unwrap_or_default();
            let fields: Vec<&[u8]> = raw.split(|&b| b == b' ').collect();
            let (Some(mode), Some(new)) = (fields.get(1), fields.get(3)) else { continue };
            // Submodule commits are not blobs; an all-zero name is a deletion.
            if *mode == b"160000" || new.iter().all(|&b| b == b'0') || h.commits.is_empty() {
                continue;
            }
            if seen.insert(new.to_vec()) {
                h.blobs.push(Introduction {
                    oid: String::from_utf8_lossy(new).into_owned(),
                    path: String::from_utf8_lossy(path).into_owned(),
                    commit: h.commits.len() - 1,
                });
            }
        }
    }
    Ok(h)
}

/// One version of a file in first-parent history: the commit that wrote it and the blob.
#[derive(Clone, Debug)]
pub struct FileVersion {
    /// The commit that wrote this version.
    pub commit: Commit,
    /// The blob's object id.
    pub oid: String,
    /// The file's path in that commit (an older name where it was renamed since).
    pub path: String,
}

/// Pathspecs that cover `paths`: their directories (each once, none inside another listed
/// one) and files at the top level. git compares every changed path with every pathspec in
/// every commit, so one spec per file made 200 files' history take 6 s, almost all of it in
/// git's string comparisons; the extra paths a directory lets through are dropped by the
/// caller's lookup.
fn covering_pathspecs(paths: &[String]) -> Vec<String> {
    let mut dirs: Vec<&str> = paths.iter().map(|p| p.rsplit_once('/').map_or(p.as_str(), |(d, _)| d)).collect();
    dirs.sort_unstable();
    dirs.dedup();
    let mut kept: Vec<&str> = Vec::new();
    for d in dirs {
        // Sorted, so an ancestor comes before its descendants.
        if !kept.iter().any(|k| d.strip_prefix(k).is_some_and(|rest| rest.starts_with('/'))) {
            kept.push(d);
        }
    }
    kept.into_iter().map(|d| format!(":(literal){d}")).collect()
}

/// The versions of each of `paths` (relative to the repository's top) along HEAD's
/// first-parent history, newest first, from one `git log --raw` pass; a version that
/// deletes the file ends its list (what came before is another file's history). A file that
/// was renamed (`git mv`, or moved with its content mostly unchanged) continues with its
/// versions under the old name, so its values keep their age across the move.
pub fn file_versions(repo: &Path, paths: &[String]) -> Result<Vec<Vec<FileVersion>>, GitError> {
    let (mut out, mut added) = log_versions(repo, paths, "HEAD")?;
    // Follow renames, a few levels deep: each level is one `git log --no-walk` over the
    // commits that added a file, and one history walk for the old names.
    for _ in 0..MAX_RENAMES {
        let adds: Vec<(usize, String)> =
            added.iter().enumerate().filter_map(|(i, c)| c.clone().map(|c| (i, c))).collect();
        if adds.is_empty() {
            break;
        }
        let mut commits: Vec<&str> = adds.iter().map(|(_, c)| c.as_str()).collect();
        commits.sort_unstable();
        commits.dedup();
        let renames = renames_in(repo, &commits)?;
        let mut next_added = vec![None; paths.len()];
        for (i, commit) in adds {
            // The path this file had, under its newest name in `out[i]`'s oldest version.
            let Some(newest_name) = out[i].last().map(|v| v.path.clone()) else { continue };
            let Some(old) = renames.get(&(commit.clone(), newest_name)) else { continue };
            let (mut older, older_added) = log_versions(repo, std::slice::from_ref(old), &format!("{commit}^"))?;
            out[i].append(&mut older[0]);
            next_added[i] = older_added[0].clone();
        }
        added = next_added;
    }
    Ok(out)
}

/// How many renames of one file [`file_versions`] follows.
const MAX_RENAMES: usize = 16;

/// [`file_versions`] without following renames, from `rev`: the versions, and for each path
/// whose history ends where it was added (not deleted), the commit that added it.
#[allow(clippy::type_complexity)]
fn log_versions(
    repo: &Path,
    paths: &[String],
    rev: &str,
) -> Result<(Vec<Vec<FileVersion>>, Vec<Option<String>>), GitError> {
    let mut out = vec![Vec::new(); paths.len()];
    let mut added = vec![None; paths.len()];
    if paths.is_empty() {
        return Ok((out, added));
    }
    let index: std::collections::HashMap<&[u8], usize> =
        paths.iter().enumerate().map(|(i, p)| (p.as_bytes(), i)).collect();
    let mut args = vec![
        "log",
        "-z",
        "--first-parent",
        "--no-show-signature",
        "--format=%x01%H%x00%an%x00%aI",
        "--raw",
        "--no-abbrev",
    ];
    args.extend(["--no-renames", rev, "--"]);
    let specs = covering_pathspecs(paths);
    args.extend(specs.iter().map(String::as_str));
    let log = git(repo, &args)?;
    let mut ended = vec![false; paths.len()];
    let mut commit = Commit::default();
    let mut tokens = log.split(|&b| b == 0).map(|t| t.strip_prefix(b"\n").unwrap_or(t));
    while let Some(t) = tokens.next() {
        if let Some(id) = t.strip_prefix(b"\x01") {
            commit = commit_header(id, &mut tokens);
        } else if let Some(raw) = t.strip_prefix(b":") {
            let path = tokens.next().unwrap_or_default();
            let Some(&i) = index.get(path) else { continue };
            let fields: Vec<&[u8]> = raw.split(|&b| b == b' ').collect();
            let Some(new) = fields.get(3) else { continue };
            if ended[i] {
                continue;
            }
            if new.iter().all(|&b| b == b'0') {
                ended[i] = true;
                continue;
            }
            if fields.get(4).is_some_and(|s| s.starts_with(b"A")) {
                // Older commits cannot hold this path's history: it starts here.
                ended[i] = true;
                added[i] = Some(commit.id.clone());
            }
            out[i].push(FileVersion {
                commit: commit.clone(),
                oid: String::from_utf8_lossy(new).into_owned(),
                path: paths[i].clone(),
            });
        }
    }
    Ok((out, added))
}

/// The renames recorded in `commits` (against their first parents, as first-parent history
/// sees them): `(commit, new path) → old path`.
fn renames_in(repo: &Path, commits: &[&str]) -> Result<std::collections::HashMap<(String, String), String>, GitError> {
    let mut args = vec![
        "log",
        "--no-walk=unsorted",
        "-z",
        "-M",
        "--raw",
        "--no-abbrev",
        "--diff-merges=first-parent",
        "--format=%x01%H",
    ];
    args.extend(commits);
    let log = git(repo, &args)?;
    let mut out = std::collections::HashMap::new();
    let mut commit = String::new();
    let mut tokens = log.split(|&b| b == 0).map(|t| t.strip_prefix(b"\n").unwrap_or(t));
    while let Some(t) = tokens.next() {
        if let Some(id) = t.strip_prefix(b"\x01") {
            commit = String::from_utf8_lossy(id.split(|&b| b == b'\n').next().unwrap_or(id)).into_owned();
        } else if let Some(raw) = t.strip_prefix(b":") {
            let status = raw.split(|&b| b == b' ').nth(4).unwrap_or_default();
            let first = tokens.next().unwrap_or_default();
            // Renames and copies name two paths: the source, then the destination.
            if status.starts_with(b"R") || status.starts_with(b"C") {
                let second = tokens.next().unwrap_or_default();
                if status.starts_with(b"R") {
                    out.insert(
                        (commit.clone(), String::from_utf8_lossy(second).into_owned()),
                        String::from_utf8_lossy(first).into_owned(),
                    );
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod pathspec_tests {
    use super::covering_pathspecs;

    #[test]
    fn directories_cover_their_files_once() {
        let paths: Vec<String> = ["s/a.yaml", "s/b.yaml", "s/deep/c.yaml", "s-old/d.yaml", "top.env", "x/y/z.json"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            covering_pathspecs(&paths),
            [":(literal)s", ":(literal)s-old", ":(literal)top.env", ":(literal)x/y"]
        );
    }
}
