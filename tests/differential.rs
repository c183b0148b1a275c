//! Differential reading: what tresor authenticates and decrypts is what the YAML readers
//! users run downstream read. For every file of the corpus, tresor encrypts and decrypts
//! it, and the decrypted text is read by libyaml (PyYAML's C loader, YAML 1.2 core typing
//! as go-yaml v3 applies it) and by go-yaml (the real sops decrypting tresor's file); both
//! must give the data tresor's own reader gives.

use crate::common::*;
use serde_json::Value as J;

fn libyaml(path: &std::path::Path) -> Vec<J> {
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/support/yaml12.py"))
        .arg(path)
        .output()
        .expect("python3");
    assert!(out.status.success(), "PyYAML could not read {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    match serde_json::from_slice(&out.stdout).unwrap() {
        J::Array(docs) => docs,
        other => panic!("unexpected {other}"),
    }
}

/// Files real users write, plus shapes where readers have disagreed with splicers before.
fn inputs() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = corpus()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    let extra = [
        ("keep.yaml", "a: |+\n  x\n\n\nb: 1\n"),
        ("strip-eof.yaml", "a: |-\n  x\n  y"),
        ("indented-root.yaml", "  user: admin\n  password: x\n"),
        ("tagged.yaml", "n: !!str 12345\nb: !!str true\n"),
        ("quotes.yaml", "a: 'it''s'\nb: \"tab\\tnl\\n\"\nc: '#not a comment'\nd: x #comment\n"),
        ("nested-lists.yaml", "a:\n- - 1\n  - 2\n- k: v\n  l:\n  - x\n"),
        ("flow.yaml", "a: {b: [1, 2, {c: d}], e: 'f, g'}\n"),
        ("crlf-block.yaml", "a: |\r\n  one\r\n  two\r\nb: x\r\n"),
        ("unicode.yaml", "name: \"\\u00e9t\\u00e9\"\nemoji: \"\u{1F600}\"\nrtl: \"\u{5D0}\u{5D1}\"\n"),
        ("document-end.yaml", "a: 1\n...\n"),
        ("multi.yaml", "a: 1\n---\nb: 2\n---\nc: [3]\n"),
    ];
    v.extend(extra.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    v
}

#[test]
fn decrypted_data_is_what_libyaml_and_go_yaml_read() {
    let sb = Sandbox::new();
    for (name, text) in inputs() {
        let plain = sb.write(&format!("plain-{name}"), &text);
        let enc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
        let enc_path = sb.write(&name, &enc);
        let ours_text = sb.tresor().arg("decrypt").arg(&enc_path).ok();
        assert_eq!(ours_text, text, "{name}: round trip");
        let ours = data(&ours_text, &name);
        let dec_path = sb.write(&format!("dec-{name}"), &ours_text);
        let lib = libyaml(&dec_path);
        assert_same_docs(&ours, &lib, &format!("{name}: tresor vs libyaml"));
        let sops = sb.sops().arg("decrypt").arg(&enc_path).ok();
        assert_same_docs(&data(&sops, &name), &lib, &format!("{name}: go-yaml (sops) vs libyaml"));
    }
}
