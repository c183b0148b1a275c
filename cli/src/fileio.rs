//! Reading inputs and writing outputs safely: in-place writes go to a temporary file
//! beside the target, are fsynced, keep the file's mode, and replace it atomically.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tresor_sops::Verification;

/// Input larger than this is refused: sops files are configuration, and the limit keeps
/// a mistaken `tresor encrypt /dev/zero` from exhausting memory.
pub const MAX_INPUT: u64 = 1 << 30;

pub fn read_input(path: Option<&Path>) -> Result<String> {
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
            f.take(MAX_INPUT + 1).read_to_end(&mut buf).with_context(|| format!("reading {}", p.display()))?;
        }
    }
    if buf.len() as u64 > MAX_INPUT {
        return Err(crate::exit::fail(2, format!("input is larger than {} MiB", MAX_INPUT >> 20)));
    }
    String::from_utf8(buf).map_err(|e| {
        crate::exit::fail(
            2,
            format!(
                "input is not valid UTF-8 (byte {}); YAML and JSON files must be UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Write `data` to `path` atomically, keeping the mode of an existing file (or using
/// `new_mode` for a new one).
pub fn write_atomic(path: &Path, data: &[u8], new_mode: u32) -> Result<()> {
    let (mut tmp, dir) = temp_beside(path, new_mode)?;
    tmp.write_all(data).with_context(|| format!("writing {}", path.display()))?;
    persist(tmp, path, &dir)
}

/// A temporary file in `path`'s directory, with the mode of the file it will replace.
fn temp_beside(path: &Path, new_mode: u32) -> Result<(tempfile::NamedTempFile, PathBuf)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = fs::metadata(path).map(|m| permissions_mode(&m)).unwrap_or(new_mode);
    let tmp = tempfile::Builder::new()
        .prefix(".tresor-")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    set_mode(tmp.as_file(), mode)?;
    Ok((tmp, dir))
}

/// fsync the temporary file, rename it over `path`, fsync the directory.
fn persist(tmp: tempfile::NamedTempFile, path: &Path, dir: &Path) -> Result<()> {
    tmp.as_file().sync_all().with_context(|| format!("syncing {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("replacing {}", path.display()))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
        match self {
            Sink::Stdout => write_stdout(data.as_bytes()),
            Sink::File(p) => write_atomic(p, data.as_bytes(), new_mode),
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
                let (mut tmp, dir) = temp_beside(path, new_mode)?;
                let mut w = std::io::BufWriter::with_capacity(CHUNK, tmp.as_file_mut());
                let verification = write(&mut w)?;
                w.flush().with_context(|| format!("writing {}", path.display()))?;
                drop(w);
                check_file(tmp.as_file(), verification).with_context(|| format!("writing {}", path.display()))?;
                persist(tmp, path, &dir)
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

/// A private directory for plaintext that must exist on disk briefly (`edit`): on tmpfs
/// (`/dev/shm`) when available so it never reaches a disk, mode 0700, removed on drop.
pub fn private_tempdir() -> Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("tresor-edit-");
        b
    };
    let dir = if shm.is_dir() { builder.tempdir_in(shm).or_else(|_| builder.tempdir()) } else { builder.tempdir() }
        .context("creating a private temporary directory")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}
