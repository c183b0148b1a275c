//! Container images: every file of every layer (a file deleted by a later layer is still in
//! the image, so it is scanned and marked), the image config's `Env`, and the build history
//! (where `docker history` shows build arguments). Reads an OCI image layout directory, an
//! `oci-archive` tarball (`buildah push IMAGE oci-archive:FILE`, `skopeo copy`) or a
//! `docker save` tarball, without a daemon or registry.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde_json::Value as J;

use crate::engine::Engine;
use crate::finding::Finding;
use crate::sources::{self, Checks};

/// Files larger than this inside a layer are reported as skipped, not read.
pub const MAX_FILE: u64 = 32 << 20;
/// An image larger than this (all blobs) is refused rather than held in memory.
pub const MAX_IMAGE: u64 = 4 << 30;

/// Why an image cannot be scanned. Never quotes file contents.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file of the image cannot be read (the path, the error).
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
    /// The path is not an image in a layout tresor reads.
    #[error("{0}: neither an OCI layout (index.json) nor a `docker save` archive (manifest.json)")]
    NotAnImage(String),
    /// A manifest, config or layer that does not follow the OCI/Docker format.
    #[error("{what}: {msg}")]
    Malformed {
        /// Which part of the image.
        what: String,
        /// What is wrong.
        msg: String,
    },
}

/// What an image scan found, and the files it did not read.
#[derive(Default)]
pub struct ImageScan {
    /// What was found, layer by layer, then config and history.
    pub findings: Vec<Finding>,
    /// `layer:path (N bytes)` of files over [`MAX_FILE`].
    pub skipped: Vec<String>,
    /// Layers read.
    pub layers: usize,
    /// Files read.
    pub files: usize,
}

/// The blobs of an image, by name (`blobs/sha256/<hex>`, `index.json`, …).
struct Blobs(HashMap<String, Vec<u8>>);

impl Blobs {
    fn open(path: &Path) -> Result<Blobs, ImageError> {
        let shown = path.display().to_string();
        let io = |e| ImageError::Io(shown.clone(), e);
        let mut map = HashMap::new();
        let mut total = 0u64;
        if path.is_dir() {
            let mut stack = vec![path.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).map_err(io)? {
                    let p = e.map_err(io)?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.is_file() {
                        total += p.metadata().map_err(io)?.len();
                        if total > MAX_IMAGE {
                            return Err(too_large(&shown));
                        }
                        let rel = p.strip_prefix(path).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                        map.insert(rel, std::fs::read(&p).map_err(io)?);
                    }
                }
            }
        } else {
            let file = std::fs::File::open(path).map_err(io)?;
            let mut ar = tar::Archive::new(file);
            for entry in ar.entries().map_err(io)? {
                let mut entry = entry.map_err(io)?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let name = entry.path().map_err(io)?.to_string_lossy().trim_start_matches("./").to_string();
                total += entry.size();
                if total > MAX_IMAGE {
                    return Err(too_large(&shown));
                }
                let mut data = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut data).map_err(io)?;
                map.insert(name, data);
            }
        }
        Ok(Blobs(map))
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name.trim_start_matches("./")).map(Vec::as_slice)
    }

    fn by_digest(&self, digest: &str) -> Option<&[u8]> {
        let (alg, hex) = digest.split_once(':')?;
        self.get(&format!("blobs/{alg}/{hex}"))
    }
}

fn too_large(what: &str) -> ImageError {
    ImageError::Malformed {
        what: what.into(),
        msg: format!("larger than {} GiB; refusing to hold it", MAX_IMAGE >> 30),
    }
}

fn json(bytes: &[u8], what: &str) -> Result<J, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::Malformed { what: what.into(), msg: e.to_string() })
}

/// (config bytes, layers as (name for reports, bytes)) for each image in the file.
type Image<'a> = (Option<&'a [u8]>, Vec<(String, &'a [u8])>);

fn images<'a>(blobs: &'a Blobs, shown: &str) -> Result<Vec<Image<'a>>, ImageError> {
    let bad = |msg: &str| ImageError::Malformed { what: shown.into(), msg: msg.into() };
    let mut out = Vec::new();
    if let Some(index) = blobs.get("index.json") {
        // OCI: index → manifests (possibly nested indexes) → config + layers.
        let mut pending: Vec<String> = manifests_of(&json(index, "index.json")?);
        let mut seen = HashSet::new();
        while let Some(d) = pending.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let m = json(blobs.by_digest(&d).ok_or_else(|| bad(&format!("manifest {d} is missing")))?, &d)?;
            if m.get("manifests").is_some() {
                pending.extend(manifests_of(&m));
                continue;
            }
            let config = m.pointer("/config/digest").and_then(J::as_str).and_then(|c| blobs.by_digest(c));
            let mut layers = Vec::new();
            for l in m.get("layers").and_then(J::as_array).into_iter().flatten() {
                let digest = l.get("digest").and_then(J::as_str).ok_or_else(|| bad("a layer without a digest"))?;
                let bytes = blobs.by_digest(digest).ok_or_else(|| bad(&format!("layer {digest} is missing")))?;
                layers.push((short(digest), bytes));
            }
            out.push((config, layers));
        }
        return Ok(out);
    }
    if let Some(manifest) = blobs.get("manifest.json") {
        // `docker save`: [{Config, Layers: [paths]}].
        for m in json(manifest, "manifest.json")?.as_array().into_iter().flatten() {
            let config = m.get("Config").and_then(J::as_str).and_then(|c| blobs.get(c));
            let mut layers = Vec::new();
            for l in m.get("Layers").and_then(J::as_array).into_iter().flatten().filter_map(J::as_str) {
                let bytes = blobs.get(l).ok_or_else(|| bad(&format!("layer {l} is missing")))?;
                layers.push((short(l), bytes));
            }
            out.push((config, layers));
        }
        return Ok(out);
    }
    Err(ImageError::NotAnImage(shown.into()))
}

fn manifests_of(index: &J) -> Vec<String> {
    index
        .get("manifests")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("digest").and_then(J::as_str).map(str::to_string))
        .collect()
}

/// A layer's name in reports: the digest's first 12 hex digits, or the archive path.
fn short(name: &str) -> String {
    match name.split_once(':') {
        Some((_, hex)) => hex.chars().take(12).collect(),
        None => name.trim_end_matches("/layer.tar").trim_start_matches("blobs/sha256/").chars().take(12).collect(),
    }
}

/// A layer's tar stream, uncompressed as its bytes say (gzip or plain); zstd is refused.
fn layer_reader<'a>(bytes: &'a [u8], name: &str) -> Result<Box<dyn Read + 'a>, ImageError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::GzDecoder::new(bytes)))
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(ImageError::Malformed {
            what: format!("layer {name}"),
            msg: "zstd-compressed layers are not supported yet; convert the image to gzip layers".into(),
        })
    } else {
        Ok(Box::new(bytes))
    }
}

/// Scan an image file or directory.
pub fn scan_image(engine: &Engine, path: &Path, checks: Checks) -> Result<ImageScan, ImageError> {
    // The guard reads `.sops.yaml` from a repository: an image's files have none.
    let checks = Checks { guard: false, ..checks };
    let shown = path.display().to_string();
    let blobs = Blobs::open(path)?;
    let mut scan = ImageScan::default();
    for (config, layers) in images(&blobs, &shown)? {
        // Which paths a later layer deletes (whiteouts), to mark what is still in the image.
        let mut deleted_after: Vec<HashSet<String>> = vec![HashSet::new(); layers.len()];
        let mut per_layer: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
        for (i, (name, bytes)) in layers.iter().enumerate() {
            scan.layers += 1;
            let mut files = Vec::new();
            let reader = layer_reader(bytes, name)?;
            let io = |e| ImageError::Io(format!("layer {name}"), e);
            let mut ar = tar::Archive::new(reader);
            for entry in ar.entries().map_err(io)? {
                let mut entry = entry.map_err(io)?;
                let p = entry.path().map_err(io)?.to_string_lossy().trim_start_matches("./").to_string();
                let file_name = p.rsplit('/').next().unwrap_or("");
                if let Some(gone) = file_name.strip_prefix(".wh.") {
                    let dir = p.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
                    for earlier in deleted_after.iter_mut().take(i) {
                        earlier.insert(format!("{dir}{gone}"));
                    }
                    continue;
                }
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                if entry.size() > MAX_FILE {
                    scan.skipped.push(format!("{name}:/{p} ({} bytes)", entry.size()));
                    continue;
                }
                let mut data = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut data).map_err(io)?;
                files.push((p, data));
            }
            per_layer.push(files);
        }
        for (i, files) in per_layer.iter().enumerate() {
            let layer = &layers[i].0;
            for (p, data) in files {
                scan.files += 1;
                let shown_path = format!("{layer}:/{p}");
                let note = deleted_after[i].contains(p.as_str());
                for mut f in sources::scan_content(engine, Path::new("/"), p, data, checks) {
                    f.file = shown_path.clone();
                    f.refresh_fingerprint();
                    if note {
                        f.description.push_str(" (deleted in a later layer, still in the image)");
                    }
                    scan.findings.push(f);
                }
            }
        }
        if let Some(c) = config {
            scan.findings.extend(scan_config(engine, &json(c, "the image config")?));
        }
    }
    Ok(scan)
}

/// The config's `Env` (set in every container) and the history (`docker history` shows the
/// build arguments a RUN saw, as `|N KEY=value … /bin/sh -c …`).
fn scan_config(engine: &Engine, config: &J) -> Vec<Finding> {
    let mut out = Vec::new();
    let env: Vec<&str> =
        config.pointer("/config/Env").and_then(J::as_array).into_iter().flatten().filter_map(J::as_str).collect();
    if !env.is_empty() {
        let text = env.join("\n");
        for mut f in engine.scan("Env", text.as_bytes()) {
            f.file = "config:Env".into();
            f.refresh_fingerprint();
            out.push(f);
        }
    }
    for (i, h) in config.get("history").and_then(J::as_array).into_iter().flatten().enumerate() {
        let Some(cmd) = h.get("created_by").and_then(J::as_str) else { continue };
        for mut f in engine.scan("history", cmd.as_bytes()) {
            f.file = format!("config:history[{i}]");
            f.refresh_fingerprint();
            out.push(f);
        }
    }
    out
}
