//! Decrypting generators for Kustomize, as a KRM function or a legacy exec plugin.
//!
//! Two generator formats are accepted:
//! * ours, `apiVersion: tresor.dev/v1`, `kind: SecretGenerator` (see docs/kustomize.md);
//! * ksops', `apiVersion: viaduct.ai/v1` (any `viaduct.ai/` version, as ksops reads none),
//!   `kind: ksops` (`files`, `secretFrom`), as is, with ksops' output (no `type` it was
//!   not given).
//!
//! A config addressed to either in a version or kind this build does not know is an error
//! naming it, and so is a run that generates nothing.
//!
//! Every file is decrypted with its MAC verified; a file that fails stops the build with
//! its name (a silently missing Secret is the failure mode ksops users hit most).

#![deny(missing_docs)]

mod generate;
mod ksops_env;
mod resource_list;

use std::io::{IsTerminal, Read};
use std::path::Path;

pub use generate::{classify, generate, GeneratorKind, KrmError};
pub use resource_list::{process_resource_list, Outcome};

/// Largest ResourceList read from stdin.
pub const MAX_RESOURCE_LIST: u64 = 256 << 20;

/// Entry point shared by `tresor-kustomize` and `tresor kustomize`. Returns the exit code.
pub fn main_with_args(args: &[String]) -> i32 {
    match args {
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{}", HELP);
            0
        }
        [flag] if flag == "--version" || flag == "-V" => {
            println!("tresor-kustomize {}", env!("CARGO_PKG_VERSION"));
            0
        }
        // Argo CD CMP discovery without a shell: print the generator configs under DIR,
        // exit 1 when there is none (the plugin is then not chosen).
        [cmd, rest @ ..] if cmd == "discover" && rest.len() <= 1 => {
            let dir = Path::new(rest.first().map_or(".", String::as_str));
            match discover(dir) {
                Ok(found) if found.is_empty() => 1,
                Ok(found) => {
                    for f in found {
                        println!("{}", f.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("tresor-kustomize: error: discover {}: {e}", dir.display());
                    2
                }
            }
        }
        // Used by an Argo CD init container: copy this binary (and, as ksops does with
        // `--with-kustomize`, the kustomize on PATH) into a shared volume.
        [cmd, rest @ ..] if cmd == "install" => {
            let with_kustomize = rest.iter().any(|a| a == "--with-kustomize");
            let dirs: Vec<&String> = rest.iter().filter(|a| *a != "--with-kustomize").collect();
            let [dir] = dirs.as_slice() else {
                eprintln!("tresor-kustomize: error: usage: tresor-kustomize install [--with-kustomize] DIR");
                return 2;
            };
            match install(Path::new(dir.as_str()), with_kustomize) {
                Ok(paths) => {
                    for p in paths {
                        eprintln!("tresor-kustomize: installed {}", p.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("tresor-kustomize: error: install: {e}");
                    1
                }
            }
        }
        // Legacy exec plugin: kustomize passes the path of a temporary copy of the config.
        [config, ..] => match legacy(Path::new(config)) {
            Ok(out) => {
                print!("{out}");
                0
            }
            Err(e) => {
                eprintln!("tresor-kustomize: error: {e}");
                1
            }
        },
        [] => {
            if std::io::stdin().is_terminal() {
                eprintln!("{HELP}");
                return 1;
            }
            let mut input = String::new();
            if let Err(e) = std::io::stdin().take(MAX_RESOURCE_LIST + 1).read_to_string(&mut input) {
                eprintln!("tresor-kustomize: error: reading the ResourceList: {e}");
                return 1;
            }
            if input.len() as u64 > MAX_RESOURCE_LIST {
                eprintln!("tresor-kustomize: error: the ResourceList is larger than {} MiB", MAX_RESOURCE_LIST >> 20);
                return 1;
            }
            let base = std::env::current_dir().unwrap_or_else(|_| ".".into());
            let outcome = process_resource_list(&input, &base);
            print!("{}", outcome.output);
            for m in &outcome.errors {
                eprintln!("tresor-kustomize: error: {m}");
            }
            if outcome.errors.is_empty() {
                0
            } else {
                1
            }
        }
    }
}

/// YAML files under `dir` (not in hidden directories) that hold a generator config this
/// function runs: `apiVersion: tresor.dev/…` or a `viaduct.ai/…` ksops config.
pub fn discover(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ty = e.file_type()?;
            if name.starts_with('.') {
                continue;
            }
            if ty.is_dir() {
                stack.push(e.path());
            } else if ty.is_file()
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && e.metadata()?.len() <= generate::MAX_FILE
            {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let ours = text.lines().any(|l| {
                    let l = l.trim();
                    l.starts_with("apiVersion:") && (l.contains("tresor.dev/") || l.contains("viaduct.ai/"))
                });
                if ours {
                    found.push(e.path());
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

fn install(dir: &Path, with_kustomize: bool) -> std::io::Result<Vec<std::path::PathBuf>> {
    // Name the directory, not the file inside it a copy would fail on.
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a directory (create it, or mount the shared volume there)", dir.display()),
        ));
    }
    let mut copies = vec![(std::env::current_exe()?, dir.join("tresor-kustomize"))];
    if with_kustomize {
        let found = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|d| d.join("kustomize"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "--with-kustomize: no kustomize on PATH")
            })?;
        copies.push((found, dir.join("kustomize")));
    }
    let mut done = Vec::new();
    for (from, to) in copies {
        std::fs::copy(&from, &to).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", to.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))?;
        }
        done.push(to);
    }
    Ok(done)
}

fn legacy(config: &Path) -> Result<String, KrmError> {
    let text = std::fs::read_to_string(config).map_err(|e| KrmError::Config(format!("{}: {e}", config.display())))?;
    let base = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let docs = tresor_format::parse(&text, tresor_format::Format::Yaml).map_err(|e| KrmError::Config(e.to_string()))?;
    let mut out = String::new();
    for d in &docs {
        let cfg = tresor_sops::convert::document_data(d).map_err(|e| KrmError::Config(e.to_string()))?;
        for obj in generate(&cfg, &base)? {
            out.push_str("---\n");
            out.push_str(&tresor_sops::convert::to_yaml(&obj));
        }
    }
    Ok(out)
}

const HELP: &str = "tresor-kustomize: decrypt SOPS files into Kubernetes objects at kustomize build time.

KRM exec function (kustomize >= 4, kpt):
  # secret-generator.yaml, listed under `generators:` in kustomization.yaml
  apiVersion: tresor.dev/v1          # or viaduct.ai/v1, kind: ksops (ksops' format, unchanged)
  kind: SecretGenerator
  metadata:
    name: app
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: tresor-kustomize
  files: [password=secrets/password.enc.yaml]
  kustomize build --enable-alpha-plugins --enable-exec .

Legacy exec plugin: tresor-kustomize CONFIG_FILE (argv[1] is the generator config).
Argo CD CMP discovery: tresor-kustomize discover [DIR] (lists generator configs; exit 1 if none).
Argo CD init container: tresor-kustomize install [--with-kustomize] DIR (copies the binary,
  and the kustomize on PATH with --with-kustomize, into DIR).
Keys are found like sops/tresor: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, VAULT_TOKEN, KMS_RESTAPI_* ...
See docs/kustomize.md.";
