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

/// Host-based overrides for self-hosted services (`host suffix → jurisdiction`).
#[derive(Clone, Debug, Default)]
pub struct Jurisdictions {
    /// Host suffixes and their jurisdictions, longest match not required: the first that matches.
    pub hosts: Vec<(String, Jurisdiction)>,
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    host.rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host)
        .to_ascii_lowercase()
}

impl Jurisdictions {
    fn by_host(&self, host: &str) -> Option<Jurisdiction> {
        self.hosts.iter().find(|(suffix, _)| host == suffix || host.ends_with(&format!(".{suffix}"))).map(|(_, j)| *j)
    }

    /// Provider name, jurisdiction and a short reason. The host comes from the key
    /// service (`tresor_keys::service::location_of`); what a host or a kind means
    /// legally is this module's table.
    pub fn classify(&self, key: &MasterKey) -> (String, Jurisdiction, String) {
        let host = tresor_keys::service::location_of(key).map(|url| host_of(&url));
        match (key.kind(), host) {
            ("age", _) => ("age".into(), Jurisdiction::Holder, "local age key: whoever holds the identity".into()),
            ("hc_vault", Some(host)) => match self.by_host(&host) {
                Some(j) => ("openbao/vault".into(), j, format!("{host}: configured as {}", j.name())),
                None if host.ends_with(".hashicorp.cloud") => {
                    ("hcp-vault".into(), Jurisdiction::Us, "HashiCorp Cloud Platform (US company, CLOUD Act)".into())
                }
                None => (
                    "openbao/vault".into(),
                    Jurisdiction::Holder,
                    format!("{host}: self-hosted (set a jurisdiction for it in the policy)"),
                ),
            },
            ("okms", Some(host)) => {
                if let Some(j) = self.by_host(&host) {
                    return ("ovhcloud-kms".into(), j, format!("{host}: configured as {}", j.name()));
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
            ("kms", _) => ("aws-kms".into(), Jurisdiction::Us, "Amazon Web Services (US company, CLOUD Act)".into()),
            ("gcp_kms", _) => ("gcp-kms".into(), Jurisdiction::Us, "Google Cloud (US company, CLOUD Act)".into()),
            ("azure_kv", _) => {
                ("azure-key-vault".into(), Jurisdiction::Us, "Microsoft Azure (US company, CLOUD Act)".into())
            }
            ("hckms", _) => ("huaweicloud-kms".into(), Jurisdiction::Other, "Huawei Cloud (Chinese company)".into()),
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
        let j = Jurisdictions { hosts: vec![("bao.corp.example".into(), Jurisdiction::Eu)] };
        let k = MasterKey::new(
            "hc_vault",
            &[("vault_address", "https://vault.bao.corp.example:8200"), ("engine_path", "t"), ("key_name", "k")],
        );
        assert_eq!(j.classify(&k).1, Jurisdiction::Eu);
    }
}
