//! The file MAC: SHA-512 over every value's canonical plaintext, in document order.
//!
//! ring's SHA-512 (assembly) rather than sha2's: the MAC hashes every byte of every value,
//! and it was 12 % of a 10,000-value decrypt's instructions with sha2.

use ring::digest::{Context, SHA512};

/// Accumulates the MAC over values in document order.
pub struct MacHasher {
    h: Context,
    /// Only encrypted values count (`mac_only_encrypted`).
    pub only_encrypted: bool,
    /// Unencrypted JSON integers are hashed as integers (sops 3.13.2+ keeps them so), not
    /// through float64 (sops ≤ 3.13.1, Flux's library). Set from the writer's `version`.
    pub json_ints_exact: bool,
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
        MacHasher { h, only_encrypted, json_ints_exact: false }
    }

    /// A hasher that checks a file the way the sops version in its metadata wrote the MAC.
    pub fn reading(meta: &crate::metadata::Metadata) -> MacHasher {
        let mut m = MacHasher::new(meta.mac_only_encrypted);
        m.json_ints_exact = writes_json_ints_exact(&meta.version);
        m
    }

    /// Feed one leaf. In `mac_only_encrypted` mode, leaves left in clear are skipped.
    pub fn leaf(&mut self, bytes: &[u8], encrypted: bool) {
        if encrypted || !self.only_encrypted {
            self.h.update(bytes);
        }
    }

    /// Uppercase hex, as sops formats it (`%X`); lowercase is rejected by sops.
    pub fn finish(self) -> String {
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

    #[test]
    fn empty_hash_is_uppercase_sha512() {
        let m = MacHasher::new(false).finish();
        assert!(m.starts_with("CF83E1357EEFB8BD"));
        assert_eq!(m.len(), 128);
    }
}
