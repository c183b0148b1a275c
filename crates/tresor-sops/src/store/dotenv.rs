//! The dotenv store, read as sops reads it (`KEY=VALUE` split at the first `=`, `#`
//! comment lines, `\n` in a value is a line break, quotes are part of the value) and
//! written losslessly: blank lines, order and spelling stay as written.
//!
//! The file is turned into a one-level document so that sops' walk (paths, AADs, rules,
//! comment markers) is the same code as for YAML.

use serde_json::{Map as JMap, Value as J};
use tresor_format::tree::{Comment, Document, Entry, Map, MapItem, Node, Scalar, ScalarStyle};
use tresor_format::Position;
use zeroize::Zeroizing;

use super::{bytes_text, flat, Plain, Store};
use crate::cipher::{Cipher, DataKey};
use crate::error::SopsError;
use crate::file::{DecryptOptions, EncryptOptions};
use crate::metadata::Metadata;
use crate::splice::{self, Edit};

pub struct Dotenv;

const NAME: &str = "dotenv";
/// Metadata keys start with this; a plaintext holding one is taken as already encrypted.
const META_PREFIX: &str = "sops_";

/// A dotenv file read into a document, with its metadata lines set aside.
struct Parsed {
    doc: Document,
    /// (key after `sops_`, value with `\n` unescaped), in file order.
    meta: Vec<(String, String)>,
    /// Byte ranges of the metadata lines, line breaks included.
    meta_lines: Vec<std::ops::Range<usize>>,
}

fn unescape(v: &str) -> String {
    // Most values hold no backslash: one byte search instead of a substring search.
    if memchr::memchr(b'\\', v.as_bytes()).is_none() {
        return v.to_string();
    }
    v.replace("\\n", "\n")
}

fn escape(v: &str) -> String {
    v.replace('\n', "\\n")
}

fn parse(text: &str) -> Result<Parsed, SopsError> {
    // One item per line at most: sized once instead of regrown (a visible share of reading).
    let mut items = Vec::with_capacity(memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1);
    let mut meta = Vec::new();
    let mut meta_lines = Vec::new();
    let mut start = 0;
    let mut line_no = 0;
    while start < text.len() {
        line_no += 1;
        // Byte searches (memchr) rather than `str::find(char)`: this loop reads every line
        // twice per encryption (the plaintext, then the output read back).
        let end = memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
        let next = (end + 1).min(text.len());
        let line = &text[start..end];
        let pos = Position { line: line_no, col: 1 };
        // sops splits lines at LF only: a CR anywhere but before the LF would make the rest
        // of the "line" part of one value (a file with classic-Mac CR line breaks becomes a
        // single value). Refuse it here, by line, before anything is encrypted.
        if memchr::memchr(b'\r', line.trim_end_matches('\r').as_bytes()).is_some() {
            return Err(SopsError::Syntax {
                store: NAME,
                line: line_no,
                msg: "a carriage return inside the line (CR line breaks, or a stray CR); sops would read the rest as part of one value: convert the file to LF or CRLF line breaks".into(),
            });
        }
        if line.is_empty() {
            // sops skips blank lines; tresor keeps them where they are.
        } else if let Some(c) = line.strip_prefix('#') {
            // The span leaves the `#` out: only the text is encrypted in place.
            items.push(MapItem::Comment(Comment { text: c.to_string(), span: start + 1..end, pos }));
        } else {
            let eq = memchr::memchr(b'=', line.as_bytes()).ok_or(SopsError::Syntax {
                store: NAME,
                line: line_no,
                msg: "expected KEY=VALUE or a # comment (sops reads every other line that way)".into(),
            })?;
            let (key, value) = (&line[..eq], &line[eq + 1..]);
            if let Some(m) = key.strip_prefix(META_PREFIX) {
                meta.push((m.to_string(), unescape(value)));
                meta_lines.push(start..next);
            } else {
                let vstart = start + eq + 1;
                items.push(MapItem::Entry(Entry {
                    key: key.to_string(),
                    key_is_string: true,
                    key_span: start..start + eq,
                    key_pos: pos,
                    value: Node::Scalar(Scalar {
                        text: unescape(value),
                        style: ScalarStyle::Plain,
                        tag: None,
                        span: vstart..end,
                        header: None,
                        indent: 0,
                        in_flow: false,
                        pos: Position { line: line_no, col: eq + 2 },
                    }),
                }));
            }
        }
        start = next;
    }
    let root = Node::Map(Map { items, flow: false, indent: 0, pos: Position { line: 1, col: 1 }, span: 0..text.len() });
    Ok(Parsed { doc: Document { root, anchors: Vec::new(), append_at: text.len() }, meta, meta_lines })
}

/// The file as text, bytes that are not UTF-8 carried as `bytes_text` characters (sops
/// reads dotenv values as bytes).
fn text_of(src: &[u8]) -> Result<std::borrow::Cow<'_, str>, SopsError> {
    bytes_text::decode(src).ok_or_else(|| {
        SopsError::Unsupported(
            "the file holds a character in U+F780–U+F7FF, which tresor reserves to carry bytes that are not UTF-8 \
             through dotenv files"
                .into(),
        )
    })
}

fn read_metadata(p: &Parsed) -> Result<(Metadata, bool), SopsError> {
    if p.meta.is_empty() {
        return Err(SopsError::MetadataNotFound);
    }
    flat::read_flat_metadata(&p.meta)
}

/// The metadata lines sops writes: every flattened key with the `sops_` prefix, sorted.
fn metadata_lines(meta: &Metadata, no_final_newline: bool) -> String {
    let mut pairs = meta.to_flat();
    if no_final_newline {
        pairs.push((flat::NO_FINAL_NEWLINE.into(), "true".into()));
    }
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{META_PREFIX}{k}={}\n", escape(v))).collect()
}

/// Decrypt a dotenv file with `cipher` (the store's `decrypt`, and its read-back).
fn decrypt(src: &[u8], cipher: &Cipher, opts: DecryptOptions) -> Result<Plain, SopsError> {
    let text = text_of(src)?;
    let parsed = parse(&text)?;
    let (meta, no_final_newline) = read_metadata(&parsed)?;
    let (mut edits, stash, warnings) = flat::decrypt(&parsed.doc, &meta, cipher, opts, &RENDER)?;
    edits.extend(parsed.meta_lines.iter().map(|r| Edit { range: r.clone(), text: String::new() }));
    let mut out = Zeroizing::new(splice::apply(&text, edits));
    if no_final_newline && out.ends_with('\n') {
        out.pop();
    }
    Ok(Plain { bytes: Zeroizing::new(bytes_text::encode(&out).into_owned()), stash, warnings })
}

/// A decrypted value goes back with its line breaks as `\n`; a carriage return only at its
/// end (a CRLF file's line, as sops reads it). A comment is one line.
static RENDER: flat::Render = flat::Render {
    value: |text| {
        if memchr::memchr2(b'\r', b'\n', text.as_bytes()).is_none() {
            return Ok(text.to_string());
        }
        if text.contains('\r') && !(text.ends_with('\r') && text.matches('\r').count() == 1) {
            return Err("the plaintext holds a carriage return inside it");
        }
        Ok(escape(text))
    },
    comment: |text| !text.contains(['\n', '\r']),
    to_bytes: bytes_text::encode,
    from_bytes: bytes_text::decode,
};

impl Store for Dotenv {
    fn name(&self) -> &'static str {
        NAME
    }

    fn metadata(&self, src: &[u8]) -> Result<Metadata, SopsError> {
        read_metadata(&parse(&text_of(src)?)?).map(|(m, _)| m)
    }

    fn encrypt(
        &self,
        plain: &[u8],
        key: &DataKey,
        mut meta: Metadata,
        opts: &EncryptOptions,
    ) -> Result<Vec<u8>, SopsError> {
        let text = text_of(plain)?;
        let parsed = parse(&text)?;
        if !parsed.meta.is_empty() {
            return Err(SopsError::AlreadyEncrypted);
        }
        let cipher = Cipher::recording(key);
        let edits = flat::encrypt(&parsed.doc, &cipher, &mut meta, opts.stash, &RENDER)?;
        // Freed before the read-back parses the output, which reuses its memory: every page
        // a process touches first costs a fault, a visible share of a small file's time.
        drop(parsed);
        let mut out = splice::apply(&text, edits);
        let no_final_newline = !out.is_empty() && !out.ends_with('\n');
        if no_final_newline {
            out.push('\n');
        }
        out.push_str(&metadata_lines(&meta, no_final_newline));
        // Text without carried bytes is its own bytes: no second copy of the output.
        let carried = match bytes_text::encode(&out) {
            std::borrow::Cow::Owned(bytes) => Some(bytes),
            std::borrow::Cow::Borrowed(_) => None,
        };
        let out = carried.unwrap_or_else(|| out.into_bytes());
        super::read_back(self, out, &cipher, plain, |out, cipher| decrypt(out, cipher, DecryptOptions::default()))
    }

    fn decrypt(&self, src: &[u8], _meta: &Metadata, key: &DataKey, opts: DecryptOptions) -> Result<Plain, SopsError> {
        decrypt(src, &Cipher::new(key), opts)
    }

    fn data(&self, plain: &[u8]) -> Result<J, SopsError> {
        let parsed = parse(&text_of(plain)?)?;
        let mut map = JMap::new();
        if let Node::Map(m) = &parsed.doc.root {
            for e in m.entries() {
                if let Node::Scalar(s) = &e.value {
                    map.insert(e.key.clone(), J::String(s.text.clone()));
                }
            }
        }
        Ok(J::Object(map))
    }

    fn emit(&self, data: &J) -> Result<Vec<u8>, SopsError> {
        let J::Object(map) = data else {
            return Err(SopsError::Unsupported("dotenv output needs a mapping at the top".into()));
        };
        let mut out = String::new();
        for (k, v) in map {
            let text = match v {
                J::String(s) => s.clone(),
                J::Null => String::new(),
                J::Bool(_) | J::Number(_) => v.to_string(),
                J::Array(_) | J::Object(_) => {
                    return Err(SopsError::Unsupported(format!(
                        "cannot write the nested value of '{k}' as dotenv (one KEY=VALUE per line); decrypt to YAML or JSON"
                    )))
                }
            };
            if k.contains(['=', '\n']) || k.starts_with('#') || k.is_empty() {
                return Err(SopsError::Unsupported(format!("the key {k:?} cannot be written as dotenv")));
            }
            out.push_str(&format!("{k}={}\n", escape(&text)));
        }
        Ok(out.into_bytes())
    }

    fn set_values(&self, plain: &str, changes: &[(String, Option<String>)]) -> Option<String> {
        let parsed = parse(plain).ok()?;
        let Node::Map(m) = &parsed.doc.root else { return None };
        let mut edits = Vec::new();
        let mut added = String::new();
        for (key, value) in changes {
            let entry = m.entries().find(|e| &e.key == key);
            match (entry, value) {
                (Some(e), Some(v)) => {
                    let Node::Scalar(s) = &e.value else { return None };
                    edits.push(Edit { range: s.span.clone(), text: escape(v) });
                }
                (Some(e), None) => {
                    // The whole line, its line break included.
                    let end = plain[e.key_span.start..].find('\n').map_or(plain.len(), |i| e.key_span.start + i + 1);
                    edits.push(Edit { range: e.key_span.start..end, text: String::new() });
                }
                (None, Some(v)) => added.push_str(&format!("{key}={}\n", escape(v))),
                (None, None) => {}
            }
        }
        let mut out = splice::apply(plain, edits);
        if !added.is_empty() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&added);
        }
        Some(out)
    }

    fn replace_metadata(&self, src: &[u8], meta: &Metadata) -> Result<Vec<u8>, SopsError> {
        let text = text_of(src)?;
        let parsed = parse(&text)?;
        let (_, no_final_newline) = read_metadata(&parsed)?;
        let edits = parsed.meta_lines.iter().map(|r| Edit { range: r.clone(), text: String::new() }).collect();
        let mut out = splice::apply(&text, edits);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&metadata_lines(meta, no_final_newline));
        Ok(bytes_text::encode(&out).into_owned())
    }

    fn template(&self) -> &'static str {
        "# Write your secrets here as KEY=VALUE lines; values are encrypted when you save and quit.\nEXAMPLE_KEY=example_value\n"
    }

    fn flux_marker(&self) -> Option<&'static str> {
        Some("sops_mac=ENC[")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        Metadata { version: crate::metadata::FORMAT_VERSION.into(), ..Metadata::default() }
    }

    /// The read-back answers recorded envelopes from the record (`Cipher::recording`); an
    /// output that reads back differently must still be refused, as a writer bug would make
    /// it: two values' envelopes swapped (each one the cipher recorded, under the other's
    /// AAD), a value's line dropped, a comment turned into a value.
    #[test]
    fn the_read_back_refuses_outputs_that_read_differently_though_every_envelope_was_recorded() {
        let key = DataKey::generate();
        let plain = "# note\nA=one\nB=two\n";
        let encrypted = || {
            let cipher = Cipher::recording(&key);
            let mut m = meta();
            let edits = flat::encrypt(&parse(plain).unwrap().doc, &cipher, &mut m, None, &RENDER).unwrap();
            let mut out = splice::apply(plain, edits);
            out.push_str(&metadata_lines(&m, false));
            (out, cipher)
        };
        let read_back = |out: String, cipher: &Cipher| {
            super::super::read_back(&Dotenv, out.into_bytes(), cipher, plain.as_bytes(), |o, c| {
                decrypt(o, c, DecryptOptions::default())
            })
        };
        let (out, cipher) = encrypted();
        assert!(read_back(out, &cipher).is_ok(), "the output as written reads back");
        let breaks: [fn(&str) -> String; 3] = [
            |out| {
                let a = out.lines().find(|l| l.starts_with("A=")).unwrap();
                let b = out.lines().find(|l| l.starts_with("B=")).unwrap();
                out.replace(a, "@").replace(b, &format!("B={}", &a[2..])).replace('@', &format!("A={}", &b[2..]))
            },
            |out| out.lines().filter(|l| !l.starts_with("B=")).map(|l| format!("{l}\n")).collect(),
            |out| out.replacen("#", "C=", 1),
        ];
        for broken in breaks {
            let (out, cipher) = encrypted();
            let bad = broken(&out);
            assert_ne!(bad, out);
            assert!(read_back(bad, &cipher).is_err(), "refused");
        }
    }

    #[test]
    fn round_trips_byte_for_byte_with_blank_lines_comments_and_no_final_newline() {
        let key = DataKey::generate();
        for src in [
            "# top\nA=1\n\nB=two words\nC=\"quoted\"\nD=multi\\nline\nE_unencrypted=clear\nexport F=x\n#\nG=",
            "A=1\r\nB=2\r\n",
            "",
            "ONLY=one",
        ] {
            let enc = Dotenv.encrypt(src.as_bytes(), &key, meta(), &EncryptOptions::default()).unwrap();
            let text = String::from_utf8(enc.clone()).unwrap();
            assert!(text.contains("sops_mac=ENC["), "{text}");
            assert!(!text.contains("two words") && !text.contains("top\n"), "{text}");
            assert_eq!(src.contains("E_unencrypted"), text.contains("E_unencrypted=clear\n"));
            let m = Dotenv.metadata(&enc).unwrap();
            let back = Dotenv.decrypt(&enc, &m, &key, DecryptOptions::default()).unwrap();
            assert_eq!(String::from_utf8(back.bytes.to_vec()).unwrap(), src);
        }
    }

    #[test]
    fn a_line_without_equals_is_named_by_number_not_quoted() {
        let e = Dotenv.encrypt(b"A=1\nsecret-token\n", &DataKey::generate(), meta(), &EncryptOptions::default());
        let msg = e.unwrap_err().to_string();
        assert!(msg.starts_with("dotenv line 2:") && !msg.contains("secret-token"), "{msg}");
    }

    #[test]
    fn tampering_is_refused() {
        let key = DataKey::generate();
        let enc = Dotenv.encrypt(b"A=1\nB_unencrypted=2\n", &key, meta(), &EncryptOptions::default()).unwrap();
        let text = String::from_utf8(enc).unwrap();
        let m = Dotenv.metadata(text.as_bytes()).unwrap();
        for bad in [text.replace("B_unencrypted=2", "B_unencrypted=3"), text.replacen("A=ENC", "X=ENC", 1)] {
            assert!(Dotenv.decrypt(bad.as_bytes(), &m, &key, DecryptOptions::default()).is_err());
        }
        let injected = format!("EVIL=1\n{text}");
        assert!(Dotenv.decrypt(injected.as_bytes(), &m, &key, DecryptOptions::default()).is_err());
    }
}
