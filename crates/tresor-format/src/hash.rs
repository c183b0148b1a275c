//! A fast keyed 64-bit hash for the per-leaf checks and duplicate-key sets that run over
//! every value of a file.
//!
//! SipHash (std's default) costs more than parsing the bytes it hashes when it is fed
//! short keys and values one field at a time. This is a folded-multiply hash (the
//! construction of wyhash and foldhash) keyed once per process from std's random keys: an
//! input cannot be built offline to collide, and every thread of the process agrees.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// The per-process keys.
fn keys() -> &'static [u64; 4] {
    static KEYS: OnceLock<[u64; 4]> = OnceLock::new();
    KEYS.get_or_init(|| {
        // `RandomState` draws its keys from the OS once per process.
        let s = std::collections::hash_map::RandomState::new();
        // An odd multiplier never folds a lane to zero by itself.
        [s.hash_one(1u8), s.hash_one(2u8), s.hash_one(3u8), s.hash_one(4u8) | 1]
    })
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A [`Hasher`] over the per-process keys. Every `write` also mixes in its length, so
/// fields written one after the other cannot shift into each other.
#[derive(Clone, Copy)]
pub struct FoldHasher {
    state: u64,
    keys: &'static [u64; 4],
}

impl Default for FoldHasher {
    fn default() -> FoldHasher {
        let keys = keys();
        FoldHasher { state: keys[0], keys }
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let [k0, k1, k2, k3] = *self.keys;
        let mut s = fold(self.state ^ bytes.len() as u64 ^ k2, k3);
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            let (a, b) = c.split_at(8);
            let a = u64::from_le_bytes(a.try_into().unwrap_or_default());
            let b = u64::from_le_bytes(b.try_into().unwrap_or_default());
            s = fold(s ^ a ^ k0, b ^ k1);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 16];
            buf[..rest.len()].copy_from_slice(rest);
            let a = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
            let b = u64::from_le_bytes(buf[8..].try_into().unwrap_or_default());
            s = fold(s ^ a ^ k0, b ^ k1);
        }
        self.state = s;
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.state = fold(self.state ^ i ^ self.keys[1], self.keys[2] ^ 0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.state ^ self.keys[2], self.keys[3])
    }
}

/// Builds [`FoldHasher`]s, for hash sets and maps.
#[derive(Clone, Copy, Default)]
pub struct BuildFold;

impl BuildHasher for BuildFold {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher::default()
    }
}

/// A hash set over [`FoldHasher`].
pub type FastSet<T> = std::collections::HashSet<T, BuildFold>;

/// The hash of one byte string.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FoldHasher::default();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_agree_and_near_inputs_differ() {
        assert_eq!(hash_bytes(b"password"), hash_bytes(b"password"));
        let mut seen = std::collections::HashSet::new();
        // Lengths around the 16-byte chunking, trailing zero bytes, one-bit changes.
        for len in 0..40usize {
            let mut v = vec![0u8; len];
            assert!(seen.insert(hash_bytes(&v)), "zeros of length {len}");
            for bit in 0..(len * 8).min(64) {
                v[bit / 8] ^= 1 << (bit % 8);
                assert!(seen.insert(hash_bytes(&v)), "length {len} bit {bit}");
                v[bit / 8] ^= 1 << (bit % 8);
            }
        }
        // Field boundaries: ("ab", "c") and ("a", "bc") differ.
        let two = |x: &[u8], y: &[u8]| {
            let mut h = FoldHasher::default();
            h.write(x);
            h.write(y);
            h.finish()
        };
        assert_ne!(two(b"ab", b"c"), two(b"a", b"bc"));
        assert_ne!(two(b"", b"x"), two(b"x", b""));
    }
}
