//! A fleet simulated on this machine (issue 27): generated repositories with histories —
//! some sharing a leaked token, some holding SOPS files for a recipient who is leaving —
//! run as shard processes the way an Indexed Job runs them (`JOB_COMPLETION_INDEX`,
//! `TRESOR_SHARD_COUNT`), one of them killed mid-run and retried, merged, and compared with
//! one process over the whole list: the same findings, the same incidents, the same exposure
//! report, no repository missed or doubled. Then a rotation campaign, sharded as GitLab
//! shards it and also killed and retried, leaves one commit per repository that the real
//! sops opens with the staying key and not with the departed one.

use crate::common::*;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::process::Stdio;

const REPOS: usize = 48;
const SHARDS: usize = 4;
const TOKEN_ONE: &str = "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";
const TOKEN_TWO: &str = "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";

/// Repository `r{i}`: a README; a token committed then removed (every 7th shares token one,
/// every 11th has token two); every 5th an encrypted file for the staying and the leaving key.
fn make_fleet(sb: &Sandbox, leaving: &str) -> std::path::PathBuf {
    let both = format!("{},{leaving}", recipient());
    for i in 0..REPOS {
        let dir = sb.path(&format!("r{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let at = |args: &[&str], day: usize| git_at(&dir, args, &format!("2025-01-{:02}T00:00:00Z", day + 1));
        at(&["init", "-q", "-b", "main"], 0);
        std::fs::write(dir.join("README.md"), format!("# service {i}\n")).unwrap();
        at(&["add", "-A"], 0);
        at(&["commit", "-qm", "start"], 0);
        let token = match (i % 7, i % 11) {
            (0, _) => Some(TOKEN_ONE),
            (_, 0) => Some(TOKEN_TWO),
            _ => None,
        };
        if let Some(token) = token {
            std::fs::write(dir.join("deploy.env"), format!("GITHUB_TOKEN={token}\n")).unwrap();
            at(&["add", "-A"], 1);
            at(&["commit", "-qm", "deploy settings"], 1);
            std::fs::remove_file(dir.join("deploy.env")).unwrap();
            at(&["add", "-A"], 2);
            at(&["commit", "-qm", "oops"], 2);
        }
        if i % 5 == 0 {
            std::fs::write(dir.join(".sops.yaml"), format!("creation_rules:\n  - age: {both}\n")).unwrap();
            let f = dir.join("secrets.yaml");
            std::fs::write(&f, format!("db_password: pw-{i}\napi_key: key-{i}\n")).unwrap();
            sb.tresor().args(["encrypt", "-i"]).arg(&f).current_dir(&dir).ok();
            at(&["add", "-A"], 3);
            at(&["commit", "-qm", "secrets"], 3);
        }
    }
    let list: String = (0..REPOS).map(|i| format!("r{i}\n")).collect();
    sb.write("repos.txt", &list)
}

/// The findings of a scan report as comparable rows, in order of appearance.
fn rows(report: &serde_json::Value) -> Vec<String> {
    report
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            ["Repository", "Commit", "File", "RuleID", "StartLine", "SecretHash"].map(|k| f[k].to_string()).join(" ")
        })
        .collect()
}

#[test]
fn sharded_runs_with_a_killed_shard_merge_into_what_one_process_finds() {
    let sb = Sandbox::new();
    let leaving_key = testdata("keys/age-test3.txt");
    let leaving = recipient_of(&leaving_key);
    let list = make_fleet(&sb, &leaving);

    // One process over the whole list.
    let single = sb
        .tresor()
        .args(["scan", "--format", "json", "-o"])
        .arg(sb.path("single.json"))
        .arg("--repos")
        .arg(&list)
        .run();
    assert_eq!(single.status.code(), Some(1), "{}", String::from_utf8_lossy(&single.stderr));
    let single: serde_json::Value = serde_json::from_str(&sb.read("single.json")).unwrap();
    let leaky: BTreeSet<String> = (0..REPOS).filter(|i| i % 7 == 0 || i % 11 == 0).map(|i| format!("r{i}")).collect();
    let found: BTreeSet<String> =
        single.as_array().unwrap().iter().map(|f| f["Repository"].as_str().unwrap().to_string()).collect();
    assert_eq!(found, leaky, "every leak found, nothing else");

    // The shards as an Indexed Job runs them, all at once; shard index 2 is killed after it
    // started on its first repository, and leaves no report behind (reports are written
    // whole or not at all), then is retried.
    let shard_cmd = |index: usize| {
        let mut c = sb.tresor();
        c.args(["scan", "--format", "json", "--exit-code", "0", "-o"])
            .arg(sb.path(&format!("shard-{index}.json")))
            .arg("--repos")
            .arg(&list)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("TRESOR_SHARD_COUNT", SHARDS.to_string());
        c
    };
    let mut victim = shard_cmd(2).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut progress = std::io::BufReader::new(victim.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("[1/") {
        line.clear();
        assert!(progress.read_line(&mut line).unwrap() > 0, "the shard ended before its first repository");
    }
    victim.kill().unwrap();
    let status = victim.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed mid-run, not finished");
    assert!(!sb.path("shard-2.json").exists(), "a killed shard leaves no partial report");
    let runs: Vec<_> =
        (0..SHARDS).map(|i| shard_cmd(i).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()).collect();
    for mut r in runs {
        assert!(r.wait().unwrap().success());
    }
    let first = sb.read("shard-2.json");
    shard_cmd(2).ok();
    assert_eq!(sb.read("shard-2.json"), first, "a retried shard writes the same report");

    // Sharded == single: the same findings, each once; every repository in one shard.
    let shards: Vec<serde_json::Value> =
        (0..SHARDS).map(|i| serde_json::from_str(&sb.read(&format!("shard-{i}.json"))).unwrap()).collect();
    let mut sharded: Vec<String> = shards.iter().flat_map(rows).collect();
    let mut whole = rows(&single);
    sharded.sort();
    whole.sort();
    assert_eq!(sharded, whole, "sharded and single runs find the same, each once");
    let owners: Vec<BTreeSet<String>> = shards
        .iter()
        .map(|s| s.as_array().unwrap().iter().map(|f| f["Repository"].as_str().unwrap().to_string()).collect())
        .collect();
    for (a, b) in owners.iter().enumerate().flat_map(|(i, a)| owners[i + 1..].iter().map(move |b| (a, b))) {
        assert!(a.is_disjoint(b), "a repository in two shards: {a:?} {b:?}");
    }

    // Merged: one incident per token, listing every repository it leaked into; the same
    // whether merged from the shards or from the single run.
    let merge = |files: Vec<std::path::PathBuf>| {
        let out = sb.tresor().args(["report", "merge", "--exit-code", "0"]).args(files).ok();
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let from_shards = merge((0..SHARDS).map(|i| sb.path(&format!("shard-{i}.json"))).collect());
    assert_eq!(from_shards, merge(vec![sb.path("single.json")]));
    let incidents = from_shards.as_array().unwrap();
    assert_eq!(incidents.len(), 2, "{from_shards}");
    let of = |n: usize| -> BTreeSet<String> {
        (0..REPOS)
            .filter(|i| if n == 1 { i % 7 == 0 } else { i % 7 != 0 && i % 11 == 0 })
            .map(|i| format!("r{i}"))
            .collect()
    };
    let listed = |k: usize| -> BTreeSet<String> {
        incidents[k]["repositories"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(listed(0), of(1), "token one, the most widespread, first");
    assert_eq!(listed(1), of(2));

    // The exposure report for the leaving key: sharded == single, each repository once.
    let exposure = |shard: Option<usize>| -> Vec<serde_json::Value> {
        let mut c = sb.tresor();
        c.args(["audit", "--exposed-to", &leaving, "--format", "json", "--repos"]).arg(&list);
        if let Some(i) = shard {
            c.env("JOB_COMPLETION_INDEX", i.to_string()).env("TRESOR_SHARD_COUNT", SHARDS.to_string());
        }
        let out = c.run();
        assert_eq!(out.status.code(), Some(10), "values to rotate: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    };
    let key = |r: &serde_json::Value| r["repository"].as_str().unwrap().to_string();
    let mut whole = exposure(None);
    let mut sharded: Vec<serde_json::Value> = (0..SHARDS).flat_map(|i| exposure(Some(i))).collect();
    whole.sort_by_key(key);
    sharded.sort_by_key(key);
    assert_eq!(sharded.len(), REPOS, "every repository audited once");
    assert_eq!(sharded, whole);
    let must_rotate: BTreeSet<String> = whole
        .iter()
        .filter(|r| r["report"]["must_rotate"].as_array().is_some_and(|m| !m.is_empty()))
        .map(key)
        .collect();
    let with_sops: BTreeSet<String> = (0..REPOS).filter(|i| i % 5 == 0).map(|i| format!("r{i}")).collect();
    assert_eq!(must_rotate, with_sops, "{whole:?}");

    // The rotation campaign, in two GitLab shards, the first killed mid-run and retried:
    // one commit per repository with SOPS files, the work trees untouched; sops opens the
    // result with the staying key, not the leaving one.
    let campaign = |node: usize| {
        let mut c = sb.tresor();
        with_git_identity(&mut c)
            .args(["rotate", "--rm-age", &leaving, "--branch", "rotate-leaver", "--repos"])
            .arg(&list)
            .env("CI_NODE_INDEX", node.to_string())
            .env("CI_NODE_TOTAL", "2");
        c
    };
    let mut victim = campaign(1).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut progress = std::io::BufReader::new(victim.stderr.take().unwrap());
    // Killed once it has started on its second repository with SOPS files: the first one
    // is committed, the second anywhere in between.
    let mut with_files = 0;
    let mut line = String::new();
    while with_files < 2 {
        line.clear();
        assert!(progress.read_line(&mut line).unwrap() > 0, "the campaign ended first");
        let repo = line.trim().rsplit(' ').next().unwrap_or("");
        if line.contains("] r") && repo[1..].parse::<usize>().is_ok_and(|i| i % 5 == 0) {
            with_files += 1;
        }
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let mut resumed = 0;
    for node in 1..=2 {
        let out = campaign(node).run();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        resumed += summary.as_array().unwrap().iter().filter(|r| r["resumed"] == true).count();
    }
    assert!(resumed >= 1, "the retry took up the killed run's commit");
    for i in 0..REPOS {
        let dir = sb.path(&format!("r{i}"));
        let branch = git_at(&dir, &["branch", "--list", "rotate-leaver"], "2025-02-01T00:00:00Z");
        if i % 5 != 0 {
            assert!(branch.is_empty(), "r{i} needed nothing");
            continue;
        }
        assert_eq!(git_at(&dir, &["rev-list", "--count", "main..rotate-leaver"], "2025-02-01T00:00:00Z"), "1", "r{i}");
        assert_eq!(git_at(&dir, &["status", "--porcelain"], "2025-02-01T00:00:00Z"), "", "r{i}: work tree untouched");
        assert_eq!(git_at(&dir, &["rev-parse", "--abbrev-ref", "HEAD"], "2025-02-01T00:00:00Z"), "main");
        assert_eq!(
            git_at(&dir, &["worktree", "list"], "2025-02-01T00:00:00Z").lines().count(),
            1,
            "r{i}: no work tree left"
        );
        let file = sb.write(
            &format!("r{i}-rotated.yaml"),
            &(git_at(&dir, &["show", "rotate-leaver:secrets.yaml"], "2025-02-01T00:00:00Z") + "\n"),
        );
        let staying = sb.sops().args(["decrypt"]).arg(&file).ok();
        assert_eq!(staying, format!("db_password: pw-{i}\napi_key: key-{i}\n"));
        let gone = sb.sops().args(["decrypt"]).arg(&file).env("SOPS_AGE_KEY_FILE", &leaving_key).run();
        assert!(!gone.status.success(), "r{i}: the leaving key still opens the rotated file");
    }
}
