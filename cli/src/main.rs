//! `tresor`: the command-line front end. Argument parsing, terminal I/O and exit codes
//! live here; everything else is in the library crates.

mod args;
mod cmd;
mod exit;
mod fileio;
mod keys;
mod signals;

use clap::Parser;

/// See the comment on the dependency in Cargo.toml: the history scan's allocation pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // `helm secrets edit` runs exactly that). Only that shape, and only for a file that
    // exists or that a `.sops.yaml` rule covers: a mistyped subcommand (`tresor ecnrypt`,
    // `tresor decyrpt s.yaml`) is never an edit, and clap answers it with "did you mean".
    let asks_about_tresor = argv.iter().skip(1).any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"));
    if !asks_about_tresor && argv.len() > 1 && implicit_edit_target(&argv[1..]).is_some_and(|f| may_edit(f, &cmd)) {
        argv.insert(1, "edit".to_string());
    }
    argv
}

/// The FILE of `[--input-type T] [--output-type T] FILE`, when the arguments have exactly
/// that shape.
fn implicit_edit_target(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if matches!(a, "--input-type" | "--output-type") {
            i += 2;
        } else if a.starts_with("--input-type=") || a.starts_with("--output-type=") {
            i += 1;
        } else if !a.starts_with('-') && i == args.len() - 1 {
            return Some(a);
        } else {
            return None;
        }
    }
    None
}

/// Edit `name` implicitly? It must exist, or be covered by a `.sops.yaml` rule and not look
/// like a subcommand with a typo.
fn may_edit(name: &str, cmd: &clap::Command) -> bool {
    let path = std::path::Path::new(name);
    if path.exists() {
        return true;
    }
    if cmd.get_subcommands().any(|c| strsim_close(name, c.get_name())) {
        return false;
    }
    matches!(tresor_config::for_file(path, None), Ok(Some(cfg)) if cfg.rule_for(path).is_ok())
}

/// Within two edits (or a transposition) of `b`: a likely typo.
fn strsim_close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Optimal string alignment distance.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()] <= 2
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
