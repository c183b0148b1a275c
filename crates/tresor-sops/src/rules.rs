//! Which leaves get encrypted: sops' six mutually exclusive rules.

use regex::Regex;

use crate::error::SopsError;

/// Which values are encrypted (sops' `*_suffix`/`*_regex` options; one at most).
#[derive(Clone, Debug)]
pub enum Rule {
    /// Values under a key ending in this suffix stay clear (sops' default `_unencrypted`).
    UnencryptedSuffix(String),
    /// Only values under a key ending in this suffix are encrypted.
    EncryptedSuffix(String),
    /// Values under a key matching this stay clear.
    UnencryptedRegex(Regex),
    /// Only values under a key matching this are encrypted.
    EncryptedRegex(Regex),
    /// Values after a comment matching this stay clear.
    UnencryptedCommentRegex(Regex),
    /// Only values after a comment matching this are encrypted.
    EncryptedCommentRegex(Regex),
}

impl Default for Rule {
    /// sops' default when no rule is given.
    fn default() -> Rule {
        Rule::UnencryptedSuffix("_unencrypted".into())
    }
}

impl Rule {
    /// The metadata (and `.sops.yaml`) field names, in variant order.
    pub const FIELD_NAMES: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    /// The rule a metadata field names.
    pub fn from_field(name: &str, value: &str) -> Result<Rule, SopsError> {
        let re = || Regex::new(value).map_err(|e| SopsError::InvalidRule(format!("{name}: {e}")));
        Ok(match name {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value.into()),
            "encrypted_suffix" => Rule::EncryptedSuffix(value.into()),
            "unencrypted_regex" => Rule::UnencryptedRegex(re()?),
            "encrypted_regex" => Rule::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(re()?),
            other => return Err(SopsError::InvalidRule(format!("unknown rule {other}"))),
        })
    }

    /// The metadata field name and value for this rule.
    pub fn field(&self) -> (&'static str, String) {
        match self {
            Rule::UnencryptedSuffix(s) => ("unencrypted_suffix", s.clone()),
            Rule::EncryptedSuffix(s) => ("encrypted_suffix", s.clone()),
            Rule::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str().into()),
            Rule::EncryptedRegex(r) => ("encrypted_regex", r.as_str().into()),
            Rule::UnencryptedCommentRegex(r) => ("unencrypted_comment_regex", r.as_str().into()),
            Rule::EncryptedCommentRegex(r) => ("encrypted_comment_regex", r.as_str().into()),
        }
    }

    /// The comment regex, for the comment rules.
    pub fn comment_regex(&self) -> Option<&Regex> {
        match self {
            Rule::UnencryptedCommentRegex(r) | Rule::EncryptedCommentRegex(r) => Some(r),
            _ => None,
        }
    }

    /// Does this key, appearing on a leaf's path, decide encryption? Key rules apply to a
    /// whole subtree, so the walker tracks whether any key on the path matched.
    pub fn key_matches(&self, key: &str) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) | Rule::EncryptedSuffix(s) => key.ends_with(s.as_str()),
            Rule::UnencryptedRegex(r) | Rule::EncryptedRegex(r) => r.is_match(key),
            _ => false,
        }
    }

    /// Decide for a leaf, given whether a key on its path matched and whether a comment
    /// marker (comment rules) applies to it.
    pub fn encrypts(&self, key_matched: bool, comment_marked: bool) -> bool {
        match self {
            Rule::UnencryptedSuffix(_) | Rule::UnencryptedRegex(_) => !key_matched,
            Rule::EncryptedSuffix(_) | Rule::EncryptedRegex(_) => key_matched,
            Rule::UnencryptedCommentRegex(_) => !comment_marked,
            Rule::EncryptedCommentRegex(_) => comment_marked,
        }
    }
}
