//! The key-service seam seen from outside: master keys of kinds tresor has no client for
//! (here AWS KMS) are kept byte-for-byte by every rewrite that keeps the data key, refused
//! by rotation unless dropped on purpose, and parsed from `.sops.yaml` in every form sops
//! accepts; unknown key types are errors, not silently lost keys.

use crate::common::*;

const ARN: &str = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn aws_entry() -> String {
    format!("    kms:\n        - arn: {ARN}\n          created_at: \"2026-01-01T00:00:00Z\"\n          enc: AQICAHhKeptAsIs\n          aws_profile: \"\"\n")
}

/// An age-encrypted file with an AWS KMS entry added by hand (sops writes `kms` first).
fn file_with_aws_key(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let p = sb.write(name, "user: admin\npassword: hunter2\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&p).ok();
    let enc = sb.read(name).replacen("sops:\n", &format!("sops:\n{}", aws_entry()), 1);
    sb.write(name, &enc)
}

#[test]
fn set_and_updatekeys_keep_an_aws_kms_entry_byte_for_byte() {
    let sb = Sandbox::new();
    let p = file_with_aws_key(&sb, "app.yaml");
    sb.tresor().arg("set").arg(&p).args(["[\"user\"]", "\"root\""]).ok();
    assert!(sb.read("app.yaml").contains(&aws_entry()), "{}", sb.read("app.yaml"));
    // The rule names the same AWS key (sops' structured key-group form) and a second
    // age recipient: only the new recipient is wrapped, the AWS entry stays as it was.
    let r2 = recipient_of(&testdata("keys/age-test2.txt"));
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - key_groups:\n      - kms:\n          - arn: {ARN}\n        age: [{}, {r2}]\n",
            recipient()
        ),
    );
    let out = sb.tresor().args(["updatekeys", "--yes"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = sb.read("app.yaml");
    assert!(after.contains(&aws_entry()), "{after}");
    assert!(after.contains(&r2), "{after}");
    // The real sops opens it with the new recipient's identity (it tries age first).
    let mut s = sb.sops();
    s.env("SOPS_AGE_KEY_FILE", testdata("keys/age-test2.txt"));
    assert_eq!(s.arg("decrypt").arg(&p).ok(), "user: root\npassword: hunter2\n");
    // Nothing to do the second time.
    let out = sb.tresor().args(["updatekeys", "--yes"]).arg(&p).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 file(s), 1 unchanged"), "{out:?}");
}

#[test]
fn rotate_refuses_keys_it_cannot_rewrap_unless_told_to_drop_them() {
    let sb = Sandbox::new();
    let p = file_with_aws_key(&sb, "app.yaml");
    let before = sb.read("app.yaml");
    let err = sb.tresor().args(["rotate", "-i"]).arg(&p).fails_with(1);
    assert!(err.contains(&format!("kms {ARN}")) && err.contains("--drop-unsupported-keys"), "{err}");
    assert_eq!(sb.read("app.yaml"), before, "nothing written");
    let out = sb.tresor().args(["rotate", "-i", "--drop-unsupported-keys"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(warn.contains("dropping keys tresor cannot wrap for") && warn.contains(ARN), "{warn}");
    let after = sb.read("app.yaml");
    assert!(!after.contains("kms:") && !after.contains("AQICAHhKeptAsIs"), "{after}");
    assert_eq!(sb.sops().arg("decrypt").arg(&p).ok(), "user: admin\npassword: hunter2\n");
}

#[test]
fn sops_yaml_key_types_tresor_cannot_wrap_for_or_does_not_know_are_errors() {
    let sb = Sandbox::new();
    let p = sb.write("a.yaml", "a: b\n");
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - key_groups:\n      - age: [{}]\n        gcp_kms:\n          - resource_id: projects/p/locations/l/keyRings/r/cryptoKeys/k\n", recipient()),
    );
    let err = sb.tresor().args(["encrypt", "-i"]).arg(&p).fails_with(128);
    assert!(
        err.contains("gcp_kms projects/p/locations/l/keyRings/r/cryptoKeys/k")
            && err.contains("key type 'gcp_kms' is not supported by tresor"),
        "{err}"
    );
    assert_eq!(sb.read("a.yaml"), "a: b\n");
    sb.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - key_groups:\n      - age: [{}]\n        agee: [x]\n", recipient()),
    );
    let err = sb.tresor().args(["encrypt", "-i"]).arg(&p).fails_with(5);
    assert!(err.contains("unknown key type 'agee'"), "{err}");
    assert_eq!(sb.read("a.yaml"), "a: b\n");
    // A mapping where keys belong is not "no keys" (which would fall back to the default
    // identity): it is an error naming the key type.
    sb.write(".sops.yaml", "creation_rules:\n  - age: {recipient: x}\n");
    let err = sb.tresor().args(["encrypt", "-i"]).arg(&p).fails_with(5);
    assert!(err.contains("`age` must be a string or a list of keys"), "{err}");
    assert_eq!(sb.read("a.yaml"), "a: b\n");
}

#[test]
fn every_service_with_a_flag_has_it_on_encrypt_and_rotate() {
    let sb = Sandbox::new();
    let encrypt = sb.tresor().args(["encrypt", "--help"]).ok();
    let rotate = sb.tresor().args(["rotate", "--help"]).ok();
    for row in &tresor_keys::service::SERVICES {
        let Some(flag) = row.flag else { continue };
        assert!(encrypt.contains(&format!("{flag} <")), "encrypt lacks {flag}");
        let name = flag.trim_start_matches("--");
        assert!(
            rotate.contains(&format!("--add-{name}")) && rotate.contains(&format!("--rm-{name}")),
            "rotate lacks {name}"
        );
    }
}
