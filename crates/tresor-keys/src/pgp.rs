//! PGP keys through the `gpg` binary, as sops uses them: the user's keyring, gpg-agent,
//! smartcards and pinentry all work as they do for sops. `SOPS_GPG_EXEC` names another
//! program (sops reads the same variable).

use std::io::Write;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use tresor_sops::file::now_rfc3339;
use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;
use crate::service::{required, KeyFailure, KeyService};

fn gpg() -> String {
    std::env::var("SOPS_GPG_EXEC").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "gpg".into())
}

/// Run gpg with `input` on stdin; stdout, or why it failed (gpg's own first error line:
/// gpg never prints plaintext on stderr).
fn run(args: &[&str], input: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
    let exe = gpg();
    let mut child = Command::new(&exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyFailure::GpgMissing(format!(
                "PGP keys need gpg, and '{exe}' was not found (install GnuPG, or set SOPS_GPG_EXEC to its path)"
            )),
            _ => KeyFailure::GpgMissing(format!("cannot run '{exe}': {e}")),
        })?;
    // Write on another thread: gpg may fill its stdout pipe before reading all of stdin.
    let mut stdin = child.stdin.take().expect("piped");
    let data = Zeroizing::new(input.to_vec());
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().map_err(|e| KeyFailure::Gpg(format!("waiting for '{exe}': {e}")))?;
    let _ = writer.join();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.contains("failed") || l.contains("No secret key") || l.contains("skipped"))
            .or_else(|| err.lines().last())
            .unwrap_or("no message")
            .trim()
            .to_string();
        return Err(KeyFailure::Gpg(format!("{exe} failed ({}): {line}", out.status)));
    }
    Ok(Zeroizing::new(out.stdout))
}

/// Encrypt a data key (or Shamir share) to the key with this fingerprint, armored as sops
/// writes it.
pub fn wrap(fingerprint: &str, payload: &[u8]) -> Result<String, KeyFailure> {
    let fp = fingerprint.trim();
    if fp.is_empty() || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(KeyFailure::Other(format!("'{fp}' is not a PGP key fingerprint (hexadecimal)")));
    }
    let out = run(
        &[
            "--batch",
            "--quiet",
            "--no-encrypt-to",
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "--recipient",
            fp,
        ],
        payload,
    )?;
    String::from_utf8(out.to_vec()).map_err(|_| KeyFailure::Gpg("gpg wrote armor that is not text".into()))
}

/// Decrypt an armored data key with whatever secret key gpg holds for it.
pub fn unwrap(enc: &str) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
    run(&["--quiet", "--decrypt"], enc.as_bytes())
}

/// The fingerprints of the secret keys gpg holds (for `tresor doctor`), or why gpg cannot
/// be asked.
pub fn secret_keys() -> Result<Vec<String>, String> {
    let out = run(&["--batch", "--with-colons", "--list-secret-keys"], b"").map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    // A `fpr` line follows each `sec` (primary) and `ssb` (subkey) line; report the keys.
    let mut fps = Vec::new();
    let mut after_sec = false;
    for line in text.lines() {
        if line.starts_with("sec:") {
            after_sec = true;
        } else if line.starts_with("fpr:") && after_sec {
            if let Some(fp) = line.split(':').nth(9) {
                fps.push(fp.to_string());
            }
            after_sec = false;
        }
    }
    Ok(fps)
}

/// PGP as a key service (`pgp` entries), through gpg.
pub struct PgpService;

impl KeyService for PgpService {
    fn kind(&self) -> &'static str {
        "pgp"
    }

    fn parse(&self, text: &str) -> Result<String, KeyError> {
        Ok(text.trim().to_ascii_uppercase())
    }

    fn id_of(&self, key: &MasterKey) -> Option<String> {
        key.get("fp").map(|fp| fp.trim().to_ascii_uppercase())
    }

    fn wrap(&self, id: &str, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        let created_at = now_rfc3339();
        payloads
            .iter()
            .map(|p| {
                let enc = wrap(id, p).map_err(|e| KeyError::wrap(format!("pgp {id}"), e.into()))?;
                // sops' field order for a PGP entry.
                Ok(MasterKey::new("pgp", &[("created_at", &created_at), ("enc", &enc), ("fp", id)]))
            })
            .collect()
    }

    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        unwrap(required(key, "enc")?)
    }
}
