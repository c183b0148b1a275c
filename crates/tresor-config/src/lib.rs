//! `.sops.yaml`: creation rules that choose keys and encryption options per file.
//!
//! Unlike sops, which searches from the current directory, we search from the *file's*
//! directory upward, so `tresor encrypt other/dir/secret.yaml` uses `other/dir`'s rules
//! (sops issue #242). `path_regex` is matched against the file's path relative to the
//! directory holding the config, as in sops.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use regex::Regex;
use tresor_format::tree::{Map, Node};
use tresor_format::Format;
use tresor_keys::service::{by_config_name, SERVICES};
use tresor_keys::KeySpec;
use tresor_sops::Rule;

/// The file sops and tresor look for.
pub const FILE_NAME: &str = ".sops.yaml";

/// A `.sops.yaml` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It cannot be read.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The config file.
        path: String,
        /// Why.
        why: String,
    },
    /// It is not a valid config (syntax, an unknown key type, a bad regex).
    #[error("{path}: {why}")]
    Invalid {
        /// The config file.
        path: String,
        /// What is wrong, naming the rule or key.
        why: String,
    },
    /// No creation rule's `path_regex` matches the file.
    #[error("{path}: no creation rule matches {file}; add a rule whose path_regex matches it, or name the keys on the command line (--age, --pgp, …)")]
    NoMatch {
        /// The config file.
        path: String,
        /// The file, relative to the config's directory.
        file: String,
    },
}

impl ConfigError {
    /// sops' codes: 61 config not found / unreadable, 1 no matching rule.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Read { .. } => tresor_sops::codes::CONFIG_FILE_NOT_FOUND,
            ConfigError::Invalid { .. } => tresor_sops::codes::ERROR_READING_CONFIG,
            ConfigError::NoMatch { .. } => tresor_sops::codes::ERROR_GENERIC,
        }
    }
}

/// One `creation_rules` entry.
#[derive(Debug, Clone)]
pub struct CreationRule {
    /// Which files it applies to (relative to the config's directory); `None` = all.
    pub path_regex: Option<Regex>,
    /// One inner list per key group.
    pub key_groups: Vec<Vec<KeySpec>>,
    /// Groups needed to decrypt (0 = all), with several key groups.
    pub shamir_threshold: usize,
    /// Which values are encrypted (`encrypted_regex`, `unencrypted_suffix`, …).
    pub rule: Option<Rule>,
    /// The MAC covers encrypted values only.
    pub mac_only_encrypted: bool,
    /// Owner/contact recorded in clear in new files' metadata.
    pub owner: Option<String>,
}

/// A parsed `.sops.yaml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from (rules match paths relative to its directory).
    pub path: PathBuf,
    /// Its creation rules, in file order (the first match wins).
    pub rules: Vec<CreationRule>,
}

/// Find `.sops.yaml` starting at `dir` and walking up (at most 100 levels).
pub fn find_from(dir: &Path) -> Option<PathBuf> {
    let mut cur = Some(dir);
    for _ in 0..100 {
        let d = cur?;
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        cur = d.parent();
    }
    None
}

/// The config for a file: `explicit` (`--config`/`SOPS_CONFIG`) or the nearest
/// `.sops.yaml` above the file.
pub fn for_file(file: &Path, explicit: Option<&Path>) -> Result<Option<Config>, ConfigError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let abs = absolute(file);
            abs.parent().and_then(find_from)
        }
    };
    Ok(path.map(|p| load(&p)).transpose()?.flatten())
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|c| c.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Read and parse the config at `path`; `None` when it has no `creation_rules` (only a
/// `policy:` or `destination_rules`, say), which sops too takes as no config at all.
pub fn load(path: &Path) -> Result<Option<Config>, ConfigError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: shown.clone(), why: e.to_string() })?;
    Ok(parse_rules(&text, &shown)?.map(|rules| Config { path: path.to_path_buf(), rules }))
}

fn invalid(path: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { path: path.into(), why: why.into() }
}

/// A string list given either as a comma-separated string or as a YAML list.
fn strings(node: Option<&Node>) -> Vec<String> {
    match node {
        Some(Node::Scalar(s)) => s.text.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        Some(Node::Seq(seq)) => seq
            .values()
            .filter_map(|v| v.as_scalar())
            .flat_map(|s| s.text.split(',').map(|x| x.trim().to_string()).collect::<Vec<_>>())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar<'a>(m: &'a Map, key: &str) -> Option<&'a str> {
    m.get(key)
        .and_then(|n| n.as_scalar())
        .map(|s| s.text.as_str())
        .filter(|s| !s.is_empty() && *s != "~" && *s != "null")
}

/// The keys of a creation rule or key group: every `.sops.yaml` key name of the service
/// table, as strings (comma-separated or a list) or, in key groups, as sops' structured
/// entries (`kms: [{arn: …, role: …}]`). Kinds tresor has no client for parse too:
/// `updatekeys` keeps their entries, and encrypting to them fails naming them.
fn group_keys(m: &Map, path: &str) -> Result<Vec<KeySpec>, ConfigError> {
    let mut keys = Vec::new();
    for row in &SERVICES {
        for name in row.config_names {
            // A mapping or an alias where a key or a list of keys belongs would otherwise
            // be read as no keys at all, and the file encrypted to the default identity.
            if m.get(name).is_some_and(|n| !matches!(n, Node::Scalar(_) | Node::Seq(_))) {
                return Err(invalid(path, format!("`{name}` must be a string or a list of keys")));
            }
            for text in strings(m.get(name)) {
                keys.push(KeySpec::parse(name, &text).map_err(|e| invalid(path, e.to_string()))?);
            }
            let Some(Node::Seq(items)) = m.get(name) else { continue };
            for item in items.values() {
                match item {
                    Node::Scalar(_) => {}
                    Node::Map(entry) => {
                        let fields: Vec<(String, String)> = entry
                            .entries()
                            .filter_map(|e| e.value.as_scalar().map(|v| (e.key.clone(), v.text.clone())))
                            .collect();
                        keys.push(KeySpec::parse_entry(name, &fields).map_err(|e| invalid(path, e.to_string()))?);
                    }
                    _ => return Err(invalid(path, format!("`{name}` entries must be strings or mappings"))),
                }
            }
        }
    }
    Ok(keys)
}

/// A key group naming a key type tresor does not know would lose those keys: refuse.
fn check_group_names(m: &Map, path: &str) -> Result<(), ConfigError> {
    for e in m.entries() {
        if e.key != "merge" && by_config_name(&e.key).is_none() {
            return Err(invalid(path, format!("key group: unknown key type '{}'", e.key)));
        }
    }
    Ok(())
}

/// Parse a config's text (`path` names it in errors); no rules when it has no
/// `creation_rules`.
pub fn parse(text: &str, path: &str) -> Result<Vec<CreationRule>, ConfigError> {
    parse_rules(text, path).map(Option::unwrap_or_default)
}

/// [`parse`], telling a config without `creation_rules` (`None`) from one with an empty list.
fn parse_rules(text: &str, path: &str) -> Result<Option<Vec<CreationRule>>, ConfigError> {
    let docs = tresor_format::parse(text, Format::Yaml).map_err(|e| invalid(path, e.to_string()))?;
    let root = docs
        .first()
        .and_then(|d| d.root.as_map())
        .ok_or_else(|| invalid(path, "expected a mapping with creation_rules"))?;
    let rules = match root.get("creation_rules") {
        None => return Ok(None),
        Some(Node::Seq(rules)) => rules,
        Some(_) => return Err(invalid(path, "creation_rules is not a list")),
    };
    let mut out = Vec::new();
    for (i, r) in rules.values().enumerate() {
        let m = r.as_map().ok_or_else(|| invalid(path, format!("creation rule {} is not a mapping", i + 1)))?;
        let path_regex = scalar(m, "path_regex")
            .map(|re| Regex::new(re).map_err(|e| invalid(path, format!("rule {}: path_regex: {e}", i + 1))))
            .transpose()?;
        let mut key_groups = Vec::new();
        if let Some(Node::Seq(groups)) = m.get("key_groups") {
            for g in groups.values() {
                let gm = g.as_map().ok_or_else(|| invalid(path, "a key group must be a mapping"))?;
                check_group_names(gm, path)?;
                let mut keys = group_keys(gm, path)?;
                // `merge:` concatenates sub-groups into this one.
                if let Some(Node::Seq(merges)) = gm.get("merge") {
                    for sub in merges.values().filter_map(|s| s.as_map()) {
                        check_group_names(sub, path)?;
                        keys.extend(group_keys(sub, path)?);
                    }
                }
                keys.dedup();
                key_groups.push(keys);
            }
        } else {
            let keys = group_keys(m, path)?;
            if !keys.is_empty() {
                key_groups.push(keys);
            }
        }
        let mut rule = None;
        for name in Rule::FIELD_NAMES {
            if let Some(v) = scalar(m, name) {
                if rule.is_some() {
                    return Err(invalid(
                        path,
                        format!("rule {}: only one of the suffix/regex options may be set", i + 1),
                    ));
                }
                rule = Some(Rule::from_field(name, v).map_err(|e| invalid(path, e.to_string()))?);
            }
        }
        let shamir_threshold = match scalar(m, "shamir_threshold") {
            Some(t) => {
                t.parse().map_err(|_| invalid(path, format!("rule {}: shamir_threshold must be a number", i + 1)))?
            }
            None => 0,
        };
        let mac_only_encrypted = scalar(m, "mac_only_encrypted") == Some("true");
        let owner = scalar(m, "owner").map(str::to_string);
        out.push(CreationRule { path_regex, key_groups, shamir_threshold, rule, mac_only_encrypted, owner });
    }
    Ok(Some(out))
}

impl Config {
    /// The first rule matching `file` (relative to the config's directory, as sops does).
    pub fn rule_for(&self, file: &Path) -> Result<&CreationRule, ConfigError> {
        let dir = absolute(&self.path).parent().map(Path::to_path_buf).unwrap_or_default();
        let abs = absolute(file);
        let rel = abs.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(abs);
        let rel_s = rel.to_string_lossy().replace('\\', "/");
        self.rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&rel_s)))
            .ok_or_else(|| ConfigError::NoMatch { path: self.path.display().to_string(), file: rel_s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
creation_rules:
  - path_regex: ^prod/.*\.yaml$
    shamir_threshold: 2
    key_groups:
      - age: [age1aaa]
      - age:
          - age1bbb
        hc_vault: [https://bao:8200/v1/transit/keys/prod]
      - okms: https://eu-west-par.okms.ovh.net/api/dom/v1/servicekey/key
    encrypted_regex: ^(data|stringData)$
  - path_regex: \.json$
    age: age1ccc, age1ddd
    hc_vault_transit_uri: https://bao:8200/v1/transit/keys/dev
    mac_only_encrypted: true
  - age: age1default
"#;

    /// sops takes a `.sops.yaml` without `creation_rules` (one that holds only tresor's
    /// `policy:`, say) as no config; a `creation_rules` that is not a list is an error.
    #[test]
    fn a_config_without_creation_rules_is_no_config() {
        assert_eq!(parse_rules("policy:\n  require_post_quantum: true\n", "x").unwrap().map(|r| r.len()), None);
        assert_eq!(parse_rules("creation_rules: []\n", "x").unwrap().map(|r| r.len()), Some(0));
        assert!(parse_rules("creation_rules: {}\n", "x").is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".sops.yaml"), "policy:\n  require_owner: true\n").unwrap();
        assert!(for_file(&dir.path().join("s.yaml"), None).unwrap().is_none());
    }

    #[test]
    fn first_matching_rule_wins_relative_to_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join(".sops.yaml");
        std::fs::write(&cfg_path, CFG).unwrap();
        std::fs::create_dir_all(dir.path().join("prod/app")).unwrap();
        let file = dir.path().join("prod/app/secret.yaml");
        let cfg = for_file(&file, None).unwrap().unwrap();
        let r = cfg.rule_for(&file).unwrap();
        assert_eq!(r.key_groups.len(), 3);
        assert_eq!(r.shamir_threshold, 2);
        assert_eq!(r.key_groups[1].len(), 2);
        assert!(matches!(r.rule, Some(Rule::EncryptedRegex(_))));
        let j = cfg.rule_for(&dir.path().join("x.json")).unwrap();
        assert_eq!(
            j.key_groups,
            vec![vec![
                KeySpec::parse("age", "age1ccc").unwrap(),
                KeySpec::parse("age", "age1ddd").unwrap(),
                KeySpec::parse("hc_vault", "https://bao:8200/v1/transit/keys/dev").unwrap()
            ]]
        );
        assert!(j.mac_only_encrypted);
        let d = cfg.rule_for(&dir.path().join("other.yaml")).unwrap();
        assert_eq!(d.key_groups, vec![vec![KeySpec::parse("age", "age1default").unwrap()]]);
    }
}
