//! What each delivery tool needs of an encrypted file (`tresor doctor --target`), checked
//! from the file's bytes and metadata alone.

use serde::Serialize;
use tresor_sops::metadata::{MasterKey, Metadata};
use tresor_sops::store::Store;

/// A delivery tool that reads SOPS files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Flux's kustomize-controller (sops library, decrypts in the cluster).
    Flux,
    /// Argo CD running tresor-kustomize or ksops.
    Argocd,
    /// ksops (the sops library in a kustomize plugin).
    Ksops,
    /// kpt running tresor-kustomize.
    Kpt,
    /// helm-secrets with tresor or sops as its backend.
    Helm,
}

impl Target {
    /// The target named on the command line.
    pub fn parse(s: &str) -> Option<Target> {
        Some(match s {
            "flux" => Target::Flux,
            "argocd" => Target::Argocd,
            "ksops" => Target::Ksops,
            "kpt" => Target::Kpt,
            "helm" => Target::Helm,
            _ => return None,
        })
    }
}

/// One check and its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    /// What was checked, in a few words.
    pub check: String,
    /// Passed?
    pub ok: bool,
    /// Why not, or what was found.
    pub detail: String,
}

/// Key types the sops library (Flux, ksops) can open; tresor's `okms` is not among them.
/// Whether the sops library (Flux, ksops, helm-secrets) opens keys of this kind.
fn sops_reads(key: &MasterKey) -> bool {
    tresor_keys::service::by_kind(key.kind()).is_some_and(|r| r.sops_reads)
}

/// The checks `target` needs `src` (a file in `format` with metadata `meta`, named
/// `name`) to pass.
pub fn check(target: Target, name: &str, src: &[u8], store: &dyn Store, meta: &Metadata) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let sops_library = matches!(target, Target::Flux | Target::Ksops);
    if sops_library {
        // Enough key groups must hold a key the sops library can open.
        let usable = meta.key_groups.iter().filter(|g| g.keys.iter().any(sops_reads)).count();
        let needed = meta.groups_needed();
        let only_tresor: Vec<String> = meta
            .key_groups
            .iter()
            .flat_map(|g| &g.keys)
            .filter(|k| !sops_reads(k))
            .map(|k| format!("{} {}", k.kind(), tresor_keys::service::describe_key(k)))
            .collect();
        out.push(TargetCheck {
            check: "key types the sops library opens".into(),
            ok: usable >= needed,
            detail: if usable >= needed {
                format!("{usable} of {} key group(s) hold an age, PGP, Vault/OpenBao or cloud KMS key", meta.key_groups.len())
            } else {
                format!(
                    "only {usable} of the {needed} key group(s) needed hold a key the sops library opens{}: add an age or OpenBao key",
                    if only_tresor.is_empty() { String::new() } else { format!(" (tresor's only: {})", only_tresor.join(", ")) }
                )
            },
        });
    }
    if target == Target::Flux {
        let found = store.flux_marker().map(|m| (m, src.windows(m.len()).any(|w| w == m.as_bytes())));
        out.push(TargetCheck {
            check: "Flux's marker bytes".into(),
            ok: found.is_some_and(|(_, ok)| ok),
            detail: match found {
                Some((m, true)) => format!("Flux decrypts a secretGenerator value only when it contains `{m}`"),
                Some((m, false)) => format!(
                    "Flux decrypts a secretGenerator value only when it contains `{m}`: this file does not (re-encrypt it with tresor or sops)"
                ),
                None => format!(
                    "Flux's kustomize-controller has no marker to find {} files in a secretGenerator by",
                    store.name()
                ),
            },
        });
        let comment_rule = meta.rule.field().0;
        let ok = !comment_rule.ends_with("comment_regex");
        out.push(TargetCheck {
            check: "encryption rule Flux's sops reads".into(),
            ok,
            detail: if ok {
                format!("rule: {}", if comment_rule.is_empty() { "(none)" } else { comment_rule })
            } else {
                format!(
                    "{comment_rule}: Flux decrypts each resource after marshalling it to JSON, where the marker \
                     comments are gone, so its sops no longer knows which values are encrypted (use encrypted_regex)"
                )
            },
        });
    }
    if target == Target::Helm {
        let lower = name.to_ascii_lowercase();
        let ok = [".yaml", ".yml", ".json"].iter().any(|e| lower.ends_with(e));
        out.push(TargetCheck {
            check: "file extension helm-secrets reads".into(),
            ok,
            detail: if ok {
                "helm-secrets passes --input-type from the extension".into()
            } else {
                "helm-secrets takes the store from the extension: name the file *.yaml, *.yml or *.json".into()
            },
        });
    }
    out
}
