//! What the line-based stores (dotenv, INI) share: they read a file into a `tresor_format`
//! document with byte spans, so sops' walk decides paths, AADs and rules exactly as for
//! YAML, and these visitors turn the walk into edits. A comment's span is its text after
//! the marker, so the marker and spacing stay as written.

use std::borrow::Cow;

use tresor_format::tree::{Comment, Document, Scalar};

use crate::cipher::{is_enc, Cipher};
use crate::error::SopsError;
use crate::file::{self, DecryptOptions, IvStash};
use crate::mac::MacHasher;
use crate::metadata::Metadata;
use crate::splice::Edit;
use crate::walk::{self, At, Visitor};

/// tresor's note in a line store's metadata that the plaintext had no final line break
/// (sops ignores unknown metadata keys), so decryption gives back the exact bytes.
pub(super) const NO_FINAL_NEWLINE: &str = "tresor_no_final_newline";

/// Flattened metadata pairs read as metadata, with tresor's final-newline note taken out.
pub(super) fn read_flat_metadata(pairs: &[(String, String)]) -> Result<(Metadata, bool), SopsError> {
    let note = pairs.iter().any(|(k, v)| k == NO_FINAL_NEWLINE && v == "true");
    let rest: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != NO_FINAL_NEWLINE).cloned().collect();
    Ok((Metadata::from_flat(&rest)?, note))
}

/// How a store writes a decrypted value or comment back: the text, or why it cannot be
/// written so that it reads back the same (never quoting it).
pub(super) struct Render {
    pub value: fn(&str) -> Result<String, &'static str>,
    pub comment: fn(&str) -> bool,
    /// A value's, comment's or AAD's text as the bytes sops has there, and plaintext bytes
    /// as text (`None`: the store cannot hold them). dotenv carries bytes that are not UTF-8
    /// (`bytes_text`), in keys too.
    pub to_bytes: fn(&str) -> Cow<'_, [u8]>,
    pub from_bytes: fn(&[u8]) -> Option<Cow<'_, str>>,
}

/// [`Render::to_bytes`] and [`Render::from_bytes`] for stores of UTF-8 text only.
pub(super) fn utf8_bytes(t: &str) -> Cow<'_, [u8]> {
    Cow::Borrowed(t.as_bytes())
}

/// See [`utf8_bytes`].
pub(super) fn utf8_text(b: &[u8]) -> Option<Cow<'_, str>> {
    std::str::from_utf8(b).ok().map(Cow::Borrowed)
}

struct Encrypt<'a> {
    cipher: &'a Cipher,
    render: &'a Render,
    stash: Option<&'a IvStash>,
    mac: MacHasher,
    edits: Vec<Edit>,
}

impl Visitor for Encrypt<'_> {
    fn value(&mut self, s: &Scalar, at: &At) -> Result<(), SopsError> {
        let plain = (self.render.to_bytes)(&s.text);
        let plain = plain.as_ref();
        // sops leaves empty values as they are.
        if !at.encrypt || plain.is_empty() {
            self.mac.leaf(plain, false);
            return Ok(());
        }
        self.mac.leaf(plain, true);
        let iv = self.stash.and_then(|st| st.get(at.aad, plain));
        let enc = self.cipher.encrypt(plain, &(self.render.to_bytes)(at.aad), "str", iv);
        self.edits.push(Edit { range: s.span.clone(), text: enc });
        Ok(())
    }

    fn comment(&mut self, c: &Comment, at: &At) -> Result<(), SopsError> {
        if !at.encrypt || c.text.is_empty() {
            return Ok(());
        }
        let plain = (self.render.to_bytes)(&c.text);
        let iv = self.stash.and_then(|st| st.get(at.aad, &plain));
        let enc = self.cipher.encrypt(&plain, &(self.render.to_bytes)(at.aad), "comment", iv);
        self.edits.push(Edit { range: c.span.clone(), text: enc });
        Ok(())
    }
}

/// Encrypt a parsed file's values and comments; fills in `meta`'s MAC, time and version.
pub(super) fn encrypt(
    doc: &Document,
    cipher: &Cipher,
    meta: &mut Metadata,
    stash: Option<&IvStash>,
    render: &Render,
) -> Result<Vec<Edit>, SopsError> {
    let mut v = Encrypt { cipher, render, stash, mac: cipher.mac_hasher(meta.mac_only_encrypted), edits: Vec::new() };
    walk::walk(doc, &meta.rule, &mut v)?;
    meta.layout = None;
    file::seal(meta, cipher, v.mac);
    Ok(v.edits)
}

struct Decrypt<'a> {
    cipher: &'a Cipher,
    keep_ivs: bool,
    render: &'a Render,
    stash: IvStash,
    mac: MacHasher,
    edits: Vec<Edit>,
    warnings: Vec<String>,
}

impl Visitor for Decrypt<'_> {
    fn value(&mut self, s: &Scalar, at: &At) -> Result<(), SopsError> {
        if !at.encrypt || s.text.is_empty() {
            self.mac.leaf(&(self.render.to_bytes)(&s.text), false);
            return Ok(());
        }
        // The path is spelled out only for an error (it costs an allocation per value).
        let fail = |reason: String| SopsError::CannotDecrypt { pos: s.pos, path: walk::display_steps(at.path), reason };
        if !is_enc(&s.text) {
            return Err(fail("the value is not encrypted, but the file's rules say it must be".into()));
        }
        let plain = self.cipher.decrypt(&s.text, &(self.render.to_bytes)(at.aad)).map_err(|e| fail(e.to_string()))?;
        // sops writes only `str` here and reads other types back as it would in YAML: a
        // type whose plaintext does not parse, `bytes` or an unknown one fails in sops.
        // `str` holds any bytes (the common case needs no copy to say so).
        let type_ok = crate::file::value_type_sops_reads(plain.type_name)
            && (plain.type_name == "str"
                || tresor_format::Value::from_sops(plain.type_name, plain.bytes.to_vec()).is_some());
        if !type_ok {
            return Err(fail(format!(
                "type:{} does not hold this value (sops writes type:str here and refuses this file too)",
                plain.type_name
            )));
        }
        let text =
            (self.render.from_bytes)(&plain.bytes).ok_or_else(|| fail("the plaintext is not UTF-8 text".into()))?;
        let written = (self.render.value)(&text).map_err(|why| fail(why.into()))?;
        self.mac.leaf(&plain.bytes, true);
        if self.keep_ivs {
            self.stash.put(at.aad, &plain.bytes, &plain.iv);
        }
        self.edits.push(Edit { range: s.span.clone(), text: written });
        Ok(())
    }

    fn comment(&mut self, c: &Comment, at: &At) -> Result<(), SopsError> {
        if !at.encrypt || !is_enc(&c.text) {
            return Ok(());
        }
        match self.cipher.decrypt(&c.text, &(self.render.to_bytes)(at.aad)) {
            Ok(p) => {
                let Some(text) =
                    (self.render.from_bytes)(&p.bytes).map(Cow::into_owned).filter(|t| (self.render.comment)(t))
                else {
                    return Err(SopsError::CannotDecrypt {
                        pos: c.pos,
                        path: "a comment".into(),
                        reason: "it decrypts to text that cannot stand where the comment is".into(),
                    });
                };
                if self.keep_ivs {
                    self.stash.put(at.aad, &p.bytes, &p.iv);
                }
                self.edits.push(Edit { range: c.span.clone(), text });
            }
            // sops keeps a comment it cannot decrypt (files from before 2017) and warns.
            Err(_) => {
                self.warnings.push(format!("line {}: a comment could not be decrypted; kept as it is", c.pos.line))
            }
        }
        Ok(())
    }
}

/// Decrypt a parsed file's values and comments and check the MAC: the edits, the IVs seen
/// (with `keep_ivs`) and warnings.
pub(super) fn decrypt(
    doc: &Document,
    meta: &Metadata,
    cipher: &Cipher,
    opts: DecryptOptions,
    render: &Render,
) -> Result<(Vec<Edit>, IvStash, Vec<String>), SopsError> {
    let mut v = Decrypt {
        cipher,
        keep_ivs: opts.keep_ivs,
        render,
        stash: IvStash::default(),
        mac: cipher.mac_hasher(meta.mac_only_encrypted),
        edits: Vec::new(),
        warnings: Vec::new(),
    };
    walk::walk(doc, &meta.rule, &mut v)?;
    file::check_mac(meta, cipher, v.mac, opts)?;
    Ok((v.edits, v.stash, v.warnings))
}
