//! Tamper campaigns: change every byte (and every line break) of small encrypted files
//! and decrypt each variant. tresor must either refuse it cleanly, or print exactly the
//! original data, or print what the real sops prints for the same variant (sops accepts
//! changes to what the format leaves unauthenticated: comments, `type:` of clear values,
//! null and empty values). Never a crash, never data sops would not give.

use crate::common::*;

const PLAIN: &str = "# top comment\ndb:\n  user: admin # inline\n  password: hunter2\n  port: 5432\n  ratio: 1.5\n  on: true\nlist:\n  - one\n  - |\n    two\n    lines\nnote_unencrypted: visible\n";

struct Outcome {
    code: i32,
    out: String,
    err: String,
}

fn decrypt(sb: &Sandbox, tool: &str, file: &std::path::Path) -> Outcome {
    let out = if tool == "sops" { sb.sops() } else { sb.tresor() }.arg("decrypt").arg(file).run();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn parses_to(text: &str) -> Option<Vec<serde_json::Value>> {
    std::panic::catch_unwind(|| data(text, "x.yaml")).ok()
}

/// What tresor did with a variant.
#[derive(PartialEq)]
enum Verdict {
    Refused,
    SameData,
    AsSops,
}

/// Decrypt a variant with tresor and hold it to the rule above.
fn check_variant(sb: &Sandbox, file: &std::path::Path, original: &[serde_json::Value], what: &str) -> Verdict {
    let t = decrypt(sb, "tresor", file);
    assert!(
        ![101, 134, 139, -1].contains(&t.code) && !t.err.contains("panicked"),
        "{what}: tresor crashed ({}): {}",
        t.code,
        t.err
    );
    if t.code != 0 {
        assert!(t.out.is_empty(), "{what}: refused, but wrote to stdout");
        return Verdict::Refused;
    }
    let ours = parses_to(&t.out);
    if ours.as_deref() == Some(original) {
        return Verdict::SameData;
    }
    // Different data: only acceptable where sops gives the same data for the same bytes.
    let s = decrypt(sb, "sops", file);
    assert_eq!(s.code, 0, "{what}: tresor accepted a variant sops rejects; tresor printed:\n{}", t.out);
    let theirs = parses_to(&s.out);
    assert!(ours.is_some() && ours == theirs, "{what}: tresor and sops disagree:\n{}\n---\n{}", t.out, s.out);
    Verdict::AsSops
}

#[derive(Default)]
struct Tally {
    refused: usize,
    same: usize,
    as_sops: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Refused => self.refused += 1,
            Verdict::SameData => self.same += 1,
            Verdict::AsSops => self.as_sops += 1,
        }
    }
    fn report(&self, what: &str) {
        eprintln!(
            "{what}: {} variants: {} refused, {} decrypted to the original data, {} decrypted to other data exactly as sops does",
            self.refused + self.same + self.as_sops,
            self.refused,
            self.same,
            self.as_sops
        );
    }
}

fn encrypted(sb: &Sandbox) -> (std::path::PathBuf, String) {
    let file = sb.encrypted("t.yaml", PLAIN);
    (file, sb.read("t.yaml"))
}

#[test]
fn every_byte_of_the_data_and_mac_changed_is_refused_or_harmless() {
    let sb = Sandbox::new();
    let (file, enc) = encrypted(&sb);
    let original = data(PLAIN, "x.yaml");
    // The data part and the lines sops authenticates in the metadata (mac, lastmodified);
    // the age stanza only decides whether the key unwraps (then: a clean refusal).
    let meta = enc.find("\nsops:").unwrap();
    let mut positions: Vec<usize> = (0..meta + 1).collect();
    for field in ["    lastmodified:", "    mac:"] {
        let at = enc.find(field).unwrap();
        let end = enc[at..].find('\n').unwrap() + at;
        positions.extend(at..end);
    }
    let mut tally = Tally::default();
    for i in positions {
        let b = enc.as_bytes()[i];
        for repl in [if b == b'A' { b'B' } else { b'A' }, if b == b' ' { b'\t' } else { b' ' }] {
            let mut v = enc.clone().into_bytes();
            v[i] = repl;
            std::fs::write(&file, &v).unwrap();
            tally.add(check_variant(
                &sb,
                &file,
                &original,
                &format!("byte {i} ({:?} -> {:?})", b as char, repl as char),
            ));
        }
    }
    tally.report("byte campaign");
    assert!(tally.refused > tally.same + tally.as_sops, "most byte changes must be refused");
}

#[test]
fn line_break_changes_are_refused_or_harmless() {
    let sb = Sandbox::new();
    let (file, enc) = encrypted(&sb);
    let original = data(PLAIN, "x.yaml");
    let breaks: Vec<usize> = enc.match_indices('\n').map(|(i, _)| i).collect();
    let mut tally = Tally::default();
    for (n, &i) in breaks.iter().enumerate() {
        for repl in ["\r", "\r\n", "\n\n", "\n\n\n", "\u{85}", "\u{2028}", "\u{2029}", " \n", "\n ", "\n\t"] {
            let v = format!("{}{}{}", &enc[..i], repl, &enc[i + 1..]);
            std::fs::write(&file, &v).unwrap();
            tally.add(check_variant(&sb, &file, &original, &format!("line break {n} -> {repl:?}")));
        }
    }
    tally.report("line-break campaign");
}

#[test]
fn structural_changes_are_refused_or_harmless() {
    let sb = Sandbox::new();
    let (file, enc) = encrypted(&sb);
    let original = data(PLAIN, "x.yaml");
    let first_value = enc.find("user: ENC").unwrap() + "user: ".len();
    let edits: Vec<(&str, String)> = vec![
        ("tag !!null", format!("{}!!null {}", &enc[..first_value], &enc[first_value..])),
        ("tag !!binary", format!("{}!!binary {}", &enc[..first_value], &enc[first_value..])),
        ("anchor", format!("{}&x {}", &enc[..first_value], &enc[first_value..])),
        ("quoted", enc.replacen("user: ENC[", "user: \"ENC[", 1).replacen(",type:str]\n", ",type:str]\"\n", 1)),
        ("document end", enc.replacen("\nlist:", "\n...\nlist:", 1)),
        ("new document", enc.replacen("\nlist:", "\n---\nlist:", 1)),
        ("flow", enc.replacen("list:\n", "list: [x]\nlist2:\n", 1)),
        ("duplicate key", enc.replacen("\nlist:", "\nnote_unencrypted: hidden\nlist:", 1)),
        ("indent", enc.replacen("\n  password:", "\n   password:", 1)),
        ("comment injection", enc.replacen("# top comment", "# top comment\nextra: injected", 1)),
    ];
    let mut tally = Tally::default();
    for (what, v) in edits {
        std::fs::write(&file, &v).unwrap();
        tally.add(check_variant(&sb, &file, &original, what));
    }
    tally.report("structural campaign");
}
