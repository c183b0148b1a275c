//! helm-secrets drives a `sops` binary (HELM_SECRETS_SOPS_PATH) with a small flag subset;
//! tresor accepts exactly those invocations, so `HELM_SECRETS_SOPS_PATH=tresor` works.

use crate::common::*;

#[test]
fn helm_secrets_decrypt_invocations() {
    let sb = Sandbox::new();
    let values = sb.write("secrets.yaml", "db:\n  password: hunter2\nreplicas: 2\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&values).ok();
    let enc = sb.read("secrets.yaml");
    // helm-secrets' "is it encrypted?" test: grep 'mac.*,type:str]' and a line `sops:`.
    assert!(enc.lines().any(|l| l.contains("mac") && l.ends_with(",type:str]")));
    assert!(enc.lines().any(|l| l == "sops:"));
    // sops --decrypt --input-type yaml --output-type yaml --output F FILE
    let out = sb.path("secrets.yaml.dec");
    sb.tresor()
        .args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml", "--output"])
        .arg(&out)
        .arg(&values)
        .ok();
    assert_eq!(sb.read("secrets.yaml.dec"), "db:\n  password: hunter2\nreplicas: 2\n");
    // sops --decrypt --input-type yaml --output-type yaml FILE (to stdout, the getter mode)
    let stdout = sb.tresor().args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml"]).arg(&values).ok();
    assert_eq!(stdout, "db:\n  password: hunter2\nreplicas: 2\n");
    // -d short form, in-place.
    let copy = sb.write("inplace.yaml", &enc);
    sb.tresor().args(["-d", "--in-place"]).arg(&copy).ok();
    assert_eq!(sb.read("inplace.yaml"), "db:\n  password: hunter2\nreplicas: 2\n");
    // Literals: --input-type json --output-type json /dev/stdin
    let lit = sb.tresor().args(["encrypt", "--input-type", "json", "--age", &recipient()]).stdin_text("{\"k\": \"v\"}");
    let lit = String::from_utf8(lit.stdout).unwrap();
    let dec =
        sb.tresor().args(["--decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin"]).stdin_text(&lit);
    assert_eq!(String::from_utf8(dec.stdout).unwrap(), "{\"k\": \"v\"}");
    // The same invocations against the real sops give the same data.
    let theirs = sb.sops().args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml"]).arg(&values).ok();
    assert_same_docs(&data(&theirs, "v.yaml"), &data(&stdout, "v.yaml"), "helm-secrets decrypt");
    // --encrypt in legacy form works too.
    let plain = sb.write("p.yaml", "a: b\n");
    let e = sb.tresor().args(["--encrypt", "--age", &recipient()]).arg(&plain).ok();
    assert!(e.contains("ENC[AES256_GCM"));
}

/// `helm secrets edit` runs sops' implicit edit form, `sops --input-type yaml
/// --output-type yaml FILE` (no subcommand): tresor edits the file as sops does, and the
/// real sops still decrypts the result.
#[test]
fn helm_secrets_edit_invocation_edits_the_file() {
    let sb = Sandbox::new();
    let values = sb.write("secrets.yaml", "db:\n  password: hunter2\nreplicas: 2\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&values).ok();
    let editor = sb.write("editor.sh", "#!/bin/sh\nsed -i 's/hunter2/hunter3/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.tresor().args(["--input-type", "yaml", "--output-type", "yaml"]).arg(&values).env("EDITOR", &editor).ok();
    let after = sb.read("secrets.yaml");
    assert!(!after.contains("hunter3") && after.contains("ENC[AES256_GCM,"), "{after}");
    assert_eq!(sb.sops().arg("decrypt").arg(&values).ok(), "db:\n    password: hunter3\nreplicas: 2\n");
    // The bare form too (`sops FILE`).
    let editor2 = sb.write("editor2.sh", "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 3/' \"$1\"\n");
    std::fs::set_permissions(&editor2, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.tresor().arg(&values).env("EDITOR", &editor2).ok();
    assert_eq!(sb.tresor().arg("decrypt").arg(&values).ok(), "db:\n  password: hunter3\nreplicas: 3\n");
    // An output type that would change the file's format is refused, naming the flag.
    let out = sb
        .tresor()
        .args(["--input-type", "yaml", "--output-type", "json"])
        .arg(&values)
        .env("EDITOR", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--output-type json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Another plugin's directory is never overwritten.
#[test]
fn helm_plugin_refuses_another_plugins_directory() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("other")).unwrap();
    sb.write("other/plugin.yaml", "name: secrets\nversion: 4.6.0\n");
    let err = sb.tresor().args(["helm-plugin"]).arg(sb.path("other")).fails_with(1);
    assert!(err.contains("another plugin's plugin.yaml"), "{err}");
    assert_eq!(sb.read("other/plugin.yaml"), "name: secrets\nversion: 4.6.0\n");
}

/// The native Helm plugin: `tresor helm-plugin DIR` writes a getter plugin whose command
/// is a link to tresor itself (no script); the real Helm 4.3.1 installs it in both manifest
/// forms (Helm 3's downloader, which Helm 4 loads as legacy, and Helm 4's getter/v1) and
/// Helm 3.17.2 the downloader form, and
/// `helm template -f tresor://FILE` gets the decrypted values. A file it cannot decrypt
/// fails the render.
#[test]
fn helm_template_reads_tresor_urls_through_the_plugin() {
    let helm4 = which("helm").expect("helm is not installed: run scripts/install-peers.sh");
    let helm3 = which("helm3").expect("helm3 is not installed: run scripts/install-peers.sh");
    // Helm 3 knows only the downloader form.
    for (helm, manifest) in [(&helm4, "legacy"), (&helm4, "v1"), (&helm3, "legacy")] {
        let sb = Sandbox::new();
        let plugin = sb.path(&format!("plugin-{manifest}"));
        let manifest = format!("{manifest} with {}", helm.display());
        let manifest = manifest.as_str();
        sb.tresor().args(["helm-plugin", "--manifest", manifest.split(' ').next().unwrap()]).arg(&plugin).ok();
        // Again over its own earlier plugin: rewritten, not refused.
        sb.tresor().args(["helm-plugin", "--manifest", manifest.split(' ').next().unwrap()]).arg(&plugin).ok();
        let helm_cmd = |args: &[&str]| {
            std::process::Command::new(helm)
                .args(args)
                .current_dir(sb.dir.path())
                .env("HELM_DATA_HOME", sb.path("helm-data"))
                .env("HELM_CONFIG_HOME", sb.path("helm-config"))
                .env("HELM_CACHE_HOME", sb.path("helm-cache"))
                .env_remove("HELM_PLUGINS")
                .env("HOME", sb.dir.path())
                .env("SOPS_AGE_KEY_FILE", key_file())
                .output()
                .unwrap()
        };
        let out = helm_cmd(&["plugin", "install", plugin.to_str().unwrap()]);
        assert!(out.status.success(), "{manifest}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(helm_cmd(&["create", "chart"]).status.success());
        let values = sb.write("values.yaml", "replicaCount: 5\nimage:\n  tag: \"1.2.3\"\n");
        sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&values).ok();
        let out = helm_cmd(&["template", "r", "chart", "-f", "tresor://values.yaml"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{manifest}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("replicas: 5") && text.contains("nginx:1.2.3"), "{manifest}: {text}");
        // Not decryptable here: helm fails, naming the cause.
        let other = sb.write("other.yaml", "replicaCount: 9\n");
        sb.tresor()
            .args(["encrypt", "-i", "--age", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"])
            .arg(&other)
            .ok();
        let out = helm_cmd(&["template", "r", "chart", "-f", "tresor://other.yaml"]);
        assert!(!out.status.success(), "{manifest}: rendered without the key");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("could not retrieve the data key"),
            "{manifest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
