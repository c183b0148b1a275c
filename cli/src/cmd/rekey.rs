//! rotate (new data key) and updatekeys (re-wrap for the current rules), for one file
//! or a whole tree (`-r DIR`). The work is `tresor_keys::rekey`; this reads the files,
//! asks, shows progress and writes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tresor_sops::codes;

use anyhow::Result;
use tresor_keys::rekey::{self, Encrypted, RotateJob, UpdateJob};
use tresor_keys::{sops_compatibility, KeySpec, Keyring};

use super::crypt::input_store;
use crate::args::{RotateArgs, UpdatekeysArgs};
use crate::exit::fail;
use crate::fileio;

mod campaign;

fn read_encrypted(input_type: Option<&str>, path: &Path) -> Result<Encrypted> {
    let store = input_store(input_type, Some(path), None)?;
    let src = fileio::read_bytes(Some(path))?;
    let meta = store.metadata(&src)?;
    Ok(Encrypted { path: path.to_path_buf(), store, src, meta })
}

fn targets(files: &[PathBuf], recursive: &Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut all = files.to_vec();
    if let Some(dir) = recursive {
        all.extend(rekey::find_encrypted(dir)?);
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

pub(crate) struct Outcome {
    changed: usize,
    unchanged: usize,
    failed: Vec<(PathBuf, String, i32)>,
}

impl Outcome {
    /// Record a failed file with its message and exit code.
    /// Write each file's new bytes in place (atomically, refusing a file changed meanwhile),
    /// counting what was written or failed; the key changes of the files written.
    fn write_back<'a>(
        &mut self,
        files: impl Iterator<Item = (&'a Encrypted, &'a [Vec<KeySpec>])>,
        results: Vec<Result<Vec<u8>, rekey::RekeyError>>,
        mut each: impl FnMut(),
    ) -> Vec<KeyChange> {
        let mut changes = Vec::new();
        for ((file, groups), result) in files.zip(results) {
            let written = result
                .map_err(anyhow::Error::from)
                .and_then(|out| fileio::write_atomic_unchanged(&file.path, &file.src, &out));
            match written {
                Ok(()) => {
                    self.changed += 1;
                    changes.push(KeyChange::of(file, groups));
                }
                Err(e) => self.fail(&file.path, &e),
            }
            each();
        }
        changes
    }

    fn fail(&mut self, path: &Path, e: &anyhow::Error) {
        self.failed.push((path.to_path_buf(), format!("{e:#}"), crate::exit::code(e)));
    }

    /// Print the failures and a summary; the exit code is the first failure's (sops'
    /// code for its cause), 0 when none failed.
    pub(crate) fn report(&self, verb: &str) -> i32 {
        self.report_under(verb, None)
    }

    /// As [`Outcome::report`], files named as `REPOSITORY:PATH` relative to `root` (a
    /// campaign's temporary work tree means nothing to the reader).
    pub(crate) fn report_under(&self, verb: &str, root: Option<(&Path, &str)>) -> i32 {
        for (p, e, _) in &self.failed {
            match root {
                Some((top, repo)) => eprintln!(
                    "tresor: error: {}:{}: {e}",
                    crate::exit::clean(repo),
                    crate::exit::clean(&p.strip_prefix(top).unwrap_or(p).display().to_string())
                ),
                None => eprintln!("tresor: error: {}: {e}", crate::exit::clean(&p.display().to_string())),
            }
        }
        eprintln!(
            "tresor: {verb} {} file(s), {} unchanged, {} failed",
            self.changed,
            self.unchanged,
            self.failed.len()
        );
        self.failed.first().map_or(0, |(_, _, code)| *code)
    }
}

pub(crate) fn updatekeys(a: UpdatekeysArgs) -> Result<i32> {
    if let Some(list) = &a.campaign.repos {
        if !a.yes {
            return Err(fail(codes::ERROR_CONFLICTING_PARAMETERS, "--repos changes many repositories: pass --yes"));
        }
        let opts = campaign::Options {
            list,
            branch: a.campaign.branch.as_deref(),
            shard: a.campaign.shard.as_deref(),
            summary: a.campaign.summary.as_deref(),
        };
        return campaign::run(
            &opts,
            "updatekeys",
            "re-wrapped for .sops.yaml; data keys and values unchanged",
            &|files| update_files(&a, files),
        );
    }
    let files = targets(&a.files, &a.recursive)?;
    let (outcome, _) = update_files(&a, &files)?;
    Ok(outcome.report("updated"))
}

/// What `updatekeys` changed in one file: the keys added and removed, described.
pub(crate) struct KeyChange {
    pub path: PathBuf,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl KeyChange {
    /// What writing `file` with `groups` changes in who can unwrap it, described.
    fn of(file: &Encrypted, groups: &[Vec<KeySpec>]) -> KeyChange {
        let old: Vec<String> =
            file.meta.all_keys().map(|k| format!("{} {}", k.kind(), tresor_keys::service::describe_key(k))).collect();
        let new: Vec<String> = groups.iter().flatten().map(KeySpec::describe).collect();
        KeyChange {
            path: file.path.clone(),
            added: new.iter().filter(|k| !old.contains(k)).cloned().collect(),
            removed: old.iter().filter(|k| !new.contains(k)).cloned().collect(),
        }
    }
}

/// Re-wrap `files` for their rules (asking first unless `--yes`): the outcome and, per file
/// written, the keys added and removed.
fn update_files(a: &UpdatekeysArgs, files: &[PathBuf]) -> Result<(Outcome, Vec<KeyChange>)> {
    let pb = progress(files.len(), "updatekeys");
    let mut outcome = Outcome { changed: 0, unchanged: 0, failed: Vec::new() };
    // Pass 1: read every file and decide what it needs.
    let mut jobs = Vec::new();
    for path in files {
        let prepared = (|| -> Result<Option<UpdateJob>> {
            let file = read_encrypted(a.input_type.as_deref(), path)?;
            let cfg = tresor_config::for_file(path, a.config.as_deref())?.ok_or_else(|| {
                fail(codes::CONFIG_FILE_NOT_FOUND, format!("no .sops.yaml found above {}", path.display()))
            })?;
            let rule = cfg.rule_for(path)?;
            let groups = rule.key_groups.clone();
            let threshold = rekey::effective_threshold(groups.len(), rule.shamir_threshold);
            if rekey::has_keys(&file.meta, &groups, threshold) {
                return Ok(None);
            }
            Ok(Some(UpdateJob { file, groups, threshold }))
        })();
        match prepared {
            Ok(Some(job)) => jobs.push(job),
            Ok(None) => {
                outcome.unchanged += 1;
                pb.inc(1);
            }
            Err(e) => {
                outcome.fail(path, &e);
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
            let old: Vec<String> = j
                .file
                .meta
                .all_keys()
                .map(|k| format!("{} {}", k.kind(), tresor_keys::service::describe_key(k)))
                .collect();
            let new: Vec<String> = j.groups.iter().flatten().map(KeySpec::describe).collect();
            eprintln!("{}:\n  - {}\n  + {}", j.file.path.display(), old.join("\n  - "), new.join("\n  + "));
        }
        eprint!("Update {} file(s)? [y/N] ", jobs.len());
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Err(fail(codes::ERROR_GENERIC, "not confirmed: nothing changed"));
        }
    }
    let mut warned = std::collections::BTreeSet::new();
    for j in &jobs {
        if let Some(w) = sops_compatibility(&j.groups, j.threshold).filter(|w| warned.insert(w.clone())) {
            eprintln!("tresor: warning: {w}");
        }
    }
    // Pass 2: data keys and wrapping, batched across files.
    let results = rekey::update_keys(&Keyring::new(), &jobs);
    let changes = outcome.write_back(jobs.iter().map(|j| (&j.file, &j.groups[..])), results, || pb.inc(1));
    pb.finish_and_clear();
    Ok((outcome, changes))
}

/// Rotate `files` in place (a campaign's step): the outcome and, per file written, the keys
/// added and removed (the data key is new in every one).
fn rotate_files(a: &RotateArgs, files: &[PathBuf]) -> Result<(Outcome, Vec<KeyChange>)> {
    let add = crate::keys::specs(&a.add_flags())?;
    let remove = crate::keys::specs(&a.rm_flags())?;
    let mut outcome = Outcome { changed: 0, unchanged: 0, failed: Vec::new() };
    let mut jobs = Vec::new();
    for path in files {
        let job = (|| -> Result<RotateJob> {
            let file = read_encrypted(a.input_type.as_deref(), path)?;
            let (groups, _) = rekey::rotation_groups(&file.meta, &add, &remove, a.drop_unsupported_keys)?;
            Ok(RotateJob { file, groups })
        })();
        match job {
            Ok(j) => jobs.push(j),
            Err(e) => outcome.fail(path, &e),
        }
    }
    let results = rekey::rotate(&Keyring::new(), &jobs);
    let changes = outcome.write_back(jobs.iter().map(|j| (&j.file, &j.groups[..])), results, || {});
    Ok((outcome, changes))
}

pub(crate) fn rotate(a: RotateArgs) -> Result<i32> {
    if let Some(list) = &a.campaign.repos {
        let opts = campaign::Options {
            list,
            branch: a.campaign.branch.as_deref(),
            shard: a.campaign.shard.as_deref(),
            summary: a.campaign.summary.as_deref(),
        };
        return campaign::run(&opts, "rotate", "a new data key, every value re-encrypted", &|files| {
            rotate_files(&a, files)
        });
    }
    let files = targets(&a.files, &a.recursive)?;
    let in_place = a.in_place || a.recursive.is_some() || files.len() > 1;
    let add = crate::keys::specs(&a.add_flags())?;
    let remove = crate::keys::specs(&a.rm_flags())?;
    let pb = progress(files.len(), "rotate");
    let mut failed: Vec<(PathBuf, anyhow::Error)> = Vec::new();
    // 1. Read every file and decide its keys.
    let mut jobs = Vec::new();
    for path in &files {
        let job = (|| -> Result<RotateJob> {
            let file = read_encrypted(a.input_type.as_deref(), path)?;
            let (groups, dropped) = rekey::rotation_groups(&file.meta, &add, &remove, a.drop_unsupported_keys)?;
            if !dropped.is_empty() {
                eprintln!(
                    "tresor: warning: {}: dropping keys tresor cannot wrap for: {}",
                    path.display(),
                    dropped.join(", ")
                );
            }
            Ok(RotateJob { file, groups })
        })();
        match job {
            Ok(j) => jobs.push(j),
            Err(e) => failed.push((path.clone(), e)),
        }
    }
    // 2. Old data keys, decrypt, new data keys wrapped and values re-encrypted.
    let results = rekey::rotate(&Keyring::new(), &jobs);
    let mut changed = 0;
    for (job, result) in jobs.iter().zip(results) {
        let written = result.map_err(anyhow::Error::from).and_then(|out| {
            if in_place {
                fileio::write_atomic_unchanged(&job.file.path, &job.file.src, &out)
            } else {
                crate::fileio::Sink::Stdout.write_bytes(&out, 0o644)
            }
        });
        match written {
            Ok(()) => changed += 1,
            Err(e) => failed.push((job.file.path.clone(), e)),
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
    let mut outcome = Outcome { changed, unchanged: 0, failed: Vec::new() };
    for (p, e) in &failed {
        outcome.fail(p, e);
    }
    Ok(outcome.report("rotated"))
}
