//! encrypt, decrypt, edit, filestatus, keygen.

use std::path::{Path, PathBuf};
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_format::Format;
use tresor_keys::{sops_compatibility, wrap_groups};
use tresor_sops::convert;
use tresor_sops::store::{self, Plain, Store};
use tresor_sops::{DataKey, DecryptOptions, EncryptOptions, Metadata};
use zeroize::Zeroizing;

use crate::args::*;
use crate::exit::fail;
use crate::fileio::{self, Sink};
use crate::keys;

pub(crate) fn input_path(io: &IoArgs) -> Option<&Path> {
    io.file.as_deref().filter(|p| p.as_os_str() != "-")
}

/// The store from `--input-type`, else the file name (or `--filename-override`), as sops
/// picks it (an unknown extension is the binary store).
pub(crate) fn input_store(
    explicit: Option<&str>,
    path: Option<&Path>,
    override_name: Option<&Path>,
) -> Result<&'static dyn Store> {
    let name = override_name.or(path).map(|p| p.to_string_lossy().into_owned());
    store::detect(explicit, name.as_deref()).map_err(|e| fail(codes::ERROR_GENERIC, e.to_string()))
}

fn output_store(io: &IoArgs, input: &'static dyn Store) -> Result<&'static dyn Store> {
    match &io.output_type {
        Some(t) => store::detect(Some(t), None).map_err(|e| fail(codes::ERROR_GENERIC, e.to_string())),
        None => Ok(input),
    }
}

/// The document format of a store that has one (set, unset, merge), else an error naming
/// the store.
pub(crate) fn document_format(store: &dyn Store, what: &str, op: &str) -> Result<Format> {
    store.document_format().ok_or_else(|| {
        fail(
            codes::ERROR_GENERIC,
            format!("{op} works on YAML and JSON files; {what} is read as a {} file", store.name()),
        )
    })
}

fn sink(io: &IoArgs) -> Result<Sink> {
    if io.in_place {
        let p = input_path(io)
            .ok_or_else(|| fail(codes::ERROR_CONFLICTING_PARAMETERS, "--in-place needs a file, not standard input"))?;
        Ok(Sink::File(p.to_path_buf()))
    } else if let Some(o) = &io.output {
        Ok(Sink::File(o.clone()))
    } else {
        Ok(Sink::Stdout)
    }
}

/// With `-i`, hold the file's update lock from reading it to replacing it.
fn lock_in_place(io: &IoArgs) -> Result<Option<fileio::UpdateLock>> {
    match input_path(io) {
        Some(p) if io.in_place => Ok(Some(fileio::UpdateLock::acquire(p)?)),
        _ => Ok(None),
    }
}

pub(crate) fn display(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_else(|| "standard input".into())
}

pub(crate) fn encrypt(a: EncryptArgs) -> Result<i32> {
    let path = input_path(&a.io);
    let store = input_store(a.io.input_type.as_deref(), path, a.io.filename_override.as_deref())?;
    let out_store = output_store(&a.io, store)?;
    if out_store.name() != store.name() {
        return Err(fail(
            codes::ERROR_CONFLICTING_PARAMETERS,
            "encrypt keeps the input format; convert the plaintext first",
        ));
    }
    let _lock = lock_in_place(&a.io)?;
    let mut src = fileio::read_bytes(path)?;
    if a.expand_aliases {
        src = expand_aliases(&src, store, path)?;
    }
    let plan = keys::plan_for(path.or(a.io.filename_override.as_deref()), &a.keys)?;
    let key = DataKey::generate();
    let meta = new_metadata(&plan, &key)?;
    sink(&a.io)?
        .stream(0o644, |out| store.encrypt_to(&src, &key, meta, &EncryptOptions::default(), out))
        .with_context(|| format!("encrypting {}", display(path)))?;
    Ok(0)
}

/// `--expand-aliases`: the plaintext with every alias replaced by a copy, each replacement
/// named on stderr (line numbers only: the values may be secrets).
fn expand_aliases(src: &[u8], store: &dyn Store, path: Option<&Path>) -> Result<Vec<u8>> {
    if store.name() != "yaml" {
        return Err(fail(
            codes::ERROR_CONFLICTING_PARAMETERS,
            "--expand-aliases is for YAML files (only YAML has aliases)",
        ));
    }
    let text =
        std::str::from_utf8(src).map_err(|_| fail(codes::COULD_NOT_READ_INPUT_FILE, "the input is not UTF-8 text"))?;
    let out = tresor_format::expand::expand_aliases(text).map_err(|e| {
        fail(codes::COULD_NOT_READ_INPUT_FILE, format!("expanding the aliases of {}: {e}", display(path)))
    })?;
    for e in &out.expansions {
        eprintln!(
            "tresor: line {}: *{} replaced by a copy of line {} ({} line{})",
            e.line,
            tresor_format::printable::printable(&e.name, false),
            e.from_line,
            e.lines,
            if e.lines == 1 { "" } else { "s" }
        );
    }
    if !out.expansions.is_empty() {
        eprintln!("tresor: {} alias(es) expanded; decrypting gives the expanded file", out.expansions.len());
    }
    Ok(out.text.into_bytes())
}

/// Metadata for a new file: the data key wrapped for the plan's groups.
pub(crate) fn new_metadata(plan: &keys::Plan, key: &DataKey) -> Result<Metadata> {
    if let Some(w) = sops_compatibility(&plan.groups, plan.threshold) {
        eprintln!("tresor: warning: {w}");
    }
    let n = plan.groups.len();
    Ok(Metadata {
        key_groups: wrap_groups(&plan.groups, plan.threshold, key)?,
        shamir_threshold: if n > 1 {
            if plan.threshold == 0 {
                n
            } else {
                plan.threshold
            }
        } else {
            0
        },
        rule: plan.rule.clone(),
        mac_only_encrypted: plan.mac_only_encrypted,
        owner: plan.owner.clone(),
        ..Metadata::default()
    })
}

/// An input file and the store that reads it.
pub(crate) struct Opened {
    pub src: Vec<u8>,
    pub store: &'static dyn Store,
}

impl Opened {
    /// The file as text, for views that show it as it is (binary bytes replaced).
    pub fn text_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.src)
    }
}

pub(crate) fn open_encrypted(
    path: Option<&Path>,
    input_type: Option<&str>,
    override_name: Option<&Path>,
) -> Result<Opened> {
    let store = input_store(input_type, path, override_name)?;
    let src = fileio::read_bytes(path)?;
    Ok(Opened { src, store })
}

/// Decrypt an opened file with the keys found here: its metadata, the data key it wraps,
/// and the plaintext.
pub(crate) fn decrypt_text(o: &Opened, opts: DecryptOptions, what: &str) -> Result<(Plain, Metadata, DataKey)> {
    let (d, meta, key) = tresor_keys::open::decrypt(o.store, &o.src, &tresor_keys::Keyring::new(), opts)
        .map_err(|e| in_context(e, what))?;
    print_warnings(what, &d.warnings);
    Ok((d, meta, key))
}

/// The metadata of an opened file and the data key it wraps.
fn open_key(o: &Opened, what: &str) -> Result<(Metadata, DataKey)> {
    tresor_keys::open::key(o.store, &o.src, &tresor_keys::Keyring::new()).map_err(|e| in_context(e, what))
}

/// An open error with the step it failed at, its typed cause kept for exit codes and hints.
fn in_context(e: tresor_keys::open::OpenError, what: &str) -> anyhow::Error {
    use tresor_keys::open::OpenError;
    match e {
        OpenError::Read(e) => anyhow::Error::new(e).context(format!("reading {what}")),
        OpenError::Key(e) => anyhow::Error::new(e).context(format!("decrypting {what}")),
        OpenError::Decrypt(e) => anyhow::Error::new(e).context(format!("decrypting {what}")),
    }
}

fn print_warnings(what: &str, warnings: &[String]) {
    for w in warnings {
        eprintln!("tresor: warning: {what}: {w}");
    }
}

pub(crate) fn decrypt(a: DecryptArgs) -> Result<i32> {
    let path = input_path(&a.io);
    let _lock = lock_in_place(&a.io)?;
    let o = open_encrypted(path, a.io.input_type.as_deref(), a.io.filename_override.as_deref())?;
    let out_store = output_store(&a.io, o.store)?;
    let converting = out_store.name() != o.store.name();
    let opts = DecryptOptions { ignore_mac: a.ignore_mac, keep_ivs: false };
    if a.extract.is_none() && !converting && o.src.len() > fileio::HOLD_BACK {
        if let Some(done) = decrypt_large(&a, &o, opts)? {
            return Ok(done);
        }
    }
    let (d, _, _) = decrypt_text(&o, opts, &display(path))?;
    let bytes: Zeroizing<Vec<u8>> = if let Some(expr) = &a.extract {
        let segs = convert::parse_path(expr)?;
        let data = o.store.data(&d.bytes)?;
        let v = convert::extract(&data, &segs)
            .ok_or_else(|| fail(codes::ERROR_GENERIC, format!("component {expr} not found")))?;
        Zeroizing::new(match v {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => out_store.emit(v)?,
            // Like sops: strings print raw, other scalars as a line in the output format.
            other => {
                let text = String::from_utf8(out_store.emit(other).unwrap_or_else(|_| other.to_string().into_bytes()))
                    .unwrap_or_default();
                format!("{}\n", text.trim_end()).into_bytes()
            }
        })
    } else if converting {
        Zeroizing::new(out_store.emit(&o.store.data(&d.bytes)?)?)
    } else {
        d.bytes
    };
    // Plaintext written to a file is the user's explicit choice; keep it private.
    sink(&a.io)?.write_bytes(&bytes, 0o600)?;
    Ok(0)
}

/// A file too large to hold its plaintext beside it: verify the MAC in a first pass that
/// writes nothing, then decrypt again straight into the destination. Memory stays near
/// the input's size; no plaintext from a file that fails its MAC is ever written.
fn decrypt_large(a: &DecryptArgs, o: &Opened, opts: DecryptOptions) -> Result<Option<i32>> {
    let what = display(input_path(&a.io));
    let (meta, key) = open_key(o, &what)?;
    let verified = o
        .store
        .decrypt_to(&o.src, &meta, &key, opts, &mut std::io::sink())
        .with_context(|| format!("decrypting {what}"))?;
    let Some(store::Streamed { warnings, .. }) = verified else { return Ok(None) };
    print_warnings(&what, &warnings);
    sink(&a.io)?
        .stream_verified(0o600, |out| {
            let done = o.store.decrypt_to(&o.src, &meta, &key, opts, out)?;
            done.map(|d| d.verification).ok_or(tresor_sops::SopsError::MetadataNotFound)
        })
        .with_context(|| format!("decrypting {what}"))?;
    Ok(Some(0))
}

pub(crate) fn filestatus(a: FilestatusArgs) -> Result<i32> {
    let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
    let encrypted = match o.store.metadata(&o.src) {
        Ok(m) => !m.mac.is_empty(),
        Err(tresor_sops::SopsError::MetadataNotFound) => false,
        Err(e) => return Err(e.into()),
    };
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(0)
}

pub(crate) fn keygen(a: KeygenArgs) -> Result<i32> {
    let path = match a.output {
        Some(p) => p,
        None => keys::default_identity_path().context("cannot find a home directory; pass --output")?,
    };
    let existing = std::fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false);
    if existing && !a.append && !a.force {
        return Err(fail(
            codes::ERROR_GENERIC,
            format!(
                "{} already holds an age identity; nothing written. \
                 --append adds a second one (encryptions without --age then go to both), \
                 --force replaces it (files encrypted only to the old one can then not be decrypted with this file), \
                 --output FILE writes elsewhere",
                path.display()
            ),
        ));
    }
    let mode = if a.force { keys::IdentityWrite::Replace } else { keys::IdentityWrite::Append };
    let kind = if a.pq { tresor_keys::age_key::KeyKind::PostQuantum } else { tresor_keys::age_key::KeyKind::X25519 };
    let public = keys::write_new_identity(&path, mode, kind)?;
    let verb = match (existing, a.force) {
        (false, _) => "wrote a new age identity to",
        (true, true) => "replaced the age identity in",
        (true, false) => "added a second age identity to",
    };
    eprintln!("tresor: {verb} {}", path.display());
    println!("{public}");
    Ok(0)
}

fn editor_command() -> String {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Ok(e) = std::env::var(var) {
            if !e.trim().is_empty() {
                return e;
            }
        }
    }
    for cand in ["vim", "nano", "vi"] {
        if std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cand).is_file())) {
            return cand.to_string();
        }
    }
    String::new()
}

pub(crate) fn run_editor(file: &Path) -> Result<()> {
    let cmd = editor_command();
    if cmd.is_empty() {
        return Err(fail(codes::NO_EDITOR_FOUND, "no editor found: set $EDITOR"));
    }
    // The editor line may carry arguments ("code --wait"); run it through the shell with
    // the path as a positional parameter so the path is never re-parsed.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} \"$1\""))
        .arg("tresor-editor")
        .arg(file)
        .status()
        .with_context(|| format!("starting editor '{cmd}'"))?;
    if !status.success() {
        return Err(fail(
            codes::NO_EDITOR_FOUND,
            format!("editor '{cmd}' exited with {status}; the file was not changed"),
        ));
    }
    Ok(())
}

pub(crate) fn edit(a: EditArgs) -> Result<i32> {
    let store = input_store(a.input_type.as_deref(), Some(&a.file), None)?;
    if let Some(out) = a.output_type.as_deref() {
        let wanted = input_store(Some(out), None, None)?;
        if wanted.name() != store.name() {
            anyhow::bail!(
                "edit writes {} back in its own format ({}); --output-type {out} would change it (decrypt with --output-type to convert)",
                a.file.display(),
                store.name()
            );
        }
    }
    let _lock = fileio::UpdateLock::acquire(&a.file)?;
    let exists = a.file.exists();
    let (plaintext, meta, key, stash) = if exists {
        let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
        let (d, meta, key) = decrypt_text(
            &o,
            DecryptOptions { ignore_mac: a.ignore_mac, keep_ivs: true },
            &a.file.display().to_string(),
        )?;
        (d.bytes, meta, key, d.stash)
    } else {
        let plan = keys::plan_for(Some(&a.file), &a.keys)?;
        let key = DataKey::generate();
        let meta = new_metadata(&plan, &key)?;
        (Zeroizing::new(store.template().as_bytes().to_vec()), meta, key, Default::default())
    };
    let dir = fileio::private_tempdir()?;
    let name = a.file.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("secret.yaml"));
    let tmp = dir.path().join(name);
    write_private(&tmp, &plaintext)?;
    let result = loop {
        run_editor(&tmp)?;
        let edited = Zeroizing::new(std::fs::read(&tmp).context("reading the edited file")?);
        if exists && *edited == *plaintext {
            break Err(fail(codes::FILE_HAS_NOT_BEEN_MODIFIED, "file has not changed; nothing written"));
        }
        let mut fresh = meta.clone();
        fresh.layout = None;
        match store.encrypt(&edited, &key, fresh, &EncryptOptions { stash: Some(&stash) }) {
            Ok(out) => break Ok(out),
            Err(e) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                eprintln!(
                    "tresor: error: {e}\nPress Enter to return to the editor, or Ctrl-C to abort (nothing is written)."
                );
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
            }
            Err(e) => break Err(anyhow::Error::new(e).context("the edited file is invalid; nothing written")),
        }
    };
    shred(&tmp);
    drop(dir);
    let out = result?;
    fileio::write_atomic(&a.file, &out, 0o644)?;
    Ok(0)
}

pub(crate) fn write_private(path: &Path, text: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text)?;
    Ok(())
}

/// Overwrite a plaintext temp file before it is removed (best effort; tmpfs frees RAM).
pub(crate) fn shred(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
            use std::io::Write;
            let _ = f.write_all(&vec![0u8; meta.len() as usize]);
            let _ = f.sync_all();
        }
    }
    let _ = std::fs::remove_file(path);
}
