//! Git sources: every unique blob in history (scanned once, then attributed to the commit
//! and path that introduced it), a commit range, and the index (staged changes).
//! We drive `git` itself: `rev-list --objects` and `cat-file --batch` stream objects at
//! C speed, and the index semantics stay exactly git's.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git {args}: {why}")]
    Failed { args: String, why: String },
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

pub fn toplevel(dir: &Path) -> Result<std::path::PathBuf, GitError> {
    let out = git(dir, &["rev-parse", "--show-toplevel"])?;
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

/// Every blob reachable from `range` (default: all refs), once, with the first path it
/// was seen at.
pub fn blobs(repo: &Path, range: Option<&str>) -> Result<Vec<(String, String)>, GitError> {
    let mut args = vec!["rev-list", "--objects", "--filter=object:type=blob", "--filter-provided-objects"];
    match range {
        Some(r) => args.extend(r.split_whitespace()),
        None => args.push("--all"),
    }
    let out = git(repo, &args)?;
    let mut seen = HashSet::new();
    let mut v = Vec::new();
    for line in out.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        // Commits print without a path; blobs print "oid path".
        if let Some((oid, path)) = line.split_once(' ') {
            if seen.insert(oid.to_string()) {
                v.push((oid.to_string(), path.to_string()));
            }
        }
    }
    Ok(v)
}

#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub commit: String,
    pub author: String,
    pub date: String,
    pub path: String,
}

/// For each wanted blob, the oldest commit (in `range`) that introduced it, and its path.
pub fn origins(
    repo: &Path,
    range: Option<&str>,
    wanted: &HashSet<String>,
) -> Result<HashMap<String, Origin>, GitError> {
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let mut args =
        vec!["log", "--format=%x01%H%x00%an%x00%aI", "--raw", "--no-abbrev", "--no-renames", "-m", "--first-parent"];
    match range {
        Some(r) => args.extend(r.split_whitespace()),
        None => args.push("--all"),
    }
    let out = git(repo, &args)?;
    let mut map: HashMap<String, Origin> = HashMap::new();
    let mut cur = Origin::default();
    for line in out.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        if let Some(h) = line.strip_prefix('\u{1}') {
            let mut p = h.split('\0');
            cur = Origin {
                commit: p.next().unwrap_or("").into(),
                author: p.next().unwrap_or("").into(),
                date: p.next().unwrap_or("").into(),
                path: String::new(),
            };
        } else if let Some(raw) = line.strip_prefix(':') {
            // ":100644 100644 <old> <new> M\tpath"
            let (meta, path) = raw.split_once('\t').unwrap_or((raw, ""));
            let fields: Vec<&str> = meta.split_whitespace().collect();
            if fields.len() >= 4 && wanted.contains(fields[3]) {
                // Log runs newest first: the last write is the oldest introduction.
                map.insert(fields[3].to_string(), Origin { path: path.to_string(), ..cur.clone() });
            }
        }
    }
    Ok(map)
}
