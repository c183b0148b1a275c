//! Turning a generator config into Kubernetes objects.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value as J};
use tresor_keys::Keyring;
use tresor_sops::store::{self, Store};
use tresor_sops::DecryptOptions;
use zeroize::Zeroizing;

/// Why a generator produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum KrmError {
    /// The generator's own config is wrong (unknown field, bad path, unsupported kind).
    #[error("invalid generator config: {0}")]
    Config(String),
    /// A file that could not be read or decrypted; `file` is as written in the config.
    #[error("{file}: {msg}")]
    File {
        /// The file, as the generator config names it.
        file: String,
        /// Why (never the file's content).
        msg: String,
    },
    /// A SOPS file that could not be opened: no key here, tampered, malformed. The cause
    /// keeps its type (a key failure says which key and why).
    #[error("{file}: {source}")]
    Open {
        /// The file, as the generator config names it.
        file: String,
        /// Why.
        #[source]
        source: tresor_keys::open::OpenError,
    },
}

impl KrmError {
    /// The file the error is about, for the ResourceList result's `file` field.
    pub fn file(&self) -> Option<&str> {
        match self {
            KrmError::File { file, .. } | KrmError::Open { file, .. } => Some(file),
            KrmError::Config(_) => None,
        }
    }
}

/// A decrypted file: its plaintext bytes and the store that read it (by its name, as
/// sops and ksops choose: an unknown extension is the binary store).
struct Plain {
    bytes: Zeroizing<Vec<u8>>,
    store: &'static dyn Store,
}

/// Largest file a generator reads (sops files are configuration; `/dev/zero` is not).
pub const MAX_FILE: u64 = 64 << 20;

/// Set to `LoadRestrictionsNone` (kustomize's `--load-restrictor` value) to let generators
/// read files outside the kustomization root.
pub const LOAD_RESTRICTOR_ENV: &str = "TRESOR_LOAD_RESTRICTOR";

/// The file a generator entry names, resolved like kustomize's loader does: relative to
/// the kustomization root and, after following symlinks, inside it (unless
/// [`LOAD_RESTRICTOR_ENV`] lifts that), a regular file, at most [`MAX_FILE`] bytes.
fn contained(base: &Path, rel: &str) -> Result<PathBuf, String> {
    let root = base.canonicalize().map_err(|e| format!("cannot resolve the kustomization root: {e}"))?;
    let path = root.join(rel).canonicalize().map_err(|e| format!("cannot read: {e}"))?;
    let unrestricted = std::env::var(LOAD_RESTRICTOR_ENV).is_ok_and(|v| v == "LoadRestrictionsNone");
    if !path.starts_with(&root) && !unrestricted {
        return Err(format!(
            "the file is outside the kustomization root {} (kustomize's loader refuses such paths too; \
             set {LOAD_RESTRICTOR_ENV}=LoadRestrictionsNone to allow it)",
            root.display()
        ));
    }
    let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {} MiB; not a SOPS file a generator should read", MAX_FILE >> 20));
    }
    Ok(path)
}

fn decrypt_file(keyring: &Keyring, base: &Path, rel: &str) -> Result<Plain, KrmError> {
    let err = |msg: String| KrmError::File { file: rel.to_string(), msg };
    let path = contained(base, rel).map_err(err)?;
    let mut raw = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(&path).map_err(|e| err(format!("cannot read: {e}")))?,
            MAX_FILE + 1,
        ),
        &mut raw,
    )
    .map_err(|e| err(format!("cannot read: {e}")))?;
    if raw.len() as u64 > MAX_FILE {
        return Err(err(format!("larger than {} MiB", MAX_FILE >> 20)));
    }
    // Never quote the bytes of a file that is not what we expect: it may be anything.
    let raw = Zeroizing::new(raw);
    let store = store::for_path(rel);
    let (d, _, _) =
        tresor_keys::open::decrypt(store, &raw, keyring, DecryptOptions::default()).map_err(|e| match e {
            tresor_keys::open::OpenError::Read(
                tresor_sops::SopsError::MetadataNotFound | tresor_sops::SopsError::NotText { .. },
            ) => err(format!("not a SOPS file (read as {} by its name)", store.name())),
            source => KrmError::Open { file: rel.to_string(), source },
        })?;
    for w in &d.warnings {
        eprintln!("tresor-kustomize: warning: {rel}: {w}");
    }
    Ok(Plain { bytes: d.bytes, store })
}

fn strings(cfg: &J, key: &str) -> Result<Vec<String>, KrmError> {
    match cfg.get(key) {
        None | Some(J::Null) => Ok(Vec::new()),
        Some(J::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| KrmError::Config(format!("`{key}` must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(KrmError::Config(format!("`{key}` must be a list"))),
    }
}

/// `key=path` or `path` (key = file name).
fn key_and_path(entry: &str) -> (String, String) {
    match entry.split_once('=') {
        Some((k, p)) => (k.trim().to_string(), p.trim().to_string()),
        None => (
            Path::new(entry).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            entry.trim().to_string(),
        ),
    }
}

/// The documents of a decrypted file, as objects: each document of YAML/JSON, the one
/// mapping of the other stores (a dotenv file's `KEY=VALUE` lines).
fn documents(p: &Plain, rel: &str) -> Result<Vec<J>, KrmError> {
    let Some(format) = p.store.document_format() else {
        return p
            .store
            .data(&p.bytes)
            .map(|d| vec![d])
            .map_err(|e| KrmError::File { file: rel.into(), msg: e.to_string() });
    };
    let text =
        std::str::from_utf8(&p.bytes).map_err(|_| KrmError::File { file: rel.into(), msg: "not UTF-8".into() })?;
    let docs =
        tresor_format::parse(text, format).map_err(|e| KrmError::File { file: rel.into(), msg: e.to_string() })?;
    docs.iter()
        .map(|d| {
            tresor_sops::convert::document_data(d).map_err(|e| KrmError::File { file: rel.into(), msg: e.to_string() })
        })
        .collect()
}

/// Scalars of a decrypted mapping, as Secret entries (`envs`).
fn env_entries(p: &Plain, rel: &str) -> Result<Vec<(String, String)>, KrmError> {
    let docs = documents(p, rel)?;
    let mut out = Vec::new();
    for d in docs {
        let J::Object(m) = d else {
            return Err(KrmError::File { file: rel.into(), msg: "an env file must be a mapping".into() });
        };
        for (k, v) in m {
            let s = match v {
                J::String(s) => s,
                J::Null => String::new(),
                J::Bool(_) | J::Number(_) => v.to_string(),
                _ => return Err(KrmError::File { file: rel.into(), msg: format!("`{k}` is not a scalar") }),
            };
            out.push((k, s));
        }
    }
    Ok(out)
}

struct SecretSpec<'a> {
    metadata: Option<&'a J>,
    type_: Option<&'a J>,
    files: Vec<String>,
    binary_files: Vec<String>,
    envs: Vec<String>,
    default_hash: bool,
    /// Write `type: Opaque` when the config names no type (kustomize's behaviour, not ksops').
    default_type: bool,
    /// Read `envs` as ksops does (godotenv: quotes, `export`, inline comments), not as
    /// kustomize reads env files (the text after `=`, as written).
    ksops_envs: bool,
}

/// Refuse fields a generator does not know: ksops ignores them, so a typo or a field from
/// another tool (`literals`, `secretFromTemplate`) would silently leave keys out of the
/// Secret.
fn known_fields(obj: &J, known: &[&str], what: &str) -> Result<(), KrmError> {
    if let J::Object(m) = obj {
        if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(KrmError::Config(format!(
                "{what}: unknown field `{k}` (known: {}); refusing rather than leaving its keys out of the Secret",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

fn build_secret(keyring: &Keyring, base: &Path, spec: SecretSpec) -> Result<J, KrmError> {
    let mut string_data = Map::new();
    let mut data = Map::new();
    for entry in &spec.files {
        let (k, rel) = key_and_path(entry);
        let p = decrypt_file(keyring, base, &rel)?;
        let s = String::from_utf8(p.bytes.to_vec())
            .map_err(|_| KrmError::File { file: rel.clone(), msg: "not UTF-8; use binaryFiles".into() })?;
        string_data.insert(k, J::String(s));
    }
    for entry in &spec.binary_files {
        let (k, rel) = key_and_path(entry);
        let p = decrypt_file(keyring, base, &rel)?;
        data.insert(k, J::String(B64.encode(&p.bytes)));
    }
    for rel in &spec.envs {
        let p = decrypt_file(keyring, base, rel)?;
        let entries = if spec.ksops_envs {
            let text = std::str::from_utf8(&p.bytes)
                .map_err(|_| KrmError::File { file: rel.clone(), msg: "an env file must be UTF-8 text".into() })?;
            crate::ksops_env::parse(text).map_err(|msg| KrmError::File { file: rel.clone(), msg })?
        } else {
            env_entries(&p, rel)?
        };
        for (k, v) in entries {
            string_data.insert(k, J::String(v));
        }
    }
    let mut metadata = match spec.metadata {
        Some(J::Object(m)) => m.clone(),
        None => return Err(KrmError::Config("metadata.name is required".into())),
        _ => return Err(KrmError::Config("metadata must be a mapping".into())),
    };
    if !metadata.get("name").is_some_and(|n| n.is_string()) {
        return Err(KrmError::Config("metadata.name is required".into()));
    }
    // Never pass the function declaration or orchestrator bookkeeping on to the output.
    if let Some(J::Object(ann)) = metadata.get_mut("annotations") {
        ann.retain(|k, _| {
            !(k.starts_with("config.kubernetes.io/")
                || k.starts_with("internal.config.kubernetes.io/")
                || k.starts_with("config.k8s.io/"))
        });
        if spec.default_hash && !ann.contains_key("kustomize.config.k8s.io/needs-hash") {
            ann.insert("kustomize.config.k8s.io/needs-hash".into(), J::String("true".into()));
        }
    } else if spec.default_hash {
        metadata.insert("annotations".into(), json!({"kustomize.config.k8s.io/needs-hash": "true"}));
    }
    let mut secret = Map::new();
    secret.insert("apiVersion".into(), J::String("v1".into()));
    secret.insert("kind".into(), J::String("Secret".into()));
    secret.insert("metadata".into(), J::Object(metadata));
    // kustomize's own secretGenerator writes `type: Opaque`; ksops writes a type only when
    // the config names one (the Secret's hashed name depends on it).
    match (spec.type_, spec.default_type) {
        (Some(t), _) if !t.is_null() => {
            secret.insert("type".into(), t.clone());
        }
        (_, true) => {
            secret.insert("type".into(), J::String("Opaque".into()));
        }
        _ => {}
    }
    if !data.is_empty() {
        secret.insert("data".into(), J::Object(data));
    }
    if !string_data.is_empty() {
        secret.insert("stringData".into(), J::Object(string_data));
    }
    Ok(J::Object(secret))
}

fn resources(keyring: &Keyring, base: &Path, files: &[String]) -> Result<Vec<J>, KrmError> {
    let mut out = Vec::new();
    for rel in files {
        let p = decrypt_file(keyring, base, rel)?;
        if p.store.document_format().is_none() {
            return Err(KrmError::File {
                file: rel.clone(),
                msg: format!("a resource file must be YAML or JSON, not {}", p.store.name()),
            });
        }
        out.extend(documents(&p, rel)?.into_iter().filter(|d| !d.is_null()));
    }
    Ok(out)
}

/// Which generator a config is, by its `apiVersion` and `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratorKind {
    /// `tresor.dev/v1`, `SecretGenerator`.
    Tresor,
    /// ksops' `kind: ksops` under any `viaduct.ai/` version (ksops itself reads no version:
    /// its own fixtures use v1 and v2).
    Ksops,
}

/// Classify a config: `Ok(None)` for an object that is not addressed to a generator at all
/// (a resource kpt passes along), an error for one addressed to tresor or ksops in a
/// version or kind this build does not know (passing it through would silently produce no
/// Secret).
pub fn classify(cfg: &J) -> Result<Option<GeneratorKind>, KrmError> {
    let api = cfg.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    let kind = cfg.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    let group = api.split_once('/').map_or(api, |(g, _)| g);
    match (group, api, kind) {
        (_, "tresor.dev/v1", "SecretGenerator") => Ok(Some(GeneratorKind::Tresor)),
        ("viaduct.ai", _, k) if k.eq_ignore_ascii_case("ksops") => Ok(Some(GeneratorKind::Ksops)),
        ("tresor.dev" | "viaduct.ai", ..) => Err(unsupported(api, kind)),
        _ => Ok(None),
    }
}

fn unsupported(api: &str, kind: &str) -> KrmError {
    let api = if api.is_empty() { "(no apiVersion)" } else { api };
    let kind = if kind.is_empty() { "(no kind)" } else { kind };
    KrmError::Config(format!(
        "unsupported generator apiVersion: {api}, kind: {kind}; expected apiVersion: tresor.dev/v1 with \
         kind: SecretGenerator, or ksops' apiVersion: viaduct.ai/v1 with kind: ksops"
    ))
}

/// The objects a generator config produces. Files are relative to `base`.
pub fn generate(cfg: &J, base: &Path) -> Result<Vec<J>, KrmError> {
    let api = cfg.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    let kind = cfg.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    let keyring = Keyring::new();
    match classify(cfg)?.ok_or_else(|| unsupported(api, kind))? {
        GeneratorKind::Tresor => {
            known_fields(
                cfg,
                &["apiVersion", "kind", "metadata", "type", "files", "binaryFiles", "envs", "resources", "options"],
                "SecretGenerator",
            )?;
            let mut out = resources(&keyring, base, &strings(cfg, "resources")?)?;
            let (files, binary_files, envs) =
                (strings(cfg, "files")?, strings(cfg, "binaryFiles")?, strings(cfg, "envs")?);
            if !(files.is_empty() && binary_files.is_empty() && envs.is_empty()) {
                let disable_hash =
                    cfg.pointer("/options/disableNameSuffixHash").and_then(|v| v.as_bool()).unwrap_or(false);
                out.push(build_secret(
                    &keyring,
                    base,
                    SecretSpec {
                        metadata: cfg.get("metadata"),
                        type_: cfg.get("type"),
                        files,
                        binary_files,
                        envs,
                        default_hash: !disable_hash,
                        default_type: true,
                        ksops_envs: false,
                    },
                )?);
            }
            if out.is_empty() {
                return Err(KrmError::Config("SecretGenerator needs files, binaryFiles, envs or resources".into()));
            }
            Ok(out)
        }
        GeneratorKind::Ksops => {
            known_fields(cfg, &["apiVersion", "kind", "metadata", "files", "secretFrom"], "ksops generator")?;
            let files = strings(cfg, "files")?;
            let secret_from = match cfg.get("secretFrom") {
                Some(J::Array(a)) => a.clone(),
                None | Some(J::Null) => Vec::new(),
                _ => return Err(KrmError::Config("secretFrom must be a list".into())),
            };
            if files.is_empty() && secret_from.is_empty() {
                return Err(KrmError::Config("ksops generator needs `files` or `secretFrom`".into()));
            }
            let mut out = resources(&keyring, base, &files)?;
            for (i, s) in secret_from.iter().enumerate() {
                known_fields(s, &["metadata", "type", "files", "binaryFiles", "envs"], &format!("secretFrom[{i}]"))?;
                out.push(build_secret(
                    &keyring,
                    base,
                    SecretSpec {
                        metadata: s.get("metadata"),
                        type_: s.get("type"),
                        files: strings(s, "files")?,
                        binary_files: strings(s, "binaryFiles")?,
                        envs: strings(s, "envs")?,
                        default_hash: false,
                        default_type: false,
                        ksops_envs: true,
                    },
                )?);
            }
            Ok(out)
        }
    }
}
