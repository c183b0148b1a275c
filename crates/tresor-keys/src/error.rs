use tresor_kms::KmsError;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid age recipient '{0}': expected age1… or an ssh-ed25519/ssh-rsa public key")]
    BadRecipient(String),
    #[error("cannot read age identities from {source_name}: {reason}")]
    BadIdentity { source_name: String, reason: String },
    #[error("could not wrap the data key for {key}: {reason}")]
    Wrap { key: String, reason: String },
    #[error("could not retrieve the data key:\n{0}")]
    Unwrap(String),
    #[error("no keys to encrypt to: pass --age RECIPIENT (or --hc-vault-transit URI, --okms URI), or add a creation rule to .sops.yaml")]
    NoKeys,
    #[error("shamir threshold {threshold} is invalid for {groups} key groups (it must be between 2 and the number of groups)")]
    BadThreshold { threshold: usize, groups: usize },
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl KeyError {
    /// sops' exit codes: 128 = could not retrieve the data key, 111 = no key to encrypt to.
    pub fn exit_code(&self) -> i32 {
        match self {
            KeyError::NoKeys => tresor_sops::codes::NO_ENCRYPTION_KEY_FOUND,
            KeyError::BadRecipient(_) | KeyError::BadThreshold { .. } => tresor_sops::codes::ERROR_GENERIC,
            KeyError::Kms(KmsError::BadUri { .. } | KmsError::Config(_)) => tresor_sops::codes::ERROR_GENERIC,
            _ => tresor_sops::codes::COULD_NOT_RETRIEVE_KEY,
        }
    }
}
