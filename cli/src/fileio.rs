//! Reading inputs and writing outputs safely: in-place writes go to a temporary file
//! beside the target, are fsynced, keep the file's mode, and replace it atomically.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_sops::Verification;

/// Input larger than this is refused: sops files are configuration, and the limit keeps
/// a mistaken `tresor encrypt /dev/zero` from exhausting memory.
pub const MAX_INPUT: u64 = 1 << 30;

/// Read a file (or standard input when `None`) as bytes, within [`MAX_INPUT`].
pub fn read_bytes(path: Option<&Path>) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        None => {
            std::io::stdin().lock().take(MAX_INPUT + 1).read_to_end(&mut buf).context("reading standard input")?;
        }
        Some(p) => {
            let f = fs::File::open(p).map_err(|e| {
                let code = if e.kind() == std::io::ErrorKind::NotFound { 100 } else { 2 };
                crate::exit::fail(code, format!("cannot open {}: {e}", p.display()))
            })?;
            // `take` hides the file's size from `read_to_end`: reserve it, or the buffer
            // is copied each time it doubles.
            let size = f.metadata().map_or(0, |m| m.len().min(MAX_INPUT + 1));
            buf.reserve_exact(usize::try_from(size).unwrap_or(0) + 1);
            f.take(MAX_INPUT + 1).read_to_end(&mut buf).with_context(|| format!("reading {}", p.display()))?;
        }
    }
    if buf.len() as u64 > MAX_INPUT {
        return Err(crate::exit::fail(
            codes::COULD_NOT_READ_INPUT_FILE,
            format!("input is larger than {} MiB", MAX_INPUT >> 20),
        ));
    }
    Ok(buf)
}

/// Write `data` to `path` atomically, keeping the mode of an existing file (or using
/// `new_mode` for a new one).
pub fn write_atomic(path: &Path, data: &[u8], new_mode: u32) -> Result<()> {
    let mut tmp = Replacement::beside(path, new_mode)?;
    tmp.file.write_all(data).with_context(|| format!("writing {}", path.display()))?;
    tmp.persist()
}

/// [`write_atomic`] for a file read earlier as `original` without a lock held since
/// (batch `rotate`/`updatekeys`): under the file's lock, refuse if it changed meanwhile.
pub fn write_atomic_unchanged(path: &Path, original: &[u8], data: &[u8]) -> Result<()> {
    let _lock = UpdateLock::acquire(path)?;
    let now = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if now != original {
        return Err(crate::exit::fail(
            codes::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("{} changed while tresor was updating it; nothing written, run the command again", path.display()),
        ));
    }
    write_atomic(path, data, 0o644)
}

/// The file a write to `path` replaces: a symlink is followed to the file it names, as
/// sops writes through links (replacing the link would leave the real file as it was).
pub fn write_target(path: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
            .with_context(|| format!("{} is a symbolic link to a file that does not exist", path.display())),
        _ => Ok(path.to_path_buf()),
    }
}

/// Refuse to replace a file when replacing it would lose something: a read-only file
/// (sops refuses to write it too), a file with other hard links (they would keep the old
/// content), anything but a regular file. Returns the mode to keep.
fn replaceable(target: &Path, new_mode: u32) -> Result<u32> {
    let m = match fs::metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(new_mode),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", target.display()))),
        Ok(m) => m,
    };
    let refuse = |why: String| {
        Err(crate::exit::fail(
            codes::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("{}: {why}; nothing written", target.display()),
        ))
    };
    if !m.is_file() {
        return refuse("not a regular file".into());
    }
    let mode = permissions_mode(&m);
    if mode & 0o222 == 0 {
        return refuse("the file is read-only (make it writable first if you mean to replace it)".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if m.nlink() > 1 {
            return refuse(format!(
                "the file has {} hard links, which would keep the old content; copy it to break the link first",
                m.nlink()
            ));
        }
    }
    Ok(mode)
}

/// A new version of a file, written beside it and put in its place only by
/// [`Replacement::persist`]. On Linux it is an unnamed file (`O_TMPFILE`) until the moment
/// it replaces the target, so a crash or `kill -9` part-way leaves nothing behind; else a
/// `.tresor-PID-…` file that signal handlers and later runs remove.
pub struct Replacement {
    pub file: fs::File,
    target: PathBuf,
    dir: PathBuf,
    named: Option<PathBuf>,
}

impl Replacement {
    pub fn beside(path: &Path, new_mode: u32) -> Result<Replacement> {
        let target = write_target(path)?;
        let mode = replaceable(&target, new_mode)?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_stale_temps(&dir);
        let (file, named) = match unnamed_in(&dir) {
            Some(f) => (f, None),
            None => {
                let name = dir.join(temp_name());
                let f = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&name)
                    .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
                crate::signals::register(&name);
                (f, Some(name))
            }
        };
        set_mode(&file, mode)?;
        Ok(Replacement { file, target, dir, named })
    }

    /// fsync, put the file in the target's place, fsync the directory.
    pub fn persist(mut self) -> Result<()> {
        let what = || format!("replacing {}", self.target.display());
        self.file.sync_all().with_context(what)?;
        let name = match self.named.take() {
            Some(n) => n,
            None => {
                let name = self.dir.join(temp_name());
                let fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&self.file));
                rustix::fs::linkat(
                    rustix::fs::CWD,
                    fd.as_str(),
                    rustix::fs::CWD,
                    &name,
                    rustix::fs::AtFlags::SYMLINK_FOLLOW,
                )
                .map_err(std::io::Error::from)
                .with_context(what)?;
                crate::signals::register(&name);
                name
            }
        };
        let renamed = fs::rename(&name, &self.target);
        if renamed.is_err() {
            let _ = fs::remove_file(&name);
        }
        crate::signals::unregister(&name);
        renamed.with_context(what)?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if let Some(n) = self.named.take() {
            let _ = fs::remove_file(&n);
            crate::signals::unregister(&n);
        }
    }
}

/// An unnamed file in `dir` (Linux `O_TMPFILE`), or `None` where the file system or
/// kernel has none (then a named temporary file is used).
fn unnamed_in(dir: &Path) -> Option<fs::File> {
    use rustix::fs::{Mode, OFlags};
    #[cfg(target_os = "linux")]
    {
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        let fd =
            rustix::fs::open(dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, Mode::from_raw_mode(0o600)).ok()?;
        Some(fs::File::from(fd))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (dir, Mode::empty(), OFlags::empty());
        None
    }
}

fn temp_name() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!(".tresor-{}-{n}-{nanos:08x}.tmp", std::process::id())
}

/// Remove `.tresor-PID-….tmp` files left in `dir` by runs that no longer exist (killed
/// where no handler could run). Files of live processes are left alone. Each directory is
/// swept once per run: batch commands replace many files in one directory.
pub fn remove_stale_temps(dir: &Path) {
    static SWEPT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    match SWEPT.lock() {
        Ok(mut swept) if !swept.iter().any(|d| d == dir) => swept.push(dir.to_path_buf()),
        _ => return,
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".tresor-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let alive = rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| !matches!(rustix::process::test_kill_process(p), Err(rustix::io::Errno::SRCH)));
        if !alive && rest.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// An exclusive advisory lock (`flock`) on a file for a read-modify-write, so concurrent
/// `set`/`edit`/`encrypt -i`/`rotate`/`updatekeys` on one file take turns instead of
/// losing each other's updates. The file may be replaced while we wait for the lock: we
/// lock again until the lock is on the file the path names.
pub struct UpdateLock {
    /// The locked file; none while the file does not exist yet (nothing to serialise).
    _file: Option<fs::File>,
}

impl UpdateLock {
    pub fn acquire(path: &Path) -> Result<UpdateLock> {
        use std::os::unix::fs::MetadataExt;
        let target = write_target(path)?;
        loop {
            let file = match fs::File::open(&target) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UpdateLock { _file: None }),
                Err(e) => return Err(anyhow::Error::new(e).context(format!("opening {}", target.display()))),
            };
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
                .map_err(std::io::Error::from)
                .with_context(|| format!("locking {}", target.display()))?;
            let (held, now) = (file.metadata()?, fs::metadata(&target));
            if now.is_ok_and(|n| n.ino() == held.ino() && n.dev() == held.dev()) {
                return Ok(UpdateLock { _file: Some(file) });
            }
        }
    }
}

#[cfg(unix)]
fn permissions_mode(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions_mode(_: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
pub fn set_mode(f: &fs::File, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode)).context("setting file mode")
}

#[cfg(not(unix))]
pub fn set_mode(_: &fs::File, _: u32) -> Result<()> {
    Ok(())
}

/// Where the plaintext goes: stdout, a file (`--output`), or the input itself (`-i`).
pub enum Sink {
    Stdout,
    File(PathBuf),
}

impl Sink {
    pub fn write(&self, data: &str, new_mode: u32) -> Result<()> {
        self.write_bytes(data.as_bytes(), new_mode)
    }

    pub fn write_bytes(&self, data: &[u8], new_mode: u32) -> Result<()> {
        match self {
            Sink::Stdout => write_stdout(data),
            Sink::File(p) => write_atomic(p, data, new_mode),
        }
    }

    /// Produce the output with `write` and deliver it once the library's check of the
    /// finished output ([`Expected::check`]) passes: a file gets a temporary file beside it
    /// that replaces it only then; stdout gets everything at the end, or as it comes once
    /// the output is larger than [`HOLD_BACK`] (then it cannot be checked before release).
    pub fn stream<E>(&self, new_mode: u32, write: impl FnOnce(&mut dyn Write) -> Result<Verification, E>) -> Result<()>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        self.deliver(new_mode, HOLD_BACK, write)
    }

    /// Like [`Sink::stream`] for output whose MAC is already verified: stdout gets it as
    /// it comes, with nothing held back (a file is still checked before it replaces).
    pub fn stream_verified<E>(
        &self,
        new_mode: u32,
        write: impl FnOnce(&mut dyn Write) -> Result<Verification, E>,
    ) -> Result<()>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        self.deliver(new_mode, 0, write)
    }

    fn deliver<E>(
        &self,
        new_mode: u32,
        hold_back: usize,
        write: impl FnOnce(&mut dyn Write) -> Result<Verification, E>,
    ) -> Result<()>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        match self {
            Sink::Stdout => {
                // Reserved, not touched: pages are only committed as output arrives, and
                // the buffer never has to be copied to grow.
                let mut held = HeldStdout {
                    buf: Vec::with_capacity(hold_back.max(CHUNK) + CHUNK),
                    limit: hold_back,
                    streamed: false,
                };
                let verification = write(&mut held)?;
                if !held.streamed {
                    verification.check(&held.buf)?;
                }
                write_stdout(&held.buf)
            }
            Sink::File(path) => {
                let mut tmp = Replacement::beside(path, new_mode)?;
                let mut w = std::io::BufWriter::with_capacity(CHUNK, &mut tmp.file);
                let verification = write(&mut w)?;
                w.flush().with_context(|| format!("writing {}", path.display()))?;
                drop(w);
                check_file(&tmp.file, verification).with_context(|| format!("writing {}", path.display()))?;
                tmp.persist()
            }
        }
    }
}

/// Standard output held back until this much is written, so that an error part-way
/// through leaves nothing on stdout for any realistic file; beyond it, output streams.
pub const HOLD_BACK: usize = 64 << 20;

/// Size of the writes once output streams.
const CHUNK: usize = 1 << 20;

/// Check a finished temporary file, read back through a memory map (no second copy),
/// unless it was checked while it was written.
#[allow(unsafe_code)] // a memory map or a libc call; see the SAFETY comment inside
fn check_file(f: &fs::File, verification: Verification) -> Result<()> {
    let Verification::Pending(expected) = verification else { return Ok(()) };
    if f.metadata()?.len() == 0 {
        return Ok(expected.check(b"")?);
    }
    // SAFETY: the file is our private temporary file, not yet visible under its final
    // name; nothing else truncates it while the map is alive.
    let map = unsafe { memmap2::Mmap::map(f) }.context("reading the output back")?;
    Ok(expected.check(&map)?)
}

/// Stdout that keeps output until `limit` bytes, then passes it on in [`CHUNK`] writes.
struct HeldStdout {
    buf: Vec<u8>,
    limit: usize,
    /// Output went out before it was complete (too large to hold back).
    streamed: bool,
}

impl Write for HeldStdout {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() > self.limit.max(CHUNK) {
            self.limit = 0;
            self.streamed = true;
            ignore_broken_pipe(std::io::stdout().lock().write_all(&self.buf))?;
            self.buf.clear();
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_stdout(data: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    ignore_broken_pipe(out.write_all(data).and_then(|_| out.flush())).context("writing standard output")
}

fn ignore_broken_pipe(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// A private directory for plaintext that must exist as a file briefly (`edit`,
/// `exec-file`): on tmpfs (`/dev/shm`, else `$XDG_RUNTIME_DIR`) so it never reaches a disk,
/// mode 0700, removed on drop and by the signal handlers. Without a usable tmpfs this is
/// an error, not a silent fallback to disk: `TRESOR_TMPDIR=DIR` names a directory to use
/// anyway.
pub fn private_tempdir() -> Result<tempfile::TempDir> {
    // A copy left by a tresor that was killed (SIGKILL, power loss of a VM with a
    // persistent /dev/shm) goes now, before another is made.
    sweep_stale();
    let mut b = tempfile::Builder::new();
    b.prefix(PRIVATE_PREFIX);
    let dir = if let Some(d) = std::env::var_os("TRESOR_TMPDIR") {
        b.tempdir_in(&d)
            .with_context(|| format!("creating a private directory in TRESOR_TMPDIR={}", Path::new(&d).display()))?
    } else {
        let candidates = [Some(PathBuf::from("/dev/shm")), std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)];
        candidates.into_iter().flatten().find_map(|d| b.tempdir_in(d).ok()).ok_or_else(|| {
            crate::exit::fail(
                codes::COULD_NOT_WRITE_OUTPUT_FILE,
                "no tmpfs to hold the plaintext (/dev/shm and $XDG_RUNTIME_DIR are unusable); \
                 set TRESOR_TMPDIR=DIR to use DIR anyway (it may reach a disk)",
            )
        })?
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))?;
    }
    crate::signals::register(dir.path());
    // Who owns the copy, so a later run can tell a live edit from a killed one.
    fs::write(dir.path().join(OWNER_FILE), owner_record(std::process::id()).unwrap_or_default())?;
    Ok(dir)
}

/// The private directories' name prefix.
const PRIVATE_PREFIX: &str = "tresor-edit-";
/// Inside each: `pid pid-namespace start-time` of the tresor process that made it.
const OWNER_FILE: &str = ".tresor-owner";

/// `pid pid-namespace start-time` of a live process, from /proc; `None` when it is gone.
/// The start time tells a reused pid from the owner; the namespace keeps a tresor in
/// another container sharing the tmpfs from judging pids it cannot see.
fn owner_record(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime) counts from after the parenthesised command name.
    let after = &stat[stat.rfind(')')? + 1..];
    let start = after.split_whitespace().nth(19)?;
    let ns = fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{pid} {} {start}\n", ns.display()))
}

/// The tmpfs directories tresor makes private copies in.
fn private_roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/dev/shm")];
    roots.extend(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from));
    roots.extend(std::env::var_os("TRESOR_TMPDIR").map(PathBuf::from));
    roots
}

/// Remove the private copies whose tresor process is gone: overwritten, then deleted.
/// Only directories this user owns, with an owner record from this pid namespace, are
/// judged; anything else is left alone. Returns what was removed.
pub fn sweep_stale() -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Some(ns) = fs::read_link("/proc/self/ns/pid").ok().map(|p| p.display().to_string()) else {
        return removed;
    };
    for root in private_roots() {
        let Ok(entries) = fs::read_dir(&root) else { continue };
        for e in entries.flatten() {
            if !e.file_name().to_str().is_some_and(|n| n.starts_with(PRIVATE_PREFIX)) {
                continue;
            }
            let dir = e.path();
            let Ok(meta) = fs::symlink_metadata(&dir) else { continue };
            #[cfg(unix)]
            let mine = {
                use std::os::unix::fs::MetadataExt;
                meta.uid() == my_uid()
            };
            #[cfg(not(unix))]
            let mine = true;
            if !meta.is_dir() || !mine {
                continue;
            }
            let Ok(record) = fs::read_to_string(dir.join(OWNER_FILE)) else { continue };
            let mut f = record.split_whitespace();
            let (Some(pid), Some(rec_ns), Some(_)) = (f.next(), f.next(), f.next()) else { continue };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if rec_ns != ns {
                continue;
            }
            if owner_record(pid).as_deref() == Some(record.as_str()) {
                continue; // still running
            }
            if let Ok(files) = fs::read_dir(&dir) {
                for f in files.flatten() {
                    crate::cmd::crypt::shred(&f.path());
                }
            }
            if fs::remove_dir_all(&dir).is_ok() {
                removed.push(dir);
            }
        }
    }
    removed
}

/// This process's user id, read from /proc (no libc call needed).
#[cfg(unix)]
fn my_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}
