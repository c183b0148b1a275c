//! `scan --image` on hostile and unusual images, built here by hand in the OCI layout as
//! the tools write them: memory stays bounded when a small archive expands to gigabytes, a
//! token in a file over 32 MiB is found, buildx attestation manifests do not stop the scan
//! (and are scanned), symlinks in a layout are never followed, and an index or manifest
//! tresor cannot interpret is an error — never "no leaks found" with exit 0.

use crate::common::*;
use std::process::Output;

const TOKEN: &str = "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";

/// Shell helpers: `add FILE` stores a blob and prints its digest; `image DIR CONFIG LAYERS…`
/// writes the manifest and index of a one-image layout (layers as `mediatype=digest`).
const PRELUDE: &str = r#"set -e
add() { d=$(sha256sum "$1" | cut -d' ' -f1); mkdir -p img/blobs/sha256; cp "$1" "img/blobs/sha256/$d"; echo "$d"; }
manifest() { # CONFIG_DIGEST LAYER_JSON...
  local c=$1; shift; local IFS=,
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":1},"layers":[%s]}' "$c" "$*" > manifest.json.tmp
  add manifest.json.tmp
}
layer() { printf '{"mediaType":"%s","digest":"sha256:%s","size":1}' "$1" "$2"; }
index() { local IFS=,; printf '{"schemaVersion":2,"manifests":[%s]}' "$*" > img/index.json; echo '{"imageLayoutVersion":"1.0.0"}' > img/oci-layout; }
desc() { printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1%s}' "$1" "${2:-}"; }
echo '{"config":{"Env":["PATH=/usr/bin"]}}' > config
"#;

fn build(sb: &Sandbox, script: &str) {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .current_dir(sb.dir.path())
        .env("TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn scan(sb: &Sandbox, target: &str, limit_kib: Option<u64>) -> (Output, Vec<String>) {
    let bin = env!("CARGO_BIN_EXE_tresor");
    let cmd = match limit_kib {
        // A hard cap on the address space: a scan that holds what it decompresses dies.
        Some(kib) => format!("ulimit -v {kib}; exec '{bin}' scan --format json --image {target}"),
        None => format!("exec '{bin}' scan --format json --image {target}"),
    };
    let out = std::process::Command::new("bash").arg("-c").arg(cmd).current_dir(sb.dir.path()).output().unwrap();
    let files = serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .map(|v| v.iter().map(|f| f["File"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default();
    (out, files)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_decompression_bomb_stays_bounded_and_is_reported_not_clean() {
    let sb = Sandbox::new();
    // 16 files of 32 MiB of zeros: 512 MiB from a ~0.5 MiB gzip layer.
    build(
        &sb,
        r#"mkdir -p bomb && for i in $(seq 1 16); do head -c 33554432 /dev/zero > bomb/f$i; done
tar -C bomb -cf - . | gzip -1 > layer && rm -r bomb
c=$(add config); l=$(add layer)
m=$(manifest "$c" "$(layer application/vnd.oci.image.layer.v1.tar+gzip "$l")")
index "$(desc "$m")"
"#,
    );
    let (out, _) = scan(&sb, "img", Some(600 * 1024));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(err.contains("not scanned: layer ") && err.contains("a decompression bomb?"), "{err}");
    assert!(err.contains("no leaks found in what was scanned, but 1 part(s) were not scanned"), "{err}");
}

#[test]
fn a_token_in_a_layer_file_over_32_mib_is_found() {
    let sb = Sandbox::new();
    build(
        &sb,
        r#"mkdir -p big/app && { yes 'log line, nothing to see' | head -c 41943040; printf 'GITHUB_TOKEN=%s\n' "$TOKEN"; } > big/app/big.log
tar -C big -cf - app | gzip -1 > layer
c=$(add config); l=$(add layer)
m=$(manifest "$c" "$(layer application/vnd.oci.image.layer.v1.tar+gzip "$l")")
index "$(desc "$m")"
"#,
    );
    let (out, files) = scan(&sb, "img", Some(600 * 1024));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(files.iter().any(|f| f.ends_with(":/app/big.log")), "{files:?}");
}

#[test]
fn attestation_manifests_do_not_stop_the_scan_and_are_scanned_as_documents() {
    let sb = Sandbox::new();
    // As `docker buildx build --provenance=mode=max` pushes it: an attestation manifest next
    // to the image, its layer an in-toto statement that records the build arguments.
    build(
        &sb,
        r#"mkdir -p l/app && printf 'GITHUB_TOKEN=%s\n' "$TOKEN" > l/app/.env && tar -C l -cf layer app
printf '{"_type":"https://in-toto.io/Statement/v0.1","predicate":{"buildDefinition":{"externalParameters":{"args":{"build-arg:GH_TOKEN":"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"}}}}}' > att
c=$(add config); l=$(add layer); a=$(add att)
m=$(manifest "$c" "$(layer application/vnd.oci.image.layer.v1.tar "$l")")
am=$(manifest "$c" "$(layer application/vnd.in-toto+json "$a")")
index "$(desc "$m")" "$(desc "$am" ',"annotations":{"vnd.docker.reference.type":"attestation-manifest"}')"
tar -C img -cf image.tar .
"#,
    );
    for target in ["img", "image.tar"] {
        let (out, files) = scan(&sb, target, None);
        assert_eq!(out.status.code(), Some(1), "{target}: {}", stderr(&out));
        assert!(files.iter().any(|f| f.ends_with(":/app/.env")), "{target}: the real layer: {files:?}");
        assert!(files.iter().any(|f| f.starts_with("artifact ")), "{target}: the attestation: {files:?}");
    }
}

#[test]
fn symlinks_in_a_layout_are_never_followed() {
    let sb = Sandbox::new();
    // A loop and a link to `/` beside the blobs, and a layer blob that is a link to a file
    // outside the image holding a token.
    build(
        &sb,
        r#"mkdir -p l/app && echo hello > l/app/readme && tar -C l -cf layer app
c=$(add config); l=$(add layer)
m=$(manifest "$c" "$(layer application/vnd.oci.image.layer.v1.tar "$l")")
index "$(desc "$m")"
ln -s . img/blobs/loop; ln -s / img/blobs/root
mkdir -p outside/app && printf 'GITHUB_TOKEN=%s\n' "$TOKEN" > outside/app/.env && tar -C outside -cf outside.tar app
rm "img/blobs/sha256/$l" && ln -s "$PWD/outside.tar" "img/blobs/sha256/$l"
"#,
    );
    let started = std::time::Instant::now();
    let (out, files) = scan(&sb, "img", None);
    assert!(started.elapsed().as_secs() < 20, "no walk through loops");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(err.contains("is a symbolic link inside the image layout; not followed"), "{err}");
    assert!(files.is_empty(), "nothing outside the layout was read: {files:?}");
}

#[test]
fn an_index_or_manifest_tresor_cannot_interpret_is_an_error_and_a_missing_config_is_reported() {
    let sb = Sandbox::new();
    let cases = [
        ("index-not-object", r#"echo '[]' > img/index.json"#, 2, "not an OCI index"),
        ("docker-not-list", r#"mkdir -p img && echo '{}' > img/manifest.json"#, 2, "not a docker save manifest"),
        (
            "no-layers",
            r#"c=$(add config); printf '{"schemaVersion":2,"config":{"digest":"sha256:%s"}}' "$c" > m; m=$(add m); index "$(desc "$m")""#,
            2,
            "manifest has no layers list",
        ),
        (
            "no-config-blob",
            r#"mkdir -p l/app && echo hi > l/app/x && tar -C l -cf layer app; c=$(add config); l=$(add layer)
m=$(manifest "$c" "$(layer application/vnd.oci.image.layer.v1.tar "$l")"); index "$(desc "$m")"; rm "img/blobs/sha256/$c""#,
            11,
            "config of image 1: blob sha256:",
        ),
    ];
    for (name, script, code, says) in cases {
        let dir = sb.path(name);
        std::fs::create_dir_all(dir.join("img")).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{PRELUDE}{script}"))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let run = sb.tresor().args(["scan", "--image"]).arg(dir.join("img")).output().unwrap();
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(code), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(!err.contains("tresor: no leaks found\n"), "{name}: {err}");
    }
}
