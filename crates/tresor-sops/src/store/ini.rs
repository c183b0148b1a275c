//! The INI store, compatible with sops' (go-ini) reading and written losslessly.
//!
//! go-ini reads more than it appears to: a `#` or `;` anywhere in a value starts a comment
//! (even inside quotes), quotes are stripped. tresor encrypts the subset where every reader
//! agrees — `[section]` headers, `key = value` (or `key: value`) lines whose value holds no
//! `#`, `;` or leading quote, and `;`/`#` comment lines — and refuses the rest naming the
//! line, never guessing. Keys before the first header are go-ini's `DEFAULT` section (AAD
//! `DEFAULT:key:`, written without a header, as sops writes it); a UTF-8 BOM is skipped as
//! go-ini skips it, and kept.
//!
//! As go-ini files them, comment lines belong to the next key or section header, blank lines
//! between them included: one comment (the first marker and the spaces after it removed),
//! encrypted as one `ENC[…]` written after the first line's marker. Decrypted values are
//! written as go-ini writes them (backticks around `#`/`;`, `"""` around line breaks and
//! backticks, quotes around edge spaces), so sops' files read back as sops prints them.
//! Metadata is a `[sops]` section of flattened keys.

use serde_json::{Map as JMap, Value as J};
use tresor_format::tree::{Comment, Document, Entry, Map, MapItem, Node, Scalar, ScalarStyle};
use tresor_format::Position;
use zeroize::Zeroizing;

use super::{flat, utf8, Plain, Store};
use crate::cipher::{Cipher, DataKey};
use crate::error::SopsError;
use crate::file::{DecryptOptions, EncryptOptions};
use crate::metadata::Metadata;
use crate::splice::{self, Edit};

pub struct Ini;

const NAME: &str = "INI";
const META_SECTION: &str = "sops";
/// go-ini's section for keys before the first header.
const DEFAULT_SECTION: &str = "DEFAULT";
const BOM: &str = "\u{feff}";

fn syntax(line: usize, msg: &str) -> SopsError {
    SopsError::Syntax { store: NAME, line, msg: msg.into() }
}

fn pos(line: usize) -> Position {
    Position { line, col: 1 }
}

/// A parsed INI file: the document (sections as mappings), the metadata pairs and the
/// byte range of the `[sops]` section.
struct Parsed {
    doc: Document,
    meta: Vec<(String, String)>,
    meta_range: Option<std::ops::Range<usize>>,
}

/// One comment block being collected: the span of its text (after the first marker and
/// its spaces) and the text as sops reads it.
struct Pending {
    span: std::ops::Range<usize>,
    text: String,
    line: usize,
}

fn comment_item(p: Pending) -> Comment {
    Comment { text: p.text, span: p.span, pos: pos(p.line) }
}

fn parse(text: &str) -> Result<Parsed, SopsError> {
    let mut root: Vec<MapItem> = Vec::new();
    // The open section: (name, header span start, items).
    let mut section: Option<(String, usize, Vec<MapItem>, usize)> = None;
    let mut pending: Option<Pending> = None;
    // Earlier runs of comment lines (separated from `pending` by blank lines), waiting like
    // it for the key or section go-ini gives them to. Each run is its own comment: a blank
    // line inside one encrypted comment makes sops' INI writer panic.
    let mut held: Vec<Pending> = Vec::new();
    let take_all = |pending: &mut Option<Pending>, held: &mut Vec<Pending>| -> Vec<MapItem> {
        held.drain(..).chain(pending.take()).map(|p| MapItem::Comment(comment_item(p))).collect()
    };
    let mut meta = Vec::new();
    let mut meta_range: Option<std::ops::Range<usize>> = None;
    let mut in_meta = false;
    // go-ini skips a UTF-8 BOM; spans stay offsets into the whole text, so it is kept.
    let mut start = if text.starts_with(BOM) { BOM.len() } else { 0 };
    let mut n = 0;
    // Names seen, so duplicate checks stay linear in the number of keys (a list scan per
    // key made 40,000 keys in one section take 18 s).
    let mut sections_seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    // Borrowed from the text: an owned copy of every key was a visible share of reading.
    let mut keys_seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let close = |section: &mut Option<(String, usize, Vec<MapItem>, usize)>, root: &mut Vec<MapItem>, end: usize| {
        if let Some((name, at, items, line)) = section.take() {
            root.push(MapItem::Entry(Entry {
                key: name,
                key_is_string: true,
                key_span: at..at,
                key_pos: pos(line),
                value: Node::Map(Map { items, flow: false, indent: 0, pos: pos(line), span: at..end }),
            }));
        }
    };
    while start < text.len() {
        n += 1;
        // Byte searches (memchr) rather than `str::find(char)`: an encryption reads every
        // line twice (the plaintext, then the output read back).
        let end = memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
        let next = (end + 1).min(text.len());
        let raw = &text[start..end];
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if memchr::memchr(b'\r', line.as_bytes()).is_some() {
            return Err(syntax(n, "a carriage return inside the line (CR line breaks, or a stray CR); readers disagree on where such a line ends"));
        }
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if trimmed.is_empty() {
            // go-ini skips blank lines: comment runs above them still belong to the next key
            // or section (the blank lines stay in the text between the runs).
        } else if trimmed.starts_with(';') || trimmed.starts_with('#') {
            if in_meta {
                return Err(syntax(n, "a comment inside the [sops] metadata section"));
            }
            let body_at = start + indent + 1;
            let body = &text[body_at..start + line.len()];
            let lead = body.len() - body.trim_start().len();
            let blank_between = pending.as_ref().is_some_and(|p| text[p.span.end..start].matches('\n').count() > 1);
            if blank_between {
                held.extend(pending.take());
            }
            match &mut pending {
                Some(p) => {
                    // The line break as written (CRLF files keep theirs) and the line.
                    p.text.push_str(&text[p.span.end..start]);
                    p.text.push_str(line);
                    p.span.end = start + line.len();
                }
                None => {
                    pending = Some(Pending {
                        span: body_at + lead..start + line.len(),
                        text: body.trim_start().to_string(),
                        line: n,
                    })
                }
            }
        } else if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.contains(['[', ']']))
                .ok_or_else(|| syntax(n, "expected a [section] header"))?;
            if in_meta {
                meta_range.as_mut().expect("open").end = start;
            }
            // go-ini gives a comment block above a header to that section; sops then files
            // it inside the section (its AAD is the section's path), written above the header.
            // Above the metadata section it is the data's last comment: tresor encrypted it
            // as the end of the section before (or of the file).
            let mut above = take_all(&mut pending, &mut held);
            if name == META_SECTION {
                match &mut section {
                    Some((_, _, items, _)) => items.append(&mut above),
                    None => root.append(&mut above),
                }
            }
            close(&mut section, &mut root, start);
            in_meta = name == META_SECTION;
            if in_meta {
                if meta_range.is_some() {
                    return Err(syntax(n, "a second [sops] section"));
                }
                meta_range = Some(start..text.len());
            } else {
                if !sections_seen.insert(name.to_string()) {
                    return Err(syntax(n, "a section that appeared before (go-ini would merge them)"));
                }
                keys_seen.clear();
                section = Some((name.to_string(), start, above, n));
            }
        } else {
            let sep = memchr::memchr2(b'=', b':', line.as_bytes())
                .ok_or_else(|| syntax(n, "expected key = value, a [section] or a comment"))?;
            let key = line[..sep].trim();
            let after = &line[sep + 1..];
            let value = after.trim();
            let vstart = start + sep + 1 + (after.len() - after.trim_start().len());
            if key.is_empty() {
                return Err(syntax(n, "a line with an empty key"));
            }
            if in_meta {
                // sops 3.13.0/3.13.1 wrote multi-line metadata values as go-ini's `"""…"""`
                // blocks; other versions escape the line breaks as `\n`.
                if let Some(first) = value.strip_prefix("\"\"\"") {
                    let mut v = String::new();
                    let mut rest_at = next;
                    let mut body = first.to_string();
                    loop {
                        if let Some(done) = body.strip_suffix("\"\"\"") {
                            v.push_str(done);
                            break;
                        }
                        v.push_str(&body);
                        v.push('\n');
                        if rest_at >= text.len() {
                            return Err(syntax(n, "a \"\"\" metadata value that does not end"));
                        }
                        let e = text[rest_at..].find('\n').map_or(text.len(), |i| rest_at + i);
                        body = text[rest_at..e].strip_suffix('\r').unwrap_or(&text[rest_at..e]).to_string();
                        rest_at = (e + 1).min(text.len());
                        n += 1;
                    }
                    meta.push((key.to_string(), v.replace("\\n", "\n")));
                    start = rest_at;
                    continue;
                }
                meta.push((key.to_string(), value.replace("\\n", "\n")));
                start = next;
                continue;
            }
            if memchr::memchr2(b'#', b';', value.as_bytes()).is_some() {
                return Err(syntax(
                    n,
                    "the value holds `#` or `;`, which sops' INI reader takes as the start of a comment (even inside quotes); tresor refuses rather than encrypt a different value",
                ));
            }
            if value.starts_with(['"', '\'', '`']) {
                return Err(syntax(
                    n,
                    "a quoted value: sops' INI reader removes the quotes; write the value without them",
                ));
            }
            if value.ends_with('\\') {
                return Err(syntax(n, "a continued value (ending in `\\`) is not supported"));
            }
            if section.is_none() {
                // Keys before the first header: go-ini's DEFAULT section, with no header.
                if !sections_seen.insert(DEFAULT_SECTION.to_string()) {
                    return Err(syntax(
                        n,
                        "keys before the first section, and a [DEFAULT] section (go-ini would merge them)",
                    ));
                }
                keys_seen.clear();
                section = Some((DEFAULT_SECTION.to_string(), start, Vec::new(), n));
            }
            let Some((_, _, items, _)) = &mut section else { unreachable!("opened above") };
            if !keys_seen.insert(key) {
                return Err(syntax(n, "a key that appeared before in this section"));
            }
            items.extend(take_all(&mut pending, &mut held));
            items.push(MapItem::Entry(Entry {
                key: key.to_string(),
                key_is_string: true,
                key_span: start + indent..start + sep,
                key_pos: pos(n),
                value: Node::Scalar(Scalar {
                    text: value.to_string(),
                    style: ScalarStyle::Plain,
                    tag: None,
                    span: vstart..vstart + value.len(),
                    header: None,
                    indent: 0,
                    in_flow: false,
                    pos: Position { line: n, col: sep + 2 },
                }),
            }));
        }
        start = next;
    }
    let mut rest = take_all(&mut pending, &mut held);
    match &mut section {
        Some((_, _, items, _)) => items.append(&mut rest),
        None => root.append(&mut rest),
    }
    close(&mut section, &mut root, text.len());
    let root = Node::Map(Map { items: root, flow: false, indent: 0, pos: pos(1), span: 0..text.len() });
    Ok(Parsed { doc: Document { root, anchors: Vec::new(), append_at: text.len() }, meta, meta_range })
}

/// The metadata and whether the plaintext had no final line break.
fn read_metadata(p: &Parsed) -> Result<(Metadata, bool), SopsError> {
    if p.meta_range.is_none() {
        return Err(SopsError::MetadataNotFound);
    }
    flat::read_flat_metadata(&p.meta)
}

fn metadata_section(meta: &Metadata, no_final_newline: bool) -> String {
    let mut out = format!("[{META_SECTION}]\n");
    for (k, v) in meta.to_flat() {
        out.push_str(&format!("{k} = {}\n", v.replace('\n', "\\n")));
    }
    if no_final_newline {
        out.push_str(&format!("{} = true\n", flat::NO_FINAL_NEWLINE));
    }
    out
}

/// A decrypted value must read back as itself and nothing else; a comment block's lines
/// after the first keep their own markers.
static RENDER: flat::Render = flat::Render {
    // As go-ini writes a value (sops' output): tresor's own files only hold values that need
    // none of this, so they come back byte for byte.
    value: |text| {
        // The common case in one byte pass: nothing that needs quoting or a refusal (the
        // checks below, each a search of its own, were 1,600 instructions per value).
        let special = |c: &u8| matches!(c, b'\r' | b'\n' | b'`' | b'#' | b';' | b'"');
        if !text.as_bytes().iter().any(special) && text.trim() == text {
            return Ok(text.to_string());
        }
        if text.contains('\r') || text.contains("\"\"\"") {
            return Err("the plaintext cannot be written as an INI value that reads back the same");
        }
        Ok(if text.contains(['\n', '`']) {
            format!("\"\"\"{text}\"\"\"")
        } else if text.contains(['#', ';']) {
            format!("`{text}`")
        } else if text.trim() != text {
            format!("\"{text}\"")
        } else {
            text.to_string()
        })
    },
    comment: |text| {
        !text.replace("\r\n", "\n").contains('\r')
            && text.lines().skip(1).all(|l| {
                let l = l.trim_start();
                l.is_empty() || l.starts_with(';') || l.starts_with('#')
            })
    },
    to_bytes: flat::utf8_bytes,
    from_bytes: flat::utf8_text,
};

/// Decrypt an INI file with `cipher` (the store's `decrypt`, and its read-back).
fn decrypt(src: &[u8], cipher: &Cipher, opts: DecryptOptions) -> Result<Plain, SopsError> {
    let text = utf8(src, "ini")?;
    let parsed = parse(text)?;
    let (meta, no_final_newline) = read_metadata(&parsed)?;
    let (mut edits, stash, warnings) = flat::decrypt(&parsed.doc, &meta, cipher, opts, &RENDER)?;
    let range = parsed.meta_range.clone().expect("checked");
    // The metadata section and the blank line written before it.
    let mut cut = range.start;
    if text[..cut].ends_with("\n\n") {
        cut -= 1;
    }
    edits.push(Edit { range: cut..range.end, text: String::new() });
    let mut out = splice::apply(text, edits);
    if no_final_newline && out.ends_with('\n') {
        out.pop();
    }
    Ok(Plain { bytes: Zeroizing::new(out.into_bytes()), stash, warnings })
}

impl Store for Ini {
    fn name(&self) -> &'static str {
        "ini"
    }

    fn metadata(&self, src: &[u8]) -> Result<Metadata, SopsError> {
        read_metadata(&parse(utf8(src, "ini")?)?).map(|(m, _)| m)
    }

    fn encrypt(
        &self,
        plain: &[u8],
        key: &DataKey,
        mut meta: Metadata,
        opts: &EncryptOptions,
    ) -> Result<Vec<u8>, SopsError> {
        let text = utf8(plain, "ini")?;
        let parsed = parse(text)?;
        if parsed.meta_range.is_some() {
            return Err(SopsError::AlreadyEncrypted);
        }
        let cipher = Cipher::recording(key);
        let edits = flat::encrypt(&parsed.doc, &cipher, &mut meta, opts.stash, &RENDER)?;
        // Freed before the read-back parses the output (see the dotenv store).
        drop(parsed);
        let mut out = splice::apply(text, edits);
        // The metadata section needs a line of its own, after a blank line as sops writes
        // it; a plaintext without a final line break says so, for decryption to restore.
        let no_final_newline = !out.is_empty() && !out.ends_with('\n');
        if no_final_newline {
            out.push('\n');
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&metadata_section(&meta, no_final_newline));
        super::read_back(self, out.into_bytes(), &cipher, plain, |out, cipher| {
            decrypt(out, cipher, DecryptOptions::default())
        })
    }

    fn decrypt(&self, src: &[u8], _meta: &Metadata, key: &DataKey, opts: DecryptOptions) -> Result<Plain, SopsError> {
        decrypt(src, &Cipher::new(key), opts)
    }
    fn data(&self, plain: &[u8]) -> Result<J, SopsError> {
        let parsed = parse(utf8(plain, "ini")?)?;
        let mut root = JMap::new();
        if let Node::Map(m) = &parsed.doc.root {
            for e in m.entries() {
                let mut section = JMap::new();
                if let Node::Map(s) = &e.value {
                    for kv in s.entries() {
                        if let Node::Scalar(sc) = &kv.value {
                            section.insert(kv.key.clone(), J::String(sc.text.clone()));
                        }
                    }
                }
                root.insert(e.key.clone(), J::Object(section));
            }
        }
        Ok(J::Object(root))
    }

    fn emit(&self, data: &J) -> Result<Vec<u8>, SopsError> {
        let unsupported = |what: String| SopsError::Unsupported(format!("cannot write {what} as INI"));
        let J::Object(sections) = data else { return Err(unsupported("data that is not a mapping".into())) };
        let mut out = String::new();
        for (name, body) in sections {
            let J::Object(kv) = body else {
                return Err(unsupported(format!("the top-level value '{name}' (INI holds sections of key = value)")));
            };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{name}]\n"));
            for (k, v) in kv {
                let text = match v {
                    J::String(s) => s.clone(),
                    J::Null => String::new(),
                    J::Bool(_) | J::Number(_) => v.to_string(),
                    _ => return Err(unsupported(format!("the nested value of '{name}.{k}'"))),
                };
                if text.contains(['\n', '#', ';']) || k.contains(['=', ':', '[', '\n']) {
                    return Err(unsupported(format!("the value of '{name}.{k}'")));
                }
                out.push_str(&format!("{k} = {text}\n"));
            }
        }
        Ok(out.into_bytes())
    }

    fn replace_metadata(&self, src: &[u8], meta: &Metadata) -> Result<Vec<u8>, SopsError> {
        let text = utf8(src, "ini")?;
        let parsed = parse(text)?;
        let range = parsed.meta_range.clone().ok_or(SopsError::MetadataNotFound)?;
        let (_, no_final_newline) = read_metadata(&parsed)?;
        Ok(splice::apply(text, vec![Edit { range, text: metadata_section(meta, no_final_newline) }]).into_bytes())
    }

    fn template(&self) -> &'static str {
        "; Write your secrets here; values are encrypted when you save and quit.\n[example]\nkey = value\n"
    }

    fn flux_marker(&self) -> Option<&'static str> {
        Some("[sops]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        Metadata { version: crate::metadata::FORMAT_VERSION.into(), ..Metadata::default() }
    }

    #[test]
    fn a_carriage_return_inside_a_line_is_refused_at_parse_naming_the_line() {
        for text in ["[s]\na = x\rb\n", "[s]\r\na = 1\r\nb = 2\rc\r\n", "[s]\r# c\ra = 1\n"] {
            let key = DataKey::from_bytes(&[1u8; 32]).unwrap();
            match Ini.encrypt(text.as_bytes(), &key, meta(), &EncryptOptions::default()) {
                Err(SopsError::Syntax { line, msg, .. }) => {
                    assert!(msg.contains("carriage return"), "{msg}");
                    assert!(line >= 1, "{text:?}");
                }
                other => panic!("{text:?}: {:?}", other.map(|_| ())),
            }
        }
        // CRLF line breaks are line breaks, not a stray CR.
        let key = DataKey::from_bytes(&[1u8; 32]).unwrap();
        assert!(Ini.encrypt(b"[s]\r\na = 1\r\n", &key, meta(), &EncryptOptions::default()).is_ok());
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let key = DataKey::generate();
        for src in [
            "; top\n# top2\n[sec]\n# c1\nkey = value\nother=v2\n\n[empty]\n[s2]\nk: 1\nk_unencrypted = clear\n",
            "[a]\r\nb = c\r\n",
            "[a]\nb=c",
            "",
        ] {
            let enc = Ini.encrypt(src.as_bytes(), &key, meta(), &EncryptOptions::default()).unwrap();
            let text = String::from_utf8(enc.clone()).unwrap();
            assert!(text.contains("[sops]\n") && !text.contains("value") && !text.contains("top2"), "{text}");
            let m = Ini.metadata(&enc).unwrap();
            let back = Ini.decrypt(&enc, &m, &key, DecryptOptions::default()).unwrap();
            assert_eq!(String::from_utf8(back.bytes.to_vec()).unwrap(), src);
        }
    }

    #[test]
    fn reads_metadata_as_sops_3_13_0_wrote_it_with_multi_line_values() {
        let key = DataKey::generate();
        let mut m = meta();
        m.key_groups = vec![crate::metadata::KeyGroup {
            keys: vec![crate::metadata::MasterKey::new(
                "age",
                &[
                    ("recipient", "age1example"),
                    ("enc", "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"),
                ],
            )],
        }];
        let enc = Ini.encrypt(b"[a]\nb = c\n", &key, m, &EncryptOptions::default()).unwrap();
        // The same metadata as go-ini writes a value with real line breaks.
        let text = String::from_utf8(enc).unwrap();
        let rewritten: String = text
            .lines()
            .map(|l| match l.split_once(" = ") {
                Some((k, v)) if v.contains("\\n") => format!("{k} = \"\"\"{}\"\"\"\n", v.replace("\\n", "\n")),
                _ => format!("{l}\n"),
            })
            .collect();
        assert!(rewritten.contains("= \"\"\"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n"), "{rewritten}");
        let m = Ini.metadata(rewritten.as_bytes()).unwrap();
        assert!(m.key_groups[0].keys[0].enc().is_some_and(|enc| enc.contains("\nYWdl\n")));
        let back = Ini.decrypt(rewritten.as_bytes(), &m, &key, DecryptOptions::default()).unwrap();
        assert_eq!(back.bytes.as_slice(), b"[a]\nb = c\n");
    }

    #[test]
    fn refuses_what_sops_would_read_differently_naming_the_line() {
        for (src, line) in [
            ("[a]\npw = abc#123\n", 2),
            ("[a]\npw = \"secretval\"\n", 2),
            ("top = 1\n[DEFAULT]\nx = 2\n", 2),
            ("[a]\nk=1\nk=2\n", 3),
            ("[a]\njust words\n", 2),
        ] {
            let e = Ini.encrypt(src.as_bytes(), &DataKey::generate(), meta(), &EncryptOptions::default());
            let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.starts_with(&format!("INI line {line}:")), "{src:?}: {msg}");
            assert!(!msg.contains("abc") && !msg.contains("secretval") && !msg.contains("words"), "{msg}");
        }
    }
}
