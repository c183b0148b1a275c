//! Comments where sops puts them: for every comment position in the list below, with the
//! default rules and with `--encrypted-regex`, against the real sops:
//! * tresor's round trip is byte-exact;
//! * sops decrypts tresor's file without an "unencrypted comment" warning (so tresor gave
//!   every comment the AAD path sops gives it, and encrypted exactly the comments sops
//!   encrypts), to the input's data and comments;
//! * tresor decrypts sops' file (comments inside lists are list items there,
//!   `- ENC[…,type:comment]`) to the data and comments sops' own decryption gives.
//!
//! sops files a comment by go-yaml v3's reading (the head comment of the token after it,
//! or a foot comment of the collection a dedent closes), not by its indentation; the
//! positions here are the ones that tell the two apart.

use crate::common::*;

const POSITIONS: &[&str] = &[
    "# head\na: 1\n# mid\nb: 2\n# end\n",
    "a: 1\n\n# after blank\n\nb: 2\n",
    "a:\n  b: 1\n  # foot nested\nc: 2\n",
    "a:\n  b: 1\n# foot root\nc: 2\n",
    "a:\n  b: 1\n# dedented between nested keys\n  c: 2\nd: 3\n",
    "a:\n# before the first nested key, at column 0\n  b: 1\n",
    "a:\n    # deeper than the key\n  b: 1\n",
    "a:\n  b:\n    c: 1\n  # left of the closing block\nd: 1\n",
    "a:\n  b:\n    c: 1\n    # deep foot\nd: 1\n",
    "a:\n  b:\n    c: 1\n# col 0 left of a dedented key\n  d: 2\n",
    "a:\n  b:\n    c: 1\n # col 1\n  d: 2\n",
    "a:\n  b:\n    c: 1\n  # at the dedented key\n  d: 2\n",
    "a:\n  b: 1\n  # end nested\n",
    "a:\n  b: 1\n# end root\n",
    "ports:\n  # first in a list\n  - 80\n  - 81\n",
    "ports:\n  - 80\n  # between items\n  - 81\n",
    "ports:\n  - 80\n# after a list, at the next key\nx: 1\n",
    "rules:\n- a\n# inside an indentless list\n- b\n",
    "rules:\n# before an indentless list\n- a\n- b\n",
    "rules:\n- a\n# after an indentless list\nnext: 1\n",
    "list:\n  - a: 1\n    # in a list item's map\n    b: 2\n  # between map items\n  - c\n",
    "list:\n- a: 1\n  # in an indentless item's map\n  b: 2\n- c: 3\n",
    "l:\n  - a: 1\n    b: 2\n  # after a map item, before a dedent\nz: 1\n",
    "a0:\n- c0:\n      d0: 1\n# left, then a blank line\n\n  c1: null\n",
    "base: &b\n  # under an anchored key\n  x: 1\n",
    "key: &a # after an anchor\n  x: 1\n",
    "a: # after a key\n  b: 1\n",
    "a: 1 # after a value\nb: 2\n",
    "#\na: 1\n#\n",
    "a:\n  #\n  b: 1\n",
    "a: 1\n---\n# second document\nb: 2\n",
    "data:\n  # under data\n  key: v\nother:\n  # under other\n  k: v\n",
    "kind: Secret\ndata:\n#note at column 0 under data\n  key: QVFE\n",
    "m:\n  n:\n  # after a null value\n  o: 1\n",
    "m:\n  n:\n# column 0 after a null value\n  o: 1\n",
    // go-yaml gives a collection one foot comment block; a later block is the next key's.
    "a:\n  b: 1\n  # first block\n\n  # second block\n\n# root\nc: 2\n",
    "a:\n  b:\n    c: 1\n    # first block\n\n    # second block\n  d: 2\n",
    "a:\n  b: 1\n\n  # first block, after a blank line\n\n  # second block\nc: 2\n",
    "a:\n  b:\n    c: {}\n    # foot of b\n  # foot of a\n  # and more\n# head of d\nd: 1\n",
    // go-yaml makes these the flow collection's line comment; sops files them inside it.
    "a: [] # after an empty flow list\nb: 1\n",
    "x:\n  a: [] # nested, after an empty flow list\n  b: 1\n",
    "d: [x, y] # after a flow list\n",
    "l:\n  - [] # after a flow list that is a list item\n  - {}\n",
];

fn first_doc(text: &str) -> serde_json::Value {
    data(text, "x.yaml").into_iter().next().unwrap_or(serde_json::Value::Null)
}

#[test]
fn comments_interoperate_with_sops_in_every_position() {
    let sb = Sandbox::new();
    let regex = ["--encrypted-regex", "^(data|stringData|secret)$"];
    let mut failures = Vec::new();
    for (i, text) in POSITIONS.iter().enumerate() {
        for rule in [&[][..], &regex[..]] {
            let name = format!("p{i}.yaml");
            let plain = sb.write(&name, text);
            let what = format!("case {i} {rule:?}:\n{text}");
            // tresor → exact round trip, and sops reads every comment.
            let t =
                sb.tresor().args(["encrypt"]).args(rule).args(["--age", &recipient()]).arg(&plain).output().unwrap();
            if !t.status.success() {
                failures.push(format!("{what}tresor refuses: {}", String::from_utf8_lossy(&t.stderr)));
                continue;
            }
            let tenc = sb.write(&format!("p{i}.t.yaml"), &String::from_utf8(t.stdout).unwrap());
            let back = sb.tresor().arg("decrypt").arg(&tenc).ok();
            if back != *text {
                failures.push(format!("{what}round trip differs:\n{back}"));
            }
            let s = sb.sops().arg("decrypt").arg(&tenc).output().unwrap();
            let (sout, serr) = (String::from_utf8_lossy(&s.stdout), String::from_utf8_lossy(&s.stderr));
            if !s.status.success() || serr.contains("unencrypted comment") {
                failures.push(format!("{what}sops on tresor's file: {serr}"));
            } else if first_doc(&sout) != first_doc(text) || comments(&sout) != comments(text) {
                failures.push(format!("{what}sops reads tresor's file as:\n{sout}"));
            }
            // sops → tresor reads what sops reads.
            let senc = sb.sops().args(["encrypt"]).args(rule).args(["--age", &recipient()]).arg(&plain).ok();
            let senc = sb.write(&format!("p{i}.s.yaml"), &senc);
            let own = sb.sops().arg("decrypt").arg(&senc).output().unwrap();
            let (own_out, own_err) = (String::from_utf8_lossy(&own.stdout), String::from_utf8_lossy(&own.stderr));
            assert!(
                own.status.success() && !own_err.contains("unencrypted comment"),
                "{what}sops cannot read its own file, so this position cannot be a test: {own_err}"
            );
            let td = sb.tresor().arg("decrypt").arg(&senc).output().unwrap();
            let tout = String::from_utf8_lossy(&td.stdout);
            if !td.status.success() {
                failures.push(format!("{what}tresor on sops' file: {}", String::from_utf8_lossy(&td.stderr)));
            } else if first_doc(&tout) != first_doc(&own_out) || comments(&tout) != comments(&own_out) {
                failures.push(format!("{what}tresor reads sops' file as:\n{tout}\nsops reads it as:\n{own_out}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n---\n"));
}

/// sops stores a comment before the first item of a nested list as that list's first item,
/// sharing its line with the outer `-` (`- - ENC[…,type:comment]`); tresor writes it back
/// as `- # text`, which reads as the nested list again.
#[test]
fn a_comment_opening_a_nested_list_reads_back_as_sops_reads_it() {
    let sb = Sandbox::new();
    let plain = sb.write("n.yaml", "outer:\n  - # first\n    - 1\n    - 2\n");
    let enc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
    assert!(enc.contains("- - ENC[AES256_GCM,") && enc.contains("type:comment]"), "sops' layout changed:\n{enc}");
    let enc = sb.write("n.enc.yaml", &enc);
    let own = sb.sops().arg("decrypt").arg(&enc).ok();
    let ours = sb.tresor().arg("decrypt").arg(&enc).ok();
    assert_eq!(ours, "outer:\n    - # first\n      - 1\n      - 2\n");
    assert_eq!(first_doc(&ours), first_doc(&own));
    assert_eq!(comments(&ours), comments(&own));
}

/// `key: {} # c`: sops files the comment inside the flow mapping and then drops it when it
/// prints the file (`e: {}`); tresor keeps it both ways, and sops reads tresor's file
/// without a warning.
#[test]
fn a_comment_after_a_flow_mapping_is_kept_where_sops_files_it() {
    let sb = Sandbox::new();
    let text = "e: {} # after a flow map\nf: {a: 1} # another\n";
    let plain = sb.write("m.yaml", text);
    let senc = sb.sops().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
    let senc = sb.write("m.s.yaml", &senc);
    let ours = sb.tresor().arg("decrypt").arg(&senc).ok();
    assert_eq!(first_doc(&ours), first_doc(text));
    assert_eq!(comments(&ours), comments(text), "{ours}");
    let tenc = sb.tresor().args(["encrypt", "--age", &recipient()]).arg(&plain).ok();
    let tenc = sb.write("m.t.yaml", &tenc);
    assert_eq!(sb.tresor().arg("decrypt").arg(&tenc).ok(), text);
    let s = sb.sops().arg("decrypt").arg(&tenc).output().unwrap();
    let err = String::from_utf8_lossy(&s.stderr);
    assert!(s.status.success() && !err.contains("unencrypted comment"), "{err}");
    assert_eq!(first_doc(&String::from_utf8_lossy(&s.stdout)), first_doc(text));
}

/// tresor before 2026-12-07 gave `key: [] # c` its parent's AAD; such files still open
/// exactly (the fallback is only for a comment after a flow collection's end).
#[test]
fn a_flow_comment_written_by_an_earlier_tresor_still_decrypts() {
    let sb = Sandbox::new();
    let old = testdata("compat/flow-comment-before-2026-12-07.yaml");
    let out = sb.tresor().arg("decrypt").arg(&old).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "x:\n  a: [] # c1\n  b: 1\n  d: [x] # c5\n  e: {} # c6\n");
}
