//! Runtime leak prevention: a child process's output with every secret value, and every
//! form a program is likely to print it in, replaced by `***` — at least what GitHub's and
//! GitLab's runners mask ([`forms`] lists them). Streaming: output goes on as it comes,
//! holding back only the bytes that could still be the start of a secret.

use std::io::{self, Read, Write};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// What a masked value is written as.
pub const MASK: &[u8] = b"***";

/// Values shorter than this are not masked: masking `1` or `true` everywhere would hide
/// the output without protecting anything.
pub const MIN_LEN: usize = 4;

/// Replaces secret values in a byte stream.
pub struct Masker {
    ac: AhoCorasick,
    longest: usize,
}

fn url_encoded(v: &[u8], lower: bool, plus_for_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b);
        } else if b == b' ' && plus_for_space {
            out.push(b'+');
        } else if lower {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// The base64 characters that depend on `v` alone when it starts `k` bytes (0–2) into a
/// longer encoded input — as the password in `Basic base64(user:password)` does. Any prefix
/// gives the same characters; the one or two at each end, shared with neighbouring bytes,
/// are left out.
fn base64_inside(v: &[u8], k: usize, engine: &impl Engine) -> Vec<u8> {
    let mut input = vec![0u8; k];
    input.extend_from_slice(v);
    let enc = engine.encode(&input).into_bytes();
    let first = (8 * k).div_ceil(6);
    let last = 8 * (k + v.len()) / 6; // exclusive
    if last <= first {
        return Vec::new();
    }
    enc[first..last.min(enc.len())].to_vec()
}

/// Every form of `v` that is masked: the value; each line of a multi-line value; its
/// base64 (standard and URL-safe) whole and at each of the three alignments inside a
/// longer encoding; each line of its base64 wrapped at 76 (GNU `base64`) and 64 (OpenSSL,
/// PEM) columns; JSON-escaped; URL-encoded (upper- and lower-case hex, `+` for space);
/// shell-quoted (`'…'\''…'` and backslash-escaped). Forms shorter than [`MIN_LEN`] are
/// dropped.
pub fn forms(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![v.to_vec()];
    for line in v.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.push(line.to_vec());
    }
    for (std_like, b64) in [(true, STANDARD.encode(v)), (false, URL_SAFE_NO_PAD.encode(v))] {
        let trimmed = b64.trim_end_matches('=');
        out.push(trimmed.as_bytes().to_vec());
        if std_like {
            for width in [76, 64] {
                out.extend(
                    b64.as_bytes()
                        .chunks(width)
                        .map(|c| c.strip_suffix(b"==").or(c.strip_suffix(b"=")).unwrap_or(c).to_vec()),
                );
            }
        }
    }
    for k in 0..3 {
        out.push(base64_inside(v, k, &STANDARD));
        out.push(base64_inside(v, k, &URL_SAFE_NO_PAD));
    }
    if let Ok(s) = std::str::from_utf8(v) {
        if let Ok(j) = serde_json::to_string(s) {
            out.push(j.as_bytes()[1..j.len() - 1].to_vec());
        }
        out.push(s.replace('\'', "'\\''").into_bytes());
        let mut escaped = String::with_capacity(s.len() * 2);
        for c in s.chars() {
            if " \t\\'\"`$!&|;<>()*?[]#~{}".contains(c) {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        out.push(escaped.into_bytes());
    }
    for (lower, plus) in [(false, false), (true, false), (false, true), (true, true)] {
        out.push(url_encoded(v, lower, plus));
    }
    out.retain(|p| p.len() >= MIN_LEN);
    out.sort();
    out.dedup();
    out
}

impl Masker {
    /// A masker for these values and their [`forms`]; `None` when no value is long enough
    /// to mask.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Masker> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for v in values.into_iter().filter(|v| v.len() >= MIN_LEN) {
            patterns.extend(forms(v));
        }
        patterns.sort();
        patterns.dedup();
        let longest = patterns.iter().map(Vec::len).max()?;
        let ac = AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&patterns).ok()?;
        Some(Masker { ac, longest })
    }

    /// Copy `input` to `output` with every value masked, flushing after each read so the
    /// output stays interactive.
    pub fn stream(&self, mut input: impl Read, mut output: impl Write) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut chunk = vec![0u8; 32 << 10];
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            buf.extend_from_slice(&chunk[..n]);
            // A match may still begin in the last `longest - 1` bytes: keep them back.
            let safe = buf.len().saturating_sub(self.longest - 1);
            let kept = self.emit(&buf, safe, &mut output)?;
            buf.drain(..kept);
            output.flush()?;
        }
        let end = buf.len();
        self.emit(&buf, end, &mut output)?;
        output.flush()
    }

    /// Write `buf` masked up to `safe` (a match starting before it is written whole);
    /// returns how many bytes of `buf` were consumed.
    fn emit(&self, buf: &[u8], safe: usize, out: &mut impl Write) -> io::Result<usize> {
        let mut at = 0;
        for m in self.ac.find_iter(buf) {
            if m.start() >= safe {
                break;
            }
            out.write_all(&buf[at..m.start()])?;
            out.write_all(MASK)?;
            at = m.end();
        }
        let upto = safe.max(at);
        out.write_all(&buf[at..upto])?;
        Ok(upto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(values: &[&str], input: &[u8], read_size: usize) -> String {
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let m = Masker::new(values.iter().map(|v| v.as_bytes())).unwrap();
        let mut out = Vec::new();
        m.stream(Slow(input, read_size), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_values_and_their_encodings_across_read_boundaries() {
        let input = b"user admin pw=hunter2! b64=aHVudGVyMiE url=hunter2%21 end";
        for size in [1, 2, 3, 7, 64] {
            assert_eq!(masked(&["hunter2!", "ab"], input, size), "user admin pw=*** b64=*** url=*** end", "{size}");
        }
    }

    #[test]
    fn masks_what_ci_runners_mask() {
        use base64::engine::general_purpose::STANDARD;
        let pass = "Tr0ub4dor&3-horse";
        // `user:PASS` in a Basic header, for users of every length mod 3.
        for user in ["a", "ab", "abc", "admin"] {
            let header = format!("Authorization: Basic {}\n", STANDARD.encode(format!("{user}:{pass}")));
            let out = masked(&[pass], header.as_bytes(), 5);
            assert!(out.contains("***"), "{user}: {out}");
            let left = out.trim_start_matches("Authorization: Basic ").trim_end();
            assert!(left.len() <= 3 + 2 + 8, "{user}: at most the edges stay: {out}");
        }
        // GNU base64 wraps a 57+ byte value at 76 columns: each line is masked.
        let long = "x".repeat(40) + "-long-secret-value-0123456789";
        let wrapped: String =
            STANDARD.encode(&long).as_bytes().chunks(76).map(|c| format!("{}\n", String::from_utf8_lossy(c))).collect();
        assert_eq!(masked(&[&long], wrapped.as_bytes(), 7), "***\n***\n");
        // JSON-escaped, URL-encoded, shell-quoted forms and each line of a multi-line value.
        let v = "pa\"ss word\\with'quote";
        let json = serde_json::to_string(v).unwrap();
        let input = format!("j={json} q='pa\"ss word\\with'\\''quote' u=pa%22ss+word%5cwith%27quote");
        assert_eq!(masked(&[v], input.as_bytes(), 4), "j=\"***\" q='***' u=***");
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC\n-----END KEY-----";
        assert_eq!(masked(&[pem], b"line: hkiG9w0BAQEFAASC\n", 3), "line: ***\n");
    }

    #[test]
    fn short_values_are_left_alone_and_longest_wins() {
        assert!(Masker::new([b"abc".as_slice()]).is_none());
        assert_eq!(masked(&["secret", "secret-long"], b"x secret-long y secret z", 3), "x *** y *** z");
    }
}
