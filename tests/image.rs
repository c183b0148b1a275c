//! The container image (deploy/image/Containerfile), built here with the real buildah (no
//! daemon: vfs storage, chroot isolation, as root) from the binaries under test, then used
//! the two ways it ships for, as Argo CD's uid 999 with the age key mounted read-only:
//! the Argo CD CMP sidecar (the plugin's own discover/generate commands) and a KRM
//! container function (a ResourceList on the entrypoint's stdin).

use crate::common::*;
use std::process::{Command, Output, Stdio};

fn buildah() -> Command {
    let mut c = Command::new(which("buildah").expect("buildah is not installed: run scripts/install-peers.sh"));
    c.args(["--storage-driver", "vfs"]);
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Removes the container and image when the test ends, pass or fail.
struct Cleanup(String, String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = buildah().args(["rm", &self.0]).output();
        let _ = buildah().args(["rmi", "-f", &self.1]).output();
    }
}

#[test]
fn the_image_serves_as_argocd_cmp_sidecar_and_krm_function_as_uid_999() {
    if rustix::process::geteuid().as_raw() != 0 {
        panic!("buildah (vfs, chroot) needs root here; CI runs as root");
    }
    let sb = Sandbox::new();
    let tag = format!("localhost/tresor-test:{}", std::process::id());
    // The debug binaries this test run built.
    let bin_dir = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    let profile = bin_dir.file_name().unwrap().to_string_lossy().into_owned();
    let build = Command::new("bash")
        .arg(root().join("scripts/build-image.sh"))
        .arg(&tag)
        .env("PROFILE", &profile)
        .output()
        .unwrap();
    assert!(build.status.success(), "build-image.sh: {}", text(&build));
    let from = buildah().args(["from", "-q", &tag]).output().unwrap();
    assert!(from.status.success(), "{}", text(&from));
    let ctr = String::from_utf8(from.stdout).unwrap().trim().to_string();
    let _cleanup = Cleanup(ctr.clone(), tag.clone());

    // Runs as uid 999 by default, the function as entrypoint.
    let user = buildah().args(["inspect", "--format", "{{.OCIv1.Config.User}}", &tag]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "999:999");

    // The image as a registry would receive it, scanned layer by layer: nothing leaks.
    let archive = sb.path("image.tar");
    let push =
        buildah().args(["push", "--quiet", &tag]).arg(format!("oci-archive:{}", archive.display())).output().unwrap();
    assert!(push.status.success(), "{}", text(&push));
    let scan = sb.tresor().args(["scan", "--image"]).arg(&archive).output().unwrap();
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan));
    assert!(String::from_utf8_lossy(&scan.stderr).contains("files in 1 layers"), "{}", text(&scan));

    // A sample application, and the age key as Argo CD mounts it: 0440, group 999.
    cmp_sample_app(&sb);
    let key = sb.path("key.txt");
    std::fs::copy(key_file(), &key).unwrap();
    rustix::fs::chown(&key, None, Some(rustix::fs::Gid::from_raw(999))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o440)).unwrap();
    // The app directory must be readable by uid 999 (Argo CD's checkout is).
    for p in [sb.dir.path().to_path_buf(), sb.path("app")] {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let run = |argv: &[String], stdin: Option<&str>| -> Output {
        let mut c = buildah();
        c.args(["run", "--isolation", "chroot", "--user", "999:999"])
            .arg("-v")
            .arg(format!("{}:/app:ro", sb.path("app").display()))
            .arg("-v")
            .arg(format!("{}:/home/argocd/.config/sops/age/keys.txt:ro", key.display()))
            .args(["--workingdir", "/app", &ctr, "--"])
            .args(argv);
        match stdin {
            None => c.output().unwrap(),
            Some(input) => {
                use std::io::Write;
                let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
                child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            }
        }
    };

    // 1. The CMP, with the commands exactly as deploy/argocd/cmp-plugin.yaml gives them.
    let (discover, generate) = cmp_commands();
    let found = run(&discover, None);
    assert!(found.status.success(), "discover: {}", text(&found));
    assert_eq!(String::from_utf8_lossy(&found.stdout).trim(), "./gen.yml");
    let generated = run(&generate, None);
    assert!(generated.status.success(), "generate: {}", text(&generated));
    let objs = data(&String::from_utf8_lossy(&generated.stdout), "out.yaml");
    assert_eq!(objs[0]["kind"], "Secret");
    assert_eq!(objs[0]["stringData"]["password"], "password: hunter2\n");

    // 2. A KRM container function: the entrypoint reads a ResourceList on stdin.
    let rl = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: tresor.dev/v1\n  kind: SecretGenerator\n  metadata:\n    name: fromrl\n  files:\n    - password=pw.enc.yaml\n";
    let out = run(&["/usr/local/bin/tresor-kustomize".to_string()], Some(rl));
    assert!(out.status.success(), "KRM function: {}", text(&out));
    let list = data(&String::from_utf8_lossy(&out.stdout), "rl.yaml");
    assert_eq!(list[0]["items"][0]["metadata"]["name"], "fromrl");

    // 3. Nothing else in the image: no shell to run.
    let shell = run(&["sh".to_string(), "-c".to_string(), "true".to_string()], None);
    assert!(!shell.status.success(), "the image has a shell");
}
