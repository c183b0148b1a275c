//! The exit codes, in one table. Where sops has a code for a failure, tresor uses the same
//! number under the same name (sops' `cmd/sops/codes/codes.go`), so scripts written
//! against sops keep working; tresor's own codes follow. `docs/exit-codes.md` documents
//! each (a test checks that every code here appears there).

/// Success.
pub const OK: i32 = 0;
/// Any other error: no metadata, bad recipient, path not found, unwritable output.
pub const ERROR_GENERIC: i32 = 1;
/// The input cannot be read or parsed.
pub const COULD_NOT_READ_INPUT_FILE: i32 = 2;
/// The output cannot replace the file (read-only, links, changed meanwhile).
pub const COULD_NOT_WRITE_OUTPUT_FILE: i32 = 3;
/// Invalid `.sops.yaml`, encryption rule or audit policy.
pub const ERROR_READING_CONFIG: i32 = 5;
/// Options that cannot go together.
pub const ERROR_CONFLICTING_PARAMETERS: i32 = 8;
/// `audit`: a file violates the policy (tresor).
pub const POLICY_VIOLATION: i32 = 10;
/// A value cannot be encrypted, or the encrypted output failed its check.
pub const ERROR_ENCRYPTING_TREE: i32 = 23;
/// A value cannot be decrypted, or the plaintext failed its check.
pub const ERROR_DECRYPTING_TREE: i32 = 25;
/// The MAC does not match the values.
pub const MAC_MISMATCH: i32 = 51;
/// The file has no MAC.
pub const MAC_NOT_FOUND: i32 = 52;
/// The `.sops.yaml` given cannot be read.
pub const CONFIG_FILE_NOT_FOUND: i32 = 61;
/// A malformed `--extract`/`set` path.
pub const INVALID_TREE_PATH_FORMAT: i32 = 91;
/// The input has no document.
pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
/// The input file does not exist, or none was given.
pub const NO_FILE_SPECIFIED: i32 = 100;
/// No key to encrypt to.
pub const NO_ENCRYPTION_KEY_FOUND: i32 = 111;
/// No master key could unwrap (or wrap) the data key.
pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
/// `scan`: no leak found, but something was not scanned (a cap reached, a format not
/// supported, a file unreadable); the summary names each. Never reported as clean.
pub const SCAN_INCOMPLETE: i32 = 11;
/// `edit`: the file was not changed.
pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
/// `edit`: no editor, or the editor failed.
pub const NO_EDITOR_FOUND: i32 = 201;
/// The file is already encrypted.
pub const FILE_ALREADY_ENCRYPTED: i32 = 203;

/// Every code with its name, for documentation checks.
pub const ALL: [(&str, i32); 22] = [
    ("OK", OK),
    ("ERROR_GENERIC", ERROR_GENERIC),
    ("COULD_NOT_READ_INPUT_FILE", COULD_NOT_READ_INPUT_FILE),
    ("COULD_NOT_WRITE_OUTPUT_FILE", COULD_NOT_WRITE_OUTPUT_FILE),
    ("ERROR_READING_CONFIG", ERROR_READING_CONFIG),
    ("ERROR_CONFLICTING_PARAMETERS", ERROR_CONFLICTING_PARAMETERS),
    ("POLICY_VIOLATION", POLICY_VIOLATION),
    ("SCAN_INCOMPLETE", SCAN_INCOMPLETE),
    ("ERROR_ENCRYPTING_TREE", ERROR_ENCRYPTING_TREE),
    ("ERROR_DECRYPTING_TREE", ERROR_DECRYPTING_TREE),
    ("MAC_MISMATCH", MAC_MISMATCH),
    ("MAC_NOT_FOUND", MAC_NOT_FOUND),
    ("CONFIG_FILE_NOT_FOUND", CONFIG_FILE_NOT_FOUND),
    ("INVALID_TREE_PATH_FORMAT", INVALID_TREE_PATH_FORMAT),
    ("NEED_AT_LEAST_ONE_DOCUMENT", NEED_AT_LEAST_ONE_DOCUMENT),
    ("NO_FILE_SPECIFIED", NO_FILE_SPECIFIED),
    ("NO_ENCRYPTION_KEY_FOUND", NO_ENCRYPTION_KEY_FOUND),
    ("COULD_NOT_RETRIEVE_KEY", COULD_NOT_RETRIEVE_KEY),
    ("FILE_HAS_NOT_BEEN_MODIFIED", FILE_HAS_NOT_BEEN_MODIFIED),
    ("NO_EDITOR_FOUND", NO_EDITOR_FOUND),
    ("FILE_ALREADY_ENCRYPTED", FILE_ALREADY_ENCRYPTED),
    ("SIGNAL_BASE", 128),
];
