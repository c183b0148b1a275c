//! Rules in gitleaks' TOML format (ours are in rules/default.toml).

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rule file: {0}")]
    Toml(String),
    #[error("rule {id}: invalid regex: {why}")]
    Regex { id: String, why: String },
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
}

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
}

/// What an allowlist regex is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Secret,
    Match,
    Line,
}

#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    pub regexes: Vec<Regex>,
    pub paths: Vec<regex::Regex>,
    pub stopwords: Vec<String>,
    pub target: Option<Target>,
}

impl Allowlist {
    /// Does one of its path regexes match `path`?
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|p| p.is_match(path))
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub regex: Option<Regex>,
    pub secret_group: usize,
    pub entropy: Option<f64>,
    /// Lowercased.
    pub keywords: Vec<String>,
    pub path: Option<regex::Regex>,
    pub allowlists: Vec<Allowlist>,
    /// The regex can match across more than one line of context, so a scan of changed
    /// lines alone could miss it (see `Engine::scan_changed`).
    pub multiline: bool,
}

/// Can this pattern span lines? `(?s)`, `[\s\S]` and explicit newlines can.
fn spans_lines(pattern: &str) -> bool {
    pattern.contains("(?s") || pattern.contains("[\\s\\S]") || pattern.contains("\\n") || pattern.contains("\\r")
}

#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub allowlists: Vec<Allowlist>,
}

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

fn build_allowlist(id: &str, raw: RawAllowlist) -> Result<Allowlist, RulesError> {
    Ok(Allowlist {
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
    pub fn default_rules() -> RuleSet {
        RuleSet::from_toml(DEFAULT_RULES).expect("built-in rules are valid")
    }

    /// Parse gitleaks-format TOML. `[extend] useDefault = true` adds tresor's defaults.
    pub fn from_toml(text: &str) -> Result<RuleSet, RulesError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| RulesError::Toml(e.to_string()))?;
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
            let regex = r.regex.as_deref().map(|p| build(&r.id, p)).transpose()?;
            let path = r
                .path
                .as_deref()
                .map(|p| regex::Regex::new(p).map_err(|e| RulesError::Regex { id: r.id.clone(), why: e.to_string() }))
                .transpose()?;
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
                regex,
                entropy: r.entropy,
                path,
                allowlists,
            };
            // A rule with the same id as a default replaces it (gitleaks' extend semantics).
            set.rules.retain(|x| x.id != rule.id);
            set.rules.push(rule);
        }
        Ok(set)
    }
}
