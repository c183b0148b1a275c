//! Command-line definitions. Flag names follow sops where sops has the same flag, so
//! scripts and habits carry over.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tresor",
    version,
    about = "Encrypt the values of YAML/JSON/dotenv/INI files (and any binary file) in place, in the SOPS format",
    long_about = "tresor encrypts the values of YAML, JSON, dotenv and INI files (and binary files whole) \
and leaves keys, comments' positions and formatting as you wrote them, so encrypted secrets can live in Git \
with reviewable diffs. Files are in the SOPS format: sops, Flux and ksops read them, and tresor reads theirs. \
Keys: age (and age plugins), PGP through gpg, OpenBao/Vault transit, OVHcloud KMS.\n\n\
Quick start:\n  tresor keygen                       # create ~/.config/sops/age/keys.txt\n  \
tresor encrypt -i secret.yaml       # encrypt in place (your key, or --age / .sops.yaml)\n  \
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
    /// Make a new data key and re-encrypt every value (after a key may have leaked)
    Rotate(RotateArgs),
    /// Re-wrap the data key for the keys the .sops.yaml rules now name (values untouched)
    Updatekeys(UpdatekeysArgs),
    /// Set one value, e.g. tresor set f.yaml '["db"]["password"]' '"s3cret"' (VALUE is JSON)
    Set(SetArgs),
    /// Remove one key or list item
    Unset(UnsetArgs),
    /// Run a command with the file's top-level values as environment variables
    #[command(name = "exec-env")]
    ExecEnv(ExecEnvArgs),
    /// Run a command with the decrypted file available at a path ({} in the command)
    #[command(name = "exec-file")]
    ExecFile(ExecFileArgs),
    /// Report who holds each file's keys, under which jurisdiction, and how old the data keys are (no decryption)
    Audit(AuditArgs),
    /// Why can't it decrypt? Try every key of each file against the identities and key
    /// services found here, and check what a delivery tool needs (--target)
    Doctor(DoctorArgs),
    /// Kustomize KRM function / legacy exec plugin (same as the tresor-kustomize binary)
    Kustomize(KustomizeArgs),
    /// Find secrets in files, staged changes or Git history (gitleaks rules work too)
    Scan(ScanArgs),
    /// Combine the shard reports of `scan --repos` into incidents: one per secret (by its
    /// SHA-256, never the value) listing every repository and place it leaked
    Report(ReportArgs),
    /// Git hooks: `tresor hook install` adds a pre-commit hook that scans staged changes
    Hook(HookArgs),
    /// Git integration: a merge driver that merges encrypted files value by value, a diff
    /// driver that shows decrypted values to key holders and which values changed to
    /// everyone else, and a mergetool (`tresor git setup`, then Git as usual)
    Git(GitArgs),
    /// Show what changed between two versions of an encrypted file, decrypted for a key
    /// holder (each of A and B is a file or a Git revision:path such as HEAD~1:secrets.yaml)
    Diff(DiffArgs),
    /// Write a Helm plugin directory that makes `helm … -f tresor://FILE` decrypt FILE
    /// (then `helm plugin install DIR`); no shell script, the plugin runs this binary
    #[command(name = "helm-plugin")]
    HelmPlugin(HelmPluginArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (tresor.1 and one per subcommand) into a directory
    Man {
        /// Target directory
        #[arg(default_value = "man")]
        dir: PathBuf,
    },
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
    /// Input format; by default from the file name as sops
    /// picks it (.yaml/.yml, .json, .env, .ini; any other name is binary)
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
    /// Output format; defaults to the input format
    #[arg(long = "output-type", value_name = "TYPE", value_parser = store_type())]
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
    /// OpenBao/Vault transit keys: https://host:8200/v1/<engine>/keys/<name> (comma-separated)
    #[arg(long = "hc-vault-transit", env = "SOPS_VAULT_URIS", value_delimiter = ',', value_name = "URI")]
    pub hc_vault_transit: Vec<String>,
    /// OVHcloud KMS keys: https://<region>.okms.ovh.net/api/<okmsId>/v1/servicekey/<keyId> (comma-separated)
    #[arg(long = "okms", env = "TRESOR_OKMS_URIS", value_delimiter = ',', value_name = "URI")]
    pub okms: Vec<String>,
    /// Scaleway Key Manager keys: https://api.scaleway.com/key-manager/v1alpha1/regions/<region>/keys/<keyId> (comma-separated)
    #[arg(long = "scw-kms", env = "TRESOR_SCW_KMS_URIS", value_delimiter = ',', value_name = "URI")]
    pub scw_kms: Vec<String>,
    /// STACKIT KMS key versions: https://kms.api.stackit.cloud/v1/projects/<p>/regions/<r>/keyrings/<k>/keys/<id>/versions/<n> (comma-separated)
    #[arg(long = "stackit-kms", env = "TRESOR_STACKIT_KMS_URIS", value_delimiter = ',', value_name = "URI")]
    pub stackit_kms: Vec<String>,
    /// Huawei Cloud / Open Telekom Cloud KMS keys as sops names them: region:key-uuid (eu-de
    /// and eu-nl are Open Telekom Cloud) (comma-separated)
    #[arg(long = "hckms", env = "SOPS_HUAWEICLOUD_KMS_IDS", value_delimiter = ',', value_name = "REGION:KEY")]
    pub hckms: Vec<String>,
    /// PGP key fingerprints, used through gpg as sops does (comma-separated)
    #[arg(long = "pgp", short = 'p', env = "SOPS_PGP_FP", value_delimiter = ',', value_name = "FINGERPRINT")]
    pub pgp: Vec<String>,
    /// Use this .sops.yaml instead of searching upward from the file's directory
    #[arg(long = "config", env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Owner or contact recorded in clear in the metadata (shown by `tresor audit`)
    #[arg(long, value_name = "CONTACT")]
    pub owner: Option<String>,
}

impl KeyArgs {
    /// The key flags as (metadata list name, values), for `KeySpec::parse`: the service
    /// table (`tresor_keys::service::SERVICES`) names each row's flag, and a test checks
    /// that every one exists here.
    pub fn key_flags(&self) -> [(&'static str, &[String]); 7] {
        [
            ("hckms", &self.hckms),
            ("hc_vault", &self.hc_vault_transit),
            ("okms", &self.okms),
            ("scw_kms", &self.scw_kms),
            ("stackit_kms", &self.stackit_kms),
            ("age", &self.age),
            ("pgp", &self.pgp),
        ]
    }
}

impl RotateArgs {
    /// `--add-*` flags as (metadata list name, values).
    pub fn add_flags(&self) -> [(&'static str, &[String]); 7] {
        [
            ("age", &self.add_age),
            ("pgp", &self.add_pgp),
            ("hc_vault", &self.add_vault),
            ("okms", &self.add_okms),
            ("scw_kms", &self.add_scw_kms),
            ("stackit_kms", &self.add_stackit_kms),
            ("hckms", &self.add_hckms),
        ]
    }

    /// `--rm-*` flags as (metadata list name, values).
    pub fn rm_flags(&self) -> [(&'static str, &[String]); 7] {
        [
            ("age", &self.rm_age),
            ("pgp", &self.rm_pgp),
            ("hc_vault", &self.rm_vault),
            ("okms", &self.rm_okms),
            ("scw_kms", &self.rm_scw_kms),
            ("stackit_kms", &self.rm_stackit_kms),
            ("hckms", &self.rm_hckms),
        ]
    }
}

#[derive(Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// YAML: replace every alias (`*name`) with a copy of its anchored value before
    /// encrypting, as sops does (an alias cannot refer to a value once it is ciphertext, so
    /// tresor otherwise refuses). This changes the file: decrypting gives the expanded
    /// text. Each replacement is listed on stderr (lines, never values)
    #[arg(long = "expand-aliases")]
    pub expand_aliases: bool,
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
    /// Format of the file when the name does not tell
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
    /// Accepted as sops accepts it (helm-secrets passes both types); the file is written
    /// back in its own format, so this must name the same type
    #[arg(long = "output-type", value_name = "TYPE", value_parser = store_type())]
    pub output_type: Option<String>,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the identity [default: $SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt]
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Add the new identity to an existing key file (every later encryption without --age
    /// then encrypts to all of its identities)
    #[arg(long, conflicts_with = "force")]
    pub append: bool,
    /// Replace an existing key file (files encrypted only to its identities can no longer be
    /// decrypted with it)
    #[arg(long)]
    pub force: bool,
    /// A post-quantum hybrid identity (ML-KEM-768 + X25519, `age1pq1…`, ~2 KB recipient):
    /// safe against "harvest now, decrypt later"; read by sops 3.12+, ksops 4.5+, Flux 2.9+
    #[arg(long)]
    pub pq: bool,
}

#[derive(Args)]
pub struct FilestatusArgs {
    pub file: PathBuf,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
}

#[derive(Args)]
pub struct RotateArgs {
    /// Files to rotate (in place with -i or -r)
    pub files: Vec<PathBuf>,
    /// Write back to the file (default: print the rotated file)
    #[arg(short = 'i', long = "in-place", conflicts_with = "repos")]
    pub in_place: bool,
    /// Rotate every encrypted YAML/JSON file under this directory, in place
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    pub recursive: Option<PathBuf>,
    /// Add age recipients while rotating
    #[arg(long = "add-age", value_delimiter = ',', value_name = "RECIPIENT")]
    pub add_age: Vec<String>,
    /// Remove age recipients while rotating
    #[arg(long = "rm-age", value_delimiter = ',', value_name = "RECIPIENT")]
    pub rm_age: Vec<String>,
    /// Add transit keys while rotating
    #[arg(long = "add-hc-vault-transit", value_delimiter = ',', value_name = "URI")]
    pub add_vault: Vec<String>,
    /// Remove transit keys while rotating
    #[arg(long = "rm-hc-vault-transit", value_delimiter = ',', value_name = "URI")]
    pub rm_vault: Vec<String>,
    /// Add OVHcloud KMS keys while rotating
    #[arg(long = "add-okms", value_delimiter = ',', value_name = "URI")]
    pub add_okms: Vec<String>,
    /// Remove OVHcloud KMS keys while rotating
    #[arg(long = "rm-okms", value_delimiter = ',', value_name = "URI")]
    pub rm_okms: Vec<String>,
    /// Add Scaleway Key Manager keys while rotating
    #[arg(long = "add-scw-kms", value_delimiter = ',', value_name = "URI")]
    pub add_scw_kms: Vec<String>,
    /// Remove Scaleway Key Manager keys while rotating
    #[arg(long = "rm-scw-kms", value_delimiter = ',', value_name = "URI")]
    pub rm_scw_kms: Vec<String>,
    /// Add STACKIT KMS key versions while rotating
    #[arg(long = "add-stackit-kms", value_delimiter = ',', value_name = "URI")]
    pub add_stackit_kms: Vec<String>,
    /// Remove STACKIT KMS key versions while rotating
    #[arg(long = "rm-stackit-kms", value_delimiter = ',', value_name = "URI")]
    pub rm_stackit_kms: Vec<String>,
    /// Add Huawei Cloud / Open Telekom Cloud KMS keys (region:key-uuid) while rotating
    #[arg(long = "add-hckms", value_delimiter = ',', value_name = "REGION:KEY")]
    pub add_hckms: Vec<String>,
    /// Remove Huawei Cloud / Open Telekom Cloud KMS keys while rotating
    #[arg(long = "rm-hckms", value_delimiter = ',', value_name = "REGION:KEY")]
    pub rm_hckms: Vec<String>,
    /// Add PGP keys (fingerprints) while rotating
    #[arg(long = "add-pgp", value_delimiter = ',', value_name = "FINGERPRINT")]
    pub add_pgp: Vec<String>,
    /// Remove PGP keys (fingerprints) while rotating
    #[arg(long = "rm-pgp", value_delimiter = ',', value_name = "FINGERPRINT")]
    pub rm_pgp: Vec<String>,
    /// Remove keys tresor cannot wrap for (AWS/GCP/Azure KMS) instead of refusing:
    /// a new data key cannot be wrapped for them, and an entry holding the old one must go
    #[arg(long = "drop-unsupported-keys")]
    pub drop_unsupported_keys: bool,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub campaign: CampaignArgs,
}

/// A re-key campaign's flags, the same for `updatekeys` and `rotate`.
#[derive(Args, Clone)]
pub struct CampaignArgs {
    /// A campaign: every encrypted file of each repository listed in FILE (work trees or
    /// bare mirrors, one per line, relative to FILE), committed on a new branch (--branch)
    /// for multi-gitter or git-xargs to push; a JSON summary per repository
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "recursive"], requires = "branch")]
    pub repos: Option<PathBuf>,
    /// With --repos: the branch to create in each repository that needs a change
    #[arg(long, value_name = "NAME", requires = "repos")]
    pub branch: Option<String>,
    /// With --repos: only shard I of N (as `scan --repos --shard`)
    #[arg(long, value_name = "I/N", requires = "repos")]
    pub shard: Option<String>,
    /// With --repos: write the JSON summary here instead of standard output
    #[arg(long, value_name = "FILE", requires = "repos")]
    pub summary: Option<PathBuf>,
}

#[derive(Args)]
pub struct UpdatekeysArgs {
    /// Files to update
    pub files: Vec<PathBuf>,
    /// Update every encrypted YAML/JSON file under this directory
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    pub recursive: Option<PathBuf>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Use this .sops.yaml instead of searching upward from each file
    #[arg(long = "config", env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub campaign: CampaignArgs,
}

#[derive(Args)]
pub struct SetArgs {
    pub file: PathBuf,
    /// Path in --extract syntax: '["a"]["b"]' or '["list"][0]'
    pub path: String,
    /// The new value as JSON ('"text"', 42, true, {"k": "v"}); omit with --value-stdin/--value-file
    pub value: Option<String>,
    /// Read the value (JSON) from standard input, so it never appears in argv
    #[arg(long = "value-stdin", conflicts_with_all = ["value", "value_file"])]
    pub value_stdin: bool,
    /// Read the value (JSON) from a file
    #[arg(long = "value-file", conflicts_with = "value")]
    pub value_file: Option<PathBuf>,
    /// Treat the value as a raw string instead of JSON
    #[arg(long)]
    pub raw: bool,
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
}

#[derive(Args)]
pub struct UnsetArgs {
    pub file: PathBuf,
    pub path: String,
    /// Succeed when the path does not exist
    #[arg(long)]
    pub idempotent: bool,
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
}

#[derive(Args)]
pub struct ExecEnvArgs {
    pub file: PathBuf,
    /// The command, run with `sh -c`
    pub command: String,
    /// Start from an empty environment (only the file's values)
    #[arg(long)]
    pub pristine: bool,
    /// Replace every secret value (and its base64 and URL-encoded forms) in the command's
    /// stdout and stderr with *** (as CI systems mask secrets); values under 4 bytes are
    /// left alone
    #[arg(long)]
    pub mask: bool,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
}

#[derive(Args)]
pub struct ExecFileArgs {
    pub file: PathBuf,
    /// The command, run with `sh -c`; {} is replaced by the path of the plaintext
    pub command: String,
    /// Write a temporary file (0600, on tmpfs) instead of a FIFO, for programs that seek
    #[arg(long = "no-fifo")]
    pub no_fifo: bool,
    /// File name for the plaintext (decides its extension)
    #[arg(long)]
    pub filename: Option<String>,
    /// Replace every secret value (and its base64 and URL-encoded forms) in the command's
    /// stdout and stderr with ***; values under 4 bytes are left alone
    #[arg(long)]
    pub mask: bool,
    #[arg(long = "output-type", value_name = "TYPE", value_parser = store_type())]
    pub output_type: Option<String>,
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
}

#[derive(Args, Clone)]
pub struct AuditArgs {
    /// Files to audit
    pub paths: Vec<PathBuf>,
    /// Audit every SOPS file under this directory
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    pub recursive: Option<PathBuf>,
    /// Output: table (for people), json (for machines), markdown (evidence for a risk register)
    #[arg(long, default_value = "table", value_parser = ["table", "json", "markdown"])]
    pub format: String,
    /// Policy file (tresor.toml with [policy], or a .sops.yaml with policy:); default: found upward
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Write the report to a file instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Instead of the key report: when each encrypted value last changed, from the Git
    /// history of HEAD (first parent), without a key — unchanged ciphertext means an
    /// unchanged value; `exact: false` where a re-encryption may hide an older one
    #[arg(long = "value-age")]
    pub value_age: bool,
    /// Instead of the key report: what the holder of this key (an age recipient, a PGP
    /// fingerprint, a transit/KMS key as its flag takes it) could read in the Git history
    /// and is still current — values to rotate after someone leaves or a key is lost.
    /// Exits 10 (policy violation) when some value must rotate
    #[arg(long = "exposed-to", value_name = "KEY", conflicts_with = "value_age")]
    pub exposed_to: Option<String>,
    /// Instead of the key report: harvest now, decrypt later. Which files a classical wrap
    /// (age X25519, SSH, PGP) can open, which current values ever sat in such a revision
    /// in the Git history, and the keys to replace. Exits 10 when anything needs doing
    #[arg(long = "post-quantum", conflicts_with_all = ["value_age", "exposed_to"])]
    pub post_quantum: bool,
    /// Instead of the key report: the same secret in several places (files, paths), found by
    /// decrypting with the keys here and comparing keyed hashes in memory (never printed,
    /// never stored); values under 8 bytes are not compared. Exits 10 when copies exist
    #[arg(long = "copies", conflicts_with_all = ["value_age", "exposed_to", "post_quantum", "with_keys"])]
    pub copies: bool,
    /// With --value-age, --exposed-to or --post-quantum: where a value's ciphertext changed, decrypt both
    /// versions with the keys found here and compare (never printed), so every date is
    /// exact and every exposure decided where they open
    #[arg(long = "with-keys")]
    pub with_keys: bool,
    /// With --value-age: only values unchanged for more than this many days
    #[arg(long = "older-than", value_name = "DAYS", requires = "value_age")]
    pub older_than: Option<u32>,
    /// Audit each repository listed in FILE (work trees, bare mirrors or clone URLs, one
    /// per line, relative to FILE) as with -r, every report mode included; JSON gathers
    /// them as [{"repository", "report"}]
    #[arg(long, value_name = "FILE", conflicts_with_all = ["paths", "recursive"])]
    pub repos: Option<PathBuf>,
    /// With --repos: only shard I of N (as `scan --repos --shard`)
    #[arg(long, value_name = "I/N", requires = "repos")]
    pub shard: Option<String>,
    /// With --repos: give up a clone that takes longer than this many seconds (the
    /// repository is reported, not dropped)
    #[arg(long = "clone-timeout", value_name = "SECS", default_value_t = 600, requires = "repos")]
    pub clone_timeout: u64,
}

#[derive(Args)]
#[command(after_help = "Exit codes: 0 every file opens here (and passes the --target checks); \
1 a --target check failed; 128 a file no identity or key service here can open.\n\
Examples:\n  tresor doctor secrets/db.enc.yaml\n  tresor doctor --target flux clusters/prod/*.yaml\n  \
tresor doctor --format json app.enc.yaml")]
pub struct DoctorArgs {
    /// Encrypted files to diagnose
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also check what this delivery tool needs of the files
    #[arg(long, value_parser = ["flux", "argocd", "ksops", "kpt", "helm"])]
    pub target: Option<String>,
    /// Output: text (for people) or json (for machines)
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Format of the files when the names do not tell
    #[arg(long = "input-type", value_name = "TYPE", value_parser = store_type())]
    pub input_type: Option<String>,
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  tresor helm-plugin ~/.local/share/tresor/helm-plugin && helm plugin install ~/.local/share/tresor/helm-plugin\n  \
helm template app ./chart -f tresor://secrets/values.enc.yaml"
)]
pub struct HelmPluginArgs {
    /// The directory to write (created; must not hold another plugin)
    pub dir: PathBuf,
    /// Plugin manifest format: legacy (Helm 3 downloader, which Helm 4 also loads) or
    /// v1 (Helm 4's `getter/v1`)
    #[arg(long, default_value = "legacy", value_parser = ["legacy", "v1"])]
    pub manifest: String,
}

#[derive(Args)]
pub struct GitArgs {
    #[command(subcommand)]
    pub action: GitAction,
}

#[derive(Subcommand)]
pub enum GitAction {
    /// Configure the `tresor` diff and merge drivers: `git config diff.tresor.textconv`,
    /// `merge.tresor.driver` and `.gitattributes` lines for the encrypted files Git tracks
    /// (and --pattern globs)
    Setup {
        /// Only report what is missing (exit 1 when something is)
        #[arg(long)]
        check: bool,
        /// Configure the driver in the global Git config instead of the repository's
        #[arg(long)]
        global: bool,
        /// Also mark files matching this .gitattributes pattern (e.g. 'secrets/*.yaml')
        #[arg(long, value_name = "GLOB")]
        pattern: Vec<String>,
    },
    /// Git's textconv: print FILE decrypted (to stdout only) when a key here opens it, else
    /// with every ciphertext shown as a short digest, so a diff names the changed values
    Textconv {
        /// The file Git hands over (a temporary copy of one version)
        file: PathBuf,
    },
    /// Git's merge driver (`%O %A %B %P`): merge three versions value by value and write
    /// the encrypted result over OURS; on a conflict OURS stays as it was and the exit code
    /// is 1 (resolve with `tresor git mergetool PATH`). Writes no plaintext anywhere.
    #[command(name = "merge-driver")]
    MergeDriver {
        /// The common ancestor's version (%O)
        base: PathBuf,
        /// Our version (%A), replaced by the result
        ours: PathBuf,
        /// Their version (%B)
        theirs: PathBuf,
        /// The file's path in the repository (%P), for its format and messages
        path: PathBuf,
    },
    /// Resolve a conflicted encrypted file: the three versions Git holds are decrypted in
    /// memory and opened in $EDITOR on tmpfs with conflict markers around the values; the
    /// result is encrypted, written over FILE and staged with `git add`
    Mergetool {
        /// The conflicted file
        file: PathBuf,
        /// Whose keys and encryption rules the result keeps when the sides differ there
        /// (the merge driver never chooses on its own: a branch written without any key can
        /// add a recipient or make a value clear). Check that side's recipients first
        #[arg(long, value_enum, value_name = "SIDE")]
        keys: Option<KeySide>,
    },
}

/// One side of a merge.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum KeySide {
    /// The branch you are on (in a rebase: the branch you rebase onto)
    Ours,
    /// The branch being merged in (in a rebase: your commit being replayed)
    Theirs,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The old version: a file, or REV:PATH for a version Git holds
    pub a: String,
    /// The new version: a file, or REV:PATH
    pub b: String,
    /// Input type when the name does not tell
    #[arg(long)]
    pub input_type: Option<String>,
}

#[derive(Args)]
pub struct KustomizeArgs {
    /// Legacy exec-plugin mode: the generator config file; omit to read a ResourceList on stdin
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub action: ReportAction,
}

#[derive(Subcommand)]
pub enum ReportAction {
    /// Merge shard reports (`tresor scan --repos … --format json`) into incidents
    Merge {
        /// The shard reports
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// json: incidents with every place; sarif: every finding, for code scanning; text: for people
        #[arg(long, short = 'f', default_value = "json", value_parser = ["json", "sarif", "text"])]
        format: String,
        /// Write the merged report to a file instead of standard output
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Exit code when there are incidents (as `scan --exit-code`)
        #[arg(long = "exit-code", default_value_t = 1)]
        exit_code: i32,
        /// A previous report (a merged fleet report's findings, or `scan --format json`): its
        /// findings do not count again, each in its own repository
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct ScanArgs {
    /// Files or directories to scan (default: the current directory); .gitignore is respected.
    /// With --git, --range or --staged: the repository to scan (default: the one you are in)
    pub paths: Vec<PathBuf>,
    /// Scan the staged changes (the index), for pre-commit hooks
    #[arg(long, conflicts_with_all = ["git", "range"])]
    pub staged: bool,
    /// Scan the full Git history of the repository (every unique blob once)
    #[arg(long)]
    pub git: bool,
    /// Scan a container image: an OCI layout directory, an oci-archive or a `docker save`
    /// tarball (every layer's files, deleted ones included, the config's Env and history)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["git", "range", "staged"])]
    pub image: Option<PathBuf>,
    /// Scan the Git history of every repository listed in FILE (work trees, bare mirrors or
    /// clone URLs, one per line, relative to FILE; - reads standard input), each finding
    /// naming its repository; with --shard only this shard's share
    #[arg(long, value_name = "FILE", conflicts_with_all = ["staged", "image", "paths"])]
    pub repos: Option<PathBuf>,
    /// With --repos: scan shard I of N (1-based), chosen by a stable hash of each
    /// repository's name, so every repository lands in exactly one shard. Default: a
    /// Kubernetes Indexed Job's JOB_COMPLETION_INDEX with TRESOR_SHARD_COUNT, or GitLab's
    /// CI_NODE_INDEX/CI_NODE_TOTAL
    #[arg(long, value_name = "I/N", requires = "repos")]
    pub shard: Option<String>,
    /// With --repos: give up a clone that takes longer than this many seconds (the
    /// repository is reported as not scanned, never dropped)
    #[arg(long = "clone-timeout", value_name = "SECS", default_value_t = 600, requires = "repos")]
    pub clone_timeout: u64,
    /// Scan a commit range instead of all history, e.g. origin/main..HEAD
    #[arg(long, value_name = "RANGE")]
    pub range: Option<String>,
    /// Output format
    #[arg(long, short = 'f', default_value = "text", value_parser = ["text", "json", "sarif", "junit"])]
    pub format: String,
    /// Write the report here (the text summary still goes to stderr)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Rules in gitleaks' TOML format (default: $BETTERLEAKS_CONFIG, $GITLEAKS_CONFIG, or .tresor-scan.toml, .gitleaks.toml, .betterleaks.toml in the repository, else tresor's rules)
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A previous JSON report: findings in it do not count
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// A file of finding fingerprints or secret SHA-256s to ignore (besides .tresorignore, .gitleaksignore, .betterleaksignore)
    #[arg(long = "ignore-file", value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// Only check that files .sops.yaml rules cover are encrypted
    #[arg(long = "guard-only")]
    pub guard_only: bool,
    /// Skip the Helm values analyzer
    #[arg(long = "no-helm")]
    pub no_helm: bool,
    /// Skip the Dockerfile analyzer
    #[arg(long = "no-dockerfile")]
    pub no_dockerfile: bool,
    /// Skip the must-be-encrypted guard
    #[arg(long = "no-guard")]
    pub no_guard: bool,
    /// Lowest confidence to report. high: a provider prefix with a verified checksum or a
    /// structure nothing else has (private keys, AKIA…); medium: provider-specific by
    /// context, and generic assignments in configuration files; low: generic assignments in
    /// code, tests and examples, and tokens whose checksum fails. Findings below it are
    /// counted on stderr, never reported or failing the scan
    #[arg(long, value_name = "TIER", default_value = "medium", value_parser = confidence_tier())]
    pub confidence: String,
    /// Exit code when leaks are found. 0 lets leaks pass (a fleet shard whose merge
    /// decides), but a scan that skipped something still exits 11
    #[arg(long = "exit-code", default_value_t = 1)]
    pub exit_code: i32,
}

/// `--confidence` values: the scanner's own tiers.
fn confidence_tier() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(tresor_scan::finding::Confidence::ALL.map(|c| c.name()))
}

#[derive(Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub action: HookAction,
}

#[derive(Subcommand)]
pub enum HookAction {
    /// Install a Git pre-commit hook that runs `tresor scan --staged`
    Install {
        /// Replace an existing pre-commit hook
        #[arg(long)]
        force: bool,
    },
}

/// The `--input-type`/`--output-type` values: the store table's names, so help, completions
/// and the parser list exactly the formats that exist.
fn store_type() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(tresor_sops::store::names())
}
