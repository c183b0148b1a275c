//! helm-secrets drives a `sops` binary (HELM_SECRETS_SOPS_PATH) with a small flag subset;
//! tresor accepts exactly those invocations, so `HELM_SECRETS_SOPS_PATH=tresor` works.

mod common;
use common::*;

#[test]
fn helm_secrets_decrypt_invocations() {
    let sb = Sandbox::new();
    let values = sb.write("secrets.yaml", "db:\n  password: hunter2\nreplicas: 2\n");
    sb.tresor().args(["encrypt", "-i", "--age", &recipient()]).arg(&values).ok();
    let enc = sb.read("secrets.yaml");
    // helm-secrets' "is it encrypted?" test: grep 'mac.*,type:str]' and a line `sops:`.
    assert!(enc.lines().any(|l| l.contains("mac") && l.ends_with(",type:str]")));
    assert!(enc.lines().any(|l| l == "sops:"));
    // sops --decrypt --input-type yaml --output-type yaml --output F FILE
    let out = sb.path("secrets.yaml.dec");
    sb.tresor()
        .args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml", "--output"])
        .arg(&out)
        .arg(&values)
        .ok();
    assert_eq!(sb.read("secrets.yaml.dec"), "db:\n  password: hunter2\nreplicas: 2\n");
    // sops --decrypt --input-type yaml --output-type yaml FILE (to stdout, the getter mode)
    let stdout = sb.tresor().args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml"]).arg(&values).ok();
    assert_eq!(stdout, "db:\n  password: hunter2\nreplicas: 2\n");
    // -d short form, in-place.
    let copy = sb.write("inplace.yaml", &enc);
    sb.tresor().args(["-d", "--in-place"]).arg(&copy).ok();
    assert_eq!(sb.read("inplace.yaml"), "db:\n  password: hunter2\nreplicas: 2\n");
    // Literals: --input-type json --output-type json /dev/stdin
    let lit = sb.tresor().args(["encrypt", "--input-type", "json", "--age", &recipient()]).stdin_text("{\"k\": \"v\"}");
    let lit = String::from_utf8(lit.stdout).unwrap();
    let dec =
        sb.tresor().args(["--decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin"]).stdin_text(&lit);
    assert_eq!(String::from_utf8(dec.stdout).unwrap(), "{\"k\": \"v\"}");
    // The same invocations against the real sops give the same data.
    let theirs = sb.sops().args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml"]).arg(&values).ok();
    assert_same_docs(&data(&theirs, "v.yaml"), &data(&stdout, "v.yaml"), "helm-secrets decrypt");
    // --encrypt in legacy form works too.
    let plain = sb.write("p.yaml", "a: b\n");
    let e = sb.tresor().args(["--encrypt", "--age", &recipient()]).arg(&plain).ok();
    assert!(e.contains("ENC[AES256_GCM"));
}
