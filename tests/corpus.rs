//! Files real tools write, through tresor and the real sops (issue: exact sops interop on
//! real-world YAML). The corpus is produced here, by the tools themselves where they are
//! installed (`helm create` / `helm template`, `kubectl create … --dry-run=client -o yaml`,
//! `kustomize build`, `kpt pkg init` / `kpt fn source`) and by a generator of the value
//! files public charts write (Bitnami's `## @param` style, helm-docs' `# --` style,
//! indentless lists, commented-out keys). Every file must pass three checks:
//! 1. tresor's round trip is byte-identical;
//! 2. sops decrypts tresor's file to the data and comments sops' own encryption gives;
//! 3. tresor decrypts sops' file to the data and comments sops reads from it.
//!
//! Input sops refuses must be refused by tresor too.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// (tool or style, file name, text)
type Entry = (&'static str, String, String);

fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8(out.stdout).ok()).flatten()
}

fn helm_files(dir: &Path, out: &mut Vec<Entry>) {
    let Some(helm) = which("helm") else { return };
    let sets: &[&[&str]] = &[
        &[],
        &["--set", "ingress.enabled=true"],
        &["--set", "autoscaling.enabled=true,serviceAccount.create=false"],
        &["--set", "service.type=NodePort,replicaCount=3"],
    ];
    for name in ["web", "api", "worker", "billing", "search", "gateway", "auth", "reports", "mailer", "cache"] {
        let chart = dir.join(name);
        let created = Command::new(&helm).arg("create").arg(&chart).env("HOME", dir).output().unwrap();
        assert!(created.status.success(), "helm create: {}", String::from_utf8_lossy(&created.stderr));
        for f in ["values.yaml", "Chart.yaml"] {
            out.push(("helm create", format!("{name}/{f}"), std::fs::read_to_string(chart.join(f)).unwrap()));
        }
        for (i, set) in sets.iter().enumerate() {
            let rendered = run(Command::new(&helm).args(["template", "rel"]).arg(&chart).args(*set).env("HOME", dir))
                .expect("helm template");
            out.push(("helm template", format!("{name}/rendered-{i}.yaml"), rendered));
        }
    }
}

fn kubectl_files(out: &mut Vec<Entry>) {
    let Some(kubectl) = which("kubectl") else { return };
    let commands: Vec<Vec<String>> = (0..6)
        .flat_map(|i| {
            let n = format!("app{i}");
            vec![
                format!("create secret generic {n}-db --from-literal=username=admin{i} --from-literal=password=s3cr3t-{i}"),
                format!("create secret docker-registry {n}-pull --docker-server=registry.example.eu --docker-username=ci{i} --docker-password=tok-{i}"),
                format!("create configmap {n}-cfg --from-literal=LOG_LEVEL=debug --from-literal=REPLICAS={i}"),
                format!("create deployment {n} --image=nginx:1.2{i} --replicas={i} --port=8080"),
                format!("create service clusterip {n} --tcp=80:8080"),
                format!("create job {n}-migrate --image=busybox -- echo hello"),
                format!("create cronjob {n}-backup --image=busybox --schedule=*/5 * * * * -- date"),
                format!("create serviceaccount {n}"),
                format!("create namespace {n}"),
                format!("create rolebinding {n}-reader --role={n}-reader --serviceaccount=default:{n}"),
                format!("create ingress {n} --rule=app{i}.example.eu/*={n}:80"),
                format!("create poddisruptionbudget {n} --selector=app={n} --min-available=1"),
                format!("create quota {n} --hard=cpu=2,memory=1G,pods=10"),
                format!("create priorityclass {n}-high --value={}", 1000 + i),
            ]
        })
        .map(|c| c.split(' ').map(str::to_string).collect())
        .collect();
    for args in commands {
        // The cron schedule is one argument.
        let mut args = args;
        if let Some(p) = args.iter().position(|a| a.starts_with("--schedule=")) {
            let sched = args.drain(p..p + 5).collect::<Vec<_>>().join(" ");
            args.insert(p, sched);
        }
        // Output flags before a `--` that starts the container command.
        let cut = args.iter().position(|a| a == "--").unwrap_or(args.len());
        let text =
            run(Command::new(&kubectl).args(&args[..cut]).args(["--dry-run=client", "-o", "yaml"]).args(&args[cut..]))
                .unwrap_or_else(|| panic!("kubectl {args:?}"));
        out.push(("kubectl", format!("kubectl-{}.yaml", args[1..3].join("-")), text));
    }
}

fn kustomize_files(dir: &Path, out: &mut Vec<Entry>) {
    let Some(kustomize) = which("kustomize") else { return };
    for i in 0..20 {
        let k = dir.join(format!("k{i}"));
        std::fs::create_dir_all(&k).unwrap();
        std::fs::write(k.join("app.env"), format!("DB_HOST=db{i}.internal\nDB_PORT=54{i:02}\n")).unwrap();
        std::fs::write(
            k.join("deployment.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: {}\n  template:\n    spec:\n      containers:\n      - name: app\n        image: registry.example.eu/app:{i}\n        envFrom:\n        - secretRef:\n            name: app-secret\n",
                i % 4 + 1
            ),
        )
        .unwrap();
        let hash = if i % 2 == 0 { "" } else { "generatorOptions:\n  disableNameSuffixHash: true\n" };
        std::fs::write(
            k.join("kustomization.yaml"),
            format!(
                "namespace: team{i}\nnamePrefix: t{i}-\nlabels:\n- pairs:\n    team: t{i}\n  includeSelectors: {}\nresources:\n- deployment.yaml\nsecretGenerator:\n- name: app-secret\n  literals:\n  - API_TOKEN=tok-{i}-abcdef\n  - password=p@ss:{i}\n  envs:\n  - app.env\nconfigMapGenerator:\n- name: app-config\n  literals:\n  - mode=prod\n  - threshold=0.{i}\n{hash}",
                i % 3 == 0
            ),
        )
        .unwrap();
        let text = run(Command::new(&kustomize).arg("build").arg(&k)).expect("kustomize build");
        out.push(("kustomize build", format!("k{i}.yaml"), text));
    }
}

fn kpt_files(dir: &Path, out: &mut Vec<Entry>) {
    let Some(kpt) = which("kpt") else { return };
    for i in 0..20 {
        let p = dir.join(format!("pkg{i}"));
        std::fs::create_dir_all(&p).unwrap();
        if run(Command::new(&kpt).args(["pkg", "init"]).arg(&p).args(["--description", &format!("package {i}")]))
            .is_none()
        {
            return;
        }
        out.push(("kpt", format!("pkg{i}/Kptfile"), std::fs::read_to_string(p.join("Kptfile")).unwrap()));
        std::fs::write(
            p.join("cm.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  key: value-{i}\n"),
        )
        .unwrap();
        if let Some(text) = run(Command::new(&kpt).args(["fn", "source"]).arg(&p)) {
            out.push(("kpt", format!("pkg{i}-source.yaml"), text));
        }
    }
}

/// Value files in the comment and list styles public charts use (written here).
fn chart_style_files(out: &mut Vec<Entry>) {
    for i in 0..30 {
        let bitnami = format!(
            "## @section Global parameters\n## Global Docker image parameters\n##\n\n## @param global.imageRegistry Global Docker image registry\n## @param global.imagePullSecrets Global registry secret names as an array\n##\nglobal:\n  imageRegistry: \"\"\n  ## E.g.\n  ## imagePullSecrets:\n  ##   - myRegistryKeySecretName\n  ##\n  imagePullSecrets: []\n\n## @section Database parameters\n## @param auth.username Name for a custom user to create\n## @param auth.password Password for the custom user\n##\nauth:\n  username: user{i}\n  password: \"s3cret-{i}\"\n  ## @param auth.existingSecret Use existing secret for credentials\n  existingSecret: \"\"\n  # secretKeys:\n  #   adminPasswordKey: \"\"\nprimary:\n  ## @param primary.extraEnvVars Extra environment variables\n  ## e.g:\n  ## extraEnvVars:\n  ##   - name: FOO\n  ##     value: \"bar\"\n  ##\n  extraEnvVars:\n    - name: TZ\n      value: Europe/Paris\n    # - name: DEBUG\n    #   value: \"true\"\n  resources:\n    limits: {{}}\n    requests:\n      cpu: {}m\n      memory: {}Mi\n  ## @param primary.nodeSelector Node labels\n  nodeSelector: {{}}\n  tolerations: []\n",
            100 + i * 10,
            128 + i
        );
        out.push(("chart values (Bitnami style)", format!("bitnami-{i}.yaml"), bitnami));
        let helm_docs = format!(
            "# -- Number of replicas\nreplicaCount: {}\n\nimage:\n  # -- image repository\n  repository: registry.example.eu/app{i}\n  # -- image tag (defaults to the chart's appVersion)\n  tag: \"\"\n\n# -- Secrets passed as environment variables\nsecrets:\n  # -- database URL\n  DATABASE_URL: postgres://app:pw{i}@db:5432/app\n  # API_KEY: \"\"\n\nenv:\n# -- first variable\n- name: MODE\n  value: production\n# -- second variable\n- name: WORKERS\n  value: \"{}\"\n\ningress:\n  enabled: {}\n  hosts:\n    - host: app{i}.example.eu\n      paths:\n        - path: /\n          # -- path type\n          pathType: ImplementationSpecific\n  tls: []\n  #  - secretName: chart-example-tls\n  #    hosts:\n  #      - chart-example.local\n",
            i % 5 + 1,
            i % 8 + 1,
            i % 2 == 0
        );
        out.push(("chart values (helm-docs style)", format!("helmdocs-{i}.yaml"), helm_docs));
    }
}

/// Check one file; the problems found, if any.
fn check(sb: &Sandbox, idx: usize, (tool, name, text): &Entry) -> Vec<String> {
    let mut problems = Vec::new();
    let what = format!("[{tool}] {name}");
    let plain = sb.write(&format!("c{idx}.yaml"), text);
    let t = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).output().unwrap();
    let s = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).output().unwrap();
    match (t.status.success(), s.status.success()) {
        (true, true) => {}
        (false, false) => return problems,
        (true, false) => return vec![format!("{what}: sops refuses it, tresor encrypts it")],
        (false, true) => return vec![format!("{what}: tresor refuses: {}", String::from_utf8_lossy(&t.stderr))],
    }
    let tenc = sb.write(&format!("c{idx}.t.yaml"), &String::from_utf8(t.stdout).unwrap());
    let senc = sb.write(&format!("c{idx}.s.yaml"), &String::from_utf8(s.stdout).unwrap());
    // 1. Round trip.
    if sb.tresor().arg("decrypt").arg(&tenc).ok() != *text {
        problems.push(format!("{what}: tresor's round trip differs"));
    }
    // 2. sops reads tresor's file as it reads its own.
    let own = sb.sops().arg("decrypt").arg(&senc).output().unwrap();
    let own_text = String::from_utf8_lossy(&own.stdout).into_owned();
    let sops_self = own.status.success() && !String::from_utf8_lossy(&own.stderr).contains("unencrypted comment");
    let theirs = sb.sops().arg("decrypt").arg(&tenc).output().unwrap();
    let theirs_text = String::from_utf8_lossy(&theirs.stdout).into_owned();
    if !theirs.status.success() || String::from_utf8_lossy(&theirs.stderr).contains("unencrypted comment") {
        problems.push(format!("{what}: sops on tresor's file: {}", String::from_utf8_lossy(&theirs.stderr)));
    } else if sops_self {
        assert_same_docs(&data(&theirs_text, "x.yaml"), &data(&own_text, "x.yaml"), &what);
        if comments(&theirs_text) != comments(&own_text) {
            problems.push(format!("{what}: sops reads other comments from tresor's file"));
        }
    }
    // 3. tresor reads sops' file as sops reads it.
    if sops_self {
        let ours = sb.tresor().arg("decrypt").arg(&senc).output().unwrap();
        let ours_text = String::from_utf8_lossy(&ours.stdout).into_owned();
        if !ours.status.success() {
            problems.push(format!("{what}: tresor on sops' file: {}", String::from_utf8_lossy(&ours.stderr)));
        } else {
            assert_same_docs(&data(&ours_text, "x.yaml"), &data(&own_text, "x.yaml"), &what);
            if comments(&ours_text) != comments(&own_text) {
                problems.push(format!("{what}: tresor reads other comments from sops' file"));
            }
        }
    }
    problems
}

#[test]
fn files_real_tools_write_pass_the_three_checks() {
    let sb = Sandbox::new();
    let tools = sb.path("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let mut corpus: Vec<Entry> = Vec::new();
    helm_files(&tools, &mut corpus);
    kubectl_files(&mut corpus);
    kustomize_files(&tools, &mut corpus);
    kpt_files(&tools, &mut corpus);
    chart_style_files(&mut corpus);
    let styles: std::collections::BTreeSet<&str> = corpus.iter().map(|e| e.0).collect();
    assert!(corpus.len() >= 200 && styles.len() >= 5, "{} files from {:?}", corpus.len(), styles);
    // Four workers: each file runs six tool processes.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(entry) = corpus.get(i) else { break };
                let found = check(&sb, i, entry);
                problems.lock().unwrap().extend(found);
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    eprintln!("{} files from {} tools/styles: {:?}", corpus.len(), styles.len(), styles);
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
