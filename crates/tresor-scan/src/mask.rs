//! Runtime leak prevention: a child process's output with every secret value (and its
//! base64 and URL-encoded forms) replaced by `***`, as CI systems mask their secrets.
//! Streaming: output goes on as it comes, holding back only the bytes that could still be
//! the start of a secret.

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

fn url_encoded(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

impl Masker {
    /// A masker for these values and their encoded forms; `None` when no value is long
    /// enough to mask.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Masker> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for v in values.into_iter().filter(|v| v.len() >= MIN_LEN) {
            patterns.push(v.to_vec());
            patterns.push(STANDARD.encode(v).trim_end_matches('=').as_bytes().to_vec());
            patterns.push(URL_SAFE_NO_PAD.encode(v).into_bytes());
            patterns.push(url_encoded(v));
        }
        patterns.sort();
        patterns.dedup();
        patterns.retain(|p| p.len() >= MIN_LEN);
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
    fn short_values_are_left_alone_and_longest_wins() {
        assert!(Masker::new([b"abc".as_slice()]).is_none());
        assert_eq!(masked(&["secret", "secret-long"], b"x secret-long y secret z", 3), "x *** y *** z");
    }
}
