//! Structure-aware checks: Helm values, Dockerfiles, and files that must be encrypted.

use std::path::Path;

use regex::Regex;
use tresor_format::tree::{MapItem, Node, SeqItem};
use tresor_format::{Format, ScalarStyle};

use crate::engine::has_allow_marker;
use crate::finding::Finding;

fn secret_key_re() -> Regex {
    Regex::new(r"(?i)(?:^|[_.-]|[a-z])(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|webhook[_-]?url)$|^(?:password|passwd|secret|token|apikey|api_key|auth)$").unwrap()
}

/// Keys that *name* a secret rather than holding one (existingSecret, secretName, …).
fn reference_key_re() -> Regex {
    Regex::new(r"(?i)(?:existing|name|ref|file|path|keyref|secretkey|key_?name|mount|enabled|ttl|length|expir|hash|type|header|field|env|source|length|policy|rotation|provider|format)").unwrap()
}

/// Values that are obviously not secrets.
pub fn is_placeholder(v: &str) -> bool {
    let t = v.trim();
    let l = t.to_ascii_lowercase();
    t.is_empty()
        || t.starts_with("ENC[")
        || t.contains("{{")
        || t.contains("${")
        || t.starts_with('$')
        || (t.starts_with('<') && t.ends_with('>'))
        || t.chars().all(|c| c == '*' || c == 'x' || c == 'X' || c == '.' || c == '-' || c == '_')
        || [
            "changeme",
            "change-me",
            "change_me",
            "changeit",
            "placeholder",
            "replace_me",
            "replaceme",
            "todo",
            "tbd",
            "none",
            "null",
            "secret",
            "password",
            "example",
            "dummy",
            "redacted",
            "true",
            "false",
            "enabled",
            "disabled",
        ]
        .contains(&l.as_str())
        || l.starts_with("your-")
        || l.starts_with("your_")
        || l.starts_with("<your")
        || l.contains("example")
}

fn line_has_allow_marker(src: &str, line: usize) -> bool {
    src.lines().nth(line.saturating_sub(1)).is_some_and(|l| has_allow_marker(l.as_bytes()))
}

/// Is this file a Helm values file? `values*.yaml`, or any YAML next to a Chart.yaml.
pub fn is_helm_values(path: &str) -> bool {
    let p = Path::new(path);
    let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml && (name.starts_with("values")
        || p.parent().is_some_and(|d| d.join("Chart.yaml").is_file()) && name != "chart.yaml")
}

/// Secret-named keys with literal values in a Helm values file.
pub fn helm_values(path: &str, src: &str) -> Vec<Finding> {
    let Ok(docs) = tresor_format::parse(src, Format::Yaml) else { return Vec::new() };
    let (secret_re, ref_re) = (secret_key_re(), reference_key_re());
    let mut out = Vec::new();
    fn walk(node: &Node, key: Option<&str>, path: &str, src: &str, s: &Regex, r: &Regex, out: &mut Vec<Finding>) {
        match node {
            Node::Map(m) => {
                // A sops-encrypted values file is fine.
                if m.get("sops").is_some() && key.is_none() {
                    return;
                }
                for item in &m.items {
                    if let MapItem::Entry(e) = item {
                        walk(&e.value, Some(&e.key), path, src, s, r, out);
                    }
                }
            }
            Node::Seq(q) => {
                for item in &q.items {
                    if let SeqItem::Value(v) = item {
                        walk(v, key, path, src, s, r, out);
                    }
                }
            }
            Node::Scalar(sc) => {
                let Some(k) = key else { return };
                let quoted = matches!(
                    sc.style,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted | ScalarStyle::Literal | ScalarStyle::Folded
                );
                let is_string = quoted
                    || matches!(tresor_format::scalar::resolve_plain(&sc.text), Ok(tresor_format::Value::Str(_)));
                if s.is_match(k)
                    && !r.is_match(k)
                    && is_string
                    && !is_placeholder(&sc.text)
                    && !line_has_allow_marker(src, sc.pos.line)
                {
                    out.push(Finding::new(
                        "helm-values-literal-secret",
                        &format!("Helm value `{k}` holds a literal secret"),
                        path,
                        sc.pos.line,
                        sc.pos.col,
                        &sc.text,
                        "encrypt the values file (`tresor encrypt -i`, helm-secrets) or reference a Secret (existingSecret)",
                    ));
                }
            }
            Node::Alias(_) => {}
        }
    }
    for d in &docs {
        walk(&d.root, None, path, src, &secret_re, &ref_re, &mut out);
    }
    out
}

/// Is `path` a Dockerfile (`Dockerfile`, `*.Dockerfile`, `Containerfile`, …)?
pub fn is_dockerfile(path: &str) -> bool {
    let name = Path::new(path).file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name == "dockerfile"
        || name == "containerfile"
        || name.starts_with("dockerfile.")
        || name.ends_with(".dockerfile")
        || name.ends_with(".containerfile")
}

const MOUNT_FIX: &str = "pass it at build time with `RUN --mount=type=secret,id=…` (docker build --secret) so it never lands in a layer or the image history";

/// Dockerfile instructions that bake secrets into images.
pub fn dockerfile(path: &str, src: &str) -> Vec<Finding> {
    let secret_name = Regex::new(
        r"(?i)(?:password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth)",
    )
    .unwrap();
    let key_file = Regex::new(r#"(?i)(?:^|/)(?:id_rsa|id_dsa|id_ecdsa|id_ed25519|\.env(?:\.[\w.-]+)?|credentials(?:\.json)?|\.npmrc|\.pypirc|\.netrc|\.git-credentials|kubeconfig|[\w.-]+\.(?:pem|key|p12|pfx|jks|keystore))$"#).unwrap();
    let run_cred = Regex::new(r#"(?i)(?:curl\b[^\n]*?\s(?:-u|--user)\s*['"]?([^\s'":]+:[^\s'"]+)|://[^\s:@/'"]+:([^\s@/'"$]{3,})@|--password[= ]['"]?([^\s'"$]{3,})|\bmysql\b[^\n]*?\s-p([^\s'"$]{3,}))"#).unwrap();
    let mut out = Vec::new();
    // Join continuation lines, remembering where each instruction starts.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in src.lines().enumerate() {
        let line = raw.trim_end();
        if cur.is_none() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        let (start, mut text) = cur.take().unwrap_or((i + 1, String::new()));
        if let Some(stripped) = line.strip_suffix('\\') {
            text.push_str(stripped);
            text.push(' ');
            cur = Some((start, text));
        } else {
            text.push_str(line);
            logical.push((start, text));
        }
    }
    if let Some(c) = cur {
        logical.push(c);
    }
    // A build argument becomes visible in `docker history` when a RUN uses it without a
    // secret mount; its declaration alone leaks nothing.
    let used_by_run = |after: usize, name: &str| {
        let refs = [format!("${name}"), format!("${{{name}}}")];
        logical.iter().filter(|(l, _)| *l > after).any(|(_, t)| {
            let t = t.trim_start();
            t.get(..4).is_some_and(|i| i.eq_ignore_ascii_case("RUN "))
                && !t.contains("--mount=type=secret")
                && refs.iter().any(|r| {
                    t.match_indices(r.as_str())
                        .any(|(i, _)| !t[i + r.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
                })
        })
    };
    for (lno, text) in logical.iter().cloned() {
        if line_has_allow_marker(src, lno) {
            continue;
        }
        let t = text.trim_start();
        let (instr, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        let rest = rest.trim();
        match instr.to_ascii_uppercase().as_str() {
            "ENV" | "ARG" => {
                let kind = instr.to_ascii_uppercase();
                // ENV a=b c=d | ENV a b | ARG a[=b]
                let pairs: Vec<(String, Option<String>)> = if rest.contains('=') {
                    rest.split_whitespace()
                        .map(|p| match p.split_once('=') {
                            Some((k, v)) => {
                                (k.to_string(), Some(v.trim_matches(|c| c == '"' || c == '\'').to_string()))
                            }
                            None => (p.to_string(), None),
                        })
                        .collect()
                } else {
                    let mut it = rest.splitn(2, char::is_whitespace);
                    let k = it.next().unwrap_or("").to_string();
                    let v = it.next().map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string());
                    vec![(k, v)]
                };
                for (k, v) in pairs {
                    if !secret_name.is_match(&k) {
                        continue;
                    }
                    // `ENV DB_PASSWORD_FILE=/run/secrets/db`: where a secret is, not one.
                    let names_a_location = {
                        let up = k.to_ascii_uppercase();
                        ["_FILE", "_PATH", "_DIR", "_FILENAME"].iter().any(|s| up.ends_with(s))
                    };
                    let is_path = v.as_deref().is_some_and(|v| {
                        !v.contains(char::is_whitespace)
                            && (v.starts_with('/') || v.starts_with("./") || v.starts_with("~/"))
                    });
                    if names_a_location || is_path {
                        continue;
                    }
                    match v {
                        Some(v) if !is_placeholder(&v) => out.push(Finding::new(
                            "dockerfile-secret-in-env-arg",
                            &format!("{kind} {k} has a secret default value; it is stored in the image"),
                            path,
                            lno,
                            1,
                            &v,
                            MOUNT_FIX,
                        )),
                        Some(v) if kind == "ENV" && v.starts_with('$') => out.push(Finding::new(
                            "dockerfile-secret-persisted-in-env",
                            &format!("ENV {k} copies a secret build argument into the image's environment"),
                            path,
                            lno,
                            1,
                            &k,
                            MOUNT_FIX,
                        )),
                        None if kind == "ARG" && used_by_run(lno, &k) => out.push(Finding::new(
                            "dockerfile-secret-build-arg",
                            &format!("ARG {k} is used by a RUN: build arguments are recorded in the image history (docker history)"),
                            path,
                            lno,
                            1,
                            &k,
                            MOUNT_FIX,
                        )),
                        _ => {}
                    }
                }
            }
            "COPY" | "ADD" => {
                let args: Vec<&str> = rest.split_whitespace().filter(|a| !a.starts_with("--")).collect();
                if args.len() >= 2 {
                    for src_arg in &args[..args.len() - 1] {
                        let s = src_arg.trim_matches(|c| c == '"' || c == '[' || c == ']' || c == ',');
                        if key_file.is_match(s) {
                            out.push(Finding::new(
                                "dockerfile-copies-key-file",
                                &format!("{} copies `{s}`, a key or credentials file, into the image", instr.to_ascii_uppercase()),
                                path,
                                lno,
                                1,
                                s,
                                "keep it out of the build context (.dockerignore) and use `RUN --mount=type=secret` or `--mount=type=ssh`",
                            ));
                        }
                    }
                }
            }
            "RUN" => {
                if rest.contains("--mount=type=secret") && !run_cred.is_match(rest) {
                    continue;
                }
                if let Some(c) = run_cred.captures(rest) {
                    let cred = c.iter().skip(1).flatten().next().map(|m| m.as_str()).unwrap_or("");
                    if !is_placeholder(cred) {
                        out.push(Finding::new(
                            "dockerfile-credentials-in-run",
                            "RUN contains credentials; they stay in the layer and the image history",
                            path,
                            lno,
                            1,
                            cred,
                            MOUNT_FIX,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A file that a `.sops.yaml` creation rule (with a `path_regex`) covers but that is not
/// SOPS-encrypted. `content` is what would be committed.
pub fn must_be_encrypted(repo_root: &Path, rel_path: &str, content: &[u8]) -> Option<Finding> {
    let abs = repo_root.join(rel_path);
    let cfg = tresor_config::for_file(&abs, None).ok()??;
    let dir = cfg.path.parent()?;
    let rel_to_cfg = abs
        .strip_prefix(std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf()))
        .or_else(|_| abs.strip_prefix(dir))
        .ok()?;
    let rel_s = rel_to_cfg.to_string_lossy().replace('\\', "/");
    let rule = cfg.rules.iter().find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&rel_s)))?;
    // A catch-all rule (no path_regex) says how to encrypt, not that everything must be.
    rule.path_regex.as_ref()?;
    // Any store: sops encrypts a file of any name (an unknown extension as binary).
    if tresor_sops::store::is_encrypted(rel_path, content) {
        return None;
    }
    // `.sops.yaml` says so: there is nothing to guess.
    let mut f = Finding::new(
        "must-be-encrypted",
        &format!("{rel_path} matches a creation rule in {} but is not encrypted", cfg.path.display()),
        rel_path,
        1,
        1,
        rel_path,
        "encrypt it before committing: `tresor encrypt -i <file>`",
    );
    f.confidence = crate::finding::Confidence::High;
    Some(f)
}
