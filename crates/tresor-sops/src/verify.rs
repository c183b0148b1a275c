//! Self-checks of what encryption and decryption produce, before anything is released.
//!
//! tresor splices values into the original bytes instead of re-emitting the document, so
//! a splice that a parser reads differently from how it was meant (a line break it did not
//! see, a header it mislocated) could leave plaintext behind or change what a downstream
//! reader sees. Both directions therefore parse their own output again and compare it with
//! what the walk over the input decided, leaf by leaf:
//!
//! * after encryption, every value the rules encrypt is exactly the `ENC[...]` text that was
//!   written for it, every comment to encrypt is ciphertext, and every value in clear is
//!   unchanged;
//! * after decryption, every value (path, type and bytes) is what was authenticated.
//!
//! The comparison is a sum of per-leaf hashes over `(path with indices, kind, type,
//! bytes)`: order-free, so the output can be read back in pieces on all cores, and exact
//! about where each value sits because the path names it. A self-check, not a MAC: the
//! hash is keyed at random once per process ([`tresor_format::hash`]), so no input can be
//! prepared to collide with another.

use std::hash::Hasher;

use tresor_format::scalar;
use tresor_format::tree::{Comment, Scalar};
use tresor_format::{Format, Value};

use crate::cipher::is_enc;
use crate::error::SopsError;
use crate::rules::Rule;
use crate::walk::{display_steps, At, Step, Visitor};

/// An order-free digest of the leaves a walk visits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DataDigest {
    sum: u64,
    mixed: u64,
    count: u64,
}

impl DataDigest {
    fn record(&mut self, kind: u8, path: &[Step], ty: &str, len: usize, bytes: &[u8]) {
        // Keyed once per process: the same in every thread.
        let mut h = tresor_format::hash::FoldHasher::default();
        h.write_u8(kind);
        for step in path {
            match step {
                Step::Key(k) => {
                    h.write_u8(b'k');
                    h.write_usize(k.len());
                    h.write(k.as_bytes());
                }
                Step::Index(i) => {
                    h.write_u8(b'i');
                    h.write_usize(*i);
                }
            }
        }
        h.write_u8(b'/');
        h.write(ty.as_bytes());
        h.write_usize(len);
        h.write(bytes);
        let x = h.finish();
        self.sum = self.sum.wrapping_add(x);
        self.mixed = self.mixed.wrapping_add(x.rotate_left(29).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 17));
        self.count += 1;
    }

    fn add(&mut self, o: DataDigest) {
        self.sum = self.sum.wrapping_add(o.sum);
        self.mixed = self.mixed.wrapping_add(o.mixed);
        self.count += o.count;
    }

    /// A value as readers see it: its type and canonical bytes. JSON readers (sops 3.11,
    /// Flux) see every number as a float64, so JSON integers are recorded as floats.
    pub(crate) fn plain(&mut self, format: Format, at: &At, v: &Value) {
        match (format, v) {
            (Format::Json, Value::Int(i)) => return self.plain(format, at, &Value::Float(*i as f64)),
            // `-0` reads back as the integer 0.
            (Format::Json, Value::Float(f)) if *f == 0.0 && f.is_sign_negative() => {
                return self.plain(format, at, &Value::Float(0.0))
            }
            _ => {}
        }
        let bytes = v.canonical();
        self.record(b'v', at.path, v.sops_type(), bytes.len(), &bytes);
    }

    /// A value written as ciphertext: the `ENC[...]` text, by its length and its end (the
    /// GCM tag and type, unique to this ciphertext; hashing the whole envelope again would
    /// cost as much as the rest of the check).
    pub(crate) fn cipher(&mut self, at: &At, enc: &str) {
        self.record(b'e', at.path, "", enc.len(), envelope_end(enc));
    }

    /// A comment written as ciphertext.
    pub(crate) fn cipher_comment(&mut self, at: &At, enc: &str) {
        self.record(b'c', at.path, "", enc.len(), envelope_end(enc));
    }
}

fn envelope_end(enc: &str) -> &[u8] {
    let b = enc.as_bytes();
    &b[b.len().saturating_sub(48)..]
}

/// Which side of the format an output is: what its check expects of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Ciphertext where the rules encrypt, everything else unchanged.
    Encrypted,
    /// Plaintext holding the authenticated data.
    Decrypted,
}

/// What a produced output must contain, to be checked with [`Expected::check`] once the
/// output is complete and before it is released.
#[derive(Clone)]
pub struct Expected {
    side: Side,
    format: Format,
    rule: Rule,
    digest: DataDigest,
}

impl Expected {
    pub(crate) fn new(side: Side, format: Format, rule: &Rule, digest: DataDigest) -> Expected {
        Expected { side, format, rule: rule.clone(), digest }
    }

    /// Parse `output` again and check that it holds what the walk produced. The error
    /// never quotes a value.
    pub fn check(&self, output: &[u8]) -> Result<(), SopsError> {
        let text = std::str::from_utf8(output).map_err(|_| self.fail("the output is not UTF-8".into()))?;
        match reread(self.side, self.format, &self.rule, text) {
            Ok(d) => self.compare(d),
            Err(e @ SopsError::Verify { .. }) => Err(e),
            Err(e) => Err(self.fail(format!("the output does not parse back ({e})"))),
        }
    }

    fn compare(&self, found: DataDigest) -> Result<(), SopsError> {
        if found == self.digest {
            return Ok(());
        }
        Err(self.fail(match self.side {
            Side::Encrypted => "the output, parsed back, holds different data than the input".into(),
            Side::Decrypted => "the plaintext, parsed back, would not hold the authenticated data \
                (a tag, anchor, line break or blank line was added around an encrypted value by hand?)"
                .into(),
        }))
    }

    fn fail(&self, what: String) -> SopsError {
        SopsError::Verify { encrypting: self.side == Side::Encrypted, what }
    }
}

/// The outcome of producing an output: already read back while it was written, or to be
/// checked by the caller on the finished bytes before they are released.
#[must_use = "an unchecked output may hold plaintext or data that differs from the input"]
pub enum Verification {
    /// Read back and found right while it was written.
    Done,
    /// Call [`Expected::check`] on the whole output.
    Pending(Expected),
}

impl Verification {
    /// Check the finished output (a no-op when it was checked while written).
    pub fn check(self, output: &[u8]) -> Result<(), SopsError> {
        match self {
            Verification::Done => Ok(()),
            Verification::Pending(e) => e.check(output),
        }
    }
}

fn reread(side: Side, format: Format, rule: &Rule, text: &str) -> Result<DataDigest, SopsError> {
    let mut v = Reread { side, format, digest: DataDigest::default() };
    match format {
        Format::Yaml => crate::file::walk_yaml_plain(text, rule, &mut v)?,
        Format::Json => {
            for d in tresor_format::parse(text, format)? {
                crate::walk::walk(&d, rule, &mut v)?;
            }
        }
    }
    Ok(v.digest)
}

/// Read back a piece in the commonest shape of configuration YAML in one pass over its
/// lines: block mappings (root or nested, consistently indented) whose values are plain
/// single-line scalars, with nothing else in the piece: no comments, quotes, sequences,
/// flow collections, block scalars, anchors, aliases, tags, document markers, tabs, CRs,
/// duplicate keys or trailing spaces. For such text every YAML reader agrees on the data
/// (keys and values are typed by the same function the full reader uses). Anything else:
/// `None`, and the full parser reads the piece.
fn reread_simple(side: Side, rule: &Rule, text: &str) -> Option<Result<DataDigest, SopsError>> {
    // Branch-free over 32-byte blocks (vector compares): this scan runs over every output byte.
    let refused = |c: &[u8]| {
        c.iter().fold(false, |m, &x| {
            m | (x == b'\r')
                | (x == b'\t')
                | (x == b'#')
                | (x == b'"')
                | (x == b'\'')
                | (x == b'&')
                | (x == b'*')
                | (x == b'!')
                | (x == b'|')
                | (x == b'>')
                | (x == b'{')
                | (x == b'}')
                | (x == b'%')
                | (x == b'@')
                | (x == b'`')
                | (x == b'?')
        })
    };
    if text.as_bytes().chunks(32).any(refused)
        || !text.ends_with('\n')
        || tresor_format::yaml::check_line_breaks(text).is_err()
    {
        return None;
    }
    let mut v = Reread { side, format: Format::Yaml, digest: DataDigest::default() };
    // Open mappings: (indent, key that opened it, keys seen).
    let mut open: Vec<(usize, Option<&str>, tresor_format::hash::FastSet<&str>)> = Vec::new();
    // `text` ends with a newline (checked above); the memchr crate's search is vectorised.
    let mut lines: Vec<&str> = Vec::with_capacity(text.len() / 32);
    let mut from = 0;
    for nl in memchr::memchr_iter(b'\n', text.as_bytes()) {
        lines.push(&text[from..nl]);
        from = nl + 1;
    }
    let mut started = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.is_empty() {
            continue;
        }
        if line.ends_with(' ') {
            return None;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let (key, value) = match rest.split_once(':') {
            Some((k, "")) => (k, None),
            Some((k, v)) if v.starts_with(' ') => (k, Some(v.trim_start_matches(' '))),
            _ => return None,
        };
        let key_ok = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/'))
            && matches!(tresor_format::scalar::resolve_plain(key), Ok(Value::Str(_)));
        if !key_ok {
            return None;
        }
        // Close mappings indented deeper; this line must sit at an open mapping's indent
        // (or open the first one).
        while open.last().is_some_and(|(ind, _, _)| *ind > indent) {
            open.pop();
        }
        match open.last() {
            Some((ind, _, _)) if *ind == indent => {}
            // The root mapping opens at the first line; a line left of it is not YAML.
            None if !started => open.push((indent, None, Default::default())),
            _ => return None,
        }
        started = true;
        if !open.last_mut()?.2.insert(key) || open.len() > tresor_format::MAX_DEPTH {
            return None;
        }
        // The top-level `sops` entry is metadata, which the walk skips: leave it to it.
        if open.len() == 1 && key == "sops" {
            return None;
        }
        let next_indent = lines[i..].iter().find(|l| !l.is_empty()).map(|l| l.len() - l.trim_start_matches(' ').len());
        let value = match value {
            // `key:` opens a mapping when the next line is indented deeper, else is null.
            None if next_indent.is_some_and(|n| n > indent) => {
                open.push((next_indent.unwrap_or(0), Some(key), Default::default()));
                continue;
            }
            None => "",
            Some("") => return None,
            Some(v) => v,
        };
        let first = value.as_bytes().first().copied().unwrap_or(b' ');
        // Indicators: only a negative number may start with one (`-5`).
        if matches!(first, b':' | b',' | b'[' | b']')
            || first == b'-' && !value[1..].starts_with(|c: char| c.is_ascii_digit())
            || memchr::memchr_iter(b':', value.as_bytes()).any(|i| value.as_bytes().get(i + 1) == Some(&b' '))
            || value.ends_with(':')
            || next_indent.is_some_and(|n| n > indent)
        {
            return None;
        }
        // The path as the walker builds it; the top-level `sops` entry is not data.
        let mut path: Vec<Step> = open.iter().filter_map(|(_, k, _)| k.map(Step::Key)).collect();
        path.push(Step::Key(key));
        let key_matched = path.iter().any(|s| matches!(s, Step::Key(k) if rule.key_matches(k)));
        let at = At { aad: "", encrypt: rule.encrypts(key_matched, false), path: &path, in_alias: false };
        let scalar = Scalar {
            text: value.to_string(),
            style: tresor_format::ScalarStyle::Plain,
            tag: None,
            span: 0..0,
            header: None,
            indent,
            in_flow: false,
            pos: tresor_format::Position::default(),
        };
        if let Err(e) = v.value(&scalar, &at) {
            return Some(Err(e));
        }
    }
    Some(Ok(v.digest))
}

/// Outputs of inputs smaller than this are read back whole afterwards; larger ones while
/// they are written, on a thread of their own.
pub(crate) const INLINE_FROM: usize = 256 << 10;

/// The smallest piece handed to a checker (the last one excepted).
const PIECE_MIN: usize = 64 << 10;

enum Outcome {
    Read(DataDigest),
    /// A piece did not parse on its own (an alias to an earlier piece's anchor, or a
    /// broken output): the caller checks the whole output.
    Undecided,
    Failed(SopsError),
}

/// A writer that passes everything on to `out` and, when enabled, also hands each
/// finished piece of the output (cut at root entries with [`Tee::cut`]) to a thread that
/// parses it back, so the check runs while the output is produced.
pub(crate) struct Tee<W: std::io::Write> {
    out: W,
    piece: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    workers: Vec<std::thread::JoinHandle<Outcome>>,
}

/// Read pieces from the shared queue until it closes.
fn check_pieces(side: Side, rule: &Rule, rx: &std::sync::Mutex<std::sync::mpsc::Receiver<Vec<u8>>>) -> Outcome {
    let mut total = DataDigest::default();
    let mut undecided = false;
    loop {
        let piece = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return Outcome::Undecided,
        };
        let Ok(piece) = piece else { break };
        if undecided {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&piece) else {
            undecided = true;
            continue;
        };
        let read = match reread_simple(side, rule, text) {
            Some(r) => r,
            None => reread(side, Format::Yaml, rule, text),
        };
        match read {
            Ok(d) => total.add(d),
            Err(e @ SopsError::Verify { .. }) => return Outcome::Failed(e),
            Err(_) => undecided = true,
        }
    }
    if undecided {
        Outcome::Undecided
    } else {
        Outcome::Read(total)
    }
}

/// Checker threads per output: one per core, at most 4. Asked once per process: the
/// answer comes from five cgroup files, and `updatekeys` checks one output per file.
fn checker_count() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4))
}

impl<W: std::io::Write> Tee<W> {
    pub(crate) fn new(out: W, inline: bool, side: Side, rule: &Rule) -> Tee<W> {
        if !inline {
            return Tee { out, piece: Vec::new(), tx: None, workers: Vec::new() };
        }
        // Pieces in flight are bounded: the output is never held twice.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // One checker per core: when the output is complete, whatever is left to read back
        // is read on all of them.
        let n = checker_count();
        let workers = (0..n)
            .map(|_| {
                let (rule, rx) = (rule.clone(), rx.clone());
                std::thread::spawn(move || check_pieces(side, &rule, &rx))
            })
            .collect();
        Tee { out, piece: Vec::new(), tx: Some(tx), workers }
    }

    /// The output so far ends at a root entry's line start: send it to the checkers once
    /// it is large enough to be worth a hand-over (each one wakes a thread).
    pub(crate) fn cut(&mut self) {
        if self.piece.len() >= PIECE_MIN {
            self.send_piece();
        }
    }

    fn send_piece(&mut self) {
        if let (Some(tx), false) = (&self.tx, self.piece.is_empty()) {
            // The next piece gets its room up front: grown by doubling, it was copied ~2x.
            let next = Vec::with_capacity(PIECE_MIN + PIECE_MIN / 4);
            if tx.send(std::mem::replace(&mut self.piece, next)).is_err() {
                self.tx = None;
            }
        }
    }

    /// Finish: the verification to hand to the caller, given what the walk expects.
    /// `whole` says the pieces cannot be read independently (aliases were walked).
    pub(crate) fn finish(mut self, expected: Expected, whole: bool) -> Result<(W, Verification), SopsError> {
        self.send_piece();
        let inline = self.tx.take().is_some();
        let mut total = DataDigest::default();
        let mut decided = inline;
        for w in std::mem::take(&mut self.workers) {
            match w.join().unwrap_or(Outcome::Undecided) {
                Outcome::Failed(e) => return Err(e),
                Outcome::Read(d) => total.add(d),
                Outcome::Undecided => decided = false,
            }
        }
        let v = if decided && !whole {
            expected.compare(total)?;
            Verification::Done
        } else {
            Verification::Pending(expected)
        };
        Ok((self.out, v))
    }
}

impl<W: std::io::Write> std::io::Write for Tee<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.out.write_all(data)?;
        if self.tx.is_some() {
            self.piece.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Reads an output back and digests it the way the producing visitor did.
struct Reread {
    side: Side,
    format: Format,
    digest: DataDigest,
}

fn plain_value(s: &Scalar) -> Value {
    scalar::resolve(s).unwrap_or_else(|_| Value::Str(s.text.clone()))
}

impl Visitor for Reread {
    fn value(&mut self, s: &Scalar, at: &At) -> Result<(), SopsError> {
        if self.side == Side::Encrypted && at.encrypt && !at.in_alias {
            if is_enc(&s.text) && s.tag.is_none() {
                self.digest.cipher(at, &s.text);
                return Ok(());
            }
            let v = plain_value(s);
            if !(v.is_null() || v == Value::Str(String::new())) {
                return Err(SopsError::Verify {
                    encrypting: true,
                    what: format!("the value at {} would be left unencrypted", display_steps(at.path)),
                });
            }
            self.digest.plain(self.format, at, &v);
            return Ok(());
        }
        self.digest.plain(self.format, at, &plain_value(s));
        Ok(())
    }

    fn comment(&mut self, c: &Comment, at: &At) -> Result<(), SopsError> {
        if self.side == Side::Encrypted && at.encrypt && !at.in_alias && !c.text.is_empty() {
            if !is_enc(&c.text) {
                return Err(SopsError::Verify {
                    encrypting: true,
                    what: format!("a comment at line {} would be left unencrypted", c.pos.line),
                });
            }
            self.digest.cipher_comment(at, &c.text);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass reader gives the full reader's digest wherever it answers at all.
    #[test]
    fn the_simple_reader_agrees_with_the_full_reader_or_declines() {
        let rule = Rule::default();
        let agree = [
            "a: 1\nb: two\nc:\n  d: true\n  e: 1.5\n  f:\n    g: x/y=z+w\nh: ~\ni:\nj: ENC[AES256_GCM,data:YQ==,iv:aXY=,tag:dA==,type:str]\n",
            "  x: 1\n  y:\n    z: -5\n",
            "k_unencrypted: visible\nm: http://example.com/path\n",
        ];
        for text in agree {
            for side in [Side::Encrypted, Side::Decrypted] {
                let full = reread(side, Format::Yaml, &rule, text);
                let simple = reread_simple(side, &rule, text).expect("the simple reader answers");
                match (full, simple) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("{text:?}: full {:?} vs simple {:?}", a.is_ok(), b.is_ok()),
                }
            }
        }
        let decline = [
            "a: 1 # c\n",
            "a: [1, 2]\n",
            "a:\n- 1\n",
            "a: |\n  x\n",
            "a: 'q'\n",
            "a: 1\na: 2\n",
            "a: &x 1\n",
            "a: !!str 1\n",
            "---\na: 1\n",
            "a: 1\nb\n",
            "a: x\n  y\n",
            "  a: 1\nb: 2\n",
            "a: 1 \n",
            "a: -\n",
            "a: x\u{2028}y\n",
            "sops:\n  mac: x\n",
            "a: 1",
        ];
        for text in decline {
            assert!(reread_simple(Side::Decrypted, &rule, text).is_none(), "{text:?} should go to the full parser");
        }
    }
}
