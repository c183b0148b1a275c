//! dotenv values are bytes to sops (Go strings): a `.env` file in Windows-1252 or Latin-1
//! encrypts there, and its plaintext comes back as the same bytes. tresor's document tree
//! holds text, so a byte that is not part of valid UTF-8 travels through it as one private-use
//! character, U+F780 + (byte − 0x80), and turns back into that byte wherever plaintext or
//! output bytes are made. The 128 characters U+F780–U+F7FF are reserved for that: a file
//! (or plaintext) that holds one of them as real text is refused rather than misread.

use std::borrow::Cow;

const BASE: u32 = 0xF700;

fn reserved(c: char) -> bool {
    (0xF780..=0xF7FF).contains(&(c as u32))
}

/// Does UTF-8 text hold a reserved character? They encode as EF 9E xx or EF 9F xx, so one
/// search for the byte EF answers it (this runs over every dotenv file, twice).
fn holds_reserved(b: &[u8]) -> bool {
    memchr::memchr_iter(0xEF, b).any(|i| matches!(b.get(i + 1), Some(0x9E | 0x9F)))
}

/// Bytes as text: valid UTF-8 as it is, every other byte as its reserved character. `None`
/// when valid UTF-8 holds a reserved character (it could not be told from a carried byte).
pub fn decode(bytes: &[u8]) -> Option<Cow<'_, str>> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !holds_reserved(bytes) => Some(Cow::Borrowed(s)),
        Ok(_) => None,
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 16);
            let mut rest = bytes;
            loop {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        if holds_reserved(rest) {
                            return None;
                        }
                        out.push_str(s);
                        return Some(Cow::Owned(out));
                    }
                    Err(e) => {
                        let (good, bad) = rest.split_at(e.valid_up_to());
                        let good = std::str::from_utf8(good).expect("valid up to here");
                        if holds_reserved(good.as_bytes()) {
                            return None;
                        }
                        out.push_str(good);
                        let n = e.error_len().unwrap_or(bad.len());
                        for &b in &bad[..n] {
                            out.push(char::from_u32(BASE + u32::from(b)).expect("private-use range"));
                        }
                        rest = &bad[n..];
                    }
                }
            }
        }
    }
}

/// Text back to bytes: every reserved character becomes the byte it carries.
pub fn encode(text: &str) -> Cow<'_, [u8]> {
    if !holds_reserved(text.as_bytes()) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if reserved(c) {
            out.push((c as u32 - BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_round_trip_and_reserved_text_is_refused() {
        for b in [&b"caf\xe9"[..], b"\xff\xfe", b"plain", b"\xe2\x82", b"a\x80b\xc3\xa9c", b""] {
            let t = decode(b).unwrap();
            assert_eq!(encode(&t).as_ref(), b);
        }
        assert!(decode("\u{F7A0}".as_bytes()).is_none());
        assert!(decode(b"\xe9 \xef\x9e\xa0").is_none(), "a reserved character after a carried byte");
        assert_eq!(decode(b"caf\xc3\xa9").unwrap(), "café");
    }
}
