//! A small blocking JSON-over-HTTPS client with the retry policy both services need.

use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use crate::error::KmsError;

/// TLS and retry settings for one service.
#[derive(Clone, Debug)]
pub struct Settings {
    /// PEM file of CA certificates to trust instead of the built-in web roots.
    pub ca_file: Option<String>,
    /// PEM client certificate (chain) and private key, for mutual TLS.
    pub client_cert: Option<(String, String)>,
    /// Time allowed for one request (connect and answer).
    pub timeout: Duration,
    /// Retries after the first attempt, on connection errors, timeouts, 429 and 5xx.
    pub retries: u32,
    /// First backoff delay; doubles per retry.
    pub backoff: Duration,
    /// The most one operation may take, retries included: a key server that accepts
    /// connections and never answers fails within this, not after every attempt's timeout.
    pub deadline: Duration,
    /// At most this many requests per second from this process to the service
    /// (`TRESOR_KEY_SERVICE_RATE`): a bulk `updatekeys` or `rotate` of thousands of files
    /// stays under a provider's rate limit instead of retrying through 429s.
    pub rate: Option<f64>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ca_file: None,
            client_cert: None,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(200),
            deadline: Duration::from_secs(50),
            rate: None,
        }
    }
}

/// Is `url`'s host the loopback interface (a test server, a local proxy)?
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// Seconds one key-service operation may take in all, retries included (default 50).
pub const DEADLINE_ENV: &str = "TRESOR_KEY_SERVICE_DEADLINE";

/// Requests per second to one key service, at most (default: no limit).
pub const RATE_ENV: &str = "TRESOR_KEY_SERVICE_RATE";

/// Requests per second to one key service for a whole fleet run: each process of a sharded
/// run (`--shard I/N` or the engine's variables) takes 1/N of it.
pub const FLEET_RATE_ENV: &str = "TRESOR_KEY_SERVICE_FLEET_RATE";

/// How many shards share [`FLEET_RATE_ENV`]: set once by a command that runs one shard of N.
static FLEET_SHARDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// This process runs one shard of `shards`: a fleet-wide rate budget is divided by it.
pub fn share_fleet_rate(shards: u32) {
    FLEET_SHARDS.store(shards.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// The rate this process keeps to: its own limit, the fleet's share, whichever is lower.
fn effective_rate(process: Option<f64>, fleet: Option<f64>, shards: u32) -> Option<f64> {
    let valid = |r: f64| r.is_finite() && r > 0.0;
    let share = fleet.filter(|r| valid(*r)).map(|r| r / f64::from(shards.max(1)));
    match (process.filter(|r| valid(*r)), share) {
        (Some(p), Some(s)) => Some(p.min(s)),
        (p, s) => p.or(s),
    }
}

/// The first of these environment variables that is set to something non-blank.
pub fn env_first(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

impl Settings {
    /// Apply a timeout (seconds, `30` or `30s`) and a retry count from the environment.
    pub fn with_env(mut self, timeout_vars: &[&str], retry_vars: &[&str]) -> Settings {
        if let Some(t) = env_first(timeout_vars).and_then(|t| t.trim_end_matches('s').parse().ok()) {
            self.timeout = Duration::from_secs(t);
        }
        if let Some(r) = env_first(retry_vars).and_then(|r| r.parse().ok()) {
            self.retries = r;
        }
        if let Some(t) = env_first(&[DEADLINE_ENV]).and_then(|t| t.trim_end_matches('s').parse().ok()) {
            self.deadline = Duration::from_secs(t);
        }
        let rate_of = |name: &str| env_first(&[name]).and_then(|r| r.trim_end_matches("/s").parse::<f64>().ok());
        let shards = FLEET_SHARDS.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = effective_rate(rate_of(RATE_ENV), rate_of(FLEET_RATE_ENV), shards) {
            self.rate = Some(r);
        }
        self
    }
}

/// A blocking HTTPS client with the settings' timeouts, retries and TLS.
pub struct Client {
    agent: ureq::Agent,
    settings: Settings,
    /// When the next request may start, under `settings.rate`.
    next_slot: std::sync::Mutex<Option<std::time::Instant>>,
}

/// A response: status and body text.
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// A `Retry-After` in seconds, when the service sent one (with 429 or 503).
    pub retry_after: Option<Duration>,
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, KmsError> {
    std::fs::read(path).map_err(|e| KmsError::Tls(format!("cannot read {what} {path}: {e}")))
}

impl Client {
    /// A client for `settings` (reads the CA and client-certificate files now).
    pub fn new(settings: Settings) -> Result<Client, KmsError> {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &settings.ca_file {
            let pem = read_file(ca, "CA file")?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(KmsError::Tls(format!("no certificate found in {ca}")));
            }
            tls = tls.root_certs(RootCerts::Specific(std::sync::Arc::new(certs)));
        }
        if let Some((cert, key)) = &settings.client_cert {
            let cert_pem = read_file(cert, "client certificate")?;
            let key_pem = zeroize::Zeroizing::new(read_file(key, "client key")?);
            let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&cert_pem)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if chain.is_empty() {
                return Err(KmsError::Tls(format!("no certificate found in {cert}")));
            }
            let key = PrivateKey::from_pem(&key_pem).map_err(|e| KmsError::Tls(format!("client key {key}: {e}")))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(settings.timeout.min(Duration::from_secs(10))))
            .user_agent(concat!("tresor/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client { agent, settings, next_slot: std::sync::Mutex::new(None) })
    }

    /// POST (or PUT) JSON with retries. `headers` are extra request headers.
    pub fn send_json(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
        is_sealed: impl Fn(&Reply) -> bool,
    ) -> Result<Reply, KmsError> {
        let mut attempt = 0u32;
        let mut delay = self.settings.backoff;
        let deadline = std::time::Instant::now() + self.settings.deadline;
        loop {
            attempt += 1;
            self.pace();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let result = self.once(method, url, headers, body, left.min(self.settings.timeout));
            let retryable = match &result {
                Ok(r) => (r.status == 429 || r.status >= 500) && !is_sealed(r),
                Err(KmsError::Unreachable { .. } | KmsError::Timeout { .. }) => true,
                Err(_) => false,
            };
            // A service that says when to come back is believed, within the deadline.
            let wait = match &result {
                Ok(r) => r.retry_after.map_or(delay, |r| r.max(delay)),
                Err(_) => delay,
            };
            let out_of_time = std::time::Instant::now() + wait >= deadline;
            if !retryable || attempt > self.settings.retries || out_of_time {
                return match result {
                    Ok(r) if r.status >= 500 && !is_sealed(&r) => Err(KmsError::Server {
                        service: "key service",
                        status: r.status,
                        attempts: attempt,
                        why: first_line(&r.body),
                    }),
                    other => other,
                };
            }
            std::thread::sleep(wait);
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Wait for this request's slot under `settings.rate` (requests are spaced evenly, so
    /// a run never bursts above the rate).
    fn pace(&self) {
        let Some(rate) = self.settings.rate else { return };
        let gap = Duration::from_secs_f64(1.0 / rate);
        let start = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            *next = Some(start + gap);
            start
        };
        std::thread::sleep(start.saturating_duration_since(std::time::Instant::now()));
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Reply, KmsError> {
        let mut req = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        }
        .config()
        .timeout_global(Some(timeout.max(Duration::from_millis(1))))
        .build();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        // Compact JSON, serialized here: a signed request (Huawei's AK/SK) signs exactly
        // these bytes, which `serde_json::to_vec` of the same value reproduces.
        let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
        match req.header("Content-Type", "application/json").send(&bytes[..]) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(60)));
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                Ok(Reply { status, body, retry_after })
            }
            Err(ureq::Error::Timeout(_)) => Err(KmsError::Timeout { url: url.into(), secs: timeout.as_secs() }),
            Err(ureq::Error::Io(e)) => Err(KmsError::Unreachable { url: url.into(), why: e.to_string() }),
            Err(ureq::Error::HostNotFound) => {
                Err(KmsError::Unreachable { url: url.into(), why: "host not found".into() })
            }
            Err(ureq::Error::Rustls(e)) => Err(KmsError::Tls(format!("{url}: {e}"))),
            Err(e) => Err(KmsError::Unreachable { url: url.into(), why: e.to_string() }),
        }
    }
}

/// A short, single-line excerpt of a response body for error messages.
pub fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(300).collect();
    if line.chars().count() > 300 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod rate_tests {
    use super::effective_rate;

    #[test]
    fn a_fleet_budget_is_shared_by_the_shards_and_never_raises_a_process_limit() {
        assert_eq!(effective_rate(None, None, 4), None);
        assert_eq!(effective_rate(Some(50.0), None, 4), Some(50.0));
        assert_eq!(effective_rate(None, Some(800.0), 4), Some(200.0));
        assert_eq!(effective_rate(None, Some(800.0), 1), Some(800.0));
        assert_eq!(effective_rate(Some(100.0), Some(800.0), 4), Some(100.0));
        assert_eq!(effective_rate(Some(300.0), Some(800.0), 4), Some(200.0));
        assert_eq!(effective_rate(Some(0.0), Some(-1.0), 4), None, "nonsense is no limit, as before");
        assert_eq!(effective_rate(None, Some(800.0), 0), Some(800.0), "0 shards is 1");
    }
}
