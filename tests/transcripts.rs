//! CLI transcripts as data (`tests/cmd/*.toml`, run by trycmd as rage does): `--help` and
//! every documented exit code with its exact message. `TRYCMD=overwrite cargo test --test
//! suite transcripts::` rewrites the expected output after a deliberate change.

#[test]
fn cli_transcripts() {
    trycmd::TestCases::new()
        .register_bin("tresor", std::path::Path::new(env!("CARGO_BIN_EXE_tresor")))
        .case("tests/cmd/*.toml");
}
