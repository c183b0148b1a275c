//! Helm: a getter plugin for `helm … -f tresor://FILE`, run by this binary itself.

use std::path::Path;
use tresor_sops::codes;

use anyhow::{Context, Result};

use crate::args::{Cli, HelmPluginArgs};
use crate::exit::fail;

/// The name the plugin's link to this binary has; `main` runs [`getter`] when called so.
pub const GETTER_NAME: &str = "tresor-helm-getter";

/// Helm runs a downloader as `COMMAND CERT KEY CA URL` and reads the values from stdout:
/// decrypt the file the URL names (relative to where helm runs) to stdout.
pub(crate) fn getter(args: &[String]) -> Result<i32> {
    let url = args.last().ok_or_else(|| {
        fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{GETTER_NAME}: expected CERT KEY CA URL (run by helm)"))
    })?;
    let path = url.strip_prefix("tresor://").ok_or_else(|| {
        fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{GETTER_NAME}: '{url}' is not a tresor:// URL"))
    })?;
    if path.is_empty() {
        return Err(fail(codes::COULD_NOT_READ_INPUT_FILE, format!("{GETTER_NAME}: '{url}' names no file")));
    }
    let cli = <Cli as clap::Parser>::try_parse_from(["tresor", "decrypt", path])
        .map_err(|e| fail(codes::COULD_NOT_READ_INPUT_FILE, e.to_string()))?;
    super::run(cli)
}

/// Write the plugin directory: `plugin.yaml` and `bin/tresor-helm-getter`, a link to this
/// binary (no script, so nothing depends on a shell).
pub(crate) fn write_plugin(a: HelmPluginArgs) -> Result<i32> {
    let dir = &a.dir;
    // tresor's own earlier plugin is rewritten (a new tresor version, the other manifest);
    // anyone else's is left alone.
    if let Ok(existing) = std::fs::read_to_string(dir.join("plugin.yaml")) {
        let ours = existing.lines().next().is_some_and(|l| l.contains("written by `tresor helm-plugin"));
        if !ours {
            return Err(fail(
                codes::ERROR_GENERIC,
                format!("{} already holds another plugin's plugin.yaml; choose an empty directory", dir.display()),
            ));
        }
    }
    std::fs::create_dir_all(dir.join("bin")).with_context(|| format!("creating {}", dir.display()))?;
    let me = std::env::current_exe().context("finding the tresor binary")?;
    let link = dir.join("bin").join(GETTER_NAME);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&me, &link).with_context(|| format!("linking {}", link.display()))?;
    let manifest = match a.manifest.as_str() {
        "v1" => format!(
            "# Helm 4 getter plugin written by `tresor helm-plugin --manifest v1`.\n\
             apiVersion: v1\ntype: getter/v1\nname: tresor\nversion: {v}\nruntime: subprocess\n\
             config:\n  protocols: [\"tresor\"]\nruntimeConfig:\n  protocolCommands:\n    - protocols: [\"tresor\"]\n      \
             platformCommand:\n        - command: bin/{GETTER_NAME}\n",
            v = env!("CARGO_PKG_VERSION")
        ),
        _ => format!(
            "# Helm downloader plugin written by `tresor helm-plugin` (Helm 3, and Helm 4 as a legacy plugin).\n\
             name: tresor\nversion: {v}\nusage: \"decrypt values files: helm ... -f tresor://FILE\"\n\
             description: \"Decrypts SOPS-encrypted values files with tresor\"\n\
             downloaders:\n  - command: bin/{GETTER_NAME}\n    protocols:\n      - tresor\n",
            v = env!("CARGO_PKG_VERSION")
        ),
    };
    std::fs::write(dir.join("plugin.yaml"), manifest)
        .with_context(|| format!("writing {}/plugin.yaml", dir.display()))?;
    eprintln!(
        "tresor: wrote the Helm plugin to {}; install it with: helm plugin install {}",
        dir.display(),
        shown(dir)
    );
    Ok(0)
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}
