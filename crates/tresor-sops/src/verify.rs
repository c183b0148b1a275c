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
//! hash needs no secret and no collision resistance against an adversary.

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
        // SipHash with fixed keys: the same in every thread of the process.
        let mut h = std::hash::DefaultHasher::new();
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

/// Which side of the format an [`Expected`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Encrypted,
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
    pub(crate) fn new(encrypted: bool, format: Format, rule: &Rule, digest: DataDigest) -> Expected {
        let side = if encrypted { Side::Encrypted } else { Side::Decrypted };
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

/// Outputs of inputs smaller than this are read back whole afterwards; larger ones while
/// they are written, on a thread of their own.
pub(crate) const INLINE_FROM: usize = 256 << 10;

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
        match reread(side, Format::Yaml, rule, text) {
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

impl<W: std::io::Write> Tee<W> {
    pub(crate) fn new(out: W, inline: bool, encrypted: bool, rule: &Rule) -> Tee<W> {
        if !inline {
            return Tee { out, piece: Vec::new(), tx: None, workers: Vec::new() };
        }
        let side = if encrypted { Side::Encrypted } else { Side::Decrypted };
        // Pieces in flight are bounded: the output is never held twice.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // One checker per core: when the output is complete, whatever is left to read back
        // is read on all of them.
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let workers = (0..n)
            .map(|_| {
                let (rule, rx) = (rule.clone(), rx.clone());
                std::thread::spawn(move || check_pieces(side, &rule, &rx))
            })
            .collect();
        Tee { out, piece: Vec::new(), tx: Some(tx), workers }
    }

    /// The output so far ends at a root entry's line start: send it to the checker.
    pub(crate) fn cut(&mut self) {
        if let Some(tx) = &self.tx {
            if !self.piece.is_empty() && tx.send(std::mem::take(&mut self.piece)).is_err() {
                self.tx = None;
            }
        }
    }

    /// Finish: the verification to hand to the caller, given what the walk expects.
    /// `whole` says the pieces cannot be read independently (aliases were walked).
    pub(crate) fn finish(mut self, expected: Expected, whole: bool) -> Result<(W, Verification), SopsError> {
        self.cut();
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
