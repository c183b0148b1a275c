//! `tresor`: the command-line front end. Argument parsing, terminal I/O and exit codes
//! live here; everything else is in the library crates.

mod args;
mod cmd;
mod exit;
mod fileio;
mod keys;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::exit(code);
}
