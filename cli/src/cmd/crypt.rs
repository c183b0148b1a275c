//! encrypt, decrypt, edit, filestatus, keygen.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tresor_format::Format;
use tresor_keys::{data_key, sops_compatibility, wrap_groups};
use tresor_sops::convert;
use tresor_sops::{DataKey, DecryptOptions, EncryptOptions, EncryptedFile, Metadata};

use crate::args::*;
use crate::exit::fail;
use crate::fileio::{self, Sink};
use crate::keys;

pub(crate) fn input_path(io: &IoArgs) -> Option<&Path> {
    io.file.as_deref().filter(|p| p.as_os_str() != "-")
}

/// The format from `--input-type`, else the file name (or `--filename-override`).
pub(crate) fn input_format(
    explicit: Option<&str>,
    path: Option<&Path>,
    override_name: Option<&Path>,
) -> Result<Format> {
    if let Some(t) = explicit {
        return Format::parse_name(t).ok_or_else(|| fail(1, format!("unsupported type '{t}': use yaml or json")));
    }
    let name = override_name.or(path).map(|p| p.to_string_lossy().into_owned());
    match name {
        Some(n) => Ok(Format::from_path(&n).unwrap_or(Format::Yaml)),
        None => Err(fail(1, "reading standard input: pass --input-type yaml|json or --filename-override NAME")),
    }
}

fn output_format(io: &IoArgs, input: Format) -> Result<Format> {
    match &io.output_type {
        Some(t) => Format::parse_name(t).ok_or_else(|| fail(1, format!("unsupported type '{t}': use yaml or json"))),
        None => Ok(input),
    }
}

fn sink(io: &IoArgs) -> Result<Sink> {
    if io.in_place {
        let p = input_path(io).ok_or_else(|| fail(8, "--in-place needs a file, not standard input"))?;
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
    let format = input_format(a.io.input_type.as_deref(), path, a.io.filename_override.as_deref())?;
    let out_format = output_format(&a.io, format)?;
    if out_format != format {
        return Err(fail(8, "encrypt keeps the input format; convert the plaintext first"));
    }
    let _lock = lock_in_place(&a.io)?;
    let src = fileio::read_input(path)?;
    let plan = keys::plan_for(path.or(a.io.filename_override.as_deref()), &a.keys)?;
    let key = DataKey::generate();
    let meta = new_metadata(&plan, &key)?;
    sink(&a.io)?
        .stream(0o644, |out| tresor_sops::encrypt_to(&src, format, &key, meta, &EncryptOptions::default(), out))
        .with_context(|| format!("encrypting {}", display(path)))?;
    Ok(0)
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

pub(crate) struct Opened {
    pub src: String,
    pub format: Format,
}

pub(crate) fn open_encrypted(
    path: Option<&Path>,
    input_type: Option<&str>,
    override_name: Option<&Path>,
) -> Result<Opened> {
    let format = input_format(input_type, path, override_name)?;
    let src = fileio::read_input(path)?;
    Ok(Opened { src, format })
}

pub(crate) fn decrypt_text(
    o: &Opened,
    opts: DecryptOptions,
    what: &str,
) -> Result<(tresor_sops::Decrypted, Metadata, DataKey)> {
    // YAML as sops and tresor write it: values decrypted while parsing, no document tree
    // held whole.
    if let Some((meta, at, key)) = streamable(o, what)? {
        let streamed = tresor_sops::file::decrypt_yaml_stream(&o.src, &meta, at, &key, opts)
            .with_context(|| format!("decrypting {what}"))?;
        if let Some(d) = streamed {
            print_warnings(what, &d.warnings);
            return Ok((d, meta, key));
        }
    }
    let file = EncryptedFile::parse(&o.src, o.format).with_context(|| format!("reading {what}"))?;
    let key = data_key(&file.metadata).with_context(|| format!("decrypting {what}"))?;
    let d = file.decrypt(&key, opts).with_context(|| format!("decrypting {what}"))?;
    print_warnings(what, &d.warnings);
    Ok((d, file.metadata, key))
}

/// A YAML file whose metadata can be read from its end (as sops and tresor write it):
/// that metadata, where it starts, and the data key it wraps.
fn streamable(o: &Opened, what: &str) -> Result<Option<(Metadata, usize, DataKey)>> {
    let found = (o.format == Format::Yaml).then(|| tresor_sops::file::yaml_metadata_fast(&o.src)).flatten();
    let Some((meta, at)) = found else { return Ok(None) };
    let key = data_key(&meta).with_context(|| format!("decrypting {what}"))?;
    Ok(Some((meta, at, key)))
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
    let out_format = output_format(&a.io, o.format)?;
    let opts = DecryptOptions { ignore_mac: a.ignore_mac, keep_ivs: false };
    if a.extract.is_none() && out_format == o.format && o.src.len() > fileio::HOLD_BACK {
        if let Some(done) = decrypt_large(&a, &o, opts)? {
            return Ok(done);
        }
    }
    let (d, _, _) = decrypt_text(&o, opts, &display(path))?;
    let text = if let Some(expr) = &a.extract {
        let segs = convert::parse_path(expr)?;
        let data = document_data(&d.text, o.format)?;
        let v = convert::extract(&data, &segs).ok_or_else(|| fail(1, format!("component {expr} not found")))?;
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => render_data(v, out_format),
            // Like sops: strings print raw, other scalars as a line in the output format.
            other => format!("{}\n", render_data(other, out_format).trim_end()),
        }
    } else if out_format != o.format {
        render_data(&document_data(&d.text, o.format)?, out_format)
    } else {
        d.text
    };
    // Plaintext written to a file is the user's explicit choice; keep it private.
    sink(&a.io)?.write(&text, 0o600)?;
    Ok(0)
}

/// A YAML file too large to hold its plaintext beside it: verify the MAC in a first pass
/// that writes nothing, then decrypt again straight into the destination. Memory stays
/// near the input's size; no plaintext from a file that fails its MAC is ever written.
fn decrypt_large(a: &DecryptArgs, o: &Opened, opts: DecryptOptions) -> Result<Option<i32>> {
    let what = display(input_path(&a.io));
    let Some((meta, at, key)) = streamable(o, &what)? else { return Ok(None) };
    let verified = tresor_sops::file::decrypt_yaml_to(&o.src, &meta, at, &key, opts, std::io::sink())
        .with_context(|| format!("decrypting {what}"))?;
    let Some(tresor_sops::file::StreamDecrypted { warnings, .. }) = verified else { return Ok(None) };
    print_warnings(&what, &warnings);
    sink(&a.io)?
        .stream_verified(0o600, |out| {
            let done = tresor_sops::file::decrypt_yaml_to(&o.src, &meta, at, &key, opts, out)?;
            done.map(|d| d.verification).ok_or(tresor_sops::SopsError::MetadataNotFound)
        })
        .with_context(|| format!("decrypting {what}"))?;
    Ok(Some(0))
}

pub(crate) fn document_data(text: &str, format: Format) -> Result<serde_json::Value> {
    let docs = tresor_format::parse(text, format)?;
    let first = docs.first().ok_or(tresor_sops::SopsError::NoDocument)?;
    Ok(convert::document_data(first)?)
}

pub(crate) fn render_data(v: &serde_json::Value, f: Format) -> String {
    match f {
        Format::Json => convert::to_json(v),
        Format::Yaml => convert::to_yaml(v),
    }
}

pub(crate) fn filestatus(a: FilestatusArgs) -> Result<i32> {
    let o = open_encrypted(Some(&a.file), a.input_type.as_deref(), None)?;
    let encrypted = match EncryptedFile::parse(&o.src, o.format) {
        Ok(f) => !f.metadata.mac.is_empty(),
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
    let public = keys::write_new_identity(&path)?;
    eprintln!("tresor: wrote a new age identity to {}", path.display());
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
        return Err(fail(201, "no editor found: set $EDITOR"));
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
        return Err(fail(201, format!("editor '{cmd}' exited with {status}; the file was not changed")));
    }
    Ok(())
}

const NEW_FILE_TEMPLATE_YAML: &str =
    "# Write your secrets here; values are encrypted when you save and quit.\nexample_key: example_value\n";
const NEW_FILE_TEMPLATE_JSON: &str = "{\n\t\"example_key\": \"example_value\"\n}\n";

pub(crate) fn edit(a: EditArgs) -> Result<i32> {
    let format = input_format(a.input_type.as_deref(), Some(&a.file), None)?;
    if let Some(out) = a.output_type.as_deref() {
        let wanted = input_format(Some(out), None, None)?;
        if wanted != format {
            anyhow::bail!(
                "edit writes {} back in its own format ({format:?}); --output-type {out} would change it (decrypt with --output-type to convert)",
                a.file.display()
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
        (d.text, meta, key, d.stash)
    } else {
        let plan = keys::plan_for(Some(&a.file), &a.keys)?;
        let key = DataKey::generate();
        let meta = new_metadata(&plan, &key)?;
        let t = if format == Format::Json { NEW_FILE_TEMPLATE_JSON } else { NEW_FILE_TEMPLATE_YAML };
        (t.to_string(), meta, key, Default::default())
    };
    let plaintext = zeroize::Zeroizing::new(plaintext);
    let dir = fileio::private_tempdir()?;
    let name = a.file.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("secret.yaml"));
    let tmp = dir.path().join(name);
    write_private(&tmp, &plaintext)?;
    let result = loop {
        run_editor(&tmp)?;
        let edited = zeroize::Zeroizing::new(std::fs::read_to_string(&tmp).context("reading the edited file")?);
        if exists && *edited == *plaintext {
            break Err(fail(200, "file has not changed; nothing written"));
        }
        let mut fresh = meta.clone();
        fresh.layout = None;
        match tresor_sops::encrypt(&edited, format, &key, fresh, &EncryptOptions { stash: Some(&stash) }) {
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
    fileio::write_atomic(&a.file, out.as_bytes(), 0o644)?;
    Ok(0)
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
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
