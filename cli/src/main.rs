//! `tresor`: the command-line front end. Argument parsing, terminal I/O and exit codes
//! live here; everything else is in the library crates.

mod args;
mod cmd;
mod exit;
mod fileio;
mod keys;
mod signals;

use clap::Parser;

/// sops' legacy global mode (`sops --decrypt [flags] FILE`, `sops -e …`), which
/// helm-secrets and many scripts use: rewrite it to the subcommand form.
fn legacy_sops_args(mut argv: Vec<String>) -> Vec<String> {
    // The subcommand names come from the parser itself, so a new one is never taken for
    // a file to edit.
    let cmd = <args::Cli as clap::CommandFactory>::command();
    let is_subcommand = |a: &str| a == "help" || cmd.get_subcommands().any(|c| c.get_name() == a);
    if argv.iter().skip(1).any(|a| is_subcommand(a)) {
        return argv;
    }
    for (flags, sub) in [(["-d", "--decrypt"], "decrypt"), (["-e", "--encrypt"], "encrypt")] {
        if let Some(pos) = argv.iter().position(|a| flags.contains(&a.as_str())) {
            argv.remove(pos);
            argv.insert(1, sub.to_string());
            return argv;
        }
    }
    // `sops [--input-type T --output-type T] FILE`: sops edits the file (helm-secrets'
    // `helm secrets edit` runs exactly that).
    let asks_about_tresor = argv.iter().skip(1).any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"));
    if !asks_about_tresor && argv.len() > 1 && argv.last().is_some_and(|a| !a.starts_with('-')) {
        argv.insert(1, "edit".to_string());
    }
    argv
}

fn main() {
    signals::install();
    let argv: Vec<String> = std::env::args().collect();
    // Run as a Helm getter (the plugin's `bin/tresor-helm-getter` links to this binary):
    // Helm passes `CERT KEY CA URL`.
    let called = argv.first().map(|a| std::path::Path::new(a).file_name().unwrap_or_default().to_os_string());
    if called.as_deref() == Some(std::ffi::OsStr::new(cmd::helm::GETTER_NAME)) {
        let code = match cmd::helm::getter(&argv[1..]) {
            Ok(code) => code,
            Err(err) => exit::report(&err),
        };
        std::process::exit(code);
    }
    let cli = args::Cli::parse_from(legacy_sops_args(argv));
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::exit(code);
}
