//! Output formats: text (redacted, coloured on a terminal), JSON, SARIF 2.1.0, JUnit XML.

use serde_json::json;

use crate::finding::{Confidence, Finding};

/// Findings as text (redacted; `colour` for a terminal), vendored ones last under a heading.
pub fn text(findings: &[Finding], colour: bool) -> String {
    let (red, dim, bold, reset) = if colour { ("\x1b[31m", "\x1b[2m", "\x1b[1m", "\x1b[0m") } else { ("", "", "", "") };
    let mut out = String::new();
    let mut in_vendored = false;
    for (i, f) in findings.iter().enumerate() {
        if !in_vendored && crate::vendored::is_tagged(f) {
            in_vendored = true;
            let n = findings.len() - i;
            out.push_str(&format!(
                "{bold}── in vendored or generated code ({n}): copies of other projects' files; rotate what is real, then ignore the path{reset}\n"
            ));
        }
        out.push_str(&format!(
            "{bold}{}:{}:{}{reset}  {red}{}{reset}  {}\n",
            f.file, f.line, f.column, f.rule_id, f.description
        ));
        out.push_str(&format!(
            "    secret {dim}{}{reset}  entropy {:.2}  confidence {}{}\n",
            f.redacted,
            f.entropy,
            f.confidence,
            if f.tags.iter().any(|t| t == crate::engine::CHECKSUM_MISMATCH) {
                " (checksum fails)"
            } else if f.tags.iter().any(|t| t == crate::engine::PLACEHOLDER_LIKE) {
                " (looks like a placeholder)"
            } else {
                ""
            }
        ));
        if !f.commit.is_empty() {
            out.push_str(&format!(
                "    commit {} by {} on {}\n",
                &f.commit[..f.commit.len().min(12)],
                f.author,
                f.date
            ));
        }
        if !f.fix.is_empty() {
            out.push_str(&format!("    fix: {}\n", f.fix));
        }
        out.push_str(&format!("    {dim}fingerprint {}{reset}\n", f.fingerprint));
    }
    out
}

/// Findings as gitleaks-compatible JSON.
pub fn json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).expect("findings serialize") + "\n"
}

/// Findings as SARIF 2.1.0 (`rules`: id and description of every rule that ran).
pub fn sarif(findings: &[Finding], rules: &[(String, String)]) -> String {
    let used: Vec<&(String, String)> =
        rules.iter().filter(|(id, _)| findings.iter().any(|f| &f.rule_id == id)).collect();
    let mut extra: Vec<(String, String)> = Vec::new();
    for f in findings {
        if !rules.iter().any(|(id, _)| id == &f.rule_id) && !extra.iter().any(|(id, _)| id == &f.rule_id) {
            extra.push((f.rule_id.clone(), f.description.clone()));
        }
    }
    let rule_objs: Vec<serde_json::Value> = used
        .iter()
        .map(|(id, d)| (id.clone(), d.clone()))
        .chain(extra)
        .map(|(id, d)| json!({ "id": id, "name": id, "shortDescription": { "text": d } }))
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut r = json!({
                "ruleId": f.rule_id,
                // Code-scanning services fail a check on `error`: what the default scan
                // reports (medium and high) must; low findings are shown, not failed on.
                "level": if f.confidence >= Confidence::Medium { "error" } else { "warning" },
                "message": { "text": format!("{} ({})", f.description, f.redacted) },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": f.file },
                    "region": { "startLine": f.line, "startColumn": f.column }
                }}],
                "partialFingerprints": { "tresor/v1": f.fingerprint, "secretHash/v1": f.secret_hash }
            });
            r["properties"] = json!({ "confidence": f.confidence, "tags": f.tags });
            if !f.repository.is_empty() {
                r["properties"]["repository"] = json!(f.repository);
            }
            if !f.commit.is_empty() {
                r["properties"]["commit"] = json!(f.commit);
                r["properties"]["author"] = json!(f.author);
                r["properties"]["date"] = json!(f.date);
            }
            if !f.fix.is_empty() {
                r["fixes"] = json!([{ "description": { "text": f.fix } }]);
            }
            r
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "tresor",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/tresor-dev/tresor",
                "rules": rule_objs
            }},
            "results": results
        }]
    });
    serde_json::to_string_pretty(&doc).expect("sarif") + "\n"
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Findings as JUnit XML (one failing test case per finding).
pub fn junit(findings: &[Finding]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<testsuites name=\"tresor scan\" tests=\"{0}\" failures=\"{0}\">\n", findings.len().max(1)));
    out.push_str(&format!(
        "  <testsuite name=\"secrets\" tests=\"{}\" failures=\"{}\">\n",
        findings.len().max(1),
        findings.len()
    ));
    if findings.is_empty() {
        out.push_str("    <testcase classname=\"tresor\" name=\"no secrets found\"/>\n");
    }
    for f in findings {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}:{} {}\">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
            xml(&f.file),
            xml(&f.file),
            f.line,
            xml(&f.rule_id),
            xml(&f.description),
            xml(&f.rule_id),
            xml(&format!("secret {} fingerprint {}{}", f.redacted, f.fingerprint, if f.fix.is_empty() { String::new() } else { format!(" fix: {}", f.fix) }))
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
