//! Command-line definitions. Flag names follow sops where sops has the same flag, so
//! scripts and habits carry over.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tresor",
    version,
    about = "Encrypt the values of YAML/JSON files in place, in the SOPS format",
    long_about = "tresor encrypts the values of YAML and JSON files and leaves keys, comments' \
positions and formatting as you wrote them, so encrypted secrets can live in Git with reviewable diffs. \
Files are in the SOPS format: sops, Flux and ksops read them, and tresor reads theirs.\n\n\
Quick start:\n  tresor keygen                       # create ~/.config/sops/age/keys.txt\n  \
tresor encrypt -i secret.yaml       # encrypt in place (to your key unless --age/.sops.yaml say otherwise)\n  \
tresor decrypt secret.yaml          # print the plaintext\n  tresor edit secret.yaml             # edit in $EDITOR, plaintext only on tmpfs",
    after_help = "Exit codes follow sops (see docs/exit-codes.md): 0 ok, 1 generic, 2 bad input, 23 encrypt error, \
25 decrypt error, 51 MAC mismatch, 100 file not found, 128 no key could unwrap the data key, 200 edit without changes, 203 already encrypted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Encrypt a file's values (keys and structure stay readable)
    Encrypt(EncryptArgs),
    /// Decrypt a file, verifying its MAC
    Decrypt(DecryptArgs),
    /// Edit an encrypted file in $EDITOR; unchanged values keep their ciphertext
    Edit(EditArgs),
    /// Create an age identity where tresor and sops look for it
    Keygen(KeygenArgs),
    /// Print {"encrypted":true|false} for a file
    Filestatus(FilestatusArgs),
}

#[derive(Args, Clone, Default)]
pub struct IoArgs {
    /// Input file; reads standard input when omitted or "-"
    pub file: Option<PathBuf>,
    /// Write the result back to the input file (atomically, keeping its mode)
    #[arg(short = 'i', long = "in-place", conflicts_with = "output")]
    pub in_place: bool,
    /// Write the result to this file instead of standard output
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Input format (yaml or json); guessed from the file name otherwise
    #[arg(long = "input-type", value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (yaml or json); defaults to the input format
    #[arg(long = "output-type", value_name = "TYPE")]
    pub output_type: Option<String>,
    /// File name used to guess the format (and match .sops.yaml rules) for standard input
    #[arg(long = "filename-override", value_name = "NAME")]
    pub filename_override: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
pub struct KeyArgs {
    /// age recipients to encrypt to (comma-separated age1… or ssh-ed25519 keys)
    #[arg(short = 'a', long = "age", env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',', value_name = "RECIPIENT")]
    pub age: Vec<String>,
    /// Only encrypt values whose key path has a key with this suffix
    #[arg(long = "encrypted-suffix", value_name = "SUFFIX", group = "rule")]
    pub encrypted_suffix: Option<String>,
    /// Leave values in clear when a key on their path has this suffix [default: _unencrypted]
    #[arg(long = "unencrypted-suffix", value_name = "SUFFIX", group = "rule")]
    pub unencrypted_suffix: Option<String>,
    /// Only encrypt values whose key path has a key matching this regex (e.g. '^(data|stringData)$')
    #[arg(long = "encrypted-regex", value_name = "REGEX", group = "rule")]
    pub encrypted_regex: Option<String>,
    /// Leave values in clear when a key on their path matches this regex
    #[arg(long = "unencrypted-regex", value_name = "REGEX", group = "rule")]
    pub unencrypted_regex: Option<String>,
    /// Only encrypt values preceded by a comment matching this regex
    #[arg(long = "encrypted-comment-regex", value_name = "REGEX", group = "rule")]
    pub encrypted_comment_regex: Option<String>,
    /// Leave values in clear when preceded by a comment matching this regex
    #[arg(long = "unencrypted-comment-regex", value_name = "REGEX", group = "rule")]
    pub unencrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only (clear values may then change freely)
    #[arg(long = "mac-only-encrypted")]
    pub mac_only_encrypted: bool,
    /// Number of key groups needed to decrypt (with several key groups)
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<usize>,
}

#[derive(Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    /// Print only this part of the document, e.g. '["data"]["password"]' (scalars print raw, without newline)
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Decrypt even if the MAC does not match (the file was changed outside a SOPS tool)
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
}

#[derive(Args)]
pub struct EditArgs {
    /// The encrypted file (created if it does not exist)
    pub file: PathBuf,
    /// Edit even if the MAC does not match
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
    /// Format of the file when the name does not tell (yaml or json)
    #[arg(long = "input-type", value_name = "TYPE")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the identity [default: $SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt]
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct FilestatusArgs {
    pub file: PathBuf,
    #[arg(long = "input-type", value_name = "TYPE")]
    pub input_type: Option<String>,
}
