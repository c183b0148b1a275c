//! The layout record: original spellings of values whose decrypted form we could not
//! otherwise reproduce byte for byte (`0x1F`, folded blocks, `1.0`, unusual quoting).
//!
//! It is stored encrypted under the data key in the metadata field `tresor_layout`
//! (sops ignores unknown fields), keyed by each value's GCM tag: if a value is changed by
//! another tool its tag changes, and the stale spelling is simply not used.

use std::collections::BTreeMap;

use crate::cipher::Cipher;

/// (block header or none, slot text)
pub type Spelling = (Option<String>, String);

/// tresor's record of original value spellings, keyed by value tag.
#[derive(Default)]
pub struct Layout(BTreeMap<String, Spelling>);

const AAD: &[u8] = b"sops:tresor_layout:";

impl Layout {
    /// Record a spelling.
    pub fn insert(&mut self, tag: String, spelling: Spelling) {
        self.0.insert(tag, spelling);
    }

    /// The spelling recorded for `tag`.
    pub fn get(&self, tag: &str) -> Option<&Spelling> {
        self.0.get(tag)
    }

    /// Nothing recorded?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encrypt the record, or `None` when every value renders naturally.
    pub fn seal(&self, cipher: &Cipher) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let json = serde_json::to_string(&self.0).expect("strings serialize");
        Some(cipher.encrypt(json.as_bytes(), AAD, "str", None))
    }

    /// Decrypt a record. A record that does not open is ignored: values then render in
    /// their natural style, which is still the same data.
    pub fn open(enc: &str, cipher: &Cipher) -> Layout {
        cipher
            .decrypt(enc, AAD)
            .ok()
            .and_then(|p| serde_json::from_slice(&p.bytes).ok())
            .map(Layout)
            .unwrap_or_default()
    }
}
