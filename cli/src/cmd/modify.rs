//! set / unset: change one value, keep every other ciphertext byte as it was.

use std::io::Read;
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_sops::{convert, edit, DecryptOptions, EncryptOptions};

use super::crypt::{decrypt_text, display, document_format, open_encrypted};
use crate::args::{SetArgs, UnsetArgs};
use crate::exit::fail;
use crate::fileio;

fn reencrypt(
    file: &std::path::Path,
    o: &super::crypt::Opened,
    new_plain: &str,
    d: &tresor_sops::store::Plain,
    mut meta: tresor_sops::Metadata,
    key: &tresor_sops::DataKey,
) -> Result<()> {
    meta.layout = None;
    let out = o
        .store
        .encrypt(new_plain.as_bytes(), key, meta, &EncryptOptions { stash: Some(&d.stash) })
        .with_context(|| format!("re-encrypting {}", file.display()))?;
    fileio::write_atomic(file, &out, 0o644)
}

pub(crate) fn set(a: SetArgs) -> Result<i32> {
    let raw = match (&a.value, a.value_stdin, &a.value_file) {
        (Some(v), _, _) => zeroize::Zeroizing::new(v.clone()),
        (None, true, _) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the value from standard input")?;
            zeroize::Zeroizing::new(s)
        }
        (None, false, Some(p)) => {
            zeroize::Zeroizing::new(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        (None, false, None) => return Err(fail(codes::ERROR_GENERIC, "give a VALUE, --value-stdin or --value-file")),
    };
    let value: serde_json::Value = if a.raw {
        serde_json::Value::String(raw.trim_end_matches('\n').to_string())
    } else {
        serde_json::from_str(&raw).map_err(|e| {
            fail(
                codes::ERROR_GENERIC,
                format!("the value is not valid JSON ({e}); quote strings as '\"text\"' or use --raw"),
            )
        })?
    };
    let path = convert::parse_path(&a.path)?;
    let _lock = fileio::UpdateLock::acquire(&a.file)?;
    let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
    let format = document_format(o.store, &display(Some(&a.file)), "set")?;
    let (d, meta, key) =
        decrypt_text(&o, DecryptOptions { ignore_mac: a.ignore_mac, keep_ivs: true }, &display(Some(&a.file)))?;
    let new_plain = zeroize::Zeroizing::new(edit::set(d.text()?, format, &path, &value)?);
    reencrypt(&a.file, &o, &new_plain, &d, meta, &key)?;
    Ok(0)
}

pub(crate) fn unset(a: UnsetArgs) -> Result<i32> {
    let path = convert::parse_path(&a.path)?;
    let _lock = fileio::UpdateLock::acquire(&a.file)?;
    let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
    let format = document_format(o.store, &display(Some(&a.file)), "unset")?;
    let (d, meta, key) =
        decrypt_text(&o, DecryptOptions { ignore_mac: a.ignore_mac, keep_ivs: true }, &display(Some(&a.file)))?;
    let new_plain = match edit::unset(d.text()?, format, &path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(tresor_sops::SopsError::PathNotFound(_)) if a.idempotent => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    reencrypt(&a.file, &o, &new_plain, &d, meta, &key)?;
    Ok(0)
}
