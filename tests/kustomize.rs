//! The KRM generator end to end with a real `kustomize build --enable-alpha-plugins
//! --enable-exec` (Debian trixie's 5.6.0, installed by scripts/install-kustomize.sh),
//! the legacy exec-plugin mode, kpt where present, and OpenBao-wrapped files.

mod common;
use common::*;
use std::path::PathBuf;

fn kustomize() -> PathBuf {
    which("kustomize").expect("kustomize is not installed: run scripts/install-peers.sh")
}

/// The function binary: `tresor-kustomize` built next to `tresor` (cargo test --workspace
/// builds both); otherwise a one-line wrapper around `tresor kustomize`.
fn function_binary(sb: &Sandbox) -> PathBuf {
    let tresor = PathBuf::from(env!("CARGO_BIN_EXE_tresor"));
    let sibling = tresor.with_file_name("tresor-kustomize");
    if sibling.is_file() {
        return sibling;
    }
    let w = sb.write("tresor-kustomize", &format!("#!/bin/sh\nexec '{}' kustomize \"$@\"\n", tresor.display()));
    std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    w
}

fn setup(sb: &Sandbox) {
    std::fs::create_dir_all(sb.path("app/secrets")).unwrap();
    sb.write("app/secrets/pw.txt", "hunter2");
    sb.write("app/secrets/env.yaml", "DB_USER: admin\nDB_PORT: 5432\n");
    // A binary-store file written by sops, a YAML env file and a manifest written by tresor.
    let pw = sb.sops().args(["encrypt", "--age", &recipient()]).arg(sb.path("app/secrets/pw.txt")).ok();
    sb.write("app/secrets/pw.enc.txt", &pw);
    let env = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(sb.path("app/secrets/env.yaml")).ok();
    sb.write("app/secrets/env.enc.yaml", &env);
    let m = sb
        .tresor()
        .args(["encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", &recipient()])
        .arg(testdata("roundtrip/k8s-secret.yaml"))
        .ok();
    sb.write("app/secrets/db.enc.yaml", &m);
    std::fs::remove_file(sb.path("app/secrets/pw.txt")).unwrap();
    std::fs::remove_file(sb.path("app/secrets/env.yaml")).unwrap();
}

fn build(sb: &Sandbox, dir: &str, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(kustomize())
        .args(["build", "--enable-alpha-plugins"])
        .args(extra)
        .arg(sb.path(dir))
        .env("SOPS_AGE_KEY_FILE", key_file())
        .env("HOME", sb.dir.path())
        .env("XDG_CONFIG_HOME", sb.path(".config"))
        .output()
        .unwrap()
}

fn objects(yaml: &str) -> Vec<serde_json::Value> {
    data(yaml, "out.yaml")
}

#[test]
fn tresor_secret_generator_with_real_kustomize() {
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    sb.write(
        "app/gen.yaml",
        &format!(
            "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: app\n  namespace: shop\n  labels:\n    team: payments\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nfiles:\n  - password=secrets/pw.enc.txt\nenvs:\n  - secrets/env.enc.yaml\nresources:\n  - secrets/db.enc.yaml\n",
            f.display()
        ),
    );
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
    let out = build(&sb, "app", &["--enable-exec"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objs = objects(&String::from_utf8(out.stdout).unwrap());
    let app = objs.iter().find(|o| o["metadata"]["name"].as_str().unwrap().starts_with("app-")).expect("hashed Secret");
    assert_eq!(app["stringData"]["password"], "hunter2");
    assert_eq!(app["stringData"]["DB_USER"], "admin");
    assert_eq!(app["stringData"]["DB_PORT"], "5432");
    assert_eq!(app["metadata"]["namespace"], "shop");
    assert_eq!(app["metadata"]["labels"]["team"], "payments");
    assert!(
        app["metadata"].get("annotations").is_none()
            || !app["metadata"]["annotations"].to_string().contains("config.kubernetes.io")
    );
    let db = objs.iter().find(|o| o["metadata"]["name"] == "db-credentials").expect("manifest passed through");
    assert_eq!(db["stringData"]["password"], "c0rrect-h0rse-battery-staple");
}

#[test]
fn ksops_config_works_unchanged_apart_from_the_exec_path() {
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    sb.write(
        "app/ksops.yaml",
        &format!(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: ksops-generator\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nfiles:\n  - ./secrets/db.enc.yaml\nsecretFrom:\n  - metadata:\n      name: from-files\n      annotations:\n        kustomize.config.k8s.io/needs-hash: \"false\"\n    type: Opaque\n    files:\n      - secrets/pw.enc.txt\n    binaryFiles:\n      - raw=secrets/pw.enc.txt\n",
            f.display()
        ),
    );
    sb.write("app/kustomization.yaml", "generators:\n  - ksops.yaml\n");
    let out = build(&sb, "app", &["--enable-exec"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objs = objects(&String::from_utf8(out.stdout).unwrap());
    let s = objs.iter().find(|o| o["metadata"]["name"] == "from-files").expect("from-files");
    assert_eq!(s["stringData"]["pw.enc.txt"], "hunter2");
    assert_eq!(s["data"]["raw"], "aHVudGVyMg==");
    assert!(objs.iter().any(|o| o["metadata"]["name"] == "db-credentials"));
}

#[test]
fn a_file_that_fails_to_decrypt_fails_the_build_with_its_name() {
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    // Tamper with a clear value: the MAC check (which Flux skips) must catch it.
    let db = sb.read("app/secrets/db.enc.yaml").replace("name: db-credentials", "name: db-credentialz");
    sb.write("app/secrets/db.enc.yaml", &db);
    sb.write(
        "app/gen.yaml",
        &format!("apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: app\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nresources:\n  - secrets/db.enc.yaml\n", f.display()),
    );
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
    let out = build(&sb, "app", &["--enable-exec"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secrets/db.enc.yaml") && err.contains("MAC mismatch"), "{err}");
    // Wrong key: also a failed build, naming the file.
    let db_ok = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(testdata("roundtrip/k8s-secret.yaml")).ok();
    sb.write("app/secrets/db.enc.yaml", &db_ok);
    let out = std::process::Command::new(kustomize())
        .args(["build", "--enable-alpha-plugins", "--enable-exec"])
        .arg(sb.path("app"))
        .env("SOPS_AGE_KEY_FILE", testdata("keys/age-test2.txt"))
        .env("HOME", sb.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secrets/db.enc.yaml") && err.contains("could not retrieve the data key"), "{err}");
}

#[test]
fn legacy_exec_plugin_mode() {
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    let plugin_dir = sb.path(".config/kustomize/plugin/viaduct.ai/v1/ksops");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let target = plugin_dir.join("ksops");
    std::fs::write(&target, format!("#!/bin/sh\nexec '{}' \"$@\"\n", f.display())).unwrap();
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.write(
        "app/ksops.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: legacy\nfiles:\n  - secrets/db.enc.yaml\n",
    );
    sb.write("app/kustomization.yaml", "generators:\n  - ksops.yaml\n");
    let out = build(&sb, "app", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objs = objects(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(objs[0]["stringData"]["username"], "payments_app");
}

#[test]
fn kpt_fn_eval_exec_where_present() {
    let Some(kpt) = which("kpt") else {
        eprintln!("kpt not installed; skipping the kpt cross-check");
        return;
    };
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    std::fs::create_dir_all(sb.path("pkg")).unwrap();
    sb.write("pkg/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\ndata:\n  a: b\n");
    let cfg = sb.write(
        "fn-config.yaml",
        &format!(
            "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: from-kpt\nfiles:\n  - password={}\n",
            sb.path("app/secrets/pw.enc.txt").display()
        ),
    );
    let out = std::process::Command::new(kpt)
        .args(["fn", "eval"])
        .arg(sb.path("pkg"))
        .arg("--exec")
        .arg(&f)
        .arg("--fn-config")
        .arg(&cfg)
        .args(["-o", "stdout"])
        .env("SOPS_AGE_KEY_FILE", key_file())
        .env("HOME", sb.dir.path())
        .current_dir(sb.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("keep-me") && text.contains("from-kpt") && text.contains("hunter2"), "{text}");
}

#[test]
fn openbao_wrapped_files_build_with_a_token() {
    let bao = Bao::start();
    let uri = bao.create_key("kz");
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("app")).unwrap();
    sb.write(
        "app/s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: vault-backed\nstringData:\n  k: from-bao\n",
    );
    let mut c = sb.tresor();
    c.args(["encrypt", "-i", "--encrypted-regex", "^stringData$", "--hc-vault-transit", &uri])
        .arg(sb.path("app/s.yaml"))
        .env("VAULT_TOKEN", "root");
    c.ok();
    let f = function_binary(&sb);
    sb.write("app/gen.yaml", &format!("apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nresources: [s.yaml]\n", f.display()));
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
    let out = std::process::Command::new(kustomize())
        .args(["build", "--enable-alpha-plugins", "--enable-exec"])
        .arg(sb.path("app"))
        .env("VAULT_TOKEN", "root")
        .env("HOME", sb.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("k: from-bao"));
}
