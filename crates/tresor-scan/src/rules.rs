//! Rules in gitleaks' TOML format (ours are in rules/default.toml).

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::finding::Confidence;

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Not valid TOML, or not gitleaks' shape.
    #[error("rule file: {0}")]
    Toml(String),
    /// A regex that does not compile.
    #[error("rule {id}: invalid regex: {why}")]
    Regex {
        /// The rule (or `global allowlist`).
        id: String,
        /// The regex engine's message.
        why: String,
    },
    /// Something tresor does not evaluate (a Betterleaks expression, an unknown checksum).
    #[error("rule {id}: {why}")]
    Unsupported {
        /// The rule (or `global`).
        id: String,
        /// What, and what to write instead.
        why: String,
    },
}

#[derive(Deserialize, Default)]
struct RawAllowlist {
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default, rename = "regexTarget")]
    regex_target: Option<String>,
    /// tresor: report matches at this confidence instead of dropping them.
    confidence: Option<String>,
}

#[derive(Deserialize)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    regex: Option<String>,
    #[serde(default, rename = "secretGroup")]
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    path: Option<String>,
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
    /// Samples the rule must find (tresor's rule files keep them next to the rule, as
    /// gitleaks keeps `tps` in its generator).
    #[serde(default)]
    tps: Vec<String>,
    /// Look-alikes the rule must not find.
    #[serde(default)]
    fps: Vec<String>,
    /// A checksum the provider builds into its tokens (`crc32-base62`: GitHub, npm).
    checksum: Option<String>,
    /// `low`, `medium` or `high` (Betterleaks' label; a rule without one is medium).
    confidence: Option<String>,
    /// Where the rule's findings are one tier more certain (the generic rule in
    /// configuration files, where an assignment is data, not code).
    raise: Option<RawRaise>,
    /// Betterleaks' filter expression: not evaluated by tresor, so refused.
    filter: Option<toml::Value>,
    /// gitleaks' rule tags: informational.
    #[allow(dead_code)]
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRaise {
    /// A named set: `"configuration-files"` ([`CONFIGURATION_FILES`]).
    Named(String),
    /// Paths of its own.
    Paths {
        /// Paths where findings are raised one tier.
        paths: String,
        /// …except these (tests, fixtures, examples, documentation).
        #[serde(default, rename = "exceptPaths")]
        except_paths: Option<String>,
    },
}

/// `raise = "configuration-files"`: files where an assignment is data someone deploys
/// (`.env`, YAML, JSON, TOML, INI, properties, Terraform variables, XML configuration,
/// `.npmrc`, `.netrc`…) or keeps (plain-text notes, `.txt`: where people paste a key they
/// were sent), except under tests, fixtures, examples and documentation. One definition for
/// every rule that reads assignments.
pub const CONFIGURATION_FILES: (&str, &str) = (
    r"(?i)(?:(?:^|/)(?:\.env(?:\.[\w.-]+)?|[\w.-]+\.env|\.npmrc|\.pypirc|\.netrc|\.git-credentials|\.htpasswd|credentials)|\.(?:ya?ml|json|toml|ini|cfg|conf|properties|tfvars|hcl|xml|config|plist|env|txt))$",
    r"(?i)(?:^|/)(?:tests?|testing|testdata|test_data|fixtures?|spec|specs|examples?|samples?|docs?|documentation|demos?|mocks?|__tests__|__mocks__|__fixtures__)/|[._-](?:tests?|spec|examples?|samples?|fixtures?|mock)\.[\w.]+$",
);

#[derive(Deserialize, Default)]
struct RawExtend {
    #[serde(default, rename = "useDefault")]
    use_default: bool,
    #[serde(default, rename = "disabledRules")]
    disabled_rules: Vec<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    rules: Vec<RawRule>,
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
    extend: Option<RawExtend>,
    /// Betterleaks' global expressions: not evaluated by tresor, so refused.
    prefilter: Option<toml::Value>,
    filter: Option<toml::Value>,
}

/// What an allowlist regex is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The secret (the rule's secret group), the default.
    Secret,
    /// The whole regex match.
    Match,
    /// The line holding the match.
    Line,
}

/// A gitleaks allowlist: matches here are not reported.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    /// Regexes matched against `target`.
    pub regexes: Vec<Regex>,
    /// Paths it covers entirely.
    pub paths: Vec<regex::Regex>,
    /// Lowercase words that, inside the secret, make it a placeholder.
    pub stopwords: Vec<String>,
    /// What `regexes` are matched against (the secret when unset).
    pub target: Option<Target>,
    /// Set: a match is reported at this confidence instead of dropped (a value that is
    /// probably an example, but that someone may still want to see with `--confidence low`).
    pub demote_to: Option<Confidence>,
}

impl Allowlist {
    /// Does one of its path regexes match `path`? (A demoting allowlist has none.)
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|p| p.is_match(path))
    }

    /// Does it match this finding by stopword or regex?
    pub fn matches(&self, secret: &[u8], whole: &[u8], line: &[u8]) -> bool {
        // Lowercased only when there are stopwords: most allowlists have none, and this
        // runs for every match of every rule.
        let stopword = || {
            let lower = String::from_utf8_lossy(secret).to_ascii_lowercase();
            self.stopwords.iter().any(|w| lower.contains(w.as_str()))
        };
        (!self.stopwords.is_empty() && stopword())
            || self.regexes.iter().any(|r| {
                r.is_match(match self.target {
                    Some(Target::Match) => whole,
                    Some(Target::Line) => line,
                    _ => secret,
                })
            })
    }
}

/// One detection rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its id (reports, ignore files, `[extend] disabledRules`).
    pub id: String,
    /// What it finds.
    pub description: String,
    /// The pattern as written; `None` for a path-only rule.
    pub pattern: Option<String>,
    /// The compiled pattern, built on first use: a scan of a few staged lines needs the
    /// handful of rules its keywords select, not all of them (compiling every built-in
    /// rule took 40 ms).
    compiled: std::sync::OnceLock<Option<Regex>>,
    /// The capture group holding the secret (0: the first non-empty group, else the match).
    pub secret_group: usize,
    /// Minimum Shannon entropy of the secret.
    pub entropy: Option<f64>,
    /// Lowercased.
    pub keywords: Vec<String>,
    /// Only files whose path matches (alone: the file is the finding).
    pub path: Option<regex::Regex>,
    /// Its allowlists.
    pub allowlists: Vec<Allowlist>,
    /// The regex can match across more than one line of context, so a scan of changed
    /// lines alone could miss it (see `Engine::scan_changed`).
    pub multiline: bool,
    /// A checksum every real token carries; a match whose checksum fails is not reported.
    pub checksum: Option<Checksum>,
    /// Lines the rule must find (checked by the rule tests).
    pub tps: Vec<String>,
    /// Lines the rule must not find.
    pub fps: Vec<String>,
    /// How sure its findings are.
    pub confidence: Confidence,
    /// Where they are one tier more certain.
    pub raise: Option<Raise>,
}

/// Paths where a rule's findings are raised one confidence tier.
#[derive(Clone, Debug)]
pub struct Raise {
    /// Raised here…
    pub paths: regex::Regex,
    /// …unless here.
    pub except_paths: Option<regex::Regex>,
}

impl Rule {
    /// The confidence of this rule's finding in `path`.
    pub fn confidence_in(&self, path: &str) -> Confidence {
        match &self.raise {
            Some(r) if r.paths.is_match(path) && !r.except_paths.as_ref().is_some_and(|x| x.is_match(path)) => {
                self.confidence.raised()
            }
            _ => self.confidence,
        }
    }
}

/// Checksums providers build into their tokens, which make a match certain without
/// an entropy guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// GitHub's and npm's: the last 6 characters are the CRC-32 of the random part (after
    /// the `prefix_`), in base 62 (`0-9A-Za-z`), zero-padded.
    Crc32Base62,
}

impl Checksum {
    fn parse(id: &str, name: &str) -> Result<Checksum, RulesError> {
        match name {
            "crc32-base62" => Ok(Checksum::Crc32Base62),
            other => Err(RulesError::Unsupported {
                id: id.into(),
                why: format!("unknown checksum '{other}' (known: crc32-base62)"),
            }),
        }
    }

    /// Does `token` carry a valid checksum?
    pub fn verify(self, token: &[u8]) -> bool {
        match self {
            Checksum::Crc32Base62 => {
                let Some(us) = token.iter().position(|&b| b == b'_') else { return false };
                let body = &token[us + 1..];
                if body.len() <= 6 {
                    return false;
                }
                let (random, sum) = body.split_at(body.len() - 6);
                let mut value: u64 = 0;
                for &c in sum {
                    let digit = match c {
                        b'0'..=b'9' => c - b'0',
                        b'A'..=b'Z' => c - b'A' + 10,
                        b'a'..=b'z' => c - b'a' + 36,
                        _ => return false,
                    };
                    value = value * 62 + u64::from(digit);
                }
                value == u64::from(crc32(random))
            }
        }
    }
}

/// CRC-32 (IEEE 802.3, as zlib), bitwise: tokens are short.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

impl Rule {
    /// The compiled regex (`None` for a path-only rule). Rules read from a user's file were
    /// compiled when loaded, so an invalid one is an error there, not a silent no-match.
    pub fn regex(&self) -> Option<&Regex> {
        let pattern = self.pattern.as_deref()?;
        self.compiled.get_or_init(|| build(&self.id, pattern).ok()).as_ref()
    }

    /// Is this a path-only rule (the file itself is the finding)?
    pub fn is_path_only(&self) -> bool {
        self.pattern.is_none()
    }
}

/// Can this pattern span lines? `(?s)`, `[\s\S]` and explicit newlines can.
fn spans_lines(pattern: &str) -> bool {
    pattern.contains("(?s") || pattern.contains("[\\s\\S]") || pattern.contains("\\n") || pattern.contains("\\r")
}

/// A set of rules and global allowlists.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Allowlists for every rule.
    pub allowlists: Vec<Allowlist>,
}

/// tresor's rule file, built in.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// Go RE2's `\w`, `\d`, `\b` are ASCII; so are ours with Unicode off, which also makes
/// the regexes an order of magnitude cheaper to build and run.
fn build(id: &str, pattern: &str) -> Result<Regex, RulesError> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(50 << 20)
        .build()
        .map_err(|e| RulesError::Regex { id: id.into(), why: e.to_string() })
}

/// A `confidence` value of a rule file (`what`: where it stood, for the message).
fn parse_confidence(id: &str, what: &str, text: Option<&str>) -> Result<Option<Confidence>, RulesError> {
    text.map(|c| {
        Confidence::parse(&c.to_ascii_lowercase()).ok_or_else(|| RulesError::Unsupported {
            id: id.into(),
            why: format!("{what}unknown confidence '{c}' (known: low, medium, high)"),
        })
    })
    .transpose()
}

/// The compiled `raise = "configuration-files"` set, built once for every rule naming it.
fn configuration_files() -> Raise {
    static SET: std::sync::OnceLock<Raise> = std::sync::OnceLock::new();
    SET.get_or_init(|| Raise {
        paths: regex::Regex::new(CONFIGURATION_FILES.0).expect("a valid built-in regex"),
        except_paths: Some(regex::Regex::new(CONFIGURATION_FILES.1).expect("a valid built-in regex")),
    })
    .clone()
}

fn build_allowlist(id: &str, raw: RawAllowlist) -> Result<Allowlist, RulesError> {
    let demote_to = parse_confidence(id, "allowlist: ", raw.confidence.as_deref())?;
    if demote_to.is_some() && !raw.paths.is_empty() {
        return Err(RulesError::Unsupported {
            id: id.into(),
            why: "an allowlist that sets `confidence` lowers findings by their value; give paths to an allowlist of their own".into(),
        });
    }
    Ok(Allowlist {
        demote_to,
        regexes: raw.regexes.iter().map(|r| build(id, r)).collect::<Result<_, _>>()?,
        paths: raw
            .paths
            .iter()
            .map(|p| regex::Regex::new(p).map_err(|e| RulesError::Regex { id: id.into(), why: e.to_string() }))
            .collect::<Result<_, _>>()?,
        stopwords: raw.stopwords.iter().map(|s| s.to_ascii_lowercase()).collect(),
        target: match raw.regex_target.as_deref() {
            Some("match") => Some(Target::Match),
            Some("line") => Some(Target::Line),
            _ => None,
        },
    })
}

impl RuleSet {
    /// tresor's rules.
    pub fn default_rules() -> RuleSet {
        // Compiled on first use; the rule tests compile every one of them.
        RuleSet::parse(DEFAULT_RULES, false).expect("built-in rules are valid")
    }

    /// Parse gitleaks-format TOML. `[extend] useDefault = true` adds tresor's defaults.
    /// Every regex of the file is compiled now, so that a bad one is reported by name.
    pub fn from_toml(text: &str) -> Result<RuleSet, RulesError> {
        RuleSet::parse(text, true)
    }

    fn parse(text: &str, eager: bool) -> Result<RuleSet, RulesError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| RulesError::Toml(e.to_string()))?;
        if raw.prefilter.is_some() || raw.filter.is_some() {
            return Err(RulesError::Unsupported {
                id: "global".into(),
                why: "Betterleaks `prefilter`/`filter` expressions are not evaluated by tresor; express them as [[allowlists]] (paths, regexes, stopwords)".into(),
            });
        }
        let mut set = match &raw.extend {
            Some(e) if e.use_default => {
                let mut d = RuleSet::default_rules();
                d.rules.retain(|r| !e.disabled_rules.contains(&r.id));
                d
            }
            _ => RuleSet::default(),
        };
        for a in raw.allowlist.into_iter().chain(raw.allowlists) {
            set.allowlists.push(build_allowlist("global allowlist", a)?);
        }
        for r in raw.rules {
            if r.filter.is_some() {
                return Err(RulesError::Unsupported {
                    id: r.id,
                    why: "Betterleaks `filter` expressions are not evaluated by tresor; express it as [[rules.allowlists]] (regexes, stopwords, entropy)".into(),
                });
            }
            let compiled = std::sync::OnceLock::new();
            if eager {
                if let Some(p) = r.regex.as_deref() {
                    let _ = compiled.set(Some(build(&r.id, p)?));
                }
            }
            let path = r
                .path
                .as_deref()
                .map(|p| regex::Regex::new(p).map_err(|e| RulesError::Regex { id: r.id.clone(), why: e.to_string() }))
                .transpose()?;
            let checksum = r.checksum.as_deref().map(|c| Checksum::parse(&r.id, c)).transpose()?;
            let confidence = parse_confidence(&r.id, "", r.confidence.as_deref())?.unwrap_or(Confidence::Medium);
            let path_regex =
                |p: &str| regex::Regex::new(p).map_err(|e| RulesError::Regex { id: r.id.clone(), why: e.to_string() });
            let raise = match &r.raise {
                None => None,
                Some(RawRaise::Named(name)) if name == "configuration-files" => Some(configuration_files()),
                Some(RawRaise::Named(other)) => {
                    return Err(RulesError::Unsupported {
                        id: r.id.clone(),
                        why: format!("unknown raise set '{other}' (known: configuration-files)"),
                    })
                }
                Some(RawRaise::Paths { paths, except_paths }) => Some(Raise {
                    paths: path_regex(paths)?,
                    except_paths: except_paths.as_deref().map(path_regex).transpose()?,
                }),
            };
            let mut allowlists = Vec::new();
            for a in r.allowlist.into_iter().chain(r.allowlists) {
                allowlists.push(build_allowlist(&r.id, a)?);
            }
            let rule = Rule {
                multiline: r.regex.as_deref().is_some_and(spans_lines),
                secret_group: r.secret_group.unwrap_or(0),
                keywords: r.keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
                id: r.id,
                description: r.description,
                pattern: r.regex.clone(),
                compiled,
                entropy: r.entropy,
                path,
                allowlists,
                checksum,
                tps: r.tps,
                fps: r.fps,
                confidence,
                raise,
            };
            // A rule with the same id as a default replaces it (gitleaks' extend semantics).
            set.rules.retain(|x| x.id != rule.id);
            set.rules.push(rule);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod samples {
    //! Every default rule carries its own samples (`tps`, `fps`) next to it in
    //! `rules/default.toml`; these tests hold each rule to them through the whole engine
    //! (keywords, allowlists, entropy, checksums), as a user's scan runs it.

    use super::*;
    use crate::engine::Engine;

    /// Path-only rules take file names as samples; the others take lines of text. Found
    /// means found at the rule's own confidence: a look-alike may still be reported one
    /// tier lower (a GitHub token whose checksum fails is a low finding, not a miss).
    fn found(engine: &Engine, rule: &Rule, sample: &str) -> bool {
        let findings = if rule.is_path_only() {
            engine.scan(sample, b"\x00binary")
        } else {
            engine.scan("samples/config.txt", sample.as_bytes())
        };
        findings.iter().any(|f| f.rule_id == rule.id && f.confidence >= rule.confidence)
    }

    #[test]
    fn every_default_rule_declares_its_confidence() {
        let raw: toml::Value = toml::from_str(DEFAULT_RULES).unwrap();
        let missing: Vec<&str> = raw["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("confidence").and_then(|c| c.as_str()).and_then(Confidence::parse).is_none())
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(missing.is_empty(), "rules without `confidence = \"low|medium|high\"`: {missing:?}");
    }

    #[test]
    fn a_token_whose_checksum_fails_is_a_low_finding_tagged_so() {
        let engine = Engine::new(RuleSet::default_rules());
        let f = engine.scan("a.env", b"GITHUB_TOKEN=ghp_fDBG3pyh6MAXcM9QeFhX8Bj0MkXJ1bAAAAAA\n");
        let gh = f.iter().find(|f| f.rule_id == "github-token").expect("still reported");
        assert_eq!(gh.confidence, Confidence::Low);
        assert!(gh.tags.iter().any(|t| t == crate::engine::CHECKSUM_MISMATCH));
        let f = engine.scan("a.env", b"GITHUB_TOKEN=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\n"); // gitleaks:allow (test sample)
        assert_eq!(f.iter().find(|f| f.rule_id == "github-token").map(|f| f.confidence), Some(Confidence::High));
    }

    #[test]
    fn placeholder_like_values_are_low_findings_not_misses() {
        use crate::engine::looks_degenerate;
        let fakes: [&[u8]; 10] = [
            b"glc_111111111111111111111111111111111111111111=",
            b"sb_secret_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"sk_live_abcdefghijklmnopqrstuvwxyz123456",
            b"GR134894112312312312312312312",
            b"AIK_SECRET_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",
            b"vtwn_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEf",
            b"rpa_ABC123DEF456GHI789JKL012MNO345PQR678STUVX9y2z7",
            b"1a2b3c4d5e6f7g8h9i0j1a2b3c4d5e6f7g8h9i0j",
            b"xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere",
            b"sk_test_your_stripe_secret_key",
        ];
        for fake in fakes {
            assert!(looks_degenerate(fake), "{}", String::from_utf8_lossy(fake));
        }
        // Real shapes: random bodies, and structure that repeats a little (Twitter's bearer
        // tokens start with 21 `A`s of ~110 characters).
        let real: [&[u8]; 6] = [
            b"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", // gitleaks:allow (test sample)
            b"AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBChTYbJcE3F", // gitleaks:allow (test sample)
            b"WldBYdF0ZRPcgllrTWmN",
            b"abca",
            b"ddp_A7h3Lm9Qw2Rt6Yu8Ks4Vz1Np5Cx0Bd7EfGhJ",
            b"8b6f8d6594749cb659b1be03e6a0a2e7",
        ];
        for r in real {
            assert!(!looks_degenerate(r), "{}", String::from_utf8_lossy(r));
        }
        let engine = Engine::new(RuleSet::default_rules());
        let f = engine.scan("a.env", b"GRAFANA_TOKEN=glc_111111111111111111111111111111111111111111=\n");
        let g = f.iter().find(|f| f.rule_id == "grafana-cloud-token").expect("still reported");
        assert_eq!(g.confidence, Confidence::Low);
        assert_eq!(g.tags, vec![crate::engine::PLACEHOLDER_LIKE.to_string()]);
    }

    /// Random tokens of every alphabet providers use (hex, base62, base64, digits only,
    /// lowercase base36), 20,000 of each length from 16 to 64 from a fixed seed: none is
    /// taken for a placeholder.
    #[test]
    fn random_tokens_are_never_placeholder_like() {
        use crate::engine::looks_degenerate;
        let alphabets: [&[u8]; 5] = [
            b"0123456789abcdef",
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            b"0123456789",
            b"0123456789abcdefghijklmnopqrstuvwxyz",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut flagged = Vec::new();
        for alphabet in alphabets {
            for len in (16..=64).step_by(8) {
                for _ in 0..4_000 {
                    let t: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
                    if looks_degenerate(&t) {
                        flagged.push(String::from_utf8(t).unwrap());
                    }
                }
            }
        }
        assert!(
            flagged.is_empty(),
            "{} random tokens taken for placeholders: {:?}",
            flagged.len(),
            &flagged[..flagged.len().min(5)]
        );
    }

    #[test]
    fn an_allowlist_with_a_confidence_lowers_instead_of_dropping() {
        let rules = r#"
[[rules]]
id = "corp"
regex = '''CORP-[0-9A-Z]{8}'''
confidence = "high"
[[rules.allowlists]]
regexes = ['''^CORP-TEST''']
confidence = "low"
"#;
        let engine = Engine::new(RuleSet::from_toml(rules).unwrap());
        let tier = |text: &str| engine.scan("x", text.as_bytes()).first().map(|f| f.confidence);
        assert_eq!(tier("CORP-7QX2M9ZD"), Some(Confidence::High));
        assert_eq!(tier("CORP-TEST1234"), Some(Confidence::Low));
        let e = RuleSet::from_toml(&rules.replace("regexes = ['''^CORP-TEST''']", "paths = ['''x''']")).err().unwrap();
        assert!(e.to_string().contains("lowers findings by their value"), "{e}");
    }

    #[test]
    fn non_ascii_text_is_not_a_secret_but_does_not_hide_one() {
        let engine = Engine::new(RuleSet::default_rules());
        let generic = |text: &str| {
            engine.scan("app.yaml", text.as_bytes()).iter().any(|f| f.rule_id == "generic-password-assignment")
        };
        assert!(!generic("cli-secret-input-mismatch: 所輸內容不匹配\n"), "a translation is text");
        assert!(generic("token: \"\u{2028}Xr7Lq2Vm9Kp4Wt6Zc3Bn\"\n"), "a line separator before a token");
        assert!(generic("token: Xr7Lq2Vm9Kp4Wt6Zc3Bnää\n"));
    }

    #[test]
    fn generic_findings_are_medium_in_configuration_low_in_code_tests_and_examples() {
        let engine = Engine::new(RuleSet::default_rules());
        let tier = |path: &str, text: &str| {
            engine
                .scan(path, text.as_bytes())
                .iter()
                .find(|f| f.rule_id == "generic-password-assignment")
                .map(|f| f.confidence)
        };
        let yaml = "db_password: WldBYdF0ZRPcgllrTWmN\n";
        assert_eq!(tier("deploy/values.yaml", yaml), Some(Confidence::Medium));
        assert_eq!(tier(".env", "DB_PASSWORD=WldBYdF0ZRPcgllrTWmN\n"), Some(Confidence::Medium));
        assert_eq!(tier("config/app.properties", "db.password=WldBYdF0ZRPcgllrTWmN\n"), Some(Confidence::Medium));
        assert_eq!(tier("src/db.py", "db_password = \"WldBYdF0ZRPcgllrTWmN\"\n"), Some(Confidence::Low));
        assert_eq!(tier("tests/fixtures/values.yaml", yaml), Some(Confidence::Low));
        assert_eq!(
            tier("apis/kms.examples.json", "{\"db_password\": \"WldBYdF0ZRPcgllrTWmN\"}"),
            Some(Confidence::Low)
        );
    }

    #[test]
    fn every_default_rule_finds_its_samples_and_none_of_its_look_alikes() {
        let engine = Engine::new(RuleSet::default_rules());
        let mut failures = Vec::new();
        for rule in &engine.rules.rules {
            if rule.pattern.is_some() && rule.regex().is_none() {
                failures.push(format!("{}: the regex does not compile", rule.id));
            }
            if rule.tps.is_empty() || rule.fps.is_empty() {
                failures.push(format!("{}: needs at least one tps and one fps sample", rule.id));
            }
            for tp in rule.tps.iter().filter(|tp| !found(&engine, rule, tp)) {
                failures.push(format!("{}: misses {tp:?}", rule.id));
            }
            for fp in rule.fps.iter().filter(|fp| found(&engine, rule, fp)) {
                failures.push(format!("{}: flags {fp:?}", rule.id));
            }
        }
        assert!(failures.is_empty(), "{} rule sample failures:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn rules_reading_assignments_leave_provider_prefixed_values_to_their_providers() {
        // The generic and provider-named rules carry the same prefix allowlist: a value with a
        // provider's prefix is judged by that provider's rule (a truncated token is not
        // guessed at twice). Adding a provider means adding its prefix to both.
        let set = RuleSet::default_rules();
        let prefixes = |id: &str| -> Vec<String> {
            let rule = set.rules.iter().find(|r| r.id == id).unwrap();
            rule.allowlists
                .iter()
                .flat_map(|a| a.regexes.iter().map(|r| r.as_str().to_string()))
                .filter(|r| r.contains("github_pat_"))
                .collect()
        };
        let generic = prefixes("generic-password-assignment");
        assert_eq!(generic.len(), 1);
        assert_eq!(prefixes("provider-named-credential"), generic);
    }

    #[test]
    fn rule_ids_are_unique() {
        let set = RuleSet::from_toml(DEFAULT_RULES).unwrap();
        let mut ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn crc32_base62_checksums_accept_real_shapes_only() {
        // Built the way GitHub documents it: CRC-32 of the 30 random characters.
        let body = "NqVwYS81VP7Hb1DX8pPd5khxE3pyIg";
        let sum = crc32(body.as_bytes());
        let mut digits = Vec::new();
        let mut v = u64::from(sum);
        while v > 0 {
            digits.push(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(v % 62) as usize]);
            v /= 62;
        }
        while digits.len() < 6 {
            digits.push(b'0');
        }
        digits.reverse();
        let token = format!("ghp_{body}{}", String::from_utf8(digits).unwrap());
        assert_eq!(token, "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"); // gitleaks:allow (test sample)
        assert!(Checksum::Crc32Base62.verify(token.as_bytes()));
        assert!(!Checksum::Crc32Base62.verify(b"ghp_NqVwYS81VP7Hb1DX8pPd5khxE3pyIgAAAAAA"));
        assert!(!Checksum::Crc32Base62.verify(b"ghp_short"));
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn betterleaks_expressions_are_refused_by_name() {
        let e =
            RuleSet::from_toml("[[rules]]\nid = \"x\"\nregex = 'a'\nfilter = '''entropy(finding[\"secret\"]) < 3'''\n")
                .err()
                .unwrap();
        assert!(e.to_string().contains("rule x") && e.to_string().contains("filter"), "{e}");
        let e = RuleSet::from_toml("prefilter = 'true'\n").err().unwrap();
        assert!(e.to_string().contains("prefilter"), "{e}");
        let set = RuleSet::from_toml("[[rules]]\nid = \"x\"\nregex = 'a'\nconfidence = 'high'\n").unwrap();
        assert_eq!(set.rules[0].confidence, Confidence::High);
        let e = RuleSet::from_toml("[[rules]]\nid = \"x\"\nregex = 'a'\nconfidence = 'sure'\n").err().unwrap();
        assert!(e.to_string().contains("unknown confidence 'sure'"), "{e}");
    }
}
