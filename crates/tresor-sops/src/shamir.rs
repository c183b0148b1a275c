//! Shamir secret sharing over GF(2^8), byte-compatible with sops (HashiCorp Vault's
//! scheme): each share is the 32 y-bytes followed by its x coordinate; sops uses x = i+1.

use zeroize::Zeroizing;

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b; // x^8 + x^4 + x^3 + x + 1
        }
        b >>= 1;
    }
    p
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 != 0 {
            r = gf_mul(r, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    r
}

fn gf_div(a: u8, b: u8) -> u8 {
    gf_mul(a, gf_inv(b))
}

/// Why shares cannot be made or combined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShamirError {
    /// A threshold outside 2..=parts (and 255).
    #[error("threshold must be between 2 and 255 and not above the number of parts")]
    BadThreshold,
    /// Fewer than two shares.
    #[error("need at least 2 shares")]
    TooFewShares,
    /// Shares of different lengths.
    #[error("shares have different lengths")]
    LengthMismatch,
    /// The same share twice.
    #[error("duplicate share")]
    Duplicate,
}

/// Split `secret` into `parts` shares, any `threshold` of which rebuild it.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if threshold < 2 || threshold > parts || parts > 255 {
        return Err(ShamirError::BadThreshold);
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> =
        (0..parts).map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1))).collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold - 1]);
    for &byte in secret {
        getrandom::getrandom(&mut coeffs).expect("OS random number generator");
        for (i, share) in shares.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            // Horner: byte + c1 x + c2 x^2 ...
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = gf_mul(y, x) ^ c;
            }
            y = gf_mul(y, x) ^ byte;
            share.push(y);
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Rebuild the secret from shares by Lagrange interpolation at x = 0.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares);
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::LengthMismatch);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for i in 0..xs.len() {
        if xs[i + 1..].contains(&xs[i]) {
            return Err(ShamirError::Duplicate);
        }
    }
    let mut out = Zeroizing::new(vec![0u8; len - 1]);
    for (pos, o) in out.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, s) in shares.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = gf_mul(basis, gf_div(xj, xs[i] ^ xj));
                }
            }
            acc ^= gf_mul(s[pos], basis);
        }
        *o = acc;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_rebuilds_the_secret() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 3, 2).unwrap();
        assert!(shares.iter().all(|s| s.len() == 33));
        assert_eq!(shares[2][32], 3);
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            assert_eq!(&combine(&[&shares[a], &shares[b]]).unwrap()[..], &secret[..]);
        }
        let one = combine(&[&shares[0], &shares[0]]);
        assert_eq!(one.unwrap_err(), ShamirError::Duplicate);
    }
}
