//! `tresor audit`: metadata-only reports on files written by tresor, by the real sops,
//! and by hand (US-cloud KMS entries), with policies from .sops.yaml and tresor.toml.

use crate::common::*;

const AWS_ENTRY: &str = "    kms:\n        - arn: arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n          created_at: \"2026-01-01T00:00:00Z\"\n          enc: AQICAHh...\n          aws_profile: \"\"\n";

fn with_aws_key(enc: &str) -> String {
    enc.replacen("sops:\n", &format!("sops:\n{AWS_ENTRY}"), 1)
}

#[test]
fn default_policy_flags_a_us_cloud_key_that_can_decrypt_alone() {
    let sb = Sandbox::new();
    let p = sb.write("ok.yaml", "a: b\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    let enc = sb.read("ok.yaml");
    sb.write("us.yaml", &with_aws_key(&enc));
    let out = sb.tresor().args(["audit", "ok.yaml"]).ok();
    assert!(out.contains("age:holder") && out.contains("ok"), "{out}");
    let err_out = sb.tresor().args(["audit", "--format", "json", "ok.yaml", "us.yaml"]).run();
    assert_eq!(err_out.status.code(), Some(10));
    let v: serde_json::Value = serde_json::from_slice(&err_out.stdout).unwrap();
    let us = &v["files"][1];
    assert_eq!(us["foreign_can_decrypt"], true);
    assert_eq!(us["keys"][0]["provider"], "aws-kms");
    assert_eq!(us["keys"][0]["jurisdiction"], "us");
    assert!(us["violations"][0].as_str().unwrap().contains("outside the EU"));
    assert_eq!(v["files"][0]["violations"].as_array().unwrap().len(), 0);
    assert!(v["tool"].as_str().unwrap().starts_with("tresor "));
    // sops itself still decrypts the hand-edited file through age (it tries age first).
    assert_eq!(sb.sops().arg("decrypt").arg(sb.path("us.yaml")).ok(), "a: b\n");
}

/// "OpenBao on AWS Frankfurt": a self-hosted transit key is judged by its host. On an AWS
/// load balancer it is US jurisdiction whatever the region; on an undeclared host it is
/// `unknown` (a violation of the default policy, never `ok`), until the policy's `hosting:`
/// declares where it runs — and the declaration is quoted in the evidence report.
#[test]
fn a_self_hosted_transit_key_is_judged_by_its_host_and_a_declaration_is_evidence() {
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "a: b\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    let enc = sb.read("s.yaml");
    let at = |addr: &str| {
        enc.replacen(
            "sops:\n",
            &format!("sops:\n    hc_vault:\n        - vault_address: {addr}\n          engine_path: transit\n          key_name: app\n          created_at: \"2026-01-01T00:00:00Z\"\n          enc: vault:v1:AAAA\n"),
            1,
        )
    };
    sb.write("aws.yaml", &at("https://bao.internal.eu-central-1.elb.amazonaws.com"));
    sb.write("corp.yaml", &at("https://bao.corp.example:8200"));
    let out = sb.tresor().args(["audit", "--format", "json", "aws.yaml", "corp.yaml"]).run();
    assert_eq!(out.status.code(), Some(10));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key =
        |f: usize| v["files"][f]["keys"].as_array().unwrap().iter().find(|k| k["kind"] == "hc_vault").cloned().unwrap();
    assert_eq!(key(0)["jurisdiction"], "us", "{v}");
    assert!(key(0)["basis"].as_str().unwrap().contains("Amazon Web Services"), "{v}");
    assert_eq!(key(1)["jurisdiction"], "unknown", "{v}");
    assert!(key(1)["basis"].as_str().unwrap().contains("hosting:"), "{v}");
    // Declared in .sops.yaml (sops ignores the section): the corp host passes, with the note.
    sb.write(
        ".sops.yaml",
        "policy:\n  hosting:\n    bao.corp.example: {jurisdiction: eu, note: \"own data centre, Frankfurt (contract DC-7)\"}\n",
    );
    let md = sb.tresor().args(["audit", "--format", "markdown", "corp.yaml"]).ok();
    assert!(md.contains("own data centre, Frankfurt (contract DC-7)") && md.contains("declared eu"), "{md}");
    // A declaration that contradicts the older `jurisdictions:` spelling is a config error.
    sb.write(
        ".sops.yaml",
        "policy:\n  hosting:\n    bao.corp.example: eu\n  jurisdictions:\n    bao.corp.example: us\n",
    );
    sb.tresor().args(["audit", "corp.yaml"]).fails_with(5);
}

#[test]
fn shamir_with_an_eu_group_is_not_defeated_by_a_us_key() {
    let sb = Sandbox::new();
    let r2 = recipient_of(&testdata("keys/age-test2.txt"));
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{r2}]\n",
            recipient()
        ),
    );
    let p = sb.write("g.yaml", "a: b\n");
    sb.tresor().args(["encrypt", "-i"]).arg(&p).ok();
    // Put an AWS key into group 1 by hand: it yields one share, not the threshold.
    let enc = sb.read("g.yaml");
    let edited = enc.replacen("    key_groups:\n        - hc_vault: []\n", "    key_groups:\n        - kms:\n            - arn: arn:aws:kms:us-east-1:1:key/x\n              created_at: \"2026-01-01T00:00:00Z\"\n              enc: AQ==\n          hc_vault: []\n", 1);
    assert_ne!(edited, enc, "{enc}");
    sb.write("g.yaml", &edited);
    let out = sb.tresor().args(["audit", "--format", "json", "g.yaml"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["files"][0]["foreign_can_decrypt"], false);
    assert_eq!(v["files"][0]["shamir_threshold"], 2);
    // sops still decrypts with the two age groups.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(key_file()).unwrap(),
        std::fs::read_to_string(testdata("keys/age-test2.txt")).unwrap()
    );
    let mut s = sb.sops();
    s.arg("decrypt").arg(sb.path("g.yaml")).env_remove("SOPS_AGE_KEY_FILE").env("SOPS_AGE_KEY", &both);
    assert_eq!(s.ok(), "a: b\n");
}

#[test]
fn owner_is_kept_in_clear_and_sops_ignores_it() {
    let sb = Sandbox::new();
    let p = sb.write("o.yaml", "token: t\n");
    sb.tresor().args(["encrypt", "-i", "--owner", "payments-team@example.eu", "--age", &recipient()]).arg(&p).ok();
    assert!(sb.read("o.yaml").contains("owner: payments-team@example.eu"));
    assert_eq!(sb.sops().arg("decrypt").arg(&p).ok(), "token: t\n");
    let out = sb.tresor().args(["audit", "--format", "markdown", "o.yaml"]).ok();
    assert!(out.contains("payments-team@example.eu") && out.contains("# Secrets key-custody evidence"), "{out}");
    assert!(out.contains("| Key groups |") && out.contains("## Policy violations\n\nNone."), "{out}");
}

#[test]
fn policy_in_sops_yaml_enforces_age_owner_and_providers_and_sops_tolerates_it() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - age: {}\npolicy:\n  max_data_key_age_days: 30\n  require_owner: true\n  allowed_providers: [age, ovhcloud-kms]\n",
            recipient()
        ),
    );
    let p = sb.write("s.yaml", "a: b\n");
    // sops accepts a .sops.yaml with our policy section.
    let by_sops = sb.sops().args(["encrypt"]).arg(&p).ok();
    sb.write("by-sops.yaml", &by_sops);
    sb.tresor().args(["encrypt", "-i", "--owner", "ops"]).arg(&p).ok();
    let old = sb.read("s.yaml").replace(
        &sb.read("s.yaml").lines().find(|l| l.contains("lastmodified")).unwrap().to_string(),
        "    lastmodified: \"2020-01-01T00:00:00Z\"",
    );
    sb.write("old.yaml", &old);
    let out = sb.tresor().args(["audit", "s.yaml", "old.yaml", "by-sops.yaml"]).run();
    assert_eq!(out.status.code(), Some(10));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("old.yaml: data key is") && text.contains("at most 30"), "{text}");
    assert!(text.contains("by-sops.yaml: no owner recorded"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("s.yaml: ")), "s.yaml should pass: {text}");
    assert!(text.contains("3 file(s), 2 with policy violations"), "{text}");
}

#[test]
fn tresor_toml_policy_and_recursive_audit() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("apps")).unwrap();
    sb.write("tresor.toml", "[policy]\nallowed_jurisdictions = [\"eu\"]\n");
    let p = sb.write("apps/a.yaml", "a: b\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    sb.write("apps/plain.yaml", "not: encrypted\n");
    let out = sb.tresor().args(["audit", "--format", "json", "-r", "apps"]).run();
    assert_eq!(out.status.code(), Some(10));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"].as_array().unwrap().len(), 1, "plain files are skipped by -r");
    assert!(v["policy_source"].as_str().unwrap().ends_with("tresor.toml"));
    assert!(v["files"][0]["violations"][0].as_str().unwrap().contains("jurisdiction 'holder'"));
}

/// `audit --value-age` on a real Git history, without a key: a value tresor never touched
/// dates from the commit that added it (exact), one changed by `set` from that commit (at
/// the latest: without a key a re-encryption cannot be told from a change), one added
/// later from its own commit; `--older-than` filters; files outside the history are named.
#[test]
fn value_age_reads_git_history_without_a_key() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str], date: &str| git_at(&repo, args, date);
    git(&["init", "-q", "-b", "main"], "2020-01-01T00:00:00Z");
    let f = sb.write("repo/s.yaml", "db:\n  password: one\n  user: admin\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&f).ok();
    git(&["add", "-A"], "2020-01-01T00:00:00Z");
    git(&["commit", "-qm", "first"], "2020-01-01T00:00:00Z");
    let first = git(&["rev-parse", "HEAD"], "2020-01-01T00:00:00Z").trim().to_string();
    sb.tresor().args(["set"]).arg(&f).args(["[\"db\"][\"password\"]", "\"two\""]).ok();
    git(&["commit", "-qam", "second"], "2024-06-01T00:00:00Z");
    let second = git(&["rev-parse", "HEAD"], "2024-06-01T00:00:00Z").trim().to_string();
    sb.tresor().args(["set"]).arg(&f).args(["[\"api\"]", "\"k\""]).ok();
    sb.write("repo/other.txt", "unrelated\n");
    // Today, so that "recent" stays recent whenever the test runs.
    let today = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT00:00:00Z"]).output().unwrap();
    let today = String::from_utf8(today.stdout).unwrap().trim().to_string();
    git(&["add", "-A"], &today);
    git(&["commit", "-qm", "third"], &today);
    let third = git(&["rev-parse", "HEAD"], &today).trim().to_string();

    let out =
        sb.tresor().args(["audit", "--value-age", "--format", "json"]).arg(&f).env_remove("SOPS_AGE_KEY_FILE").ok();
    let ages: serde_json::Value = serde_json::from_str(&out).unwrap();
    let get = |p: &str| {
        ages.as_array().unwrap().iter().find(|a| a["path"] == p).cloned().unwrap_or_else(|| panic!("{p}: {out}"))
    };
    assert_eq!(get("[\"db\"][\"user\"]")["commit"], first.as_str());
    assert_eq!(get("[\"db\"][\"user\"]")["exact"], true);
    assert_eq!(get("[\"db\"][\"password\"]")["commit"], second.as_str());
    assert_eq!(get("[\"db\"][\"password\"]")["exact"], false);
    assert_eq!(get("[\"api\"]")["commit"], third.as_str());
    assert!(get("[\"db\"][\"user\"]")["last_changed"].as_str().unwrap().starts_with("2020-01-01"));
    // Values unchanged for more than 400 days: the 2020 and 2024 ones, not the new one.
    let old = sb.tresor().args(["audit", "--value-age", "--older-than", "400"]).arg(&f).ok();
    assert!(
        old.contains("[\"db\"][\"user\"]") && old.contains("[\"db\"][\"password\"]") && !old.contains("[\"api\"]"),
        "{old}"
    );
    assert!(old.contains("at the latest") && old.contains("exact"), "{old}");
    // The policy's max_value_age: the first rule covering a value applies; over it, exit 10.
    sb.write(
        "repo/.sops.yaml",
        "policy:\n  max_value_age:\n    - files: \"**/s.yaml\"\n      paths: password\n      days: 100000\n    - days: 400\n",
    );
    let limited = sb.tresor().args(["audit", "--value-age", "--format", "json"]).arg(&f).run();
    assert_eq!(limited.status.code(), Some(10));
    let limited: serde_json::Value = serde_json::from_slice(&limited.stdout).unwrap();
    let get = |p: &str| limited.as_array().unwrap().iter().find(|a| a["path"] == p).cloned().unwrap();
    assert_eq!(
        (get("[\"db\"][\"user\"]")["max_days"].as_u64(), get("[\"db\"][\"user\"]")["over_limit"].as_bool()),
        (Some(400), Some(true))
    );
    assert_eq!(get("[\"db\"][\"password\"]")["over_limit"], false);
    assert_eq!(get("[\"api\"]")["over_limit"], false, "changed today");
    let md = sb.tresor().args(["audit", "--value-age", "--format", "markdown"]).arg(&f).run();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| File | Path |") && md.contains("OVER 400d") && md.contains("Values over their limit: 1"),
        "{md}"
    );
    std::fs::remove_file(sb.path("repo/.sops.yaml")).unwrap();
    // A rotation re-encrypts every value: without a key the dates stop there ("at the
    // latest"); with the key the plaintexts are compared and every date is exact again.
    sb.tresor().args(["rotate", "-i"]).arg(&f).ok();
    git(&["commit", "-qam", "rotate"], &today);
    let rotated = git(&["rev-parse", "HEAD"], &today).trim().to_string();
    let keyless =
        sb.tresor().args(["audit", "--value-age", "--format", "json"]).arg(&f).env_remove("SOPS_AGE_KEY_FILE").ok();
    let keyless: serde_json::Value = serde_json::from_str(&keyless).unwrap();
    let user = keyless.as_array().unwrap().iter().find(|a| a["path"] == "[\"db\"][\"user\"]").unwrap();
    assert_eq!((user["commit"].as_str(), user["exact"].as_bool()), (Some(rotated.as_str()), Some(false)));
    let with = sb.tresor().args(["audit", "--value-age", "--with-keys", "--format", "json"]).arg(&f).ok();
    assert!(!with.contains("admin") && !with.contains("\"two\""), "plaintext is never printed: {with}");
    let with: serde_json::Value = serde_json::from_str(&with).unwrap();
    let get = |p: &str| with.as_array().unwrap().iter().find(|a| a["path"] == p).cloned().unwrap();
    assert_eq!(
        (get("[\"db\"][\"user\"]")["commit"].as_str(), get("[\"db\"][\"user\"]")["exact"].as_bool()),
        (Some(first.as_str()), Some(true))
    );
    assert_eq!(
        (get("[\"db\"][\"password\"]")["commit"].as_str(), get("[\"db\"][\"password\"]")["exact"].as_bool()),
        (Some(second.as_str()), Some(true))
    );
    assert_eq!(get("[\"api\"]")["commit"].as_str(), Some(third.as_str()));
    // Not in a repository: an error that says so.
    std::fs::create_dir_all(sb.path("loose")).unwrap();
    let loose = sb.write("loose/x.yaml", "a: b\n");
    let e = sb.tresor().args(["audit", "--value-age"]).arg(&loose).output().unwrap();
    assert!(!e.status.success());
}

/// Standard output of a command that must exit with `code` (a report with findings).
trait StdoutWith {
    fn stdout_with(&mut self, code: i32) -> String;
}

impl StdoutWith for std::process::Command {
    fn stdout_with(&mut self, code: i32) -> String {
        let out = self.run();
        assert_eq!(out.status.code(), Some(code), "{self:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The key that leaves, for [`exposed_to_lists_exactly_the_current_values_the_key_could_read`].
enum Departing {
    Age,
    Pgp(Gpg),
    /// The server runs as long as the key is needed.
    Transit {
        _server: Bao,
        uri: String,
    },
}

impl Departing {
    /// The key as `audit --exposed-to` takes it, and the flags that add and remove it.
    fn key_and_flags(&self) -> (String, &'static str, &'static str) {
        match self {
            Departing::Age => (recipient_of(&testdata("keys/age-test2.txt")), "--age", "--rm-age"),
            Departing::Pgp(g) => (g.fp.clone(), "--pgp", "--rm-pgp"),
            Departing::Transit { uri, .. } => (uri.clone(), "--hc-vault-transit", "--rm-hc-vault-transit"),
        }
    }

    /// What tresor needs to reach the key while it is a recipient.
    fn env(&self, cmd: &mut std::process::Command) {
        match self {
            Departing::Age => {}
            Departing::Pgp(g) => {
                cmd.env("GNUPGHOME", &g.home);
            }
            Departing::Transit { .. } => {
                cmd.env("VAULT_TOKEN", "root");
            }
        }
    }
}

/// Offboarding on a real Git history, for an age, a PGP and a transit key: the key wraps
/// the first revisions, then `rotate --rm-…` removes it (new data key, every value
/// re-encrypted), then the real sops changes one value and tresor adds another. With the
/// staying key held, exactly the values still equal to what the departing key could read
/// must rotate (plaintexts compared in memory, never printed); without a key, a new
/// ciphertext cannot be judged and every value is `unknown`; while the key is still a
/// recipient, everything current must rotate, proven by equal ciphertexts alone.
#[test]
fn exposed_to_lists_exactly_the_current_values_the_key_could_read() {
    let bao = Bao::start();
    let uri = bao.create_key("departing");
    let sb0 = Sandbox::new();
    for departing in [Departing::Age, Departing::Pgp(Gpg::new(&sb0)), Departing::Transit { _server: bao, uri }] {
        let (key, add, rm) = departing.key_and_flags();
        let sb = Sandbox::new();
        let repo = sb.path("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let git = |args: &[&str], date: &str| git_at(&repo, args, date);
        let tresor = || {
            let mut c = sb.tresor();
            departing.env(&mut c);
            c
        };
        git(&["init", "-q", "-b", "main"], "2024-01-01T00:00:00Z");
        let f = sb.write("repo/s.yaml", "a: alpha-secret\nb: bravo-secret\nc: charlie-secret\n");
        tresor().args(["encrypt", "-i", "--age", &recipient(), add, &key]).arg(&f).ok();
        git(&["add", "-A"], "2024-01-01T00:00:00Z");
        git(&["commit", "-qm", "both keys"], "2024-01-01T00:00:00Z");
        let c1 = git(&["rev-parse", "HEAD"], "2024-01-01T00:00:00Z");
        tresor().arg("set").arg(&f).args(["[\"c\"]", "\"charlie-2\""]).ok();
        git(&["commit", "-qam", "c changed, key still there"], "2024-06-01T00:00:00Z");
        let c2 = git(&["rev-parse", "HEAD"], "2024-06-01T00:00:00Z");

        // Still a recipient: every current value is readable, by equal ciphertexts alone.
        let out = tresor()
            .args(["audit", "--exposed-to", &key, "--format", "json"])
            .arg(&f)
            .env_remove("SOPS_AGE_KEY_FILE")
            .stdout_with(10);
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["must_rotate"].as_array().unwrap().len(), 3, "{out}");
        assert_eq!(r["still_a_recipient"], serde_json::json!([f.display().to_string()]), "{out}");

        tresor().args(["rotate", "-i", rm, &key]).arg(&f).ok();
        assert!(!sb.read("repo/s.yaml").contains(&key), "the key is gone from the file");
        git(&["commit", "-qam", "departing key removed"], "2025-01-01T00:00:00Z");
        sb.sops().arg("set").arg(&f).args(["[\"b\"]", "\"bravo-2\""]).ok();
        tresor().arg("set").arg(&f).args(["[\"d\"]", "\"delta-new\""]).ok();
        git(&["commit", "-qam", "b changed by sops, d added"], "2025-06-01T00:00:00Z");

        // With the staying key: a (since c1) and c (since c2) are still what the key read.
        let out =
            tresor().args(["audit", "--exposed-to", &key, "--with-keys", "--format", "json"]).arg(&f).stdout_with(10);
        for secret in ["alpha-secret", "charlie-2", "bravo", "delta"] {
            assert!(!out.contains(secret), "no plaintext in the report: {out}");
        }
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        let list = |k: &str| -> Vec<(String, String)> {
            r[k].as_array()
                .unwrap()
                .iter()
                .map(|e| (e["path"].as_str().unwrap().to_string(), e["since_commit"].as_str().unwrap().to_string()))
                .collect()
        };
        assert_eq!(list("must_rotate"), [("[\"a\"]".to_string(), c1.clone()), ("[\"c\"]".to_string(), c2.clone())]);
        assert_eq!(list("rotated_since"), [("[\"b\"]".to_string(), c2.clone())]);
        assert!(list("unknown").is_empty() && r["still_a_recipient"].as_array().unwrap().is_empty(), "{out}");
        assert_eq!((r["revisions_read"].as_u64(), r["revisions_exposed"].as_u64()), (Some(4), Some(2)));

        // Without a key: rotate re-encrypted everything, so nothing can be proven either way.
        let out = tresor()
            .args(["audit", "--exposed-to", &key, "--with-keys", "--format", "json"])
            .arg(&f)
            .env_remove("SOPS_AGE_KEY_FILE")
            .ok();
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(r["must_rotate"].as_array().unwrap().is_empty(), "{out}");
        assert_eq!(r["unknown"].as_array().unwrap().len(), 3, "{out}");

        // The table names files and paths, never values.
        let table = tresor().args(["audit", "--exposed-to", &key, "--with-keys"]).arg(&f).stdout_with(10);
        assert!(table.contains("MUST ROTATE") && table.contains("[\"a\"]") && table.contains("ROTATED SINCE"));
        assert!(!table.contains("alpha-secret"), "{table}");
    }
    // --with-keys alone is a usage error, not a silent key report.
    let sb = Sandbox::new();
    let f = sb.encrypted("x.yaml", "a: b\n");
    sb.tresor().args(["audit", "--with-keys"]).arg(&f).fails_with(8);
}

/// Harvest now, decrypt later, on a real Git history: a post-quantum recipient added next to
/// the X25519 one leaves the file harvestable (policy violation, plan: replace the X25519
/// key); once `rotate --rm-age` removes it the file is quantum-safe, and the values a
/// recorded old revision holds are the ones to change — exactly, with the keys held.
#[test]
fn post_quantum_report_finds_classical_wraps_now_and_in_history() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = with_git_identity(std::process::Command::new("git").args(args).current_dir(&repo)).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let pq_key = sb.path("pq.txt");
    let pq = sb.tresor().args(["keygen", "--pq", "-o"]).arg(&pq_key).ok().trim().to_string();
    assert!(pq.starts_with("age1pq1"), "{pq}");
    let both = sb.write(
        "both.txt",
        &format!("{}{}", std::fs::read_to_string(key_file()).unwrap(), std::fs::read_to_string(&pq_key).unwrap()),
    );
    git(&["init", "-q", "-b", "main"]);
    sb.write("repo/.sops.yaml", "policy:\n  require_post_quantum: true\n");
    let f = sb.write("repo/s.yaml", "a: alpha-secret\nb: bravo-secret\n");
    sb.tresor().args(["encrypt", "-i", "--age", &format!("{},{pq}", recipient())]).arg(&f).ok();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "x25519 and pq"]);
    let c1 = git(&["rev-parse", "HEAD"]);

    // The weakest wrap decides: the regular audit fails the policy, the report plans.
    let audit = sb.tresor().args(["audit", "--format", "json"]).arg(&f).run();
    assert_eq!(audit.status.code(), Some(10));
    let v: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(v["files"][0]["post_quantum"], false);
    assert!(v["files"][0]["violations"][0].as_str().unwrap().contains("classical wraps"), "{v}");
    let wraps: Vec<&str> =
        v["files"][0]["keys"].as_array().unwrap().iter().map(|k| k["wrap"].as_str().unwrap()).collect();
    assert_eq!(wraps, ["classical", "post-quantum"]);
    let out = sb.tresor().args(["audit", "--post-quantum", "--format", "json"]).arg(&f).run();
    assert_eq!(out.status.code(), Some(10));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["plan"]["replace"][0]["key"], recipient().as_str(), "{r}");
    assert_eq!(r["must_rotate"].as_array().unwrap().len(), 2, "{r}");

    // Migrate: drop the X25519 recipient (new data key), then change one value.
    sb.tresor().args(["rotate", "-i", "--rm-age", &recipient()]).arg(&f).env("SOPS_AGE_KEY_FILE", &both).ok();
    git(&["commit", "-qam", "pq only"]);
    sb.tresor().arg("set").arg(&f).args(["[\"b\"]", "\"bravo-2\""]).env("SOPS_AGE_KEY_FILE", &pq_key).ok();
    git(&["commit", "-qam", "b changed"]);
    sb.tresor().args(["audit"]).arg(&f).ok();
    let out = sb
        .tresor()
        .args(["audit", "--post-quantum", "--with-keys", "--format", "json"])
        .arg(&f)
        .env("SOPS_AGE_KEY_FILE", &both)
        .run();
    assert_eq!(out.status.code(), Some(10), "a value from the harvestable revision is still current");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("alpha-secret") && !text.contains("bravo"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["files"][0]["post_quantum"], true, "{r}");
    assert!(r["plan"]["replace"].as_array().unwrap().is_empty(), "{r}");
    let paths = |k: &str| -> Vec<String> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e["path"].as_str().unwrap(), e["since_commit"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(paths("must_rotate"), [format!("[\"a\"] {c1}")]);
    assert_eq!(paths("rotated_since"), [format!("[\"b\"] {c1}")]);
    assert_eq!((r["revisions_read"].as_u64(), r["revisions_harvestable"].as_u64()), (Some(3), Some(1)));
    // The table ends with the plan.
    let table =
        sb.tresor().args(["audit", "--post-quantum", "--with-keys"]).arg(&f).env("SOPS_AGE_KEY_FILE", &both).run();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("QUANTUM-SAFE") && table.contains("MUST ROTATE") && table.contains("Plan:"), "{table}");
}

/// The same password in dev and prod is found by keyed hashes in memory: the report names
/// the places, never the value; a file no key here opens is named as not compared (with a
/// warning), and short values like `true` are not counted as copies.
#[test]
fn copies_are_found_across_files_without_printing_them() {
    let sb = Sandbox::new();
    let dev = sb.encrypted("dev.yaml", "db:\n  password: Tr0ub4dor-and-3\nenabled: true\napi: dev-only-key-1\n");
    let prod = sb.encrypted("prod.yaml", "database:\n  pass: Tr0ub4dor-and-3\nenabled: true\napi: prod-only-key-2\n");
    let locked = sb.write("locked.yaml", "db: Tr0ub4dor-and-3\n");
    let other = recipient_of(&testdata("keys/age-test3.txt"));
    sb.tresor().args(["encrypt", "-i", "--age", &other]).arg(&locked).ok();
    let out = sb.tresor().args(["audit", "--copies", "--format", "json"]).args([&dev, &prod, &locked]).run();
    assert_eq!(out.status.code(), Some(10));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("Tr0ub4dor"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{r}");
    let places: Vec<String> = groups[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["file"].as_str().unwrap(), p["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        places,
        [format!("{} [\"db\"][\"password\"]", dev.display()), format!("{} [\"database\"][\"pass\"]", prod.display())]
    );
    assert_eq!(r["values_too_short"], 2, "`enabled: true` twice: {r}");
    assert_eq!(r["not_opened"][0]["file"], locked.display().to_string());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not compared"));
    // No copies: exit 0.
    sb.tresor().args(["audit", "--copies"]).arg(&dev).ok();
}

/// The delivery side in the same report: an External Secrets Operator store checked into
/// the tree that fetches from AWS Secrets Manager in Frankfurt is a US-jurisdiction
/// violation of the default policy, next to SOPS files whose keys are all fine; a Scaleway
/// store passes; a tree with only ESO stores is still audited.
#[test]
fn eso_secret_stores_in_the_tree_are_judged_with_the_keys() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("repo/apps")).unwrap();
    let db = sb.write("repo/apps/db.yaml", "password: x\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&db).ok();
    sb.write(
        "repo/apps/store.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata:\n  name: aws-frankfurt\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: eu-central-1\n",
    );
    let out = sb.tresor().args(["audit", "-r", "repo", "--format", "json"]).run();
    assert_eq!(out.status.code(), Some(10), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files_with_violations"], 0, "{v}");
    assert_eq!(v["stores_with_violations"], 1, "{v}");
    assert_eq!(v["delivery"][0]["provider"], "aws");
    assert_eq!(v["delivery"][0]["jurisdiction"], "us");
    assert!(v["delivery"][0]["violations"][0].as_str().unwrap().contains("aws-frankfurt"), "{v}");
    // Only an EU store, no SOPS file: audited, and it passes.
    std::fs::create_dir_all(sb.path("eu")).unwrap();
    sb.write(
        "eu/store.yaml",
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: scw\nspec:\n  provider:\n    scaleway:\n      region: fr-par\n",
    );
    let table = sb.tresor().args(["audit", "-r", "eu"]).ok();
    assert!(table.contains("ESO SecretStore scw") && table.contains("scaleway:eu"), "{table}");
}

/// History as teams make it: a file moved with `git mv` keeps its values' ages (the history
/// continues under the old name), and a value changed on a branch dates from the merge that
/// brought it into the first-parent history.
#[test]
fn value_age_follows_renames_and_merges() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    std::fs::create_dir_all(repo.join("apps")).unwrap();
    let git = |args: &[&str], date: &str| git_at(&repo, args, date);
    git(&["init", "-q", "-b", "main"], "2020-01-01T00:00:00Z");
    let f = sb.write("repo/s.yaml", "a: alpha\nb: bravo\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&f).ok();
    git(&["add", "-A"], "2020-01-01T00:00:00Z");
    git(&["commit", "-qm", "add"], "2020-01-01T00:00:00Z");
    let first = git(&["rev-parse", "HEAD"], "2020-01-01T00:00:00Z");
    git(&["checkout", "-qb", "feature"], "2021-01-01T00:00:00Z");
    sb.tresor().arg("set").arg(&f).args(["[\"b\"]", "\"bravo-2\""]).ok();
    git(&["commit", "-qam", "b on a branch"], "2021-01-01T00:00:00Z");
    git(&["checkout", "-q", "main"], "2022-01-01T00:00:00Z");
    git(&["mv", "s.yaml", "apps/db.yaml"], "2022-01-01T00:00:00Z");
    git(&["commit", "-qm", "move"], "2022-01-01T00:00:00Z");
    git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"], "2023-01-01T00:00:00Z");
    let merge = git(&["rev-parse", "HEAD"], "2023-01-01T00:00:00Z");
    let moved = sb.path("repo/apps/db.yaml");
    assert!(sb.tresor().arg("decrypt").arg(&moved).ok().contains("bravo-2"), "the merge carried the change");
    let ages = |with_keys: bool| {
        let mut c = sb.tresor();
        c.args(["audit", "--value-age", "--format", "json"]).arg(&moved);
        if with_keys {
            c.arg("--with-keys");
        }
        let v: serde_json::Value = serde_json::from_str(&c.ok()).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["path"].as_str().unwrap().to_string(),
                    a["commit"].as_str().unwrap().to_string(),
                    a["exact"].as_bool().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let keyless = ages(false);
    assert_eq!(keyless[0], ("[\"a\"]".into(), first.clone(), true), "a kept its age across the move: {keyless:?}");
    assert_eq!(keyless[1], ("[\"b\"]".into(), merge.clone(), false), "{keyless:?}");
    let exact = ages(true);
    assert_eq!(exact[1], ("[\"b\"]".into(), merge, true), "{exact:?}");
}

/// Files from sops' keyservice proof of concept (getsops/sops#2016) carry a `kms` entry
/// whose `arn` is base64 JSON naming an external key service: kept byte for byte by `set`,
/// named by `audit` and `doctor` instead of being taken for an AWS key.
#[test]
fn keyservice_proof_of_concept_entries_are_kept_and_named() {
    use base64::Engine;
    let sb = Sandbox::new();
    let p = sb.write("s.yaml", "a: b\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    let arn = base64::engine::general_purpose::STANDARD.encode(r#"{"type":"stackit-kms","key":"projects/p/keys/k"}"#);
    let entry = format!("    kms:\n        - arn: {arn}\n          created_at: \"2026-01-01T00:00:00Z\"\n          enc: c29tZXRoaW5n\n          aws_profile: \"\"\n");
    let edited = sb.read("s.yaml").replacen("sops:\n", &format!("sops:\n{entry}"), 1);
    sb.write("s.yaml", &edited);
    sb.tresor().arg("set").arg(&p).args(["[\"c\"]", "\"d\""]).ok();
    assert!(sb.read("s.yaml").contains(&format!("arn: {arn}")), "kept as it is");
    let out = sb.tresor().args(["audit", "--format", "json"]).arg(&p).run();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = v["files"][0]["keys"].as_array().unwrap().iter().find(|k| k["kind"] == "kms").cloned().unwrap();
    assert_eq!(k["provider"], "sops-keyservice-plugin", "{v}");
    assert!(k["basis"].as_str().unwrap().contains("stackit-kms"), "{v}");
    let doc = sb.tresor().args(["doctor"]).arg(&p).env_remove("SOPS_AGE_KEY_FILE").run();
    let text = format!("{}{}", String::from_utf8_lossy(&doc.stdout), String::from_utf8_lossy(&doc.stderr));
    assert!(text.contains("proof of concept"), "{text}");
}

/// `audit --repos`: each listed work tree audited as with `-r` (its own policy, its own
/// history), the reports gathered per repository; a missing one is reported, never dropped.
#[test]
fn audit_over_a_list_of_repositories() {
    let sb = Sandbox::new();
    for name in ["one", "two"] {
        let dir = sb.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        git_at(&dir, &["init", "-q", "-b", "main"], "2024-01-01T00:00:00Z");
        let f = dir.join("s.yaml");
        std::fs::write(&f, "password: hunter2\n").unwrap();
        sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&f).ok();
        git_at(&dir, &["add", "-A"], "2024-01-01T00:00:00Z");
        git_at(&dir, &["commit", "-qm", "start"], "2024-01-01T00:00:00Z");
    }
    // A bare mirror and a URL are audited from a temporary work tree of their own.
    git_at(&sb.path(""), &["clone", "-q", "--bare", "one", "one-mirror.git"], "2024-01-01T00:00:00Z");
    let url = format!("file://{}", sb.path("two").display());
    let list = sb.write("repos.txt", &format!("one\ntwo\none-mirror.git\n{url}\n"));
    let out = sb.tresor().args(["audit", "--value-age", "--format", "json", "--repos"]).arg(&list).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let repos: Vec<&str> = v.as_array().unwrap().iter().map(|r| r["repository"].as_str().unwrap()).collect();
    assert_eq!(repos, ["one", "two", "one-mirror.git", url.as_str()]);
    assert_eq!(v[2]["report"], v[0]["report"], "the mirror's report is its work tree's");
    assert_eq!(v[3]["report"], v[1]["report"]);
    // `-` reads the list from standard input, entries relative to the current directory.
    let out = sb.tresor().args(["audit", "--value-age", "--format", "json", "--repos", "-"]).stdin_text("two\n");
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin[0]["report"], v[1]["report"], "{}", String::from_utf8_lossy(&out.stderr));
    for r in v.as_array().unwrap() {
        assert_eq!(r["report"][0]["path"], "[\"password\"]", "{v}");
        assert!(r["report"][0]["last_changed"].as_str().unwrap().starts_with("2024-01-01"), "{v}");
    }
    // The key report, as a table: one section per repository, default policy passes age.
    let list = sb.write("repos1.txt", "one\ntwo\n");
    let table = sb.tresor().args(["audit", "--repos"]).arg(&list).ok();
    assert!(table.contains("## one") && table.contains("## two") && table.contains("age:holder"), "{table}");
    // A repository without SOPS files: nothing to audit, said in the report (not `null` alone).
    let empty = sb.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    git_at(&empty, &["init", "-q", "-b", "main"], "2024-01-01T00:00:00Z");
    let list = sb.write("repos3.txt", "one\nempty\n");
    let out = sb.tresor().args(["audit", "--value-age", "--format", "json", "--repos"]).arg(&list).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v[1]["report"].is_null() && v[1]["note"].as_str().unwrap().contains("no SOPS-encrypted files"), "{v}");
    let table = sb.tresor().args(["audit", "--repos"]).arg(&list).ok();
    assert!(table.contains("## empty\n\nno SOPS-encrypted files"), "{table}");
    // A repository that is not there: named, exit 1.
    let list = sb.write("repos2.txt", "one\ngone\n");
    let out = sb.tresor().args(["audit", "--format", "json", "--repos"]).arg(&list).run();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[1]["error"].as_str().unwrap().contains("no such directory"), "{v}");
}
