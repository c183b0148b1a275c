//! Errors of the key layer, typed down to each master key's own failure.

use tresor_kms::KmsError;

use crate::service::KeyFailure;

/// One master key that did not give its payload.
#[derive(Debug)]
pub struct Attempt {
    /// The key group (1-based).
    pub group: usize,
    /// The metadata list name.
    pub kind: String,
    /// Recipient, key URI or key id.
    pub id: String,
    /// Why not.
    pub failure: KeyFailure,
}

/// Why no data key could be recovered: every key tried, and what was short.
#[derive(Debug)]
pub struct Attempts {
    /// The keys tried, in order.
    pub attempts: Vec<Attempt>,
    /// The file lists no master keys at all.
    pub no_keys: bool,
    /// `(got, needed)` key groups when some but not enough gave their share.
    pub short: Option<(usize, usize)>,
    /// The shares did not combine into a data key.
    pub combine: Option<String>,
}

impl Attempts {
    /// Keys gave their shares, but the shares did not make a data key (`why`).
    pub fn combine_failed(why: String) -> Attempts {
        Attempts { attempts: Vec::new(), no_keys: false, short: None, combine: Some(why) }
    }

    /// Every failure, for hints that name the cause.
    pub fn failures(&self) -> impl Iterator<Item = &KeyFailure> {
        self.attempts.iter().map(|a| &a.failure)
    }
}

impl std::fmt::Display for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut lines = Vec::new();
        if self.no_keys {
            lines.push("  the file lists no master keys".to_string());
        }
        for a in &self.attempts {
            lines.push(format!("  group {}: {} {}: {}", a.group, a.kind, a.id, a.failure));
        }
        if let Some((got, needed)) = self.short {
            lines.push(format!("  only {got} of the {needed} key groups needed could be decrypted"));
        }
        if let Some(c) = &self.combine {
            lines.push(format!("  {c}"));
        }
        f.write_str(&lines.join("\n"))
    }
}

/// A failure of the key layer.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An age recipient that does not parse.
    #[error("invalid age recipient '{0}': expected age1… or an ssh-ed25519/ssh-rsa public key")]
    BadRecipient(String),
    /// An identity source that cannot be read.
    #[error("cannot read age identities from {source_name}: {reason}")]
    BadIdentity {
        /// The file or variable.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// A key could not wrap the data key. The cause is part of the message (not a
    /// `source`, which would print it twice); [`KeyError::failures`] reaches it.
    #[error("could not wrap the data key for {key}: {cause}")]
    Wrap {
        /// `kind id`.
        key: String,
        /// Why.
        cause: Box<KeyError>,
    },
    /// One key's own failure.
    #[error(transparent)]
    Failure(#[from] KeyFailure),
    /// No key here recovers the data key.
    #[error("could not retrieve the data key:\n{0}")]
    Unwrap(Attempts),
    /// Nothing to encrypt to.
    #[error("no keys to encrypt to: pass {} or add a creation rule to .sops.yaml", crate::service::key_flags_hint())]
    NoKeys,
    /// A key that its service cannot read.
    #[error("invalid {kind} key: {why}")]
    BadKey {
        /// The metadata list name.
        kind: String,
        /// Why.
        why: String,
    },
    /// A key kind no row of the service table has.
    #[error("unknown key type '{0}'")]
    UnknownKind(String),
    /// A threshold outside 2..=groups.
    #[error("shamir threshold {threshold} is invalid for {groups} key groups (it must be between 2 and the number of groups)")]
    BadThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// The number of groups.
        groups: usize,
    },
    /// A key service failed.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl KeyError {
    /// sops' exit codes: 128 = could not retrieve the data key, 111 = no key to encrypt to.
    pub fn exit_code(&self) -> i32 {
        match self {
            KeyError::NoKeys => tresor_sops::codes::NO_ENCRYPTION_KEY_FOUND,
            KeyError::BadRecipient(_)
            | KeyError::BadThreshold { .. }
            | KeyError::UnknownKind(_)
            | KeyError::BadKey { .. } => tresor_sops::codes::ERROR_GENERIC,
            KeyError::Kms(KmsError::BadUri { .. } | KmsError::Config(_)) => tresor_sops::codes::ERROR_GENERIC,
            _ => tresor_sops::codes::COULD_NOT_RETRIEVE_KEY,
        }
    }

    /// A wrap failure of `key`, keeping an inner wrap failure's own key.
    pub fn wrap(key: impl Into<String>, cause: KeyError) -> KeyError {
        match cause {
            KeyError::Wrap { .. } => cause,
            other => KeyError::Wrap { key: key.into(), cause: Box::new(other) },
        }
    }

    /// The per-key failures inside (the keys tried on unwrap, the cause of a wrap
    /// failure), for hints that name the real cause.
    pub fn failures(&self) -> Vec<KeyFailure> {
        match self {
            KeyError::Unwrap(a) => a.failures().cloned().collect(),
            KeyError::Wrap { cause, .. } => cause.failures(),
            KeyError::Failure(f) => vec![f.clone()],
            KeyError::Kms(k) => vec![KeyFailure::Service(k.clone())],
            _ => Vec::new(),
        }
    }
}
