//! SIGINT/SIGTERM/SIGHUP: remove the temporary files and directories that may hold
//! plaintext or half-written output, then exit with 128 + the signal number.
//!
//! A handler thread (signal-hook) does the work, so it may take the registry's lock.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remove `path` (a file, or a directory with its contents) if a signal ends the run.
pub fn register(path: &Path) {
    if let Ok(mut p) = PATHS.lock() {
        p.push(path.to_path_buf());
    }
}

/// `path` is gone or in its final place: a signal must no longer remove it.
pub fn unregister(path: &Path) {
    if let Ok(mut p) = PATHS.lock() {
        p.retain(|q| q != path);
    }
}

/// Start the handler thread. Call once, early in `main`.
pub fn install() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let paths = PATHS.lock().map(|p| p.clone()).unwrap_or_default();
            for p in paths {
                if p.is_dir() {
                    for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                        crate::cmd::crypt::shred(&e.path());
                    }
                    let _ = std::fs::remove_dir_all(&p);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
            std::process::exit(128 + sig);
        }
    });
}
