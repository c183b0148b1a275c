//! `tresor-kustomize`: a KRM exec function for `kustomize build --enable-alpha-plugins
//! --enable-exec` (ResourceList on stdin), or a legacy exec plugin (config file path as
//! the only argument). A ksops user switches by pointing `exec.path` here.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tresor_krm::main_with_args(&args));
}
