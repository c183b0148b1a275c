//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`. Each takes arbitrary bytes and
//! must neither panic nor abort; where a property holds for every input, it asserts it
//! (a failed assertion is a crash the fuzzer reports).
//!
//! They live in a normal crate so the stable toolchain can replay the saved corpus and a
//! bounded number of mutations in CI (`cargo test -p tresor-fuzz`), while `cargo +nightly
//! fuzz run TARGET` (scripts/fuzz.sh) runs the long, coverage-guided campaigns.

#![deny(missing_docs)]

use tresor_format::Format;
use tresor_sops::{DataKey, DecryptOptions, EncryptOptions, EncryptedFile, Metadata};

/// A fixed data key: the fuzzer explores structure, not keys.
fn key() -> DataKey {
    DataKey::from_bytes(&[7u8; 32]).expect("32 bytes")
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// YAML parser and data conversion (aliases, depth, comments).
pub fn yaml_parse(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(docs) = tresor_format::parse(s, Format::Yaml) {
        for d in &docs {
            let _ = tresor_sops::convert::document_data(d);
        }
    }
}

/// tresor's parser input against granit's own `StrInput`: the same events, spans and
/// errors for every input (the plain-scalar scan is tresor's; see `tresor_format::yaml`).
pub fn yaml_input(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Some((ours, granit)) = tresor_format::yaml::disagreement_with_granit(s) {
        panic!("the two inputs disagree on {s:?}: tresor {ours}, granit {granit}");
    }
}

/// JSON lexer and data conversion.
pub fn json_parse(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(docs) = tresor_format::parse(s, Format::Json) {
        for d in &docs {
            let _ = tresor_sops::convert::document_data(d);
        }
    }
}

/// The `ENC[...]` envelope: parsing and decryption of arbitrary envelopes.
pub fn enc_codec(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let _ = tresor_sops::cipher::parse_enc(s);
    let cipher = tresor_sops::cipher::Cipher::new(&key());
    let _ = cipher.decrypt(s, b"a:");
}

/// The `sops:` metadata block, as YAML and JSON.
pub fn metadata(data: &[u8]) {
    let Some(s) = text(data) else { return };
    for format in [Format::Yaml, Format::Json] {
        if let Ok(f) = EncryptedFile::parse(s, format) {
            let _ = f.metadata.to_yaml("\n");
            let _ = f.metadata.to_json("  ", 1, "\n");
        }
    }
}

/// Encrypt arbitrary YAML/JSON; whatever encrypts must decrypt to exactly the input
/// (the lossless promise), and decrypting arbitrary input must not crash.
pub fn roundtrip(data: &[u8]) {
    let Some(s) = text(data) else { return };
    for format in [Format::Yaml, Format::Json] {
        let meta = Metadata::default();
        if let Ok(enc) = tresor_sops::encrypt(s, format, &key(), meta, &EncryptOptions::default()) {
            let file = EncryptedFile::parse(&enc, format).expect("tresor parses what it wrote");
            let dec = file.decrypt(&key(), DecryptOptions::default()).expect("tresor decrypts what it wrote");
            assert_eq!(dec.text, s, "round trip changed the file");
        }
        if let Ok(f) = EncryptedFile::parse(s, format) {
            let _ = f.decrypt(&key(), DecryptOptions::default());
        }
    }
}

/// The dotenv, INI and binary stores: whatever encrypts must decrypt to exactly the input;
/// reading arbitrary input as an encrypted file, or as data, must not crash.
pub fn stores(data: &[u8]) {
    for name in ["dotenv", "ini", "binary"] {
        let store = tresor_sops::store::by_name(name).expect("registered");
        if let Ok(enc) = store.encrypt(data, &key(), Metadata::default(), &EncryptOptions::default()) {
            let meta = store.metadata(&enc).expect("tresor reads the metadata it wrote");
            let dec = store.decrypt(&enc, &meta, &key(), DecryptOptions::default()).expect("decrypts what it wrote");
            assert_eq!(dec.bytes.as_slice(), data, "{name} round trip changed the file");
        }
        if let Ok(meta) = store.metadata(data) {
            let _ = store.decrypt(data, &meta, &key(), DecryptOptions::default());
        }
        if let Ok(d) = store.data(data) {
            let _ = store.emit(&d);
        }
    }
}

/// A git pack and its index, split from the input at its first byte's position: the
/// reader must refuse or walk it, never crash or allocate what a header declares.
pub fn pack(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let cut = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2) + 2;
    let (idx, pack) = data[2..].split_at(cut - 2);
    let Ok(dir) = tempfile::tempdir() else { return };
    let idx_path = dir.path().join("p.idx");
    if std::fs::write(&idx_path, idx).is_err() || std::fs::write(dir.path().join("p.pack"), pack).is_err() {
        return;
    }
    struct Count;
    impl tresor_scan::pack::Visitor for Count {
        type Carry = ();
        fn visit(&self, _: &tresor_scan::pack::Blob, _: Option<&()>) -> Option<()> {
            Some(())
        }
    }
    if let Ok(p) = tresor_scan::pack::Pack::open(&idx_path, 20) {
        let _ = tresor_scan::pack::walk(&p, 1, &Count);
    }
}

/// A container image archive (`oci-archive` or `docker save` tar, whose blobs hold
/// manifests, configs and tar/gzip layers): the scan must refuse or finish it within small
/// decompression caps, never crash, hang, or hold what a header declares.
pub fn image(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("image.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    // One engine for the whole campaign: rules compile once, not per input.
    static ENGINE: std::sync::OnceLock<tresor_scan::engine::Engine> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(|| tresor_scan::engine::Engine::new(tresor_scan::rules::RuleSet::default_rules()));
    let limits = tresor_scan::image::Limits {
        layer_bytes: 4 << 20,
        total_bytes: 8 << 20,
        ratio: 50,
        ratio_after: 1 << 20,
        json_bytes: 1 << 20,
    };
    let checks = tresor_scan::sources::Checks { helm: true, dockerfile: true, guard: false };
    if let Ok(scan) = tresor_scan::image::scan_image_with(engine, &path, checks, limits) {
        assert!(scan.bytes <= limits.total_bytes + (1 << 20), "read past the total cap: {}", scan.bytes);
    }
}

/// A KRM ResourceList on stdin, with an empty kustomization root.
pub fn krm(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let Ok(dir) = tempfile::tempdir() else { return };
    let _ = tresor_krm::process_resource_list(s, dir.path());
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the smoke test and scripts use this table).
pub const TARGETS: &[(&str, Target)] = &[
    ("yaml_parse", yaml_parse),
    ("yaml_input", yaml_input),
    ("json_parse", json_parse),
    ("enc_codec", enc_codec),
    ("metadata", metadata),
    ("roundtrip", roundtrip),
    ("pack", pack),
    ("krm", krm),
    ("stores", stores),
    ("image", image),
];

#[cfg(test)]
mod smoke {
    //! Replays `fuzz/corpus/TARGET/*` (seeds and whatever campaigns saved) and a fixed
    //! number of cheap mutations of each, on the stable toolchain.

    use super::TARGETS;

    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
        let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().filter_map(|e| std::fs::read(e.path()).ok()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// xorshift: deterministic, so a failure reproduces.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn mutate(seed: &[u8], state: &mut u64) -> Vec<u8> {
        let mut v = seed.to_vec();
        const TOKENS: &[&[u8]] = &[
            b"\r",
            b"\n",
            b"\xe2\x80\xa8",
            b"&a ",
            b"*a",
            b"!!null ",
            b"|+\n",
            b"- ",
            b": ",
            b"#",
            b"{",
            b"[",
            b"\"",
            b"'",
            b"ENC[AES256_GCM,data:",
        ];
        for _ in 0..1 + next(state) % 4 {
            let at = if v.is_empty() { 0 } else { (next(state) as usize) % (v.len() + 1) };
            match next(state) % 3 {
                0 if !v.is_empty() && at < v.len() => {
                    v.remove(at);
                }
                1 if at < v.len() => v[at] ^= 1 << (next(state) % 7),
                _ => {
                    let t = TOKENS[(next(state) as usize) % TOKENS.len()];
                    v.splice(at..at, t.iter().copied());
                }
            }
        }
        v
    }

    #[test]
    fn every_target_survives_its_corpus_and_mutations() {
        let rounds: usize = std::env::var("TRESOR_FUZZ_SMOKE_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(300);
        for (name, target) in TARGETS {
            let seeds = corpus(name);
            assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            for s in &seeds {
                target(s);
            }
            for i in 0..rounds {
                let seed = &seeds[i % seeds.len()];
                let input = mutate(seed, &mut state);
                if let Err(e) = std::panic::catch_unwind(|| target(&input)) {
                    eprintln!("{name} failed on input {:?}", String::from_utf8_lossy(&input));
                    std::panic::resume_unwind(e);
                }
            }
        }
    }
}
