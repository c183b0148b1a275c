//! rotate (new data key) and updatekeys (re-wrap for the current rules), for one file
//! or a whole tree (`-r DIR`), with remote key calls batched per key.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_keys::groups::spec_of;
use tresor_keys::{sops_compatibility, KeySpec, Keyring};
use tresor_sops::metadata::{KeyGroup, MasterKey};
use tresor_sops::store::{self, Store};
use tresor_sops::{DataKey, DecryptOptions, EncryptOptions, Metadata};

use super::crypt::input_store;
use crate::args::{RotateArgs, UpdatekeysArgs};
use crate::exit::fail;
use crate::fileio;

/// Encrypted files of every store under `dir` (hidden entries skipped), found by their
/// metadata, sorted.
pub(crate) fn find_encrypted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let p = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && is_encrypted_file(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file that holds SOPS metadata in the store its name picks.
pub(crate) fn is_encrypted_file(p: &Path) -> bool {
    // Discovery reads every file under a tree: skip what is too large to be a SOPS file
    // anyone keeps in Git (64 MiB), rather than read a disk image whole to find out.
    if std::fs::metadata(p).map_or(true, |m| m.len() > 64 << 20) {
        return false;
    }
    let Ok(src) = std::fs::read(p) else { return false };
    store::is_encrypted(&p.to_string_lossy(), &src)
}

fn targets(files: &[PathBuf], recursive: &Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut all = files.to_vec();
    if let Some(dir) = recursive {
        all.extend(find_encrypted(dir)?);
    }
    if all.is_empty() {
        return Err(fail(codes::NO_FILE_SPECIFIED, "no files given (pass FILE… or -r DIR)"));
    }
    Ok(all)
}

fn progress(len: usize, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(Some(len as u64), indicatif::ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() || len < 2 {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap()
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// The key specs of a file's groups (foreign keys cannot be re-wrapped and are dropped).
fn current_specs(meta: &Metadata) -> Vec<Vec<KeySpec>> {
    meta.key_groups.iter().map(|g| g.keys.iter().filter_map(spec_of).collect()).collect()
}

struct Outcome {
    changed: usize,
    unchanged: usize,
    failed: Vec<(PathBuf, String)>,
}

impl Outcome {
    fn report(&self, verb: &str) -> i32 {
        for (p, e) in &self.failed {
            eprintln!("tresor: error: {}: {e}", p.display());
        }
        eprintln!(
            "tresor: {verb} {} file(s), {} unchanged, {} failed",
            self.changed,
            self.unchanged,
            self.failed.len()
        );
        if self.failed.is_empty() {
            0
        } else {
            128
        }
    }
}

pub(crate) fn updatekeys(a: UpdatekeysArgs) -> Result<i32> {
    let files = targets(&a.files, &a.recursive)?;
    let pb = progress(files.len(), "updatekeys");
    let mut outcome = Outcome { changed: 0, unchanged: 0, failed: Vec::new() };
    // Pass 1: read every file and decide what it needs.
    struct Job {
        path: PathBuf,
        src: Vec<u8>,
        store: &'static dyn Store,
        meta: Metadata,
        groups: Vec<Vec<KeySpec>>,
        threshold: usize,
    }
    let mut jobs = Vec::new();
    for path in &files {
        let prepared = (|| -> Result<Option<Job>> {
            let store = input_store(a.input_type.as_deref(), Some(path), None)?;
            let src = fileio::read_bytes(Some(path))?;
            let meta = store.metadata(&src)?;
            let cfg = tresor_config::for_file(path, a.config.as_deref())?.ok_or_else(|| {
                fail(codes::CONFIG_FILE_NOT_FOUND, format!("no .sops.yaml found above {}", path.display()))
            })?;
            let rule = cfg.rule_for(path)?;
            let groups = rule.key_groups.clone();
            let threshold = if groups.len() > 1 {
                if rule.shamir_threshold == 0 {
                    groups.len()
                } else {
                    rule.shamir_threshold
                }
            } else {
                0
            };
            let current = current_specs(&meta);
            let same = current.len() == groups.len()
                && current.iter().zip(&groups).all(|(c, g)| c.len() == g.len() && g.iter().all(|k| c.contains(k)))
                && meta.key_groups.iter().all(|g| g.keys.iter().all(|k| spec_of(k).is_some()))
                && (groups.len() < 2 || meta.shamir_threshold == threshold);
            if same {
                return Ok(None);
            }
            Ok(Some(Job { path: path.clone(), src, store, meta, groups, threshold }))
        })();
        match prepared {
            Ok(Some(job)) => jobs.push(job),
            Ok(None) => {
                outcome.unchanged += 1;
                pb.inc(1);
            }
            Err(e) => {
                outcome.failed.push((path.clone(), format!("{e:#}")));
                pb.inc(1);
            }
        }
    }
    if !jobs.is_empty() && !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(fail(
                codes::ERROR_GENERIC,
                format!("{} file(s) need new keys; pass --yes to update them non-interactively", jobs.len()),
            ));
        }
        for j in &jobs {
            let old: Vec<String> = j.meta.all_keys().map(|k| format!("{} {}", k.kind(), k.id())).collect();
            let new: Vec<String> = j.groups.iter().flatten().map(KeySpec::describe).collect();
            eprintln!("{}:\n  - {}\n  + {}", j.path.display(), old.join("\n  - "), new.join("\n  + "));
        }
        eprint!("Update {} file(s)? [y/N] ", jobs.len());
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            eprintln!("tresor: nothing changed");
            return Ok(1);
        }
    }
    // Pass 2: data keys, batched (local age first, then one transit call per key).
    let keyring = Keyring::new();
    let metas: Vec<&Metadata> = jobs.iter().map(|j| &j.meta).collect();
    let keys = keyring.data_keys(&metas);
    // Pass 3: wrap per distinct plan, batched across files. With one key group before and
    // after, the data key is unchanged, so entries for keys the file already has are kept
    // as they are (a smaller diff) and only the missing keys are wrapped.
    let keep_existing = |j: &Job| j.groups.len() == 1 && j.meta.key_groups.len() == 1;
    let missing = |j: &Job| -> Vec<Vec<KeySpec>> {
        if keep_existing(j) {
            let have: Vec<KeySpec> = j.meta.all_keys().filter_map(spec_of).collect();
            vec![j.groups[0].iter().filter(|k| !have.contains(k)).cloned().collect()]
        } else {
            j.groups.clone()
        }
    };
    let mut by_plan: BTreeMap<String, Vec<(usize, DataKey)>> = BTreeMap::new();
    for (i, k) in keys.into_iter().enumerate() {
        match k {
            Ok(k) => by_plan
                .entry(format!("{:?}/{}/{:?}", jobs[i].groups, jobs[i].threshold, missing(&jobs[i])))
                .or_default()
                .push((i, k)),
            Err(e) => {
                outcome.failed.push((jobs[i].path.clone(), e.to_string()));
                pb.inc(1);
            }
        }
    }
    for (_, members) in by_plan {
        let first = &jobs[members[0].0];
        if let Some(w) = sops_compatibility(&first.groups, first.threshold) {
            eprintln!("tresor: warning: {w}");
        }
        let to_wrap = missing(first);
        let dks: Vec<&DataKey> = members.iter().map(|(_, k)| k).collect();
        let wrapped = if to_wrap.iter().all(|g| g.is_empty()) {
            Ok(vec![vec![KeyGroup::default()]; dks.len()])
        } else {
            keyring.wrap_many(&to_wrap, first.threshold, &dks)
        };
        let wrapped = match wrapped {
            Ok(w) => w,
            Err(e) => {
                for (i, _) in &members {
                    outcome.failed.push((jobs[*i].path.clone(), e.to_string()));
                    pb.inc(1);
                }
                continue;
            }
        };
        for ((i, _), groups) in members.iter().zip(wrapped) {
            let job = &jobs[*i];
            let mut meta = job.meta.clone();
            meta.key_groups = if keep_existing(job) {
                // Rule order: existing entries where present, fresh ones for the rest.
                let fresh: Vec<MasterKey> = groups.into_iter().flat_map(|g| g.keys).collect();
                let keys = job.groups[0]
                    .iter()
                    .filter_map(|spec| {
                        job.meta
                            .all_keys()
                            .find(|k| spec_of(k).as_ref() == Some(spec))
                            .or_else(|| fresh.iter().find(|k| spec_of(k).as_ref() == Some(spec)))
                            .cloned()
                    })
                    .collect();
                vec![KeyGroup { keys }]
            } else {
                groups
            };
            meta.shamir_threshold = job.threshold;
            let result = job
                .store
                .replace_metadata(&job.src, &meta)
                .map_err(anyhow::Error::from)
                .and_then(|out| fileio::write_atomic_unchanged(&job.path, &job.src, &out));
            match result {
                Ok(()) => outcome.changed += 1,
                Err(e) => outcome.failed.push((job.path.clone(), format!("{e:#}"))),
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(outcome.report("updated"))
}

fn adjust(groups: &mut [Vec<KeySpec>], add: Vec<KeySpec>, remove: &[KeySpec]) -> Result<()> {
    if (groups.len() > 1) && !add.is_empty() {
        return Err(fail(
            codes::ERROR_GENERIC,
            "--add-* works on files with one key group; edit .sops.yaml and run updatekeys for key groups",
        ));
    }
    for g in groups.iter_mut() {
        g.retain(|k| !remove.contains(k));
    }
    if let Some(g) = groups.first_mut() {
        for k in add {
            if !g.contains(&k) {
                g.push(k);
            }
        }
    }
    Ok(())
}

fn specs(age: &[String], vault: &[String], okms: &[String], pgp: &[String]) -> Result<Vec<KeySpec>> {
    let mut v: Vec<KeySpec> =
        age.iter().filter(|s| !s.trim().is_empty()).map(|s| KeySpec::Age(s.trim().to_string())).collect();
    v.extend(pgp.iter().filter(|s| !s.trim().is_empty()).map(|s| KeySpec::Pgp(s.trim().to_ascii_uppercase())));
    for u in vault {
        v.push(KeySpec::vault(u)?);
    }
    for u in okms {
        v.push(KeySpec::okms(u)?);
    }
    Ok(v)
}

pub(crate) fn rotate(a: RotateArgs) -> Result<i32> {
    let files = targets(&a.files, &a.recursive)?;
    let in_place = a.in_place || a.recursive.is_some() || files.len() > 1;
    let add = specs(&a.add_age, &a.add_vault, &a.add_okms, &a.add_pgp)?;
    let remove = specs(&a.rm_age, &a.rm_vault, &a.rm_okms, &a.rm_pgp)?;
    let keyring = Keyring::new();
    let pb = progress(files.len(), "rotate");
    let mut failed: Vec<(PathBuf, anyhow::Error)> = Vec::new();
    struct Job {
        path: PathBuf,
        store: &'static dyn Store,
        src: Vec<u8>,
        meta: Metadata,
        groups: Vec<Vec<KeySpec>>,
    }
    // 1. Read every file and decide its keys.
    let mut jobs = Vec::new();
    for path in &files {
        let job = (|| -> Result<Job> {
            let store = input_store(a.input_type.as_deref(), Some(path), None)?;
            let src = fileio::read_bytes(Some(path))?;
            let meta = store.metadata(&src)?;
            if meta.key_groups.iter().any(|g| g.keys.iter().any(|k| matches!(k, MasterKey::Foreign { .. }))) {
                eprintln!(
                    "tresor: warning: {}: keys of types tresor cannot use (cloud KMS) are dropped by rotation",
                    path.display()
                );
            }
            let mut groups = current_specs(&meta);
            adjust(&mut groups, add.clone(), &remove)?;
            Ok(Job { path: path.clone(), store, src, meta, groups })
        })();
        match job {
            Ok(j) => jobs.push(j),
            Err(e) => failed.push((path.clone(), e)),
        }
    }
    // 2. Old data keys, batched (local age first, one transit call per key for the rest).
    let metas: Vec<&Metadata> = jobs.iter().map(|j| &j.meta).collect();
    let old_keys = keyring.data_keys(&metas);
    // 3. Decrypt and draw new data keys.
    let mut ready = Vec::new();
    for (job, old) in jobs.into_iter().zip(old_keys) {
        let decrypted = old.map_err(anyhow::Error::from).and_then(|k| {
            Ok(job.store.decrypt(&job.src, &job.meta, &k, DecryptOptions { ignore_mac: false, keep_ivs: true })?)
        });
        match decrypted {
            Ok(d) => ready.push((job, d, DataKey::generate())),
            Err(e) => failed.push((job.path.clone(), e)),
        }
    }
    // 4. Wrap the new keys, one batched call per remote key and plan.
    let mut by_plan: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (job, _, _)) in ready.iter().enumerate() {
        by_plan.entry(format!("{:?}/{}", job.groups, job.meta.shamir_threshold)).or_default().push(i);
    }
    let mut wrapped: Vec<Option<Vec<KeyGroup>>> = vec![None; ready.len()];
    for members in by_plan.values() {
        let first = &ready[members[0]].0;
        let keys: Vec<&DataKey> = members.iter().map(|&i| &ready[i].2).collect();
        match keyring.wrap_many(&first.groups, first.meta.shamir_threshold, &keys) {
            Ok(groups) => {
                for (&i, g) in members.iter().zip(groups) {
                    wrapped[i] = Some(g);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for &i in members {
                    failed.push((ready[i].0.path.clone(), anyhow::anyhow!("{msg}")));
                }
            }
        }
    }
    // 5. Re-encrypt every value under the new key and write.
    let mut changed = 0;
    for ((job, d, new_key), key_groups) in ready.into_iter().zip(wrapped) {
        let Some(key_groups) = key_groups else { continue };
        let result = (|| -> Result<()> {
            let meta = Metadata { key_groups, layout: None, ..job.meta.clone() };
            // sops reuses the IVs on rotate; under a new key that is harmless, and it keeps
            // the IV column of the diff stable.
            let out = job.store.encrypt(&d.bytes, &new_key, meta, &EncryptOptions { stash: Some(&d.stash) })?;
            if in_place {
                fileio::write_atomic_unchanged(&job.path, &job.src, &out)
            } else {
                crate::fileio::Sink::Stdout.write_bytes(&out, 0o644)
            }
        })();
        match result {
            Ok(()) => changed += 1,
            Err(e) => failed.push((job.path.clone(), e)),
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    if !in_place {
        // One file to stdout: report its error with its own exit code.
        if let Some((_, e)) = failed.into_iter().next() {
            return Err(e);
        }
        return Ok(0);
    }
    let outcome =
        Outcome { changed, unchanged: 0, failed: failed.into_iter().map(|(p, e)| (p, format!("{e:#}"))).collect() };
    Ok(outcome.report("rotated"))
}
