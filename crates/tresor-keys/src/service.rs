//! The key-service seam: one [`KeyService`] per kind of master key, and one table,
//! [`SERVICES`], that maps a `.sops.yaml` key name, a metadata list and a CLI flag to it.
//!
//! Modelled on age's `Recipient`/`Identity` over `Stanza`: the SOPS metadata stores every
//! master key as a generic record ([`MasterKey`]: list name + fields); a service turns a
//! data key into such records (`wrap`) and back (`unwrap`), and answers "not mine" for
//! what it cannot open. Kinds tresor has no client for (AWS/GCP/Azure/Huawei KMS) have a
//! row too, so their entries are recognised, kept, compared and audited.
//!
//! Adding a key service: write its client and one `impl KeyService`, add one row here.

use zeroize::Zeroizing;

use tresor_kms::KmsError;
use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;

/// What a key service does with master keys of its kind.
pub trait KeyService {
    /// The metadata list its keys sit in (`age`, `hc_vault`, …).
    fn kind(&self) -> &'static str;

    /// Check and normalise a key as written in `.sops.yaml` or on the command line (an
    /// age recipient, a key URI, a fingerprint); the result is the key's identity.
    fn parse(&self, text: &str) -> Result<String, KeyError>;

    /// Parse a structured `.sops.yaml` key-group entry (`kms: [{arn: …, role: …}]`).
    fn parse_entry(&self, _fields: &[(String, String)]) -> Result<String, KeyError> {
        Err(KeyError::BadKey { kind: self.kind().into(), why: "expected a string, not a mapping".into() })
    }

    /// The key (as [`KeyService::parse`] writes it) a stored entry was made for, or `None`
    /// when the entry lacks the fields that name it.
    fn id_of(&self, key: &MasterKey) -> Option<String>;

    /// Wrap each payload (a data key or a Shamir share) for the key `id`: one record per
    /// payload, with one remote call for all of them where the service batches.
    fn wrap(&self, id: &str, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError>;

    /// Recover the payload of one entry here, or say why not.
    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure>;

    /// Recover many entries in as few calls as the service allows; `None` where a
    /// batch did not answer (the caller then asks [`KeyService::unwrap`] per entry, which
    /// reports per file). Services without batching return all `None`.
    fn unwrap_many(&self, keys: &[&MasterKey]) -> Vec<Option<Zeroizing<Vec<u8>>>> {
        keys.iter().map(|_| None).collect()
    }

    /// Where the key is held (a URL), for audits; `None` for keys held by a person.
    fn location(&self, _key: &MasterKey) -> Option<String> {
        None
    }

    /// Where this service looks for private keys and how many it found (`tresor doctor`),
    /// for services that hold keys locally.
    fn local_sources(&self) -> Option<Result<(Vec<String>, usize), String>> {
        None
    }
}

/// One row of the service table.
pub struct ServiceRow {
    /// The metadata list name.
    pub kind: &'static str,
    /// The names `.sops.yaml` gives it (in a creation rule or a key group).
    pub config_names: &'static [&'static str],
    /// The command-line flag that adds such a key (`encrypt`, `rotate --add-…`).
    pub flag: Option<&'static str>,
    /// Tried before remote keys, as sops tries age first: no network, no prompt.
    pub local: bool,
    /// sops (and so Flux, ksops, helm-secrets) can unwrap it.
    pub sops_reads: bool,
    /// tresor has a client for it (it can wrap and unwrap).
    pub served: bool,
    make: fn() -> Box<dyn KeyService>,
}

impl ServiceRow {
    /// A fresh service (clients and identities are created on first use).
    pub fn service(&self) -> Box<dyn KeyService> {
        (self.make)()
    }
}

/// Every kind of master key sops files carry. Order = the order keys of one group are
/// tried after the local ones (file order within a kind).
pub static SERVICES: [ServiceRow; 10] = [
    ServiceRow {
        kind: "age",
        config_names: &["age"],
        flag: Some("--age"),
        local: true,
        sops_reads: true,
        served: true,
        make: || Box::new(crate::age_key::AgeService::default()),
    },
    ServiceRow {
        kind: "hc_vault",
        config_names: &["hc_vault_transit_uri", "hc_vault"],
        flag: Some("--hc-vault-transit"),
        local: false,
        sops_reads: true,
        served: true,
        make: || Box::new(crate::transit::TransitService::default()),
    },
    ServiceRow {
        kind: "okms",
        config_names: &["okms"],
        flag: Some("--okms"),
        local: false,
        // sops has no OVHcloud KMS key source: it ignores these entries.
        sops_reads: false,
        served: true,
        make: || Box::new(crate::okms::OkmsService::default()),
    },
    ServiceRow {
        kind: "scw_kms",
        config_names: &["scw_kms"],
        flag: Some("--scw-kms"),
        local: false,
        // sops has no Scaleway key source: it ignores these entries.
        sops_reads: false,
        served: true,
        make: || Box::new(crate::scaleway::ScwService::default()),
    },
    ServiceRow {
        kind: "stackit_kms",
        config_names: &["stackit_kms"],
        flag: Some("--stackit-kms"),
        local: false,
        // sops has no STACKIT key source (a pull request waits on the plugin proposal).
        sops_reads: false,
        served: true,
        make: || Box::new(crate::stackit::StackitService::default()),
    },
    ServiceRow {
        kind: "pgp",
        config_names: &["pgp"],
        flag: Some("--pgp"),
        local: false,
        sops_reads: true,
        served: true,
        make: || Box::new(crate::pgp::PgpService),
    },
    ServiceRow {
        kind: "kms",
        config_names: &["kms"],
        flag: None,
        local: false,
        sops_reads: true,
        served: false,
        make: || Box::new(crate::foreign::Foreign::AWS_KMS),
    },
    ServiceRow {
        kind: "gcp_kms",
        config_names: &["gcp_kms"],
        flag: None,
        local: false,
        sops_reads: true,
        served: false,
        make: || Box::new(crate::foreign::Foreign::GCP_KMS),
    },
    ServiceRow {
        kind: "azure_kv",
        config_names: &["azure_keyvault", "azure_kv"],
        flag: None,
        local: false,
        sops_reads: true,
        served: false,
        make: || Box::new(crate::foreign::Foreign::AZURE_KV),
    },
    ServiceRow {
        kind: "hckms",
        config_names: &["hckms"],
        flag: Some("--hckms"),
        local: false,
        // sops 3.12+ reads it (Huawei Cloud regions; Open Telekom Cloud's are tresor's).
        sops_reads: true,
        served: true,
        make: || Box::new(crate::huawei::HuaweiService::default()),
    },
];

/// The row for a metadata list name.
pub fn by_kind(kind: &str) -> Option<&'static ServiceRow> {
    SERVICES.iter().find(|r| r.kind == kind)
}

/// The row for a `.sops.yaml` key name.
pub fn by_config_name(name: &str) -> Option<&'static ServiceRow> {
    SERVICES.iter().find(|r| r.config_names.contains(&name))
}

/// The row a metadata list name or a `.sops.yaml` name stands for.
fn row_named(name: &str) -> Result<&'static ServiceRow, KeyError> {
    by_kind(name).or_else(|| by_config_name(name)).ok_or_else(|| KeyError::UnknownKind(name.into()))
}

/// The kinds tresor can wrap for, named for messages (`age, hc_vault, okms, pgp`).
pub fn served_kinds() -> String {
    SERVICES.iter().filter(|r| r.served).map(|r| r.kind).collect::<Vec<_>>().join(", ")
}

/// The key flags, from the table, for messages: `--age …, --hc-vault-transit …, …`.
pub fn key_flags_hint() -> String {
    let mut rows: Vec<&ServiceRow> = SERVICES.iter().filter(|r| r.served && r.flag.is_some()).collect();
    // The embedded default first: age needs no server.
    rows.sort_by_key(|r| !r.local);
    rows.iter().filter_map(|r| r.flag).map(|f| format!("{f} …")).collect::<Vec<_>>().join(", ") + ","
}

/// A master key to encrypt to, before wrapping: its kind and its normalised identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeySpec {
    kind: &'static str,
    id: String,
}

impl KeySpec {
    /// Parse a key of the kind named by `name` (a metadata list or `.sops.yaml` name).
    pub fn parse(name: &str, text: &str) -> Result<KeySpec, KeyError> {
        let row = row_named(name)?;
        let id = row.service().parse(text)?;
        Ok(KeySpec { kind: row.kind, id })
    }

    /// Parse a structured key-group entry of `.sops.yaml` (see [`KeyService::parse_entry`]).
    pub fn parse_entry(name: &str, fields: &[(String, String)]) -> Result<KeySpec, KeyError> {
        let row = row_named(name)?;
        let id = row.service().parse_entry(fields)?;
        Ok(KeySpec { kind: row.kind, id })
    }

    /// The spec a stored master key was made for (`None` for an entry of an unknown list
    /// or one that lacks the fields naming its key).
    pub fn of(key: &MasterKey) -> Option<KeySpec> {
        let row = by_kind(key.kind())?;
        row.service().id_of(key).map(|id| KeySpec { kind: row.kind, id })
    }

    /// The metadata list name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The normalised key (recipient, URI, fingerprint, ARN, …).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `kind id`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.id)
    }

    /// The service row of its kind.
    pub fn row(&self) -> &'static ServiceRow {
        by_kind(self.kind).expect("a KeySpec's kind comes from the table")
    }
}

/// The identity of a stored master key (`kind` + normalised id, or the raw fields' first
/// naming value when no service reads it), for reports.
pub fn describe_key(key: &MasterKey) -> String {
    KeySpec::of(key).map(|s| s.id).unwrap_or_else(|| {
        key.fields.iter().find(|(k, _)| k != "enc" && k != "created_at").map(|(_, v)| v.clone()).unwrap_or_default()
    })
}

/// Where a stored master key is held (a URL), when its service knows.
pub fn location_of(key: &MasterKey) -> Option<String> {
    by_kind(key.kind()).and_then(|r| r.service().location(key))
}

/// Why one master key did not give its payload here. Typed, so that the CLI's hint names
/// the cause (a sealed OpenBao, a token without policy, no matching age identity, no gpg).
#[derive(Clone, Debug, thiserror::Error)]
pub enum KeyFailure {
    /// No age identity was found in any of the places sops looks.
    #[error("no age identity found (looked in: {searched}){unavailable}")]
    NoIdentity {
        /// The places looked in.
        searched: String,
        /// Identities that could not be used (plugins, unreadable key files), as
        /// `; not usable: …`.
        unavailable: String,
    },
    /// Identities were found, but none opens this entry.
    #[error("none of the age identities matches this recipient{unavailable}")]
    NoMatchingIdentity {
        /// Plugin identities that could not be used, as `; not usable: …`.
        unavailable: String,
    },
    /// An identity source could not be read.
    #[error("{0}")]
    Identity(String),
    /// The key service answered with an error or did not answer.
    #[error(transparent)]
    Service(#[from] KmsError),
    /// The `gpg` program is missing.
    #[error("{0}")]
    GpgMissing(String),
    /// gpg ran and failed (no secret key, agent unreachable, …): its own message.
    #[error("{0}")]
    Gpg(String),
    /// tresor has no client for this kind of key.
    #[error("key type '{kind}' is not supported by tresor (it uses {served})")]
    Unsupported {
        /// The metadata list name.
        kind: String,
        /// The kinds tresor serves.
        served: String,
    },
    /// The entry lacks a field its service needs.
    #[error("the {kind} entry has no usable `{field}` field")]
    Malformed {
        /// The metadata list name.
        kind: String,
        /// The missing field.
        field: &'static str,
    },
    /// Anything else, with the service's message.
    #[error("{0}")]
    Other(String),
}

impl KeyFailure {
    /// What to do about this failure for a key of `kind` (`id`: its recipient, key or
    /// fingerprint as the file names it), for `tresor doctor`. `None`: nothing the user
    /// can do here (the file is malformed, or tresor has no client).
    pub fn next_step(&self, kind: &str, id: &str) -> Option<String> {
        let short: String = id.chars().take(24).collect();
        Some(match (self, kind) {
            (KeyFailure::NoIdentity { unavailable, .. }, _) if unavailable.contains("cannot be read") => {
                "make the key file named above readable by this user (owner and mode; in Kubernetes the \
                 Secret's defaultMode and the pod's fsGroup)"
                    .into()
            }
            (KeyFailure::NoIdentity { .. }, _) => format!(
                "put the identity of {short}… in ~/.config/sops/age/keys.txt or point SOPS_AGE_KEY_FILE at it \
                 (a new `tresor keygen` key opens only files encrypted to it)"
            ),
            (KeyFailure::NoMatchingIdentity { .. }, _) => format!(
                "your identities are not {short}…: ask a key holder to add your recipient \
                 (in .sops.yaml, then `tresor updatekeys FILE`; or `tresor rotate -i --add-age RECIPIENT FILE`)"
            ),
            (KeyFailure::Identity(_), _) => {
                "fix the identity source named above (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_KEY_CMD): it must be readable by this user".into()
            }
            (KeyFailure::GpgMissing(_), _) => "install GnuPG (`gpg` on PATH, or SOPS_GPG_EXEC)".into(),
            (KeyFailure::Gpg(_), _) => format!("import the secret key of {short} into gpg (`gpg --import KEY.asc`) or start gpg-agent"),
            (KeyFailure::Service(_), "hc_vault") => "set VAULT_ADDR and VAULT_TOKEN (or `bao login`), and check the server is unsealed".into(),
            (KeyFailure::Service(_), "okms") => "set KMS_RESTAPI_CERT and KMS_RESTAPI_KEY (the OVHcloud KMS access certificate)".into(),
            (KeyFailure::Service(_), "scw_kms") => "set SCW_SECRET_KEY (an API key allowed to use the key in its project)".into(),
            (KeyFailure::Service(_), "hckms") => {
                "set HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_PROJECT_ID (the project of the key's region)".into()
            }
            (KeyFailure::Service(_), "stackit_kms") => {
                "set STACKIT_SERVICE_ACCOUNT_TOKEN (a current access token of a service account with the KMS role)".into()
            }
            (KeyFailure::Service(_), _) => "check the key service's address and credentials".into(),
            (KeyFailure::Unsupported { .. } | KeyFailure::Malformed { .. } | KeyFailure::Other(_), _) => return None,
        })
    }

    /// A missing or empty field of `key`.
    pub fn malformed(key: &MasterKey, field: &'static str) -> KeyFailure {
        KeyFailure::Malformed { kind: key.kind().to_string(), field }
    }
}

/// A required, non-empty field of a stored entry.
pub(crate) fn required<'a>(key: &'a MasterKey, field: &'static str) -> Result<&'a str, KeyFailure> {
    key.get(field).filter(|v| !v.is_empty()).ok_or_else(|| KeyFailure::malformed(key, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_name_and_kind_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for row in &SERVICES {
            assert!(seen.insert(row.kind), "{}", row.kind);
            for name in row.config_names {
                assert!(by_config_name(name).is_some_and(|r| r.kind == row.kind), "{name}");
            }
            assert_eq!(row.service().kind(), row.kind);
        }
    }

    #[test]
    fn every_service_has_its_place_in_the_metadata_writer() {
        // A kind missing from the writer's order would still be kept (after the known
        // lists), but out of sops' order: the two tables must agree.
        let known: Vec<&str> = tresor_sops::metadata::known_lists().collect();
        for row in &SERVICES {
            assert!(known.contains(&row.kind), "{} is in SERVICES but not in metadata's LISTS", row.kind);
        }
    }

    #[test]
    fn specs_compare_by_normalised_identity() {
        let a = KeySpec::parse("hc_vault_transit_uri", " https://bao:8200/v1/transit/keys/k/ ").unwrap();
        let stored = MasterKey::new(
            "hc_vault",
            &[("vault_address", "https://bao:8200"), ("engine_path", "transit"), ("key_name", "k"), ("enc", "x")],
        );
        assert_eq!(KeySpec::of(&stored), Some(a));
        let pgp = KeySpec::parse("pgp", "abcdef").unwrap();
        assert_eq!(pgp.id(), "ABCDEF");
        let kms = KeySpec::parse("kms", "arn:aws:kms:eu-west-1:1:key/x").unwrap();
        let stored = MasterKey::new("kms", &[("arn", "arn:aws:kms:eu-west-1:1:key/x"), ("enc", "e")]);
        assert_eq!(KeySpec::of(&stored), Some(kms));
        assert!(matches!(KeySpec::parse("nope", "x"), Err(KeyError::UnknownKind(_))));
    }
}
