//! The audit policy: from the `policy:` section of `.sops.yaml` (sops ignores unknown
//! top-level keys) or from `tresor.toml` (`[policy]`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::jurisdiction::{Jurisdiction, Jurisdictions};

/// What `tresor audit` checks, from `tresor.toml` `[policy]` or `.sops.yaml` `tresor_policy`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Jurisdictions a key may be under (`eu`, `holder`, `us`, `other`).
    #[serde(default)]
    pub allowed_jurisdictions: Option<Vec<String>>,
    /// Providers a key may come from (`age`, `openbao/vault`, `ovhcloud-kms`, `aws-kms`, …).
    #[serde(default)]
    pub allowed_providers: Option<Vec<String>>,
    /// Maximum age of the data key (days since `lastmodified`).
    #[serde(default)]
    pub max_data_key_age_days: Option<u64>,
    /// Minimum number of key groups (2+ means Shamir).
    #[serde(default)]
    pub min_key_groups: Option<usize>,
    /// Every file must record an owner/contact.
    #[serde(default)]
    pub require_owner: bool,
    /// Refuse files that keys outside the EU and the holder's control can decrypt on their
    /// own (default true: such a key defeats the EU keys in the same file).
    #[serde(default = "yes")]
    pub forbid_foreign_decrypt: bool,
    /// Require that sops/Flux can decrypt the file (no okms-only key groups).
    #[serde(default)]
    pub require_sops_compatible: bool,
    /// Maximum age of encrypted values (days since each last changed, from Git history), by
    /// file glob and path pattern; checked by `tresor audit --value-age`.
    #[serde(default)]
    pub max_value_age: Vec<ValueAgeRule>,
    /// Require that no classical wrap (age X25519, SSH, PGP, Azure RSA) can open a file on
    /// its own: harvest now, decrypt later.
    #[serde(default)]
    pub require_post_quantum: bool,
    /// Where self-hosted services run, by host (suffix match): `bao.corp.example: eu`, or
    /// `bao.corp.example: {jurisdiction: eu, note: "own data centre, Frankfurt (contract 42)"}`.
    /// The declaration is quoted in the report as the evidence for that jurisdiction.
    #[serde(default)]
    pub hosting: BTreeMap<String, Hosting>,
    /// The earlier name of `hosting` (jurisdiction strings only); both are read.
    #[serde(default)]
    pub jurisdictions: BTreeMap<String, String>,
}

/// One `max_value_age` rule: values of files matching `files` (a glob: `*` within a path
/// segment, `**` across segments, `?` one character; default every file) at paths matching
/// `paths` (a regular expression on sops' notation, `["db"]["password"]`; default every
/// path) must have changed within `days`. The first matching rule applies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueAgeRule {
    /// Files the rule covers.
    #[serde(default)]
    pub files: Option<String>,
    /// Paths the rule covers.
    #[serde(default)]
    pub paths: Option<String>,
    /// The longest a value may stay unchanged.
    pub days: u64,
}

/// A compiled `max_value_age` rule.
pub struct AgeLimit {
    files: Option<regex::Regex>,
    paths: Option<regex::Regex>,
    /// The limit.
    pub days: u64,
    /// The rule as written, for reports.
    pub source: String,
}

/// A glob as a regular expression anchored at both ends: `**/` any directories (none
/// too), `**` anything, `*` within a segment, `?` one character.
fn glob_regex(glob: &str) -> String {
    let mut re = String::from("^");
    let mut rest = glob.trim_start_matches("./");
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("**/") {
            re.push_str("(?:.*/)?");
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix("**") {
            re.push_str(".*");
            rest = r;
            continue;
        }
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        rest = &rest[c.len_utf8()..];
    }
    re.push('$');
    re
}

impl AgeLimit {
    /// Does this limit cover `path` in `file`?
    pub fn covers(&self, file: &str, path: &str) -> bool {
        let file = file.trim_start_matches("./");
        self.files.as_ref().is_none_or(|r| r.is_match(file)) && self.paths.as_ref().is_none_or(|r| r.is_match(path))
    }
}

/// One `hosting:` declaration.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Hosting {
    /// Just the jurisdiction (`eu`, `us`, `holder`, `other`).
    Jurisdiction(String),
    /// The jurisdiction and why.
    Declared {
        /// `eu`, `us`, `holder`, `other`.
        jurisdiction: String,
        /// Where and under which contract, for the evidence report.
        #[serde(default)]
        note: Option<String>,
    },
}

fn yes() -> bool {
    true
}

/// A policy file that cannot be read or is invalid.
#[derive(Debug, thiserror::Error)]
#[error("{path}: invalid policy: {why}")]
pub struct PolicyError {
    /// The policy file.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

#[derive(Deserialize)]
struct TomlFile {
    policy: Option<Policy>,
}

impl Policy {
    /// The built-in policy when none is configured: only the sovereignty rule.
    pub fn default_policy() -> Policy {
        Policy { forbid_foreign_decrypt: true, ..Policy::default() }
    }

    /// The host overrides of the policy (`jurisdictions`), parsed.
    pub fn jurisdictions(&self) -> Result<Jurisdictions, String> {
        let mut hosts: Vec<(String, Jurisdiction, Option<String>)> = Vec::new();
        let declared = self.hosting.iter().map(|(h, d)| match d {
            Hosting::Jurisdiction(j) => (h, j, None),
            Hosting::Declared { jurisdiction, note } => (h, jurisdiction, note.clone()),
        });
        for (h, j, note) in declared.chain(self.jurisdictions.iter().map(|(h, j)| (h, j, None))) {
            let j = Jurisdiction::parse(j).ok_or_else(|| format!("unknown jurisdiction '{j}' for {h}"))?;
            let host = h.to_ascii_lowercase();
            match hosts.iter().find(|(other, _, _)| *other == host) {
                Some((_, earlier, _)) if *earlier != j => {
                    return Err(format!("{h} is declared both {} and {}", earlier.name(), j.name()))
                }
                Some(_) => {}
                None => hosts.push((host, j, note)),
            }
        }
        Ok(Jurisdictions { hosts })
    }

    /// The `max_value_age` rules, compiled.
    pub fn age_limits(&self) -> Result<Vec<AgeLimit>, String> {
        self.max_value_age
            .iter()
            .map(|r| {
                let files = r
                    .files
                    .as_deref()
                    .map(|g| regex::Regex::new(&glob_regex(g)).map_err(|e| format!("max_value_age files '{g}': {e}")))
                    .transpose()?;
                let paths = r
                    .paths
                    .as_deref()
                    .map(|p| regex::Regex::new(p).map_err(|e| format!("max_value_age paths '{p}': {e}")))
                    .transpose()?;
                let source = format!(
                    "max_value_age {} days (files: {}, paths: {})",
                    r.days,
                    r.files.as_deref().unwrap_or("all"),
                    r.paths.as_deref().unwrap_or("all")
                );
                Ok(AgeLimit { files, paths, days: r.days, source })
            })
            .collect()
    }

    /// Load from `tresor.toml` or from a `.sops.yaml` with a `policy:` section.
    pub fn load(path: &Path) -> Result<Option<Policy>, PolicyError> {
        let shown = path.display().to_string();
        let err = |why: String| PolicyError { path: shown.clone(), why };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        if path.extension().is_some_and(|e| e == "toml") {
            let f: TomlFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            return Ok(f.policy);
        }
        let docs = tresor_format::parse(&text, tresor_format::Format::Yaml).map_err(|e| err(e.to_string()))?;
        let Some(doc) = docs.first() else { return Ok(None) };
        let data = tresor_sops::convert::document_data(doc).map_err(|e| err(e.to_string()))?;
        match data.get("policy") {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| err(e.to_string())),
        }
    }

    /// Find a policy for files under `dir`: `tresor.toml`, else `.sops.yaml`, walking up.
    pub fn discover(dir: &Path) -> Result<Option<(Policy, String)>, PolicyError> {
        let mut cur = Some(dir);
        while let Some(d) = cur {
            for name in ["tresor.toml", ".sops.yaml"] {
                let p = d.join(name);
                if p.is_file() {
                    if let Some(pol) = Policy::load(&p)? {
                        return Ok(Some((pol, p.display().to_string())));
                    }
                }
            }
            cur = d.parent();
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_age_rules_match_file_globs_and_path_patterns() {
        let p: Policy = serde_json::from_value(serde_json::json!({"max_value_age": [
            {"files": "clusters/prod/**", "paths": "password", "days": 90},
            {"files": "**/*.env", "days": 30},
            {"days": 365}
        ]}))
        .unwrap();
        let limits = p.age_limits().unwrap();
        let first = |file: &str, path: &str| limits.iter().find(|l| l.covers(file, path)).map(|l| l.days);
        assert_eq!(first("clusters/prod/db/secret.yaml", "[\"stringData\"][\"password\"]"), Some(90));
        assert_eq!(first("./clusters/prod/a.yaml", "[\"user\"]"), Some(365));
        assert_eq!(first("app.env", "[\"TOKEN\"]"), Some(30));
        assert_eq!(first("deep/er/app.env", "[\"TOKEN\"]"), Some(30));
        assert_eq!(first("clusters/prodx/a.yaml", "[\"password\"]"), Some(365));
        assert_eq!(glob_regex("a?b*.yaml"), "^a[^/]b[^/]*\\.yaml$");
        let bad: Policy =
            serde_json::from_value(serde_json::json!({"max_value_age": [{"paths": "(", "days": 1}]})).unwrap();
        assert!(bad.age_limits().is_err());
    }
}
