use serde::{Deserialize, Serialize};

/// How sure a finding is that it is a live secret. Text output and the hooks show medium and
/// high by default (`--confidence low` shows all); JSON and SARIF carry the tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A generic assignment in code, or a provider-shaped token whose checksum fails (a
    /// truncated or hand-edited token is still worth a look, not a blocked commit).
    Low,
    /// Provider-specific by context, without a checksum or a unique structure; a generic
    /// assignment in a configuration file.
    #[default]
    Medium,
    /// A provider prefix with a verified checksum or a structure nothing else has (PEM and
    /// age private keys, `AKIA…`), or a file `.sops.yaml` says must be encrypted, in clear.
    High,
}

impl Confidence {
    /// Every tier, lowest first (help text, parsing, docs).
    pub const ALL: [Confidence; 3] = [Confidence::Low, Confidence::Medium, Confidence::High];

    /// Its name in rule files, flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    /// The tier named `s` (`low`, `medium`, `high`).
    pub fn parse(s: &str) -> Option<Confidence> {
        Confidence::ALL.into_iter().find(|c| c.name() == s)
    }

    /// One tier up (high stays high).
    pub fn raised(self) -> Confidence {
        match self {
            Confidence::Low => Confidence::Medium,
            _ => Confidence::High,
        }
    }
}

impl std::fmt::Display for Confidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One detected secret (or unsafe construct).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// The rule that matched (or the analyzer's check).
    #[serde(rename = "RuleID")]
    pub rule_id: String,
    /// What the rule finds.
    #[serde(rename = "Description")]
    pub description: String,
    /// The file (`layer:path` in images).
    #[serde(rename = "File")]
    pub file: String,
    /// 1-based line of the secret.
    #[serde(rename = "StartLine")]
    pub line: usize,
    /// 1-based column of the secret.
    #[serde(rename = "StartColumn")]
    pub column: usize,
    /// The secret, redacted for output (first 4 characters kept when long enough).
    #[serde(rename = "Secret")]
    pub redacted: String,
    /// Shannon entropy of the secret, bits per byte.
    #[serde(rename = "Entropy")]
    pub entropy: f64,
    /// The commit that first wrote it (history scans).
    #[serde(rename = "Commit", default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
    /// That commit's author.
    #[serde(rename = "Author", default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// That commit's date.
    #[serde(rename = "Date", default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// The repository, when one run scans several (`scan --repos`), as the list names it.
    #[serde(rename = "Repository", default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    /// How to fix it, where the analyzer knows (Dockerfiles, Helm values).
    #[serde(rename = "Fix", default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
    /// `[commit:]file:rule:line`, as gitleaks computes it (for ignore files).
    #[serde(rename = "Fingerprint")]
    pub fingerprint: String,
    /// SHA-256 of the secret, so a baseline can match a moved secret without storing it.
    #[serde(rename = "SecretHash")]
    pub secret_hash: String,
    /// gitleaks' tags; tresor adds `vendored` for findings in vendored or generated trees and
    /// `checksum-mismatch` for a provider token whose checksum fails.
    #[serde(rename = "Tags", default)]
    pub tags: Vec<String>,
    /// How sure the finding is (reports written before tiers existed read as medium).
    #[serde(rename = "Confidence", default)]
    pub confidence: Confidence,
    /// Where the secret sits in the scanned content (bytes); not part of any report.
    #[serde(skip)]
    pub span: std::ops::Range<usize>,
}

impl Finding {
    /// Recompute the fingerprint from commit, file, rule and line.
    pub fn refresh_fingerprint(&mut self) {
        self.fingerprint = if self.commit.is_empty() {
            format!("{}:{}:{}", self.file, self.rule_id, self.line)
        } else {
            format!("{}:{}:{}:{}", self.commit, self.file, self.rule_id, self.line)
        };
    }
}

/// Hide all but a short prefix of a secret.
pub fn redact(secret: &str) -> String {
    let n = secret.chars().count();
    if n <= 8 {
        return "*".repeat(n.max(4));
    }
    let keep: String = secret.chars().take(4).collect();
    format!("{keep}{}", "*".repeat((n - 4).min(20)))
}

/// [`secret_hash`] of no secret: what a path-only rule's finding (the file itself) carries.
pub const NO_SECRET_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// SHA-256 of a secret, hex (what baselines and Betterleaks' ignore files hold).
pub fn secret_hash(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(secret);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Shannon entropy in bits per byte.
pub fn shannon(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

impl Finding {
    /// A finding from an analyzer (not a regex rule).
    pub fn new(
        rule_id: &str,
        description: &str,
        file: &str,
        line: usize,
        column: usize,
        secret: &str,
        fix: &str,
    ) -> Finding {
        let mut f = Finding {
            rule_id: rule_id.into(),
            description: description.into(),
            file: file.into(),
            line,
            column,
            redacted: redact(secret),
            entropy: (shannon(secret.as_bytes()) * 1000.0).round() / 1000.0,
            commit: String::new(),
            author: String::new(),
            date: String::new(),
            repository: String::new(),
            fix: fix.into(),
            fingerprint: String::new(),
            secret_hash: secret_hash(secret.as_bytes()),
            tags: Vec::new(),
            confidence: Confidence::Medium,
            span: 0..0,
        };
        f.refresh_fingerprint();
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_hash_is_the_hash_of_nothing() {
        assert_eq!(secret_hash(b""), NO_SECRET_HASH);
    }
}
