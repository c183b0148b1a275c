//! Container images: every file of every layer (a file deleted by a later layer is still in
//! the image, so it is scanned and marked), the image config's `Env`, the build history
//! (where `docker history` shows build arguments) and attestation blobs (buildx provenance
//! records build arguments too). Reads an OCI image layout directory, an `oci-archive`
//! tarball (`buildah push IMAGE oci-archive:FILE`, `skopeo copy`) or a `docker save`
//! tarball, without a daemon or registry.
//!
//! Memory is bounded by design: blobs are read from the archive or directory when needed,
//! layers are decompressed as a stream, and each file is scanned in overlapping windows
//! ([`crate::sources::PIECE`]), so a layer that expands to gigabytes costs one window.
//! Decompression is capped per layer, per image and by ratio ([`Limits`]). Whatever is not
//! scanned — a cap reached, a layer format not supported, a config blob missing — is listed
//! in [`ImageScan::skipped`] with the reason; the CLI never calls such a scan clean.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use serde_json::Value as J;

use crate::engine::Engine;
use crate::finding::Finding;
use crate::sources::{self, Checks};

/// Caps on what an image scan decompresses. Reaching one stops that layer (or the image),
/// names the cap in [`ImageScan::skipped`], and goes on with what is left.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Decompressed bytes of one layer.
    pub layer_bytes: u64,
    /// Decompressed bytes of all layers together.
    pub total_bytes: u64,
    /// Decompressed ÷ compressed size of a layer, checked once [`Limits::ratio_after`]
    /// bytes are out: real layers compress 2–10×, a gzip bomb 1,000×.
    pub ratio: u64,
    /// Bytes a layer may expand to before the ratio is checked.
    pub ratio_after: u64,
    /// Size of an index, manifest or config (JSON held in memory).
    pub json_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { layer_bytes: 16 << 30, total_bytes: 64 << 30, ratio: 200, ratio_after: 64 << 20, json_bytes: 16 << 20 }
    }
}

/// Why an image cannot be scanned at all. Never quotes file contents.
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

/// Something in the image that was not scanned, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Which part (`layer 1a2b3c4d5e6f`, `layer 1a2b…:/path`, `config of image 1`).
    pub what: String,
    /// Why, naming the cap or the format.
    pub why: String,
}

/// What an image scan found, and what it did not read.
#[derive(Default)]
pub struct ImageScan {
    /// What was found, layer by layer, then config, history and attestations.
    pub findings: Vec<Finding>,
    /// What was not scanned. Non-empty: the scan is incomplete.
    pub skipped: Vec<Skipped>,
    /// Layers read.
    pub layers: usize,
    /// Files read.
    pub files: usize,
    /// Attestation and other non-layer blobs scanned as documents.
    pub artifacts: usize,
    /// Decompressed bytes read.
    pub bytes: u64,
}

/// Where an image's blobs are: a directory (read by name, never through a symlink) or a
/// tar archive (indexed once; blobs read by offset).
enum Source {
    Dir(PathBuf),
    Tar { file: File, entries: HashMap<String, TarEntry> },
}

enum TarEntry {
    File {
        offset: u64,
        size: u64,
    },
    /// A symlink or hard link inside the archive (old `docker save` deduplicates layers so).
    Link(String),
}

/// A blob's bytes as a stream, and its size.
type BlobReader<'a> = (Box<dyn Read + 'a>, u64);

/// A blob name made safe: relative, no `..`, no empty parts.
fn clean_name(name: &str) -> Option<String> {
    let name = name.trim_start_matches("./");
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() || parts.contains(&"..") || name.starts_with('/') {
        return None;
    }
    Some(parts.join("/"))
}

impl Source {
    fn open(path: &Path) -> Result<Source, ImageError> {
        let shown = path.display().to_string();
        let io = |e| ImageError::Io(shown.clone(), e);
        if path.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let mut file = File::open(path).map_err(io)?;
        let mut entries = HashMap::new();
        {
            let mut ar = tar::Archive::new(&mut file);
            for entry in ar.entries_with_seek().map_err(io)? {
                let entry = entry.map_err(io)?;
                let Some(name) = clean_name(&entry.path().map_err(io)?.to_string_lossy()) else { continue };
                let kind = entry.header().entry_type();
                if kind.is_file() {
                    entries.insert(name, TarEntry::File { offset: entry.raw_file_position(), size: entry.size() });
                } else if kind.is_symlink() || kind.is_hard_link() {
                    let Some(target) = entry.link_name().map_err(io)? else { continue };
                    let target = target.to_string_lossy().into_owned();
                    // Symlinks are relative to their directory, hard links to the archive root.
                    let joined = match (kind.is_symlink(), name.rsplit_once('/')) {
                        (true, Some((dir, _))) if !target.starts_with('/') => format!("{dir}/{target}"),
                        _ => target,
                    };
                    if let Some(t) = clean_name(&resolve_dots(&joined)) {
                        entries.insert(name, TarEntry::Link(t));
                    }
                }
            }
        }
        Ok(Source::Tar { file, entries })
    }

    /// A reader for blob `name` and its size; `None` when the image has no such blob.
    fn open_blob(&self, name: &str) -> Result<Option<BlobReader<'_>>, ImageError> {
        let Some(mut name) = clean_name(name) else { return Ok(None) };
        match self {
            Source::Dir(root) => {
                // Every part is checked: a symlink anywhere (a loop, a link to `/`) is not
                // followed, so nothing outside the layout is ever read.
                let mut p = root.clone();
                for part in name.split('/') {
                    p.push(part);
                    match std::fs::symlink_metadata(&p) {
                        Ok(m) if m.file_type().is_symlink() => {
                            return Err(ImageError::Malformed {
                                what: name.clone(),
                                msg: "is a symbolic link inside the image layout; not followed".into(),
                            })
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(ImageError::Io(p.display().to_string(), e)),
                    }
                }
                let f = File::open(&p).map_err(|e| ImageError::Io(p.display().to_string(), e))?;
                let m = f.metadata().map_err(|e| ImageError::Io(p.display().to_string(), e))?;
                if !m.is_file() {
                    return Ok(None);
                }
                Ok(Some((Box::new(f), m.len())))
            }
            Source::Tar { file, entries } => {
                for _ in 0..8 {
                    match entries.get(&name) {
                        None => return Ok(None),
                        Some(TarEntry::Link(t)) => name = t.clone(),
                        Some(TarEntry::File { offset, size }) => {
                            let mut f = file.try_clone().map_err(|e| ImageError::Io(name.clone(), e))?;
                            f.seek(SeekFrom::Start(*offset)).map_err(|e| ImageError::Io(name.clone(), e))?;
                            return Ok(Some((Box::new(f.take(*size)), *size)));
                        }
                    }
                }
                Err(ImageError::Malformed { what: name, msg: "links in the archive form a loop".into() })
            }
        }
    }

    fn by_digest(&self, digest: &str) -> Result<Option<BlobReader<'_>>, ImageError> {
        match parse_digest(digest) {
            Some((alg, hex)) => self.open_blob(&format!("blobs/{alg}/{hex}")),
            None => Err(ImageError::Malformed { what: digest.into(), msg: "not a digest (algorithm:hex)".into() }),
        }
    }

    /// A blob named the way manifests name them: a digest (OCI) or an archive path
    /// (`docker save`).
    fn named(&self, name: &str) -> Result<Option<BlobReader<'_>>, ImageError> {
        if name.contains(':') {
            self.by_digest(name)
        } else {
            self.open_blob(name)
        }
    }

    /// A JSON blob, at most `limit` bytes.
    fn json(&self, name: &str, limit: u64) -> Result<Option<J>, ImageError> {
        match self.open_blob(name)? {
            Some((r, size)) => read_json(r, size, limit, name).map(Some),
            None => Ok(None),
        }
    }
}

/// `a/b/../c` → `a/c` (for link targets inside an archive).
fn resolve_dots(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s.to_str().unwrap_or("")),
            _ => {}
        }
    }
    out.join("/")
}

/// `sha256:<hex>` with a known-safe shape (no path characters).
fn parse_digest(d: &str) -> Option<(&str, &str)> {
    let (alg, hex) = d.split_once(':')?;
    let ok_alg = !alg.is_empty() && alg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'+');
    let ok_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    (ok_alg && ok_hex).then_some((alg, hex))
}

fn read_json(r: Box<dyn Read + '_>, size: u64, limit: u64, what: &str) -> Result<J, ImageError> {
    if size > limit {
        return Err(ImageError::Malformed {
            what: what.into(),
            msg: format!("{size} bytes; over the {limit}-byte cap"),
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    r.take(limit).read_to_end(&mut bytes).map_err(|e| ImageError::Io(what.into(), e))?;
    serde_json::from_slice(&bytes).map_err(|e| ImageError::Malformed { what: what.into(), msg: e.to_string() })
}

/// One image of the file: its config descriptor and its blobs to scan.
struct Image {
    /// The config's digest or archive name; `None` when the manifest names none.
    config: Option<String>,
    blobs: Vec<Blob>,
}

struct Blob {
    /// Digest or archive name.
    name: String,
    /// A filesystem layer (tar, maybe compressed), or another kind of blob (attestation,
    /// signature, SBOM) scanned as one document.
    layer: bool,
}

/// Media types of manifests that are indexes (lists of manifests).
fn is_index(m: &J) -> bool {
    let mt = m.get("mediaType").and_then(J::as_str).unwrap_or("");
    mt.ends_with("image.index.v1+json") || mt.ends_with("manifest.list.v2+json") || m.get("manifests").is_some()
}

/// A layer descriptor holds a filesystem (tar) rather than an attestation or other artifact.
fn is_fs_layer(desc: &J) -> bool {
    match desc.get("mediaType").and_then(J::as_str) {
        None => true,
        Some(mt) => mt.contains(".tar") || mt.contains("rootfs.diff") || mt.contains(".layer."),
    }
}

fn malformed(what: &str, msg: &str) -> ImageError {
    ImageError::Malformed { what: what.into(), msg: msg.into() }
}

fn images(src: &Source, shown: &str, limits: &Limits) -> Result<Vec<Image>, ImageError> {
    if let Some(index) = src.json("index.json", limits.json_bytes)? {
        if !index.is_object() {
            return Err(malformed("index.json", "not an OCI index (an object with a manifests list)"));
        }
        let mut out = Vec::new();
        let mut pending = manifests_of(&index, "index.json")?;
        let mut seen = std::collections::HashSet::new();
        while let Some(d) = pending.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let Some((r, size)) = src.by_digest(&d)? else {
                return Err(malformed(&d, "manifest blob is missing from the image"));
            };
            let m = read_json(r, size, limits.json_bytes, &d)?;
            if !m.is_object() {
                return Err(malformed(&d, "manifest is not a JSON object"));
            }
            if is_index(&m) {
                pending.extend(manifests_of(&m, &d)?);
                continue;
            }
            let layers =
                m.get("layers").and_then(J::as_array).ok_or_else(|| malformed(&d, "manifest has no layers list"))?;
            let mut blobs = Vec::new();
            for l in layers {
                let digest =
                    l.get("digest").and_then(J::as_str).ok_or_else(|| malformed(&d, "a layer without a digest"))?;
                blobs.push(Blob { name: digest.to_string(), layer: is_fs_layer(l) });
            }
            let config = m.pointer("/config/digest").and_then(J::as_str).map(str::to_string);
            out.push(Image { config, blobs });
        }
        return Ok(out);
    }
    if let Some(manifest) = src.json("manifest.json", limits.json_bytes)? {
        // `docker save`: [{Config, Layers: [paths]}].
        let list = manifest
            .as_array()
            .ok_or_else(|| malformed("manifest.json", "not a docker save manifest (a list of images)"))?;
        let mut out = Vec::new();
        for m in list {
            let layers = m
                .get("Layers")
                .and_then(J::as_array)
                .ok_or_else(|| malformed("manifest.json", "an image without a Layers list"))?;
            let mut blobs = Vec::new();
            for l in layers {
                let name = l.as_str().ok_or_else(|| malformed("manifest.json", "a layer that is not a path"))?;
                blobs.push(Blob { name: name.to_string(), layer: true });
            }
            out.push(Image { config: m.get("Config").and_then(J::as_str).map(str::to_string), blobs });
        }
        return Ok(out);
    }
    Err(ImageError::NotAnImage(shown.into()))
}

fn manifests_of(index: &J, what: &str) -> Result<Vec<String>, ImageError> {
    let list =
        index.get("manifests").and_then(J::as_array).ok_or_else(|| malformed(what, "index has no manifests list"))?;
    list.iter()
        .map(|m| {
            m.get("digest")
                .and_then(J::as_str)
                .map(str::to_string)
                .ok_or_else(|| malformed(what, "a manifest without a digest"))
        })
        .collect()
}

/// A layer's name in reports: the digest's first 12 hex digits, or the archive path.
fn short(name: &str) -> String {
    match name.split_once(':') {
        Some((_, hex)) => hex.chars().take(12).collect(),
        None => name.trim_end_matches("/layer.tar").trim_start_matches("blobs/sha256/").chars().take(12).collect(),
    }
}

/// Which cap stopped a stream.
#[derive(Debug)]
struct CapReached(String);

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CapReached {}

/// Counts decompressed bytes and fails the read with [`CapReached`] at a cap.
struct Metered<R> {
    inner: R,
    read: u64,
    compressed: u64,
    limits: Limits,
    /// Bytes already read from earlier layers (for the total cap).
    before: u64,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let l = &self.limits;
        let cap = if self.read > l.layer_bytes {
            Some(format!("the layer expands beyond the per-layer cap of {} bytes", l.layer_bytes))
        } else if self.before + self.read > l.total_bytes {
            Some(format!("the image expands beyond the total cap of {} bytes", l.total_bytes))
        } else if self.read > l.ratio_after && self.read / self.compressed.max(1) > l.ratio {
            Some(format!(
                "the layer expands more than {}× its compressed size of {} bytes (a decompression bomb?)",
                l.ratio, self.compressed
            ))
        } else {
            None
        };
        match cap {
            Some(why) => Err(std::io::Error::other(CapReached(why))),
            None => Ok(n),
        }
    }
}

fn cap_of(e: &std::io::Error) -> Option<String> {
    e.get_ref().and_then(|i| i.downcast_ref::<CapReached>()).map(|c| c.0.clone())
}

/// Scan an image file or directory with the default [`Limits`].
pub fn scan_image(engine: &Engine, path: &Path, checks: Checks) -> Result<ImageScan, ImageError> {
    scan_image_with(engine, path, checks, Limits::default())
}

/// Scan an image file or directory.
pub fn scan_image_with(engine: &Engine, path: &Path, checks: Checks, limits: Limits) -> Result<ImageScan, ImageError> {
    // The guard reads `.sops.yaml` from a repository: an image's files have none.
    let checks = Checks { guard: false, ..checks };
    let shown = path.display().to_string();
    let src = Source::open(path)?;
    let mut scan = ImageScan::default();
    for (n, image) in images(&src, &shown, &limits)?.into_iter().enumerate() {
        scan_one(engine, &src, &image, n + 1, checks, &limits, &mut scan)?;
    }
    Ok(scan)
}

fn scan_one(
    engine: &Engine,
    src: &Source,
    image: &Image,
    number: usize,
    checks: Checks,
    limits: &Limits,
    scan: &mut ImageScan,
) -> Result<(), ImageError> {
    // Findings of this image with their layer index and path, to mark those a later layer
    // deletes (whiteouts) once every layer has been read.
    let first = scan.findings.len();
    let mut located: Vec<(usize, String)> = Vec::new();
    // (layer index, deleted path): a whiteout deletes the path and everything under it.
    let mut deleted: Vec<(usize, String)> = Vec::new();
    for (i, blob) in image.blobs.iter().enumerate() {
        let name = short(&blob.name);
        let (reader, size) = match src.named(&blob.name) {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(malformed(&format!("layer {}", blob.name), "is missing from the image"));
            }
            Err(e) => {
                scan.skipped.push(Skipped { what: format!("layer {name}"), why: e.to_string() });
                continue;
            }
        };
        if !blob.layer {
            // An attestation (in-toto provenance records build arguments), signature or
            // SBOM: one document, scanned in windows like any file.
            scan.artifacts += 1;
            let shown = format!("artifact {name}");
            match sources::scan_reader(reader, |piece| {
                sources::scan_content(engine, Path::new("/"), &shown, piece, checks)
            }) {
                Ok(found) => {
                    for mut f in found {
                        f.file = shown.clone();
                        f.refresh_fingerprint();
                        scan.findings.push(f);
                        located.push((usize::MAX, String::new()));
                    }
                }
                Err(e) => scan.skipped.push(Skipped { what: shown, why: e.to_string() }),
            }
            continue;
        }
        scan.layers += 1;
        let mut head = [0u8; 4];
        let mut reader = reader;
        let got = read_head(&mut reader, &mut head).map_err(|e| ImageError::Io(format!("layer {name}"), e))?;
        let stream: Box<dyn Read + '_> = Box::new(std::io::Cursor::new(head[..got].to_vec()).chain(reader));
        let stream: Box<dyn Read + '_> = if head[..got].starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(stream))
        } else if head[..got].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            scan.skipped.push(Skipped {
                what: format!("layer {name}"),
                why: "zstd-compressed layers are not supported yet (convert the image to gzip layers)".into(),
            });
            continue;
        } else {
            stream
        };
        let metered = Metered { inner: stream, read: 0, compressed: size, limits: *limits, before: scan.bytes };
        let mut ar = tar::Archive::new(metered);
        let result = scan_layer(engine, &mut ar, &name, i, checks, scan, &mut located, &mut deleted);
        scan.bytes += ar.into_inner().read;
        if let Err(e) = result {
            let why = match cap_of(&e) {
                Some(cap) => format!("stopped: {cap}; the rest of the layer was not scanned"),
                None => format!("unreadable: {e}; the rest of the layer was not scanned"),
            };
            scan.skipped.push(Skipped { what: format!("layer {name}"), why });
            if scan.bytes > limits.total_bytes {
                scan.skipped.push(Skipped {
                    what: format!("image {number}"),
                    why: format!("the total cap of {} bytes was reached; later layers not scanned", limits.total_bytes),
                });
                break;
            }
        }
    }
    for (k, f) in scan.findings[first..].iter_mut().enumerate() {
        let (layer, path) = &located[k];
        let under = |d: &str| path.strip_prefix(d).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        let gone = *layer != usize::MAX && deleted.iter().any(|(j, d)| *j > *layer && under(d));
        if gone {
            f.description.push_str(" (deleted in a later layer, still in the image)");
        }
    }
    match &image.config {
        None => scan.skipped.push(Skipped {
            what: format!("config of image {number}"),
            why: "the manifest names no config; Env and build history not scanned".into(),
        }),
        Some(c) => match src.named(c)? {
            Some((r, size)) => scan.findings.extend(scan_config(engine, &read_json(r, size, limits.json_bytes, c)?)),
            None => scan.skipped.push(Skipped {
                what: format!("config of image {number}"),
                why: format!("blob {c} is missing; Env and build history not scanned"),
            }),
        },
    }
    Ok(())
}

fn read_head(r: &mut dyn Read, head: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[allow(clippy::too_many_arguments)]
fn scan_layer<R: Read>(
    engine: &Engine,
    ar: &mut tar::Archive<R>,
    name: &str,
    index: usize,
    checks: Checks,
    scan: &mut ImageScan,
    located: &mut Vec<(usize, String)>,
    deleted: &mut Vec<(usize, String)>,
) -> std::io::Result<()> {
    for entry in ar.entries()? {
        let mut entry = entry?;
        let p = entry.path()?.to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
        let (dir, file_name) = match p.rsplit_once('/') {
            Some((d, f)) => (d.to_string(), f),
            None => (String::new(), p.as_str()),
        };
        if file_name == ".wh..wh..opq" {
            deleted.push((index, dir));
            continue;
        }
        if let Some(gone) = file_name.strip_prefix(".wh.") {
            let full = if dir.is_empty() { gone.to_string() } else { format!("{dir}/{gone}") };
            deleted.push((index, full));
            continue;
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        scan.files += 1;
        let shown = format!("{name}:/{p}");
        let found =
            sources::scan_reader(&mut entry, |piece| sources::scan_content(engine, Path::new("/"), &p, piece, checks))?;
        for mut f in found {
            f.file = shown.clone();
            f.refresh_fingerprint();
            scan.findings.push(f);
            located.push((index, p.clone()));
        }
    }
    Ok(())
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
