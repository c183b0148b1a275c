//! The KRM functions wire format: a `ResourceList` in, a `ResourceList` out.

use std::path::Path;

use serde_json::{json, Value as J};

use crate::generate::{classify, generate, KrmError};

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
        match generate(item, base) {
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

fn failure(msg: String) -> Outcome {
    let out = json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [],
        "results": [{ "message": msg, "severity": "error" }]
    });
    Outcome { output: tresor_sops::convert::to_yaml(&out), errors: vec![msg] }
}
