//! Which legal regime a key service falls under.

use serde::Serialize;
use tresor_sops::MasterKey;

/// The legal regime a key falls under, as the audit judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Jurisdiction {
    /// A provider operating under EU law only (e.g. OVHcloud KMS in an EU region).
    Eu,
    /// Under the key holder's own control (age keys, self-hosted OpenBao, PGP).
    Holder,
    /// A US provider: reachable by the US CLOUD Act wherever the data centre is.
    Us,
    /// Another non-EU regime (e.g. Canada, China, Singapore).
    Other,
    /// Not known (an unclassified host or key type).
    Unknown,
}

impl Jurisdiction {
    /// Parse a policy's name for it (`eu`, `holder`, `us`, `other`, `unknown`).
    pub fn parse(s: &str) -> Option<Jurisdiction> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eu" => Jurisdiction::Eu,
            "holder" | "self" | "own" => Jurisdiction::Holder,
            "us" => Jurisdiction::Us,
            "other" => Jurisdiction::Other,
            "unknown" => Jurisdiction::Unknown,
            _ => return None,
        })
    }

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Jurisdiction::Eu => "eu",
            Jurisdiction::Holder => "holder",
            Jurisdiction::Us => "us",
            Jurisdiction::Other => "other",
            Jurisdiction::Unknown => "unknown",
        }
    }

    /// Outside the EU and outside the holder's control.
    pub fn is_foreign(self) -> bool {
        matches!(self, Jurisdiction::Us | Jurisdiction::Other | Jurisdiction::Unknown)
    }
}

/// The policy's hosting declarations for self-hosted services (`host suffix → jurisdiction`,
/// with an optional note quoted as evidence).
#[derive(Clone, Debug, Default)]
pub struct Jurisdictions {
    /// Host suffixes, their jurisdictions and notes; the longest matching suffix wins.
    pub hosts: Vec<(String, Jurisdiction, Option<String>)>,
}

/// The host of a URL (no scheme, user, port or path), lower-cased.
pub(crate) fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host)
        .to_ascii_lowercase()
}

impl Jurisdictions {
    /// The declaration for `host`, as (jurisdiction, the reason quoted in the report).
    fn by_host(&self, host: &str) -> Option<(Jurisdiction, String)> {
        self.hosts
            .iter()
            .filter(|(suffix, _, _)| host == suffix || host.ends_with(&format!(".{suffix}")))
            .max_by_key(|(suffix, _, _)| suffix.len())
            .map(|(suffix, j, note)| {
                let mut why = format!("{host}: declared {} in the policy's hosting ({suffix})", j.name());
                if let Some(n) = note {
                    why.push_str(&format!(": {n}"));
                }
                (*j, why)
            })
    }

    /// A self-hosted service at `host` (OpenBao/Vault transit): as declared in the policy,
    /// else by the operator of the host's domain, else unknown — never assumed to be the
    /// holder's own (see [`crate::hosting`]).
    pub(crate) fn self_hosted(&self, host: &str) -> (Jurisdiction, String) {
        if let Some(declared) = self.by_host(host) {
            return declared;
        }
        if let Some(o) = crate::hosting::operator_of(host) {
            return (
                o.jurisdiction,
                format!(
                    "{host}: runs on {} — {}, whatever the region (a hosting declaration in the policy overrides)",
                    o.name, o.why
                ),
            );
        }
        let what = if crate::hosting::is_address(host) { "an IP address" } else { "a host" };
        (
            Jurisdiction::Unknown,
            format!("{host}: {what} whose operator is not known; declare where it runs under the policy's `hosting:` (e.g. `{host}: eu`)"),
        )
    }

    /// Provider name, jurisdiction and a short reason. The host comes from the key
    /// service (`tresor_keys::service::location_of`); what a host or a kind means
    /// legally is this module's table.
    pub fn classify(&self, key: &MasterKey) -> (String, Jurisdiction, String) {
        let host = tresor_keys::service::location_of(key).map(|url| host_of(&url));
        match (key.kind(), host) {
            ("age", _) => ("age".into(), Jurisdiction::Holder, "local age key: whoever holds the identity".into()),
            ("hc_vault", Some(host)) => {
                let (j, why) = self.self_hosted(&host);
                let provider = if host.ends_with(".hashicorp.cloud") { "hcp-vault" } else { "openbao/vault" };
                (provider.into(), j, why)
            }
            ("okms", Some(host)) => {
                if let Some((j, why)) = self.by_host(&host) {
                    return ("ovhcloud-kms".into(), j, why);
                }
                if host.ends_with(".okms.ovh.us") {
                    ("ovhcloud-kms".into(), Jurisdiction::Us, "OVHcloud US (separate US entity)".into())
                } else if host.ends_with(".okms.ovh.net") && host.starts_with("eu-") {
                    ("ovhcloud-kms".into(), Jurisdiction::Eu, "OVHcloud SAS (France), EU region".into())
                } else if host.ends_with(".okms.ovh.net") {
                    ("ovhcloud-kms".into(), Jurisdiction::Other, format!("{host}: OVHcloud region outside the EU"))
                } else {
                    ("ovhcloud-kms".into(), Jurisdiction::Unknown, format!("{host}: not an OVHcloud KMS endpoint"))
                }
            }
            ("scw_kms", Some(host)) => {
                if let Some((j, why)) = self.by_host(&host) {
                    return ("scaleway-kms".into(), j, why);
                }
                if host == "api.scaleway.com" {
                    (
                        "scaleway-kms".into(),
                        Jurisdiction::Eu,
                        "Scaleway SAS (France); Key Manager regions Paris, Amsterdam, Warsaw".into(),
                    )
                } else {
                    let (j, why) = self.self_hosted(&host);
                    ("scaleway-kms".into(), j, why)
                }
            }
            ("stackit_kms", Some(host)) => {
                if let Some((j, why)) = self.by_host(&host) {
                    return ("stackit-kms".into(), j, why);
                }
                if host == "kms.api.stackit.cloud" {
                    (
                        "stackit-kms".into(),
                        Jurisdiction::Eu,
                        "STACKIT GmbH & Co. KG (Germany); regions eu01 (Germany), eu02 (Austria)".into(),
                    )
                } else {
                    let (j, why) = self.self_hosted(&host);
                    ("stackit-kms".into(), j, why)
                }
            }
            ("kms", _) if tresor_keys::foreign::keyservice_plugin(key).is_some() => (
                "sops-keyservice-plugin".into(),
                Jurisdiction::Unknown,
                tresor_keys::foreign::keyservice_plugin(key).unwrap_or_default(),
            ),
            ("kms", _) => ("aws-kms".into(), Jurisdiction::Us, "Amazon Web Services (US company, CLOUD Act)".into()),
            ("gcp_kms", _) => ("gcp-kms".into(), Jurisdiction::Us, "Google Cloud (US company, CLOUD Act)".into()),
            ("azure_kv", _) => {
                ("azure-key-vault".into(), Jurisdiction::Us, "Microsoft Azure (US company, CLOUD Act)".into())
            }
            ("hckms", host) => {
                let host = host.unwrap_or_default();
                if let Some((j, why)) = self.by_host(&host) {
                    return ("huaweicloud-kms".into(), j, why);
                }
                if host.ends_with(".otc.t-systems.com") {
                    (
                        "otc-kms".into(),
                        Jurisdiction::Eu,
                        "Open Telekom Cloud, T-Systems International GmbH (Germany), on Huawei's KMS software".into(),
                    )
                } else {
                    (
                        "huaweicloud-kms".into(),
                        Jurisdiction::Other,
                        "Huawei Cloud (Chinese company), whatever the region".into(),
                    )
                }
            }
            ("pgp", _) => ("pgp".into(), Jurisdiction::Holder, "PGP key: whoever holds the private key".into()),
            (other, _) => (other.to_string(), Jurisdiction::Unknown, "unknown key service or malformed entry".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(host_of("https://eu-west-par.okms.ovh.net/api/x"), "eu-west-par.okms.ovh.net");
        assert_eq!(host_of("http://127.0.0.1:8200"), "127.0.0.1");
        let j =
            Jurisdictions { hosts: vec![("bao.corp.example".into(), Jurisdiction::Eu, Some("DC Frankfurt".into()))] };
        let k = MasterKey::new(
            "hc_vault",
            &[("vault_address", "https://vault.bao.corp.example:8200"), ("engine_path", "t"), ("key_name", "k")],
        );
        let (_, juris, why) = j.classify(&k);
        assert_eq!(juris, Jurisdiction::Eu);
        assert!(why.contains("declared eu") && why.contains("DC Frankfurt"), "{why}");
    }

    fn bao_at(addr: &str) -> MasterKey {
        MasterKey::new("hc_vault", &[("vault_address", addr), ("engine_path", "transit"), ("key_name", "k")])
    }

    /// The seeds' first silent failure: "OpenBao on AWS Frankfurt" audited as the holder's.
    #[test]
    fn self_hosted_services_are_judged_by_their_host_never_ok_by_default() {
        let none = Jurisdictions::default();
        let (p, j, why) = none.classify(&bao_at("https://bao.internal.eu-central-1.elb.amazonaws.com"));
        assert_eq!((p.as_str(), j), ("openbao/vault", Jurisdiction::Us));
        assert!(why.contains("Amazon Web Services") && why.contains("whatever the region"), "{why}");
        assert_eq!(none.classify(&bao_at("https://vault.fr-par.scw.cloud")).1, Jurisdiction::Eu);
        assert_eq!(none.classify(&bao_at("https://x.vault.hashicorp.cloud:8200")).0, "hcp-vault");
        for unknown in ["https://bao.corp.example", "http://10.0.0.5:8200", "http://[::1]:8200"] {
            let (_, j, why) = none.classify(&bao_at(unknown));
            assert_eq!(j, Jurisdiction::Unknown, "{unknown}");
            assert!(why.contains("hosting:"), "{why}");
        }
        // A declaration overrides the domain table (a private peering the team documented).
        let declared = Jurisdictions { hosts: vec![("amazonaws.com".into(), Jurisdiction::Other, None)] };
        assert_eq!(declared.classify(&bao_at("https://bao.elb.amazonaws.com")).1, Jurisdiction::Other);
    }
}
