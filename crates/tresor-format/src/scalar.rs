//! Scalar values and how sops types and serialises them.
//!
//! sops decides a leaf's `type:` from the parsed value (go-yaml v3 resolution for YAML,
//! Go `encoding/json` for JSON) and encrypts a canonical text form of it. That canonical
//! form is also what the MAC hashes, so it must match Go's formatting exactly.

use crate::tree::{Scalar, ScalarStyle};

/// A scalar's typed value, as go-yaml v3 resolves it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`, `~` or empty.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A float (also `.inf`, `.nan`).
    Float(f64),
    /// Anything else: a string.
    Str(String),
    /// An RFC 3339 timestamp in Go's `time.MarshalText` form.
    Time(String),
    /// Raw bytes (`type:bytes`; sops never writes these, but reads them).
    Bytes(Vec<u8>),
}

/// Why a scalar cannot be given a sops type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeError {
    /// An integer that does not fit in a signed 64-bit int (sops: "unknown type: uint64").
    IntOutOfRange,
    /// A tag we cannot carry through encryption.
    UnsupportedTag(String),
}

impl Value {
    /// The `type:` name sops uses in `ENC[...]` for this value.
    pub fn sops_type(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Time(_) => "time",
            // sops encrypts go-yaml's raw-byte strings as `str` (and reads `bytes` too).
            Value::Bytes(_) => "str",
        }
    }

    /// Like [`Value::canonical_bytes`], borrowing where the value already is its bytes.
    pub fn canonical(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Value::Str(s) | Value::Time(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
            Value::Bytes(b) => std::borrow::Cow::Borrowed(b),
            other => std::borrow::Cow::Owned(other.canonical_bytes()),
        }
    }

    /// The bytes sops encrypts and hashes into the MAC for this value.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        match self {
            Value::Null => Vec::new(),
            Value::Bool(true) => b"True".to_vec(),
            Value::Bool(false) => b"False".to_vec(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Float(f) => go_format_float(*f).into_bytes(),
            Value::Str(s) | Value::Time(s) => s.clone().into_bytes(),
            Value::Bytes(b) => b.clone(),
        }
    }

    /// Parse the decrypted bytes of a `type:` back into a value, as sops does.
    pub fn from_sops(type_name: &str, bytes: Vec<u8>) -> Option<Value> {
        let text = || String::from_utf8(bytes.clone()).ok();
        Some(match type_name {
            // go-yaml decodes a `!!binary` value that is not UTF-8 into a string of raw
            // bytes, which sops encrypts as `str`; sops writes it back as `!!binary`.
            "str" => match String::from_utf8(bytes) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            },
            "int" => Value::Int(text()?.parse().ok()?),
            "float" => Value::Float(parse_go_float(&text()?)?),
            "bool" => Value::Bool(parse_go_bool(&text()?)?),
            "time" => Value::Time(text()?),
            "bytes" => match String::from_utf8(bytes) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            },
            _ => return None,
        })
    }

    /// Is it null?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
/// Rust's `Display` for f64 has the same contract; only the special values differ.
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Type a scalar as sops would after parsing it.
pub fn resolve(scalar: &Scalar) -> Result<Value, TypeError> {
    match scalar.style {
        ScalarStyle::JsonString => return Ok(Value::Str(scalar.text.clone())),
        ScalarStyle::JsonBare => return Ok(resolve_json_bare(&scalar.text)),
        _ => {}
    }
    if let Some(tag) = &scalar.tag {
        return match tag.as_str() {
            "!!str" | "tag:yaml.org,2002:str" => Ok(Value::Str(scalar.text.clone())),
            "!!null" | "tag:yaml.org,2002:null" => Ok(Value::Null),
            // go-yaml decodes `!!binary` to its bytes: a string when they are UTF-8 (and the
            // tag is then dropped like any other), raw bytes otherwise.
            "!!binary" | "tag:yaml.org,2002:binary" => {
                use base64::Engine;
                let compact: String = scalar.text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                match base64::engine::general_purpose::STANDARD.decode(compact) {
                    Ok(b) => Ok(match String::from_utf8(b) {
                        Ok(s) => Value::Str(s),
                        Err(e) => Value::Bytes(e.into_bytes()),
                    }),
                    Err(_) => Err(TypeError::UnsupportedTag("!!binary (with text that is not base64)".into())),
                }
            }
            other => Err(TypeError::UnsupportedTag(other.to_string())),
        };
    }
    if scalar.style != ScalarStyle::Plain {
        return Ok(Value::Str(scalar.text.clone()));
    }
    resolve_plain(&scalar.text)
}

fn resolve_json_bare(text: &str) -> Value {
    match text {
        "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        n => {
            // sops ≥3.13.2 keeps JSON integers as ints; 3.11 reads every number as float64.
            // Integers are written as `type:int`, which both versions decrypt.
            if !n.contains(['.', 'e', 'E']) {
                if let Ok(i) = n.parse::<i64>() {
                    return Value::Int(i);
                }
            }
            Value::Float(n.parse().unwrap_or(f64::NAN))
        }
    }
}

/// go-yaml v3's resolution of a plain scalar (YAML 1.2 core schema plus timestamps,
/// underscores in numbers and `0o`/`0b`/leading-zero octal integers).
pub fn resolve_plain(text: &str) -> Result<Value, TypeError> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Ok(Value::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Ok(Value::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Ok(Value::Float(f64::NAN)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Ok(Value::Str(text.to_string()));
    }
    if let Some(v) = resolve_int(text)? {
        return Ok(Value::Int(v));
    }
    if is_yaml_float(text) {
        let cleaned: String = text.chars().filter(|&c| c != '_').collect();
        if let Ok(f) = cleaned.parse::<f64>() {
            return Ok(Value::Float(f));
        }
    }
    if text.len() >= 8 && text.as_bytes()[4] == b'-' {
        if let Some(t) = resolve_timestamp(text) {
            return Ok(Value::Time(t));
        }
    }
    Ok(Value::Str(text.to_string()))
}

fn resolve_int(text: &str) -> Result<Option<i64>, TypeError> {
    // Cheap rejection first: this runs for every plain scalar that starts with a digit.
    if !text.bytes().all(|c| c.is_ascii_hexdigit() || matches!(c, b'x' | b'X' | b'o' | b'O' | b'_' | b'+' | b'-')) {
        return Ok(None);
    }
    let plain: std::borrow::Cow<str> =
        if text.contains('_') { text.chars().filter(|&c| c != '_').collect::<String>().into() } else { text.into() };
    let (neg, body) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    if body.is_empty() {
        return Ok(None);
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Ok(None);
    }
    match u128::from_str_radix(digits, radix) {
        Ok(mag) => {
            let v = if neg { -(mag as i128) } else { mag as i128 };
            if v < i64::MIN as i128 {
                Ok(None) // go-yaml falls back to float for huge negatives
            } else if v > i64::MAX as i128 {
                // go-yaml decodes this as uint64 (or float beyond), which sops refuses.
                if v <= u64::MAX as i128 {
                    Err(TypeError::IntOutOfRange)
                } else {
                    Ok(None)
                }
            } else {
                Ok(Some(v as i64))
            }
        }
        Err(_) => Ok(None),
    }
}

/// YAML 1.2 float syntax: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(text: &str) -> bool {
    if !text.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'_' | b'+' | b'-')) {
        return false;
    }
    let b: Vec<u8> = text.bytes().filter(|&c| c != b'_').collect();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

/// YAML timestamps exactly as go-yaml v3 accepts them (its four Go layouts:
/// `2006-1-2T15:4:5.999999999Z07:00`, the same with `t`, `2006-1-2 15:4:5.999999999`
/// without a zone, and `2006-1-2`), rendered as Go's `time.MarshalText`.
fn resolve_timestamp(text: &str) -> Option<String> {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
    fn num(s: &str, min: usize, max: usize) -> Option<u32> {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    }
    let (date_s, rest, zoned) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..]), text.as_bytes()[i] != b' '),
        None => (text, None, false),
    };
    let mut dp = date_s.split('-');
    let (y, m, d) = (dp.next()?, dp.next()?, dp.next()?);
    if dp.next().is_some() {
        return None;
    }
    let date =
        Date::from_calendar_date(num(y, 4, 4)? as i32, Month::try_from(num(m, 1, 2)? as u8).ok()?, num(d, 1, 2)? as u8)
            .ok()?;
    let Some(rest) = rest else {
        return Some(format_rfc3339_go(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()));
    };
    let (clock, offset) = if zoned {
        if let Some(c) = rest.strip_suffix('Z') {
            (c, UtcOffset::UTC)
        } else {
            let idx = rest.rfind(['+', '-'])?;
            let z = &rest[idx + 1..];
            let (hh, mm) = z.split_once(':')?;
            let sign: i8 = if rest.as_bytes()[idx] == b'-' { -1 } else { 1 };
            let off = UtcOffset::from_hms(sign * num(hh, 2, 2)? as i8, sign * num(mm, 2, 2)? as i8, 0).ok()?;
            (&rest[..idx], off)
        }
    } else {
        (rest, UtcOffset::UTC)
    };
    let mut cp = clock.split(':');
    let (h, mi, sec_frac) = (cp.next()?, cp.next()?, cp.next()?);
    if cp.next().is_some() {
        return None;
    }
    let (sec, frac) = match sec_frac.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (sec_frac, None),
    };
    let nanos = match frac {
        Some(f) => num(f, 1, 9)? * 10u32.pow(9 - f.len() as u32),
        None => 0,
    };
    let t = Time::from_hms_nano(num(h, 1, 2)? as u8, num(mi, 1, 2)? as u8, num(sec, 1, 2)? as u8, nanos).ok()?;
    Some(format_rfc3339_go(PrimitiveDateTime::new(date, t).assume_offset(offset)))
}

/// Go's RFC3339Nano-style `MarshalText`: fractional seconds only when non-zero, trailing
/// zeros trimmed, `Z` for UTC.
pub fn format_rfc3339_go(dt: time::OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = dt.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let total = off.whole_seconds();
        let sign = if total < 0 { '-' } else { '+' };
        let a = total.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> Value {
        resolve_plain(s).unwrap()
    }

    #[test]
    fn resolves_like_go_yaml_v3() {
        assert_eq!(plain("yes"), Value::Str("yes".into()));
        assert_eq!(plain("on"), Value::Str("on".into()));
        assert_eq!(plain("True"), Value::Bool(true));
        assert_eq!(plain("0x1F"), Value::Int(31));
        assert_eq!(plain("017"), Value::Int(15));
        assert_eq!(plain("0o17"), Value::Int(15));
        assert_eq!(plain("-42"), Value::Int(-42));
        assert_eq!(plain("1_000"), Value::Int(1000));
        assert_eq!(plain("0.75"), Value::Float(0.75));
        assert_eq!(plain("1e3"), Value::Float(1000.0));
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(plain("2024-01-01"), Value::Time("2024-01-01T00:00:00Z".into()));
        assert_eq!(plain("2024-01-01T10:00:00.500+02:00"), Value::Time("2024-01-01T10:00:00.5+02:00".into()));
        assert_eq!(plain("2024-01-01 10:00:00"), Value::Time("2024-01-01T10:00:00Z".into()));
        // go-yaml has no layout for a space-separated time with a zone: it stays a string.
        assert_eq!(plain("2024-06-30 23:59:59.5 +02:00"), Value::Str("2024-06-30 23:59:59.5 +02:00".into()));
        assert_eq!(resolve_plain("9223372036854775808"), Err(TypeError::IntOutOfRange));
        assert_eq!(plain("9223372036854775807"), Value::Int(i64::MAX));
    }

    #[test]
    fn canonical_forms_match_go() {
        assert_eq!(Value::Float(2.0).canonical_bytes(), b"2");
        assert_eq!(Value::Float(1.5e-7).canonical_bytes(), b"0.00000015");
        assert_eq!(Value::Float(f64::INFINITY).canonical_bytes(), b"+Inf");
        assert_eq!(Value::Float(12345678901234567890.0).canonical_bytes(), b"12345678901234567000");
        assert_eq!(Value::Bool(false).canonical_bytes(), b"False");
    }
}
