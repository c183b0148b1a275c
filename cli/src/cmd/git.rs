//! git: the `tresor` diff driver (textconv), merge driver, mergetool, `tresor diff`, and
//! their set-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_sops::merge::{self, Version};
use tresor_sops::store::{Plain, Store};
use tresor_sops::{DataKey, DecryptOptions, Metadata, SopsError};

use super::crypt::{decrypt_text, input_store, open_encrypted, Opened};
use crate::args::{DiffArgs, GitAction, GitArgs};
use crate::exit::fail;
use crate::fileio::{self, Sink};

/// The command Git runs for the diff driver.
const TEXTCONV: &str = "tresor git textconv";
/// The command Git runs for the merge driver.
const MERGE_DRIVER: &str = "tresor git merge-driver %O %A %B %P";

pub(crate) fn git(a: GitArgs) -> Result<i32> {
    match a.action {
        GitAction::Textconv { file } => textconv(&file),
        GitAction::Setup { check, global, pattern } => setup(check, global, &pattern),
        GitAction::MergeDriver { base, ours, theirs, path } => Ok(merge_driver(&base, &ours, &theirs, &path)),
        GitAction::Mergetool { file, keys } => mergetool(&file, keys),
    }
}

/// Print one version of a file for `git diff`: decrypted when a key here opens it (to
/// stdout only: Git reads it from the pipe), else the keyless view. A file that is not
/// encrypted is printed as it is. Always exits 0 when the file was read: a failing textconv
/// would make `git diff` fail for everyone without the key.
fn textconv(file: &Path) -> Result<i32> {
    let name = file.display().to_string();
    // Git's temporary copy keeps the file's name at its end, so the format is known.
    let opened = open_encrypted(Some(file), None, None)?;
    Sink::Stdout.write(&review_view(&opened, &name), 0o600)?;
    Ok(0)
}

/// What a reviewer sees of one version: the plaintext for a key holder, the file as it is
/// when it is not encrypted, else the keyless view with a first line saying why.
fn review_view(opened: &Opened, name: &str) -> String {
    match decrypt_text(opened, DecryptOptions::default(), name) {
        Ok((d, _, _)) => String::from_utf8_lossy(&d.bytes).into_owned(),
        // Not encrypted (or not parseable as such): shown as it is.
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref(),
                    Some(SopsError::MetadataNotFound | SopsError::InvalidMetadata(_) | SopsError::Format(_))
                )
            }) =>
        {
            opened.text_lossy().into_owned()
        }
        Err(e) => {
            let why = format!("{e:#}");
            let first = why.lines().next().unwrap_or("").trim_start_matches("decrypting ").to_string();
            format!(
                "# tresor: shown without decrypting ({}); ciphertexts as digests\n{}",
                first.replace(name, "this file"),
                tresor_sops::summary::keyless(&opened.text_lossy())
            )
        }
    }
}

fn git_out(args: &[&str]) -> Result<(bool, String)> {
    let o = Command::new("git").args(args).output().context("running git")?;
    Ok((o.status.success(), String::from_utf8_lossy(&o.stdout).trim().to_string()))
}

/// Idempotent: the drivers in Git's config, and a `.gitattributes` line for every encrypted file
/// Git tracks or would add (untracked, not ignored), and every --pattern.
fn setup(check: bool, global: bool, patterns: &[String]) -> Result<i32> {
    let (ok, top) = git_out(&["rev-parse", "--show-toplevel"])?;
    if !ok && !global {
        return Err(fail(
            codes::COULD_NOT_READ_INPUT_FILE,
            "not inside a Git repository (use --global to configure the driver for every repository)",
        ));
    }
    let scope = if global { "--global" } else { "--local" };
    let mut missing = Vec::new();
    let settings = [
        ("diff.tresor.textconv", TEXTCONV),
        ("merge.tresor.name", "tresor: merge encrypted files value by value"),
        ("merge.tresor.driver", MERGE_DRIVER),
    ];
    for (key, value) in settings {
        let (_, current) = git_out(&["config", scope, "--get", key])?;
        if current != value {
            missing.push(format!("git config {scope} {key} '{value}'"));
            if !check {
                let (ok, _) = git_out(&["config", scope, key, value])?;
                if !ok {
                    return Err(fail(codes::ERROR_GENERIC, "git config failed"));
                }
            }
        }
    }
    if !top.is_empty() {
        let top = Path::new(&top);
        let mut wanted: Vec<String> = patterns.to_vec();
        let (_, tracked) = git_out(&[
            "-C",
            &top.display().to_string(),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])?;
        for rel in tracked.split('\0').filter(|r| !r.is_empty()) {
            if tresor_keys::rekey::is_encrypted_file(&top.join(rel)) {
                // Git attribute patterns treat spaces and these characters specially.
                wanted.push(format!("/{}", rel.replace(['\\', ' ', '*', '?', '['], "?")));
            }
        }
        let attrs_path = top.join(".gitattributes");
        let attrs = std::fs::read_to_string(&attrs_path).unwrap_or_default();
        let have: std::collections::HashSet<&str> = attrs.lines().map(str::trim).collect();
        let add: Vec<String> = wanted
            .iter()
            .map(|p| format!("{p} diff=tresor merge=tresor"))
            .filter(|l| !have.contains(l.as_str()))
            .collect();
        if !add.is_empty() {
            missing.extend(add.iter().map(|l| format!(".gitattributes: {l}")));
            if !check {
                // A line an earlier set-up wrote with the diff driver only is replaced.
                let old: std::collections::HashSet<String> =
                    add.iter().map(|l| l.trim_end_matches(" merge=tresor").to_string()).collect();
                let mut text: String =
                    attrs.lines().filter(|l| !old.contains(l.trim())).map(|l| format!("{l}\n")).collect();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                for l in &add {
                    text.push_str(l);
                    text.push('\n');
                }
                std::fs::write(&attrs_path, text).with_context(|| format!("writing {}", attrs_path.display()))?;
            }
        }
    }
    if check {
        for m in &missing {
            println!("missing: {m}");
        }
        return Ok(if missing.is_empty() { 0 } else { 1 });
    }
    for m in &missing {
        eprintln!("tresor: set {m}");
    }
    if missing.is_empty() {
        eprintln!("tresor: the diff and merge drivers are already set up");
    }
    Ok(0)
}

/// One version in a merge: decrypted, or a file that is not encrypted.
enum Loaded {
    Encrypted { d: Box<Plain>, meta: Box<Metadata>, key: DataKey, src: Vec<u8> },
    Plain(String),
}

impl Loaded {
    fn version(&self) -> Option<Version<'_>> {
        match self {
            Loaded::Encrypted { d, meta, key, src } => {
                Some(Version { plaintext: d.text().ok()?, metadata: meta, key, stash: &d.stash, src })
            }
            Loaded::Plain(_) => None,
        }
    }
}

/// What the repository's `.sops.yaml` (the one `tresor updatekeys` would use for this
/// path) asks of the file: the merge adopts a side's new keys or rules only when they are
/// exactly this.
struct RepoRules(Option<tresor_config::CreationRule>);

impl RepoRules {
    /// A `.sops.yaml` that cannot be read is reported and counts as none: the merge then
    /// adopts no change to keys or rules (the safe side), never a guess.
    fn for_path(path: &Path) -> RepoRules {
        match tresor_config::for_file(path, None) {
            Ok(Some(cfg)) => RepoRules(cfg.rule_for(path).ok().cloned()),
            Ok(None) => RepoRules(None),
            Err(e) => {
                eprintln!("tresor: {}: .sops.yaml not used for the merge: {e}", path.display());
                RepoRules(None)
            }
        }
    }
}

impl merge::Expected for RepoRules {
    fn keys(&self, meta: &Metadata) -> Option<bool> {
        let rule = self.0.as_ref()?;
        let threshold = tresor_keys::rekey::effective_threshold(rule.key_groups.len(), rule.shamir_threshold);
        Some(tresor_keys::rekey::has_keys(meta, &rule.key_groups, threshold))
    }
    fn rules(&self, meta: &Metadata) -> Option<bool> {
        let rule = self.0.as_ref()?;
        let wanted = rule.rule.clone().unwrap_or_default().field();
        Some(meta.rule.field() == wanted && meta.mac_only_encrypted == rule.mac_only_encrypted)
    }
}

/// Decrypt one version (keeping its IVs) or take it as plain text when it has no metadata.
fn load(src: String, store: &'static dyn Store, what: &str) -> Result<Loaded> {
    let opened = Opened { src: src.into_bytes(), store };
    match decrypt_text(&opened, DecryptOptions { ignore_mac: false, keep_ivs: true }, what) {
        Ok((d, meta, key)) => Ok(Loaded::Encrypted { d: Box::new(d), meta: Box::new(meta), key, src: opened.src }),
        Err(e) if e.chain().any(|c| matches!(c.downcast_ref(), Some(SopsError::MetadataNotFound))) => {
            Ok(Loaded::Plain(String::from_utf8(opened.src).expect("read as UTF-8 text")))
        }
        Err(e) => Err(e),
    }
}

fn read_text(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    String::from_utf8(bytes).map_err(|_| fail(codes::ERROR_GENERIC, format!("{} is not UTF-8 text", p.display())))
}

/// Git's merge driver. Exit 0: OURS holds the merged, encrypted file. Exit 1: a conflict;
/// OURS is left encrypted (as it was, or as Git's line merge of the ciphertext when no key
/// here opens the file). Never above 128, which Git takes for a crash.
fn merge_driver(base: &Path, ours: &Path, theirs: &Path, path: &Path) -> i32 {
    let name = path.display().to_string();
    match try_merge(base, ours, theirs, path) {
        Ok(Ok(())) => 0,
        Ok(Err(why)) => {
            for line in why {
                eprintln!("tresor: {name}: {line}");
            }
            1
        }
        Err(e) => {
            eprintln!("tresor: cannot merge {name} value by value: {e:#}");
            // Without the data key, do what Git would have done: a line merge of the
            // (encrypted) texts with conflict markers. Nothing decrypted is involved.
            if let (Ok(o), Ok(a), Ok(b)) = (read_text(base), read_text(ours), read_text(theirs)) {
                let (marked, _) = merge::line_merge(Some(&o), &a, &b);
                if fileio::write_atomic(ours, marked.as_bytes(), 0o644).is_ok() {
                    eprintln!("tresor: {name}: left with Git's conflict markers in the encrypted text");
                }
            }
            1
        }
    }
}

fn try_merge(base: &Path, ours: &Path, theirs: &Path, path: &Path) -> Result<Result<(), Vec<String>>> {
    let name = path.display().to_string();
    let store = input_store(None, Some(path), None)?;
    let (o, a, b) = (read_text(base)?, read_text(ours)?, read_text(theirs)?);
    let had_base = !o.is_empty();
    let o = if had_base { Some(load(o, store, &format!("{name} (base)"))?) } else { None };
    let a = load(a, store, &format!("{name} (ours)"))?;
    let b = load(b, store, &format!("{name} (theirs)"))?;
    let versions = (o.as_ref().map(|v| v.version()), a.version(), b.version());
    let (vo, va, vb) = match versions {
        (None | Some(Some(_)), Some(va), Some(vb)) => (versions.0.flatten(), va, vb),
        // Not one encrypted file on every side: a plaintext file handled like Git would,
        // or a mix that needs a person (one branch encrypted a file the other edited).
        _ => {
            let plain = |v: &Loaded| match v {
                Loaded::Plain(t) => Some(t.clone()),
                Loaded::Encrypted { .. } => None,
            };
            let all_plain = o.as_ref().is_none_or(|v| plain(v).is_some()) && plain(&a).is_some() && plain(&b).is_some();
            let all_encrypted =
                o.as_ref().is_none_or(|v| plain(v).is_none()) && plain(&a).is_none() && plain(&b).is_none();
            if all_encrypted {
                // Encrypted on every side, but a plaintext is not text (binary bytes).
                return Ok(Err(vec![format!(
                    "a version decrypts to bytes that are not text ({} file); left as ours, resolve by hand",
                    store.name()
                )]));
            }
            if !all_plain {
                return Ok(Err(vec![
                    "one version is encrypted and another is not; left as ours, resolve by hand".into()
                ]));
            }
            let ot = o.as_ref().and_then(plain);
            let (text, clean) =
                merge::line_merge(ot.as_deref(), &plain(&a).unwrap_or_default(), &plain(&b).unwrap_or_default());
            fileio::write_atomic(ours, text.as_bytes(), 0o644)?;
            return Ok(if clean {
                Ok(())
            } else {
                Err(vec!["not encrypted; merged line by line with conflicts".into()])
            });
        }
    };
    let expected = RepoRules::for_path(path);
    match merge::merge(store, vo.as_ref(), &va, &vb, &expected).with_context(|| format!("merging {name}"))? {
        Ok(encrypted) => {
            fileio::write_atomic(ours, &encrypted, 0o644)?;
            Ok(Ok(()))
        }
        Err(conflicts) => {
            let mut why: Vec<String> = conflicts.iter().map(|c| format!("conflict at {c}")).collect();
            if conflicts.iter().any(|c| c.path == "sops") {
                why.push(format!(
                    "the merge never changes who can read a file or what is encrypted on its own; resolve with: \
                     tresor git mergetool --keys ours {name} (or --keys theirs, after checking that side's keys), \
                     or make .sops.yaml name the keys and run tresor updatekeys"
                ));
            }
            why.push(format!("left as ours (still encrypted); resolve with: tresor git mergetool {name}"));
            Ok(Err(why))
        }
    }
}

/// The conflicted file's versions in the index: (base, ours, theirs), base absent when
/// both sides added the file.
fn conflict_stages(file: &Path) -> Result<(Option<String>, String, String, String)> {
    let out = Command::new("git")
        .args(["ls-files", "-u", "--full-name", "-z", "--"])
        .arg(file)
        .output()
        .context("running git ls-files")?;
    if !out.status.success() {
        return Err(fail(codes::COULD_NOT_READ_INPUT_FILE, "not inside a Git repository"));
    }
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut stages: [Option<String>; 4] = Default::default();
    let mut repo_path = String::new();
    for entry in listing.split('\0').filter(|e| !e.is_empty()) {
        // "<mode> <object> <stage>\t<path>"
        let (meta, p) = entry.split_once('\t').unwrap_or((entry, ""));
        let fields: Vec<&str> = meta.split(' ').collect();
        if let [_, object, stage] = fields[..] {
            if let Ok(n @ 1..=3) = stage.parse::<usize>() {
                stages[n] = Some(object.to_string());
                repo_path = p.to_string();
            }
        }
    }
    let blob = |o: &Option<String>| -> Result<Option<String>> {
        let Some(o) = o else { return Ok(None) };
        let out = Command::new("git").args(["cat-file", "blob", o]).output().context("running git cat-file")?;
        if !out.status.success() {
            return Err(fail(codes::ERROR_GENERIC, format!("git cannot read object {o}")));
        }
        Ok(Some(
            String::from_utf8(out.stdout)
                .map_err(|_| fail(codes::ERROR_GENERIC, "a version of the file is not UTF-8 text"))?,
        ))
    };
    match (blob(&stages[2])?, blob(&stages[3])?) {
        (Some(a), Some(b)) => Ok((blob(&stages[1])?, a, b, repo_path)),
        _ => Err(fail(
            codes::ERROR_GENERIC,
            format!(
                "{} has no merge conflict with both sides in Git's index (git ls-files -u lists none)",
                file.display()
            ),
        )),
    }
}

/// Resolve a conflicted encrypted file in $EDITOR: the plaintext lives only in a private
/// tmpfs directory while the editor runs.
fn mergetool(file: &Path, keys: Option<crate::args::KeySide>) -> Result<i32> {
    let name = file.display().to_string();
    let store = input_store(None, Some(file), None)?;
    let (o, a, b, _) = conflict_stages(file)?;
    let o = o.map(|t| load(t, store, &format!("{name} (base)"))).transpose()?;
    let a = load(a, store, &format!("{name} (ours)"))?;
    let b = load(b, store, &format!("{name} (theirs)"))?;
    let (Some(va), Some(vb)) = (a.version(), b.version()) else {
        return Err(fail(codes::ERROR_GENERIC, format!("{name}: ours or theirs is not encrypted; resolve it by hand")));
    };
    let vo = match &o {
        Some(l) => Some(
            l.version()
                .ok_or_else(|| fail(codes::ERROR_GENERIC, format!("{name}: the base version is not encrypted")))?,
        ),
        None => None,
    };
    let choice = match keys {
        None => merge::KeyChoice::Policy,
        Some(crate::args::KeySide::Ours) => merge::KeyChoice::Ours,
        Some(crate::args::KeySide::Theirs) => merge::KeyChoice::Theirs,
    };
    let plan = merge::plan_keys(vo.as_ref(), &va, &vb, &RepoRules::for_path(file), choice).map_err(|c| {
        let whys: Vec<String> = c.iter().map(|c| c.why.clone()).collect();
        fail(
            codes::ERROR_GENERIC,
            format!(
                "{name}: {}; choose whose keys and rules the result keeps: tresor git mergetool --keys ours {name} \
                 (or --keys theirs, after checking that side's recipients), then tresor updatekeys / rotate as needed",
                whys.join("; ")
            ),
        )
    })?;
    let base_text = vo.as_ref().map(|v| v.plaintext);
    let shown = match merge::merge_plaintext(store, base_text, va.plaintext, vb.plaintext)? {
        Ok(t) => {
            eprintln!("tresor: {name}: the values merge without conflict; review and save");
            t
        }
        Err(conflicts) => {
            for c in &conflicts {
                eprintln!("tresor: {name}: conflict at {c}");
            }
            merge::line_merge(base_text, va.plaintext, vb.plaintext).0
        }
    };
    let dir = fileio::private_tempdir()?;
    let tmp = dir.path().join(file.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("merge.yaml")));
    super::crypt::write_private(&tmp, shown.as_bytes())?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let result = loop {
        if let Err(e) = super::crypt::run_editor(&tmp) {
            break Err(e);
        }
        let edited = zeroize::Zeroizing::new(std::fs::read_to_string(&tmp).context("reading the edited file")?);
        let outcome = if merge::has_markers(&edited) {
            Err(anyhow::anyhow!("conflict markers (<<<<<<<, =======, >>>>>>>) remain; nothing written"))
        } else {
            match merge::encrypt_checked(&edited, store, &plan, &[&va, &vb]) {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(clear)) => {
                    Err(anyhow::anyhow!("{}", clear.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")))
                }
                Err(e) => Err(anyhow::Error::new(e).context("the resolved file is invalid; nothing written")),
            }
        };
        match outcome {
            Ok(out) => break Ok(out),
            Err(e) if interactive => {
                eprintln!("tresor: error: {e:#}\nPress Enter to return to the editor, or Ctrl-C to abort.");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
            }
            Err(e) => break Err(e),
        }
    };
    super::crypt::shred(&tmp);
    drop(dir);
    let out = result?;
    fileio::write_atomic(file, &out, 0o644)?;
    let (added, _) = git_out(&["add", "--", &name])?;
    if !added {
        return Err(fail(codes::ERROR_GENERIC, format!("{name} was resolved and written, but git add failed")));
    }
    eprintln!("tresor: resolved {name} (keys from {}) and staged it", plan.from);
    Ok(0)
}

/// `tresor diff A B`: a unified diff of two versions as a reviewer sees them. Exit 0 when
/// they show no difference, 1 when they do (as diff(1)).
pub(crate) fn diff(a: DiffArgs) -> Result<i32> {
    let left = version_for_diff(&a.a, a.input_type.as_deref())?;
    let right = version_for_diff(&a.b, a.input_type.as_deref())?;
    let patch = tresor_sops::summary::unified_diff(&left.0, &left.1, &right.0, &right.1);
    Sink::Stdout.write(&patch, 0o600)?;
    Ok(if patch.is_empty() { 0 } else { 1 })
}

/// (name, review view) of a file, or of `REV:PATH` as Git holds it.
fn version_for_diff(spec: &str, input_type: Option<&str>) -> Result<(String, String)> {
    let (name, src) = if Path::new(spec).exists() {
        (spec.to_string(), read_text(Path::new(spec))?)
    } else if let Some((_, path)) = spec.split_once(':').filter(|_| !spec.starts_with('-')) {
        let out = Command::new("git").args(["cat-file", "blob", spec]).output().context("running git cat-file")?;
        if !out.status.success() {
            return Err(fail(codes::ERROR_GENERIC, format!("{spec}: no such file, and Git has no such revision:path")));
        }
        let text = String::from_utf8(out.stdout)
            .map_err(|_| fail(codes::ERROR_GENERIC, format!("{spec} is not UTF-8 text")))?;
        (path.trim_start_matches("./").to_string(), text)
    } else {
        return Err(fail(codes::ERROR_GENERIC, format!("{spec}: no such file (for a version in Git, write REV:PATH)")));
    };
    let store = input_store(input_type, Some(Path::new(&name)), None)?;
    let view = review_view(&Opened { src: src.into_bytes(), store }, &name);
    Ok((name, view))
}
