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
    Record(Zeroizing<Vec<u8>>),
    Expect { tape: Zeroizing<Vec<u8>>, pos: usize, digest: String },
}

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
        self.tape = Tape::Record(Zeroizing::new(Vec::new()));
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
            Tape::Record(kept) => {
                self.h.update(bytes);
                kept.extend_from_slice(bytes);
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
        let kept = match std::mem::replace(&mut self.tape, Tape::None) {
            Tape::Record(kept) => Some(kept),
            other => {
                self.tape = other;
                None
            }
        };
        (self.finish(), kept)
    }

    /// Uppercase hex, as sops formats it (`%X`); lowercase is rejected by sops.
    pub fn finish(mut self) -> String {
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

    #[test]
    fn empty_hash_is_uppercase_sha512() {
        let m = MacHasher::new(false).finish();
        assert!(m.starts_with("CF83E1357EEFB8BD"));
        assert_eq!(m.len(), 128);
    }
}
