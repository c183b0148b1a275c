//! Suppressing known findings: an ignore file of fingerprints (`.tresorignore`,
//! gitleaks' `.gitleaksignore`, Betterleaks' `.betterleaksignore`, whose entries are the
//! SHA-256 of the secret value) and a baseline report.

use std::collections::HashSet;
use std::path::Path;

use crate::finding::Finding;

/// Findings to leave out: ignore-file entries and a baseline.
#[derive(Default)]
pub struct Suppressions {
    fingerprints: HashSet<String>,
    /// (repository, rule, file, secret hash) from a baseline: robust to line moves and new
    /// commits. The repository is empty in a one-repository report (the entry then holds
    /// in every repository); a fleet report's entries hold in their own repository only,
    /// so the same file name in two repositories is two findings.
    baseline: HashSet<(String, String, String, String)>,
}

impl Suppressions {
    /// Load ignore files that exist in `root` and an optional baseline report.
    pub fn load(root: &Path, ignore_file: Option<&Path>, baseline: Option<&Path>) -> Result<Suppressions, String> {
        let mut s = Suppressions::default();
        let mut files: Vec<std::path::PathBuf> =
            vec![root.join(".tresorignore"), root.join(".gitleaksignore"), root.join(".betterleaksignore")];
        if let Some(f) = ignore_file {
            files.push(f.to_path_buf());
        }
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                    s.fingerprints.insert(line.to_string());
                }
            }
        }
        if let Some(b) = baseline {
            s.add_baseline(b)?;
        }
        Ok(s)
    }

    /// Only a baseline report (`report merge --baseline`): a previous scan or merged fleet
    /// report whose findings do not count again.
    pub fn baseline_only(baseline: &Path) -> Result<Suppressions, String> {
        let mut s = Suppressions::default();
        s.add_baseline(baseline)?;
        Ok(s)
    }

    fn add_baseline(&mut self, b: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(b).map_err(|e| format!("baseline {}: {e}", b.display()))?;
        let findings: Vec<Finding> =
            serde_json::from_str(&text).map_err(|e| format!("baseline {}: {e}", b.display()))?;
        for f in findings {
            self.baseline.insert((f.repository, f.rule_id, f.file, f.secret_hash));
        }
        Ok(())
    }

    /// Is this finding suppressed (by fingerprint, `file:rule:line`, secret hash or baseline)?
    pub fn suppressed(&self, f: &Finding) -> bool {
        self.fingerprints.contains(&f.fingerprint)
            || self.fingerprints.contains(&format!("{}:{}:{}", f.file, f.rule_id, f.line))
            // Betterleaks' value fingerprints: SHA-256 of the secret, as our secret hash.
            || self.fingerprints.contains(&f.secret_hash)
            || [f.repository.as_str(), ""].iter().any(|repo| {
                self.baseline.contains(&(repo.to_string(), f.rule_id.clone(), f.file.clone(), f.secret_hash.clone()))
            })
    }
}
