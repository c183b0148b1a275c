//! doctor: why a file can or cannot be decrypted here, and what a delivery tool needs.

use anyhow::Result;
use serde_json::json;
use tresor_audit::target::{self, Target, TargetCheck};
use tresor_keys::groups::KeyCheck;
use tresor_keys::Keyring;
use tresor_sops::codes;

use super::crypt::open_encrypted;
use crate::args::DoctorArgs;
use crate::exit::fail;

/// Exit code when a --target check fails (a file no key opens exits 128, as decrypt does).
/// A `--target` check failed (every file opens): the generic error code.
const TARGET_FAILED: i32 = codes::ERROR_GENERIC;

struct FileDiagnosis {
    name: String,
    error: Option<String>,
    keys: Vec<KeyCheck>,
    opens: bool,
    checks: Vec<TargetCheck>,
}

pub(crate) fn doctor(a: DoctorArgs) -> Result<i32> {
    // Plaintext copies a killed `edit`/`mergetool` left on tmpfs: removed, and said.
    for dir in crate::fileio::sweep_stale() {
        eprintln!(
            "tresor: removed a plaintext copy left on tmpfs by a tresor that was killed: {}",
            crate::exit::clean(&dir.display().to_string())
        );
    }
    let target = a.target.as_deref().and_then(Target::parse);
    let keyring = Keyring::new();
    let mut files = Vec::new();
    for path in &a.files {
        let name = path.display().to_string();
        let opened = match open_encrypted(Some(path), a.input_type.as_deref(), None) {
            Ok(o) => o,
            Err(e) => {
                files.push(FileDiagnosis {
                    name,
                    error: Some(format!("{e:#}")),
                    keys: vec![],
                    opens: false,
                    checks: vec![],
                });
                continue;
            }
        };
        let meta = match opened.store.metadata(&opened.src) {
            Ok(m) => m,
            Err(e) => {
                files.push(FileDiagnosis {
                    name,
                    error: Some(e.to_string()),
                    keys: vec![],
                    opens: false,
                    checks: vec![],
                });
                continue;
            }
        };
        let keys = keyring.check_keys(&meta);
        // The real answer: the data key from enough groups (Shamir), as decrypt gets it.
        let opens = keyring.data_key(&meta).is_ok();
        let checks = target.map(|t| target::check(t, &name, &opened.src, opened.store, &meta)).unwrap_or_default();
        files.push(FileDiagnosis { name, error: None, keys, opens, checks });
    }
    let (sources, found) = keyring.identity_sources().unwrap_or_else(|e| (vec![format!("(error: {e})")], 0));
    if a.format == "json" {
        print_json(&files, &sources, found, a.target.as_deref());
    } else {
        print_text(&files, &sources, found);
    }
    if files.iter().any(|f| !f.opens) {
        return Err(fail(
            codes::COULD_NOT_RETRIEVE_KEY,
            "a file cannot be decrypted with the identities and key services found here",
        ));
    }
    Ok(if files.iter().any(|f| f.checks.iter().any(|c| !c.ok)) { TARGET_FAILED } else { 0 })
}

fn print_text(files: &[FileDiagnosis], sources: &[String], found: usize) {
    let mut out = String::new();
    out.push_str(&format!("age identities: {found} found (looked in: {})\n", sources.join(", ")));
    out.push_str(&match tresor_keys::pgp::secret_keys() {
        Ok(fps) if fps.is_empty() => "gpg secret keys: none\n".to_string(),
        Ok(fps) => format!("gpg secret keys: {} ({})\n", fps.len(), fps.join(", ")),
        Err(e) => format!("gpg secret keys: cannot ask gpg ({e})\n"),
    });
    for (k, present) in [
        ("VAULT_ADDR", std::env::var_os("VAULT_ADDR").is_some()),
        ("VAULT_TOKEN", std::env::var_os("VAULT_TOKEN").is_some()),
        ("KMS_RESTAPI_CERT", std::env::var_os("KMS_RESTAPI_CERT").is_some()),
    ] {
        // Only whether it is set: never the value.
        out.push_str(&format!("{k}: {}\n", if present { "set" } else { "not set" }));
    }
    for f in files {
        out.push_str(&format!("\n{}\n", f.name));
        if let Some(e) = &f.error {
            out.push_str(&format!("  cannot read it: {e}\n"));
            continue;
        }
        for k in &f.keys {
            match &k.result {
                Ok(()) => out.push_str(&format!("  ✓ group {} {} {}: opens here\n", k.group, k.kind, k.id)),
                Err(e) => {
                    out.push_str(&format!(
                        "  ✗ group {} {} {}: {}\n",
                        k.group,
                        k.kind,
                        k.id,
                        e.to_string().replace('\n', " ")
                    ));
                    if let Some(next) = e.next_step(&k.kind, &k.id) {
                        out.push_str(&format!("      next: {next}\n"));
                    }
                }
            }
        }
        out.push_str(if f.opens { "  => decrypts here\n" } else { "  => cannot be decrypted here\n" });
        for c in &f.checks {
            out.push_str(&format!("  {} {}: {}\n", if c.ok { "✓" } else { "✗" }, c.check, c.detail));
        }
    }
    // File names, recipients and service messages come from files and programs.
    print!("{}", crate::exit::clean(&out));
}

fn print_json(files: &[FileDiagnosis], sources: &[String], found: usize, target: Option<&str>) {
    let files: Vec<_> = files
        .iter()
        .map(|f| {
            json!({
                "file": f.name,
                "error": f.error,
                "decrypts": f.opens,
                "keys": f.keys.iter().map(|k| json!({
                    "group": k.group,
                    "type": k.kind,
                    "id": k.id,
                    "opens": k.result.is_ok(),
                    "reason": k.result.as_ref().err().map(ToString::to_string),
                    "next": k.result.as_ref().err().and_then(|e| e.next_step(&k.kind, &k.id)),
                })).collect::<Vec<_>>(),
                "checks": f.checks,
            })
        })
        .collect();
    let doc = json!({
        "identities": {
            "age_found": found,
            "looked_in": sources,
            "gpg_secret_keys": tresor_keys::pgp::secret_keys().ok(),
        },
        "env": {
            "VAULT_ADDR": std::env::var_os("VAULT_ADDR").is_some(),
            "VAULT_TOKEN": std::env::var_os("VAULT_TOKEN").is_some(),
            "KMS_RESTAPI_CERT": std::env::var_os("KMS_RESTAPI_CERT").is_some(),
        },
        "target": target,
        "files": files,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}
