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

/// A hint that names the real cause of a key failure: the first failure of the kinds
/// below, in this order (a sealed server says more than "no identity matched").
fn key_hint(e: &KeyError) -> Option<&'static str> {
    use tresor_keys::KeyFailure as F;
    use tresor_kms::KmsError as K;
    let failures = e.failures();
    let has = |pred: &dyn Fn(&F) -> bool| failures.iter().any(pred);
    if has(&|f| matches!(f, F::Service(K::Sealed { .. }))) {
        return Some("hint: the OpenBao/Vault server is sealed: unseal it (`bao operator unseal`) and retry");
    }
    if has(&|f| matches!(f, F::Service(K::Denied { .. }))) {
        return Some("hint: the key service refused the credentials: check the credential named in the error above (docs/keys.md lists each service's variables) and that its policy allows encrypt/decrypt on this key");
    }
    if has(&|f| matches!(f, F::Service(K::Unreachable { .. } | K::Timeout { .. }))) {
        return Some("hint: the key service did not answer: check its address (VAULT_ADDR, the key URI) and the network; each service's *_TIMEOUT and TRESOR_KEY_SERVICE_DEADLINE bound the wait (docs/keys.md)");
    }
    if has(&|f| matches!(f, F::GpgMissing(_))) {
        return Some("hint: install GnuPG (gpg), or set SOPS_GPG_EXEC to its path");
    }
    if has(&|f| matches!(f, F::Gpg(_))) {
        return Some("hint: gpg could not decrypt: check `gpg --list-secret-keys`, that gpg-agent runs and, for a smartcard, that it is inserted");
    }
    if has(&|f| matches!(f, F::NoIdentity { .. } | F::NoMatchingIdentity { .. })) {
        return Some(
            "hint: set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY) to an identity matching one of the file's age recipients",
        );
    }
    if has(&|f| matches!(f, F::Service(K::Config(_)))) {
        return Some("hint: set the key service's credentials named in the error above (docs/keys.md lists each service's variables)");
    }
    match e {
        KeyError::Unwrap(_) => Some(
            "hint: set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY) to an identity matching one of the file's recipients, or the credentials of a key service the file names (`tresor doctor FILE` says which)",
        ),
        _ => None,
    }
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
            return key_hint(e);
        }
        if let Some(e) = cause.downcast_ref::<tresor_keys::rekey::RekeyError>() {
            return e.key_error().and_then(key_hint);
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
        if let Some(e) = cause.downcast_ref::<tresor_keys::rekey::RekeyError>() {
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

/// Text from a file, plugin or service, safe to print ([`tresor_format::printable`]).
pub fn clean(s: &str) -> String {
    tresor_format::printable::printable(s, true).into_owned()
}

pub fn report(err: &anyhow::Error) -> i32 {
    eprintln!("tresor: error: {}", clean(&format!("{err:#}")));
    if let Some(h) = hint(err) {
        eprintln!("{h}");
    }
    code(err)
}
