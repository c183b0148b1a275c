//! age: X25519, post-quantum hybrid (ML-KEM-768 + X25519, `age1pq1…`), SSH and plugin
//! recipients, and identity discovery the way sops does it.
//!
//! The `age` crate deprecates the classic X25519 and SSH types to steer new keys to
//! post-quantum ones; tresor must keep reading and writing them (every existing SOPS file
//! uses them), so those uses carry `#[allow(deprecated)]`.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use tresor_sops::metadata::MasterKey;

use crate::error::KeyError;
use crate::service::{KeyFailure, KeyService};

/// How age plugins (a YubiKey, a TPM) talk to the user: their messages ("touch your key")
/// go to stderr. tresor never prompts for a PIN itself: a plugin that needs one and gets
/// none fails with its own message (use the plugin's PIN cache or policy).
#[derive(Clone, Copy)]
pub struct PluginUi;

impl age::Callbacks for PluginUi {
    fn display_message(&self, message: &str) {
        eprintln!("tresor: {message}");
    }
    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, _description: &str) -> Option<age::secrecy::SecretString> {
        None
    }
}

/// Parse a recipient: `age1…` (X25519), `age1pq1…` (post-quantum hybrid, sops 3.12+), an
/// age plugin's `age1<plugin>1…` (wrapped by the `age-plugin-<plugin>` binary on PATH) or
/// an SSH public key line.
#[allow(deprecated)] // classic recipients: see the module comment
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>, KeyError> {
    let s = s.trim();
    if s.starts_with("age1pq1") {
        return s
            .parse::<age::pq::Recipient>()
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|_| KeyError::BadRecipient(short(s)));
    }
    if s.starts_with("age1") {
        if let Ok(r) = s.parse::<age::x25519::Recipient>() {
            return Ok(Box::new(r));
        }
        let r = s.parse::<age::plugin::Recipient>().map_err(|_| KeyError::BadRecipient(s.into()))?;
        let plugin = age::plugin::RecipientPluginV1::new(r.plugin(), std::slice::from_ref(&r), &[], PluginUi)
            .map_err(|e| KeyError::wrap(s, KeyFailure::Other(e.to_string()).into()))?;
        Ok(Box::new(plugin))
    } else if s.starts_with("ssh-") {
        s.parse::<age::ssh::Recipient>()
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|_| KeyError::BadRecipient(s.into()))
    } else {
        Err(KeyError::BadRecipient(s.into()))
    }
}

/// Wrap `payload` (a data key or Shamir share) for one recipient, ASCII-armored as sops
/// stores it.
pub fn wrap(recipient: &str, payload: &[u8]) -> Result<String, KeyError> {
    let r = parse_recipient(recipient)?;
    let err = |e: String| KeyError::wrap(recipient, KeyFailure::Other(e).into());
    let enc = age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| err(e.to_string()))?;
    let mut w = enc.wrap_output(armor).map_err(|e| err(e.to_string()))?;
    w.write_all(payload).map_err(|e| err(e.to_string()))?;
    w.finish().and_then(|a| a.finish()).map_err(|e| err(e.to_string()))?;
    let mut s = String::from_utf8(out).map_err(|e| err(e.to_string()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Identities found on this machine, with where we looked (for error messages).
pub struct Identities {
    /// The usable identities, in sops' order.
    pub ids: Vec<Box<dyn age::Identity>>,
    /// Where identities were looked for (for messages and `tresor doctor`).
    pub searched: Vec<String>,
    /// Plugin identities that could not be used (plugin binary missing), for messages.
    pub unavailable: Vec<String>,
}

/// The default key file: `$XDG_CONFIG_HOME/sops/age/keys.txt` or `~/.config/sops/age/keys.txt`
/// (sops' `UserConfigDir` on Linux).
pub fn default_key_file() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("sops/age/keys.txt"));
    }
    if cfg!(target_os = "macos") {
        return home().map(|h| h.join("Library/Application Support/sops/age/keys.txt"));
    }
    home().map(|h| h.join(".config/sops/age/keys.txt"))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The identities of an identity file's text: X25519 ones first, then age plugin identities
/// (`AGE-PLUGIN-…`), so that a plugin whose device is absent is asked only when no plain
/// identity opens the file. Plugin identities whose plugin cannot be started are noted in
/// `unavailable` (named in errors) instead of making the whole file unusable.
fn parse_identity_text(
    text: &str,
    source: &str,
    unavailable: &mut Vec<String>,
) -> Result<Vec<Box<dyn age::Identity>>, KeyError> {
    let (mut plain, mut plugins) = (Zeroizing::new(String::new()), Zeroizing::new(String::new()));
    for line in text.lines() {
        let target = if line.trim_start().starts_with("AGE-PLUGIN-") { &mut plugins } else { &mut plain };
        target.push_str(line);
        target.push('\n');
    }
    let mut out = Vec::new();
    for (part, is_plugin) in [(&plain, false), (&plugins, true)] {
        if part.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let bad = |e: std::io::Error| KeyError::BadIdentity { source_name: source.into(), reason: e.to_string() };
        let file = age::IdentityFile::from_buffer(BufReader::new(part.as_bytes())).map_err(bad)?;
        match file.with_callbacks(PluginUi).into_identities() {
            Ok(ids) => out.extend(ids.into_iter().map(|i| i as Box<dyn age::Identity>)),
            Err(e) if is_plugin => unavailable.push(format!("{source}: {}", e.to_string().replace('\n', " "))),
            Err(e) => return Err(KeyError::BadIdentity { source_name: source.into(), reason: e.to_string() }),
        }
    }
    Ok(out)
}

#[allow(deprecated)] // SSH identities: see the module comment
fn ssh_identity(path: &Path) -> Result<Option<Box<dyn age::Identity>>, KeyError> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let name = path.display().to_string();
    let id = age::ssh::Identity::from_buffer(BufReader::new(&bytes[..]), Some(name.clone()))
        .map_err(|e| KeyError::BadIdentity { source_name: name.clone(), reason: e.to_string() })?;
    match id {
        age::ssh::Identity::Unencrypted(_) => Ok(Some(Box::new(id))),
        // Passphrase-protected or unsupported keys: skip rather than prompt mid-run.
        _ => Ok(None),
    }
}

/// Load identities from every source sops uses, in sops' order: SSH keys,
/// `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the default key file.
pub fn load_identities() -> Result<Identities, KeyError> {
    let mut ids: Vec<Box<dyn age::Identity>> = Vec::new();
    let mut searched = Vec::new();
    let mut unavailable = Vec::new();
    if let Some(p) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        let p = PathBuf::from(p);
        searched.push(format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE ({})", p.display()));
        if let Some(id) = ssh_identity(&p)? {
            ids.push(id);
        }
    }
    if let Some(h) = home() {
        for name in [".ssh/id_ed25519", ".ssh/id_rsa"] {
            let p = h.join(name);
            if p.exists() {
                searched.push(p.display().to_string());
                if let Ok(Some(id)) = ssh_identity(&p) {
                    ids.push(id);
                }
            }
        }
    }
    if let Ok(k) = std::env::var("SOPS_AGE_KEY") {
        searched.push("SOPS_AGE_KEY".into());
        let k = Zeroizing::new(k);
        ids.extend(parse_identity_text(&k, "SOPS_AGE_KEY", &mut unavailable)?);
    }
    if let Some(f) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        let p = PathBuf::from(f);
        searched.push(format!("SOPS_AGE_KEY_FILE ({})", p.display()));
        let text = Zeroizing::new(
            std::fs::read_to_string(&p)
                .map_err(|e| KeyError::BadIdentity { source_name: p.display().to_string(), reason: e.to_string() })?,
        );
        ids.extend(parse_identity_text(&text, &p.display().to_string(), &mut unavailable)?);
    }
    if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
        searched.push("SOPS_AGE_KEY_CMD".into());
        let text = run_key_cmd(&cmd)?;
        ids.extend(parse_identity_text(&text, "SOPS_AGE_KEY_CMD", &mut unavailable)?);
    }
    if let Some(p) = default_key_file() {
        searched.push(p.display().to_string());
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                ids.extend(parse_identity_text(&text, &p.display().to_string(), &mut unavailable)?);
            }
            // Absent is the common case; a file that is there but cannot be read (a mounted
            // Secret with the wrong owner in Argo CD or CI) is named, never taken for absent.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => unavailable.push(format!("{} exists but cannot be read: {e}", p.display())),
        }
    }
    Ok(Identities { ids, searched, unavailable })
}

fn run_key_cmd(cmd: &str) -> Result<Zeroizing<String>, KeyError> {
    let err = |reason: String| KeyError::BadIdentity { source_name: "SOPS_AGE_KEY_CMD".into(), reason };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(format!("command exited with {}", out.status)));
    }
    String::from_utf8(out.stdout).map(Zeroizing::new).map_err(|_| err("output is not UTF-8".into()))
}

/// Unwrap an armored age `enc` with any of the identities.
pub fn unwrap(enc: &str, ids: &Identities) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
    unwrap_bytes(enc.as_bytes(), ids)
}

/// [`unwrap`] for an age file as bytes, armored or binary.
fn unwrap_bytes(enc: &[u8], ids: &Identities) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
    let unavailable = if ids.unavailable.is_empty() {
        String::new()
    } else {
        format!("; not usable: {}", ids.unavailable.join("; "))
    };
    if ids.ids.is_empty() {
        return Err(KeyFailure::NoIdentity { searched: ids.searched.join(", "), unavailable });
    }
    let other = |e: &dyn std::fmt::Display| KeyFailure::Other(e.to_string());
    let reader = ArmoredReader::new(enc);
    let dec = age::Decryptor::new(reader).map_err(|e| other(&e))?;
    let mut r = dec.decrypt(ids.ids.iter().map(|i| i.as_ref() as &dyn age::Identity)).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => KeyFailure::NoMatchingIdentity { unavailable },
        e => other(&e),
    })?;
    let mut out = Zeroizing::new(Vec::new());
    r.read_to_end(&mut out).map_err(|e| other(&e))?;
    Ok(out)
}

/// age as a key service (`age` entries): X25519, SSH and plugin recipients; identities
/// from the places sops looks, loaded on first use.
#[derive(Default)]
pub struct AgeService {
    identities: std::sync::OnceLock<Result<Identities, String>>,
}

impl AgeService {
    fn identities(&self) -> Result<&Identities, KeyFailure> {
        self.identities
            .get_or_init(|| load_identities().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| KeyFailure::Identity(e.clone()))
    }
}

impl KeyService for AgeService {
    fn kind(&self) -> &'static str {
        "age"
    }

    fn parse(&self, text: &str) -> Result<String, KeyError> {
        Ok(text.trim().to_string())
    }

    fn id_of(&self, key: &MasterKey) -> Option<String> {
        key.get("recipient").map(|r| r.trim().to_string())
    }

    fn wrap(&self, id: &str, payloads: &[&[u8]]) -> Result<Vec<MasterKey>, KeyError> {
        payloads.iter().map(|p| Ok(MasterKey::new("age", &[("recipient", id), ("enc", &wrap(id, p)?)]))).collect()
    }

    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        unwrap(crate::service::required(key, "enc")?, self.identities()?)
    }

    fn local_sources(&self) -> Option<Result<(Vec<String>, usize), String>> {
        Some(self.identities().map(|i| (i.searched.clone(), i.ids.len())).map_err(|e| e.to_string()))
    }
}

/// A recipient as messages show it: post-quantum ones run to ~1,960 characters.
fn short(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Which kind of identity `keygen` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// X25519 (`AGE-SECRET-KEY-1…`, `age1…`): what every sops reads.
    X25519,
    /// ML-KEM-768 + X25519 hybrid (`AGE-SECRET-KEY-PQ-1…`, `age1pq1…`): sops 3.12+, Flux 2.9.
    PostQuantum,
}

/// A new identity: (file text in age-keygen's format, public recipient).
#[allow(deprecated)] // X25519 stays the default: sops before 3.12 reads nothing else
pub fn generate(kind: KeyKind) -> (Zeroizing<String>, String) {
    let (secret, public) = match kind {
        KeyKind::X25519 => {
            let id = age::x25519::Identity::generate();
            (Zeroizing::new(id.to_string().expose_secret().to_string()), id.to_public().to_string())
        }
        KeyKind::PostQuantum => {
            let id = age::pq::Identity::generate();
            (Zeroizing::new(id.to_string().expose_secret().to_string()), id.to_public().to_string())
        }
    };
    let created =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let text = Zeroizing::new(format!("# created: {created}\n# public key: {public}\n{}\n", secret.as_str()));
    (text, public)
}

/// The recipients (public keys) of the X25519 and post-quantum identities in an identity
/// file's text.
#[allow(deprecated)] // classic identities: see the module comment
pub fn recipients_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with("AGE-SECRET-KEY-PQ-") {
                l.parse::<age::pq::Identity>().ok().map(|id| id.to_public().to_string())
            } else {
                l.parse::<age::x25519::Identity>().ok().map(|id| id.to_public().to_string())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C2SP CCTV age vectors, as the `age` crate ships them in its crates.io package
    /// (`tests/testdata/testkit`): tresor's unwrap path (armor detection, identity parsing,
    /// payload read) must succeed exactly where the vector expects it, with the payload
    /// whose SHA-256 it names, and fail everywhere else.
    #[test]
    fn cctv_x25519_and_hybrid_vectors_through_tresors_unwrap() {
        use sha2::Digest;
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| home().map(|h| h.join(".cargo")))
            .expect("CARGO_HOME or HOME");
        let dir = std::fs::read_dir(home.join("registry/src"))
            .expect("the cargo registry")
            .flatten()
            .flat_map(|index| std::fs::read_dir(index.path()).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("age-0.13.")))
            .map(|p| p.join("tests/testdata/testkit"))
            .find(|p| p.is_dir())
            .expect("the age 0.13 crate's CCTV vectors in the cargo registry");
        let (mut checked, mut successes) = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("hybrid") || name.starts_with("x25519") || name == "armor_hybrid") {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            let split = bytes.windows(2).position(|w| w == b"\n\n").expect("headers end");
            let headers = std::str::from_utf8(&bytes[..split]).unwrap();
            let file = &bytes[split + 2..];
            let field = |k: &'static str| -> Vec<&str> {
                headers.lines().filter_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(": "))).collect()
            };
            if !field("compressed").is_empty() {
                continue;
            }
            let identities: String = field("identity").iter().map(|i| format!("{i}\n")).collect();
            let mut unavailable = Vec::new();
            let ids = match parse_identity_text(&identities, &name, &mut unavailable) {
                Ok(ids) => ids,
                Err(e) => panic!("{name}: identity refused: {e}"),
            };
            let ids = Identities { ids, searched: vec![name.clone()], unavailable };
            let expect = field("expect")[0];
            let got = unwrap_bytes(file, &ids);
            checked += 1;
            match (expect, got) {
                ("success", Ok(payload)) => {
                    let digest: String =
                        sha2::Sha256::digest(&payload[..]).iter().map(|b| format!("{b:02x}")).collect();
                    assert_eq!(Some(&digest.as_str()), field("payload").first(), "{name}");
                    successes += 1;
                }
                ("success", Err(e)) => panic!("{name}: expected success, got {e:?}"),
                ("no match", Err(KeyFailure::NoMatchingIdentity { .. })) => {}
                (other, Ok(_)) => panic!("{name}: expected {other}, but it decrypted"),
                (_, Err(_)) => {}
            }
        }
        assert!(checked >= 25 && successes >= 4, "{checked} vectors checked, {successes} successes");
    }
}
