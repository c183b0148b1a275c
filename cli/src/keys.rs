//! Choosing the keys and rules a new file is encrypted with.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tresor_keys::{age_key, KeySpec};
use tresor_sops::Rule;

use crate::args::KeyArgs;

/// The identity file tresor uses by default: `SOPS_AGE_KEY_FILE`, else sops' default path.
pub fn default_identity_path() -> Option<PathBuf> {
    std::env::var_os("SOPS_AGE_KEY_FILE").map(PathBuf::from).or_else(age_key::default_key_file)
}

/// Key groups for a new file: `--age`, else the local default identity (created on first use).
pub fn key_groups(args: &KeyArgs) -> Result<Vec<Vec<KeySpec>>> {
    let age: Vec<KeySpec> =
        args.age.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(|s| KeySpec::Age(s.to_string())).collect();
    if !age.is_empty() {
        return Ok(vec![age]);
    }
    let path = default_identity_path().context("cannot find a home directory for the default age key; pass --age")?;
    let recipients = match std::fs::read_to_string(&path) {
        Ok(text) => age_key::recipients_in(&text),
        Err(_) => Vec::new(),
    };
    if !recipients.is_empty() {
        return Ok(vec![recipients.into_iter().map(KeySpec::Age).collect()]);
    }
    if path.exists() {
        anyhow::bail!("{} holds no age X25519 identity; pass --age RECIPIENT", path.display());
    }
    let public = write_new_identity(&path)?;
    eprintln!("tresor: created a new age identity in {} (public key {public})", path.display());
    eprintln!("tresor: back it up: without it, files encrypted only to it cannot be decrypted");
    Ok(vec![vec![KeySpec::Age(public)]])
}

/// Create an identity file (0600, parent 0700) or append a new identity to an existing one.
pub fn write_new_identity(path: &std::path::Path) -> Result<String> {
    use std::io::Write;
    let (text, public) = age_key::generate();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()?;
    Ok(public)
}

/// The encryption rule from flags (at most one, enforced by clap), or sops' default.
pub fn rule(args: &KeyArgs) -> Result<Option<Rule>> {
    let pairs = [
        ("unencrypted_suffix", &args.unencrypted_suffix),
        ("encrypted_suffix", &args.encrypted_suffix),
        ("unencrypted_regex", &args.unencrypted_regex),
        ("encrypted_regex", &args.encrypted_regex),
        ("unencrypted_comment_regex", &args.unencrypted_comment_regex),
        ("encrypted_comment_regex", &args.encrypted_comment_regex),
    ];
    for (name, v) in pairs {
        if let Some(v) = v {
            return Ok(Some(Rule::from_field(name, v)?));
        }
    }
    Ok(None)
}
