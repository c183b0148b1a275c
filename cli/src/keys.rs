//! Choosing the keys and rules a new file is encrypted with.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tresor_keys::{age_key, KeySpec};
use tresor_sops::Rule;

use crate::args::KeyArgs;

/// The identity file tresor uses by default: `SOPS_AGE_KEY_FILE`, else sops' default path.
pub fn default_identity_path() -> Option<PathBuf> {
    std::env::var_os("SOPS_AGE_KEY_FILE").map(PathBuf::from).or_else(age_key::default_key_file)
}

/// What a new file is encrypted with.
pub struct Plan {
    pub groups: Vec<Vec<KeySpec>>,
    pub threshold: usize,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    pub owner: Option<String>,
}

/// Keys given on the command line, as one group.
fn flag_keys(args: &KeyArgs) -> Result<Vec<KeySpec>> {
    specs(&args.key_flags())
}

/// Key specs from (kind, values) pairs of command-line flags; blank values are skipped.
pub fn specs(flags: &[(&str, &[String])]) -> Result<Vec<KeySpec>> {
    let mut keys = Vec::new();
    for (kind, values) in flags {
        for v in values.iter().filter(|s| !s.trim().is_empty()) {
            keys.push(KeySpec::parse(kind, v)?);
        }
    }
    Ok(keys)
}

/// Keys and options for a new file: flags beat `.sops.yaml` (found from the file's
/// directory upward), which beats the local default identity.
pub fn plan_for(file: Option<&Path>, args: &KeyArgs) -> Result<Plan> {
    let flags = flag_keys(args)?;
    let flag_rule = rule(args)?;
    let config = match file {
        Some(f) => tresor_config::for_file(f, args.config.as_deref())?,
        None => args.config.as_deref().map(tresor_config::load).transpose()?.flatten(),
    };
    let matched = match (&config, file) {
        // Keys named on the command line need no rule (as in sops); without them, a file no
        // rule covers is an error that says both ways out.
        (Some(cfg), Some(f)) => match cfg.rule_for(f) {
            Ok(r) => Some(r),
            Err(tresor_config::ConfigError::NoMatch { .. }) if !flags.is_empty() => None,
            Err(e) => return Err(e.into()),
        },
        (Some(cfg), None) => cfg.rules.iter().find(|r| r.path_regex.is_none()),
        _ => None,
    };
    let (groups, threshold) = if !flags.is_empty() {
        (vec![flags], args.shamir_threshold.unwrap_or(0))
    } else if let Some(r) = matched.filter(|r| !r.key_groups.is_empty()) {
        (r.key_groups.clone(), args.shamir_threshold.unwrap_or(r.shamir_threshold))
    } else {
        (default_groups()?, 0)
    };
    Ok(Plan {
        groups,
        threshold,
        rule: flag_rule.or_else(|| matched.and_then(|r| r.rule.clone())).unwrap_or_default(),
        mac_only_encrypted: args.mac_only_encrypted || matched.is_some_and(|r| r.mac_only_encrypted),
        owner: args.owner.clone().or_else(|| matched.and_then(|r| r.owner.clone())),
    })
}

/// The local default identity's recipients (the identity is created on first use).
fn default_groups() -> Result<Vec<Vec<KeySpec>>> {
    let path = default_identity_path().context("cannot find a home directory for the default age key; pass --age")?;
    let recipients = match std::fs::read_to_string(&path) {
        Ok(text) => age_key::recipients_in(&text),
        Err(_) => Vec::new(),
    };
    if !recipients.is_empty() {
        return Ok(vec![recipients.iter().map(|r| KeySpec::parse("age", r)).collect::<Result<_, _>>()?]);
    }
    if path.exists() {
        anyhow::bail!("{} holds no age X25519 identity; pass --age RECIPIENT", path.display());
    }
    let public = write_new_identity(&path, IdentityWrite::Append, age_key::KeyKind::X25519)?;
    eprintln!("tresor: created a new age identity in {} (public key {public})", path.display());
    eprintln!("tresor: back it up: without it, files encrypted only to it cannot be decrypted");
    Ok(vec![vec![KeySpec::parse("age", &public)?]])
}

/// Create an identity file (0600, parent 0700) or append a new identity to an existing one.
/// How [`write_new_identity`] treats an existing key file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IdentityWrite {
    /// Create the file, or add to it.
    Append,
    /// Replace it whole (atomically).
    Replace,
}

pub fn write_new_identity(path: &std::path::Path, mode: IdentityWrite, kind: age_key::KeyKind) -> Result<String> {
    use std::io::Write;
    let (text, public) = age_key::generate(kind);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    if mode == IdentityWrite::Replace {
        crate::fileio::write_atomic(path, text.as_bytes(), 0o600)?;
        return Ok(public);
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
