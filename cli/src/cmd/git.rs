//! git: the `tresor` diff driver (textconv) and its set-up.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use tresor_sops::{DecryptOptions, SopsError};

use super::crypt::{decrypt_text, open_encrypted};
use crate::args::{GitAction, GitArgs};
use crate::exit::fail;
use crate::fileio::Sink;

/// The command Git runs for the driver.
const TEXTCONV: &str = "tresor git textconv";

pub(crate) fn git(a: GitArgs) -> Result<i32> {
    match a.action {
        GitAction::Textconv { file } => textconv(&file),
        GitAction::Setup { check, global, pattern } => setup(check, global, &pattern),
    }
}

/// Print one version of a file for `git diff`: decrypted when a key here opens it (to
/// stdout only: Git reads it from the pipe), else the keyless view. A file that is not
/// encrypted is printed as it is. Always exits 0 when the file was read: a failing textconv
/// would make `git diff` fail for everyone without the key.
fn textconv(file: &Path) -> Result<i32> {
    let name = file.display().to_string();
    // Git's temporary copy keeps the file's name at its end, so the format is known.
    let opened = open_encrypted(Some(file), None, None).or_else(|_| open_encrypted(Some(file), Some("yaml"), None))?;
    let out = match decrypt_text(&opened, DecryptOptions::default(), &name) {
        Ok((d, _, _)) => d.text,
        // Not encrypted (or not parseable as such): shown as it is.
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref(),
                    Some(SopsError::MetadataNotFound | SopsError::InvalidMetadata(_) | SopsError::Format(_))
                )
            }) =>
        {
            opened.src.clone()
        }
        Err(e) => {
            let why = format!("{e:#}");
            let first = why.lines().next().unwrap_or("").trim_start_matches("decrypting ").to_string();
            format!(
                "# tresor: shown without decrypting ({}); ciphertexts as digests\n{}",
                first.replace(&name, "this file"),
                tresor_sops::summary::keyless(&opened.src)
            )
        }
    };
    Sink::Stdout.write(&out, 0o600)?;
    Ok(0)
}

fn git_out(args: &[&str]) -> Result<(bool, String)> {
    let o = Command::new("git").args(args).output().context("running git")?;
    Ok((o.status.success(), String::from_utf8_lossy(&o.stdout).trim().to_string()))
}

/// Idempotent: the driver in Git's config, and a `.gitattributes` line for every tracked
/// encrypted file and every --pattern.
fn setup(check: bool, global: bool, patterns: &[String]) -> Result<i32> {
    let (ok, top) = git_out(&["rev-parse", "--show-toplevel"])?;
    if !ok && !global {
        return Err(fail(2, "not inside a Git repository (use --global to configure the driver for every repository)"));
    }
    let scope = if global { "--global" } else { "--local" };
    let mut missing = Vec::new();
    let (_, current) = git_out(&["config", scope, "--get", "diff.tresor.textconv"])?;
    if current != TEXTCONV {
        missing.push(format!("git config {scope} diff.tresor.textconv '{TEXTCONV}'"));
        if !check {
            let (ok, _) = git_out(&["config", scope, "diff.tresor.textconv", TEXTCONV])?;
            if !ok {
                return Err(fail(1, "git config failed"));
            }
        }
    }
    if !top.is_empty() {
        let top = Path::new(&top);
        let mut wanted: Vec<String> = patterns.to_vec();
        let (_, tracked) = git_out(&["-C", &top.display().to_string(), "ls-files", "-z"])?;
        for rel in tracked.split('\0').filter(|r| !r.is_empty()) {
            if super::rekey::is_encrypted_file(&top.join(rel)) {
                // Git attribute patterns treat spaces and these characters specially.
                wanted.push(format!("/{}", rel.replace(['\\', ' ', '*', '?', '['], "?")));
            }
        }
        let attrs_path = top.join(".gitattributes");
        let attrs = std::fs::read_to_string(&attrs_path).unwrap_or_default();
        let have: std::collections::HashSet<&str> = attrs.lines().map(str::trim).collect();
        let add: Vec<String> =
            wanted.iter().map(|p| format!("{p} diff=tresor")).filter(|l| !have.contains(l.as_str())).collect();
        if !add.is_empty() {
            missing.extend(add.iter().map(|l| format!(".gitattributes: {l}")));
            if !check {
                let mut text = attrs.clone();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                for l in &add {
                    text.push_str(l);
                    text.push('\n');
                }
                std::fs::write(&attrs_path, text).with_context(|| format!("writing {}", attrs_path.display()))?;
            }
        }
    }
    if check {
        for m in &missing {
            println!("missing: {m}");
        }
        return Ok(if missing.is_empty() { 0 } else { 1 });
    }
    for m in &missing {
        eprintln!("tresor: set {m}");
    }
    if missing.is_empty() {
        eprintln!("tresor: the diff driver is already set up");
    }
    Ok(0)
}
