//! Encrypting and decrypting whole files, splicing only the values.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use tresor_format::render::{self, Rendered, SlotCtx};
use tresor_format::scalar::{self, TypeError};
use tresor_format::tree::{Comment, Document, MapItem, Node, Scalar, ScalarStyle};
use tresor_format::{Format, Value};
use zeroize::Zeroizing;

use crate::cipher::{is_enc, Cipher, DataKey};
use crate::error::SopsError;
use crate::layout::Layout;
use crate::mac::MacHasher;
use crate::metadata::{self, Metadata, FORMAT_VERSION};
use crate::splice::{self, Edit};
use crate::verify::{DataDigest, Expected, Side, Tee, Verification, INLINE_FROM};
use crate::walk::{self, display_steps, At, Step, Visitor};

/// IVs of the values seen while decrypting, so re-encrypting an unchanged value gives the
/// same ciphertext. Keyed by a hash of (path, plaintext): no plaintext is kept.
#[derive(Default, Clone)]
pub struct IvStash(HashMap<[u8; 32], [u8; 32]>);

impl IvStash {
    fn id(aad: &str, plaintext: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(aad.as_bytes());
        h.update([0u8]);
        h.update(plaintext);
        h.finalize().into()
    }
    pub(crate) fn get(&self, aad: &str, plaintext: &[u8]) -> Option<[u8; 32]> {
        self.0.get(&Self::id(aad, plaintext)).copied()
    }
    /// Add `other`'s IVs (a merge keeps the ciphertext of values from either side).
    pub fn extend(&mut self, other: &IvStash) {
        for (k, v) in &other.0 {
            self.0.entry(*k).or_insert(*v);
        }
    }
    pub(crate) fn put(&mut self, aad: &str, plaintext: &[u8], iv: &[u8]) {
        if let Ok(iv) = <[u8; 32]>::try_from(iv) {
            self.0.insert(Self::id(aad, plaintext), iv);
        }
    }
}

/// The line ending a file uses (we write new lines the same way).
pub fn newline_of(src: &str) -> &'static str {
    match src.find('\n') {
        Some(i) if i > 0 && src.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

fn check_documents(docs: &[Document]) -> Result<(), SopsError> {
    if docs.is_empty() {
        return Err(SopsError::NoDocument);
    }
    for (i, d) in docs.iter().enumerate() {
        match &d.root {
            Node::Map(_) => {}
            Node::Scalar(s) if s.text.is_empty() && s.style == ScalarStyle::Plain => {
                if docs.len() == 1 {
                    return Err(SopsError::NoDocument);
                }
                return Err(SopsError::NotAMapping { doc: i + 1 });
            }
            _ => return Err(SopsError::NotAMapping { doc: i + 1 }),
        }
    }
    Ok(())
}

fn rest_of_line_blank(src: &str, from: usize) -> bool {
    src[from..].bytes().take_while(|&b| b != b'\n').all(|b| b == b' ' || b == b'\t' || b == b'\r')
}

/// Render a value the way the decryptor will for a slot written in `style`.
fn natural_render(src: &str, s: &Scalar, style: ScalarStyle, value: &Value, nl: &str, format: Format) -> Rendered {
    if format == Format::Json {
        return Rendered::Inline(render::json_value(value));
    }
    let block_indent = if s.header.is_some() { s.indent } else { s.indent + 2 };
    let ctx = SlotCtx {
        style,
        in_flow: s.in_flow,
        block_indent,
        newline: nl,
        can_become_block: rest_of_line_blank(src, s.span.end),
    };
    render::yaml_value(value, &ctx)
}

/// The edits that put `r` into scalar `s`'s place.
fn slot_edits(src: &str, s: &Scalar, r: Rendered, nl: &str, edits: &mut Vec<Edit>) {
    match (r, &s.header) {
        (Rendered::Block { header, body }, Some(h)) => {
            edits.push(Edit { range: h.clone(), text: header });
            edits.push(Edit { range: s.span.clone(), text: body });
        }
        (Rendered::Block { header, body }, None) => {
            edits.push(Edit { range: s.span.clone(), text: format!("{header}{nl}{body}") });
        }
        (Rendered::Inline(text), Some(h)) => {
            // A block slot receiving an inline value: drop the body lines entirely.
            edits.push(Edit { range: h.clone(), text });
            let mut start = s.span.start;
            if start > 0 && src.as_bytes()[start - 1] == b'\n' {
                start -= 1;
                if start > 0 && src.as_bytes()[start - 1] == b'\r' {
                    start -= 1;
                }
            }
            edits.push(Edit { range: start..s.span.end, text: String::new() });
        }
        (Rendered::Inline(text), None) => edits.push(Edit { range: s.span.clone(), text }),
    }
}

fn rendered_parts(r: &Rendered) -> (Option<&str>, &str) {
    match r {
        Rendered::Inline(t) => (None, t),
        Rendered::Block { header, body } => (Some(header), body),
    }
}

/// Options for [`encrypt`].
#[derive(Default)]
pub struct EncryptOptions<'a> {
    /// IVs to reuse for unchanged values (edit/set keep diffs small).
    pub stash: Option<&'a IvStash>,
}

struct EncryptVisitor<'a> {
    src: &'a str,
    format: Format,
    nl: &'a str,
    cipher: &'a Cipher,
    stash: Option<&'a IvStash>,
    mac: MacHasher,
    edits: Vec<Edit>,
    layout: Layout,
    /// Start offsets of scalars that were encrypted (to spot aliases pointing at them).
    encrypted: tresor_format::hash::FastSet<usize>,
    /// The source has a `&`: without one there is no anchor, so no alias to check.
    may_alias: bool,
    /// What the output must hold, checked by parsing it back.
    digest: DataDigest,
    /// An alias was walked: the output cannot be read back in independent pieces.
    saw_alias: bool,
}

impl<'a> EncryptVisitor<'a> {
    fn new(src: &'a str, format: Format, cipher: &'a Cipher, opts: &EncryptOptions<'a>, meta: &Metadata) -> Self {
        EncryptVisitor {
            src,
            format,
            nl: newline_of(src),
            cipher,
            stash: opts.stash,
            mac: MacHasher::new(meta.mac_only_encrypted),
            edits: Vec::new(),
            layout: Layout::default(),
            encrypted: Default::default(),
            may_alias: format == Format::Yaml && memchr::memchr(b'&', src.as_bytes()).is_some(),
            digest: DataDigest::default(),
            saw_alias: false,
        }
    }
}

fn type_err(s: &Scalar, at: &At, e: TypeError) -> SopsError {
    let msg = match e {
        TypeError::IntOutOfRange => format!(
            "the integer at {} does not fit in a signed 64-bit integer; sops cannot encrypt it (quote it to make it a string)",
            display_steps(at.path)
        ),
        TypeError::UnsupportedTag(t) => format!(
            "the value at {} has the tag {t}; sops drops tags on encryption, so tresor refuses (remove the tag or exclude the key from encryption)",
            display_steps(at.path)
        ),
    };
    SopsError::CannotEncrypt { pos: s.pos, msg }
}

impl Visitor for EncryptVisitor<'_> {
    fn value(&mut self, s: &Scalar, at: &At) -> Result<(), SopsError> {
        let value = match scalar::resolve(s) {
            Ok(v) => v,
            // Unencrypted values with tags stay as they are (sops reads them its own way).
            Err(_) if !at.encrypt => Value::Str(s.text.clone()),
            Err(e) => return Err(type_err(s, at, e)),
        };
        if at.in_alias {
            let would_encrypt = at.encrypt && !value.is_null() && value != Value::Str(String::new());
            if would_encrypt || self.encrypted.contains(&s.span.start) {
                return Err(SopsError::CannotEncrypt {
                    pos: s.pos,
                    msg: format!(
                        "an alias at {} refers to a value that is encrypted; sops expands aliases, so the anchor cannot be kept. \
                         Pass --expand-aliases to copy the value there as sops does (the file changes), or keep the anchored values unencrypted",
                        display_steps(at.path)
                    ),
                });
            }
            self.mac.leaf(&mac_bytes(s, &value, self.mac.json_ints_exact), false);
            self.digest.plain(self.format, at, &value);
            return Ok(());
        }
        if value.is_null() {
            self.digest.plain(self.format, at, &value);
            return Ok(());
        }
        if !at.encrypt || value == Value::Str(String::new()) {
            if !self.mac.only_encrypted && json_int_versions_disagree(s, &value) {
                return Err(SopsError::CannotEncrypt {
                    pos: s.pos,
                    msg: format!(
                        "the integer at {} stays in clear and is beyond 2^53, where sops 3.11 (float64) and 3.13.2 (int) compute the MAC differently, \
                         so no file can verify in both; quote it as a string, or let it be encrypted (type:int keeps it exact)",
                        display_steps(at.path)
                    ),
                });
            }
            self.mac.leaf(&mac_bytes(s, &value, self.mac.json_ints_exact), false);
            self.digest.plain(self.format, at, &value);
            return Ok(());
        }
        let plaintext = Zeroizing::new(value.canonical_bytes());
        let iv = self.stash.and_then(|st| st.get(at.aad, &plaintext));
        self.mac.leaf(&plaintext, true);
        let (enc, tag) = self.cipher.encrypt_owned(plaintext, at.aad.as_bytes(), value.sops_type(), iv);
        self.digest.cipher(at, &enc);
        if self.may_alias {
            self.encrypted.insert(s.span.start);
        }
        // A tag goes with the value into the layout record: sops drops tags, and one left
        // before ciphertext would be read back with the plaintext.
        let with_tag;
        let s = if s.tag.is_some() && self.format == Format::Yaml {
            with_tag = widen_to_tag(self.src, s, at)?;
            &with_tag
        } else {
            s
        };
        let slot = if self.format == Format::Json {
            Rendered::Inline(format!("\"{enc}\""))
        } else {
            render::encrypted_slot(enc, s.style, s.in_flow, s.indent)
        };
        // What will the decryptor write back? If that is not what the user wrote,
        // remember the original spelling in the encrypted layout record.
        let slot_style = match (&slot, s.style) {
            (_, ScalarStyle::JsonString | ScalarStyle::JsonBare) => ScalarStyle::JsonString,
            (Rendered::Block { .. }, st) => st,
            (Rendered::Inline(t), _) if t.starts_with('\'') => ScalarStyle::SingleQuoted,
            (Rendered::Inline(t), _) if t.starts_with('"') => ScalarStyle::DoubleQuoted,
            _ => ScalarStyle::Plain,
        };
        let original = (s.header.as_ref().map(|h| &self.src[h.clone()]), &self.src[s.span.clone()]);
        // The commonest case, a plain string the decryptor writes back plain, without
        // rendering it into a new string only to compare it.
        let plain_as_is = matches!((&value, slot_style, self.format), (Value::Str(t), ScalarStyle::Plain, Format::Yaml)
            if s.header.is_none() && render::plain_safe(t, s.in_flow) && t == original.1);
        if !plain_as_is {
            let natural = natural_render(self.src, s, slot_style, &value, self.nl, self.format);
            if rendered_parts(&natural) != original {
                self.layout.insert(tag, (original.0.map(str::to_string), original.1.to_string()));
            }
        }
        slot_edits(self.src, s, slot, self.nl, &mut self.edits);
        Ok(())
    }

    fn alias(&mut self, _: &tresor_format::tree::Alias, _: &At) -> Result<(), SopsError> {
        self.saw_alias = true;
        Ok(())
    }

    fn comment(&mut self, c: &Comment, at: &At) -> Result<(), SopsError> {
        // sops leaves an empty `#` as it is (it does not encrypt empty strings).
        if at.in_alias || !at.encrypt || c.text.is_empty() {
            return Ok(());
        }
        let iv = self.stash.and_then(|st| st.get(at.aad, c.text.as_bytes()));
        let enc = self.cipher.encrypt(c.text.as_bytes(), at.aad.as_bytes(), "comment", iv);
        self.digest.cipher_comment(at, &enc);
        self.edits.push(Edit { range: c.span.clone(), text: format!("#{enc}") });
        Ok(())
    }
}

/// The AAD tresor before 2026-12-07 gave a same-line comment after a flow collection
/// (`key: [] # c`): its parent's, where sops (go-yaml) files it inside the collection. Files
/// written then still open; a comment anywhere else has no second AAD.
fn legacy_trailing_comment_aad(src: &str, c: &Comment, at: &At) -> Option<String> {
    let line = &src[src[..c.span.start].rfind('\n').map_or(0, |i| i + 1)..c.span.start];
    let Some(Step::Key(k)) = at.path.last() else { return None };
    if !line.trim_end().ends_with([']', '}']) {
        return None;
    }
    let parent = at.aad.strip_suffix(':')?.strip_suffix(*k)?;
    Some(if parent.is_empty() { ":".into() } else { parent.into() })
}

/// `s` with its span (or block header) widened to start at its tag, which must stand right
/// before it on the same line.
fn widen_to_tag(src: &str, s: &Scalar, at: &At) -> Result<Scalar, SopsError> {
    let b = src.as_bytes();
    let start = s.header.as_ref().map_or(s.span.start, |h| h.start);
    let mut i = start;
    while i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
        i -= 1;
    }
    let mut t = i;
    while t > 0 && !b[t - 1].is_ascii_whitespace() {
        t -= 1;
    }
    if t == i || b[t] != b'!' {
        return Err(SopsError::CannotEncrypt {
            pos: s.pos,
            msg: format!(
                "the tagged value at {} has an anchor or line break between its tag and the value; \
                 write the tag right before the value",
                display_steps(at.path)
            ),
        });
    }
    let mut w = s.clone();
    match &mut w.header {
        Some(h) => h.start = t,
        None => w.span.start = t,
    }
    Ok(w)
}

/// The bytes an unencrypted leaf contributes to the MAC. JSON integers go through float64
/// as sops ≤ 3.13.1 (and Flux's sops library) read them, or stay integers for files a
/// sops ≥ 3.13.2 wrote (`MacHasher::json_ints_exact`).
fn mac_bytes(s: &Scalar, value: &Value, json_ints_exact: bool) -> Vec<u8> {
    match (s.style, value) {
        (ScalarStyle::JsonBare, Value::Int(i)) if !json_ints_exact => Value::Float(*i as f64).canonical_bytes(),
        _ => value.canonical_bytes(),
    }
}

/// An unencrypted JSON integer whose MAC bytes differ between sops 3.11 (float64) and
/// 3.13.2 (int): beyond 2^53, where float64 rounds it. A file holding one in clear cannot
/// verify in both, so tresor refuses to write it (quote it, or let it be encrypted).
fn json_int_versions_disagree(s: &Scalar, value: &Value) -> bool {
    matches!((s.style, value), (ScalarStyle::JsonBare, Value::Int(i))
        if Value::Float(*i as f64).canonical_bytes() != value.canonical_bytes())
}

/// Finish an encryption's metadata: `lastmodified` now, the MAC encrypted with it as AAD
/// (as sops does), and the format version.
pub(crate) fn seal(meta: &mut Metadata, cipher: &Cipher, mac: MacHasher) {
    meta.lastmodified = now_rfc3339();
    let (digest, kept) = mac.finish_keeping();
    meta.mac = cipher.encrypt(digest.as_bytes(), meta.lastmodified.as_bytes(), "str", None);
    if let Some(kept) = kept {
        cipher.keep_mac_tape((kept, digest));
    }
    meta.version = FORMAT_VERSION.to_string();
}

/// Current time as sops writes `lastmodified`: UTC, whole seconds, `Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    scalar::format_rfc3339_go(now)
}

/// The `type:` names sops reads back into a tree value. `bytes` decrypts in sops but no
/// store can write the result (sops exits 2); `comment` belongs to comments only.
pub fn value_type_sops_reads(type_name: &str) -> bool {
    matches!(type_name, "str" | "int" | "float" | "bool" | "time")
}

/// Is `s` a time Go's `time.Parse(time.RFC3339, s)` accepts, as sops parses `lastmodified`?
/// Stricter than RFC 3339 itself: an upper-case `T` and `Z`, no space separator, a
/// numeric offset `±hh:mm`.
pub fn is_go_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &rest[1 + n..];
    }
    let zone = rest == b"Z"
        || (rest.len() == 6
            && (rest[0] == b'+' || rest[0] == b'-')
            && rest[1..3].iter().all(u8::is_ascii_digit)
            && rest[3] == b':'
            && rest[4..6].iter().all(u8::is_ascii_digit));
    zone && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// Re-render a stored `lastmodified` as Go's `time.RFC3339` does before using it as AAD.
pub fn normalize_lastmodified(s: &str) -> String {
    match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        Ok(t) => scalar::format_rfc3339_go(t.replace_nanosecond(0).unwrap_or(t)),
        Err(_) => s.to_string(),
    }
}

/// Inputs from this size on are parsed on a second thread while the first encrypts or
/// decrypts what is already parsed (below it, starting the thread costs more than it saves).
const PARALLEL_FROM: usize = 256 << 10;

/// Encrypt a plaintext file. `meta` supplies the wrapped keys, rule and options; this
/// fills in `lastmodified`, `mac`, `version` and the layout record.
pub fn encrypt(
    src: &str,
    format: Format,
    key: &DataKey,
    meta: Metadata,
    opts: &EncryptOptions,
) -> Result<String, SopsError> {
    let (out, verification) = match format {
        Format::Json => encrypt_tree(src, format, key, meta, opts)?,
        Format::Yaml => {
            let mut out = Vec::with_capacity(src.len() * 2);
            let verification = encrypt_yaml_stream(src, key, meta, opts, &mut out)?;
            (String::from_utf8(out).expect("spliced from UTF-8 pieces"), verification)
        }
    };
    verification.check(out.as_bytes())?;
    Ok(out)
}

/// [`encrypt`] into a writer. YAML is encrypted as it is parsed, one batch of top-level
/// entries at a time, and written out as soon as no later edit can precede it: memory
/// stays near the input's size however large the file (the output is never held).
/// On error, part of the output may have been written; callers write to a temporary file
/// or hold the output back, and release it only once [`Verification::check`] passes on it.
pub fn encrypt_to(
    src: &str,
    format: Format,
    key: &DataKey,
    meta: Metadata,
    opts: &EncryptOptions,
    out: &mut dyn std::io::Write,
) -> Result<Verification, SopsError> {
    match format {
        Format::Json => {
            let (text, verification) = encrypt_tree(src, format, key, meta, opts)?;
            out.write_all(text.as_bytes())?;
            Ok(verification)
        }
        Format::Yaml => encrypt_yaml_stream(src, key, meta, opts, out),
    }
}

fn encrypt_yaml_stream(
    src: &str,
    key: &DataKey,
    mut meta: Metadata,
    opts: &EncryptOptions,
    out: &mut dyn std::io::Write,
) -> Result<Verification, SopsError> {
    let cipher = Cipher::new(key);
    let mut v = EncryptVisitor::new(src, Format::Yaml, &cipher, opts, &meta);
    let nl = v.nl;
    // Callers buffer (a BufWriter on files, memory on stdout): the splicer writes small pieces.
    let tee = Tee::new(out, src.len() >= INLINE_FROM, Side::Encrypted, &meta.rule);
    let mut splicer = splice::Splicer::new(src, tee);
    // Where each document's metadata goes; nothing past the first is written until the
    // MAC over all documents is known.
    let mut meta_at: Vec<(usize, usize)> = Vec::new();
    let mut docs = 0;
    let mut empty_docs = Vec::new();
    walk_yaml_stream(src, &meta.rule, &mut v, |event, v| match event {
        StreamEvent::Item(MapItem::Entry(e)) if e.key == "sops" => Err(SopsError::AlreadyEncrypted),
        StreamEvent::Item(_) => Ok(()),
        StreamEvent::Document(d) => {
            // `v.encrypted` holds offsets into the whole input, so it needs no reset here
            // (clearing it now would forget this document's items already walked).
            docs += 1;
            match &d.root {
                Node::Map(m) if m.flow => {
                    return Err(SopsError::CannotEncrypt {
                        pos: m.pos,
                        msg: "a YAML document whose top level is a flow mapping ({...}) is not supported; use block style or a .json file".into(),
                    })
                }
                Node::Map(_) if metadata::find_in(&d.root).is_some() => return Err(SopsError::AlreadyEncrypted),
                Node::Map(_) => {}
                // An empty document (the parser reports it as a `~` spanning nothing).
                Node::Scalar(s) if s.style == ScalarStyle::Plain && (s.text.is_empty() || s.span.is_empty()) => {
                    empty_docs.push(docs);
                }
                _ => return Err(SopsError::NotAMapping { doc: docs }),
            }
            meta_at.push((d.append_at, root_indent(d)));
            Ok(())
        }
        StreamEvent::Final(upto) => {
            splicer.flush(&mut v.edits, upto.min(meta_at.first().map_or(usize::MAX, |m| m.0)))?;
            if docs == 0 {
                cut_at_entry(src, &meta.rule, &mut splicer, upto)?;
            }
            Ok(())
        }
    })?;
    // Empty documents at the end (a trailing `---`) are kept as they are, as sops accepts
    // them; an empty one between documents is not a mapping.
    let mut trailing = 0;
    while empty_docs.last() == Some(&(docs - trailing)) {
        empty_docs.pop();
        trailing += 1;
    }
    if docs == trailing {
        return Err(SopsError::NoDocument);
    }
    if let Some(&doc) = empty_docs.first() {
        return Err(SopsError::NotAMapping { doc });
    }
    meta_at.truncate(docs - trailing);
    seal(&mut meta, &cipher, v.mac);
    meta.layout = v.layout.seal(&cipher);
    let mut edits = v.edits;
    edits.extend(meta_at.into_iter().map(|(at, indent)| yaml_metadata_insertion(src, at, indent, &meta, nl)));
    let expected = Expected::new(Side::Encrypted, Format::Yaml, &meta.rule, v.digest);
    let (out, verification) = splicer.finish(edits)?.finish(expected, v.saw_alias)?;
    out.flush()?;
    Ok(verification)
}

/// The tree-based encryption (JSON).
fn encrypt_tree(
    src: &str,
    format: Format,
    key: &DataKey,
    mut meta: Metadata,
    opts: &EncryptOptions,
) -> Result<(String, Verification), SopsError> {
    let docs = tresor_format::parse(src, format)?;
    check_documents(&docs)?;
    for d in &docs {
        if metadata::find_in(&d.root).is_some() {
            return Err(SopsError::AlreadyEncrypted);
        }
        if let Node::Map(m) = &d.root {
            if m.flow && format == Format::Yaml {
                return Err(SopsError::CannotEncrypt {
                    pos: m.pos,
                    msg: "a YAML document whose top level is a flow mapping ({...}) is not supported; use block style or a .json file".into(),
                });
            }
        }
    }
    let cipher = Cipher::new(key);
    let mut v = EncryptVisitor::new(src, format, &cipher, opts, &meta);
    let nl = v.nl;
    for d in &docs {
        v.encrypted.clear();
        walk::walk(d, &meta.rule, &mut v)?;
    }
    seal(&mut meta, &cipher, v.mac);
    meta.layout = v.layout.seal(&cipher);
    let mut edits = v.edits;
    for d in &docs {
        edits.push(metadata_insertion(src, format, d, &meta, nl));
    }
    Ok((splice::apply(src, edits), Verification::Pending(Expected::new(Side::Encrypted, format, &meta.rule, v.digest))))
}

fn metadata_insertion(src: &str, format: Format, d: &Document, meta: &Metadata, nl: &str) -> Edit {
    match format {
        Format::Yaml => yaml_metadata_insertion(src, d.append_at, root_indent(d), meta, nl),
        Format::Json => {
            let map = d.root.as_map().expect("checked");
            let unit = json_indent_unit(src, map);
            let last_end = map.entries().last().map(|e| tresor_format::yaml::node_end(&e.value));
            let json = meta.to_json(&unit, 1, nl);
            match (last_end, unit.is_empty()) {
                (Some(end), true) => Edit { range: end..end, text: format!(",\"sops\":{json}") },
                (Some(end), false) => Edit { range: end..end, text: format!(",{nl}{unit}\"sops\": {json}") },
                (None, true) => {
                    Edit { range: map.span.start + 1..map.span.start + 1, text: format!("\"sops\":{json}") }
                }
                (None, false) => Edit {
                    range: map.span.start + 1..map.span.start + 1,
                    text: format!("{nl}{unit}\"sops\": {json}{nl}"),
                },
            }
        }
    }
}

/// Column of a document's root block mapping: `sops:` must sit at the same column, or
/// YAML readers see it as a second, invalid root.
fn root_indent(d: &Document) -> usize {
    match &d.root {
        Node::Map(m) if !m.flow => m.indent,
        _ => 0,
    }
}

fn yaml_metadata_insertion(src: &str, at: usize, indent: usize, meta: &Metadata, nl: &str) -> Edit {
    let mut block = meta.to_yaml(nl);
    if indent > 0 {
        let pad = " ".repeat(indent);
        block = block
            .split(nl)
            .map(|l| if l.is_empty() { l.to_string() } else { format!("{pad}{l}") })
            .collect::<Vec<_>>()
            .join(nl);
    }
    let text = if at > 0 && src.as_bytes()[at - 1] == b'\n' { format!("{block}{nl}") } else { format!("{nl}{block}") };
    Edit { range: at..at, text }
}

/// The indentation unit of a JSON object: what precedes its first key on its line.
fn json_indent_unit(src: &str, map: &tresor_format::Map) -> String {
    let Some(first) = map.entries().next() else {
        return if src.contains('\n') { "\t".into() } else { String::new() };
    };
    let before = &src[map.span.start + 1..first.key_span.start];
    match before.rfind('\n') {
        Some(i) => before[i + 1..].to_string(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------- decryption

/// An encrypted file, parsed, with its metadata read but nothing decrypted yet.
pub struct EncryptedFile<'a> {
    src: &'a str,
    format: Format,
    docs: Vec<Document>,
    /// Its metadata.
    pub metadata: Metadata,
}

/// How to decrypt.
#[derive(Default, Clone, Copy)]
pub struct DecryptOptions {
    /// Decrypt even when the MAC does not match (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Remember each value's IV so a later re-encryption keeps unchanged ciphertexts
    /// (edit/set/rotate). Costs a hash per value, so plain decryption skips it.
    pub keep_ivs: bool,
}

/// A decrypted file.
pub struct Decrypted {
    /// The plaintext, byte for byte as before encryption.
    pub text: String,
    /// The IVs of the values, when asked for (`keep_ivs`).
    pub stash: IvStash,
    /// Warnings for the user (never values).
    pub warnings: Vec<String>,
}

impl<'a> EncryptedFile<'a> {
    /// Parse an encrypted file in `format` and read its metadata.
    pub fn parse(src: &'a str, format: Format) -> Result<EncryptedFile<'a>, SopsError> {
        let docs = tresor_format::parse(src, format)?;
        let first = docs.first().ok_or(SopsError::MetadataNotFound)?;
        let node = metadata::find_in(&first.root).ok_or(SopsError::MetadataNotFound)?;
        let metadata = Metadata::from_node(node)?;
        Ok(EncryptedFile { src, format, docs, metadata })
    }

    /// Decrypt with the data key, checking every value and the MAC.
    pub fn decrypt(&self, key: &DataKey, opts: DecryptOptions) -> Result<Decrypted, SopsError> {
        let cipher = Cipher::new(key);
        let layout = match &self.metadata.layout {
            Some(l) => Layout::open(l, &cipher),
            None => Layout::default(),
        };
        let mut v = DecryptVisitor {
            src: self.src,
            format: self.format,
            nl: newline_of(self.src),
            cipher: &cipher,
            layout: &layout,
            mac: MacHasher::reading(&self.metadata),
            edits: Vec::new(),
            stash: IvStash::default(),
            keep_ivs: opts.keep_ivs,
            warnings: Vec::new(),
            digest: DataDigest::default(),
            saw_alias: false,
            decrypted: Vec::new(),
        };
        for d in &self.docs {
            walk::walk(d, &self.metadata.rule, &mut v)?;
            if self.format == Format::Yaml && metadata_only(d) {
                // Read back, the empty document left is a null at the root.
                v.digest.plain(
                    Format::Yaml,
                    &walk::At { aad: "", encrypt: false, path: &[], in_alias: false },
                    &Value::Null,
                );
            }
        }
        check_mac(&self.metadata, &cipher, v.mac, opts)?;
        let mut edits = v.edits;
        for d in &self.docs {
            if let Some(e) = metadata_removal(self.src, self.format, d) {
                edits.push(e);
            }
        }
        let text = splice::apply(self.src, edits);
        Expected::new(Side::Decrypted, self.format, &self.metadata.rule, v.digest).check(text.as_bytes())?;
        Ok(Decrypted { text, stash: v.stash, warnings: v.warnings })
    }
}

/// The metadata of an encrypted YAML file, read without parsing the whole document when
/// the file ends the way sops and tresor write it (a top-level block `sops:` entry).
/// `None`: not found that way; parse the file instead.
pub fn yaml_metadata_fast(src: &str) -> Option<(Metadata, usize)> {
    let at = if src.starts_with("sops:") { 0 } else { memchr::memmem::find(src.as_bytes(), b"\nsops:")? + 1 };
    let docs = tresor_format::yaml::parse(&src[at..]).ok()?;
    let node = metadata::find_in(&docs.first()?.root)?;
    Some((Metadata::from_node(node).ok()?, at))
}

/// Decrypt a YAML file whose metadata was read with [`yaml_metadata_fast`] (found at byte
/// `meta_at`), parsing it as a stream: the document tree is never held whole, only the
/// plaintext output. Nothing is returned unless the MAC matches. Returns `Ok(None)` when
/// the file's first `sops` entry is not where the fast read found it (then use
/// [`EncryptedFile`]).
pub fn decrypt_yaml_stream(
    src: &str,
    meta: &Metadata,
    meta_at: usize,
    key: &DataKey,
    opts: DecryptOptions,
) -> Result<Option<Decrypted>, SopsError> {
    let Some(StreamDecrypted { out, stash, warnings, verification }) =
        decrypt_yaml_to(src, meta, meta_at, key, opts, Vec::with_capacity(src.len() / 2))?
    else {
        return Ok(None);
    };
    verification.check(&out)?;
    let text = String::from_utf8(out).expect("spliced from UTF-8 pieces");
    Ok(Some(Decrypted { text, stash, warnings }))
}

/// What [`decrypt_yaml_to`] gives back.
pub struct StreamDecrypted<W> {
    /// The writer the plaintext went to.
    pub out: W,
    /// The IVs seen (with `keep_ivs`).
    pub stash: IvStash,
    /// Comments that could not be decrypted, and the like.
    pub warnings: Vec<String>,
    /// Check the written plaintext with it before releasing it.
    pub verification: Verification,
}

/// [`decrypt_yaml_stream`] into a writer, which receives plaintext *before* the MAC is
/// checked at the end: give it a buffer, a file that is discarded on error, or
/// `std::io::sink()` to verify a file before decrypting it again into its destination.
/// Returns the writer, the IVs (with `keep_ivs`), warnings, and what the output must hold:
/// release it only once [`Verification::check`] passes on it.
pub fn decrypt_yaml_to<W: std::io::Write>(
    src: &str,
    meta: &Metadata,
    meta_at: usize,
    key: &DataKey,
    opts: DecryptOptions,
    out: W,
) -> Result<Option<StreamDecrypted<W>>, SopsError> {
    let cipher = Cipher::new(key);
    let layout = match &meta.layout {
        Some(l) => Layout::open(l, &cipher),
        None => Layout::default(),
    };
    let mut v = DecryptVisitor {
        src,
        format: Format::Yaml,
        nl: newline_of(src),
        cipher: &cipher,
        layout: &layout,
        mac: MacHasher::reading(meta),
        edits: Vec::new(),
        stash: IvStash::default(),
        keep_ivs: opts.keep_ivs,
        warnings: Vec::new(),
        digest: DataDigest::default(),
        saw_alias: false,
        decrypted: Vec::new(),
    };
    let tee = Tee::new(out, src.len() >= INLINE_FROM, Side::Decrypted, &meta.rule);
    let mut splicer = splice::Splicer::new(src, tee);
    let mut first_sops = None;
    let mut first_doc_end = None;
    walk_yaml_stream(src, &meta.rule, &mut v, |event, v| {
        if let StreamEvent::Document(d) = &event {
            first_doc_end = first_doc_end.or(Some(d.append_at));
        }
        match event {
            StreamEvent::Item(MapItem::Entry(e)) if e.key == "sops" => {
                first_sops = first_sops.or(Some(e.key_span.start));
                if starts_document(src, e.key_span.start) {
                    // Read back, the empty document left is a null at the root.
                    let root = walk::At { aad: "", encrypt: false, path: &[], in_alias: false };
                    v.digest.plain(Format::Yaml, &root, &Value::Null);
                }
                v.edits.push(yaml_entry_removal(src, e));
            }
            StreamEvent::Item(_) => {}
            // A document that is not a block mapping is walked whole: its metadata (if any)
            // is not a root item the walk hands out.
            StreamEvent::Document(d) if !matches!(&d.root, Node::Map(m) if !m.flow) => {
                v.edits.extend(metadata_removal(src, Format::Yaml, d));
            }
            StreamEvent::Document(_) => {}
            StreamEvent::Final(upto) => {
                splicer.flush(&mut v.edits, upto)?;
                if first_sops.is_none() {
                    cut_at_entry(src, &meta.rule, &mut splicer, upto)?;
                }
            }
        }
        Ok(())
    })?;
    // Like sops, the metadata must be in the first document (a `...` or `---` put before
    // it by hand splits the data into documents the MAC does not tell apart).
    if first_sops != Some(meta_at) || first_doc_end.is_some_and(|end| meta_at > end) {
        return Ok(None);
    }
    check_mac(meta, &cipher, v.mac, opts)?;
    let expected = Expected::new(Side::Decrypted, Format::Yaml, &meta.rule, v.digest);
    let (out, verification) = splicer.finish(v.edits)?.finish(expected, v.saw_alias)?;
    Ok(Some(StreamDecrypted { out, stash: v.stash, warnings: v.warnings, verification }))
}

/// What [`walk_yaml_stream`] tells its caller, in document order.
pub(crate) enum StreamEvent<'a> {
    /// A root-mapping item, just before the walk visits it.
    Item(&'a MapItem),
    /// A finished document, before the walk visits what it still holds.
    Document(&'a Document),
    /// Everything before this offset is final: no later edit can start before it.
    Final(usize),
}

/// Walk a YAML stream with `v` as [`walk::walk`] walks each document, without holding the
/// document tree: root items come a few at a time (parsed on a second thread for large
/// inputs), with the anchors they may refer to and the walk's state carried across.
/// Documents whose root is not a block mapping are walked whole.
pub(crate) fn walk_yaml_stream<V: Visitor>(
    src: &str,
    rule: &crate::rules::Rule,
    v: &mut V,
    mut event: impl FnMut(StreamEvent, &mut V) -> Result<(), SopsError>,
) -> Result<(), SopsError> {
    use tresor_format::yaml::{self, Pulled};
    let mut walk = walk::RootWalk::default();
    let mut anchors = Vec::new();
    yaml::pipeline(src, src.len() >= PARALLEL_FROM, |chunk| {
        if let Some(a) = chunk.anchors.take() {
            anchors = a;
        }
        match &chunk.pulled {
            Pulled::Items(items) => {
                for item in items {
                    event(StreamEvent::Item(item), v)?;
                    walk.item(item, &anchors, rule, v)?;
                }
            }
            Pulled::Document(d) => {
                event(StreamEvent::Document(d), v)?;
                match &d.root {
                    Node::Map(m) if !m.flow => {
                        for item in &m.items {
                            event(StreamEvent::Item(item), v)?;
                            walk.item(item, &d.anchors, rule, v)?;
                        }
                    }
                    _ => walk::walk(d, rule, v)?,
                }
                anchors.clear();
                walk = walk::RootWalk::default();
            }
        }
        event(StreamEvent::Final(chunk.held_from), v)
    })
}

/// Hand the output so far to the inline checker when it ends where a piece can be read
/// on its own: at the start of the line of the root item at input offset `at` (nothing
/// before it has edits pending), when the walk carries no state across root entries (no
/// marker comments).
fn cut_at_entry<W: std::io::Write>(
    src: &str,
    rule: &crate::rules::Rule,
    splicer: &mut splice::Splicer<Tee<W>>,
    at: usize,
) -> std::io::Result<()> {
    // The metadata entry's removal starts on the line before it.
    if rule.comment_regex().is_some() || at >= src.len() || src[at..].starts_with("sops") {
        return Ok(());
    }
    let b = src.as_bytes();
    let mut line = at;
    while line > 0 && b[line - 1] == b' ' {
        line -= 1;
    }
    if line > 0 && b[line - 1] == b'\n' && splicer.advance_to(line)? {
        splicer.writer_mut().cut();
    }
    Ok(())
}

/// Walk a YAML stream with `v`, nothing else (to read an output back).
pub(crate) fn walk_yaml_plain<V: Visitor>(src: &str, rule: &crate::rules::Rule, v: &mut V) -> Result<(), SopsError> {
    walk_yaml_stream(src, rule, v, |_, _| Ok(()))
}

pub(crate) fn check_mac(
    meta: &Metadata,
    cipher: &Cipher,
    mac: MacHasher,
    opts: DecryptOptions,
) -> Result<(), SopsError> {
    let computed = mac.finish();
    // sops parses `lastmodified` when it reads the metadata, --ignore-mac or not.
    if !is_go_rfc3339(&meta.lastmodified) {
        return Err(SopsError::InvalidMetadata(format!(
            "lastmodified '{}' is not an RFC 3339 time as sops reads it (YYYY-MM-DDTHH:MM:SSZ)",
            meta.lastmodified.chars().take(40).collect::<String>()
        )));
    }
    if opts.ignore_mac {
        return Ok(());
    }
    if meta.mac.is_empty() {
        return Err(SopsError::MacNotFound);
    }
    let aad = normalize_lastmodified(&meta.lastmodified);
    let stored = match cipher.decrypt(&meta.mac, aad.as_bytes()) {
        Ok(p) => String::from_utf8_lossy(&p.bytes).into_owned(),
        Err(_) => return Err(SopsError::MacUndecryptable),
    };
    if stored != computed {
        return Err(SopsError::MacMismatch { stored, computed });
    }
    Ok(())
}

/// Replace the metadata of an encrypted file, leaving every value byte as it is
/// (`updatekeys`: new key groups, same data key, values, MAC and `lastmodified`).
pub fn replace_metadata(src: &str, format: Format, meta: &Metadata) -> Result<String, SopsError> {
    let docs = tresor_format::parse(src, format)?;
    let removals: Vec<Edit> = docs.iter().filter_map(|d| metadata_removal(src, format, d)).collect();
    if removals.is_empty() {
        return Err(SopsError::MetadataNotFound);
    }
    let stripped = splice::apply(src, removals);
    let docs = tresor_format::parse(&stripped, format)?;
    let nl = newline_of(&stripped);
    let inserts = docs.iter().map(|d| metadata_insertion(&stripped, format, d, meta, nl)).collect();
    Ok(splice::apply(&stripped, inserts))
}

/// The range holding a document's `sops` entry, chosen so that removing it undoes
/// [`metadata_insertion`] exactly.
/// A YAML document that holds nothing but the `sops` metadata (sops writes one into an
/// empty last document, after a trailing `---`).
fn metadata_only(d: &Document) -> bool {
    d.root.as_map().is_some_and(|m| !m.flow && m.items.len() == 1 && m.entries().all(|e| e.key == "sops"))
}

/// Does the root key at `at` open its document (only blank lines and a `---` before it)?
/// The streaming walk hands out root items without their whole document.
fn starts_document(src: &str, at: usize) -> bool {
    src[..at].lines().rev().find(|l| !l.trim().is_empty()).is_some_and(|l| l.trim_end() == "---")
}

fn metadata_removal(src: &str, format: Format, d: &Document) -> Option<Edit> {
    let map = d.root.as_map()?;
    let idx = map.items.iter().position(|i| matches!(i, MapItem::Entry(e) if e.key == "sops"))?;
    let MapItem::Entry(entry) = &map.items[idx] else {
        return None;
    };
    let value_end = tresor_format::yaml::node_end(&entry.value);
    match format {
        Format::Yaml => {
            // A document that is nothing but the metadata (sops' reading of a trailing `---`,
            // an empty last document to which it adds `sops:`) becomes that empty document
            // again; `metadata_only` makes the output check expect it.
            Some(yaml_entry_removal(src, entry))
        }
        Format::Json => {
            let entries: Vec<_> = map.entries().collect();
            let pos = entries.iter().position(|e| e.key == "sops")?;
            if pos > 0 {
                let prev_end = tresor_format::yaml::node_end(&entries[pos - 1].value);
                Some(Edit { range: prev_end..value_end, text: String::new() })
            } else if let Some(next) = entries.get(1) {
                Some(Edit { range: entry.key_span.start..next.key_span.start, text: String::new() })
            } else {
                // The only entry: undo the insertion (`"sops":…` or `NL UNIT "sops": … NL`)
                // exactly, keeping whatever spacing the empty object had.
                let rest = &src[value_end..map.span.end.saturating_sub(1).max(value_end)];
                let nl = if rest.starts_with("\r\n") { 2 } else { usize::from(rest.starts_with('\n')) };
                Some(Edit { range: map.span.start + 1..value_end + nl, text: String::new() })
            }
        }
    }
}

/// The lines holding a top-level YAML `sops:` entry with one line break: the one after
/// them when there is one (undoing [`yaml_metadata_insertion`]'s `block + newline` at a
/// line start exactly, whatever break the line before uses), else the one before them
/// (a file that ended without a line break).
fn yaml_entry_removal(src: &str, entry: &tresor_format::tree::Entry) -> Edit {
    let b = src.as_bytes();
    let line_start = src[..entry.key_span.start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut end = tresor_format::yaml::node_end(&entry.value);
    while end < b.len() && b[end] != b'\n' && b[end] != b'\r' {
        end += 1;
    }
    let after = if b[end..].starts_with(b"\r\n") { 2 } else { usize::from(end < b.len() && b[end] == b'\n') };
    if after > 0 || line_start == 0 {
        return Edit { range: line_start..end + after, text: String::new() };
    }
    let mut start = line_start - 1;
    if start > 0 && b[start - 1] == b'\r' {
        start -= 1;
    }
    Edit { range: start..end, text: String::new() }
}

struct DecryptVisitor<'a> {
    src: &'a str,
    format: Format,
    nl: &'a str,
    cipher: &'a Cipher,
    layout: &'a Layout,
    mac: MacHasher,
    edits: Vec<Edit>,
    stash: IvStash,
    keep_ivs: bool,
    warnings: Vec<String>,
    /// The data as authenticated, which the output must hold when parsed back.
    digest: DataDigest,
    /// An alias was walked: the output cannot be read back in independent pieces.
    saw_alias: bool,
    /// Start offsets of the values decrypted, in document order (sorted): an alias to one
    /// of them is refused, an alias to clear text that merely looks like ciphertext is not.
    decrypted: Vec<usize>,
}

impl Visitor for DecryptVisitor<'_> {
    fn item_comments(&self) -> bool {
        self.format == Format::Yaml
    }

    /// sops writes a comment inside a list as an item, `- ENC[…,type:comment]`, and
    /// decrypts it back to a comment line where the `-` stood.
    fn item_comment(&mut self, s: &Scalar, at: &At, opens_empty: bool) -> Result<(), SopsError> {
        let b = self.src.as_bytes();
        let mut dash = s.span.start;
        while dash > 0 && b[dash - 1] == b' ' {
            dash -= 1;
        }
        // `- - ENC[…]` (the first item of a nested list) becomes `- # text`, which reads as
        // the nested list with the comment before its first item, as the input had it.
        if dash == 0 || b[dash - 1] != b'-' {
            return Err(SopsError::CannotDecrypt {
                pos: s.pos,
                path: display_steps(at.path),
                reason: "an encrypted comment stored as a list item must follow its `-`".into(),
            });
        }
        let before = self.edits.len();
        self.comment(&Comment { text: s.text.clone(), span: dash - 1..s.span.end, pos: s.pos }, at)?;
        // A list of comments only is sops' `key: [] # c`: the first one says `[]` again.
        // (One that could not be decrypted stays a list item, and the list is not empty.)
        if let (true, Some(e)) = (opens_empty, self.edits.get_mut(before)) {
            e.text.insert_str(0, "[] ");
        }
        Ok(())
    }

    fn value(&mut self, s: &Scalar, at: &At) -> Result<(), SopsError> {
        let plain_value = || scalar::resolve(s).unwrap_or_else(|_| Value::Str(s.text.clone()));
        let looks_encrypted = matches!(
            s.style,
            ScalarStyle::Plain
                | ScalarStyle::SingleQuoted
                | ScalarStyle::DoubleQuoted
                | ScalarStyle::Literal
                | ScalarStyle::Folded
                | ScalarStyle::JsonString
        ) && is_enc(&s.text);
        if looks_encrypted && s.tag.is_some() {
            // A tag put before ciphertext would survive decryption and change what readers
            // see (`!!null hunter2` reads as null); sops fails the MAC on it.
            return Err(SopsError::CannotDecrypt {
                pos: s.pos,
                path: display_steps(at.path),
                reason: format!("a tag ({}) was put before the encrypted value", s.tag.as_deref().unwrap_or("")),
            });
        }
        if !at.encrypt || at.in_alias {
            if at.in_alias && looks_encrypted && self.decrypted.binary_search(&s.span.start).is_ok() {
                return Err(SopsError::CannotDecrypt {
                    pos: s.pos,
                    path: display_steps(at.path),
                    reason: "an alias refers to an encrypted value; sops would decrypt it under a different path"
                        .into(),
                });
            }
            let v = plain_value();
            if !v.is_null() {
                self.mac.leaf(&mac_bytes(s, &v, self.mac.json_ints_exact), false);
            }
            self.digest.plain(self.format, at, &v);
            return Ok(());
        }
        if !looks_encrypted {
            let v = plain_value();
            if v.is_null() || v == Value::Str(String::new()) {
                self.digest.plain(self.format, at, &v);
                return Ok(());
            }
            return Err(SopsError::CannotDecrypt {
                pos: s.pos,
                path: display_steps(at.path),
                reason: "the value is not encrypted although the file's rules say it should be (added by hand?)".into(),
            });
        }
        let mut plain = self.cipher.decrypt(&s.text, at.aad.as_bytes()).map_err(|e| SopsError::CannotDecrypt {
            pos: s.pos,
            path: display_steps(at.path),
            reason: e.to_string(),
        })?;
        let type_name = plain.type_name;
        if !value_type_sops_reads(type_name) {
            return Err(SopsError::CannotDecrypt {
                pos: s.pos,
                path: display_steps(at.path),
                reason: format!("type:{type_name} is not a value type sops reads back (sops refuses this file too)"),
            });
        }
        if self.keep_ivs {
            self.stash.put(at.aad, &plain.bytes, &plain.iv);
        }
        let bytes = std::mem::take(&mut *plain.bytes);
        let value = Value::from_sops(type_name, bytes).ok_or_else(|| SopsError::CannotDecrypt {
            pos: s.pos,
            path: display_steps(at.path),
            reason: format!("the decrypted bytes are not a valid '{type_name}'"),
        })?;
        // Raw bytes go back as `!!binary` only where sops writes them so: a block-style YAML
        // value. In JSON, or in a flow collection (sops' binary store, `{"data": …}`, read
        // as YAML), refuse rather than print an envelope that is not the file's bytes.
        if matches!(value, Value::Bytes(_)) && (self.format == Format::Json || s.in_flow) {
            return Err(SopsError::CannotDecrypt {
                pos: s.pos,
                path: display_steps(at.path),
                reason: "the value decrypts to bytes that are not UTF-8 text, which a JSON string cannot hold \
                         (a sops binary-store file? decrypt it with --input-type binary)"
                    .into(),
            });
        }
        self.mac.leaf(&value.canonical(), true);
        self.digest.plain(self.format, at, &value);
        self.decrypted.push(s.span.start);
        // Most files have no layout record: skip re-parsing the envelope for its tag.
        let spelling = if self.layout.is_empty() {
            None
        } else {
            crate::cipher::parse_enc(&s.text).and_then(|e| self.layout.get(e.tag))
        };
        let rendered = match spelling {
            Some((Some(h), body)) if s.header.is_some() => Rendered::Block { header: h.clone(), body: body.clone() },
            Some((None, text)) => Rendered::Inline(text.clone()),
            _ => natural_render(self.src, s, s.style, &value, self.nl, self.format),
        };
        slot_edits(self.src, s, rendered, self.nl, &mut self.edits);
        Ok(())
    }

    fn alias(&mut self, _: &tresor_format::tree::Alias, _: &At) -> Result<(), SopsError> {
        self.saw_alias = true;
        Ok(())
    }

    fn comment(&mut self, c: &Comment, at: &At) -> Result<(), SopsError> {
        if at.in_alias || !is_enc(&c.text) {
            return Ok(());
        }
        let mut opened = self.cipher.decrypt(&c.text, at.aad.as_bytes());
        if opened.is_err() {
            if let Some(aad) = legacy_trailing_comment_aad(self.src, c, at) {
                opened = self.cipher.decrypt(&c.text, aad.as_bytes());
            }
        }
        match opened {
            Ok(p) => {
                let pt = &p.bytes;
                if self.keep_ivs {
                    self.stash.put(at.aad, pt, &p.iv);
                }
                self.edits.push(Edit { range: c.span.clone(), text: format!("#{}", String::from_utf8_lossy(pt)) });
            }
            Err(_) => self.warnings.push(format!("{}: could not decrypt a comment; kept as is", c.pos)),
        }
        Ok(())
    }
}
