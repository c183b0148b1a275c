//! A keyless view of an encrypted file, for `git diff` without the key: every ciphertext
//! (values, comments, the MAC, wrapped data keys) replaced by a short digest of itself, so a
//! diff shows which values changed without pages of base64; and the unified diff
//! `tresor diff` prints.

use sha2::{Digest, Sha256};

const ENC: &str = "ENC[AES256_GCM,";
const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const ARMOR_END: &str = "-----END AGE ENCRYPTED FILE-----";

fn digest(s: &str) -> String {
    let h = Sha256::digest(s.as_bytes());
    h.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `src` with each `ENC[…]` token written as `ENC[sha256:<12 hex>,type:<type>]` and each
/// age-armored data key as `<age-wrapped key sha256:<12 hex>>`. Everything else, clear
/// values and structure included, is kept as it is. Ciphertext is public; no key is used.
pub fn keyless(src: &str) -> String {
    let mut out = String::with_capacity(src.len() / 2);
    let mut rest = src;
    loop {
        let next_enc = rest.find(ENC);
        let next_armor = rest.find(ARMOR_BEGIN);
        let (at, armor) = match (next_enc, next_armor) {
            (None, None) => break,
            (Some(e), Some(a)) if a < e => (a, true),
            (Some(e), _) => (e, false),
            (None, Some(a)) => (a, true),
        };
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if armor {
            match tail.find(ARMOR_END) {
                Some(end) => {
                    let block = &tail[..end + ARMOR_END.len()];
                    out.push_str(&format!("<age-wrapped key sha256:{}>", digest(block)));
                    rest = &tail[end + ARMOR_END.len()..];
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            }
        } else {
            match tail.find(']') {
                Some(end) => {
                    let token = &tail[..=end];
                    let ty = token.rsplit_once(",type:").map_or("?", |(_, t)| t.trim_end_matches(']'));
                    out.push_str(&format!("ENC[sha256:{},type:{ty}]", digest(token)));
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// A unified diff of two texts (empty when they are equal), with `a/NAME` and `b/NAME`
/// headers as `git diff` writes them.
pub fn unified_diff(a_name: &str, a: &str, b_name: &str, b: &str) -> String {
    if a == b {
        return String::new();
    }
    let mut opts = diffy::DiffOptions::new();
    opts.set_original_filename(format!("a/{a_name}")).set_modified_filename(format!("b/{b_name}"));
    opts.create_patch(a, b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_becomes_a_digest_and_the_rest_stays() {
        let a = "a: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]\nb: clear\nenc: |\n    -----BEGIN AGE ENCRYPTED FILE-----\n    xyz\n    -----END AGE ENCRYPTED FILE-----\n";
        let k = keyless(a);
        assert!(k.starts_with("a: ENC[sha256:") && k.contains(",type:str]\nb: clear\n"), "{k}");
        assert!(k.contains("enc: |\n    <age-wrapped key sha256:") && !k.contains("xyz"), "{k}");
        // A changed ciphertext changes its digest; the same one keeps it.
        let b = a.replace("AAAA", "AAAB");
        assert_ne!(keyless(&b), k);
        assert_eq!(keyless(a), k);
        // Truncated input is kept, not lost.
        assert_eq!(keyless("x: ENC[AES256_GCM,data:"), "x: ENC[AES256_GCM,data:");
    }
}
