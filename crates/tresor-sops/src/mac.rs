//! The file MAC: SHA-512 over every value's canonical plaintext, in document order.
//!
//! ring's SHA-512 (assembly) rather than sha2's: the MAC hashes every byte of every value,
//! and it was 12 % of a 10,000-value decrypt's instructions with sha2.

use ring::digest::{Context, SHA512};
use zeroize::Zeroizing;

/// Accumulates the MAC over values in document order.
pub struct MacHasher {
    h: Context,
    tape: Tape,
    /// Only encrypted values count (`mac_only_encrypted`).
    pub only_encrypted: bool,
    /// Unencrypted JSON integers are hashed as integers (sops 3.13.2+ keeps them so), not
    /// through float64 (sops ≤ 3.13.1, Flux's library). Set from the writer's `version`.
    pub json_ints_exact: bool,
}

/// What a hasher does besides hashing, for an encryption's read-back check
/// (`Cipher::recording`): keep the bytes it hashed, or — reading the output back — compare
/// the bytes it is fed with that record instead of hashing them. While they are equal the
/// digest is the recorded one; at the first difference the recorded prefix is hashed and
/// hashing goes on, so the result is always SHA-512 of exactly what was fed.
enum Tape {
    None,
    /// The bytes hashed so far; `sent` of them went to the hashing thread, if one started.
    Record {
        kept: Zeroizing<Vec<u8>>,
        sent: usize,
        hashing: Option<Offload>,
    },
    Expect {
        tape: Zeroizing<Vec<u8>>,
        pos: usize,
        digest: String,
    },
}

/// A recording hasher fed many small values (a line store's 10,000 keys) hands SHA-512 to a
/// thread of its own in pieces of [`OFFLOAD_PIECE`] while the caller goes on encrypting:
/// the two overlap on a second core. A single large value (the binary store's file) is
/// hashed where it is fed: sending it would copy it, and its caller already overlaps.
struct Offload {
    pieces: std::sync::mpsc::Sender<Zeroizing<Vec<u8>>>,
    done: std::thread::JoinHandle<Context>,
}

const OFFLOAD_PIECE: usize = 64 << 10;

/// Did the sops version that wrote a file hash unencrypted JSON integers exactly? 3.13.2
/// reads JSON integers that fit int64 as ints (getsops/sops#2222); earlier versions read
/// every JSON number as float64.
pub fn writes_json_ints_exact(version: &str) -> bool {
    let core = version.strip_prefix('v').unwrap_or(version).split(['-', '+']).next().unwrap_or("");
    let n: Vec<u64> = core.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let v = (n.first().copied().unwrap_or(0), n.get(1).copied().unwrap_or(0), n.get(2).copied().unwrap_or(0));
    v >= (3, 13, 2)
}

/// SHA-256("sops"): the prefix sops feeds first in `mac_only_encrypted` mode.
const MAC_ONLY_ENCRYPTED_PREFIX: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b,
    0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

impl MacHasher {
    /// A hasher for one file.
    pub fn new(only_encrypted: bool) -> MacHasher {
        let mut h = Context::new(&SHA512);
        if only_encrypted {
            h.update(&MAC_ONLY_ENCRYPTED_PREFIX);
        }
        MacHasher { h, tape: Tape::None, only_encrypted, json_ints_exact: false }
    }

    /// This hasher, keeping a copy of what it hashes (see [`Tape`]).
    pub(crate) fn recording(mut self) -> MacHasher {
        self.tape = Tape::Record { kept: Zeroizing::new(Vec::new()), sent: 0, hashing: None };
        self
    }

    /// This hasher, comparing what it is fed against `recorded` (bytes and digest from
    /// [`MacHasher::finish_keeping`]) instead of hashing while they agree.
    pub(crate) fn expecting(mut self, recorded: crate::cipher::MacTape) -> MacHasher {
        let (tape, digest) = recorded;
        self.tape = Tape::Expect { tape, pos: 0, digest };
        self
    }

    /// A hasher that checks a file the way the sops version in its metadata wrote the MAC.
    pub fn reading(meta: &crate::metadata::Metadata) -> MacHasher {
        let mut m = MacHasher::new(meta.mac_only_encrypted);
        m.json_ints_exact = writes_json_ints_exact(&meta.version);
        m
    }

    /// Feed one leaf. In `mac_only_encrypted` mode, leaves left in clear are skipped.
    pub fn leaf(&mut self, bytes: &[u8], encrypted: bool) {
        if !encrypted && self.only_encrypted {
            return;
        }
        match &mut self.tape {
            Tape::None => self.h.update(bytes),
            Tape::Record { kept, sent, hashing } => {
                if hashing.is_none() && bytes.len() >= OFFLOAD_PIECE {
                    // Hashed here, in order: nothing was sent yet.
                    self.h.update(&kept[*sent..]);
                    self.h.update(bytes);
                    kept.extend_from_slice(bytes);
                    *sent = kept.len();
                    return;
                }
                kept.extend_from_slice(bytes);
                if kept.len() - *sent >= OFFLOAD_PIECE {
                    let piece = Zeroizing::new(kept[*sent..].to_vec());
                    *sent = kept.len();
                    let offload = hashing.get_or_insert_with(|| {
                        let (pieces, rx) = std::sync::mpsc::channel::<Zeroizing<Vec<u8>>>();
                        let mut h = std::mem::replace(&mut self.h, Context::new(&SHA512));
                        let done = std::thread::spawn(move || {
                            for piece in rx {
                                h.update(&piece);
                            }
                            h
                        });
                        Offload { pieces, done }
                    });
                    // The thread only ends when the sender is dropped: it is there to receive.
                    let _ = offload.pieces.send(piece);
                }
            }
            Tape::Expect { tape, pos, .. } => {
                if tape[*pos..].starts_with(bytes) {
                    *pos += bytes.len();
                } else {
                    self.h.update(&tape[..*pos]);
                    self.h.update(bytes);
                    self.tape = Tape::None;
                }
            }
        }
    }

    /// [`MacHasher::finish`], and the bytes hashed when recording.
    pub(crate) fn finish_keeping(mut self) -> (String, Option<Zeroizing<Vec<u8>>>) {
        let kept = self.settle();
        (self.finish(), kept)
    }

    /// A recording hasher's bytes all hashed (the hashing thread's share joined back), and
    /// the bytes; the hasher is a plain one after.
    fn settle(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        if !matches!(self.tape, Tape::Record { .. }) {
            return None;
        }
        let Tape::Record { kept, sent, hashing } = std::mem::replace(&mut self.tape, Tape::None) else {
            return None;
        };
        if let Some(Offload { pieces, done }) = hashing {
            drop(pieces);
            self.h = done.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
        self.h.update(&kept[sent..]);
        Some(kept)
    }

    /// Uppercase hex, as sops formats it (`%X`); lowercase is rejected by sops.
    pub fn finish(mut self) -> String {
        self.settle();
        if let Tape::Expect { tape, pos, digest } = &self.tape {
            if *pos == tape.len() {
                return digest.clone();
            }
            self.h.update(&tape[..*pos]);
        }
        let digest = self.h.finish();
        let mut s = String::with_capacity(128);
        for b in digest.as_ref() {
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_sha256_of_sops() {
        use sha2::{Digest, Sha256};
        assert_eq!(Sha256::digest(b"sops").as_slice(), &MAC_ONLY_ENCRYPTED_PREFIX);
    }

    /// What a hasher reading an encryption's output back gives must be SHA-512 of exactly
    /// what it was fed, whether or not that matches the record.
    #[test]
    fn expecting_gives_the_hash_of_what_was_fed() {
        let leaves: &[(&[u8], bool)] = &[(b"alpha", true), (b"", false), (b"beta", false), (b"gamma", true)];
        for only_encrypted in [false, true] {
            let mut rec = MacHasher::new(only_encrypted).recording();
            for (l, e) in leaves {
                rec.leaf(l, *e);
            }
            let (digest, kept) = rec.finish_keeping();
            let kept = kept.expect("recording keeps its input");
            let fed: [&[(&[u8], bool)]; 5] = [
                leaves,
                &leaves[..2],
                &[(b"alpha", true), (b"", false), (b"beta", false), (b"gamma", true), (b"x", true)],
                &[(b"alph", true), (b"abeta", false), (b"gamma", true)],
                &[(b"alpha", true), (b"betx", false), (b"gamma", true)],
            ];
            for f in fed {
                let mut plain = MacHasher::new(only_encrypted);
                let mut replay = MacHasher::new(only_encrypted).expecting((kept.clone(), digest.clone()));
                for (l, e) in f {
                    plain.leaf(l, *e);
                    replay.leaf(l, *e);
                }
                assert_eq!(replay.finish(), plain.finish(), "{only_encrypted} {f:?}");
            }
        }
    }

    /// A recording hasher that hands pieces to its hashing thread, takes a large value
    /// itself, or both, gives the digest of what it was fed, and keeps exactly those bytes.
    #[test]
    fn recording_with_a_hashing_thread_gives_the_same_digest() {
        let small: Vec<Vec<u8>> = (0..20_000u32).map(|i| format!("value-{i}-{}", i * 7919).into_bytes()).collect();
        let big = vec![0xA5u8; 3 * OFFLOAD_PIECE];
        let shapes: [Vec<&[u8]>; 4] = [
            small.iter().map(Vec::as_slice).collect(),
            vec![&big[..]],
            std::iter::once(&big[..]).chain(small.iter().map(Vec::as_slice)).collect(),
            small
                .iter()
                .map(Vec::as_slice)
                .chain(std::iter::once(&big[..]))
                .chain(small[..10].iter().map(Vec::as_slice))
                .collect(),
        ];
        for leaves in shapes {
            let mut plain = MacHasher::new(false);
            let mut rec = MacHasher::new(false).recording();
            for l in &leaves {
                plain.leaf(l, true);
                rec.leaf(l, true);
            }
            let (digest, kept) = rec.finish_keeping();
            assert_eq!(digest, plain.finish());
            assert_eq!(kept.unwrap().as_slice(), leaves.concat().as_slice());
        }
        let mut rec = MacHasher::new(false).recording();
        let mut plain = MacHasher::new(false);
        for l in &small {
            rec.leaf(l, true);
            plain.leaf(l, true);
        }
        assert_eq!(rec.finish(), plain.finish(), "finish without keeping joins the thread too");
    }

    #[test]
    fn empty_hash_is_uppercase_sha512() {
        let m = MacHasher::new(false).finish();
        assert!(m.starts_with("CF83E1357EEFB8BD"));
        assert_eq!(m.len(), 128);
    }
}
