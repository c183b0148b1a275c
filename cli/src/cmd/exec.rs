//! exec-env / exec-file: hand secrets to a child process without writing them to disk.

use std::process::Command;
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_sops::DecryptOptions;

use super::crypt::{decrypt_text, display, input_store, open_encrypted};
use crate::args::{ExecEnvArgs, ExecFileArgs};
use crate::exit::fail;

/// Run `cmd`; with a masker, its stdout and stderr pass through it (streaming, on two
/// threads) instead of going straight to ours.
fn run(mut cmd: Command, masker: Option<tresor_scan::mask::Masker>) -> std::io::Result<std::process::ExitStatus> {
    let Some(masker) = masker else { return cmd.status() };
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn()?;
    let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let status = std::thread::scope(|s| {
        let m = &masker;
        s.spawn(move || m.stream(out, std::io::stdout()));
        s.spawn(move || m.stream(err, std::io::stderr()));
        child.wait()
    })?;
    Ok(status)
}

/// Every string (and number) leaf of the data: the values a masker hides.
fn leaves(v: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    match v {
        serde_json::Value::String(s) => out.push(s.as_bytes().to_vec()),
        serde_json::Value::Number(n) => out.push(n.to_string().into_bytes()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}

fn masker_for(values: &[Vec<u8>]) -> Option<tresor_scan::mask::Masker> {
    tresor_scan::mask::Masker::new(values.iter().map(Vec::as_slice))
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0))
}

pub(crate) fn exec_env(a: ExecEnvArgs) -> Result<i32> {
    let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
    let (d, _, _) = decrypt_text(&o, DecryptOptions::default(), &display(Some(&a.file)))?;
    let data = o.store.data(&d.bytes)?;
    let serde_json::Value::Object(map) = data else {
        return Err(fail(codes::ERROR_GENERIC, "the file's top level is not a mapping"));
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&a.command);
    if a.pristine {
        cmd.env_clear();
    }
    for (k, v) in &map {
        let val = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
            _ => {
                return Err(fail(
                    codes::ERROR_GENERIC,
                    format!(
                        "cannot use complex value '{k}' as an environment variable; exec-env takes top-level scalars"
                    ),
                ))
            }
        };
        cmd.env(k, val);
    }
    let masker = if a.mask {
        let mut values = Vec::new();
        leaves(&serde_json::Value::Object(map.clone()), &mut values);
        masker_for(&values)
    } else {
        None
    };
    let status = run(cmd, masker).with_context(|| format!("running '{}'", a.command))?;
    Ok(exit_code_of(status))
}

pub(crate) fn exec_file(a: ExecFileArgs) -> Result<i32> {
    let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
    let (d, _, _) = decrypt_text(&o, DecryptOptions::default(), &display(Some(&a.file)))?;
    let out_store = match &a.output_type {
        Some(t) => input_store(Some(t), None, None)?,
        None => o.store,
    };
    // The values to mask, read from the decrypted file before any conversion (a file whose
    // data cannot be read, e.g. binary bytes, is masked whole).
    let masker = if a.mask {
        let mut values = Vec::new();
        match o.store.data(&d.bytes) {
            Ok(data) => leaves(&data, &mut values),
            Err(_) => values.push(d.bytes.to_vec()),
        }
        masker_for(&values)
    } else {
        None
    };
    let text = if out_store.name() == o.store.name() {
        d.bytes
    } else {
        zeroize::Zeroizing::new(out_store.emit(&o.store.data(&d.bytes)?)?)
    };
    let dir = crate::fileio::private_tempdir()?;
    let name = a.filename.clone().unwrap_or_else(|| {
        a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "secret".into())
    });
    let path = dir.path().join(&name);
    let command = a.command.replace("{}", &shell_quote(&path.to_string_lossy()));
    let shell = |c: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(c);
        cmd
    };
    let status = if a.no_fifo {
        super::crypt::write_private(&path, &text)?;
        let st = run(shell(&command), masker);
        super::crypt::shred(&path);
        st
    } else {
        make_fifo(&path)?;
        // The writer blocks until the child opens the FIFO; a reader that never opens it
        // leaves the writer parked, which ends with this process.
        let p = path.clone();
        let payload = text.clone();
        let writer = std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
                use std::io::Write;
                let _ = f.write_all(&payload);
            }
        });
        let st = run(shell(&command), masker);
        // Unblock the writer if the child never read the FIFO.
        if !writer.is_finished() {
            let _ = std::fs::File::open(&path);
        }
        let _ = writer.join();
        st
    };
    let status = status.with_context(|| format!("running '{}'", a.command))?;
    drop(dir);
    Ok(exit_code_of(status))
}

#[allow(unsafe_code)] // a memory map or a libc call; see the SAFETY comment inside
fn make_fifo(path: &std::path::Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).context("path contains NUL")?;
    // SAFETY: `c` is a valid NUL-terminated path; mkfifo does not retain it.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a FIFO for the plaintext");
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
