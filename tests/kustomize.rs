//! The KRM generator end to end with a real `kustomize build --enable-alpha-plugins
//! --enable-exec` (Debian trixie's 5.6.0, installed by scripts/install-kustomize.sh),
//! the legacy exec-plugin mode, kpt where present, and OpenBao-wrapped files.

use crate::common::*;
use std::path::{Path, PathBuf};

fn kustomize() -> PathBuf {
    which("kustomize").expect("kustomize is not installed: run scripts/install-peers.sh")
}

/// The function binary (`tresor-kustomize`, a binary of the same package, so cargo builds
/// it for the tests).
fn function_binary(_sb: &Sandbox) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tresor-kustomize"))
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

/// `kpt fn eval PKG --exec FUNCTION -o stdout` from `repo/` with the test key.
fn kpt_eval(sb: &Sandbox, kpt: &Path, function: &Path, pkg: &str) -> std::process::Output {
    std::process::Command::new(kpt)
        .args(["fn", "eval", pkg, "--exec"])
        .arg(function)
        .args(["-o", "stdout"])
        .env("SOPS_AGE_KEY_FILE", key_file())
        .env("HOME", sb.dir.path())
        .current_dir(sb.path("repo"))
        .output()
        .unwrap()
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
fn kpt_fn_eval_exec_with_fn_config() {
    let kpt = which("kpt").expect("kpt is not installed");
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    std::fs::create_dir_all(sb.path("pkg/secrets")).unwrap();
    std::fs::copy(sb.path("app/secrets/pw.enc.txt"), sb.path("pkg/secrets/pw.enc.txt")).unwrap();
    sb.write("pkg/.krmignore", "secrets/\n");
    sb.write("pkg/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\ndata:\n  a: b\n");
    // The config is outside the package; its paths are relative to the package.
    let cfg = sb.write(
        "fn-config.yaml",
        "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: from-kpt\nfiles:\n  - password=secrets/pw.enc.txt\n",
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

/// The shapes of ksops' own integration fixtures (viaduct-ai/kustomize-sops `test/krm` and
/// `test/legacy`), with the same plaintext values and the outputs its `want.yaml` files
/// hold, written here by hand; the secrets are encrypted by the real sops for age (ksops'
/// fixtures use a PGP test key). `kustomize build` must print exactly ksops' output.
struct KsopsCase {
    name: &'static str,
    /// The generator config after `kind: ksops`, without the metadata.
    body: &'static str,
    /// Plaintext files to encrypt with sops: (name, text).
    files: &'static [(&'static str, &'static str)],
    /// Extra files in clear (a base to replace).
    plain: &'static [(&'static str, &'static str)],
    kustomization: &'static str,
    want: &'static str,
}

const KSOPS_SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: mysecret\ndata:\n    password: MWYyZDFlMmU2N2Rm\n    username: YWRtaW4=\nstringData:\n    application: kustomize-sops\ntype: Opaque\n";
const KSOPS_WANT: &str = "apiVersion: v1\ndata:\n  password: MWYyZDFlMmU2N2Rm\n  username: YWRtaW4=\nkind: Secret\nmetadata:\n  name: mysecret\nstringData:\n  application: kustomize-sops\ntype: Opaque\n";
const KSOPS_FILE: &str = "username: admin\npassword: 1f2d1e2e67df\n";

fn ksops_cases() -> Vec<KsopsCase> {
    vec![
        KsopsCase {
            name: "single",
            body: "files:\n  - ./secret.enc.yaml\n",
            files: &[("secret.enc.yaml", KSOPS_SECRET)],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: KSOPS_WANT,
        },
        KsopsCase {
            name: "multiple",
            body: "files:\n  - ./secret-A.enc.yaml\n  - ./secret-B.enc.yaml\n",
            files: &[
                ("secret-A.enc.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: mysecret-A\ndata:\n    password: MWYyZDFlMmU2N2Rm\ntype: Opaque\n"),
                ("secret-B.enc.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: mysecret-B\ndata:\n    password: MWYyZDFlMmU2N2Rm\ntype: Opaque\n"),
            ],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\ndata:\n  password: MWYyZDFlMmU2N2Rm\nkind: Secret\nmetadata:\n  name: mysecret-A\ntype: Opaque\n---\napiVersion: v1\ndata:\n  password: MWYyZDFlMmU2N2Rm\nkind: Secret\nmetadata:\n  name: mysecret-B\ntype: Opaque\n",
        },
        KsopsCase {
            name: "hash",
            body: "files:\n  - ./secret.enc.yaml\n",
            files: &[(
                "secret.enc.yaml",
                "apiVersion: v1\ndata:\n    password: MWYyZDFlMmU2N2Rm\n    username: YWRtaW4=\nkind: Secret\nmetadata:\n    name: mysecret-hash\n    annotations:\n        kustomize.config.k8s.io/needs-hash: \"true\"\nstringData:\n    application: kustomize-sops\ntype: Opaque\n",
            )],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            // ksops' want.yaml: the name kustomize hashes from this content.
            want: "apiVersion: v1\ndata:\n  password: MWYyZDFlMmU2N2Rm\n  username: YWRtaW4=\nkind: Secret\nmetadata:\n  name: mysecret-hash-h55dbmfg7b\nstringData:\n  application: kustomize-sops\ntype: Opaque\n",
        },
        KsopsCase {
            name: "behaviors",
            body: "files:\n  - ./secret.enc.yaml\n",
            files: &[(
                "secret.enc.yaml",
                "apiVersion: v1\ndata:\n    password: MWYyZDFlMmU2N2Rm\n    username: YWRtaW4=\nkind: Secret\nmetadata:\n    name: my-base-secret\n    annotations:\n        kustomize.config.k8s.io/behavior: replace\nstringData:\n    application: kustomize-sops\ntype: Opaque\n",
            )],
            plain: &[
                ("base/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: my-base-secret\nstringData:\n  application: kustomize-sops\ntype: Opaque\n"),
                ("base/kustomization.yaml", "resources:\n  - ./secret.yaml\n"),
            ],
            kustomization: "resources:\n  - ./base\n\ngenerators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\ndata:\n  password: MWYyZDFlMmU2N2Rm\n  username: YWRtaW4=\nkind: Secret\nmetadata:\n  name: my-base-secret\nstringData:\n  application: kustomize-sops\ntype: Opaque\n",
        },
        KsopsCase {
            name: "file",
            body: "secretFrom:\n- metadata:\n    name: mysecret\n  type: Opaque\n  files:\n  - ./secret.enc.yaml\n",
            files: &[("secret.enc.yaml", KSOPS_FILE)],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mysecret\nstringData:\n  secret.enc.yaml: |\n    username: admin\n    password: 1f2d1e2e67df\ntype: Opaque\n",
        },
        KsopsCase {
            name: "binaryfile",
            body: "secretFrom:\n- metadata:\n    name: mysecret\n  type: Opaque\n  binaryFiles:\n  - ./secret.enc.yaml\n",
            files: &[("secret.enc.yaml", KSOPS_FILE)],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\ndata:\n  secret.enc.yaml: dXNlcm5hbWU6IGFkbWluCnBhc3N3b3JkOiAxZjJkMWUyZTY3ZGYK\nkind: Secret\nmetadata:\n  name: mysecret\ntype: Opaque\n",
        },
        KsopsCase {
            name: "override",
            body: "secretFrom:\n- metadata:\n    name: mysecret\n  type: Opaque\n  files:\n  - secret.yaml=secret.enc.yaml\n",
            files: &[("secret.enc.yaml", KSOPS_FILE)],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mysecret\nstringData:\n  secret.yaml: |\n    username: admin\n    password: 1f2d1e2e67df\ntype: Opaque\n",
        },
        KsopsCase {
            // ksops' `metadata` fixture: a sops dotenv file in `envs:`, each line a key.
            name: "envs",
            body: "secretFrom:\n- metadata:\n    name: mysecret\n    namespace: test\n    labels:\n      foo: bar\n    annotations:\n      abc: xyz\n  envs:\n  - ./secret.enc.env\n",
            files: &[("secret.enc.env", "username=admin\npassword=1f2d1e2e67df\n")],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    abc: xyz\n  labels:\n    foo: bar\n  name: mysecret\n  namespace: test\nstringData:\n  password: 1f2d1e2e67df\n  username: admin\n",
        },
        KsopsCase {
            // No `type` in the config: ksops writes none (an added `type: Opaque` would
            // change every hashed name on migration).
            name: "untyped",
            body: "secretFrom:\n- metadata:\n    name: mysecret\n    namespace: test\n    labels:\n      foo: bar\n    annotations:\n      abc: xyz\n  files:\n  - password=pw.enc.yaml\n",
            files: &[("pw.enc.yaml", "1f2d1e2e67df: true\n")],
            plain: &[],
            kustomization: "generators:\n  - ./generate-resources.yaml\n",
            want: "apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    abc: xyz\n  labels:\n    foo: bar\n  name: mysecret\n  namespace: test\nstringData:\n  password: |\n    1f2d1e2e67df: true\n",
        },
    ]
}

fn ksops_case_dir(sb: &Sandbox, mode: &str, case: &KsopsCase, path_line: &str) -> String {
    let dir = format!("{mode}/{}", case.name);
    std::fs::create_dir_all(sb.path(&format!("{dir}/base"))).unwrap();
    for (name, text) in case.plain {
        sb.write(&format!("{dir}/{name}"), text);
    }
    for (name, text) in case.files {
        let plain = sb.write(&format!("{dir}/{name}.plain"), text);
        let store = if name.ends_with(".env") { "dotenv" } else { "yaml" };
        let enc = sb
            .sops()
            .args(["encrypt", "--input-type", store, "--output-type", store, "--age", &recipient()])
            .arg(&plain)
            .ok();
        std::fs::remove_file(plain).unwrap();
        sb.write(&format!("{dir}/{name}"), &enc);
    }
    // KRM mode uses ksops' v2 apiVersion for one case, as its `behaviors` fixture does.
    let api = if mode == "krm" && case.name == "behaviors" { "viaduct.ai/v2" } else { "viaduct.ai/v1" };
    sb.write(
        &format!("{dir}/generate-resources.yaml"),
        &format!(
            "apiVersion: {api}\nkind: ksops\nmetadata:\n  name: ksops-{}-generator\n{path_line}{}",
            case.name, case.body
        ),
    );
    sb.write(&format!("{dir}/kustomization.yaml"), case.kustomization);
    dir
}

#[test]
fn ksops_fixture_shapes_build_to_ksops_own_output_in_krm_and_legacy_modes() {
    let sb = Sandbox::new();
    let f = function_binary(&sb);
    let krm_path = format!(
        "  annotations:\n    config.kubernetes.io/function: |\n        exec:\n          path: {}\n",
        f.display()
    );
    // Legacy mode: kustomize finds the plugin as viaduct.ai/v1/ksops/ksops under its config dir.
    let plugin_dir = sb.path(".config/kustomize/plugin/viaduct.ai/v1/ksops");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let target = plugin_dir.join("ksops");
    std::fs::write(&target, format!("#!/bin/sh\nexec '{}' \"$@\"\n", f.display())).unwrap();
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut failures = Vec::new();
    for case in ksops_cases() {
        for (mode, path_line, flags) in [("krm", krm_path.as_str(), &["--enable-exec"][..]), ("legacy", "", &[][..])] {
            let dir = ksops_case_dir(&sb, mode, &case, path_line);
            let out = build(&sb, &dir, flags);
            let got = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() || got != case.want {
                failures.push(format!(
                    "{dir}: exit {:?}\n--- want\n{}--- got\n{got}--- stderr\n{}",
                    out.status.code(),
                    case.want,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_generator_config_tresor_does_not_know_fails_the_build_naming_it() {
    let sb = Sandbox::new();
    setup(&sb);
    let f = function_binary(&sb);
    for (api, kind, named) in [
        ("tresor.dev/v2", "SecretGenerator", "apiVersion: tresor.dev/v2, kind: SecretGenerator"),
        ("tresor.dev/v1", "SecretGenertor", "kind: SecretGenertor"),
        ("viaduct.ai/v1", "ksopz", "kind: ksopz"),
        ("example.com/v1", "Whatever", "apiVersion: example.com/v1, kind: Whatever"),
    ] {
        sb.write(
            "app/gen.yaml",
            &format!(
                "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: app\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nfiles:\n  - password=secrets/pw.enc.txt\n",
                f.display()
            ),
        );
        sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
        let out = build(&sb, "app", &["--enable-exec"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{api} {kind}: the build must fail, got {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(err.contains(named), "{api} {kind}: {err}");
    }
}

#[test]
fn install_copies_the_function_and_with_kustomize_the_kustomize_on_path() {
    let sb = Sandbox::new();
    let f = function_binary(&sb);
    let dest = sb.path("tools");
    std::fs::create_dir_all(&dest).unwrap();
    let out = std::process::Command::new(&f).args(["install", "--with-kustomize"]).arg(&dest).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dest.join("kustomize")).unwrap(), std::fs::read(kustomize()).unwrap());
    let v = std::process::Command::new(dest.join("tresor-kustomize")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("tresor-kustomize "));
    let bad = std::process::Command::new(&f).args(["install"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("usage: tresor-kustomize install [--with-kustomize] DIR"));
    // A directory that does not exist is named as such (not the binary's copy in it).
    let missing = sb.path("no-such-volume");
    let out = std::process::Command::new(&f).args(["install", "--with-kustomize"]).arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-volume is not a directory"), "{err}");
}

/// kpt runs a function in the directory kpt was started from, not in the package: run from
/// the repository root, the generator's relative paths still resolve against the package.
/// Encrypted files are not KRM resources, so the package's `.krmignore` lists them (kpt
/// would otherwise refuse to read them). Output goes to stdout (`-o stdout`): kpt's default
/// in-place mode would write the decrypted Secret into the package.
#[test]
fn kpt_resolves_paths_against_the_package_when_run_from_the_repository_root() {
    let kpt = which("kpt").expect("kpt is not installed");
    let sb = Sandbox::new();
    let f = function_binary(&sb);
    std::fs::create_dir_all(sb.path("repo/apps/prod/secrets")).unwrap();
    let plain = sb.write("repo/apps/prod/secrets/pw.txt", "hunter2");
    let enc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
    std::fs::remove_file(plain).unwrap();
    sb.write("repo/apps/prod/secrets/pw.enc.txt", &enc);
    let m = sb.write(
        "repo/apps/prod/secrets/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret\n",
    );
    let enc =
        sb.tresor().args(["encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", &recipient()]).arg(&m).ok();
    std::fs::remove_file(m).unwrap();
    sb.write("repo/apps/prod/secrets/db.enc.yaml", &enc);
    sb.write("repo/apps/prod/.krmignore", "secrets/\n");
    sb.write("repo/apps/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\ndata:\n  a: b\n");
    sb.write(
        "repo/apps/prod/gen.yaml",
        "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: from-kpt\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nfiles:\n  - password=secrets/pw.enc.txt\nresources:\n  - secrets/db.enc.yaml\n",
    );
    let out = kpt_eval(&sb, &kpt, &f, "apps/prod");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("keep-me") && text.contains("from-kpt") && text.contains("hunter2") && text.contains("s3cret"),
        "{text}"
    );
    // Nothing was written into the package.
    assert!(!std::fs::read_dir(sb.path("repo/apps/prod")).unwrap().any(|e| {
        std::fs::read_to_string(e.unwrap().path()).is_ok_and(|t| t.contains("hunter2") || t.contains("s3cret"))
    }));
}

#[test]
fn binary_files_of_any_bytes_and_dotenv_envs_written_by_either_tool_build() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("app/secrets")).unwrap();
    // Every byte value, as in a DER certificate or a PKCS#12 keystore.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    std::fs::write(sb.path("app/secrets/keystore.p12"), &bytes).unwrap();
    let by_sops =
        sb.sops().args(["encrypt", "--age", &recipient()]).arg(sb.path("app/secrets/keystore.p12")).output().unwrap();
    assert!(by_sops.status.success());
    std::fs::write(sb.path("app/secrets/sops.enc.p12"), &by_sops.stdout).unwrap();
    let by_tresor =
        sb.tresor().args(["encrypt", "--age", &recipient()]).arg(sb.path("app/secrets/keystore.p12")).output().unwrap();
    assert!(by_tresor.status.success(), "{}", String::from_utf8_lossy(&by_tresor.stderr));
    std::fs::write(sb.path("app/secrets/tresor.enc.p12"), &by_tresor.stdout).unwrap();
    std::fs::remove_file(sb.path("app/secrets/keystore.p12")).unwrap();
    sb.write("app/secrets/db.env", "DB_USER=admin\nDB_PASSWORD=s3cr3t=with=equals\n");
    let env = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(sb.path("app/secrets/db.env")).ok();
    sb.write("app/secrets/db.enc.env", &env);
    std::fs::remove_file(sb.path("app/secrets/db.env")).unwrap();
    let f = function_binary(&sb);
    sb.write(
        "app/gen.yaml",
        &format!(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nsecretFrom:\n- metadata:\n    name: bin\n  binaryFiles:\n  - a.p12=secrets/sops.enc.p12\n  - b.p12=secrets/tresor.enc.p12\n  envs:\n  - secrets/db.enc.env\n",
            f.display()
        ),
    );
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
    let out = build(&sb, "app", &["--enable-exec"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objs = objects(&String::from_utf8(out.stdout).unwrap());
    let s = &objs[0];
    use base64::Engine;
    let want = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert_eq!(s["data"]["a.p12"], want.as_str());
    assert_eq!(s["data"]["b.p12"], want.as_str());
    assert_eq!(s["stringData"]["DB_USER"], "admin");
    assert_eq!(s["stringData"]["DB_PASSWORD"], "s3cr3t=with=equals");
}

#[test]
fn ksops_tutorial_files_encrypted_to_a_pgp_key_build() {
    let sb = Sandbox::new();
    let gpg = Gpg::new(&sb);
    std::fs::create_dir_all(sb.path("app")).unwrap();
    let plain = sb.write("app/secret.yaml", KSOPS_SECRET);
    let enc = sb
        .sops()
        .args(["encrypt", "--encrypted-regex", "^(data|stringData)$", "--pgp", &gpg.fp])
        .arg(&plain)
        .env("GNUPGHOME", &gpg.home)
        .ok();
    sb.write("app/secret.enc.yaml", &enc);
    std::fs::remove_file(plain).unwrap();
    sb.write(
        "app/secret-generator.yaml",
        &format!(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: example-secret-generator\n  annotations:\n    config.kubernetes.io/function: |\n        exec:\n          path: {}\nfiles:\n  - ./secret.enc.yaml\n",
            function_binary(&sb).display()
        ),
    );
    sb.write("app/kustomization.yaml", "generators:\n  - ./secret-generator.yaml\n");
    let out = std::process::Command::new(kustomize())
        .args(["build", "--enable-alpha-plugins", "--enable-exec"])
        .arg(sb.path("app"))
        .env("SOPS_AGE_KEY_FILE", "/dev/null")
        .env("GNUPGHOME", &gpg.home)
        .env("HOME", sb.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), KSOPS_WANT);
}

#[test]
fn ksops_envs_read_as_ksops_reads_them_and_unknown_fields_fail_the_build() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("app")).unwrap();
    sb.write("app/app.env", "# comment\nexport USER=admin # inline\nPASSWORD=\"two words\"\nTOKEN='t$ken'\n");
    let enc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(sb.path("app/app.env")).ok();
    sb.write("app/app.enc.env", &enc);
    std::fs::remove_file(sb.path("app/app.env")).unwrap();
    let f = function_binary(&sb);
    let head = format!(
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\n",
        f.display()
    );
    sb.write("app/gen.yaml", &format!("{head}secretFrom:\n- metadata:\n    name: s\n  envs:\n  - app.enc.env\n"));
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
    let out = build(&sb, "app", &["--enable-exec"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  PASSWORD: two words\n  TOKEN: t$ken\n  USER: admin\n"
    );
    // A field ksops ignores (here from another tool) fails the build instead of leaving
    // keys out.
    sb.write("app/gen.yaml", &format!("{head}secretFrom:\n- metadata:\n    name: s\n  literals:\n  - a=b\n"));
    let out = build(&sb, "app", &["--enable-exec"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secretFrom[0]: unknown field `literals`"), "{err}");
}

/// kpt from a monorepo root over `dev/` and `prod/` packages whose generators name the same
/// relative file: each generator reads its own package's file.
#[test]
fn kpt_from_a_monorepo_root_reads_each_packages_own_files() {
    let kpt = which("kpt").expect("kpt is not installed");
    let sb = Sandbox::new();
    let f = function_binary(&sb);
    for env in ["dev", "prod"] {
        std::fs::create_dir_all(sb.path(&format!("repo/{env}/secrets"))).unwrap();
        let plain = sb.write(&format!("repo/{env}/secrets/pw.txt"), &format!("pw-{env}"));
        let enc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        std::fs::remove_file(plain).unwrap();
        sb.write(&format!("repo/{env}/secrets/pw.enc.txt"), &enc);
        sb.write(&format!("repo/{env}/.krmignore"), "secrets/\n");
        sb.write(
            &format!("repo/{env}/gen.yaml"),
            &format!(
                "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: gen-{env}\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nfiles:\n  - password=secrets/pw.enc.txt\n"
            ),
        );
    }
    let out = kpt_eval(&sb, &kpt, &f, ".");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // `-o stdout` prints the ResourceList.
    let list = objects(&String::from_utf8(out.stdout).unwrap());
    let docs = list[0]["items"].as_array().cloned().unwrap_or_default();
    // The text of a generated Secret's password, from stringData or base64 data.
    let secret = |name: &str| -> Option<String> {
        use base64::Engine;
        let d = docs.iter().find(|d| d["metadata"]["name"] == name)?;
        match d["stringData"]["password"].as_str() {
            Some(s) => Some(s.to_string()),
            None => base64::engine::general_purpose::STANDARD
                .decode(d["data"]["password"].as_str()?)
                .ok()
                .and_then(|b| String::from_utf8(b).ok()),
        }
    };
    assert_eq!(secret("gen-dev").as_deref(), Some("pw-dev"));
    assert_eq!(secret("gen-prod").as_deref(), Some("pw-prod"));
}
