//! File formats ("stores", as sops calls them): one implementation per format, chosen in
//! one place, [`detect`]. Everything that reads or writes an encrypted file goes through a
//! [`Store`]; nothing outside this module decides by file type.
//!
//! To add a format: one file implementing [`Store`], one line in [`STORES`] (and its
//! extension in [`for_path`] if it has one). INI was added that way.

mod binary;
mod bytes_text;
mod document;
mod dotenv;
mod flat;
mod ini;

use std::io::Write;

use serde_json::Value as J;
use tresor_format::Format;
use zeroize::Zeroizing;

use crate::cipher::{Cipher, DataKey};
use crate::error::SopsError;
use crate::file::{DecryptOptions, EncryptOptions, IvStash};
use crate::metadata::Metadata;
use crate::verify::Verification;

/// A decrypted file.
pub struct Plain {
    /// The plaintext, byte for byte what was encrypted.
    pub bytes: Zeroizing<Vec<u8>>,
    /// The IVs seen (with `keep_ivs`), so a re-encryption keeps unchanged ciphertexts.
    pub stash: IvStash,
    /// Comments that could not be decrypted, and the like.
    pub warnings: Vec<String>,
}

impl Plain {
    /// The plaintext as text (every store but binary produces UTF-8).
    pub fn text(&self) -> Result<&str, SopsError> {
        std::str::from_utf8(&self.bytes).map_err(|_| SopsError::NotText { store: "text" })
    }
}

/// What a decryption streamed into a writer left behind (see [`Store::decrypt_to`]).
pub struct Streamed {
    /// Warnings for the user (never values).
    pub warnings: Vec<String>,
    /// The check the caller must pass before releasing the output.
    pub verification: Verification,
}

/// One file format: how its files hold values and metadata.
pub trait Store: Send + Sync {
    /// The name `--input-type`/`--output-type` take, and messages use.
    fn name(&self) -> &'static str;

    /// The lossless document model behind this store, for the operations that edit a
    /// document in place (set, unset, merge). `None`: the store has none.
    fn document_format(&self) -> Option<Format> {
        None
    }

    /// The metadata of an encrypted file; [`SopsError::MetadataNotFound`] when it has none.
    fn metadata(&self, src: &[u8]) -> Result<Metadata, SopsError>;

    /// Encrypt a plaintext under `key`; `meta` gives the wrapped keys and the rule, and
    /// gets `lastmodified`, `mac` and `version` filled in. The output is checked before it
    /// is returned.
    fn encrypt(&self, plain: &[u8], key: &DataKey, meta: Metadata, opts: &EncryptOptions)
        -> Result<Vec<u8>, SopsError>;

    /// [`Store::encrypt`] into a writer. The caller releases the output only once the
    /// returned [`Verification`] passes on it.
    fn encrypt_to(
        &self,
        plain: &[u8],
        key: &DataKey,
        meta: Metadata,
        opts: &EncryptOptions,
        out: &mut dyn Write,
    ) -> Result<Verification, SopsError> {
        out.write_all(&self.encrypt(plain, key, meta, opts)?)?;
        Ok(Verification::Done)
    }

    /// Decrypt, checking the MAC (unless told not to).
    fn decrypt(&self, src: &[u8], meta: &Metadata, key: &DataKey, opts: DecryptOptions) -> Result<Plain, SopsError>;

    /// Decrypt straight into a writer without holding the plaintext, for files too large
    /// to hold twice. The writer receives plaintext before the MAC is checked. `None`:
    /// this store (or this file) cannot be streamed; use [`Store::decrypt`].
    fn decrypt_to(
        &self,
        _src: &[u8],
        _meta: &Metadata,
        _key: &DataKey,
        _opts: DecryptOptions,
        _out: &mut dyn Write,
    ) -> Result<Option<Streamed>, SopsError> {
        Ok(None)
    }

    /// The data of a plaintext (its first document), for `--extract`, conversion and
    /// `exec-env`.
    fn data(&self, plain: &[u8]) -> Result<J, SopsError>;

    /// Write data as a plaintext of this format (`--output-type`).
    fn emit(&self, data: &J) -> Result<Vec<u8>, SopsError>;

    /// A plaintext of this store with top-level values changed in place (`Some`), removed
    /// (`None`) or added at the end, everything else as written. For the merge driver,
    /// where a line merge cannot place changes on touching lines. `None`: not supported.
    fn set_values(&self, _plain: &str, _changes: &[(String, Option<String>)]) -> Option<String> {
        None
    }

    /// The same file with other metadata, every value byte kept (`updatekeys`).
    fn replace_metadata(&self, src: &[u8], meta: &Metadata) -> Result<Vec<u8>, SopsError>;

    /// What `edit` opens for a file that does not exist yet.
    fn template(&self) -> &'static str;

    /// The bytes whose presence tells Flux's kustomize-controller that a file of this
    /// format is encrypted (`internal/decryptor`); `None` where Flux has no rule.
    fn flux_marker(&self) -> Option<&'static str>;
}

/// Every store, in the order `--input-type` lists them.
pub static STORES: [&dyn Store; 5] = [&document::YAML, &document::JSON, &dotenv::Dotenv, &ini::Ini, &binary::Binary];

/// The store `--input-type`/`--output-type NAME` names.
pub fn by_name(name: &str) -> Option<&'static dyn Store> {
    let name = if name == "yml" { "yaml" } else { name };
    STORES.iter().copied().find(|s| s.name() == name)
}

/// The names accepted by `--input-type`.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = STORES.iter().map(|s| s.name()).collect();
    v.sort_unstable();
    v
}

/// sops' choice by file name: `.yaml`/`.yml`, `.json`, `.env`, `.ini`, and the binary
/// store for anything else.
pub fn for_path(path: &str) -> &'static dyn Store {
    let lower = path.to_ascii_lowercase();
    let name = if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        "yaml"
    } else if lower.ends_with(".json") {
        "json"
    } else if lower.ends_with(".env") {
        "dotenv"
    } else if lower.ends_with(".ini") {
        "ini"
    } else {
        "binary"
    };
    by_name(name).expect("every name above is registered")
}

/// The store for a file: the explicit type when given, else by its name.
pub fn detect(explicit: Option<&str>, path: Option<&str>) -> Result<&'static dyn Store, SopsError> {
    match (explicit, path) {
        (Some(t), _) => by_name(t).ok_or_else(|| {
            SopsError::Unsupported(format!("unsupported type '{t}': use one of {}", names().join(", ")))
        }),
        (None, Some(p)) => Ok(for_path(p)),
        (None, None) => Err(SopsError::Unsupported(
            "reading standard input: pass --input-type yaml|json|dotenv|ini|binary or --filename-override NAME".into(),
        )),
    }
}

/// Whether `src` holds SOPS metadata in the store its name picks (the one definition of
/// "an encrypted file").
pub fn is_encrypted(path: &str, src: &[u8]) -> bool {
    let store = for_path(path);
    // Every store's metadata names `sops` somewhere: skip the parse for other files.
    memchr::memmem::find(src, b"sops").is_some() && store.metadata(src).is_ok_and(|m| !m.mac.is_empty())
}

/// Release an encrypted output only once it decrypts to exactly the plaintext it came from:
/// `decrypt` reads `out` with the cipher that encrypted it, switched to replaying what it
/// recorded (`Cipher::recording`, which says what that skips and why it is sound).
fn read_back(
    store: &dyn Store,
    out: Vec<u8>,
    cipher: &Cipher,
    plain: &[u8],
    decrypt: impl FnOnce(&[u8], &Cipher) -> Result<Plain, SopsError>,
) -> Result<Vec<u8>, SopsError> {
    cipher.replay();
    let back = decrypt(&out, cipher)?;
    if back.bytes.as_slice() != plain {
        return Err(SopsError::Verify {
            encrypting: true,
            what: format!("the encrypted {} file does not decrypt to the input", store.name()),
        });
    }
    Ok(out)
}

fn utf8<'a>(src: &'a [u8], store: &'static str) -> Result<&'a str, SopsError> {
    std::str::from_utf8(src).map_err(|_| SopsError::NotText { store })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions_pick_stores_as_sops_does() {
        assert_eq!(names(), ["binary", "dotenv", "ini", "json", "yaml"]);
        for (p, want) in [
            ("a.yaml", "yaml"),
            ("a.YML", "yaml"),
            ("a.json", "json"),
            ("x/.env", "dotenv"),
            ("s.enc.env", "dotenv"),
            ("c.ini", "ini"),
            ("k.p12", "binary"),
            ("noext", "binary"),
        ] {
            assert_eq!(for_path(p).name(), want, "{p}");
        }
        assert_eq!(detect(Some("yml"), None).unwrap().name(), "yaml");
        let err = detect(Some("toml"), None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("binary, dotenv, ini, json, yaml"), "{err}");
    }
}
