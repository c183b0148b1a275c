//! Mapping errors to sops-compatible exit codes and one-line messages with a hint.

use tresor_keys::KeyError;
use tresor_sops::{codes, SopsError};

/// An error that carries its own exit code (e.g. edit without changes: 200).
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub msg: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Exit {}

pub fn fail(code: i32, msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit { code, msg: msg.into() })
}

fn hint(err: &anyhow::Error) -> Option<&'static str> {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<SopsError>() {
            return match e {
                SopsError::MacMismatch { .. } | SopsError::MacUndecryptable => Some(
                    "hint: change values with `tresor edit` or `tresor set`, not by hand; --ignore-mac decrypts anyway",
                ),
                SopsError::CannotDecrypt { .. } => {
                    Some("hint: a value was edited by hand, moved to another key, or the file was tampered with")
                }
                SopsError::MetadataNotFound => Some("hint: encrypt it first with `tresor encrypt -i FILE`"),
                SopsError::AlreadyEncrypted => {
                    Some("hint: use `tresor edit` or `tresor set` to change an encrypted file")
                }
                _ => None,
            };
        }
        if let Some(e) = cause.downcast_ref::<KeyError>() {
            return match e {
                KeyError::Unwrap(_) => Some(
                    "hint: set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY) to an identity matching one of the file's recipients, or VAULT_TOKEN / KMS_RESTAPI_* for remote keys",
                ),
                _ => None,
            };
        }
    }
    None
}

/// The exit code for an error, preferring the innermost typed cause.
pub fn code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<SopsError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<KeyError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<tresor_config::ConfigError>() {
            return e.exit_code();
        }
        if cause.downcast_ref::<tresor_audit::policy::PolicyError>().is_some() {
            return codes::ERROR_READING_CONFIG;
        }
        if cause.downcast_ref::<tresor_kms::KmsError>().is_some() {
            return codes::COULD_NOT_RETRIEVE_KEY;
        }
        if let Some(e) = cause.downcast_ref::<tresor_format::FormatError>() {
            return if matches!(e, tresor_format::FormatError::Empty) {
                codes::NEED_AT_LEAST_ONE_DOCUMENT
            } else {
                codes::COULD_NOT_READ_INPUT_FILE
            };
        }
    }
    codes::ERROR_GENERIC
}

pub fn report(err: &anyhow::Error) -> i32 {
    eprintln!("tresor: error: {err:#}");
    if let Some(h) = hint(err) {
        eprintln!("{h}");
    }
    code(err)
}
