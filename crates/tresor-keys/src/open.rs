//! Whole operations on one encrypted file, shared by `tresor` and `tresor-kustomize`:
//! read its metadata through its store, recover the data key with the keyring, decrypt.

use tresor_sops::store::{Plain, Store};
use tresor_sops::{DataKey, DecryptOptions, Metadata, SopsError};

use crate::error::KeyError;
use crate::groups::Keyring;

/// Why a file could not be opened, keeping the cause's type (a wrong key and a tampered
/// value are different failures with different exit codes).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file's metadata cannot be read (not encrypted, malformed, wrong store).
    #[error("reading the file: {0}")]
    Read(#[source] SopsError),
    /// No key here recovers the data key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The values do not decrypt or the MAC does not match.
    #[error(transparent)]
    Decrypt(SopsError),
}

/// Decrypt `src`, read by `store`, with the keys `keyring` finds. Also returns the metadata
/// and the data key, for callers that write the file again.
pub fn decrypt(
    store: &dyn Store,
    src: &[u8],
    keyring: &Keyring,
    opts: DecryptOptions,
) -> Result<(Plain, Metadata, DataKey), OpenError> {
    let (meta, key) = key(store, src, keyring)?;
    let plain = store.decrypt(src, &meta, &key, opts).map_err(OpenError::Decrypt)?;
    Ok((plain, meta, key))
}

/// The metadata of `src`, read by `store`, and the data key it wraps (for callers that
/// decrypt in their own way, e.g. streaming into a file).
pub fn key(store: &dyn Store, src: &[u8], keyring: &Keyring) -> Result<(Metadata, DataKey), OpenError> {
    let meta = store.metadata(src).map_err(OpenError::Read)?;
    let key = keyring.data_key(&meta)?;
    Ok((meta, key))
}
