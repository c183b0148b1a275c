//! Keyword-gated regex detection over one fragment (a file or a blob).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::finding::{redact, secret_hash, shannon, Finding};
use crate::rules::{Allowlist, RuleSet, Target};

pub struct Engine {
    pub rules: RuleSet,
    keywords: Option<AhoCorasick>,
    /// keyword index → rules that list it
    keyword_rules: Vec<Vec<usize>>,
    /// rules without keywords run on every fragment
    always: Vec<usize>,
}

/// Markers that suppress a finding on their line (gitleaks' and ours).
pub const ALLOW_MARKERS: [&str; 2] = ["tresor:allow", "gitleaks:allow"];

fn line_bounds(content: &[u8], at: usize) -> (usize, usize) {
    let start = content[..at].iter().rposition(|&b| b == b'\n').map(|i| i + 1).unwrap_or(0);
    let end = content[at..].iter().position(|&b| b == b'\n').map(|i| at + i).unwrap_or(content.len());
    (start, end)
}

fn allowed(lists: &[Allowlist], path: &str, secret: &[u8], whole: &[u8], line: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(secret).to_ascii_lowercase();
    lists.iter().any(|a| {
        a.paths.iter().any(|p| p.is_match(path))
            || a.stopwords.iter().any(|w| lower.contains(w.as_str()))
            || a.regexes.iter().any(|r| {
                let target = match a.target {
                    Some(Target::Match) => whole,
                    Some(Target::Line) => line,
                    _ => secret,
                };
                r.is_match(target)
            })
    })
}

impl Engine {
    pub fn new(rules: RuleSet) -> Engine {
        let mut words: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.rules.iter().enumerate() {
            if r.keywords.is_empty() {
                always.push(i);
            }
            for k in &r.keywords {
                match words.iter().position(|w| w == k) {
                    Some(j) => keyword_rules[j].push(i),
                    None => {
                        words.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let keywords = (!words.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&words)
                .expect("keywords")
        });
        Engine { rules, keywords, keyword_rules, always }
    }

    /// Is this path excluded by a global allowlist?
    pub fn path_allowed(&self, path: &str) -> bool {
        self.rules.allowlists.iter().any(|a| a.paths.iter().any(|p| p.is_match(path)))
    }

    /// Scan one fragment. Binary content (a NUL in the first 8 KiB) is skipped.
    pub fn scan(&self, path: &str, content: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.path_allowed(path) || content[..content.len().min(8192)].contains(&0) {
            return out;
        }
        let mut active = vec![false; self.rules.rules.len()];
        for &i in &self.always {
            active[i] = true;
        }
        if let Some(ac) = &self.keywords {
            for m in ac.find_overlapping_iter(content) {
                for &i in &self.keyword_rules[m.pattern().as_usize()] {
                    active[i] = true;
                }
            }
        }
        let mut line_starts: Option<Vec<usize>> = None;
        for (i, rule) in self.rules.rules.iter().enumerate() {
            if !active[i] {
                continue;
            }
            if let Some(p) = &rule.path {
                if !p.is_match(path) {
                    continue;
                }
            }
            let Some(re) = &rule.regex else {
                // A path-only rule: the file itself is the finding.
                if rule.path.is_some() {
                    out.push(self.finding(rule.id.clone(), &rule.description, path, 1, 1, b"", 0.0));
                }
                continue;
            };
            for caps in re.captures_iter(content) {
                let whole = caps.get(0).expect("match");
                let group = if rule.secret_group > 0 {
                    caps.get(rule.secret_group)
                } else if caps.len() > 1 {
                    caps.iter().skip(1).flatten().next()
                } else {
                    None
                };
                let secret = group.unwrap_or(whole);
                let s = secret.as_bytes();
                if s.is_empty() {
                    continue;
                }
                let entropy = shannon(s);
                if rule.entropy.is_some_and(|min| entropy < min) {
                    continue;
                }
                let (ls, le) = line_bounds(content, whole.start());
                let line = &content[ls..le];
                if ALLOW_MARKERS.iter().any(|m| memfind(line, m.as_bytes())) {
                    continue;
                }
                if allowed(&rule.allowlists, path, s, whole.as_bytes(), line)
                    || allowed(&self.rules.allowlists, path, s, whole.as_bytes(), line)
                {
                    continue;
                }
                let starts = line_starts.get_or_insert_with(|| {
                    std::iter::once(0)
                        .chain(content.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1))
                        .collect()
                });
                let lno = starts.partition_point(|&st| st <= secret.start());
                let col = secret.start() - starts[lno - 1] + 1;
                out.push(self.finding(rule.id.clone(), &rule.description, path, lno, col, s, entropy));
            }
        }
        out.dedup_by(|a, b| a.rule_id == b.rule_id && a.line == b.line && a.secret_hash == b.secret_hash);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        rule_id: String,
        description: &str,
        path: &str,
        line: usize,
        column: usize,
        secret: &[u8],
        entropy: f64,
    ) -> Finding {
        let text = String::from_utf8_lossy(secret);
        let mut f = Finding {
            rule_id,
            description: description.to_string(),
            file: path.to_string(),
            line,
            column,
            redacted: redact(&text),
            entropy: (entropy * 1000.0).round() / 1000.0,
            commit: String::new(),
            author: String::new(),
            date: String::new(),
            fix: String::new(),
            fingerprint: String::new(),
            secret_hash: secret_hash(secret),
        };
        f.refresh_fingerprint();
        f
    }
}

pub(crate) fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
