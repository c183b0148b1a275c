//! What to scan: a directory tree, the staged changes, or Git history.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::analyzers;
use crate::engine::Engine;
use crate::finding::Finding;
use crate::git::{self, GitError};
use crate::pack;

/// Options for one scan.
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    /// Check Helm values files.
    pub helm: bool,
    /// Check Dockerfiles.
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
        if checks.helm && is_helm(root, path) {
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
    most_specific(out)
}

/// A Helm values file: by name, or YAML beside a `Chart.yaml` (looked up under `root`).
fn is_helm(root: &Path, path: &str) -> bool {
    analyzers::is_helm_values(&root.join(path).to_string_lossy())
}

/// Do the analyzers read this path whole (so a changed version cannot be scanned by its
/// changes alone)?
fn analyzed_whole(root: &Path, path: &str, checks: Checks) -> bool {
    checks.helm && is_helm(root, path) || checks.dockerfile && analyzers::is_dockerfile(path)
}

/// Threads worth running: the cores, at most `max`.
fn cores(max: usize) -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, max)
}

/// On one line, keep the first report of a secret: findings come analyzers first, then
/// rules in order (specific → generic), and the sort is stable. Each line keeps the hashes
/// and spans it has kept (kept spans never overlap, so one look at the nearest suffices):
/// a minified line with thousands of tokens is linear, not quadratic.
fn most_specific(mut out: Vec<Finding>) -> Vec<Finding> {
    out.sort_by_cached_key(|f| f.line); // moves each (large) finding once
    let mut kept: Vec<Finding> = Vec::with_capacity(out.len());
    // A path-only rule's finding is the file itself (no secret, no span): it never hides,
    // nor is hidden by, what the rules find inside the file.
    let file_level = |f: &Finding| f.span.is_empty() && f.secret_hash == crate::finding::NO_SECRET_HASH;
    let mut line = usize::MAX;
    let mut hashes: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut spans: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for f in out {
        if file_level(&f) {
            kept.push(f);
            continue;
        }
        if f.line != line {
            line = f.line;
            hashes.clear();
            spans.clear();
        }
        let (start, end) = reach(&f);
        let overlapping = spans.range(..=end).next_back().is_some_and(|(_, &e)| e >= start);
        if hashes.contains(&f.secret_hash) || overlapping {
            continue;
        }
        hashes.insert(f.secret_hash.clone());
        spans.insert(start, end);
        kept.push(f);
    }
    kept
}

/// The columns a finding's secret may cover on its line (its redacted length, at least 8:
/// redaction shortens long secrets).
fn reach(f: &Finding) -> (usize, usize) {
    (f.column, f.column + f.redacted.len().max(8))
}

/// Run `work` over `items` on all cores, keeping the input order of results.
fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = cores(8);
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

/// Files larger than this are scanned in pieces of this size (overlapping by
/// [`OVERLAP`]), so memory stays bounded and nothing is skipped for its size.
pub const PIECE: usize = 32 << 20;
/// How far consecutive pieces overlap: a secret (a PEM block included) shorter than this
/// that straddles a cut is whole in one of them.
pub const OVERLAP: usize = 256 << 10;

/// What a directory scan found, and what it could not read (never silently ignored).
#[derive(Default)]
pub struct PathScan {
    /// What was found.
    pub findings: Vec<Finding>,
    /// (path as shown, why) for files that could not be scanned.
    pub skipped: Vec<(String, String)>,
}

/// A directory tree (respecting .gitignore) or individual files.
pub fn scan_paths(engine: &Engine, root: &Path, paths: &[std::path::PathBuf], checks: Checks) -> PathScan {
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
        match scan_file(engine, root, &shown, f, checks) {
            Ok(found) => Ok(found),
            Err(e) => Err((shown, e.to_string())),
        }
    });
    let mut out = PathScan::default();
    for r in results {
        match r {
            Ok(f) => out.findings.extend(f),
            Err(s) => out.skipped.push(s),
        }
    }
    out
}

#[allow(unsafe_code)] // a read-only memory map; see the SAFETY comment inside
fn scan_file(engine: &Engine, root: &Path, shown: &str, f: &Path, checks: Checks) -> std::io::Result<Vec<Finding>> {
    let file = std::fs::File::open(f)?;
    let len = file.metadata()?.len() as usize;
    if len <= PIECE {
        let mut bytes = Vec::with_capacity(len);
        std::io::Read::read_to_end(&mut std::io::Read::take(&file, PIECE as u64 + 1), &mut bytes)?;
        if bytes.len() <= PIECE {
            return Ok(scan_content(engine, root, shown, &bytes, checks));
        }
    }
    // SAFETY: read-only map of a file we do not write; a concurrent truncation by another
    // process could fault, which a scanner of a working tree accepts as gitleaks does.
    let map = unsafe { memmap2::Mmap::map(&file) }?;
    Ok(scan_pieces(&map, |piece| scan_content(engine, root, shown, piece, checks)))
}

/// Scan `data` in overlapping pieces cut at line breaks; findings keep whole-file line
/// numbers and appear once.
pub fn scan_pieces(data: &[u8], scan: impl FnMut(&[u8]) -> Vec<Finding>) -> Vec<Finding> {
    // One windowing algorithm for files and streams: a slice is a stream that cannot fail.
    scan_reader(data, scan).unwrap_or_else(|_| unreachable!("reading from memory cannot fail"))
}

/// [`scan_pieces`] for a stream (a file inside a compressed layer): at most one piece and
/// its overlap are in memory, whatever the stream's length. Findings keep whole-stream
/// line numbers and offsets and appear once.
pub fn scan_reader(mut r: impl Read, mut scan: impl FnMut(&[u8]) -> Vec<Finding>) -> std::io::Result<Vec<Finding>> {
    let mut out: Vec<Finding> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut buf: Vec<u8> = Vec::new();
    let (mut line0, mut off0, mut eof) = (0usize, 0usize, false);
    loop {
        if !eof {
            let want = (PIECE - buf.len()) as u64;
            let got = (&mut r).take(want).read_to_end(&mut buf)?;
            eof = (got as u64) < want;
        }
        let mut end = buf.len();
        if !eof {
            if let Some(nl) = memchr::memrchr(b'\n', &buf) {
                end = nl + 1;
            }
        }
        for mut f in scan(&buf[..end]) {
            f.line += line0;
            f.span = f.span.start + off0..f.span.end + off0;
            f.refresh_fingerprint();
            if seen.insert((f.rule_id.clone(), f.line, f.column)) {
                out.push(f);
            }
        }
        if eof && end >= buf.len() {
            return Ok(out);
        }
        // The next piece starts OVERLAP bytes back, at a line start.
        let mut next = end.saturating_sub(OVERLAP).max(1);
        match memchr::memchr(b'\n', &buf[next..end]) {
            Some(nl) if next + nl + 1 < end => next += nl + 1,
            _ => next = end,
        }
        line0 += memchr::memchr_iter(b'\n', &buf[..next]).count();
        off0 += next;
        buf.drain(..next);
    }
}

/// The staged version of every added or modified file (what `git commit` would record).
pub fn scan_staged(engine: &Engine, repo: &Path, checks: Checks) -> Result<Vec<Finding>, GitError> {
    let files = git::staged(repo)?;
    Ok(parallel(&files, |(path, data)| scan_content(engine, repo, path, data, checks)).into_iter().flatten().collect())
}

/// Every blob version in `range` (default: all refs), each scanned once and attributed to
/// the oldest commit and path that wrote it. Packed versions are read by walking the pack's
/// delta tree ([`pack`]): a version rebuilt from a delta base only has the delta's inserted
/// lines scanned, plus any secret its base held that it still holds. Versions the walk does
/// not reach (loose objects, unreadable packs) are read through `git cat-file`.
/// `progress(done, total)`.
pub fn scan_history(
    engine: &Engine,
    repo: &Path,
    range: Option<&str>,
    checks: Checks,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<Finding>, GitError> {
    let history = git::history(repo, range)?;
    let (objects, hash_len) = git::object_store(repo)?;
    let scan = HistoryScan::new(engine, repo, &history, Checks { guard: false, ..checks }, hash_len, progress);
    let threads = cores(8);
    for idx in pack::indexes(&objects) {
        // A pack this reader cannot walk is left to git: its blobs stay unseen.
        if let Ok(p) = pack::Pack::open(&idx, hash_len) {
            let _ = pack::walk(&p, threads, &scan);
        }
    }
    let missing: Vec<usize> = (0..history.blobs.len()).filter(|&i| !scan.seen[i].load(Relaxed)).collect();
    scan.read_with_git(&missing)?;
    let found = scan.found.into_inner().expect("no worker panicked");
    // Later versions of a file still holding a secret are new blobs too; report each secret
    // once per path, at the oldest commit that introduced it (as a diff-based scan would).
    // `history.commits` runs oldest first, so the commit index orders them even when
    // several commits share a timestamp.
    let mut found: Vec<(usize, Finding)> = found.into_iter().map(|(i, f)| (history.blobs[i].commit, f)).collect();
    found.sort_by(|(ca, a), (cb, b)| {
        (&a.file, &a.rule_id, &a.secret_hash, ca).cmp(&(&b.file, &b.rule_id, &b.secret_hash, cb))
    });
    found.dedup_by(|(_, a), (_, b)| a.file == b.file && a.rule_id == b.rule_id && a.secret_hash == b.secret_hash);
    Ok(found
        .into_iter()
        .map(|(c, mut f)| {
            let c = &history.commits[c];
            f.commit = c.id.clone();
            f.author = c.author.clone();
            f.date = c.date.clone();
            f.refresh_fingerprint();
            f
        })
        .collect())
}

/// State of one history scan, shared by the pack walkers.
struct HistoryScan<'a> {
    engine: &'a Engine,
    repo: &'a Path,
    blobs: &'a [git::Introduction],
    checks: Checks,
    /// binary object name → index in `blobs`
    wanted: HashMap<Vec<u8>, usize>,
    /// per blob: its path's scan profile (see `Engine::path_profile`), or `FULL` when an
    /// analyzer reads the whole file
    profile: Vec<u32>,
    seen: Vec<AtomicBool>,
    found: Mutex<Vec<(usize, Finding)>>,
    done: AtomicU64,
    progress: &'a (dyn Fn(u64, u64) + Sync),
}

const FULL: u32 = u32::MAX;

/// What a scanned version hands to the versions deltified against it.
struct Carry {
    profile: u32,
    /// the secrets this version holds, to find again in versions that copy them (searchers
    /// built once, not once per version that inherits them)
    secrets: Vec<(memchr::memmem::Finder<'static>, Finding)>,
}

impl<'a> HistoryScan<'a> {
    fn new(
        engine: &'a Engine,
        repo: &'a Path,
        history: &'a git::History,
        checks: Checks,
        hash_len: usize,
        progress: &'a (dyn Fn(u64, u64) + Sync),
    ) -> HistoryScan<'a> {
        let mut profiles: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut by_path: HashMap<&str, u32> = HashMap::new();
        let profile = history
            .blobs
            .iter()
            .map(|b| {
                *by_path.entry(&b.path).or_insert_with(|| {
                    if analyzed_whole(repo, &b.path, checks) {
                        return FULL;
                    }
                    let n = profiles.len() as u32;
                    *profiles.entry(engine.path_profile(&b.path)).or_insert(n)
                })
            })
            .collect();
        let wanted = history
            .blobs
            .iter()
            .enumerate()
            .filter_map(|(i, b)| Some((decode_hex(&b.oid).filter(|o| o.len() == hash_len)?, i)))
            .collect();
        HistoryScan {
            engine,
            repo,
            blobs: &history.blobs,
            checks,
            wanted,
            profile,
            seen: history.blobs.iter().map(|_| AtomicBool::new(false)).collect(),
            found: Mutex::new(Vec::new()),
            done: AtomicU64::new(0),
            progress,
        }
    }

    fn record(&self, i: usize, findings: Vec<Finding>) {
        if !findings.is_empty() {
            self.found.lock().expect("no worker panicked").extend(findings.into_iter().map(|f| (i, f)));
        }
        let d = self.done.fetch_add(1, Relaxed) + 1;
        if d % 256 == 0 || d == self.blobs.len() as u64 {
            (self.progress)(d, self.blobs.len() as u64);
        }
    }

    /// Blobs the pack walk did not reach, read whole through `git cat-file` (one per core).
    fn read_with_git(&self, which: &[usize]) -> Result<(), GitError> {
        if which.is_empty() {
            return Ok(());
        }
        let workers = cores(4);
        let chunk = which.len().div_ceil(workers).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = which
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let names: Vec<String> = part.iter().map(|&i| self.blobs[i].oid.clone()).collect();
                        git::read_objects(self.repo, &names, |k, data| {
                            let i = part[k];
                            let path = &self.blobs[i].path;
                            self.record(i, scan_content(self.engine, self.repo, path, &data, self.checks));
                        })
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().expect("history worker"))
        })
    }
}

impl pack::Visitor for HistoryScan<'_> {
    type Carry = Carry;

    fn visit(&self, blob: &pack::Blob, parent: Option<&Carry>) -> Option<Carry> {
        let &i = self.wanted.get(blob.oid)?;
        if self.seen[i].swap(true, Relaxed) {
            return None;
        }
        let path = &self.blobs[i].path;
        let profile = self.profile[i];
        let content = blob.content;
        let findings = match (parent, blob.inserted) {
            (Some(p), Some(inserted)) if p.profile == profile && profile != FULL => {
                let mut f = self.engine.scan_changed(path, content, inserted);
                let mut lines = crate::engine::LineIndex::default();
                // The report names each secret once per path (at its oldest commit), so a
                // version needs one reportable occurrence of each inherited secret, not all
                // of them: a fixture repeating one token a thousand times made every version
                // of it slow. (An occurrence on an allow-marked line does not count.)
                for (secret, held) in p.secrets.iter().filter(|(_, held)| self.engine.reports_at(held, path)) {
                    if let Some(r) = secret
                        .find_iter(content)
                        .find_map(|at| self.engine.relocate(held, path, content, at, &mut lines))
                    {
                        f.push(r);
                    }
                }
                most_specific(f)
            }
            _ => scan_content(self.engine, self.repo, path, content, self.checks),
        };
        let secrets = findings
            .iter()
            .filter(|f| !f.span.is_empty() && f.span.end <= content.len())
            .map(|f| (memchr::memmem::Finder::new(&content[f.span.clone()]).into_owned(), f.clone()))
            .collect();
        self.record(i, findings);
        Some(Carry { profile, secrets })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let b = hex.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    b.chunks(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod pieces {
    use super::*;

    /// Findings of a marker, with 1-based line numbers within the scanned slice.
    fn markers(piece: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        for (line, text) in piece.split(|&b| b == b'\n').enumerate() {
            if let Some(col) = memchr::memmem::find(text, b"SECRET") {
                out.push(Finding::new("marker", "marker", "f", line + 1, col + 1, "SECRET-value", ""));
            }
        }
        out
    }

    #[test]
    fn large_files_are_scanned_whole_in_overlapping_pieces() {
        let line = b"an ordinary line of text that holds nothing of interest at all\n";
        let lines = (PIECE + PIECE / 2) / line.len();
        let mut data = Vec::with_capacity(lines * line.len());
        let wanted = [7, lines / 2, PIECE / line.len() - 1, PIECE / line.len(), lines - 2];
        for i in 0..lines {
            if wanted.contains(&i) {
                data.extend_from_slice(b"here is a SECRET on this line\n");
            } else {
                data.extend_from_slice(line);
            }
        }
        let found = scan_pieces(&data, markers);
        let got: Vec<usize> = found.iter().map(|f| f.line).collect();
        let mut want: Vec<usize> = wanted.iter().map(|i| i + 1).collect();
        want.sort();
        assert_eq!(got, want);
        assert!(found.iter().all(|f| f.fingerprint.ends_with(&format!(":{}", f.line))));
    }
}
