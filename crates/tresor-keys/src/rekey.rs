//! Whole-file key operations for many files at once: `updatekeys` (wrap the same data key
//! for the keys a rule now names) and `rotate` (a new data key, every value re-encrypted).
//! Remote calls are batched per key across files. Callers read the files, find the rules,
//! confirm with the user and write the results; nothing here touches the terminal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tresor_sops::metadata::{KeyGroup, MasterKey, Metadata};
use tresor_sops::store::{self, Store};
use tresor_sops::{DataKey, DecryptOptions, EncryptOptions, SopsError};

use crate::error::KeyError;
use crate::groups::Keyring;
use crate::service::KeySpec;

/// An encrypted file read into memory.
pub struct Encrypted {
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// The store that reads it.
    pub store: &'static dyn Store,
    /// Its bytes.
    pub src: Vec<u8>,
    /// Its metadata.
    pub meta: Metadata,
}

/// Why one file could not be re-keyed.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    /// The data key could not be recovered or wrapped.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The file could not be decrypted or written back.
    #[error(transparent)]
    Sops(#[from] SopsError),
    /// Wrapping for a set of keys failed; shared by every file that needed that set.
    #[error(transparent)]
    Wrap(std::sync::Arc<KeyError>),
    /// Rotation cannot re-wrap the new data key for these keys.
    #[error("cannot rotate: tresor has no client for {0}; their entries would keep the old data key (pass --drop-unsupported-keys to remove them)")]
    Unsupported(String),
}

impl RekeyError {
    /// sops' exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            RekeyError::Key(e) => e.exit_code(),
            RekeyError::Wrap(e) => e.exit_code(),
            RekeyError::Sops(e) => e.exit_code(),
            RekeyError::Unsupported(_) => tresor_sops::codes::ERROR_GENERIC,
        }
    }

    /// The key error inside, if any (for hints).
    pub fn key_error(&self) -> Option<&KeyError> {
        match self {
            RekeyError::Key(e) => Some(e),
            RekeyError::Wrap(e) => Some(e),
            _ => None,
        }
    }
}

/// Files that share the same keys to wrap for (and threshold) are wrapped together.
type Plan = (Vec<Vec<KeySpec>>, usize);

/// The key specs of a file's groups, one list per group (entries that name no key, e.g.
/// with fields missing, are left out).
pub fn current_specs(meta: &Metadata) -> Vec<Vec<KeySpec>> {
    meta.key_groups.iter().map(|g| g.keys.iter().filter_map(KeySpec::of).collect()).collect()
}

/// The threshold to record for `groups` under a rule's `shamir_threshold` (0 = all).
pub fn effective_threshold(groups: usize, rule_threshold: usize) -> usize {
    match (groups, rule_threshold) {
        (0 | 1, _) => 0,
        (n, 0) => n,
        (_, t) => t,
    }
}

/// Does `meta` already hold exactly these groups (in any order within a group) and
/// threshold, with every entry naming its key?
pub fn has_keys(meta: &Metadata, groups: &[Vec<KeySpec>], threshold: usize) -> bool {
    let current = current_specs(meta);
    // Every entry names its key when no entry was left out of `current`.
    let all_named = current.iter().map(Vec::len).sum::<usize>() == meta.all_keys().count();
    current.len() == groups.len()
        && current.iter().zip(groups).all(|(c, g)| c.len() == g.len() && g.iter().all(|k| c.contains(k)))
        && all_named
        && (groups.len() < 2 || meta.shamir_threshold == threshold)
}

/// One `updatekeys` job: a file and the groups its rule names.
pub struct UpdateJob {
    /// The file.
    pub file: Encrypted,
    /// The groups its rule names.
    pub groups: Vec<Vec<KeySpec>>,
    /// The threshold for them ([`effective_threshold`]).
    pub threshold: usize,
}

impl UpdateJob {
    /// One group before and after: the data key stays, so entries for keys the file
    /// already has are kept as they are (byte-for-byte, whatever their kind, also kinds
    /// tresor has no client for) and only the missing keys are wrapped.
    fn keeps_entries(&self) -> bool {
        self.groups.len() == 1 && self.file.meta.key_groups.len() == 1
    }

    fn to_wrap(&self) -> Vec<Vec<KeySpec>> {
        if self.keeps_entries() {
            let have: Vec<KeySpec> = self.file.meta.all_keys().filter_map(KeySpec::of).collect();
            vec![self.groups[0].iter().filter(|k| !have.contains(k)).cloned().collect()]
        } else {
            self.groups.clone()
        }
    }

    fn new_metadata(&self, wrapped: Vec<KeyGroup>) -> Metadata {
        let mut meta = self.file.meta.clone();
        meta.key_groups = if self.keeps_entries() {
            // Rule order: existing entries where present, fresh ones for the rest.
            let fresh: Vec<MasterKey> = wrapped.into_iter().flat_map(|g| g.keys).collect();
            let pick = |spec: &KeySpec| {
                self.file
                    .meta
                    .all_keys()
                    .find(|k| KeySpec::of(k).as_ref() == Some(spec))
                    .or_else(|| fresh.iter().find(|k| KeySpec::of(k).as_ref() == Some(spec)))
                    .cloned()
            };
            vec![KeyGroup { keys: self.groups[0].iter().filter_map(pick).collect() }]
        } else {
            wrapped
        };
        meta.shamir_threshold = self.threshold;
        meta
    }
}

/// `updatekeys` for many files: the new file bytes (only the metadata changes), or why
/// not, per job in order. Data keys are recovered in one batch (local keys first), and
/// each distinct set of keys to add is wrapped once per key for all files that need it.
pub fn update_keys(keyring: &Keyring, jobs: &[UpdateJob]) -> Vec<Result<Vec<u8>, RekeyError>> {
    let metas: Vec<&Metadata> = jobs.iter().map(|j| &j.file.meta).collect();
    let keys = keyring.data_keys(&metas);
    let mut out: Vec<Option<Result<Vec<u8>, RekeyError>>> = jobs.iter().map(|_| None).collect();
    let mut by_plan: BTreeMap<Plan, Vec<(usize, DataKey)>> = BTreeMap::new();
    for (i, k) in keys.into_iter().enumerate() {
        match k {
            Ok(k) => by_plan.entry((jobs[i].to_wrap(), jobs[i].threshold)).or_default().push((i, k)),
            Err(e) => out[i] = Some(Err(e.into())),
        }
    }
    for ((to_wrap, threshold), members) in by_plan {
        let dks: Vec<&DataKey> = members.iter().map(|(_, k)| k).collect();
        let wrapped = if to_wrap.iter().all(Vec::is_empty) {
            Ok(vec![vec![KeyGroup::default()]; dks.len()])
        } else {
            keyring.wrap_many(&to_wrap, threshold, &dks)
        };
        match wrapped {
            Ok(w) => {
                for ((i, _), groups) in members.iter().zip(w) {
                    let job = &jobs[*i];
                    let meta = job.new_metadata(groups);
                    out[*i] = Some(job.file.store.replace_metadata(&job.file.src, &meta).map_err(Into::into));
                }
            }
            Err(e) => {
                let e = std::sync::Arc::new(e);
                for (i, _) in &members {
                    out[*i] = Some(Err(RekeyError::Wrap(e.clone())));
                }
            }
        }
    }
    out.into_iter().map(|r| r.expect("every job has a result")).collect()
}

/// One `rotate` job: a file and the groups its new data key is wrapped for.
pub struct RotateJob {
    /// The file.
    pub file: Encrypted,
    /// The groups after adding and removing keys.
    pub groups: Vec<Vec<KeySpec>>,
}

/// The groups of `meta` with `add` appended to the (single) group and `remove` taken out
/// of all; keys of kinds tresor has no client for are refused, or removed with
/// `drop_unsupported` (returned so the caller can say which).
pub fn rotation_groups(
    meta: &Metadata,
    add: &[KeySpec],
    remove: &[KeySpec],
    drop_unsupported: bool,
) -> Result<(Vec<Vec<KeySpec>>, Vec<String>), RekeyError> {
    let mut groups = current_specs(meta);
    if groups.len() > 1 && !add.is_empty() {
        return Err(RekeyError::Key(KeyError::BadKey {
            kind: add[0].kind().into(),
            why: "--add-* works on files with one key group; edit .sops.yaml and run updatekeys for key groups".into(),
        }));
    }
    for g in groups.iter_mut() {
        g.retain(|k| !remove.contains(k));
    }
    if let Some(g) = groups.first_mut() {
        for k in add {
            if !g.contains(k) {
                g.push(k.clone());
            }
        }
    }
    let mut unusable: Vec<String> =
        groups.iter().flatten().filter(|k| !k.row().served).map(KeySpec::describe).collect();
    // Entries of a kind no version of tresor knows (a key type a newer sops added) are not
    // in `groups` at all: a new data key would silently leave them behind.
    unusable.extend(
        meta.all_keys()
            .filter(|k| KeySpec::of(k).is_none())
            .map(|k| format!("{} (a key kind tresor does not know)", k.kind())),
    );
    if !unusable.is_empty() {
        if !drop_unsupported {
            return Err(RekeyError::Unsupported(unusable.join(", ")));
        }
        for g in groups.iter_mut() {
            g.retain(|k| k.row().served);
        }
    }
    Ok((groups, unusable))
}

/// `rotate` for many files: each file decrypted with its old data key and encrypted
/// again under a new one, wrapped for its groups (one batched call per remote key and
/// plan). The new file bytes, or why not, per job in order.
pub fn rotate(keyring: &Keyring, jobs: &[RotateJob]) -> Vec<Result<Vec<u8>, RekeyError>> {
    let metas: Vec<&Metadata> = jobs.iter().map(|j| &j.file.meta).collect();
    let old_keys = keyring.data_keys(&metas);
    let mut out: Vec<Option<Result<Vec<u8>, RekeyError>>> = jobs.iter().map(|_| None).collect();
    let mut ready = Vec::new();
    for (i, old) in old_keys.into_iter().enumerate() {
        let f = &jobs[i].file;
        let decrypted = old.map_err(RekeyError::from).and_then(|k| {
            Ok(f.store.decrypt(&f.src, &f.meta, &k, DecryptOptions { ignore_mac: false, keep_ivs: true })?)
        });
        match decrypted {
            Ok(d) => ready.push((i, d, DataKey::generate())),
            Err(e) => out[i] = Some(Err(e)),
        }
    }
    let mut by_plan: BTreeMap<Plan, Vec<usize>> = BTreeMap::new();
    for (r, (i, _, _)) in ready.iter().enumerate() {
        by_plan.entry((jobs[*i].groups.clone(), jobs[*i].file.meta.shamir_threshold)).or_default().push(r);
    }
    for ((groups, threshold), members) in by_plan {
        let keys: Vec<&DataKey> = members.iter().map(|&r| &ready[r].2).collect();
        match keyring.wrap_many(&groups, threshold, &keys) {
            Ok(wrapped) => {
                for (&r, key_groups) in members.iter().zip(wrapped) {
                    let (i, d, new_key) = &ready[r];
                    let f = &jobs[*i].file;
                    let meta = Metadata { key_groups, layout: None, ..f.meta.clone() };
                    // sops reuses the IVs on rotate; under a new key that is harmless, and
                    // it keeps the IV column of the diff stable.
                    let opts = EncryptOptions { stash: Some(&d.stash) };
                    out[*i] = Some(f.store.encrypt(&d.bytes, new_key, meta, &opts).map_err(Into::into));
                }
            }
            Err(e) => {
                let e = std::sync::Arc::new(e);
                for &r in &members {
                    out[ready[r].0] = Some(Err(RekeyError::Wrap(e.clone())));
                }
            }
        }
    }
    out.into_iter().map(|r| r.expect("every job has a result")).collect()
}

/// Encrypted files of every store under `dir` (hidden entries skipped), found by their
/// SOPS metadata, sorted.
pub fn find_encrypted(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    files_under(dir, is_encrypted_file)
}

/// The files under `dir` that `keep` accepts, sorted; entries whose name starts with `.`
/// (`.git`, editor state) are skipped, as `find_encrypted` and the audit's ESO search
/// both want.
pub fn files_under(dir: &Path, keep: impl Fn(&Path) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", d.display())))?;
        for entry in entries {
            let entry = entry?;
            let p = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file that holds SOPS metadata in the store its name picks.
pub fn is_encrypted_file(p: &Path) -> bool {
    // Discovery reads every file under a tree: skip what is too large to be a SOPS file
    // anyone keeps in Git (64 MiB), rather than read a disk image whole to find out.
    if std::fs::metadata(p).map_or(true, |m| m.len() > 64 << 20) {
        return false;
    }
    let Ok(src) = std::fs::read(p) else { return false };
    store::is_encrypted(&p.to_string_lossy(), &src)
}
