//! The leak scanner: the labelled corpus, Git history with attribution, staged changes
//! and the must-be-encrypted guard, suppressions, output formats, gitleaks rule files
//! and the pre-commit hook.

use crate::common::*;
use std::collections::BTreeMap;
use std::process::Command;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.eu")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.eu")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn repo(sb: &Sandbox) -> std::path::PathBuf {
    let d = sb.path("repo");
    std::fs::create_dir_all(&d).unwrap();
    git(&d, &["init", "-q", "-b", "main"]);
    d
}

fn scan_json(sb: &Sandbox, dir: &std::path::Path, args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = sb.tresor().current_dir(dir).arg("scan").args(args).args(["--format", "json"]).run();
    let v: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

#[test]
fn corpus_every_true_positive_found_and_no_false_positive() {
    let sb = Sandbox::new();
    let dir = testdata("scan");
    let expected: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    // Every tier: the corpus measures what each rule finds; which tier the default shows is
    // tested apart (`generic_findings_are_medium_in_configuration…`).
    let (code, findings) = scan_json(&sb, &dir, &["positives", "--no-guard", "--confidence", "low"]);
    assert_eq!(code, 1);
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &findings {
        let file = f["File"].as_str().unwrap().trim_start_matches("positives/").to_string();
        got.entry(file).or_default().push(f["RuleID"].as_str().unwrap().to_string());
    }
    for (file, rules) in &expected {
        let mut want = rules.clone();
        want.sort();
        let mut have = got.get(file).cloned().unwrap_or_default();
        have.sort();
        assert_eq!(have, want, "{file}");
    }
    assert_eq!(got.len(), expected.len(), "findings in unexpected files: {got:?}");
    // Secrets never appear in clear in the report.
    let raw = sb.tresor().current_dir(&dir).args(["scan", "positives", "--no-guard", "--format", "json"]).run();
    let text = String::from_utf8(raw.stdout).unwrap();
    let aws = std::fs::read_to_string(dir.join("positives/aws.env")).unwrap();
    let key = aws.lines().next().unwrap().split('=').nth(1).unwrap();
    assert!(!text.contains(key), "the report leaks the secret");
    let (code, findings) = scan_json(&sb, &dir, &["negatives", "--no-guard", "--confidence", "low"]);
    assert_eq!((code, findings.len()), (0, 0), "false positives: {findings:?}");
}

#[test]
fn history_scan_finds_removed_secrets_and_attributes_them() {
    let sb = Sandbox::new();
    let d = repo(&sb);
    std::fs::write(d.join("app.env"), "DEBUG=1\n").unwrap();
    git(&d, &["add", "."]);
    git(&d, &["commit", "-qm", "init"]);
    let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW11ySowm");
    std::fs::write(d.join("app.env"), format!("DEBUG=1\nGITHUB_TOKEN={token}\n")).unwrap();
    git(&d, &["commit", "-qam", "add token"]);
    let leak_commit = git(&d, &["rev-parse", "HEAD"]).trim().to_string();
    std::fs::write(d.join("app.env"), "DEBUG=1\n").unwrap();
    git(&d, &["commit", "-qam", "remove token"]);
    // The working tree is clean now...
    let (code, f) = scan_json(&sb, &d, &[]);
    assert_eq!((code, f.len()), (0, 0));
    // ...but history still has it.
    let (code, f) = scan_json(&sb, &d, &["--git"]);
    assert_eq!(code, 1);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["RuleID"], "github-token");
    assert_eq!(f[0]["File"], "app.env");
    assert_eq!(f[0]["Commit"], leak_commit.as_str());
    assert_eq!(f[0]["Author"], "Dev");
    assert_eq!(f[0]["StartLine"], 2);
    // The repository can be named instead of entered, as with `gitleaks git PATH`.
    let (code, elsewhere) = scan_json(&sb, d.parent().unwrap(), &["--git", d.to_str().unwrap()]);
    assert_eq!((code, elsewhere.len()), (1, 1));
    assert_eq!(elsewhere[0]["Commit"], leak_commit.as_str());
    // A range that excludes the leak finds nothing.
    let (code, _) = scan_json(&sb, &d, &["--range", "HEAD~1..HEAD"]);
    assert_eq!(code, 0);
    // An ignore file with the fingerprint suppresses it.
    std::fs::write(d.join(".tresorignore"), format!("{}\n", f[0]["Fingerprint"].as_str().unwrap())).unwrap();
    let (code, _) = scan_json(&sb, &d, &["--git"]);
    assert_eq!(code, 0);
}

#[test]
fn staged_scan_guards_files_that_must_be_encrypted() {
    let sb = Sandbox::new();
    let d = repo(&sb);
    std::fs::write(
        d.join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: {}\n", recipient()),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("secrets")).unwrap();
    std::fs::write(d.join("secrets/db.yaml"), "password: not-encrypted-yet\n").unwrap();
    std::fs::write(d.join("README.md"), "hello\n").unwrap();
    git(&d, &["add", "."]);
    let (code, f) = scan_json(&sb, &d, &["--staged"]);
    assert_eq!(code, 1);
    assert!(f.iter().any(|x| x["RuleID"] == "must-be-encrypted" && x["File"] == "secrets/db.yaml"), "{f:?}");
    // Encrypt it and stage again: clean.
    sb.tresor().current_dir(&d).args(["encrypt", "-i", "secrets/db.yaml"]).ok();
    git(&d, &["add", "."]);
    let (code, f) = scan_json(&sb, &d, &["--staged"]);
    assert_eq!((code, f.len()), (0, 0), "{f:?}");
    // Only what is staged counts: an unstaged leak is not reported by --staged.
    std::fs::write(d.join("notes.txt"), format!("token ghp_{}\n", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW11ySowm")).unwrap();
    let (code, _) = scan_json(&sb, &d, &["--staged"]);
    assert_eq!(code, 0);
    // Inline allow comments suppress a finding.
    std::fs::write(
        d.join("notes.txt"),
        format!("token ghp_{} # tresor:allow test fixture\n", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW11ySowm"),
    )
    .unwrap();
    git(&d, &["add", "notes.txt"]);
    let (code, _) = scan_json(&sb, &d, &["--staged"]);
    assert_eq!(code, 0);
}

#[test]
fn baseline_hides_known_findings_but_not_new_ones() {
    let sb = Sandbox::new();
    let d = sb.path("b");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("old.env"), "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc0000\n").unwrap();
    let out = sb.tresor().current_dir(&d).args(["scan", "--format", "json", "--report", "baseline.json"]).run();
    assert_eq!(out.status.code(), Some(1));
    // The old finding moves down a line; a new one appears.
    std::fs::write(d.join("old.env"), "# moved\nSTRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc0000\n").unwrap();
    std::fs::write(d.join("new.env"), "NPM=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\n").unwrap();
    let (code, f) = scan_json(&sb, &d, &["--baseline", "baseline.json"]);
    assert_eq!(code, 1);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["File"], "new.env");
}

#[test]
fn sarif_and_junit_outputs_are_well_formed() {
    let sb = Sandbox::new();
    let dir = testdata("scan");
    let out = sb
        .tresor()
        .current_dir(&dir)
        .args(["scan", "positives/Dockerfile", "positives/aws.env", "--format", "sarif"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "tresor");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let rule_ids: Vec<&str> =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for r in results {
        assert!(rule_ids.contains(&r["ruleId"].as_str().unwrap()), "result rule not declared");
        assert!(r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    assert!(results
        .iter()
        .any(|r| r["fixes"][0]["description"]["text"].as_str().unwrap_or("").contains("--mount=type=secret")));
    let out = sb.tresor().current_dir(&dir).args(["scan", "positives/aws.env", "--format", "junit"]).run();
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<testsuite name=\"secrets\" tests=\"2\" failures=\"2\">"),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure").count(), 2);
}

#[test]
fn gitleaks_rule_files_are_read() {
    let sb = Sandbox::new();
    let d = sb.path("g");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("internal.txt"),
        "corp_key = CORP-1234-ABCD-5678\nother = 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\n",
    )
    .unwrap();
    // A gitleaks config with its own rule only: the defaults are not used.
    std::fs::write(d.join(".gitleaks.toml"), "title = \"corp\"\n[[rules]]\nid = \"corp-key\"\ndescription = \"Corp key\"\nregex = '''CORP-[0-9]{4}-[A-Z]{4}-[0-9]{4}'''\nkeywords = [\"corp-\"]\n").unwrap();
    let (code, f) = scan_json(&sb, &d, &[]);
    assert_eq!(code, 1);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["RuleID"], "corp-key");
    // [extend] useDefault = true adds tresor's rules.
    std::fs::write(d.join(".gitleaks.toml"), "[extend]\nuseDefault = true\n[[rules]]\nid = \"corp-key\"\nregex = '''CORP-[0-9]{4}-[A-Z]{4}-[0-9]{4}'''\nkeywords = [\"corp-\"]\n").unwrap();
    let (_, f) = scan_json(&sb, &d, &[]);
    let ids: Vec<&str> = f.iter().map(|x| x["RuleID"].as_str().unwrap()).collect();
    assert!(ids.contains(&"corp-key") && ids.contains(&"github-token"), "{ids:?}");
}

#[test]
fn hook_install_blocks_a_commit_with_a_secret() {
    let sb = Sandbox::new();
    let d = repo(&sb);
    sb.tresor().current_dir(&d).args(["hook", "install"]).ok();
    assert!(d.join(".git/hooks/pre-commit").is_file());
    // The hook calls `tresor` from PATH: put this build first.
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let commit = |msg: &str| {
        git(&d, &["add", "."]);
        Command::new("git")
            .args(["commit", "-qm", msg])
            .current_dir(&d)
            .env("PATH", &path)
            .env("HOME", &d)
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "d@e.eu")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "d@e.eu")
            .output()
            .unwrap()
    };
    std::fs::write(
        d.join("leak.env"),
        "SENDGRID=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\n",
    )
    .unwrap();
    let out = commit("leak");
    assert!(!out.status.success(), "the commit should be blocked");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("sendgrid-api-key"), "{said}");
    std::fs::write(d.join("leak.env"), "SENDGRID=\n").unwrap();
    let out = commit("clean");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn global_path_allowlist_covers_analyzers_too() {
    let sb = Sandbox::new();
    let d = sb.path("a");
    std::fs::create_dir_all(d.join("fixtures")).unwrap();
    std::fs::write(d.join("fixtures/Dockerfile"), "FROM alpine\nENV API_TOKEN=aB3dE5fG7hJ9kL1mN3pQ5r\n").unwrap();
    std::fs::write(d.join("Dockerfile"), "FROM alpine\nENV API_TOKEN=aB3dE5fG7hJ9kL1mN3pQ5r\n").unwrap();
    std::fs::write(
        d.join(".tresor-scan.toml"),
        "[extend]\nuseDefault = true\n[allowlist]\npaths = ['''^fixtures/''']\n",
    )
    .unwrap();
    let (code, f) = scan_json(&sb, &d, &[]);
    assert_eq!(code, 1);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["File"], "Dockerfile");
}

/// A repository whose history has secrets that stay for many versions, secrets that come
/// and go, a private key and a Helm values file, first as loose objects, then repacked so
/// that most versions are deltas (the pack walk scans only what each delta inserts).
fn history_with_deltas(sb: &Sandbox) -> (std::path::PathBuf, Vec<String>) {
    let d = repo(sb);
    std::fs::create_dir_all(d.join("charts/app")).unwrap();
    let mut lines: Vec<String> =
        (0..60).map(|i| format!("setting_{i} = \"value number {i} for the service\"")).collect();
    let token = format!("ghp_{}", "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf94KLdCW");
    let short = format!("glpat-{}", "Qw3Er5Ty7Ui9Op1As3Df");
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        (0..6)
            .map(|i| format!("MIIEow{i}AIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut commits = Vec::new();
    for c in 0..40 {
        lines.insert((c * 7) % lines.len(), format!("added_{c} = \"line added by change {c}\""));
        if c == 5 {
            lines.insert(30, format!("GITHUB_TOKEN = \"{token}\""));
        }
        if c == 25 {
            lines.retain(|l| !l.contains(&token));
        }
        if c == 12 {
            lines.insert(10, format!("GITLAB_TOKEN = \"{short}\""));
        }
        if c == 13 {
            lines.retain(|l| !l.contains(&short));
        }
        std::fs::write(d.join("service.conf"), lines.join("\n") + "\n").unwrap();
        let mut notes = format!("notes for change {c}\n").repeat(20);
        if (15..18).contains(&c) {
            notes.push_str(&pem);
        }
        std::fs::write(d.join("notes.txt"), notes).unwrap();
        let password = if c == 8 { "Sup3rS3cretPassw0rd!" } else { "" };
        std::fs::write(
            d.join("charts/app/values.yaml"),
            format!("replicas: {c}\ndb:\n  host: db.internal\n  password: \"{password}\"\n"),
        )
        .unwrap();
        git(&d, &["add", "-A"]);
        git(&d, &["commit", "-qm", &format!("change {c}")]);
        commits.push(git(&d, &["rev-parse", "HEAD"]).trim().to_string());
    }
    (d, commits)
}

fn finding_keys(f: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = f
        .iter()
        .map(|x| format!("{} {} {} {} {}", x["File"], x["RuleID"], x["Commit"], x["StartLine"], x["SecretHash"]))
        .collect();
    v.sort();
    v
}

#[test]
fn history_scan_of_a_packed_repository_equals_the_full_scan() {
    let sb = Sandbox::new();
    let (d, commits) = history_with_deltas(&sb);
    let (code, loose) = scan_json(&sb, &d, &["--git"]);
    assert_eq!(code, 1);
    git(&d, &["repack", "-adfq", "--depth=50", "--window=50"]);
    git(&d, &["prune-packed"]);
    let stats = git(&d, &["count-objects", "-v"]);
    assert!(stats.starts_with("count: 0\n"), "all objects packed: {stats}");
    let idx = std::fs::read_dir(d.join(".git/objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .unwrap();
    let chains = git(&d, &["verify-pack", "-v", idx.to_str().unwrap()]);
    assert!(chains.contains("chain length = 10"), "the pack has long delta chains: {chains}");
    let (code, packed) = scan_json(&sb, &d, &["--git"]);
    assert_eq!(code, 1);
    assert_eq!(finding_keys(&packed), finding_keys(&loose));
    let at = |rule: &str| {
        packed.iter().find(|f| f["RuleID"] == rule).unwrap_or_else(|| panic!("no {rule} finding in {packed:?}"))
    };
    // A token that lived for 20 versions is reported once, at the commit that added it.
    assert_eq!(at("github-token")["Commit"], commits[5].as_str());
    assert_eq!(at("github-token")["File"], "service.conf");
    assert_eq!(at("gitlab-token")["Commit"], commits[12].as_str());
    assert_eq!(at("gitlab-token")["StartLine"], 11);
    assert_eq!(at("private-key")["Commit"], commits[15].as_str());
    assert_eq!(at("private-key")["File"], "notes.txt");
    let helm: Vec<_> = packed.iter().filter(|f| f["File"] == "charts/app/values.yaml").collect();
    assert_eq!(helm.len(), 1, "{helm:?}");
    assert_eq!(helm[0]["Commit"], commits[8].as_str());
    assert_eq!(packed.len(), 4, "{packed:?}");
}

/// The pack walk rebuilds every blob version exactly as git stores it.
#[test]
fn pack_walk_rebuilds_every_blob_version() {
    use std::sync::Mutex;
    use tresor_scan::pack;
    struct Collect(Mutex<Vec<(String, Vec<u8>, bool)>>);
    impl pack::Visitor for Collect {
        type Carry = ();
        fn visit(&self, b: &pack::Blob, _: Option<&()>) -> Option<()> {
            let oid: String = b.oid.iter().map(|x| format!("{x:02x}")).collect();
            self.0.lock().unwrap().push((oid, b.content.to_vec(), b.inserted.is_some()));
            Some(())
        }
    }
    let sb = Sandbox::new();
    let (d, _) = history_with_deltas(&sb);
    git(&d, &["repack", "-adfq", "--depth=50", "--window=50"]);
    let mut visited = 0;
    let c = Collect(Mutex::new(Vec::new()));
    for idx in pack::indexes(&d.join(".git/objects")) {
        let p = pack::Pack::open(&idx, 20).unwrap();
        visited += pack::walk(&p, 2, &c).unwrap();
    }
    let blobs = c.0.into_inner().unwrap();
    assert_eq!(visited, blobs.len());
    let all = git(&d, &["rev-list", "--objects", "--all", "--filter=object:type=blob", "--filter-provided-objects"]);
    assert_eq!(blobs.len(), all.lines().count());
    let deltas = blobs.iter().filter(|b| b.2).count();
    assert!(deltas >= 30, "versions rebuilt from deltas: {deltas} of {}", blobs.len());
    for (oid, content, _) in &blobs {
        let out = Command::new("git").args(["cat-file", "blob", oid]).current_dir(&d).output().unwrap();
        assert_eq!(&out.stdout, content, "blob {oid}");
    }
}

/// An image built by hand in the OCI layout (as `buildah push oci-archive:` writes it): a
/// token in a file that a later layer deletes, one in the config's Env, one in the history
/// (a build argument), found in the directory and in the archive.
#[test]
fn image_layers_config_and_history_are_scanned_deleted_files_included() {
    let sb = Sandbox::new();
    let script = r#"set -e
T1=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
T2=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
T3=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
mkdir -p l1/app l2/app img/blobs/sha256
printf 'GITHUB_TOKEN=%s\n' "$T1" > l1/app/.env
echo hello > l2/app/readme
: > l2/app/.wh..env
tar -C l1 -czf layer1 app
tar -C l2 -cf layer2 app
cat > config <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin","API_TOKEN=$T2"]},
 "history":[{"created_by":"|1 GH_TOKEN=$T3 /bin/sh -c make"}]}
JSON
add() { d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "img/blobs/sha256/$d"; echo "$d"; }
d1=$(add layer1); d2=$(add layer2); dc=$(add config)
cat > manifest <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$dc","size":1},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$d1","size":1},
           {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$d2","size":1}]}
JSON
dm=$(add manifest)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1}]}' "$dm" > img/index.json
echo '{"imageLayoutVersion":"1.0.0"}' > img/oci-layout
tar -C img -cf image.tar .
echo "$d1"
"#;
    let out = std::process::Command::new("bash").arg("-c").arg(script).current_dir(sb.dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d1: String = String::from_utf8(out.stdout).unwrap().trim().chars().take(12).collect();
    for target in ["img", "image.tar"] {
        let run = sb.tresor().args(["scan", "--format", "json", "--image", target]).output().unwrap();
        assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
        let findings: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).unwrap();
        let files: Vec<&str> = findings.iter().map(|f| f["File"].as_str().unwrap()).collect();
        assert!(files.contains(&format!("{d1}:/app/.env").as_str()), "{target}: {files:?}");
        assert!(files.contains(&"config:Env") && files.contains(&"config:history[0]"), "{target}: {files:?}");
        let deleted = findings.iter().find(|f| f["File"].as_str().unwrap().ends_with(":/app/.env")).unwrap();
        assert!(deleted["Description"].as_str().unwrap().contains("deleted in a later layer"), "{deleted}");
        assert!(!String::from_utf8_lossy(&run.stdout).contains("aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4A"), "redacted");
    }
    let bad = sb.write("not-an-image.tar", "");
    let run = sb.tresor().args(["scan", "--image"]).arg(&bad).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
}

#[test]
fn betterleaks_ignore_file_allow_marker_and_config_are_honoured() {
    let sb = Sandbox::new();
    let d = sb.path("b");
    std::fs::create_dir_all(&d).unwrap();
    let (reported, ignored, marked) = (
        "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",
        "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",
        "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",
    );
    std::fs::write(d.join("app.env"), format!("A={reported}\nB={ignored}\nC={marked} # betterleaks:allow\n")).unwrap();
    // Betterleaks' ignore file holds value fingerprints: the SHA-256 of the secret.
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(ignored.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(d.join(".betterleaksignore"), format!("# reviewed\n{digest}\n")).unwrap();
    let (code, f) = scan_json(&sb, &d, &[]);
    assert_eq!(code, 1);
    let lines: Vec<u64> = f.iter().map(|x| x["StartLine"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![1], "{f:?}");
    // A Betterleaks config named by BETTERLEAKS_CONFIG is read as gitleaks' format...
    let cfg = sb.write("bl.toml", "[[rules]]\nid = \"corp-key\"\nregex = '''CORP-[0-9]{4}-[A-Z]{4}'''\nkeywords = [\"corp-\"]\nconfidence = \"high\"\n");
    std::fs::write(d.join("corp.txt"), "k = CORP-1234-ABCD\n").unwrap();
    let out = sb
        .tresor()
        .current_dir(&d)
        .env("BETTERLEAKS_CONFIG", &cfg)
        .args(["scan", ".", "--no-guard", "--format", "json"])
        .run();
    let f: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["RuleID"], "corp-key");
    // ...and its filter expressions, which tresor does not evaluate, are refused by name.
    std::fs::write(
        &cfg,
        "[[rules]]\nid = \"corp-key\"\nregex = '''CORP'''\nfilter = '''entropy(finding[\"secret\"]) < 3'''\n",
    )
    .unwrap();
    let err = sb.tresor().current_dir(&d).env("BETTERLEAKS_CONFIG", &cfg).args(["scan", "."]).fails_with(2);
    assert!(err.contains("rule corp-key") && err.contains("filter"), "{err}");
}

#[test]
fn key_files_are_found_by_name_even_when_binary() {
    let sb = Sandbox::new();
    let d = sb.path("k");
    std::fs::create_dir_all(d.join("certs")).unwrap();
    std::fs::write(d.join("certs/client.p12"), b"\x30\x82\x0a\x00\x00\x01binary").unwrap();
    std::fs::write(d.join("certs/client.crt"), b"\x30\x82\x0a\x00\x00\x01binary").unwrap();
    let (code, f) = scan_json(&sb, &d, &[]);
    assert_eq!(code, 1);
    let hits: Vec<(&str, &str)> =
        f.iter().map(|x| (x["RuleID"].as_str().unwrap(), x["File"].as_str().unwrap())).collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].0, "pkcs12-file");
    assert!(hits[0].1.ends_with("certs/client.p12"), "{hits:?}");
}

#[test]
fn findings_in_vendored_code_are_reported_apart_not_hidden() {
    let sb = Sandbox::new();
    let d = sb.path("v");
    std::fs::create_dir_all(d.join("vendor/github.com/acme/lib")).unwrap();
    std::fs::write(d.join("vendor/github.com/acme/lib/client.yaml"), "apiToken: q8VtR2mXw4LpZ7nKc3Jd\n").unwrap();
    std::fs::write(d.join("main.yaml"), "apiToken: Hk3Lm9Qp2Wx7Rt5Zb8Nc\n").unwrap();
    let out = sb.tresor().current_dir(&d).args(["scan", ".", "--no-guard"]).run();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let (own, vendored) = text.split_once("── in vendored or generated code (1)").expect("a vendored section");
    assert!(own.contains("main.yaml") && vendored.contains("vendor/github.com/acme/lib/client.yaml"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 leak(s) found (1 in vendored or generated code)"));
    let (_, f) = scan_json(&sb, &d, &["--no-guard"]);
    assert_eq!(f[1]["Tags"], serde_json::json!(["vendored"]), "{f:?}");
    assert_eq!(f[0]["Tags"], serde_json::json!([]));
}

/// The project scans clean, working tree and history: its own fake secrets are declared
/// (`.tresor-scan.toml`, `.tresorignore`, `gitleaks:allow` markers), so a first `tresor scan
/// --git` on a fresh clone reports nothing unexplained.
#[test]
fn this_repository_scans_clean() {
    for args in [vec!["scan"], vec!["scan", "--git"]] {
        let out =
            std::process::Command::new(env!("CARGO_BIN_EXE_tresor")).args(&args).current_dir(root()).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn low_confidence_findings_are_counted_not_shown_by_default_and_shown_on_request() {
    let sb = Sandbox::new();
    let d = sb.path("c");
    std::fs::create_dir_all(d.join("src")).unwrap();
    // A generic assignment in code (low), a GitHub token whose checksum fails (low), and the
    // same generic assignment in a deployed configuration file (medium).
    std::fs::write(d.join("src/db.py"), "db_password = \"WldBYdF0ZRPcgllrTWmN\"\n").unwrap();
    std::fs::write(d.join("src/gh.txt"), "ghp_fDBG3pyh6MAXcM9QeFhX8Bj0MkXJ1bAAAAAA\n").unwrap();
    let out = sb.tresor().current_dir(&d).args(["scan", ".", "--no-guard"]).run();
    assert_eq!(out.status.code(), Some(0), "only low findings: the scan passes");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 finding(s) below --confidence medium not shown (--confidence low shows them)"), "{err}");
    let (code, f) = scan_json(&sb, &d, &["--no-guard", "--confidence", "low"]);
    assert_eq!(code, 1);
    let tiers: Vec<(&str, &str)> =
        f.iter().map(|x| (x["RuleID"].as_str().unwrap(), x["Confidence"].as_str().unwrap())).collect();
    assert!(tiers.contains(&("generic-password-assignment", "low")), "{tiers:?}");
    assert!(tiers.contains(&("github-token", "low")), "{tiers:?}");
    let gh = f.iter().find(|x| x["RuleID"] == "github-token").unwrap();
    assert_eq!(gh["Tags"], serde_json::json!(["checksum-mismatch"]));

    std::fs::write(d.join("values.yaml"), "db_password: WldBYdF0ZRPcgllrTWmN\n").unwrap();
    let (code, f) = scan_json(&sb, &d, &["--no-guard"]);
    assert_eq!(code, 1);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0]["File"].as_str(), f[0]["Confidence"].as_str()), (Some("values.yaml"), Some("medium")));
    let out =
        sb.tresor().current_dir(&d).args(["scan", ".", "--no-guard", "--confidence", "low", "--format", "sarif"]).run();
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        let tier = r["properties"]["confidence"].as_str().unwrap();
        assert_eq!(r["level"], if tier == "low" { "warning" } else { "error" }, "{r}");
    }
    // A tier that does not exist is refused, not read as the default.
    let out = sb.tresor().current_dir(&d).args(["scan", ".", "--confidence", "certain"]).run();
    assert_eq!(out.status.code(), Some(2));
}

/// Real code nobody here wrote: the `src/` trees of the crates this project's `Cargo.lock`
/// pins (cargo has unpacked them to build the tests; four `windows-sys` versions among them).
/// Files holding key material by construction (PEM private keys, age identities: test
/// vectors) are left out — those are fixtures, found at high confidence on purpose.
fn pinned_crate_sources(limit: usize) -> Vec<std::path::PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let lock = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    // `[[package]]` blocks of name, version and (for registry crates) source.
    let packages: Vec<(String, String)> = lock
        .split("[[package]]")
        .filter(|b| b.contains("\nsource = \"registry+"))
        .filter_map(|b| {
            let field = |k: &str| {
                b.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = \"")).map(|v| v.trim_end_matches('"').to_string()))
            };
            Some((field("name")?, field("version")?))
        })
        .collect();
    let registries: Vec<std::path::PathBuf> = std::fs::read_dir(cargo_home.join("registry/src"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut files = Vec::new();
    for (name, version) in &packages {
        let dir = format!("{name}-{version}");
        for reg in &registries {
            let mut stack = vec![reg.join(&dir).join("src")];
            while let Some(d) = stack.pop() {
                let Ok(rd) = std::fs::read_dir(&d) else { continue };
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "rs") {
                        files.push(path);
                    }
                }
            }
        }
    }
    files.sort();
    // The hard cases first: files that talk about passwords, secrets, tokens, keys and
    // credentials, where the generic rule is tempted (`windows-sys`' Cryptography bindings).
    let mut tempting = Vec::new();
    let mut plain = Vec::new();
    for f in files {
        let text = std::fs::read(&f).unwrap_or_default().to_ascii_lowercase();
        let has = |n: &[u8]| text.windows(n.len()).any(|w| w == n);
        if has(b"private key-----") || has(b"age-secret-key-1") {
            continue;
        }
        if [&b"password"[..], b"secret", b"token", b"private_key", b"privatekey", b"credential", b"api_key"]
            .iter()
            .any(|k| has(k))
        {
            tempting.push(f);
        } else {
            plain.push(f);
        }
    }
    // Spread over every crate rather than the first few alphabetically.
    let spread = |v: Vec<std::path::PathBuf>, n: usize| {
        let step = (v.len() / n.max(1)).max(1);
        v.into_iter().step_by(step).take(n).collect::<Vec<_>>()
    };
    let mut chosen = spread(tempting, limit);
    let rest = limit.saturating_sub(chosen.len());
    chosen.extend(spread(plain, rest));
    chosen
}

#[test]
fn a_secret_free_thousand_file_commit_of_real_code_gives_no_finding_when_staged() {
    let files = pinned_crate_sources(1000);
    assert!(files.len() >= 1000, "the pinned crates' sources are unpacked by the build: found {}", files.len());
    let sb = Sandbox::new();
    let d = repo(&sb);
    for (i, f) in files.iter().enumerate() {
        // Keep each crate's relative path, under a directory per file so names never clash.
        let name = f.components().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<std::path::PathBuf>();
        let dest = d.join(format!("c{i:04}")).join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(f, &dest).unwrap();
    }
    git(&d, &["add", "-A"]);
    let out = sb.tresor().current_dir(&d).args(["scan", "--staged", "--format", "json"]).run();
    let f: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let shown: Vec<String> = f.iter().map(|x| format!("{} {}:{}", x["RuleID"], x["File"], x["StartLine"])).collect();
    assert!(f.is_empty(), "{} findings on secret-free code:\n{}", f.len(), shown.join("\n"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A version rebuilt from a delta inherits its base's secrets; the one occurrence it needs
/// must be one the report may name: an allow-marked first occurrence does not hide an
/// unmarked later one (here in a copy at a new path, deltified against the original).
#[test]
fn an_inherited_secret_is_found_past_an_allow_marked_occurrence() {
    let sb = Sandbox::new();
    let d = repo(&sb);
    let token = "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"; // gitleaks:allow (test sample)
    let filler: String = (0..60).map(|i| format!("SETTING_{i}=value-{i}\n")).collect();
    let body = format!("DOC_TOKEN={token} # tresor:allow (documented)\n{filler}CI_TOKEN={token}\n");
    std::fs::write(d.join("a.env"), &body).unwrap();
    git(&d, &["add", "-A"]);
    git(&d, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"]);
    std::fs::write(d.join("b.env"), body.replace("SETTING_30=value-30", "SETTING_30=changed")).unwrap();
    git(&d, &["add", "-A"]);
    git(&d, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two"]);
    git(&d, &["repack", "-adfq", "--depth=50", "--window=50"]);
    let (_, f) = scan_json(&sb, &d, &["--git"]);
    let mut hits: Vec<(String, u64)> = f
        .iter()
        .filter(|x| x["RuleID"] == "github-token")
        .map(|x| (x["File"].as_str().unwrap().to_string(), x["StartLine"].as_u64().unwrap()))
        .collect();
    hits.sort();
    assert_eq!(hits, vec![("a.env".to_string(), 62), ("b.env".to_string(), 62)], "{f:?}");
}

/// A fleet on the engines teams already run: `scan --repos` over a list of work trees and
/// bare mirrors, split by `--shard I/N` (and by an Indexed Job's or GitLab's variables)
/// so that every repository lands in exactly one shard, the same on a retry; a repository
/// that cannot be read is reported, never dropped; `report merge` joins the shards into
/// one incident per secret (by its hash) listing every repository it leaked into.
#[test]
fn fleet_shards_cover_every_repository_once_and_merge_into_incidents() {
    let sb = Sandbox::new();
    // Two GitHub tokens with valid checksums (made for this test).
    let token = "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";
    let make = |name: &str, secret: &str| {
        repo_with(&sb.path(name), &[("app.env", &format!("GITHUB_TOKEN={secret}\n"))], "add", "2025-01-01T00:00:00Z");
    };
    // The same token in two repositories, another in a third, none in a fourth.
    make("a", token);
    make("b", token);
    make("c", "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");
    make("d", "nothing here");
    git_at(&sb.path("."), &["clone", "-q", "--bare", "a", "a-mirror.git"], "2025-01-01T00:00:00Z");
    // A URL is cloned as a mirror for the scan.
    let url = format!("file://{}", sb.path("c").display());
    let list = sb.write("repos.txt", &format!("# the fleet\na\nb\nc\nd\na-mirror.git\n{url}\nmissing\n"));
    // Without shards: every repository, the missing one named.
    let all = sb.tresor().args(["scan", "--format", "json", "--repos"]).arg(&list).run();
    let err = String::from_utf8_lossy(&all.stderr).to_string();
    assert!(err.contains("not scanned: missing"), "{err}");
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let repos_of = |v: &serde_json::Value| -> Vec<String> {
        let mut r: Vec<String> =
            v.as_array().unwrap().iter().map(|f| f["Repository"].as_str().unwrap().to_string()).collect();
        r.sort();
        r.dedup();
        r
    };
    let mut expected: Vec<String> = ["a", "a-mirror.git", "b", "c"].map(String::from).to_vec();
    expected.push(url.clone());
    expected.sort();
    assert_eq!(repos_of(&all), expected);
    // Three shards: disjoint, together everything, the same on a retry.
    let mut union = Vec::new();
    for i in 1..=3 {
        let out = sb.path(&format!("shard-{i}.json"));
        let run = || {
            sb.tresor()
                .args(["scan", "--format", "json", "--shard", &format!("{i}/3"), "-o"])
                .arg(&out)
                .arg("--repos")
                .arg(&list)
                .run();
            std::fs::read_to_string(&out).unwrap()
        };
        let first = run();
        assert_eq!(run(), first, "a retried shard gives the same report");
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        union.extend(repos_of(&v));
    }
    union.sort();
    assert_eq!(union, repos_of(&all), "each repository in exactly one shard");
    // GitLab's variables pick the same shard as the flag.
    let by_env = sb
        .tresor()
        .args(["scan", "--format", "json", "--repos"])
        .arg(&list)
        .env("CI_NODE_INDEX", "2")
        .env("CI_NODE_TOTAL", "3")
        .run();
    assert_eq!(String::from_utf8(by_env.stdout).unwrap(), sb.read("shard-2.json"));
    // Merged: the shared token is one incident in three repositories (a, b and the mirror).
    let merged = sb.tresor().args(["report", "merge"]).args((1..=3).map(|i| sb.path(&format!("shard-{i}.json")))).run();
    assert_eq!(merged.status.code(), Some(1));
    let text = String::from_utf8(merged.stdout).unwrap();
    assert!(!text.contains(token), "never the secret: {text}");
    let incidents: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(incidents.as_array().unwrap().len(), 2, "{incidents}");
    assert_eq!(incidents[0]["repositories"], serde_json::json!(["a", "a-mirror.git", "b"]));
    assert_eq!(incidents[1]["repositories"], serde_json::json!(["c", url]));
    // A baseline holds per repository: a's finding is known; b's, the same file and token,
    // still counts — in a scan of the list and in a merge.
    let only_a = sb.write("only-a.txt", "a\n");
    let known = sb.tresor().args(["scan", "--format", "json", "--repos"]).arg(&only_a).run();
    let baseline = sb.write("baseline.json", &String::from_utf8(known.stdout).unwrap());
    let a_and_b = sb.write("a-b.txt", "a\nb\n");
    let again =
        sb.tresor().args(["scan", "--format", "json", "--baseline"]).arg(&baseline).arg("--repos").arg(&a_and_b).run();
    assert_eq!(repos_of(&serde_json::from_slice(&again.stdout).unwrap()), ["b"]);
    let merged = sb
        .tresor()
        .args(["report", "merge", "--baseline"])
        .arg(&baseline)
        .args((1..=3).map(|i| sb.path(&format!("shard-{i}.json"))))
        .run();
    let incidents: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    let shared = incidents.as_array().unwrap().iter().find(|i| i["repositories"].to_string().contains("\"b\""));
    assert_eq!(shared.unwrap()["repositories"], serde_json::json!(["a-mirror.git", "b"]), "{incidents}");
    // A bad shard is a usage error, not a silent full scan.
    sb.tresor().args(["scan", "--shard", "4/3", "--repos"]).arg(&list).fails_with(8);
}

/// A fleet entry whose server accepts the connection and never answers does not hold the
/// shard: the clone is given up after `--clone-timeout`, the repository named as not
/// scanned (exit 11, the scan incomplete), and the other repositories scanned.
#[test]
fn a_clone_that_hangs_is_given_up_and_reported() {
    let sb = Sandbox::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn); // accepted, never answered
        }
    });
    let dir = sb.path("ok");
    repo_with(&dir, &[("README.md", "# nothing\n")], "start", "2025-01-01T00:00:00Z");
    let list = sb.write("repos.txt", &format!("http://{addr}/stuck.git\nok\n"));
    let t = std::time::Instant::now();
    let out = sb.tresor().args(["scan", "--format", "json", "--clone-timeout", "1", "--repos"]).arg(&list).run();
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "{:?}", t.elapsed());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(err.contains(&format!("not scanned: http://{addr}/stuck.git: cannot clone: gave up after 1 s")), "{err}");
    assert!(err.contains("[2/2] ok"), "the next repository is scanned: {err}");
    // A shard run with `--exit-code 0` (leaks must not fail it) that found a leak and could
    // not clone a repository still fails: exit 11, its findings written all the same.
    std::fs::write(dir.join("ci.env"), "TOKEN=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\n").unwrap();
    git_at(&dir, &["add", "-A"], "2025-01-01T00:00:00Z");
    git_at(&dir, &["commit", "-qm", "leak"], "2025-01-01T00:00:00Z");
    let out = sb
        .tresor()
        .args(["scan", "--format", "json", "--exit-code", "0", "--clone-timeout", "1", "--repos"])
        .arg(&list)
        .run();
    assert_eq!(out.status.code(), Some(11), "{}", String::from_utf8_lossy(&out.stderr));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found[0]["Repository"], "ok");
}
