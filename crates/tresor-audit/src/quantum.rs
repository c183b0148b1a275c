//! Harvest now, decrypt later: which wraps of a data key a quantum computer could break.
//!
//! A SOPS file is only as strong as its weakest wrap: adding an `age1pq1` recipient next to
//! an X25519 one protects nothing, because whoever recorded the file can later break the
//! X25519 stanza and read every value. And old revisions with classical wraps stay in Git.
//! This module judges each master key by the cryptography its wrap rests on, a file by
//! whether enough of its key groups hold only quantum-safe wraps, and (through
//! [`crate::exposure`]) which current values ever sat under a breakable revision.

use serde::Serialize;
use tresor_sops::metadata::{MasterKey, Metadata};

/// What a wrap of the data key rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wrap {
    /// A post-quantum hybrid (age ML-KEM-768 + X25519, `age1pq1…`).
    PostQuantum,
    /// A symmetric key held by a key service (AES-256 in a KMS or transit engine): Grover's
    /// algorithm halves its strength at most, which leaves 128 bits.
    Symmetric,
    /// Public-key cryptography Shor's algorithm breaks (X25519, SSH keys, PGP's RSA/ECC,
    /// Azure Key Vault's RSA-OAEP wrap).
    Classical,
    /// Not known (an age plugin, an unknown key list): not proven safe, so counted as
    /// breakable.
    Unknown,
}

impl Wrap {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Wrap::PostQuantum => "post-quantum",
            Wrap::Symmetric => "symmetric",
            Wrap::Classical => "classical",
            Wrap::Unknown => "unknown",
        }
    }

    /// Can a recorded copy of this wrap be broken later?
    pub fn harvestable(self) -> bool {
        matches!(self, Wrap::Classical | Wrap::Unknown)
    }
}

/// What one master key's wrap rests on, and why.
pub fn wrap_of(key: &MasterKey) -> (Wrap, &'static str) {
    match key.kind() {
        "age" => {
            let r = key.get("recipient").unwrap_or("").trim();
            if r.starts_with("age1pq1") {
                (Wrap::PostQuantum, "age ML-KEM-768 + X25519 hybrid")
            } else if r.starts_with("ssh-") {
                (Wrap::Classical, "age to an SSH key (Ed25519/RSA)")
            } else if r.starts_with("age1") && r.len() == 62 {
                (Wrap::Classical, "age X25519")
            } else {
                (Wrap::Unknown, "an age plugin recipient: what it rests on depends on the plugin")
            }
        }
        "pgp" => (Wrap::Classical, "PGP (RSA or elliptic-curve public key)"),
        "azure_kv" => (Wrap::Classical, "Azure Key Vault wraps with RSA-OAEP"),
        "hc_vault" | "okms" | "scw_kms" | "stackit_kms" | "kms" | "gcp_kms" | "hckms" => {
            (Wrap::Symmetric, "a symmetric key inside a key service (AES-256)")
        }
        _ => (Wrap::Unknown, "a key list this version does not know"),
    }
}

/// Can a recorded copy of a revision with this metadata be opened later by breaking its
/// classical wraps? With Shamir, only if enough groups each hold a breakable wrap.
pub fn harvestable(meta: &Metadata) -> bool {
    let groups = meta.key_groups.len();
    let needed = match (groups, meta.shamir_threshold) {
        (0 | 1, _) => 1,
        (g, 0) => g,
        (_, t) => t,
    };
    let breakable = meta.key_groups.iter().filter(|g| g.keys.iter().any(|k| wrap_of(k).0.harvestable())).count();
    groups > 0 && breakable >= needed
}

/// A wrap in a current revision that a quantum computer could break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breakable {
    /// The metadata list (`age`, `pgp`, …).
    pub kind: String,
    /// The recipient, fingerprint or key.
    pub key: String,
    /// What it rests on.
    pub why: String,
}

/// One file's current revision.
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    /// The file.
    pub file: String,
    /// Every way to its data key is quantum-safe (post-quantum or symmetric wraps, or too
    /// few breakable Shamir groups).
    pub post_quantum: bool,
    /// Its breakable wraps (listed even where Shamir keeps the file safe).
    pub breakable: Vec<Breakable>,
}

/// A key to replace, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Replace {
    /// The metadata list.
    pub kind: String,
    /// The key.
    pub key: String,
    /// Files whose current revision is harvestable through it.
    pub files: Vec<String>,
}

/// The migration plan: replace these keys (with `age1pq1` recipients or a KMS key), then
/// rotate the values that ever sat under a breakable revision.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    /// Keys to replace in files that are harvestable now.
    pub replace: Vec<Replace>,
    /// Current values to change once that is done (the report's `must_rotate`).
    pub then_rotate: usize,
}

/// The post-quantum report over the files' histories.
#[derive(Debug, Default, Serialize)]
pub struct QuantumReport {
    /// Each file's current revision.
    pub files: Vec<FileStatus>,
    /// Current values unchanged since a revision a quantum computer could open (proven by
    /// equal ciphertexts, or with keys by equal plaintexts): change them after migrating.
    pub must_rotate: Vec<crate::exposure::Exposed>,
    /// Current values that changed after every breakable revision that held them.
    pub rotated_since: Vec<crate::exposure::Exposed>,
    /// Current values a breakable revision held under another ciphertext, with no key here
    /// to compare.
    pub unknown: Vec<crate::exposure::Exposed>,
    /// Revisions read, across all files.
    pub revisions_read: usize,
    /// Revisions a recorded copy of which could be opened by breaking classical wraps.
    pub revisions_harvestable: usize,
    /// What to do about it.
    pub plan: Plan,
    /// The history read.
    pub history: crate::value_age::Coverage,
}

impl QuantumReport {
    /// Does anything need doing (a harvestable file, or a value to rotate)?
    pub fn needs_action(&self) -> bool {
        !self.must_rotate.is_empty() || self.files.iter().any(|f| !f.post_quantum)
    }
}

/// The current status and history of one file, added to `out`.
pub fn file_report(
    file: &str,
    store: &dyn tresor_sops::store::Store,
    versions: &[crate::value_age::Version],
    open: Option<crate::value_age::Opener>,
    out: &mut QuantumReport,
    history: &mut crate::exposure::Exposure,
) {
    let Some(current) = versions.first() else { return };
    let Ok(meta) = store.metadata(&current.bytes) else { return };
    let breakable: Vec<Breakable> = meta
        .key_groups
        .iter()
        .flat_map(|g| &g.keys)
        .filter_map(|k| {
            let (w, why) = wrap_of(k);
            w.harvestable().then(|| Breakable {
                kind: k.kind().to_string(),
                key: tresor_keys::service::describe_key(k),
                why: why.to_string(),
            })
        })
        .collect();
    let post_quantum = !harvestable(&meta);
    if !post_quantum {
        for b in &breakable {
            match out.plan.replace.iter_mut().find(|r| r.kind == b.kind && r.key == b.key) {
                Some(r) => r.files.push(file.to_string()),
                None => out.plan.replace.push(Replace {
                    kind: b.kind.clone(),
                    key: b.key.clone(),
                    files: vec![file.to_string()],
                }),
            }
        }
    }
    out.files.push(FileStatus { file: file.to_string(), post_quantum, breakable });
    let readable = |m: &Metadata| harvestable(m).then_some(true);
    crate::exposure::file_exposure(file, store, versions, &readable, open, history);
}

/// [`file_report`] for files of the Git repository holding them.
pub fn in_repository(
    files: &[std::path::PathBuf],
    open: Option<crate::value_age::Opener>,
) -> Result<QuantumReport, crate::value_age::HistoryError> {
    let mut out = QuantumReport::default();
    let mut history = crate::exposure::Exposure::default();
    let h = crate::value_age::histories(files)?;
    for (shown, versions) in &h.files {
        file_report(shown, tresor_sops::store::for_path(shown), versions, open, &mut out, &mut history);
    }
    out.history = h.coverage;
    out.must_rotate = history.must_rotate;
    out.rotated_since = history.rotated_since;
    out.unknown = history.unknown;
    out.revisions_read = history.revisions_read;
    out.revisions_harvestable = history.revisions_exposed;
    out.plan.then_rotate = out.must_rotate.len();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(r: &str) -> MasterKey {
        MasterKey::new("age", &[("recipient", r), ("enc", "x")])
    }

    fn rev(commit: &str, values: &[(&str, &str)], recipients: &[&str]) -> crate::value_age::Version {
        let mut t: String =
            values.iter().map(|(k, v)| format!("{k}: ENC[AES256_GCM,data:{v},iv:x,tag:y,type:str]\n")).collect();
        t.push_str("sops:\n    age:\n");
        for r in recipients {
            t.push_str(&format!("        - recipient: {r}\n          enc: x\n"));
        }
        t.push_str("    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: x\n    version: 3.11.0\n");
        crate::value_age::Version { commit: commit.into(), date: format!("date-{commit}"), bytes: t.into_bytes() }
    }

    /// Adding a post-quantum recipient next to an X25519 one protects nothing; dropping the
    /// X25519 one protects what is written afterwards, and the values it could read that
    /// are still current are the ones to rotate.
    #[test]
    fn a_file_is_as_weak_as_its_weakest_wrap_and_history_keeps_the_old_ones() {
        let x = "age1zhwfff0qls0z6yhypyv7c9t4hawqf6uaw2yy3hw0xghnjuzgryzqqsc6ae";
        let pq = format!("age1pq1{}", "q".repeat(1950));
        let store = tresor_sops::store::for_path("s.yaml");
        let both = [rev("c2", &[("a", "A"), ("b", "B2")], &[x, &pq]), rev("c1", &[("a", "A"), ("b", "B1")], &[x])];
        let mut out = QuantumReport::default();
        let mut h = crate::exposure::Exposure::default();
        file_report("s.yaml", store, &both, None, &mut out, &mut h);
        assert!(!out.files[0].post_quantum, "an X25519 wrap beside the PQ one");
        assert_eq!(out.plan.replace.len(), 1);
        assert_eq!((out.plan.replace[0].kind.as_str(), out.plan.replace[0].key.as_str()), ("age", x));
        assert_eq!(h.must_rotate.len(), 2, "everything current is harvestable");
        // X25519 removed keeping the data key (updatekeys): safe now, `a` must still rotate.
        let migrated = [
            rev("c3", &[("a", "A"), ("b", "B3")], &[&pq]),
            rev("c2", &[("a", "A"), ("b", "B2")], &[x, &pq]),
            rev("c1", &[("a", "A"), ("b", "B1")], &[x]),
        ];
        let mut out = QuantumReport::default();
        let mut h = crate::exposure::Exposure::default();
        file_report("s.yaml", store, &migrated, None, &mut out, &mut h);
        assert!(out.files[0].post_quantum && out.plan.replace.is_empty());
        let must: Vec<(&str, &str)> =
            h.must_rotate.iter().map(|e| (e.path.as_str(), e.since_commit.as_str())).collect();
        assert_eq!(must, [("[\"a\"]", "c1")]);
        assert_eq!(h.unknown.len(), 1, "b: a new ciphertext, no key to compare");
        assert_eq!((h.revisions_read, h.revisions_exposed), (3, 2));
    }

    #[test]
    fn wraps_by_what_they_rest_on() {
        let pq = format!("age1pq1{}", "q".repeat(1950));
        assert_eq!(wrap_of(&age(&pq)).0, Wrap::PostQuantum);
        assert_eq!(wrap_of(&age("age1zhwfff0qls0z6yhypyv7c9t4hawqf6uaw2yy3hw0xghnjuzgryzqqsc6ae")).0, Wrap::Classical);
        assert_eq!(wrap_of(&age("ssh-ed25519 AAAAC3Nza")).0, Wrap::Classical);
        assert_eq!(wrap_of(&age("age1yubikey1qwerty")).0, Wrap::Unknown);
        assert_eq!(wrap_of(&MasterKey::new("hc_vault", &[("key_name", "k")])).0, Wrap::Symmetric);
        assert_eq!(wrap_of(&MasterKey::new("azure_kv", &[("name", "k")])).0, Wrap::Classical);
        assert_eq!(wrap_of(&MasterKey::new("fortanix_dsm", &[("id", "k")])).0, Wrap::Unknown);
    }
}
