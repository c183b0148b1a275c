/// Failures of a key service, phrased for the person running the command. Secrets
/// (tokens, plaintexts) never appear in these messages.
#[derive(Clone, Debug, thiserror::Error)]
pub enum KmsError {
    #[error("invalid key URI '{uri}': {why}")]
    BadUri { uri: String, why: String },
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{service} at {url} is sealed; unseal it and retry")]
    Sealed { service: &'static str, url: String },
    #[error("{service} refused the request ({status}): {why}")]
    Denied { service: &'static str, status: u16, why: String },
    #[error("{service}: key not found ({status}): {why}")]
    NotFound { service: &'static str, status: u16, why: String },
    #[error("{service} rejected the request ({status}): {why}")]
    Rejected { service: &'static str, status: u16, why: String },
    #[error("{service} failed ({status}) after {attempts} attempts: {why}")]
    Server { service: &'static str, status: u16, attempts: u32, why: String },
    #[error("unexpected answer from {service}: {why}")]
    Protocol { service: &'static str, why: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
}
