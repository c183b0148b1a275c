//! The KRM functions wire format: a `ResourceList` in, a `ResourceList` out.

use std::path::Path;

use serde_json::{json, Value as J};

use crate::generate::{classify, generate, KrmError};

/// What one run of the function produced.
pub struct Outcome {
    /// The ResourceList to print on stdout (also on failure, with `results`).
    pub output: String,
    /// Human messages for stderr; non-empty means exit non-zero.
    pub errors: Vec<String>,
}

fn result_for(e: &KrmError, item: &J) -> J {
    let mut r = json!({ "message": e.to_string(), "severity": "error" });
    if let (Some(kind), Some(name)) = (item.get("kind"), item.pointer("/metadata/name")) {
        r["resourceRef"] =
            json!({ "apiVersion": item.get("apiVersion").cloned().unwrap_or(J::Null), "kind": kind, "name": name });
    }
    if let Some(f) = e.file() {
        r["file"] = json!({ "path": f });
    }
    r
}

/// Replace every generator config among `items` by the objects it generates; keep other
/// items (kpt passes the whole package). Kustomize ignores `results`, so failures are also
/// reported as errors for stderr and a non-zero exit.
pub fn process_resource_list(input: &str, base: &Path) -> Outcome {
    let parsed = tresor_format::parse(input, tresor_format::Format::Yaml).map_err(|e| e.to_string()).and_then(|docs| {
        docs.first()
            .map(|d| tresor_sops::convert::document_data(d).map_err(|e| e.to_string()))
            .unwrap_or(Err("empty input".into()))
    });
    let list = match parsed {
        Ok(l) if l.get("kind").and_then(|k| k.as_str()) == Some("ResourceList") => l,
        Ok(_) => return failure("the input is not a ResourceList (run me from kustomize or kpt)".into()),
        Err(e) => return failure(format!("cannot parse the ResourceList: {e}")),
    };
    let items = list.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default();
    let root = match package_root(&items, base) {
        Ok(r) => r,
        Err(msg) => return failure(msg),
    };
    let base = root.as_path();
    let mut out_items = Vec::new();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut generators = 0;
    for item in &items {
        match classify(item) {
            Ok(Some(_)) => {}
            Ok(None) => {
                out_items.push(item.clone());
                continue;
            }
            Err(e) => {
                errors.push(e.to_string());
                results.push(result_for(&e, item));
                continue;
            }
        }
        generators += 1;
        match generate(item, &item_dir(item, base)) {
            Ok(objs) => out_items.extend(objs),
            Err(e) => {
                errors.push(e.to_string());
                results.push(result_for(&e, item));
            }
        }
    }
    // kpt-style invocation: the config comes only as functionConfig. A run that generates
    // nothing is an error, never an empty success: a missing Secret shows up much later,
    // in a failing Pod.
    if generators == 0 && errors.is_empty() {
        match list.get("functionConfig").filter(|c| !c.is_null()) {
            Some(cfg) => match generate(cfg, base) {
                Ok(objs) => out_items.extend(objs),
                Err(e) => {
                    errors.push(e.to_string());
                    results.push(result_for(&e, cfg));
                }
            },
            None => {
                let e = KrmError::Config(
                    "no generator config: the ResourceList has neither a functionConfig nor an item of \
                     apiVersion tresor.dev/v1 (SecretGenerator) or viaduct.ai/v1 (ksops)"
                        .into(),
                );
                errors.push(e.to_string());
                results.push(json!({ "message": e.to_string(), "severity": "error" }));
            }
        }
    }
    let mut out = json!({ "apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": out_items });
    if !results.is_empty() {
        out["results"] = J::Array(results);
    }
    Outcome { output: tresor_sops::convert::to_yaml(&out), errors }
}

/// An item's path in its package, as kpt annotates it.
fn path_annotation(item: &J) -> Option<&str> {
    let ann = item.pointer("/metadata/annotations")?;
    ann.get("internal.config.kubernetes.io/path").or_else(|| ann.get("config.kubernetes.io/path"))?.as_str()
}

/// The directory a generator's file paths are relative to: the one its own file sits in
/// (kpt run from a monorepo root over `dev/`, `prod/`, … hands every package's generator
/// in one list, each with its path below the root), else the package root.
fn item_dir(item: &J, root: &Path) -> std::path::PathBuf {
    match path_annotation(item).map(Path::new).and_then(Path::parent) {
        Some(dir)
            if !dir.as_os_str().is_empty()
                && dir.components().all(|c| matches!(c, std::path::Component::Normal(_)))
                && root.join(dir).is_dir() =>
        {
            root.join(dir)
        }
        _ => root.to_path_buf(),
    }
}

/// The directory the items' paths are relative to. kpt runs a function in the directory it
/// was started from, not in the package, and tells each item's path only relative to the
/// package (`internal.config.kubernetes.io/path`): the package is the one directory, `base`
/// or below it, that holds those files. Without path annotations (kustomize, which runs
/// the function in the kustomization root) it is `base`.
fn package_root(items: &[J], base: &Path) -> Result<std::path::PathBuf, String> {
    let paths: Vec<&str> = items
        .iter()
        .filter_map(path_annotation)
        .filter(|p| !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == ".."))
        .take(16)
        .collect();
    if paths.is_empty() {
        return Ok(base.to_path_buf());
    }
    let holds = |d: &Path| paths.iter().all(|p| d.join(p).is_file());
    if holds(base) {
        return Ok(base.to_path_buf());
    }
    // Breadth-first below `base`, bounded (a function must not crawl a whole disk).
    let mut found = Vec::new();
    let mut level = vec![base.to_path_buf()];
    let mut visited = 0;
    for _ in 0..6 {
        let mut next = Vec::new();
        for dir in &level {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for e in entries.flatten() {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if !is_dir || e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                visited += 1;
                if visited > 20_000 {
                    break;
                }
                let d = e.path();
                if holds(&d) {
                    found.push(d);
                } else {
                    next.push(d);
                }
            }
        }
        level = next;
    }
    match found.len() {
        0 => Ok(base.to_path_buf()),
        1 => Ok(found.remove(0)),
        _ => Err(format!(
            "cannot tell which package the resources come from: {} all hold {}; run the function from the package directory",
            found.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            paths[0]
        )),
    }
}

fn failure(msg: String) -> Outcome {
    let out = json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [],
        "results": [{ "message": msg, "severity": "error" }]
    });
    Outcome { output: tresor_sops::convert::to_yaml(&out), errors: vec![msg] }
}
