/// Failures of a key service, phrased for the person running the command. Secrets
/// (tokens, plaintexts) never appear in these messages.
#[derive(Clone, Debug, thiserror::Error)]
pub enum KmsError {
    /// A key URI that does not parse.
    #[error("invalid key URI '{uri}': {why}")]
    BadUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        why: String,
    },
    /// The connection failed (DNS, refused, TLS handshake).
    #[error("cannot reach {url}: {why}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The transport's message.
        why: String,
    },
    /// No answer within the time allowed.
    #[error("{url} did not answer within {secs} s")]
    Timeout {
        /// The URL called.
        url: String,
        /// The time allowed.
        secs: u64,
    },
    /// The server is sealed (OpenBao/Vault 503 with `sealed`).
    #[error("{service} at {url} is sealed; unseal it and retry")]
    Sealed {
        /// The service's name.
        service: &'static str,
        /// Its address.
        url: String,
    },
    /// Authentication or authorisation failed (401, 403).
    #[error("{service} refused the request ({status}): {why}")]
    Denied {
        /// The service's name.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// The service's own message.
        why: String,
    },
    /// The key does not exist (404).
    #[error("{service}: key not found ({status}): {why}")]
    NotFound {
        /// The service's name.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// The service's own message.
        why: String,
    },
    /// Another client error (4xx): the request was wrong for this key.
    #[error("{service} rejected the request ({status}): {why}")]
    Rejected {
        /// The service's name.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// The service's own message.
        why: String,
    },
    /// A server error (5xx, 429) that retries did not get past.
    #[error("{service} failed ({status}) after {attempts} attempts: {why}")]
    Server {
        /// The service's name.
        service: &'static str,
        /// The last HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The service's own message.
        why: String,
    },
    /// An answer that does not follow the service's API.
    #[error("unexpected answer from {service}: {why}")]
    Protocol {
        /// The service's name.
        service: &'static str,
        /// What was unexpected.
        why: String,
    },
    /// CA or client-certificate files that cannot be used.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// Missing or contradictory settings (credentials, variables).
    #[error("{0}")]
    Config(String),
}
