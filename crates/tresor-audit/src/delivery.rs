//! The delivery side checked into a repository: External Secrets Operator stores.
//!
//! A team can keep every SOPS key in the EU and still fetch its secrets at runtime from a
//! US cloud's secret manager through an ESO `SecretStore`/`ClusterSecretStore`. Those
//! manifests sit in the same repository, so the audit reads them too and judges each store
//! by its provider: a US cloud's service is US jurisdiction whatever its region, EU
//! providers are EU, and self-hosted ones (OpenBao/Vault, webhooks, GitLab, …) are judged by
//! their URL exactly as SOPS key services are ([`crate::hosting`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as J;

use crate::jurisdiction::{Jurisdiction, Jurisdictions};

/// How an ESO provider is judged.
enum Judged {
    /// By the company that runs it.
    Operator(&'static str, Jurisdiction, &'static str),
    /// By the host of the URL in this field of its spec (the provider's SaaS when absent).
    Url(&'static str, Option<&'static str>),
    /// Inside a Kubernetes cluster the team runs.
    Holder(&'static str),
}

/// ESO's providers (`spec.provider.<name>`, external-secrets.io/v1 `SecretStoreProvider`).
const PROVIDERS: &[(&str, Judged)] = &[
    (
        "aws",
        Judged::Operator(
            "AWS Secrets Manager / Parameter Store",
            Jurisdiction::Us,
            "Amazon.com, Inc. (US): CLOUD Act, whatever the region",
        ),
    ),
    (
        "azurekv",
        Judged::Operator(
            "Azure Key Vault",
            Jurisdiction::Us,
            "Microsoft Corporation (US): CLOUD Act, whatever the region",
        ),
    ),
    (
        "gcpsm",
        Judged::Operator("Google Secret Manager", Jurisdiction::Us, "Google LLC (US): CLOUD Act, whatever the region"),
    ),
    ("oracle", Judged::Operator("Oracle Cloud Vault", Jurisdiction::Us, "Oracle Corporation (US): CLOUD Act")),
    ("ibm", Judged::Operator("IBM Secrets Manager", Jurisdiction::Us, "IBM (US): CLOUD Act")),
    ("akeyless", Judged::Operator("Akeyless", Jurisdiction::Us, "Akeyless Security Inc. (US)")),
    ("bitwardensecretsmanager", Judged::Operator("Bitwarden Secrets Manager", Jurisdiction::Us, "Bitwarden Inc. (US)")),
    ("github", Judged::Operator("GitHub", Jurisdiction::Us, "GitHub (Microsoft, US)")),
    ("doppler", Judged::Operator("Doppler", Jurisdiction::Us, "Doppler Inc. (US)")),
    ("keepersecurity", Judged::Operator("Keeper Secrets Manager", Jurisdiction::Us, "Keeper Security Inc. (US)")),
    ("pulumi", Judged::Operator("Pulumi ESC", Jurisdiction::Us, "Pulumi Corp. (US)")),
    ("fortanix", Judged::Operator("Fortanix DSM", Jurisdiction::Us, "Fortanix Inc. (US)")),
    ("ngrok", Judged::Operator("ngrok", Jurisdiction::Us, "ngrok Inc. (US)")),
    ("onboardbase", Judged::Operator("Onboardbase", Jurisdiction::Us, "Onboardbase (US)")),
    ("beyondtrust", Judged::Url("server.apiUrl", None)),
    ("beyondtrustworkloadcredentials", Judged::Url("server.apiUrl", None)),
    ("onepassword", Judged::Operator("1Password Connect", Jurisdiction::Other, "AgileBits Inc. (Canada)")),
    ("onepasswordSDK", Judged::Operator("1Password", Jurisdiction::Other, "AgileBits Inc. (Canada)")),
    ("senhasegura", Judged::Url("url", None)),
    ("yandexcertificatemanager", Judged::Operator("Yandex Cloud", Jurisdiction::Other, "Yandex (Russia)")),
    ("yandexlockbox", Judged::Operator("Yandex Lockbox", Jurisdiction::Other, "Yandex (Russia)")),
    ("cloudrusm", Judged::Operator("Cloud.ru Secret Manager", Jurisdiction::Other, "Cloud.ru (Russia)")),
    ("volcengine", Judged::Operator("Volcano Engine KMS", Jurisdiction::Other, "ByteDance (China)")),
    ("ovh", Judged::Operator("OVHcloud Secret Manager", Jurisdiction::Eu, "OVH SAS (France)")),
    ("scaleway", Judged::Operator("Scaleway Secret Manager", Jurisdiction::Eu, "Scaleway SAS (France)")),
    ("previder", Judged::Operator("Previder Vault", Jurisdiction::Eu, "Previder B.V. (Netherlands)")),
    ("nebiusmysterybox", Judged::Operator("Nebius MysteryBox", Jurisdiction::Eu, "Nebius Group N.V. (Netherlands)")),
    ("vault", Judged::Url("server", None)),
    ("openBao", Judged::Url("server", None)),
    ("webhook", Judged::Url("url", None)),
    ("gitlab", Judged::Url("url", Some("https://gitlab.com"))),
    ("infisical", Judged::Url("hostAPI", Some("https://app.infisical.com"))),
    ("conjur", Judged::Url("url", None)),
    ("delinea", Judged::Url("tenant", None)),
    ("secretserver", Judged::Url("serverURL", None)),
    ("passbolt", Judged::Url("host", None)),
    ("passworddepot", Judged::Url("host", None)),
    ("dvls", Judged::Url("serverUrl", None)),
    ("barbican", Judged::Url("auth.authURL", None)),
    ("chef", Judged::Url("serverUrl", None)),
    ("kubernetes", Judged::Holder("secrets of a Kubernetes cluster")),
    ("crd", Judged::Holder("custom resources of the cluster")),
    ("fake", Judged::Holder("fake provider (tests)")),
];

/// One ESO store found in the repository.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    /// The manifest.
    pub file: String,
    /// `SecretStore` or `ClusterSecretStore`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// ESO's provider key (`aws`, `vault`, …).
    pub provider: String,
    /// Its legal regime.
    pub jurisdiction: Jurisdiction,
    /// Why.
    pub basis: String,
    /// Policy rules it breaks.
    pub violations: Vec<String>,
}

/// The value at a dotted path of a JSON object.
fn at<'a>(v: &'a J, dotted: &str) -> Option<&'a J> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// Judge one store's provider spec.
fn judge(name: &str, spec: &J, j: &Jurisdictions) -> (Jurisdiction, String) {
    match PROVIDERS.iter().find(|(n, _)| *n == name).map(|(_, how)| how) {
        Some(Judged::Operator(what, juris, why)) => (*juris, format!("{what}: {why}")),
        Some(Judged::Holder(what)) => (Jurisdiction::Holder, (*what).to_string()),
        Some(Judged::Url(field, default)) => match at(spec, field).and_then(J::as_str).or(*default) {
            Some(url) => j.self_hosted(&crate::jurisdiction::host_of(url)),
            None => (Jurisdiction::Unknown, format!("no `{field}` in the {name} provider: where it runs is not known")),
        },
        None => (Jurisdiction::Unknown, format!("ESO provider `{name}` is not in tresor's table")),
    }
}

/// The ESO stores defined in one YAML text (any number of documents).
pub fn read_stores(file: &str, text: &str, j: &Jurisdictions) -> Vec<StoreReport> {
    let Ok(docs) = tresor_format::parse(text, tresor_format::Format::Yaml) else { return Vec::new() };
    let mut out = Vec::new();
    for doc in &docs {
        let Ok(data) = tresor_sops::convert::document_data(doc) else { continue };
        let api = data.get("apiVersion").and_then(J::as_str).unwrap_or("");
        let kind = data.get("kind").and_then(J::as_str).unwrap_or("");
        if !api.starts_with("external-secrets.io/") || !matches!(kind, "SecretStore" | "ClusterSecretStore") {
            continue;
        }
        let name = at(&data, "metadata.name").and_then(J::as_str).unwrap_or("").to_string();
        let Some(J::Object(providers)) = at(&data, "spec.provider") else {
            out.push(StoreReport {
                file: file.into(),
                kind: kind.into(),
                name,
                provider: String::new(),
                jurisdiction: Jurisdiction::Unknown,
                basis: "no spec.provider".into(),
                violations: Vec::new(),
            });
            continue;
        };
        for (provider, spec) in providers {
            let (jurisdiction, basis) = judge(provider, spec, j);
            out.push(StoreReport {
                file: file.into(),
                kind: kind.into(),
                name: name.clone(),
                provider: provider.clone(),
                jurisdiction,
                basis,
                violations: Vec::new(),
            });
        }
    }
    out
}

/// YAML files under `dir` (dot entries skipped, as for SOPS files) that may define ESO
/// stores: they name the API group and a store kind.
pub fn find_store_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    tresor_keys::rekey::files_under(dir, |p| {
        p.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && std::fs::metadata(p).is_ok_and(|m| m.len() <= 4 << 20)
            && std::fs::read_to_string(p).is_ok_and(|t| t.contains("external-secrets.io/") && t.contains("SecretStore"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_judged_by_provider_and_self_hosted_ones_by_host() {
        let text = r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: aws-frankfurt}
spec:
  provider:
    aws: {service: SecretsManager, region: eu-central-1}
---
apiVersion: external-secrets.io/v1beta1
kind: SecretStore
metadata: {name: bao}
spec:
  provider:
    vault: {server: "https://bao.internal.eu-central-1.elb.amazonaws.com:8200", path: secret}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: scw}
spec:
  provider:
    scaleway: {region: fr-par, projectId: x}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: corp}
spec:
  provider:
    openBao: {server: "https://bao.corp.example"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-store}
"#;
        let j = Jurisdictions::default();
        let s = read_stores("stores.yaml", text, &j);
        let got: Vec<(&str, &str, Jurisdiction)> =
            s.iter().map(|r| (r.name.as_str(), r.provider.as_str(), r.jurisdiction)).collect();
        assert_eq!(
            got,
            [
                ("aws-frankfurt", "aws", Jurisdiction::Us),
                ("bao", "vault", Jurisdiction::Us),
                ("scw", "scaleway", Jurisdiction::Eu),
                ("corp", "openBao", Jurisdiction::Unknown),
            ]
        );
        assert!(s[1].basis.contains("Amazon Web Services"), "{}", s[1].basis);
        let declared = Jurisdictions { hosts: vec![("bao.corp.example".into(), Jurisdiction::Eu, None)] };
        assert_eq!(read_stores("s.yaml", text, &declared)[3].jurisdiction, Jurisdiction::Eu);
        assert_eq!(crate::jurisdiction::host_of("https://user@gitlab.example.org:8443/x"), "gitlab.example.org");
    }
}
