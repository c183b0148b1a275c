//! Per-file findings and the report renderers (table, JSON, Markdown evidence).

use serde::Serialize;
use tresor_sops::store::Store;

use crate::jurisdiction::{Jurisdiction, Jurisdictions};
use crate::policy::Policy;

/// One master key of a file, classified.
#[derive(Serialize, Clone, Debug)]
pub struct KeyReport {
    /// Its key group (1-based).
    pub group: usize,
    /// Who holds it (`age`, `openbao/vault`, `ovhcloud-kms`, `aws-kms`, …).
    pub provider: String,
    /// The metadata list it sits in.
    pub kind: String,
    /// Recipient, key URI, ARN or fingerprint.
    pub key_id: String,
    /// The legal regime of its holder.
    pub jurisdiction: Jurisdiction,
    /// Why that regime (host, region, provider).
    pub basis: String,
    /// What its wrap of the data key rests on (`post-quantum`, `symmetric`, `classical`,
    /// `unknown`): a classical wrap recorded today can be broken by a quantum computer.
    pub wrap: crate::quantum::Wrap,
    /// When the data key was wrapped for it, when the entry says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// The audit of one encrypted file.
#[derive(Serialize, Clone, Debug)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Its master keys.
    pub keys: Vec<KeyReport>,
    /// Number of key groups.
    pub key_groups: usize,
    /// Groups needed to decrypt (with several groups).
    pub shamir_threshold: usize,
    /// When the data key last changed (`lastmodified`).
    pub lastmodified: String,
    /// Days since then.
    pub data_key_age_days: Option<u64>,
    /// Owner/contact recorded in the metadata.
    pub owner: Option<String>,
    /// Can sops (and Flux) decrypt it? They ignore `okms` keys.
    pub sops_decryptable: bool,
    /// Can keys outside the EU and the holder's control decrypt it without any other key?
    pub foreign_can_decrypt: bool,
    /// Is every way to the data key quantum-safe (no classical wrap can open it alone)?
    pub post_quantum: bool,
    /// Policy rules it breaks, one sentence each.
    pub violations: Vec<String>,
    /// Why the file could not be audited, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The audit of a set of files (what `--format json` prints).
#[derive(Serialize, Debug)]
pub struct Report {
    /// `tresor VERSION`.
    pub tool: String,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    /// Where the policy came from, if not the built-in one.
    pub policy_source: Option<String>,
    /// One entry per file.
    pub files: Vec<FileReport>,
    /// How many files break the policy.
    pub files_with_violations: usize,
    /// External Secrets Operator stores found in the audited tree (`-r`): where the cluster
    /// fetches secrets from at runtime.
    pub delivery: Vec<crate::delivery::StoreReport>,
    /// How many of those break the policy.
    pub stores_with_violations: usize,
}

/// A key for a one-line message (post-quantum recipients are ~2,000 characters).
fn short_key(k: &str) -> String {
    if k.chars().count() > 40 {
        format!("{}…", k.chars().take(24).collect::<String>())
    } else {
        k.to_string()
    }
}

fn age_days(lastmodified: &str, now: time::OffsetDateTime) -> Option<u64> {
    let t = time::OffsetDateTime::parse(lastmodified, &time::format_description::well_known::Rfc3339).ok()?;
    Some(((now - t).whole_seconds().max(0) / 86_400) as u64)
}

/// Audit one file's metadata against `policy`. Nothing is decrypted.
pub fn audit_file(
    path: &str,
    src: &[u8],
    store: &dyn Store,
    policy: &Policy,
    j: &Jurisdictions,
    now: time::OffsetDateTime,
) -> FileReport {
    let meta = match store.metadata(src) {
        Ok(m) => m,
        Err(e) => {
            return FileReport {
                path: path.into(),
                keys: vec![],
                key_groups: 0,
                shamir_threshold: 0,
                lastmodified: String::new(),
                data_key_age_days: None,
                owner: None,
                sops_decryptable: false,
                foreign_can_decrypt: false,
                post_quantum: false,
                violations: vec![format!("not a SOPS file: {e}")],
                error: Some(e.to_string()),
            }
        }
    };
    let mut keys = Vec::new();
    for (gi, g) in meta.key_groups.iter().enumerate() {
        for k in &g.keys {
            let (provider, jurisdiction, basis) = j.classify(k);
            keys.push(KeyReport {
                group: gi + 1,
                provider,
                kind: k.kind().to_string(),
                key_id: tresor_keys::service::describe_key(k),
                jurisdiction,
                basis,
                wrap: crate::quantum::wrap_of(k).0,
                created_at: k.created_at().map(str::to_string).filter(|s| !s.is_empty()),
            });
        }
    }
    let groups = meta.key_groups.len();
    let needed = if groups > 1 {
        if meta.shamir_threshold == 0 {
            groups
        } else {
            meta.shamir_threshold
        }
    } else {
        1
    };
    let groups_with = |pred: &dyn Fn(&KeyReport) -> bool| {
        (1..=groups).filter(|g| keys.iter().any(|k| k.group == *g && pred(k))).count()
    };
    let foreign_can_decrypt = groups_with(&|k| k.jurisdiction.is_foreign()) >= needed;
    let sops_usable = meta
        .key_groups
        .iter()
        .filter(|g| g.keys.iter().any(|k| tresor_keys::service::by_kind(k.kind()).is_some_and(|r| r.sops_reads)))
        .count();
    let sops_decryptable = sops_usable >= needed;
    let age = age_days(&meta.lastmodified, now);

    let mut violations = Vec::new();
    if policy.forbid_foreign_decrypt && foreign_can_decrypt {
        let who: Vec<String> = keys
            .iter()
            .filter(|k| k.jurisdiction.is_foreign())
            .map(|k| format!("{} {}", k.provider, k.key_id))
            .collect();
        violations.push(format!(
            "keys outside the EU and outside your control can decrypt this file without any EU key: {}",
            who.join(", ")
        ));
    }
    if let Some(allowed) = &policy.allowed_jurisdictions {
        for k in &keys {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k.jurisdiction.name())) {
                violations.push(format!(
                    "key {} ({}) is under jurisdiction '{}', not allowed",
                    k.key_id,
                    k.provider,
                    k.jurisdiction.name()
                ));
            }
        }
    }
    if let Some(allowed) = &policy.allowed_providers {
        for k in &keys {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&k.provider) || a.eq_ignore_ascii_case(&k.kind)) {
                violations.push(format!("provider '{}' ({}) is not allowed", k.provider, k.key_id));
            }
        }
    }
    if let (Some(max), Some(days)) = (policy.max_data_key_age_days, age) {
        if days > max {
            violations.push(format!("data key is {days} days old (policy: at most {max}); run `tresor rotate -i`"));
        }
    }
    if age.is_none() && policy.max_data_key_age_days.is_some() {
        violations.push("lastmodified is missing or unreadable; the data key's age is unknown".into());
    }
    if let Some(min) = policy.min_key_groups {
        if groups < min {
            violations.push(format!("{groups} key group(s); the policy requires at least {min}"));
        }
    }
    if policy.require_owner && meta.owner.is_none() {
        violations
            .push("no owner recorded (set one with `tresor encrypt --owner` or `owner:` in the creation rule)".into());
    }
    let post_quantum = !crate::quantum::harvestable(&meta);
    if policy.require_post_quantum && !post_quantum {
        let weak: Vec<String> = keys
            .iter()
            .filter(|k| k.wrap.harvestable())
            .map(|k| format!("{} {}", k.kind, short_key(&k.key_id)))
            .collect();
        violations.push(format!(
            "classical wraps can open this file: {} (recorded today, broken by a quantum computer later); replace them with age1pq1 recipients or a KMS key, then rotate the values (`tresor audit --post-quantum` lists them)",
            weak.join(", ")
        ));
    }
    if policy.require_sops_compatible && !sops_decryptable {
        violations.push("sops and Flux cannot decrypt this file (okms-only key groups)".into());
    }
    FileReport {
        path: path.into(),
        keys,
        key_groups: groups,
        shamir_threshold: if groups > 1 { needed } else { 0 },
        lastmodified: meta.lastmodified.clone(),
        data_key_age_days: age,
        owner: meta.owner.clone(),
        sops_decryptable,
        foreign_can_decrypt,
        post_quantum,
        violations,
        error: None,
    }
}

impl Report {
    /// A report over `files`, stamped with `now`.
    pub fn new(files: Vec<FileReport>, policy_source: Option<String>, now: time::OffsetDateTime) -> Report {
        let files_with_violations = files.iter().filter(|f| !f.violations.is_empty()).count();
        Report {
            tool: format!("tresor {}", env!("CARGO_PKG_VERSION")),
            generated_at: tresor_format::scalar::format_rfc3339_go(now.replace_nanosecond(0).unwrap_or(now)),
            policy_source,
            files,
            files_with_violations,
            delivery: Vec::new(),
            stores_with_violations: 0,
        }
    }

    /// Add the ESO stores found, judged by the same policy rules as keys: no store outside
    /// the EU and the holder's control (`forbid_foreign_decrypt`), allowed jurisdictions.
    pub fn with_delivery(mut self, mut stores: Vec<crate::delivery::StoreReport>, policy: &Policy) -> Report {
        for s in &mut stores {
            if policy.forbid_foreign_decrypt && s.jurisdiction.is_foreign() {
                s.violations.push(format!(
                    "ESO {} `{}` fetches secrets from outside the EU and outside your control ({}): {}",
                    s.kind,
                    s.name,
                    s.jurisdiction.name(),
                    s.basis
                ));
            }
            if let Some(allowed) = &policy.allowed_jurisdictions {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(s.jurisdiction.name())) {
                    s.violations.push(format!(
                        "ESO {} `{}` is under jurisdiction '{}', not allowed",
                        s.kind,
                        s.name,
                        s.jurisdiction.name()
                    ));
                }
            }
        }
        self.stores_with_violations = stores.iter().filter(|s| !s.violations.is_empty()).count();
        self.delivery = stores;
        self
    }

    /// Does anything break the policy?
    pub fn has_violations(&self) -> bool {
        self.files_with_violations > 0 || self.stores_with_violations > 0
    }

    /// The report as pretty JSON, with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes") + "\n"
    }

    fn keys_summary(f: &FileReport) -> String {
        f.keys.iter().map(|k| format!("{}:{}", k.provider, k.jurisdiction.name())).collect::<Vec<_>>().join(", ")
    }

    /// A table for terminals.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "FILE".to_string(),
            "KEYS (provider:jurisdiction)".into(),
            "GROUPS".into(),
            "AGE".into(),
            "OWNER".into(),
            "SOPS".into(),
            "STATUS".into(),
        ]];
        for f in &self.files {
            rows.push([
                f.path.clone(),
                Self::keys_summary(f),
                if f.key_groups > 1 {
                    format!("{}/{}", f.shamir_threshold, f.key_groups)
                } else {
                    f.key_groups.to_string()
                },
                f.data_key_age_days.map(|d| format!("{d}d")).unwrap_or_else(|| "?".into()),
                f.owner.clone().unwrap_or_else(|| "-".into()),
                if f.sops_decryptable { "yes".into() } else { "no".into() },
                if f.violations.is_empty() { "ok".into() } else { format!("{} violation(s)", f.violations.len()) },
            ]);
        }
        let widths: Vec<usize> = (0..7).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        for f in self.files.iter().filter(|f| !f.violations.is_empty()) {
            for v in &f.violations {
                out.push_str(&format!("{}: {v}\n", f.path));
            }
        }
        for st in &self.delivery {
            out.push_str(&format!(
                "ESO {} {} ({}): {}:{} — {}\n",
                st.kind,
                st.name,
                st.file,
                st.provider,
                st.jurisdiction.name(),
                st.basis
            ));
            for v in &st.violations {
                out.push_str(&format!("{}: {v}\n", st.file));
            }
        }
        out.push_str(&format!("{} file(s), {} with policy violations\n", self.files.len(), self.files_with_violations));
        if !self.delivery.is_empty() {
            out.push_str(&format!(
                "{} ESO store(s), {} with policy violations\n",
                self.delivery.len(),
                self.stores_with_violations
            ));
        }
        out
    }

    /// A Markdown evidence report for an ICT risk register.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut o = String::new();
        o.push_str("# Secrets key-custody evidence\n\n");
        o.push_str(&format!("- Generated: {} by {}\n", self.generated_at, self.tool));
        o.push_str(&format!(
            "- Policy: {}\n",
            self.policy_source
                .as_deref()
                .unwrap_or("built-in (no key outside the EU or the holder's control may decrypt alone)")
        ));
        o.push_str(&format!(
            "- Files: {}; with policy violations: {}\n\n",
            self.files.len(),
            self.files_with_violations
        ));
        o.push_str("## Files\n\n| File | Key groups | Data key age (days) | Owner | sops/Flux can decrypt | Non-EU keys can decrypt alone | Quantum-safe | Status |\n|---|---|---|---|---|---|---|---|\n");
        for f in &self.files {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                esc(&f.path),
                if f.key_groups > 1 {
                    format!("{} of {}", f.shamir_threshold, f.key_groups)
                } else {
                    f.key_groups.to_string()
                },
                f.data_key_age_days.map(|d| d.to_string()).unwrap_or_else(|| "unknown".into()),
                esc(f.owner.as_deref().unwrap_or("—")),
                if f.sops_decryptable { "yes" } else { "no" },
                if f.foreign_can_decrypt { "**yes**" } else { "no" },
                if f.post_quantum { "yes" } else { "no (classical wraps)" },
                if f.violations.is_empty() {
                    "compliant".to_string()
                } else {
                    format!("**{} violation(s)**", f.violations.len())
                },
            ));
        }
        o.push_str("\n## Keys\n\n| File | Group | Provider | Key | Jurisdiction | Basis | Wrap | Created |\n|---|---|---|---|---|---|---|---|\n");
        for f in &self.files {
            for k in &f.keys {
                o.push_str(&format!(
                    "| {} | {} | {} | `{}` | {} | {} | {} | {} |\n",
                    esc(&f.path),
                    k.group,
                    k.provider,
                    esc(&k.key_id),
                    k.jurisdiction.name(),
                    esc(&k.basis),
                    k.wrap.name(),
                    k.created_at.as_deref().unwrap_or("—")
                ));
            }
        }
        if !self.delivery.is_empty() {
            o.push_str("\n## Delivery: External Secrets Operator stores\n\n| File | Kind | Name | Provider | Jurisdiction | Basis |\n|---|---|---|---|---|---|\n");
            for st in &self.delivery {
                o.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    esc(&st.file),
                    st.kind,
                    esc(&st.name),
                    esc(&st.provider),
                    st.jurisdiction.name(),
                    esc(&st.basis)
                ));
            }
        }
        o.push_str("\n## Policy violations\n\n");
        if !self.has_violations() {
            o.push_str("None.\n");
        }
        for f in self.files.iter().filter(|f| !f.violations.is_empty()) {
            for v in &f.violations {
                o.push_str(&format!("- `{}`: {}\n", esc(&f.path), esc(v)));
            }
        }
        for st in self.delivery.iter().filter(|s| !s.violations.is_empty()) {
            for v in &st.violations {
                o.push_str(&format!("- `{}`: {}\n", esc(&st.file), esc(v)));
            }
        }
        o
    }
}
