//! Reading every blob version in a Git packfile once, base before deltas.
//!
//! A history scan must look at every version of every file. Asking `git cat-file` for each
//! version makes git rebuild it from its delta chain and pipe the whole text to us, and we
//! then scan text that is mostly identical to the previous version. Walking the pack's delta
//! tree instead inflates each entry once, rebuilds a version from its delta base already in
//! memory, and tells the visitor which byte ranges the delta *inserted*: everything else was
//! copied from the base and has already been seen there.
//!
//! Only what the walk needs is implemented: index v2 (SHA-1 or SHA-256 names), pack v2/v3,
//! OFS_DELTA and REF_DELTA (base in the same pack). Objects this cannot reach (loose
//! objects, a REF_DELTA whose base sits in another pack) are left to the caller.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::{Decompress, FlushDecompress, Status};
use memmap2::Mmap;

/// Why a pack cannot be walked (the caller then reads through `git cat-file`).
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The pack or its index cannot be read.
    #[error("{path}: {why}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        why: std::io::Error,
    },
    /// Not a pack this reader understands, or past a size or depth bound.
    #[error("{path}: not a pack index or pack this reader understands ({why})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What did not fit.
        why: &'static str,
    },
}

const OBJ_BLOB: u8 = 3;
const OBJ_OFS_DELTA: u8 = 6;
const OBJ_REF_DELTA: u8 = 7;

/// One `.pack` with its `.idx`, memory-mapped.
pub struct Pack {
    path: PathBuf,
    pack: Mmap,
    idx: Mmap,
    hash_len: usize,
    count: usize,
}

#[allow(unsafe_code)] // a memory map or a libc call; see the SAFETY comment inside
fn map(path: &Path) -> Result<Mmap, PackError> {
    let file = File::open(path).map_err(|why| PackError::Io { path: path.into(), why })?;
    // SAFETY: git never rewrites a pack or index in place (new ones are written beside and
    // renamed; old ones are unlinked, which keeps this mapping valid on Unix).
    unsafe { Mmap::map(&file) }.map_err(|why| PackError::Io { path: path.into(), why })
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl Pack {
    /// Open `pack-*.idx` and its `.pack`. `hash_len` is 20 (SHA-1) or 32 (SHA-256).
    pub fn open(idx_path: &Path, hash_len: usize) -> Result<Pack, PackError> {
        let bad = |why| PackError::Format { path: idx_path.into(), why };
        let idx = map(idx_path)?;
        if idx.len() < 8 + 1024 || idx[..4] != [0xff, b't', b'O', b'c'] || be32(&idx, 4) != 2 {
            return Err(bad("only index version 2 is supported"));
        }
        let count = be32(&idx, 8 + 255 * 4) as usize;
        if idx.len() < 8 + 1024 + count * (hash_len + 8) {
            return Err(bad("index is truncated"));
        }
        let pack_path = idx_path.with_extension("pack");
        let pack = map(&pack_path)?;
        if pack.len() < 12 + hash_len || &pack[..4] != b"PACK" || !matches!(be32(&pack, 4), 2 | 3) {
            return Err(PackError::Format { path: pack_path, why: "bad pack header" });
        }
        if be32(&pack, 8) as usize != count {
            return Err(PackError::Format { path: pack_path, why: "pack and index disagree on the object count" });
        }
        Ok(Pack { path: pack_path, pack, idx, hash_len, count })
    }

    /// Name of the i-th object in index (sorted) order.
    pub fn oid(&self, i: usize) -> &[u8] {
        let at = 8 + 1024 + i * self.hash_len;
        &self.idx[at..at + self.hash_len]
    }

    fn offset(&self, i: usize) -> Result<usize, PackError> {
        let table = 8 + 1024 + self.count * (self.hash_len + 4);
        let v = be32(&self.idx, table + i * 4);
        if v & 0x8000_0000 == 0 {
            return Ok(v as usize);
        }
        let at = table + self.count * 4 + (v & 0x7fff_ffff) as usize * 8;
        self.idx
            .get(at..at + 8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")) as usize)
            .ok_or_else(|| self.bad("64-bit offset outside the index"))
    }

    fn find(&self, oid: &[u8]) -> Option<usize> {
        let first = oid[0] as usize;
        let lo = if first == 0 { 0 } else { be32(&self.idx, 8 + (first - 1) * 4) as usize };
        // A hostile index may hold any fan-out values: stay inside the name table.
        let hi = (be32(&self.idx, 8 + first * 4) as usize).min(self.count);
        let (mut lo, mut hi) = (lo.min(hi), hi);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.oid(mid).cmp(oid) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    fn bad(&self, why: &'static str) -> PackError {
        PackError::Format { path: self.path.clone(), why }
    }
}

/// Where an entry sits and what it is.
struct Entry {
    /// index position (for the object name)
    idx: u32,
    kind: u8,
    /// inflated size (of the object, or of the delta for delta entries)
    size: usize,
    /// zlib data
    data: Range<usize>,
}

/// The pack's delta forest: every entry, and for each base the entries deltified against it.
struct Forest {
    entries: Vec<Entry>,
    /// children of entry i: child_list[child_start[i]..child_start[i + 1]]
    child_start: Vec<u32>,
    child_list: Vec<u32>,
    /// full blobs (delta roots), largest subtree first for load balance
    roots: Vec<u32>,
}

fn forest(p: &Pack) -> Result<Forest, PackError> {
    let mut by_offset: Vec<(usize, u32)> =
        (0..p.count).map(|i| Ok((p.offset(i)?, i as u32))).collect::<Result<_, _>>()?;
    by_offset.sort_unstable();
    let end_of_data = p.pack.len() - p.hash_len;
    let position: HashMap<usize, u32> = by_offset.iter().enumerate().map(|(k, &(off, _))| (off, k as u32)).collect();
    let mut entries = Vec::with_capacity(p.count);
    let mut base_of: Vec<Option<u32>> = Vec::with_capacity(p.count);
    for (k, &(off, idx)) in by_offset.iter().enumerate() {
        let next = by_offset.get(k + 1).map_or(end_of_data, |&(o, _)| o);
        if off >= next || next > end_of_data {
            return Err(p.bad("entry offsets overlap"));
        }
        let b = &p.pack[off..next];
        let mut at = 0;
        let kind = (b[0] >> 4) & 7;
        let mut size = (b[0] & 0x0f) as usize;
        let mut shift = 4;
        while b[at] & 0x80 != 0 {
            at += 1;
            if at >= b.len() || shift > 56 {
                return Err(p.bad("entry header runs past the entry"));
            }
            size |= ((b[at] & 0x7f) as usize) << shift;
            shift += 7;
        }
        at += 1;
        let base = match kind {
            OBJ_OFS_DELTA => {
                let mut c = *b.get(at).ok_or_else(|| p.bad("delta header runs past the entry"))?;
                at += 1;
                let mut back = (c & 0x7f) as usize;
                while c & 0x80 != 0 {
                    c = *b.get(at).ok_or_else(|| p.bad("delta header runs past the entry"))?;
                    at += 1;
                    back = ((back + 1) << 7) | (c & 0x7f) as usize;
                }
                let base = off.checked_sub(back).ok_or_else(|| p.bad("delta base before the pack start"))?;
                Some(*position.get(&base).ok_or_else(|| p.bad("delta base is not an entry"))?)
            }
            // A base in another pack (thin packs fixed up elsewhere): the caller reads it.
            OBJ_REF_DELTA => {
                let name = b.get(at..at + p.hash_len).ok_or_else(|| p.bad("delta header runs past the entry"))?;
                at += p.hash_len;
                match p.find(name) {
                    Some(i) => Some(*position.get(&p.offset(i)?).expect("indexed offset")),
                    None => None,
                }
            }
            _ => None,
        };
        entries.push(Entry { idx, kind, size, data: off + at..next });
        base_of.push(base);
    }
    let mut child_start = vec![0u32; entries.len() + 1];
    for b in base_of.iter().flatten() {
        child_start[*b as usize + 1] += 1;
    }
    for i in 0..entries.len() {
        child_start[i + 1] += child_start[i];
    }
    let mut fill = child_start.clone();
    let mut child_list = vec![0u32; child_start[entries.len()] as usize];
    for (k, b) in base_of.iter().enumerate() {
        if let Some(b) = b {
            child_list[fill[*b as usize] as usize] = k as u32;
            fill[*b as usize] += 1;
        }
    }
    let mut roots: Vec<(usize, u32)> = Vec::new();
    for (k, e) in entries.iter().enumerate() {
        if e.kind == OBJ_BLOB {
            let mut n = 0;
            let mut stack = vec![k as u32];
            while let Some(x) = stack.pop() {
                n += 1;
                stack.extend_from_slice(
                    &child_list[child_start[x as usize] as usize..child_start[x as usize + 1] as usize],
                );
            }
            roots.push((n, k as u32));
        }
    }
    roots.sort_unstable_by(|a, b| b.cmp(a));
    Ok(Forest { entries, child_start, child_list, roots: roots.into_iter().map(|(_, k)| k).collect() })
}

/// Largest object (or delta) the walk rebuilds in memory; a pack entry may declare any
/// size, and a hostile one declares terabytes. Larger objects end the walk with an error
/// (the caller then reads the pack through `git cat-file`).
pub const MAX_OBJECT: usize = 512 << 20;
/// Longest delta chain the walk follows (git's own `pack.depth` maximum is 4095).
pub const MAX_CHAIN: usize = 4096;
/// Most bytes held along one delta chain (each version is kept while its children are
/// rebuilt from it).
pub const MAX_CHAIN_BYTES: usize = 2 << 30;

fn inflate(p: &Pack, e: &Entry, z: &mut Decompress, out: &mut Vec<u8>) -> Result<(), PackError> {
    z.reset(true);
    if e.size > MAX_OBJECT {
        return Err(p.bad("an object is larger than the walk rebuilds in memory"));
    }
    out.clear();
    out.reserve(e.size);
    let status = z.decompress_vec(&p.pack[e.data.clone()], out, FlushDecompress::Finish);
    match status {
        Ok(Status::StreamEnd) if out.len() == e.size => Ok(()),
        // An empty object is a complete zlib stream that may report Ok rather than StreamEnd.
        Ok(_) if e.size == 0 && out.is_empty() => Ok(()),
        _ => Err(p.bad("corrupt zlib data")),
    }
}

fn varint(d: &[u8], at: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let b = *d.get(*at)?;
        *at += 1;
        v |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Rebuild a version from its base and a git delta; `inserted` gets the target ranges the
/// delta added (merged when adjacent).
pub fn apply_delta(base: &[u8], delta: &[u8], inserted: &mut Vec<Range<usize>>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    apply_delta_into(base, delta, inserted, &mut out)?;
    Some(out)
}

/// [`apply_delta`] into a buffer the caller reuses: rebuilding every version of a history
/// into fresh allocations spent a third of the walk in the allocator.
fn apply_delta_into(base: &[u8], delta: &[u8], inserted: &mut Vec<Range<usize>>, out: &mut Vec<u8>) -> Option<()> {
    inserted.clear();
    out.clear();
    let mut at = 0;
    if varint(delta, &mut at)? != base.len() {
        return None;
    }
    let size = varint(delta, &mut at)?;
    if size > MAX_OBJECT {
        return None;
    }
    out.reserve(size);
    while at < delta.len() {
        let cmd = delta[at];
        at += 1;
        if cmd & 0x80 != 0 {
            let mut arg = |bit: u8, shift: u32, v: &mut usize| -> Option<()> {
                if cmd & bit != 0 {
                    *v |= (*delta.get(at)? as usize) << shift;
                    at += 1;
                }
                Some(())
            };
            let (mut off, mut len) = (0usize, 0usize);
            arg(0x01, 0, &mut off)?;
            arg(0x02, 8, &mut off)?;
            arg(0x04, 16, &mut off)?;
            arg(0x08, 24, &mut off)?;
            arg(0x10, 0, &mut len)?;
            arg(0x20, 8, &mut len)?;
            arg(0x40, 16, &mut len)?;
            if len == 0 {
                len = 0x10000;
            }
            out.extend_from_slice(base.get(off..off.checked_add(len)?)?);
        } else if cmd != 0 {
            let bytes = delta.get(at..at + cmd as usize)?;
            at += cmd as usize;
            let start = out.len();
            out.extend_from_slice(bytes);
            match inserted.last_mut() {
                Some(last) if last.end == start => last.end = out.len(),
                _ => inserted.push(start..out.len()),
            }
        } else {
            return None;
        }
    }
    (out.len() == size).then_some(())
}

/// What the walk hands to the visitor for each blob version.
pub struct Blob<'a> {
    /// Its object id.
    pub oid: &'a [u8],
    /// Its content.
    pub content: &'a [u8],
    /// For a delta version whose base was visited: the ranges the delta inserted. `None`
    /// means the whole content is new to the walk.
    pub inserted: Option<&'a [Range<usize>]>,
}

/// Called for every blob version. What it returns is passed to the versions deltified
/// against this one (`None`: the visitor skipped this blob, so its children are new in full).
pub trait Visitor: Sync {
    /// What a version passes to the versions deltified against it.
    type Carry: Send;
    /// Scan one version; `parent` is what its delta base's visit returned.
    fn visit(&self, blob: &Blob, parent: Option<&Self::Carry>) -> Option<Self::Carry>;
}

/// Walk every blob in `pack`, on `threads` threads. Returns how many blob versions were
/// visited; corrupt entries end the walk with an error.
pub fn walk<V: Visitor>(pack: &Pack, threads: usize, visitor: &V) -> Result<usize, PackError> {
    let f = forest(pack)?;
    let next = AtomicUsize::new(0);
    let visited = AtomicUsize::new(0);
    let worker = || -> Result<(), PackError> {
        let mut z = Decompress::new(true);
        let mut scratch = Vec::new();
        // One content buffer per chain depth and one delta buffer, reused from version to
        // version (empty vectors until a chain reaches that deep).
        let mut bufs: Vec<Vec<u8>> = (0..=MAX_CHAIN).map(|_| Vec::new()).collect();
        let mut delta = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&root) = f.roots.get(k) else { return Ok(()) };
            let e = &f.entries[root as usize];
            let (content, deeper) = bufs.split_first_mut().expect("MAX_CHAIN + 1 buffers");
            inflate(pack, e, &mut z, content)?;
            let blob = Blob { oid: pack.oid(e.idx as usize), content, inserted: None };
            let carry = visitor.visit(&blob, None);
            let chain = Chain { depth: 1, bytes: content.len() };
            let mut w = Walker { pack, f: &f, visitor, z: &mut z, inserted: &mut scratch, delta: &mut delta };
            let n = w.descend(root, content, carry.as_ref(), deeper, chain)?;
            visited.fetch_add(n + 1, Ordering::Relaxed);
            release_if_large(content);
        }
    };
    std::thread::scope(|s| {
        // Chains recurse up to MAX_CHAIN deep: give the walkers the stack for it.
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| std::thread::Builder::new().stack_size(64 << 20).spawn_scoped(s, worker))
            .collect::<Result<_, _>>()
            .map_err(|_| pack.bad("cannot start a walker thread"))?;
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(pack.bad("a walker thread failed"))))
    })?;
    Ok(visited.into_inner())
}

/// How deep the walk is in a delta chain, and the bytes the chain holds.
#[derive(Clone, Copy)]
struct Chain {
    depth: usize,
    bytes: usize,
}

/// A buffer that held an unusually large version is given back rather than kept for the
/// rest of the walk: reuse must not turn one 100 MB file into 100 MB per chain depth.
fn release_if_large(buf: &mut Vec<u8>) {
    if buf.capacity() > 8 << 20 {
        *buf = Vec::new();
    }
}

/// One walker thread's state while it descends a delta tree.
struct Walker<'w, V: Visitor> {
    pack: &'w Pack,
    f: &'w Forest,
    visitor: &'w V,
    z: &'w mut Decompress,
    inserted: &'w mut Vec<Range<usize>>,
    delta: &'w mut Vec<u8>,
}

impl<V: Visitor> Walker<'_, V> {
    /// Visit the versions deltified against `base` (whose content is `base_content`), and
    /// theirs, depth first. `bufs` holds one reusable buffer per remaining chain depth.
    fn descend(
        &mut self,
        base: u32,
        base_content: &[u8],
        base_carry: Option<&V::Carry>,
        bufs: &mut [Vec<u8>],
        chain: Chain,
    ) -> Result<usize, PackError> {
        let f = self.f;
        let children = &f.child_list[f.child_start[base as usize] as usize..f.child_start[base as usize + 1] as usize];
        if children.is_empty() {
            return Ok(0);
        }
        let Some((content, deeper)) = bufs.split_first_mut() else {
            return Err(self.pack.bad("a delta chain is deeper or larger than the walk follows"));
        };
        let mut n = 0;
        for &c in children {
            let e = &f.entries[c as usize];
            inflate(self.pack, e, self.z, self.delta)?;
            apply_delta_into(base_content, self.delta, self.inserted, content)
                .ok_or_else(|| self.pack.bad("corrupt delta"))?;
            let chain = Chain { depth: chain.depth + 1, bytes: chain.bytes + content.len() };
            if chain.depth > MAX_CHAIN || chain.bytes > MAX_CHAIN_BYTES {
                return Err(self.pack.bad("a delta chain is deeper or larger than the walk follows"));
            }
            let blob = Blob {
                oid: self.pack.oid(e.idx as usize),
                content,
                inserted: base_carry.is_some().then_some(self.inserted.as_slice()),
            };
            let carry = self.visitor.visit(&blob, base_carry);
            n += 1 + self.descend(c, content, carry.as_ref(), deeper, chain)?;
        }
        release_if_large(content);
        release_if_large(self.delta);
        Ok(n)
    }
}

/// The `pack-*.idx` files of an objects directory and of its alternates.
pub fn indexes(objects: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![objects.to_path_buf()];
    if let Ok(alt) = std::fs::read_to_string(objects.join("info/alternates")) {
        for line in alt.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let p = Path::new(line);
            dirs.push(if p.is_absolute() { p.to_path_buf() } else { objects.join(p) });
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(d.join("pack")) {
            let mut found: Vec<PathBuf> =
                rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "idx")).collect();
            found.sort();
            out.extend(found);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_copies_and_inserts() {
        let base = b"hello world\n";
        // source size 12, target size 18: copy "hello " (off 0, len 6), insert "brave ", copy "world\n"
        let mut d = vec![12, 18];
        d.extend([0x80 | 0x10, 6]);
        d.push(6);
        d.extend(b"brave ");
        d.extend([0x80 | 0x01 | 0x10, 6, 6]);
        let mut ins = Vec::new();
        let out = apply_delta(base, &d, &mut ins).unwrap();
        assert_eq!(out, b"hello brave world\n");
        assert_eq!(ins, vec![6..12]);
    }

    /// Write a pack (version 2) and its index holding `entries` (type, declared size,
    /// OFS_DELTA distance back in entries or 0, uncompressed payload).
    fn write_pack(dir: &Path, entries: &[(u8, u64, usize, Vec<u8>)]) -> PathBuf {
        use std::io::Write;
        let mut pack = b"PACK".to_vec();
        pack.extend(2u32.to_be_bytes());
        pack.extend((entries.len() as u32).to_be_bytes());
        let mut offsets = Vec::new();
        for (kind, size, back, payload) in entries {
            let off = pack.len();
            offsets.push(off);
            let mut size = *size;
            let mut b = (kind << 4) | (size & 0x0f) as u8;
            size >>= 4;
            while size > 0 {
                pack.push(b | 0x80);
                b = (size & 0x7f) as u8;
                size >>= 7;
            }
            pack.push(b);
            if *kind == OBJ_OFS_DELTA {
                let mut d = off - offsets[offsets.len() - 1 - back];
                let mut enc = vec![(d & 0x7f) as u8];
                d >>= 7;
                while d > 0 {
                    d -= 1;
                    enc.push(0x80 | (d & 0x7f) as u8);
                    d >>= 7;
                }
                enc.reverse();
                pack.extend(enc);
            }
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(payload).unwrap();
            pack.extend(z.finish().unwrap());
        }
        pack.extend([0u8; 20]);
        let n = entries.len() as u32;
        let mut idx = vec![0xff, b't', b'O', b'c'];
        idx.extend(2u32.to_be_bytes());
        for _ in 0..256 {
            idx.extend(n.to_be_bytes());
        }
        for i in 0..n {
            let mut oid = [0u8; 20];
            oid[16..].copy_from_slice(&i.to_be_bytes());
            idx.extend(oid);
        }
        idx.extend(std::iter::repeat_n(0u8, 4 * n as usize));
        for off in &offsets {
            idx.extend((*off as u32).to_be_bytes());
        }
        idx.extend([0u8; 40]);
        std::fs::write(dir.join("p.pack"), pack).unwrap();
        std::fs::write(dir.join("p.idx"), idx).unwrap();
        dir.join("p.idx")
    }

    struct Count(AtomicUsize);
    impl Visitor for Count {
        type Carry = ();
        fn visit(&self, _: &Blob, _: Option<&()>) -> Option<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Some(())
        }
    }

    fn varint_bytes(mut v: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn an_entry_declaring_a_terabyte_is_refused_without_allocating_it() {
        let dir = tempfile::tempdir().unwrap();
        let idx = write_pack(dir.path(), &[(OBJ_BLOB, 1 << 40, 0, b"x".to_vec())]);
        let pack = Pack::open(&idx, 20).unwrap();
        assert!(walk(&pack, 1, &Count(AtomicUsize::new(0))).is_err());
        // A delta announcing a terabyte result.
        let mut delta = varint_bytes(1);
        delta.extend(varint_bytes(1 << 40));
        delta.extend([1, b'y']);
        let idx =
            write_pack(dir.path(), &[(OBJ_BLOB, 1, 0, b"x".to_vec()), (OBJ_OFS_DELTA, delta.len() as u64, 1, delta)]);
        let pack = Pack::open(&idx, 20).unwrap();
        assert!(walk(&pack, 1, &Count(AtomicUsize::new(0))).is_err());
    }

    #[test]
    fn a_very_deep_delta_chain_ends_the_walk_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = vec![(OBJ_BLOB, 1, 0, b"x".to_vec())];
        for depth in 1..=MAX_CHAIN + 50 {
            // Copy the whole base (depth bytes), insert one byte.
            let mut d = varint_bytes(depth);
            d.extend(varint_bytes(depth + 1));
            d.extend([0x80 | 0x10 | 0x20, (depth & 0xff) as u8, (depth >> 8) as u8]);
            d.extend([1, b'y']);
            entries.push((OBJ_OFS_DELTA, d.len() as u64, 1, d));
        }
        let idx = write_pack(dir.path(), &entries);
        let pack = Pack::open(&idx, 20).unwrap();
        assert!(walk(&pack, 2, &Count(AtomicUsize::new(0))).is_err());
        // The same chain within the limit is walked whole.
        entries.truncate(1000);
        let idx = write_pack(dir.path(), &entries);
        let pack = Pack::open(&idx, 20).unwrap();
        let count = Count(AtomicUsize::new(0));
        assert_eq!(walk(&pack, 2, &count).unwrap(), 1000);
    }

    #[test]
    fn delta_rejects_wrong_base_and_overruns() {
        let mut ins = Vec::new();
        assert!(apply_delta(b"abc", &[4, 1, 1, b'x'], &mut ins).is_none());
        // copy past the end of the base
        assert!(apply_delta(b"abc", &[3, 5, 0x80 | 0x10, 5], &mut ins).is_none());
        // result shorter than announced
        assert!(apply_delta(b"abc", &[3, 9, 1, b'x'], &mut ins).is_none());
        // reserved opcode 0
        assert!(apply_delta(b"abc", &[3, 1, 0], &mut ins).is_none());
    }
}
