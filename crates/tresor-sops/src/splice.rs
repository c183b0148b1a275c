//! Apply byte-range replacements to a source text in one pass.

use std::ops::Range;

/// Replace the bytes in `range` with `text`.
#[derive(Debug, Clone)]
pub struct Edit {
    /// The bytes to replace.
    pub range: Range<usize>,
    /// Their replacement.
    pub text: String,
}

/// `src` with `edits` applied (edits must not overlap).
pub fn apply(src: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let extra: usize = edits.iter().map(|e| e.text.len()).sum();
    let mut out = String::with_capacity(src.len() + extra);
    let mut at = 0;
    for e in edits {
        // Overlapping edits would be a bug: never panic on them; the output check that
        // follows every encryption and decryption refuses the result.
        let start = e.range.start.max(at);
        out.push_str(&src[at..start]);
        out.push_str(&e.text);
        at = e.range.end.max(start);
    }
    out.push_str(&src[at..]);
    out
}

/// Writes `src` with edits applied while the edits are still arriving: `flush` writes out
/// every edit that starts before a point no later edit can precede, so a large file is
/// never held twice in memory.
pub struct Splicer<'a, W: std::io::Write> {
    src: &'a str,
    at: usize,
    out: W,
}

impl<'a, W: std::io::Write> Splicer<'a, W> {
    /// A splicer copying `src` into `out`.
    pub fn new(src: &'a str, out: W) -> Splicer<'a, W> {
        Splicer { src, at: 0, out }
    }

    /// Write the source up to `upto`, with the edits that start before it (taken out of
    /// `edits`). Every edit still to come must start at or after `upto`.
    pub fn flush(&mut self, edits: &mut Vec<Edit>, upto: usize) -> std::io::Result<()> {
        edits.sort_by_key(|e| (e.range.start, e.range.end));
        let n = edits.partition_point(|e| e.range.start < upto);
        for e in edits.drain(..n) {
            if e.range.start < self.at || e.range.end < e.range.start {
                // A bug, not an input problem: refuse rather than write a broken file.
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "internal error: overlapping edits"));
            }
            self.out.write_all(&self.src.as_bytes()[self.at..e.range.start])?;
            self.out.write_all(e.text.as_bytes())?;
            self.at = e.range.end;
        }
        Ok(())
    }

    /// Write the source up to `upto` when every edit before it is written; false when
    /// the output is already past it.
    pub fn advance_to(&mut self, upto: usize) -> std::io::Result<bool> {
        if upto < self.at {
            return Ok(false);
        }
        self.out.write_all(&self.src.as_bytes()[self.at..upto])?;
        self.at = upto;
        Ok(true)
    }

    /// The writer, to mark points in the output.
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Write the remaining edits and the rest of the source.
    pub fn finish(mut self, mut edits: Vec<Edit>) -> std::io::Result<W> {
        self.flush(&mut edits, usize::MAX)?;
        self.out.write_all(&self.src.as_bytes()[self.at..])?;
        Ok(self.out)
    }
}
