//! The binary store: any bytes (TLS keys, DER certificates, keystores) as one encrypted
//! string under `data`, in sops' JSON envelope. Decryption gives back the exact bytes.

use serde_json::Value as J;
use tresor_format::tree::{MapItem, Node};
use zeroize::Zeroizing;

use super::{Plain, Store};
use crate::cipher::{Cipher, DataKey};
use crate::error::SopsError;
use crate::file::{self, DecryptOptions, EncryptOptions, IvStash};
use crate::metadata::{self, Metadata};

pub struct Binary;

/// The value's path: the key `data` at the top level.
const AAD: &str = "data:";

/// The `data` string and the metadata of an envelope, from one parse.
fn envelope(src: &[u8]) -> Result<(String, Metadata), SopsError> {
    let text = std::str::from_utf8(src).map_err(|_| SopsError::MetadataNotFound)?;
    let mut doc = tresor_format::json::parse(text)?;
    let meta = metadata::find_in(&doc.root).ok_or(SopsError::MetadataNotFound)?;
    let meta = Metadata::from_node(meta)?;
    let map =
        doc.root.as_map().ok_or_else(|| SopsError::InvalidMetadata("the binary envelope is not an object".into()))?;
    // sops' MAC covers every key of the envelope: one it does not know fails there.
    if let Some(extra) = map.entries().map(|e| e.key.as_str()).find(|k| *k != "data" && *k != "sops") {
        return Err(SopsError::InvalidMetadata(format!(
            "the binary envelope holds a key `{}` besides `data` and `sops`",
            extra.chars().take(40).collect::<String>()
        )));
    }
    // Taken out of the tree, not copied: it is the whole file (13 MB for 10 MB of input).
    let entry = match &mut doc.root {
        Node::Map(m) => m.items.iter_mut().find_map(|i| match i {
            MapItem::Entry(e) if e.key == "data" => Some(e),
            _ => None,
        }),
        _ => None,
    };
    let Some(Node::Scalar(data)) = entry.map(|e| &mut e.value) else {
        return Err(SopsError::InvalidMetadata("the binary envelope has no `data` string".into()));
    };
    Ok((std::mem::take(&mut data.text), meta))
}

/// Decrypt a binary envelope with `cipher` (the store's `decrypt`, and its read-back).
fn decrypt(src: &[u8], cipher: &Cipher, opts: DecryptOptions) -> Result<Plain, SopsError> {
    let (data, meta) = envelope(src)?;
    let fail = |reason: String| SopsError::CannotDecrypt {
        pos: tresor_format::Position { line: 2, col: 2 },
        path: "[\"data\"]".into(),
        reason,
    };
    let mut stash = IvStash::default();
    let bytes = if data.is_empty() {
        // An empty file, as sops writes it.
        Zeroizing::new(Vec::new())
    } else {
        let plain = cipher.decrypt(&data, AAD.as_bytes()).map_err(|e| fail(e.to_string()))?;
        // sops reads the value back as a string; any other type fails there.
        if plain.type_name != "str" {
            return Err(fail(format!("type:{} in a binary file (sops writes and reads type:str)", plain.type_name)));
        }
        if opts.keep_ivs {
            stash.put(AAD, &plain.bytes, &plain.iv);
        }
        plain.bytes
    };
    let mut mac = cipher.mac_hasher(meta.mac_only_encrypted);
    mac.leaf(&bytes, true);
    file::check_mac(&meta, cipher, mac, opts)?;
    Ok(Plain { bytes, stash, warnings: Vec::new() })
}

/// From this size on, the MAC is hashed on a thread of its own while the file is encrypted
/// (below it, starting a thread costs more than it saves).
const PARALLEL_FROM: usize = 1 << 20;

impl Store for Binary {
    fn name(&self) -> &'static str {
        "binary"
    }

    fn metadata(&self, src: &[u8]) -> Result<Metadata, SopsError> {
        envelope(src).map(|(_, m)| m)
    }

    fn encrypt(
        &self,
        plain: &[u8],
        key: &DataKey,
        mut meta: Metadata,
        opts: &EncryptOptions,
    ) -> Result<Vec<u8>, SopsError> {
        if memchr::memmem::find(plain, b"\"sops\"").is_some() && envelope(plain).is_ok() {
            return Err(SopsError::AlreadyEncrypted);
        }
        let cipher = Cipher::recording(key);
        let mut mac = cipher.mac_hasher(meta.mac_only_encrypted);
        // sops leaves an empty string unencrypted (it hashes nothing for it), and cannot read
        // an `ENC[…]` with empty data: an empty file's envelope holds `"data": ""`.
        // The MAC (SHA-512 over the whole file) and the encryption (AES-GCM, base64) read
        // the same bytes and nothing of each other: on a second core they overlap.
        let iv = opts.stash.and_then(|s| s.get(AAD, plain));
        let encrypt = || {
            if plain.is_empty() {
                std::rc::Rc::new(String::new())
            } else {
                cipher.encrypt_shared(plain, AAD.as_bytes(), "str", iv)
            }
        };
        let enc = if plain.len() >= PARALLEL_FROM {
            std::thread::scope(|scope| {
                let hashing = scope.spawn(|| mac.leaf(plain, true));
                let enc = encrypt();
                hashing.join().expect("hashing the MAC does not panic");
                enc
            })
        } else {
            mac.leaf(plain, true);
            encrypt()
        };
        meta.layout = None;
        file::seal(&mut meta, &cipher, mac);
        // Built in one buffer of its final size, the envelope freed before the read-back:
        // at 10 MB each copy of the file is 13 MB of memory touched for the first time.
        let sops = meta.to_json_without_rule("\t", 1, "\n");
        let mut out = Vec::with_capacity(enc.len() + sops.len() + 32);
        out.extend_from_slice(b"{\n\t\"data\": \"");
        out.extend_from_slice(enc.as_bytes());
        drop(enc);
        out.extend_from_slice(b"\",\n\t\"sops\": ");
        out.extend_from_slice(sops.as_bytes());
        out.extend_from_slice(b"\n}\n");
        super::read_back(self, out, &cipher, plain, |out, cipher| decrypt(out, cipher, DecryptOptions::default()))
    }

    fn decrypt(&self, src: &[u8], _meta: &Metadata, key: &DataKey, opts: DecryptOptions) -> Result<Plain, SopsError> {
        decrypt(src, &Cipher::new(key), opts)
    }
    fn data(&self, plain: &[u8]) -> Result<J, SopsError> {
        let text = std::str::from_utf8(plain).map_err(|_| {
            SopsError::Unsupported(
                "the binary file's bytes are not UTF-8 text, so they cannot be given as a string value".into(),
            )
        })?;
        Ok(serde_json::json!({ "data": text }))
    }

    fn emit(&self, data: &J) -> Result<Vec<u8>, SopsError> {
        match data.get("data") {
            Some(J::String(s)) => Ok(s.clone().into_bytes()),
            _ => Err(SopsError::Unsupported(
                "binary output takes the string under the top-level key `data`; this file has none".into(),
            )),
        }
    }

    fn replace_metadata(&self, src: &[u8], meta: &Metadata) -> Result<Vec<u8>, SopsError> {
        let (data, _) = envelope(src)?;
        Ok(format!("{{\n\t\"data\": \"{data}\",\n\t\"sops\": {}\n}}\n", meta.to_json_without_rule("\t", 1, "\n"))
            .into_bytes())
    }

    fn template(&self) -> &'static str {
        ""
    }

    fn flux_marker(&self) -> Option<&'static str> {
        // Flux's decryptor reads a binary file's JSON envelope by the same marker as JSON
        // (`sopsFormatToMarkerBytes[formats.Binary]`).
        Some("\"mac\": \"ENC[")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of [`PARALLEL_FROM`] (the MAC on its own thread, or not) write files that
    /// decrypt to the same bytes with a verified MAC (the read-back inside `encrypt` checks
    /// it too).
    #[test]
    fn large_and_small_files_encrypt_to_a_verified_mac() {
        let key = DataKey::generate();
        let meta = || Metadata { version: crate::metadata::FORMAT_VERSION.into(), ..Metadata::default() };
        for len in [0, 1, 4096, PARALLEL_FROM - 1, PARALLEL_FROM, PARALLEL_FROM + 4097] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let out = Binary.encrypt(&plain, &key, meta(), &EncryptOptions::default()).unwrap();
            let back = Binary.decrypt(&out, &meta(), &key, DecryptOptions::default()).unwrap();
            assert_eq!(&back.bytes[..], &plain[..], "{len} bytes");
        }
    }
}
