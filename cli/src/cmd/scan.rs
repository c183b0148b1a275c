//! scan and hook: the leak scanner's command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tresor_sops::codes;

use anyhow::{Context, Result};
use tresor_scan::sources::{self, Checks};
use tresor_scan::suppress::Suppressions;
use tresor_scan::{report, Engine, RuleSet};

use crate::args::{HookAction, HookArgs, ReportAction, ReportArgs, ScanArgs};
use crate::exit::fail;
use crate::fileio::Sink;

/// The rules: `--config`, else `BETTERLEAKS_CONFIG`/`GITLEAKS_CONFIG`, else the first of
/// `.tresor-scan.toml`, `.gitleaks.toml`, `.betterleaks.toml` at the root, else tresor's.
fn load_rules(config: Option<&Path>, root: &Path) -> Result<RuleSet> {
    let from_env = || {
        ["BETTERLEAKS_CONFIG", "GITLEAKS_CONFIG"]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|s| !s.is_empty()).map(PathBuf::from))
    };
    let path = config.map(Path::to_path_buf).or_else(from_env).or_else(|| {
        [".tresor-scan.toml", ".gitleaks.toml", ".betterleaks.toml"].iter().map(|n| root.join(n)).find(|p| p.is_file())
    });
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{}: {e}", p.display())))?;
            RuleSet::from_toml(&text)
                .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{}: {e}", p.display())))
        }
        None => Ok(RuleSet::default_rules()),
    }
}

pub(crate) fn scan(a: ScanArgs) -> Result<i32> {
    if let Some(list) = &a.repos {
        return scan_fleet(&a, list);
    }
    let cwd = std::env::current_dir()?;
    let git_mode = a.staged || a.git || a.range.is_some();
    if git_mode && a.paths.len() > 1 {
        return Err(fail(
            codes::COULD_NOT_READ_INPUT_FILE,
            "--git, --range and --staged scan one repository: give at most one path",
        ));
    }
    // `tresor scan --git ../other-repo` scans that repository, as `gitleaks git PATH` does.
    let anchor = if git_mode { a.paths.first().cloned().unwrap_or_else(|| cwd.clone()) } else { cwd.clone() };
    let git_root = tresor_scan::git::toplevel(&anchor).ok();
    let root = git_root.clone().unwrap_or_else(|| cwd.clone());
    let rules = if a.guard_only { RuleSet::default() } else { load_rules(a.config.as_deref(), &root)? };
    let engine = Engine::new(rules);
    let checks =
        Checks { helm: !a.no_helm && !a.guard_only, dockerfile: !a.no_dockerfile && !a.guard_only, guard: !a.no_guard };
    let need_git =
        || git_root.clone().ok_or_else(|| fail(codes::COULD_NOT_READ_INPUT_FILE, "not inside a Git repository"));
    // What was not scanned, with why: a scan that skipped anything is never called clean.
    let mut not_scanned: Vec<(String, String)> = Vec::new();
    let findings = if let Some(image) = &a.image {
        let r = tresor_scan::image::scan_image(&engine, image, checks)
            .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, crate::exit::clean(&e.to_string())))?;
        eprintln!(
            "tresor: scanned {} files in {} layers{} of {} ({} MiB decompressed)",
            r.files,
            r.layers,
            if r.artifacts > 0 { format!(" and {} attestation/artifact blobs", r.artifacts) } else { String::new() },
            image.display(),
            r.bytes >> 20
        );
        not_scanned.extend(r.skipped.into_iter().map(|s| (s.what, s.why)));
        r.findings
    } else if a.staged {
        sources::scan_staged(&engine, &need_git()?, checks)
            .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, e.to_string()))?
    } else if a.git || a.range.is_some() {
        let repo = need_git()?;
        let pb = indicatif::ProgressBar::new(0);
        if !std::io::stderr().is_terminal() {
            pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} scanning history [{bar:30}] {pos}/{len} blobs {elapsed}",
            )
            .unwrap()
            .progress_chars("=> "),
        );
        let progress = |done: u64, total: u64| {
            pb.set_length(total);
            pb.set_position(done);
        };
        let r = sources::scan_history(&engine, &repo, a.range.as_deref(), checks, &progress)
            .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, e.to_string()));
        pb.finish_and_clear();
        r?
    } else {
        let paths: Vec<PathBuf> = if a.paths.is_empty() { vec![cwd.clone()] } else { a.paths.clone() };
        // Report paths relative to where the user stands.
        let base = std::fs::canonicalize(&cwd).unwrap_or(cwd.clone());
        let abs: Vec<PathBuf> = paths.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
        for p in &abs {
            if !p.exists() {
                return Err(fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{} does not exist", p.display())));
            }
        }
        let scanned = sources::scan_paths(&engine, &base, &abs, checks);
        not_scanned.extend(scanned.skipped);
        scanned.findings
    };
    let findings = suppress(&a, &root, findings)?;
    finish(&a, &engine, findings, not_scanned)
}

/// Drop what the ignore file and baseline of the repository at `root` suppress, and the
/// findings in our own report and baseline (they name findings' hashes).
fn suppress(a: &ScanArgs, root: &Path, findings: Vec<tresor_scan::Finding>) -> Result<Vec<tresor_scan::Finding>> {
    let supp = Suppressions::load(root, a.ignore_file.as_deref(), a.baseline.as_deref())
        .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, e))?;
    let own: Vec<String> = [a.baseline.as_ref(), a.report.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Ok(findings
        .into_iter()
        .filter(|f| !supp.suppressed(f) && !own.iter().any(|o| f.file == *o || f.file.ends_with(&format!("/{o}"))))
        .collect())
}

/// Filter by confidence, tag vendored code, write the report and choose the exit code:
/// the same for one repository and for a fleet shard.
fn finish(
    a: &ScanArgs,
    engine: &Engine,
    mut findings: Vec<tresor_scan::Finding>,
    not_scanned: Vec<(String, String)>,
) -> Result<i32> {
    // Below the asked confidence: counted, never silently dropped.
    let floor = tresor_scan::finding::Confidence::parse(&a.confidence).expect("clap checked the tier");
    let before = findings.len();
    findings.retain(|f| f.confidence >= floor);
    let below = before - findings.len();
    tresor_scan::vendored::tag(&mut findings);
    let vendored = findings.iter().filter(|f| tresor_scan::vendored::is_tagged(f)).count();
    let rule_list: Vec<(String, String)> =
        engine.rules.rules.iter().map(|r| (r.id.clone(), r.description.clone())).collect();
    let body = match a.format.as_str() {
        "json" => report::json(&findings),
        "sarif" => report::sarif(&findings, &rule_list),
        "junit" => report::junit(&findings),
        _ => report::text(&findings, a.report.is_none() && std::io::stdout().is_terminal()),
    };
    match &a.report {
        Some(p) => Sink::File(p.clone()).write(&body, 0o644).with_context(|| format!("writing {}", p.display()))?,
        None => Sink::Stdout.write(&body, 0o644)?,
    }
    if below > 0 {
        eprintln!("tresor: {below} finding(s) below --confidence {floor} not shown (--confidence low shows them)");
    }
    for (what, why) in &not_scanned {
        eprintln!("tresor: not scanned: {}: {}", crate::exit::clean(what), crate::exit::clean(why));
    }
    if findings.is_empty() && !not_scanned.is_empty() {
        eprintln!(
            "tresor: no leaks found in what was scanned, but {} part(s) were not scanned (listed above); exit {}",
            not_scanned.len(),
            codes::SCAN_INCOMPLETE
        );
        Ok(codes::SCAN_INCOMPLETE)
    } else if a.exit_code == 0 && !not_scanned.is_empty() {
        // `--exit-code 0` says leaks must not fail this run (a fleet shard: the merge
        // decides); it does not say a scan that skipped something is fine. Unattended, a
        // zero here would hide the skipped part in a log nobody reads.
        eprintln!(
            "tresor: {} leak(s) found, and {} part(s) were not scanned (listed above); exit {}",
            findings.len(),
            not_scanned.len(),
            codes::SCAN_INCOMPLETE
        );
        Ok(codes::SCAN_INCOMPLETE)
    } else if findings.is_empty() {
        eprintln!("tresor: no leaks found");
        Ok(0)
    } else {
        if vendored > 0 {
            eprintln!("tresor: {} leak(s) found ({vendored} in vendored or generated code)", findings.len());
        } else {
            eprintln!("tresor: {} leak(s) found", findings.len());
        }
        Ok(a.exit_code)
    }
}

/// `scan --repos FILE [--shard I/N]`: the history of each repository of the list that this
/// shard owns, one after another (memory stays that of one repository), each finding
/// naming its repository. A repository that cannot be scanned is reported, never dropped.
fn scan_fleet(a: &ScanArgs, list: &Path) -> Result<i32> {
    use tresor_scan::fleet::{self, Shard};
    let (text, base) = super::repo_list(list)?;
    let shard =
        Shard::chosen(a.shard.as_deref()).map_err(|e| fail(codes::ERROR_CONFLICTING_PARAMETERS, e.to_string()))?;
    let all = fleet::read_list(&text);
    let mine: Vec<&String> = all.iter().filter(|r| shard.is_none_or(|s| s.owns(&fleet::identity(r)))).collect();
    if let Some(s) = shard {
        eprintln!("tresor: shard {}/{}: {} of {} repositories", s.index + 1, s.count, mine.len(), all.len());
    }
    let checks =
        Checks { helm: !a.no_helm && !a.guard_only, dockerfile: !a.no_dockerfile && !a.guard_only, guard: !a.no_guard };
    let mut findings = Vec::new();
    let mut not_scanned: Vec<(String, String)> = Vec::new();
    let mut engine = Engine::new(RuleSet::default());
    for (n, repo) in mine.iter().enumerate() {
        // A URL is cloned (a bare mirror, removed once scanned); relative paths are relative
        // to the list, so a list and its mirrors travel together.
        let opened = match fleet::open(repo, &base, fleet::Need::History, Duration::from_secs(a.clone_timeout)) {
            Ok(o) => o,
            Err(e) => {
                not_scanned.push((repo.to_string(), e.to_string()));
                continue;
            }
        };
        let path = opened.path.clone();
        let rules = if a.guard_only { RuleSet::default() } else { load_rules(a.config.as_deref(), &path)? };
        engine = Engine::new(rules);
        eprintln!("tresor: [{}/{}] {}", n + 1, mine.len(), crate::exit::clean(repo));
        match sources::scan_history(&engine, &path, a.range.as_deref(), checks, &|_, _| {}) {
            Ok(mut found) => {
                // Named before suppression, so a fleet baseline holds per repository.
                for f in &mut found {
                    f.repository = repo.to_string();
                }
                findings.extend(suppress(a, &path, found)?);
            }
            Err(e) => not_scanned.push((repo.to_string(), e.to_string())),
        }
    }
    finish(a, &engine, findings, not_scanned)
}

/// `tresor report merge`: shard reports (`scan --repos … --format json`) as incidents, one
/// per secret with every repository and place; exit as `scan` does when there are leaks.
pub(crate) fn report(a: ReportArgs) -> Result<i32> {
    let ReportAction::Merge { reports, format, output, exit_code, baseline } = a.action;
    let known = baseline
        .as_deref()
        .map(Suppressions::baseline_only)
        .transpose()
        .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, e))?;
    let mut findings: Vec<tresor_scan::Finding> = Vec::new();
    for r in &reports {
        let text = std::fs::read_to_string(r)
            .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{}: {e}", r.display())))?;
        let part: Vec<tresor_scan::Finding> = serde_json::from_str(&text).map_err(|e| {
            fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{}: not a `scan --format json` report: {e}", r.display()))
        })?;
        findings.extend(part);
    }
    let before = findings.len();
    if let Some(known) = &known {
        findings.retain(|f| !known.suppressed(f));
        eprintln!("tresor: {} finding(s) in the baseline left out", before - findings.len());
    }
    let incidents = tresor_scan::fleet::merge(&findings);
    let body = match format.as_str() {
        "sarif" => tresor_scan::report::sarif(&findings, &[]),
        "text" => {
            let mut t = String::new();
            for i in &incidents {
                t.push_str(&format!(
                    "{} in {} repositor{} ({} place{}), sha256 {}\n",
                    i.rules.join(", "),
                    i.repositories.len(),
                    if i.repositories.len() == 1 { "y" } else { "ies" },
                    i.places.len(),
                    if i.places.len() == 1 { "" } else { "s" },
                    &i.secret_hash[..i.secret_hash.len().min(16)]
                ));
                for p in &i.places {
                    t.push_str(&format!(
                        "  {}  {}:{}{}\n",
                        crate::exit::clean(&p.repository),
                        crate::exit::clean(&p.file),
                        p.line,
                        if p.commit.is_empty() {
                            String::new()
                        } else {
                            format!("  {}", &p.commit[..p.commit.len().min(12)])
                        }
                    ));
                }
            }
            t
        }
        _ => serde_json::to_string_pretty(&incidents).expect("serializable") + "\n",
    };
    match &output {
        Some(p) => Sink::File(p.clone()).write(&body, 0o644).with_context(|| format!("writing {}", p.display()))?,
        None => Sink::Stdout.write(&body, 0o644)?,
    }
    eprintln!("tresor: {} finding(s) in {} report(s): {} incident(s)", findings.len(), reports.len(), incidents.len());
    Ok(if incidents.is_empty() { 0 } else { exit_code })
}

/// The hook `tresor hook install` writes: the repository's `hooks/pre-commit`, which fails
/// closed when tresor is missing.
const HOOK: &str = include_str!("../../../hooks/pre-commit");

pub(crate) fn hook(a: HookArgs) -> Result<i32> {
    let HookAction::Install { force } = a.action;
    let cwd = std::env::current_dir()?;
    let repo = tresor_scan::git::toplevel(&cwd).map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, e.to_string()))?;
    let out =
        std::process::Command::new("git").arg("-C").arg(&repo).args(["rev-parse", "--git-path", "hooks"]).output()?;
    let hooks = repo.join(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::create_dir_all(&hooks)?;
    let target = hooks.join("pre-commit");
    if target.exists() && !force {
        let existing = std::fs::read_to_string(&target).unwrap_or_default();
        if existing == HOOK {
            eprintln!("tresor: the pre-commit hook is already installed");
            return Ok(0);
        }
        return Err(fail(
            codes::ERROR_GENERIC,
            format!("{} exists; pass --force to replace it (or call `tresor scan --staged` from it)", target.display()),
        ));
    }
    std::fs::write(&target, HOOK)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    eprintln!("tresor: installed {}", target.display());
    Ok(0)
}
