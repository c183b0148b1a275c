//! Writing scalar values back into a file's syntax.
//!
//! When decrypting, a value is rendered in the style its encrypted slot was written in
//! (plain, quoted, block), so a file keeps its look. Where the natural rendering would not
//! reproduce the user's original bytes, the encryptor stores the original text in the
//! (encrypted) layout record instead; see `tresor-sops`.

use crate::scalar::{go_format_float, resolve_plain, Value};
use crate::tree::ScalarStyle;

/// Context of the slot a value is rendered into.
#[derive(Clone, Copy, Debug)]
pub struct SlotCtx<'a> {
    /// The style of the scalar being replaced.
    pub style: ScalarStyle,
    /// Inside a flow collection, where `,[]{}` need quoting.
    pub in_flow: bool,
    /// Column for the content lines of a block scalar.
    pub block_indent: usize,
    /// The document's line break.
    pub newline: &'a str,
    /// A plain slot may become a block scalar only when nothing follows it on its line.
    pub can_become_block: bool,
}

/// A value rendered for its slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendered {
    /// Text that replaces the old scalar on its line.
    Inline(String),
    /// A block scalar: the header indicator (`|-`, `>`, …) and the body lines.
    Block {
        /// The indicator with chomping/indent characters.
        header: String,
        /// The content lines, indented.
        body: String,
    },
}

/// Render a decrypted value for a YAML slot.
pub fn yaml_value(value: &Value, ctx: &SlotCtx) -> Rendered {
    let s = match value {
        Value::Null => return Rendered::Inline("null".into()),
        Value::Bool(b) => return Rendered::Inline(b.to_string()),
        Value::Int(i) => return Rendered::Inline(i.to_string()),
        Value::Float(f) => return Rendered::Inline(yaml_float(*f)),
        Value::Time(t) => return Rendered::Inline(t.clone()),
        // Bytes that are not UTF-8 cannot be a YAML string: go-yaml (sops) writes them as
        // `!!binary`, base64.
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => return Rendered::Inline(double_quoted(s)),
            Err(_) => {
                use base64::Engine;
                return Rendered::Inline(format!("!!binary {}", base64::engine::general_purpose::STANDARD.encode(b)));
            }
        },
        Value::Str(s) => s,
    };
    let block = |folded: bool| -> Option<Rendered> {
        let (header, body) = block_scalar(s, ctx.block_indent, ctx.newline, folded)?;
        Some(Rendered::Block { header, body })
    };
    match ctx.style {
        ScalarStyle::Literal => block(false).unwrap_or_else(|| Rendered::Inline(double_quoted(s))),
        ScalarStyle::Folded => block(true).unwrap_or_else(|| Rendered::Inline(double_quoted(s))),
        ScalarStyle::SingleQuoted if single_quotable(s) => Rendered::Inline(single_quoted(s)),
        ScalarStyle::SingleQuoted => Rendered::Inline(double_quoted(s)),
        ScalarStyle::DoubleQuoted if !ctx.in_flow => Rendered::Inline(double_quoted(s)),
        _ => {
            if plain_safe(s, ctx.in_flow) {
                Rendered::Inline(s.clone())
            } else if s.contains('\n')
                && !ctx.in_flow
                && ctx.can_become_block
                && s.trim_end_matches('\n').len() + 1 >= s.len()
            {
                block(false).unwrap_or_else(|| Rendered::Inline(double_quoted(s)))
            } else {
                Rendered::Inline(double_quoted(s))
            }
        }
    }
}

/// A float in YAML syntax that re-resolves as a float.
pub fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    let s = go_format_float(f);
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Render a decrypted value as a JSON token.
pub fn json_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => go_format_float(*f),
        Value::Float(f) => json_string(&go_format_float(*f)),
        Value::Str(s) | Value::Time(s) => json_string(s),
        Value::Bytes(b) => json_string(&String::from_utf8_lossy(b)),
    }
}

/// A JSON string literal with the minimal escaping serde_json uses.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Bytes [`plain_safe`] must look at; every other byte is fine anywhere in a plain scalar.
const PLAIN_ATTENTION: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] =
            i <= 0x1f || matches!(i as u8, 0x7f | b' ' | b'#' | b',' | b'[' | b']' | b'{' | b'}' | 0xc2 | 0xe2 | 0xef);
        i += 1;
    }
    t
};

/// Does `b` hold a byte [`PLAIN_ATTENTION`] names (or any non-ASCII byte)? Branch-free over
/// 32-byte blocks so that it compiles to vector compares: most values have none.
fn any_attention(b: &[u8]) -> bool {
    b.chunks(32).any(|c| {
        c.iter().fold(false, |m, &x| {
            m | (x <= b' ')
                | (x >= 0x7f)
                | (x == b'#')
                | (x == b',')
                | (x == b'[')
                | (x == b']')
                | (x == b'{')
                | (x == b'}')
        })
    })
}

/// Can `s` be written as a plain scalar that reads back as the same string?
/// One pass over the bytes: this runs for every decrypted value.
pub fn plain_safe(s: &str, in_flow: bool) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else { return false };
    let last = b[b.len() - 1];
    if first == b' ' || last == b' ' || last == b':' || b"[]{},#&*!|>'\"%@`".contains(&first) {
        return false;
    }
    if matches!(first, b'-' | b'?' | b':') && matches!(b.get(1), None | Some(b' ')) {
        return false;
    }
    if b.starts_with(b"---") || b.starts_with(b"...") {
        return false;
    }
    let mut prev = 0u8;
    let mut i = if any_attention(b) { 0 } else { b.len() };
    while i < b.len() {
        let c = b[i];
        if !PLAIN_ATTENTION[c as usize] {
            prev = c;
            i += 1;
            continue;
        }
        match c {
            0..=0x1f | 0x7f => return false,
            b' ' if prev == b':' => return false,
            b'#' if prev == b' ' => return false,
            b',' | b'[' | b']' | b'{' | b'}' if in_flow => return false,
            // C1 controls (U+0080–U+009F), U+2028/U+2029, U+FEFF need quoting.
            0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => return false,
            0xe2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9)) => return false,
            0xef if b.get(i + 1) == Some(&0xbb) && b.get(i + 2) == Some(&0xbf) => return false,
            _ => {}
        }
        prev = c;
        i += 1;
    }
    // Only strings that could resolve to another type need the resolver.
    let maybe_typed =
        first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.' | b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F');
    if yaml11_lookalike(b) {
        return false;
    }
    !maybe_typed || matches!(resolve_plain(s), Ok(Value::Str(ref r)) if r == s)
}

/// Strings YAML 1.1 readers (PyYAML, go-yaml v2 — Helm's values, sigs.k8s.io/yaml) take
/// for booleans or sexagesimal numbers though YAML 1.2 reads them as strings: go-yaml v3
/// (sops) quotes them when it writes a string (`isOldBool`, `isBase60Float`), so a
/// decrypted `ON` stays "ON" for Helm too.
fn yaml11_lookalike(b: &[u8]) -> bool {
    const OLD_BOOLS: &[&[u8]] = &[
        b"y", b"Y", b"yes", b"Yes", b"YES", b"on", b"On", b"ON", b"n", b"N", b"no", b"No", b"NO", b"off", b"Off",
        b"OFF",
    ];
    if b.len() <= 3 && OLD_BOOLS.contains(&b) {
        return true;
    }
    // [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut parts = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        match (b.get(i), b.get(i + 1)) {
            (Some(b'0'..=b'5'), Some(d)) if d.is_ascii_digit() => i += 2,
            (Some(d), _) if d.is_ascii_digit() => i += 1,
            _ => return false,
        }
        parts += 1;
    }
    if parts == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

fn single_quotable(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| (c.is_control() && c != '\t') || c == '\u{feff}')
}

/// `s` as a YAML single-quoted scalar.
pub fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A YAML double-quoted scalar.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A block scalar for `s`, or `None` when `s` cannot be written as one without an
/// indentation indicator or loss (leading spaces, whitespace-only lines, control chars).
fn block_scalar(s: &str, indent: usize, newline: &str, folded: bool) -> Option<(String, String)> {
    // A block scalar's indentation is that of its first non-empty line, so one that starts
    // with a blank would need an indentation indicator (`|2`); a quoted string says the same.
    let first_text = s.trim_start_matches('\n');
    if s.is_empty() || first_text.starts_with(' ') || first_text.starts_with('\t') {
        return None;
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') || s.contains('\u{feff}') {
        return None;
    }
    let content = s.trim_end_matches('\n');
    if content.is_empty() {
        return None;
    }
    let trailing = s.len() - content.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    if content.split('\n').any(|l| !l.is_empty() && l.trim().is_empty()) {
        return None;
    }
    // Folding would join lines with spaces; only single-line content keeps `>` exact.
    let folded = folded && !content.contains('\n');
    let header = format!("{}{}", if folded { '>' } else { '|' }, chomp);
    let pad = " ".repeat(indent);
    let mut body = String::with_capacity(content.len() + 16);
    for (i, line) in content.split('\n').enumerate() {
        if i > 0 {
            body.push_str(newline);
        }
        if !line.is_empty() {
            body.push_str(&pad);
            body.push_str(line);
        }
    }
    Some((header, body))
}

/// How an `ENC[...]` string is written into a slot that had the given style, so the
/// file keeps its look and the decryptor knows which style to restore.
pub fn encrypted_slot(enc: String, style: ScalarStyle, in_flow: bool, indent: usize) -> Rendered {
    match style {
        ScalarStyle::Literal => Rendered::Block { header: "|-".into(), body: format!("{}{enc}", " ".repeat(indent)) },
        ScalarStyle::Folded => Rendered::Block { header: ">-".into(), body: format!("{}{enc}", " ".repeat(indent)) },
        ScalarStyle::SingleQuoted => Rendered::Inline(format!("'{enc}'")),
        // `ENC[...]` holds `,[]`, which must be quoted inside flow collections.
        ScalarStyle::Plain if !in_flow => Rendered::Inline(enc),
        _ => Rendered::Inline(format!("\"{enc}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(style: ScalarStyle) -> SlotCtx<'static> {
        SlotCtx { style, in_flow: false, block_indent: 4, newline: "\n", can_become_block: true }
    }

    #[test]
    fn yaml11_booleans_and_sexagesimals_are_quoted_as_go_yaml_quotes_them() {
        for s in ["ON", "on", "Off", "y", "N", "yes", "NO", "1:20", "-1:20:30", "190:20:30.15", "1_0:05"] {
            assert!(!plain_safe(s, false), "{s}");
        }
        for s in ["ONE", "yess", "o", "1:60", ":20", "1:2a", "x1:20", "12:345"] {
            assert!(plain_safe(s, false), "{s}");
        }
    }

    #[test]
    fn plain_strings_stay_plain_unless_they_would_change_type() {
        assert_eq!(
            yaml_value(&Value::Str("hello world".into()), &ctx(ScalarStyle::Plain)),
            Rendered::Inline("hello world".into())
        );
        assert_eq!(yaml_value(&Value::Str("123".into()), &ctx(ScalarStyle::Plain)), Rendered::Inline("\"123\"".into()));
        assert_eq!(
            yaml_value(&Value::Str("true".into()), &ctx(ScalarStyle::Plain)),
            Rendered::Inline("\"true\"".into())
        );
        assert_eq!(
            yaml_value(&Value::Str("a: b".into()), &ctx(ScalarStyle::Plain)),
            Rendered::Inline("\"a: b\"".into())
        );
        assert_eq!(
            yaml_value(&Value::Str("it's".into()), &ctx(ScalarStyle::SingleQuoted)),
            Rendered::Inline("'it''s'".into())
        );
    }

    #[test]
    fn a_block_whose_first_text_line_is_indented_is_quoted_instead() {
        // yaml-test-suite F6MC: `>2` with leading blank lines and a more-indented first line.
        for v in ["\n\n more indented\nregular\n", " more indented\nregular\n", "\n\tx\ny\n"] {
            let r = yaml_value(&Value::Str(v.into()), &ctx(ScalarStyle::Literal));
            assert!(matches!(&r, Rendered::Inline(t) if t.starts_with('"')), "{v:?}: {r:?}");
        }
    }

    #[test]
    fn multiline_becomes_literal_block() {
        let r = yaml_value(&Value::Str("one\ntwo\n".into()), &ctx(ScalarStyle::Plain));
        assert_eq!(r, Rendered::Block { header: "|".into(), body: "    one\n    two".into() });
        let r = yaml_value(&Value::Str("one\n\ntwo".into()), &ctx(ScalarStyle::Literal));
        assert_eq!(r, Rendered::Block { header: "|-".into(), body: "    one\n\n    two".into() });
    }

    #[test]
    fn floats_keep_their_type() {
        assert_eq!(yaml_float(2.0), "2.0");
        assert_eq!(yaml_float(0.75), "0.75");
        assert_eq!(json_value(&Value::Float(2.0)), "2");
    }
}
