//! `age-plugin-tresortest`: a TEST-ONLY age plugin, built by `cargo test` as an example,
//! so the suite can run tresor against a real plugin binary speaking the age plugin
//! protocol (as a YubiKey or TPM plugin would). It is NOT secure: the "wrapping" is a XOR
//! with a hash of the public recipient. Never use it for anything but tests.
//!
//! `age-plugin-tresortest --generate` prints a new identity and its recipient; age clients
//! run it with `--age-plugin=recipient-v1` or `--age-plugin=identity-v1`.

use std::collections::{HashMap, HashSet};
use std::io;

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::{self, RecipientPluginV1};
use age_plugin::{run_state_machine, Callbacks, PluginHandler};
use sha2::{Digest, Sha256};

const NAME: &str = "tresortest";
const TAG: &str = "tresortest";

/// The public recipient bytes of a secret identity.
fn public_of(secret: &[u8]) -> [u8; 32] {
    Sha256::digest([b"tresortest-public".as_slice(), secret].concat()).into()
}

fn pad(public: &[u8]) -> [u8; 32] {
    Sha256::digest([b"tresortest-pad".as_slice(), public].concat()).into()
}

fn xor(a: &[u8], b: &[u8; 32]) -> Vec<u8> {
    a.iter().zip(b.iter().cycle()).map(|(x, y)| x ^ y).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrapper;
    type IdentityV1 = Unwrapper;

    fn recipient_v1(self) -> io::Result<Wrapper> {
        Ok(Wrapper { recipients: Vec::new() })
    }

    fn identity_v1(self) -> io::Result<Unwrapper> {
        Ok(Unwrapper { secrets: Vec::new() })
    }
}

struct Wrapper {
    recipients: Vec<Vec<u8>>,
}

impl RecipientPluginV1 for Wrapper {
    fn add_recipient(&mut self, index: usize, plugin_name: &str, bytes: &[u8]) -> Result<(), recipient::Error> {
        if plugin_name != NAME || bytes.len() != 32 {
            return Err(recipient::Error::Recipient { index, message: "not a tresortest recipient".into() });
        }
        self.recipients.push(bytes.to_vec());
        Ok(())
    }

    fn add_identity(&mut self, index: usize, _: &str, _: &[u8]) -> Result<(), recipient::Error> {
        Err(recipient::Error::Identity { index, message: "identities are not used for encryption".into() })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        Ok(Ok(file_keys
            .iter()
            .map(|fk| {
                self.recipients
                    .iter()
                    .map(|r| Stanza { tag: TAG.into(), args: vec![hex(r)], body: xor(fk.expose_secret(), &pad(r)) })
                    .collect()
            })
            .collect()))
    }
}

struct Unwrapper {
    secrets: Vec<Vec<u8>>,
}

impl IdentityPluginV1 for Unwrapper {
    fn add_identity(&mut self, index: usize, plugin_name: &str, bytes: &[u8]) -> Result<(), identity::Error> {
        if plugin_name != NAME || bytes.len() != 32 {
            return Err(identity::Error::Identity { index, message: "not a tresortest identity".into() });
        }
        self.secrets.push(bytes.to_vec());
        Ok(())
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut out = HashMap::new();
        for (i, stanzas) in files.iter().enumerate() {
            for s in stanzas.iter().filter(|s| s.tag == TAG && s.body.len() == 16) {
                for secret in &self.secrets {
                    let public = public_of(secret);
                    if s.args.first() == Some(&hex(&public)) {
                        // What a hardware plugin would say before asking for a touch.
                        callbacks.message("tresortest: unwrapping with the test identity")?.ok();
                        let key = xor(&s.body, &pad(&public));
                        let mut fk = [0u8; 16];
                        fk.copy_from_slice(&key);
                        out.insert(i, Ok(FileKey::new(Box::new(fk))));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(sm) = args.iter().find_map(|a| a.strip_prefix("--age-plugin=")) {
        return run_state_machine(sm, Handler);
    }
    if args.iter().any(|a| a == "--generate") {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(io::Error::other)?;
        age_plugin::print_new_identity(NAME, &secret, &public_of(&secret));
        return Ok(());
    }
    eprintln!("age-plugin-tresortest: a test-only age plugin; run with --generate");
    std::process::exit(2)
}
