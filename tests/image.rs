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

/// Build the image of `flavour` (`gitops`, `fleet`) from the debug binaries this test run
/// built, and a working container of it; both removed when the returned guard drops.
fn built(flavour: &str) -> (String, String, Cleanup) {
    if rustix::process::geteuid().as_raw() != 0 {
        panic!("buildah (vfs, chroot) needs root here; CI runs as root");
    }
    let tag = format!("localhost/tresor-{flavour}-test:{}", std::process::id());
    let bin_dir = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tresor")).parent().unwrap().to_path_buf();
    let profile = bin_dir.file_name().unwrap().to_string_lossy().into_owned();
    let build = Command::new("bash")
        .arg(root().join("scripts/build-image.sh"))
        .arg(&tag)
        .env("PROFILE", &profile)
        .env("FLAVOUR", flavour)
        .output()
        .unwrap();
    assert!(build.status.success(), "build-image.sh: {}", text(&build));
    let from = buildah().args(["from", "-q", &tag]).output().unwrap();
    assert!(from.status.success(), "{}", text(&from));
    let ctr = String::from_utf8(from.stdout).unwrap().trim().to_string();
    (tag.clone(), ctr.clone(), Cleanup(ctr, tag))
}

#[test]
fn the_image_serves_as_argocd_cmp_sidecar_and_krm_function_as_uid_999() {
    let sb = Sandbox::new();
    let (tag, ctr, _cleanup) = built("gitops");

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

/// The fleet image (deploy/image/Containerfile.fleet) runs the fleet recipes as they are
/// written: the Indexed Job's container (its args and env, `$(JOB_COMPLETION_INDEX)` expanded
/// as the kubelet does) for every completion index, cloning over HTTP with the image's own
/// git, then the Argo workflow's merge script in the image's shell.
#[test]
fn the_fleet_image_runs_the_indexed_job_and_the_argo_merge() {
    let sb = Sandbox::new();
    let (tag, ctr, _cleanup) = built("fleet");
    let inspect = |what: &str| {
        let o = buildah().args(["inspect", "--format", what, &tag]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(inspect("{{.OCIv1.Config.User}}"), "65532:65532");
    // The GitHub Actions recipe copies this path out of the image.
    assert_eq!(inspect("{{.OCIv1.Config.Entrypoint}}"), "[/usr/local/bin/tresor]");

    // Three repositories served over HTTP (Git's dumb transport): one token in two of them.
    let srv = sb.path("srv");
    for (name, body) in [
        ("app", "TOKEN=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\n"),
        ("lib", "GITHUB_TOKEN=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\n"),
        ("clean", "LOG_LEVEL=info\n"),
    ] {
        repo_with(&sb.path(name), &[("ci.env", body)], "ci", "2025-01-01T00:00:00Z");
        let bare = srv.join(format!("{name}.git"));
        git_at(&sb.path(""), &["clone", "-q", "--bare", name, bare.to_str().unwrap()], "2025-01-01T00:00:00Z");
        git_at(&bare, &["update-server-info"], "2025-01-01T00:00:00Z");
    }
    let addr = crate::common::http::serve_files(srv);
    let fleet = sb.path("fleet");
    let reports = sb.path("reports");
    std::fs::create_dir_all(&fleet).unwrap();
    std::fs::create_dir_all(&reports).unwrap();
    let urls: Vec<String> = ["app", "lib", "clean"].iter().map(|n| format!("http://{addr}/{n}.git")).collect();
    std::fs::write(fleet.join("repos.txt"), urls.join("\n") + "\n").unwrap();
    for p in [sb.dir.path().to_path_buf(), fleet.clone(), reports.clone()] {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    let run = |env: &[(String, String)], argv: &[String]| -> Output {
        let mut c = buildah();
        c.args(["run", "--isolation", "chroot"]);
        for (k, v) in env {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c.arg("-v")
            .arg(format!("{}:/fleet:ro", fleet.display()))
            .arg("-v")
            .arg(format!("{}:/reports", reports.display()))
            .args([&ctr, "--"])
            .args(argv)
            .output()
            .unwrap()
    };

    // The Indexed Job: every completion index, its container exactly as the recipe gives it.
    let job = data(&std::fs::read_to_string(root().join("deploy/fleet/indexed-job.yaml")).unwrap(), "job.yaml");
    let spec = &job[0]["spec"];
    let container = &spec["template"]["spec"]["containers"][0];
    assert!(container["image"].as_str().unwrap().contains("/tresor-fleet:"));
    let completions = spec["completions"].as_u64().unwrap();
    for index in 0..completions {
        let mut env: Vec<(String, String)> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].as_str().unwrap().to_string()))
            .collect();
        env.push(("JOB_COMPLETION_INDEX".to_string(), index.to_string()));
        let mut argv = vec!["/usr/local/bin/tresor".to_string()];
        argv.extend(
            container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().replace("$(JOB_COMPLETION_INDEX)", &index.to_string())),
        );
        let out = run(&env, &argv);
        assert!(out.status.success(), "completion {index}: {}", text(&out));
    }
    let shards = std::fs::read_dir(&reports).unwrap().count() as u64;
    assert_eq!(shards, completions, "one report per completion index");

    // The Argo workflow's merge script, in the image's shell.
    let argo = data(&std::fs::read_to_string(root().join("deploy/fleet/argo-workflow.yaml")).unwrap(), "argo.yaml");
    let merge = argo[0]["spec"]["templates"].as_array().unwrap().iter().find(|t| t["name"] == "merge").unwrap().clone();
    let script = merge["script"]["source"].as_str().unwrap().to_string();
    let out = run(&[], &["sh".to_string(), "-c".to_string(), script]);
    assert_eq!(out.status.code(), Some(1), "the leak fails the merge: {}", text(&out));
    let incidents: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("incidents.json")).unwrap()).unwrap();
    assert_eq!(incidents.as_array().unwrap().len(), 1, "{incidents}");
    assert_eq!(incidents[0]["repositories"], serde_json::json!([urls[0], urls[1]]));
}
