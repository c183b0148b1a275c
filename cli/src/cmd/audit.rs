//! audit: sovereignty and lifecycle report from metadata only.

use anyhow::{Context, Result};
use tresor_audit::{audit_file, Policy, Report};
use tresor_sops::codes;

use crate::args::AuditArgs;
use crate::exit::fail;
use crate::fileio::{self, Sink};
use tresor_keys::rekey::find_encrypted;

/// Exit code when the policy is violated (documented in docs/exit-codes.md).
pub const POLICY_VIOLATION: i32 = codes::POLICY_VIOLATION;

pub(crate) fn audit(a: AuditArgs) -> Result<i32> {
    if let Some(list) = &a.repos {
        return audit_fleet(&a, list);
    }
    let (text, code) = audit_one(&a)?;
    if !text.is_empty() {
        write_report(&a, &text)?;
    }
    Ok(code)
}

/// Every report this command makes, for one tree or list of files: its text and exit code.
fn audit_one(a: &AuditArgs) -> Result<(String, i32)> {
    let a = a.clone();
    let mut files = a.paths.clone();
    // ESO stores checked into the tree: judged in the key report only.
    let mut store_files = Vec::new();
    if let Some(dir) = &a.recursive {
        files.extend(find_encrypted(dir)?);
        let history = a.value_age || a.exposed_to.is_some() || a.post_quantum || a.copies;
        if !history {
            store_files =
                tresor_audit::delivery::find_store_files(dir).with_context(|| format!("reading {}", dir.display()))?;
        }
    }
    if files.is_empty() && store_files.is_empty() {
        // A repository without encrypted files yet violates no custody policy: a
        // pre-commit hook must not block it. Naming no input at all is a usage error.
        if let (Some(dir), true) = (&a.recursive, a.paths.is_empty()) {
            eprintln!("tresor: no SOPS-encrypted files under {}; nothing to audit", dir.display());
            return Ok((String::new(), 0));
        }
        return Err(fail(codes::NO_FILE_SPECIFIED, "no files to audit (pass FILE… or -r DIR)"));
    }
    if a.with_keys && !a.value_age && a.exposed_to.is_none() && !a.post_quantum {
        return Err(fail(
            codes::ERROR_CONFLICTING_PARAMETERS,
            "--with-keys goes with --value-age, --exposed-to or --post-quantum (the key report never decrypts)",
        ));
    }
    if a.post_quantum {
        return post_quantum(&a, &files);
    }
    if a.copies {
        return copies(&a, &files);
    }
    if a.value_age {
        let (policy, source) = load_policy(&a, &files)?;
        return value_age(&a, &files, &policy, source);
    }
    if let Some(key) = &a.exposed_to {
        return exposed_to(&a, &files, key);
    }
    let (policy, source) = load_policy(&a, &files)?;
    let juris = policy.jurisdictions().map_err(|e| fail(codes::ERROR_READING_CONFIG, e))?;
    let now = time::OffsetDateTime::now_utc();
    let mut reports = Vec::new();
    for f in &files {
        let shown = f.display().to_string();
        let src = fileio::read_bytes(Some(f)).with_context(|| format!("reading {shown}"))?;
        reports.push(audit_file(&shown, &src, tresor_sops::store::for_path(&shown), &policy, &juris, now));
    }
    let mut stores = Vec::new();
    for f in &store_files {
        let shown = f.display().to_string();
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {shown}"))?;
        stores.extend(tresor_audit::delivery::read_stores(&shown, &text, &juris));
    }
    let report = Report::new(reports, source, now).with_delivery(stores, &policy);
    let text = match a.format.as_str() {
        "json" => report.to_json(),
        "markdown" => report.to_markdown(),
        _ => report.to_table(),
    };
    Ok((text, if report.has_violations() { POLICY_VIOLATION } else { 0 }))
}

/// What `audit --repos` says of a repository that holds no SOPS-encrypted file.
const NOTHING_TO_AUDIT: &str = "no SOPS-encrypted files; nothing to audit";

/// `audit --repos FILE [--shard I/N]`: the same report for each listed repository (`-r` on
/// its work tree; a URL or bare mirror cloned into a temporary one), gathered: JSON as `[{"repository", "report"}]` (or `"error"`), Markdown and tables
/// one section per repository. Exit 1 when a repository could not be audited, else 10 when
/// one breaks the policy or needs action, else 0.
fn audit_fleet(a: &AuditArgs, list: &std::path::Path) -> Result<i32> {
    use tresor_scan::fleet::{self, Shard};
    let (text, base) = super::repo_list(list)?;
    let shard =
        Shard::chosen(a.shard.as_deref()).map_err(|e| fail(codes::ERROR_CONFLICTING_PARAMETERS, e.to_string()))?;
    if let Some(s) = shard {
        tresor_kms::http::share_fleet_rate(s.count);
    }
    let (mut json, mut out, mut failed, mut flagged) = (Vec::new(), String::new(), 0usize, false);
    for repo in fleet::read_list(&text).iter().filter(|r| shard.is_none_or(|s| s.owns(&fleet::identity(r)))) {
        // A URL or a bare mirror is cloned into a temporary work tree, removed once audited.
        let result = fleet::open(repo, &base, fleet::Need::WorkTree, std::time::Duration::from_secs(a.clone_timeout))
            .map_err(anyhow::Error::from)
            .and_then(|opened| {
                let mut one = a.clone();
                one.repos = None;
                one.output = None;
                one.recursive = Some(opened.path.clone());
                // Paths relative to the repository: where a shard happened to check it out (a
                // temporary clone, a pod's volume) must not make two runs' reports differ.
                let (report, code) = audit_one(&one)?;
                Ok((report.replace(&format!("{}/", opened.path.display()), ""), code))
            });
        match result {
            Ok((report, code)) => {
                flagged |= code == POLICY_VIOLATION;
                // A repository without encrypted files has nothing to audit (as with `-r`):
                // said in the report, not only on standard error.
                if report.is_empty() {
                    if a.format == "json" {
                        json.push(serde_json::json!({ "repository": repo, "report": null, "note": NOTHING_TO_AUDIT }));
                    } else {
                        out.push_str(&format!("## {}\n\n{NOTHING_TO_AUDIT}\n\n", crate::exit::clean(repo)));
                    }
                } else if a.format == "json" {
                    let value: serde_json::Value = serde_json::from_str(&report)
                        .with_context(|| format!("{}: the report is not JSON", crate::exit::clean(repo)))?;
                    json.push(serde_json::json!({ "repository": repo, "report": value }));
                } else {
                    out.push_str(&format!("## {}\n\n{report}\n", crate::exit::clean(repo)));
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("tresor: error: {}: {e:#}", crate::exit::clean(repo));
                if a.format == "json" {
                    json.push(serde_json::json!({ "repository": repo, "error": format!("{e:#}") }));
                } else {
                    out.push_str(&format!("## {}\n\nnot audited: {e:#}\n\n", crate::exit::clean(repo)));
                }
            }
        }
    }
    let text = if a.format == "json" { serde_json::to_string_pretty(&json).expect("serializable") + "\n" } else { out };
    write_report(a, &text)?;
    Ok(if failed > 0 {
        codes::ERROR_GENERIC
    } else if flagged {
        POLICY_VIOLATION
    } else {
        0
    })
}

/// The policy: `--policy FILE`, else found upward from the audited path, else the built-in
/// one; and where it came from.
fn load_policy(a: &AuditArgs, files: &[std::path::PathBuf]) -> Result<(Policy, Option<String>)> {
    Ok(match &a.policy {
        Some(p) => {
            let pol = Policy::load(p)?
                .ok_or_else(|| fail(codes::ERROR_READING_CONFIG, format!("{} has no policy section", p.display())))?;
            (pol, Some(p.display().to_string()))
        }
        None => {
            let start = a
                .recursive
                .clone()
                .or_else(|| files[0].parent().map(|p| p.to_path_buf()))
                .unwrap_or_else(|| ".".into());
            let start = if start.as_os_str().is_empty() { std::path::PathBuf::from(".") } else { start };
            let abs = std::fs::canonicalize(&start).unwrap_or(start);
            match Policy::discover(&abs)? {
                Some((p, src)) => (p, Some(src)),
                None => (Policy::default_policy(), None),
            }
        }
    })
}

/// Opens a revision with the keys found here, for the history reports' `--with-keys`: its
/// plaintext as data, kept in memory for comparisons and never printed.
fn open_with(
    keyring: &tresor_keys::Keyring,
    store: &dyn tresor_sops::store::Store,
    bytes: &[u8],
) -> Option<serde_json::Value> {
    let (plain, _, _) =
        tresor_keys::open::decrypt(store, bytes, keyring, tresor_sops::DecryptOptions::default()).ok()?;
    store.data(&plain.bytes).ok()
}

/// `audit --value-age`: when each value last changed, as a table or JSON.
fn value_age(
    a: &AuditArgs,
    files: &[std::path::PathBuf],
    policy: &Policy,
    source: Option<String>,
) -> Result<(String, i32)> {
    let limits = policy.age_limits().map_err(|e| fail(codes::ERROR_READING_CONFIG, e))?;
    let keyring = tresor_keys::Keyring::new();
    let open = |store: &dyn tresor_sops::store::Store, bytes: &[u8]| open_with(&keyring, store, bytes);
    let opener: Option<tresor_audit::value_age::Opener> = if a.with_keys { Some(&open) } else { None };
    let (mut ages, coverage) = tresor_audit::value_age::in_repository_covering(files, opener)
        .map_err(|e| fail(codes::ERROR_GENERIC, e.to_string()))?;
    let over = tresor_audit::value_age::apply_limits(&mut ages, &limits, time::OffsetDateTime::now_utc());
    if let Some(days) = a.older_than {
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
        ages.retain(|v| {
            time::OffsetDateTime::parse(&v.last_changed, &time::format_description::well_known::Rfc3339)
                .is_ok_and(|t| t < cutoff)
        });
    }
    let limit = |v: &tresor_audit::value_age::ValueAge| match (v.max_days, v.over_limit) {
        (Some(d), true) => format!("OVER {d}d"),
        (Some(d), false) => format!("{d}d"),
        (None, _) => "-".into(),
    };
    let text = match a.format.as_str() {
        "json" => serde_json::to_string_pretty(&ages).expect("serializable") + "\n",
        "markdown" => {
            let esc = |s: &str| tresor_format::printable::printable(s, false).replace('|', "\\|");
            let mut t = history_header("Value ages", &coverage, a.with_keys);
            t.push_str(&format!(
                "- Policy: {}\n- Values over their limit: {over}\n\n",
                source.as_deref().unwrap_or("built-in (no max_value_age)")
            ));
            t.push_str("| File | Path | Last changed | Commit | Exact | Limit |\n|---|---|---|---|---|---|\n");
            for v in &ages {
                t.push_str(&format!(
                    "| {} | `{}` | {} | `{}` | {} | {} |\n",
                    esc(&v.file),
                    esc(&v.path),
                    v.last_changed,
                    &v.commit[..v.commit.len().min(12)],
                    if v.exact { "yes" } else { "at the latest" },
                    limit(v)
                ));
            }
            t
        }
        _ => {
            let mut t = String::from("FILE\tPATH\tLAST CHANGED\tCOMMIT\tEXACT\tLIMIT\n");
            for v in &ages {
                t.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    tresor_format::printable::printable(&v.file, false),
                    tresor_format::printable::printable(&v.path, false),
                    v.last_changed,
                    &v.commit[..v.commit.len().min(12)],
                    if v.exact { "exact" } else { "at the latest" },
                    limit(v)
                ));
            }
            if over > 0 {
                t.push_str(&format!("{over} value(s) unchanged for longer than the policy's max_value_age\n"));
            }
            t
        }
    };
    Ok((text, if over > 0 { POLICY_VIOLATION } else { 0 }))
}

/// The head of a Markdown evidence report from Git history: what was read and how.
fn history_header(title: &str, c: &tresor_audit::value_age::Coverage, with_keys: bool) -> String {
    format!(
        "# {title}\n\n- Generated: {} by tresor {}\n- History: HEAD {} (first parent), {} file revisions from {} to {}\n- Read: {}\n",
        tresor_sops::file::now_rfc3339(),
        env!("CARGO_PKG_VERSION"),
        c.head,
        c.revisions,
        c.oldest.as_deref().unwrap_or("-"),
        c.newest.as_deref().unwrap_or("-"),
        if with_keys {
            "metadata and ciphertexts; plaintexts compared in memory where the keys here open both versions"
        } else {
            "metadata and ciphertexts only, nothing decrypted"
        }
    )
}

/// Markdown rows `| Class | File | Path | Since |` of a history report's lists.
fn exposed_rows(lists: &[(&str, &[tresor_audit::exposure::Exposed])]) -> String {
    let esc = |s: &str| tresor_format::printable::printable(s, false).replace('|', "\\|");
    let mut t = String::from("| Class | File | Path | Since commit | Date |\n|---|---|---|---|---|\n");
    for (label, list) in lists {
        for e in *list {
            t.push_str(&format!(
                "| {label} | {} | `{}` | `{}` | {} |\n",
                esc(&e.file),
                esc(&e.path),
                &e.since_commit[..e.since_commit.len().min(12)],
                e.since_date
            ));
        }
    }
    t
}

/// `audit --exposed-to KEY`: the current values a holder of KEY could read somewhere in the
/// history, as a table (files and paths only) or JSON; exit 10 when some must rotate.
fn exposed_to(a: &AuditArgs, files: &[std::path::PathBuf], key: &str) -> Result<(String, i32)> {
    use tresor_audit::exposure::{self, Subject};
    let subject = Subject::new(key);
    let keyring = tresor_keys::Keyring::new();
    let open = |store: &dyn tresor_sops::store::Store, bytes: &[u8]| open_with(&keyring, store, bytes);
    let opener: Option<tresor_audit::value_age::Opener> = if a.with_keys { Some(&open) } else { None };
    let report =
        exposure::in_repository(files, &subject, opener).map_err(|e| fail(codes::ERROR_GENERIC, e.to_string()))?;
    let text = match a.format.as_str() {
        "json" => serde_json::to_string_pretty(&report).expect("serializable") + "\n",
        "markdown" => {
            let mut t = history_header("Exposure of a key", &report.history, a.with_keys);
            t.push_str(&format!(
                "- Key: `{}`\n- Revisions it could read: {} of {}\n- Files still encrypted for it: {}\n\n",
                tresor_format::printable::printable(&report.recipient, false),
                report.revisions_exposed,
                report.revisions_read,
                report.still_a_recipient.len()
            ));
            t.push_str(&exposed_rows(&[
                ("must rotate", &report.must_rotate),
                ("rotated since", &report.rotated_since),
                ("unknown", &report.unknown),
            ]));
            t
        }
        _ => exposure_table(&report),
    };
    Ok((text, if report.must_rotate.is_empty() { 0 } else { POLICY_VIOLATION }))
}

/// `audit --post-quantum`: harvestable files, values still current that sat in a harvestable
/// revision, and the migration plan; exit 10 when anything needs doing.
fn post_quantum(a: &AuditArgs, files: &[std::path::PathBuf]) -> Result<(String, i32)> {
    let keyring = tresor_keys::Keyring::new();
    let open = |store: &dyn tresor_sops::store::Store, bytes: &[u8]| open_with(&keyring, store, bytes);
    let opener: Option<tresor_audit::value_age::Opener> = if a.with_keys { Some(&open) } else { None };
    let report =
        tresor_audit::quantum::in_repository(files, opener).map_err(|e| fail(codes::ERROR_GENERIC, e.to_string()))?;
    let text = match a.format.as_str() {
        "json" => serde_json::to_string_pretty(&report).expect("serializable") + "\n",
        "markdown" => {
            let mut t = history_header("Post-quantum exposure", &report.history, a.with_keys);
            t.push_str(&format!(
                "- Harvestable revisions: {} of {}\n\n| File | Quantum-safe now | Breakable wraps |\n|---|---|---|\n",
                report.revisions_harvestable, report.revisions_read
            ));
            for f in &report.files {
                let weak: Vec<String> = f.breakable.iter().map(|b| format!("{} ({})", b.kind, b.why)).collect();
                t.push_str(&format!(
                    "| {} | {} | {} |\n",
                    tresor_format::printable::printable(&f.file, false).replace('|', "\\|"),
                    if f.post_quantum { "yes" } else { "**no**" },
                    weak.join("; ")
                ));
            }
            t.push('\n');
            t.push_str(&exposed_rows(&[
                ("must rotate", &report.must_rotate),
                ("rotated since", &report.rotated_since),
                ("unknown", &report.unknown),
            ]));
            t
        }
        _ => quantum_table(&report),
    };
    Ok((text, if report.needs_action() { POLICY_VIOLATION } else { 0 }))
}

/// The post-quantum report for people.
fn quantum_table(r: &tresor_audit::quantum::QuantumReport) -> String {
    fn show(s: &str) -> std::borrow::Cow<'_, str> {
        tresor_format::printable::printable(s, false)
    }
    // Post-quantum recipients are ~2,000 characters: a prefix names them.
    fn key(k: &str) -> String {
        let k = show(k);
        if k.chars().count() > 40 {
            format!("{}…", k.chars().take(24).collect::<String>())
        } else {
            k.into_owned()
        }
    }
    let mut t = String::new();
    for f in &r.files {
        let state = if f.post_quantum { "QUANTUM-SAFE" } else { "HARVESTABLE" };
        let weak: Vec<String> = f.breakable.iter().map(|b| format!("{} {} ({})", b.kind, key(&b.key), b.why)).collect();
        let line = format!("{state}\t{}\t{}", show(&f.file), weak.join("; "));
        t.push_str(line.trim_end());
        t.push('\n');
    }
    for e in &r.must_rotate {
        t.push_str(&format!(
            "MUST ROTATE\t{}\t{}\tunchanged since harvestable {} ({})\n",
            show(&e.file),
            show(&e.path),
            &e.since_commit[..e.since_commit.len().min(12)],
            e.since_date
        ));
    }
    for e in &r.unknown {
        t.push_str(&format!(
            "UNKNOWN\t{}\t{}\tre-encrypted after harvestable {} (--with-keys decides)\n",
            show(&e.file),
            show(&e.path),
            &e.since_commit[..e.since_commit.len().min(12)]
        ));
    }
    t.push_str(&format!(
        "{} of {} revisions read are harvestable; {} value(s) must rotate, {} rotated since, {} unknown\n",
        r.revisions_harvestable,
        r.revisions_read,
        r.must_rotate.len(),
        r.rotated_since.len(),
        r.unknown.len()
    ));
    if !r.plan.replace.is_empty() || r.plan.then_rotate > 0 {
        t.push_str("Plan:\n");
        for (n, p) in r.plan.replace.iter().enumerate() {
            // The removal flag comes from the key-service table; kinds without one are
            // removed from .sops.yaml and re-keyed.
            let how = tresor_keys::service::by_kind(&p.kind)
                .and_then(|row| row.flag)
                .map(|f| format!("tresor rotate -i --rm-{} …", f.trim_start_matches('-')))
                .unwrap_or_else(|| "edit .sops.yaml, then tresor updatekeys and tresor rotate".into());
            t.push_str(&format!(
                "  {}. replace {} {} in {} file(s) with an age1pq1 recipient (tresor keygen --pq) or a KMS key: {how}\n",
                n + 1,
                p.kind,
                key(&p.key),
                p.files.len(),
            ));
        }
        if r.plan.then_rotate > 0 {
            t.push_str(&format!(
                "  {}. then change the {} value(s) listed MUST ROTATE (a recorded old revision still holds them)\n",
                r.plan.replace.len() + 1,
                r.plan.then_rotate
            ));
        }
    }
    t
}

/// `audit --copies`: places that hold the same secret; exit 10 when there are any.
fn copies(a: &AuditArgs, files: &[std::path::PathBuf]) -> Result<(String, i32)> {
    let keyring = tresor_keys::Keyring::new();
    let open = |store: &dyn tresor_sops::store::Store, bytes: &[u8]| open_with(&keyring, store, bytes);
    let mut inputs = Vec::with_capacity(files.len());
    for f in files {
        let shown = f.display().to_string();
        let bytes = fileio::read_bytes(Some(f)).with_context(|| format!("reading {shown}"))?;
        inputs.push((shown.clone(), tresor_sops::store::for_path(&shown), bytes));
    }
    let report = tresor_audit::copies::find_copies(&inputs, &open);
    if !report.not_opened.is_empty() {
        eprintln!(
            "tresor: {} file(s) could not be opened here and were not compared (listed in the report)",
            report.not_opened.len()
        );
    }
    let text = match a.format.as_str() {
        "json" => serde_json::to_string_pretty(&report).expect("serializable") + "\n",
        _ => {
            fn show(s: &str) -> std::borrow::Cow<'_, str> {
                tresor_format::printable::printable(s, false)
            }
            let mut t = String::new();
            for (n, g) in report.groups.iter().enumerate() {
                for p in g {
                    t.push_str(&format!("COPY {}\t{}\t{}\n", n + 1, show(&p.file), show(&p.path)));
                }
            }
            for n in &report.not_opened {
                t.push_str(&format!("NOT COMPARED\t{}\t{}\n", show(&n.file), n.why));
            }
            t.push_str(&format!(
                "{} group(s) of copies among {} values compared in {} file(s); {} shorter than {} bytes not compared\n",
                report.groups.len(),
                report.values_compared,
                report.files_opened,
                report.values_too_short,
                report.min_length()
            ));
            t
        }
    };
    Ok((text, if report.groups.is_empty() { 0 } else { POLICY_VIOLATION }))
}

/// The exposure report for people: counts, then files and paths (never values).
fn exposure_table(r: &tresor_audit::exposure::Exposure) -> String {
    fn show(s: &str) -> std::borrow::Cow<'_, str> {
        tresor_format::printable::printable(s, false)
    }
    let mut t = format!(
        "{} of {} revisions read were encrypted for {}\n",
        r.revisions_exposed,
        r.revisions_read,
        show(&r.recipient)
    );
    for f in &r.still_a_recipient {
        t.push_str(&format!("STILL A RECIPIENT\t{}\t(remove the key first: tresor rotate --rm-…)\n", show(f)));
    }
    let rows = [
        ("MUST ROTATE", &r.must_rotate, "unchanged since"),
        ("ROTATED SINCE", &r.rotated_since, "changed after"),
        ("UNKNOWN", &r.unknown, "re-encrypted after (--with-keys decides)"),
    ];
    for (label, list, why) in rows {
        for e in list {
            t.push_str(&format!(
                "{label}\t{}\t{}\t{why} {} ({})\n",
                show(&e.file),
                show(&e.path),
                &e.since_commit[..e.since_commit.len().min(12)],
                e.since_date
            ));
        }
    }
    for s in &r.share_only {
        t.push_str(&format!(
            "SHARE ONLY\t{}\t\tthe key holds one Shamir share in {}\n",
            show(&s.file),
            &s.commit[..s.commit.len().min(12)]
        ));
    }
    t.push_str(&format!(
        "{} must rotate, {} rotated since, {} unknown\n",
        r.must_rotate.len(),
        r.rotated_since.len(),
        r.unknown.len()
    ));
    t
}

/// The report to `--output FILE`, or standard output.
fn write_report(a: &AuditArgs, text: &str) -> Result<()> {
    match &a.output {
        Some(p) => Sink::File(p.clone()).write(text, 0o644),
        None => Sink::Stdout.write(text, 0o644),
    }
}
