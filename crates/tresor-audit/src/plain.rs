//! Plaintext an audit opens with the keys at hand (`--with-keys`, `--copies`) is held no
//! longer than it takes to compare it: each leaf becomes a tag — HMAC-SHA-256 under a key
//! drawn for this run, never stored or printed, so equal plaintexts give equal tags and
//! nothing else can be learned from them — and the opened document is wiped string by
//! string before it is dropped.

use std::collections::HashMap;

use ring::hmac;
use serde_json::Value as J;
use zeroize::{Zeroize, Zeroizing};

use crate::value_age::visit_leaves;

/// A leaf's tag and its length in bytes (short values are counted, not compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    mac: [u8; 32],
    /// The value's length in bytes, as compared.
    pub len: usize,
}

/// Tags leaves under one key for the whole run.
pub struct Tagger {
    key: hmac::Key,
}

impl Default for Tagger {
    fn default() -> Self {
        Tagger::new()
    }
}

impl Tagger {
    /// A tagger with a fresh random key.
    pub fn new() -> Tagger {
        let rng = ring::rand::SystemRandom::new();
        Tagger { key: hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("OS random number generator") }
    }

    /// The tag of one value: a string's text, any other scalar's JSON spelling.
    pub fn tag(&self, v: &J) -> Tag {
        let bytes = Zeroizing::new(match v {
            J::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        });
        let mut mac = [0u8; 32];
        mac.copy_from_slice(hmac::sign(&self.key, &bytes).as_ref());
        Tag { mac, len: bytes.len() }
    }

    /// The leaves of an opened document as tags by path (as `value_age::leaves` names
    /// them); the document is wiped.
    pub fn tags(&self, doc: J) -> HashMap<String, Tag> {
        let mut out = HashMap::new();
        visit_leaves(&doc, &mut |path, leaf| {
            out.insert(path, self.tag(leaf));
        });
        wipe(doc);
        out
    }
}

/// Overwrite every string of a document (keys are paths, not secrets) before it is dropped.
pub fn wipe(mut v: J) {
    match &mut v {
        J::String(s) => s.zeroize(),
        J::Array(a) => a.drain(..).for_each(wipe),
        J::Object(m) => std::mem::take(m).into_iter().for_each(|(_, x)| wipe(x)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_give_equal_tags_and_paths_match_the_leaves() {
        let t = Tagger::new();
        let a = t.tags(serde_json::json!({"db": {"password": "hunter22"}, "n": 5, "l": ["x", "hunter22"]}));
        let b = t.tags(serde_json::json!({"db": {"password": "hunter22"}, "n": 6, "l": ["y", "hunter23"]}));
        assert_eq!(a.len(), 4);
        assert_eq!(a["[\"db\"][\"password\"]"], b["[\"db\"][\"password\"]"]);
        assert_eq!(a["[\"db\"][\"password\"]"], a["[\"l\"][1]"], "the same value anywhere");
        assert_ne!(a["[\"n\"]"], b["[\"n\"]"]);
        assert_ne!(a["[\"l\"][1]"], b["[\"l\"][1]"]);
        assert_eq!(a["[\"db\"][\"password\"]"].len, 8);
        // Another run's key: the same value, another tag (tags cannot be matched across runs).
        let other = Tagger::new().tags(serde_json::json!({"db": {"password": "hunter22"}}));
        assert_ne!(other["[\"db\"][\"password\"]"], a["[\"db\"][\"password\"]"]);
    }
}
