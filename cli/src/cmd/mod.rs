//! The subcommands.

mod audit;
mod crypt;
mod exec;
mod modify;
mod rekey;
mod scan;

use anyhow::Result;

use crate::args::{Cli, Command};

pub fn run(cli: Cli) -> Result<i32> {
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
        Command::Kustomize(a) => Ok(tresor_krm::main_with_args(&a.args)),
        Command::Scan(a) => scan::scan(a),
        Command::Hook(a) => scan::hook(a),
    }
}
