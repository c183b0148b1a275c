//! Where a self-hosted key service really runs, from its host name.
//!
//! A region label is not a jurisdiction: an OpenBao behind
//! `bao.internal.eu-central-1.elb.amazonaws.com` runs in Frankfurt on infrastructure of a US
//! company, reachable under the US CLOUD Act whatever the region. So a service is classified
//! by the operator of its host: the DNS suffixes below are the documented service domains of
//! each provider (the source is kept with each row). Anything else — an internal name, an IP
//! address (cloud address ranges are published as lists that change weekly and are not
//! bundled), a domain not listed — is `unknown` until the audit policy declares where it is
//! hosted (`hosting:`), and that declaration is quoted in the evidence.

use crate::jurisdiction::Jurisdiction;

/// One provider's service domains.
pub struct Operator {
    /// Who runs the infrastructure.
    pub name: &'static str,
    /// Its legal regime.
    pub jurisdiction: Jurisdiction,
    /// Why (the parent company's seat).
    pub why: &'static str,
    /// DNS suffixes of its services (load balancers, functions, CDNs, app platforms).
    pub suffixes: &'static [&'static str],
    /// Where the suffixes are documented.
    pub source: &'static str,
}

/// The providers whose hosts are recognised. US-parent clouds first: a host on any of these
/// is US jurisdiction whatever its region.
pub static OPERATORS: &[Operator] = &[
    Operator {
        name: "Amazon Web Services",
        jurisdiction: Jurisdiction::Us,
        why: "Amazon.com, Inc. (US): CLOUD Act",
        suffixes: &[
            "amazonaws.com",
            "amazonaws.com.cn",
            "aws",
            "on.aws",
            "awsapprunner.com",
            "cloudfront.net",
            "awsglobalaccelerator.com",
        ],
        source: "https://docs.aws.amazon.com/general/latest/gr/rande.html",
    },
    Operator {
        name: "Microsoft Azure",
        jurisdiction: Jurisdiction::Us,
        why: "Microsoft Corporation (US): CLOUD Act",
        suffixes: &[
            "azure.com",
            "windows.net",
            "azurewebsites.net",
            "azurecontainerapps.io",
            "azurefd.net",
            "azureedge.net",
            "azure-api.net",
            "trafficmanager.net",
            "azmk8s.io",
        ],
        source: "https://learn.microsoft.com/en-us/azure/security/fundamentals/azure-domains",
    },
    Operator {
        name: "Google Cloud",
        jurisdiction: Jurisdiction::Us,
        why: "Google LLC (US): CLOUD Act",
        suffixes: &[
            "googleapis.com",
            "appspot.com",
            "run.app",
            "cloudfunctions.net",
            "googleusercontent.com",
            "web.app",
            "firebaseapp.com",
        ],
        source: "https://cloud.google.com/run/docs/triggering/https-request",
    },
    Operator {
        name: "Oracle Cloud",
        jurisdiction: Jurisdiction::Us,
        why: "Oracle Corporation (US): CLOUD Act",
        suffixes: &["oraclecloud.com", "oci.customer-oci.com"],
        source: "https://docs.oracle.com/en-us/iaas/Content/General/Concepts/regions.htm",
    },
    Operator {
        name: "IBM Cloud",
        jurisdiction: Jurisdiction::Us,
        why: "IBM (US): CLOUD Act",
        suffixes: &["appdomain.cloud", "cloud.ibm.com"],
        source: "https://cloud.ibm.com/docs/containers?topic=containers-ingress-domains",
    },
    Operator {
        name: "DigitalOcean",
        jurisdiction: Jurisdiction::Us,
        why: "DigitalOcean, LLC (US): CLOUD Act",
        suffixes: &["ondigitalocean.app", "digitaloceanspaces.com"],
        source: "https://docs.digitalocean.com/products/app-platform/",
    },
    Operator {
        name: "Cloudflare",
        jurisdiction: Jurisdiction::Us,
        why: "Cloudflare, Inc. (US): CLOUD Act",
        suffixes: &["workers.dev", "pages.dev", "trycloudflare.com", "cloudflare.net"],
        source: "https://developers.cloudflare.com/workers/configuration/routing/workers-dev/",
    },
    Operator {
        name: "Fastly",
        jurisdiction: Jurisdiction::Us,
        why: "Fastly, Inc. (US): CLOUD Act",
        suffixes: &["fastly.net", "fastlylb.net", "edgecompute.app"],
        source: "https://docs.fastly.com/en/guides/working-with-domains",
    },
    Operator {
        name: "Akamai",
        jurisdiction: Jurisdiction::Us,
        why: "Akamai Technologies (US): CLOUD Act",
        suffixes: &[
            "akamaiedge.net",
            "akamaized.net",
            "edgekey.net",
            "edgesuite.net",
            "linodeobjects.com",
            "linode.com",
        ],
        source: "https://techdocs.akamai.com/property-mgr/docs/edge-hostnames",
    },
    Operator {
        name: "Heroku / Vercel / Netlify",
        jurisdiction: Jurisdiction::Us,
        why: "US companies (Salesforce, Vercel Inc., Netlify Inc.): CLOUD Act",
        suffixes: &["herokuapp.com", "vercel.app", "netlify.app"],
        source: "https://devcenter.heroku.com/articles/custom-domains",
    },
    Operator {
        name: "HashiCorp Cloud Platform",
        jurisdiction: Jurisdiction::Us,
        why: "HashiCorp (IBM, US): CLOUD Act",
        suffixes: &["hashicorp.cloud"],
        source: "https://developer.hashicorp.com/hcp/docs/vault",
    },
    // EU-owned providers, by their service domains. OVHcloud's US and Canadian entities
    // answer under `ovh.us`, `us.ovhcloud.com` and `ca.api.ovh.com`, so only the domains of
    // OVH SAS's own infrastructure are listed.
    Operator {
        name: "OVHcloud",
        jurisdiction: Jurisdiction::Eu,
        why: "OVH SAS (France)",
        suffixes: &["ovh.net", "ovh.eu"],
        source: "https://help.ovhcloud.com/csm/en-public-cloud-compute-essential-information",
    },
    Operator {
        name: "Scaleway",
        jurisdiction: Jurisdiction::Eu,
        why: "Scaleway SAS (France)",
        suffixes: &["scw.cloud", "scaleway.com"],
        source: "https://www.scaleway.com/en/docs/load-balancer/reference-content/",
    },
    Operator {
        name: "STACKIT",
        jurisdiction: Jurisdiction::Eu,
        why: "STACKIT GmbH & Co. KG (Germany, Schwarz Group)",
        suffixes: &["stackit.cloud", "onstackit.cloud"],
        source: "https://docs.stackit.cloud/stackit/en/",
    },
    Operator {
        name: "Hetzner",
        jurisdiction: Jurisdiction::Eu,
        why: "Hetzner Online GmbH (Germany)",
        suffixes: &["hetzner.cloud", "your-server.de", "hetzner.com"],
        source: "https://docs.hetzner.com/",
    },
    Operator {
        name: "Open Telekom Cloud",
        jurisdiction: Jurisdiction::Eu,
        why: "T-Systems International GmbH (Germany)",
        suffixes: &["otc.t-systems.com"],
        source: "https://docs.otc.t-systems.com/regions-and-endpoints/index.html",
    },
    Operator {
        name: "IONOS",
        jurisdiction: Jurisdiction::Eu,
        why: "IONOS SE (Germany)",
        suffixes: &["ionos.com", "ionos.de", "profitbricks.com"],
        source: "https://docs.ionos.com/cloud/",
    },
    Operator {
        name: "Exoscale",
        jurisdiction: Jurisdiction::Other,
        why: "Akenes SA (Switzerland; owned by A1 Telekom Austria): Swiss law",
        suffixes: &["exoscale.com"],
        source: "https://community.exoscale.com/documentation/platform/exoscale-datacenter-zones/",
    },
    Operator {
        name: "UpCloud",
        jurisdiction: Jurisdiction::Eu,
        why: "UpCloud Ltd (Finland)",
        suffixes: &["upcloud.com", "upcloudobjects.com"],
        source: "https://upcloud.com/docs/",
    },
    Operator {
        name: "Clever Cloud / Outscale",
        jurisdiction: Jurisdiction::Eu,
        why: "Clever Cloud SAS, 3DS Outscale SAS (France)",
        suffixes: &["cleverapps.io", "clever-cloud.com", "outscale.com"],
        source: "https://docs.outscale.com/en/userguide/Regions-Endpoints-and-Availability-Zones.html",
    },
];

/// The operator whose service domain `host` is under, if listed.
pub fn operator_of(host: &str) -> Option<&'static Operator> {
    let host = host.trim_end_matches('.');
    OPERATORS.iter().find(|o| o.suffixes.iter().any(|s| host == *s || host.ends_with(&format!(".{s}"))))
}

/// Is `host` an IP address literal (v4, or v6 as URLs bracket it)?
pub fn is_address(host: &str) -> bool {
    host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_label_is_not_a_jurisdiction() {
        let aws = operator_of("bao.internal.eu-central-1.elb.amazonaws.com").unwrap();
        assert_eq!((aws.name, aws.jurisdiction), ("Amazon Web Services", Jurisdiction::Us));
        assert_eq!(operator_of("vault.westeurope.cloudapp.azure.com").unwrap().jurisdiction, Jurisdiction::Us);
        assert_eq!(operator_of("bao-abc123-ew.a.run.app").unwrap().name, "Google Cloud");
        assert_eq!(operator_of("kms.fr-par.scw.cloud").unwrap().jurisdiction, Jurisdiction::Eu);
        assert_eq!(operator_of("eu-west-par.okms.ovh.net").unwrap().name, "OVHcloud");
        // A suffix matches whole labels only.
        assert!(operator_of("notamazonaws.com").is_none());
        assert!(operator_of("bao.corp.example").is_none());
        assert!(is_address("10.0.0.5") && is_address("[::1]") && !is_address("bao.corp.example"));
    }

    #[test]
    fn every_row_names_its_source_and_suffixes_are_not_shared() {
        let mut seen = std::collections::HashSet::new();
        for o in OPERATORS {
            assert!(o.source.starts_with("https://"), "{}", o.name);
            for s in o.suffixes {
                assert!(seen.insert(*s), "{s} listed twice");
            }
        }
    }
}
