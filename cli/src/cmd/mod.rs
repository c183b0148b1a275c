//! The subcommands.

mod audit;
pub(crate) mod crypt;
mod doctor;
mod exec;
mod git;
pub(crate) mod helm;
mod modify;
mod rekey;
mod scan;

use anyhow::Result;

use crate::args::{Cli, Command};

pub fn run(cli: Cli) -> Result<i32> {
    // Every run clears plaintext copies a killed tresor left on tmpfs (`doctor` does it
    // itself, to say so); it costs one directory listing.
    if !matches!(cli.command, Command::Doctor(_)) {
        crate::fileio::sweep_stale();
    }
    match cli.command {
        Command::Encrypt(a) => crypt::encrypt(a),
        Command::Decrypt(a) => crypt::decrypt(a),
        Command::Edit(a) => crypt::edit(a),
        Command::Keygen(a) => crypt::keygen(a),
        Command::Filestatus(a) => crypt::filestatus(a),
        Command::Rotate(a) => rekey::rotate(a),
        Command::Updatekeys(a) => rekey::updatekeys(a),
        Command::Set(a) => modify::set(a),
        Command::Unset(a) => modify::unset(a),
        Command::ExecEnv(a) => exec::exec_env(a),
        Command::ExecFile(a) => exec::exec_file(a),
        Command::Audit(a) => audit::audit(a),
        Command::Doctor(a) => doctor::doctor(a),
        Command::Kustomize(a) => Ok(tresor_krm::main_with_args(&a.args)),
        Command::Scan(a) => scan::scan(a),
        Command::Hook(a) => scan::hook(a),
        Command::Report(a) => scan::report(a),
        Command::HelmPlugin(a) => helm::write_plugin(a),
        Command::Git(a) => git::git(a),
        Command::Diff(a) => git::diff(a),
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "tresor", &mut buf);
            crate::fileio::Sink::Stdout.write(&String::from_utf8_lossy(&buf), 0o644)?;
            Ok(0)
        }
        Command::Man { dir } => man(&dir),
    }
}

/// Render man pages for tresor and each subcommand.
fn man(dir: &std::path::Path) -> Result<i32> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = vec![("tresor".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        pages.push((format!("tresor-{}", sub.get_name()), sub.clone().name(format!("tresor-{}", sub.get_name()))));
    }
    for (name, page) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("tresor: wrote man pages to {}", dir.display());
    Ok(0)
}

/// A `--repos` list: its text (`-` reads standard input) and the directory its relative
/// entries are relative to (the list's own; the current one for standard input).
pub(crate) fn repo_list(list: &std::path::Path) -> Result<(String, std::path::PathBuf)> {
    use tresor_sops::codes;
    if list.as_os_str() == "-" {
        return Ok((std::io::read_to_string(std::io::stdin())?, std::env::current_dir()?));
    }
    let text = std::fs::read_to_string(list)
        .map_err(|e| crate::exit::fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{}: {e}", list.display())))?;
    let base = match list.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir()?,
    };
    Ok((text, base))
}
