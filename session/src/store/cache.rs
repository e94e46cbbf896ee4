//! The bounded local cache of a store library: stream files are read from
//! the store in blocks (ranged GETs), and each block is kept on the local
//! disk until the cache's byte limit pushes it out (least recently used
//! first). Opening a one-hour session reads the blocks it touches, never
//! the whole file; an export streams through the cache without growing it
//! past the limit.
//!
//! Blocks are named by the object's path, its ETag and the block number, so
//! a changed object never reads a stale block. Several processes may share
//! one cache folder: each counts what it finds there when it starts, a block
//! another process evicted is fetched again, and every block is written to
//! a temporary file and renamed, so a reader never sees half a block.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;

use super::Store;

/// Bytes this process downloaded from the store to read sessions (blocks,
/// checkouts, review indexes), for benchmarks and reports.
pub fn fetched_bytes() -> u64 {
    FETCHED.load(std::sync::atomic::Ordering::Relaxed)
}

static FETCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn count_fetched(n: usize) {
    FETCHED.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Block size of ranged reads: big enough that a sequential read (export,
/// transcription) is a few requests per second, small enough that a seek
/// in Review fetches little.
pub const BLOCK_BYTES: u64 = 4 << 20;

/// Where the cache lives and how big it may grow.
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// The cache folder (default `$TACIT_CACHE_DIR`, else the user cache
    /// folder's `tacit/store`).
    pub dir: PathBuf,
    /// The most bytes of blocks kept (default `$TACIT_CACHE_MB` MiB, else 2 GiB).
    pub limit_bytes: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        let dir = std::env::var_os("TACIT_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("tacit").join("store"));
        let mb = std::env::var("TACIT_CACHE_MB").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(2048);
        Self { dir, limit_bytes: mb.max(8) << 20 }
    }
}

/// One object of the store read through the cache.
#[derive(Debug)]
pub struct RemoteObject {
    pub(crate) store: Arc<Store>,
    pub(crate) path: ObjectPath,
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) cache: Arc<BlockCache>,
}

impl RemoteObject {
    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where it is, for messages (`s3://bucket/key`).
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.store.url().bucket, self.path)
    }

    /// Block `index` of the object (the last one may be short).
    pub fn block(&self, index: u64) -> std::io::Result<Bytes> {
        self.cache.block(self, index)
    }

    /// True when block `index` is in the cache already.
    pub fn has_block(&self, index: u64) -> bool {
        self.cache.touch(&BlockCache::name(self, index))
    }

    /// `len` bytes from `pos`, read from the store (one ranged GET, not cached).
    pub fn range(&self, pos: u64, len: usize) -> std::io::Result<Bytes> {
        let s3 = self.store.s3().clone();
        let bytes = self
            .store
            .block_on(async { s3.get_range(&self.path, pos..pos + len as u64).await })
            .map_err(|e| std::io::Error::other(format!("{} (reading {})", self.store.error("a ranged read", e), self.url())))?;
        count_fetched(bytes.len());
        if bytes.len() != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} sent {} of {len} bytes", self.url(), bytes.len()),
            ));
        }
        Ok(bytes)
    }
}

#[derive(Debug, Default)]
struct State {
    used: u64,
    tick: u64,
    /// Recency → block file name.
    lru: BTreeMap<u64, String>,
    /// Block file name → (recency, bytes).
    entries: HashMap<String, (u64, u64)>,
}

/// The blocks on disk, bounded by [`CacheOptions::limit_bytes`].
#[derive(Debug)]
pub struct BlockCache {
    dir: PathBuf,
    limit: u64,
    state: Mutex<State>,
}

impl BlockCache {
    /// Opens (creating) the cache folder and counts the blocks already in it.
    pub fn open(options: &CacheOptions) -> std::io::Result<Arc<Self>> {
        let dir = options.dir.join("blocks");
        std::fs::create_dir_all(&dir).map_err(|e| with_path(e, "create the store cache folder", &dir))?;
        let mut found: Vec<(std::time::SystemTime, String, u64)> = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| with_path(e, "list the store cache", &dir))?.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            if name.ends_with(".tmp") {
                // A block a killed process was writing.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            found.push((meta.modified().unwrap_or(std::time::UNIX_EPOCH), name, meta.len()));
        }
        found.sort();
        let mut state = State::default();
        for (_, name, len) in found {
            state.tick += 1;
            state.used += len;
            state.lru.insert(state.tick, name.clone());
            state.entries.insert(name, (state.tick, len));
        }
        let cache = Self { dir, limit: options.limit_bytes, state: Mutex::new(state) };
        cache.evict(None);
        Ok(Arc::new(cache))
    }

    /// Bytes of blocks held now.
    pub fn used_bytes(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).used
    }

    /// The folder the blocks are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn name(object: &RemoteObject, index: u64) -> String {
        let mut h = super::digest::Sha256Stream::default();
        h.update(object.path.as_ref().as_bytes());
        h.update(b"\0");
        h.update(object.etag.as_bytes());
        format!("{}-{index}.blk", &h.hex()[..24])
    }

    fn block(&self, object: &RemoteObject, index: u64) -> std::io::Result<Bytes> {
        let name = Self::name(object, index);
        let file = self.dir.join(&name);
        if self.touch(&name) {
            match std::fs::read(&file) {
                Ok(b) if b.len() as u64 == block_len(object.size, index) => return Ok(Bytes::from(b)),
                // Evicted by another process, or damaged: fetch it again.
                _ => self.forget(&name),
            }
        }
        let len = block_len(object.size, index);
        if len == 0 {
            return Ok(Bytes::new());
        }
        let bytes = object.range(index * BLOCK_BYTES, len as usize)?;
        self.keep(&name, &file, &bytes)?;
        Ok(bytes)
    }

    fn keep(&self, name: &str, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = file.with_extension(format!("{}.tmp", std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(cache_error(e, &self.dir));
        }
        std::fs::rename(&tmp, file).map_err(|e| cache_error(e, &self.dir))?;
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.tick += 1;
            let tick = s.tick;
            if let Some((old, len)) = s.entries.insert(name.to_string(), (tick, bytes.len() as u64)) {
                s.lru.remove(&old);
                s.used -= len;
            }
            s.lru.insert(tick, name.to_string());
            s.used += bytes.len() as u64;
        }
        self.evict(Some(name));
        Ok(())
    }

    /// Marks a block used now; false when this process does not know it.
    fn touch(&self, name: &str) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.tick += 1;
        let tick = s.tick;
        let Some(entry) = s.entries.get_mut(name) else { return false };
        let old = std::mem::replace(&mut entry.0, tick);
        s.lru.remove(&old);
        s.lru.insert(tick, name.to_string());
        true
    }

    fn forget(&self, name: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((tick, len)) = s.entries.remove(name) {
            s.lru.remove(&tick);
            s.used -= len;
        }
    }

    /// Removes the least recently used blocks until the cache is within its
    /// limit, never `keep` (the block just read).
    fn evict(&self, keep: Option<&str>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while s.used > self.limit {
            let Some((&tick, name)) = s.lru.iter().find(|(_, n)| Some(n.as_str()) != keep) else { break };
            let name = name.clone();
            s.lru.remove(&tick);
            if let Some((_, len)) = s.entries.remove(&name) {
                s.used -= len;
            }
            let _ = std::fs::remove_file(self.dir.join(&name));
        }
    }
}

fn block_len(size: u64, index: u64) -> u64 {
    size.saturating_sub(index * BLOCK_BYTES).min(BLOCK_BYTES)
}

fn with_path(e: std::io::Error, what: &str, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

/// A cache write that failed: a full disk says so and what to do.
fn cache_error(e: std::io::Error, dir: &Path) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        return std::io::Error::new(
            e.kind(),
            format!(
                "the disk holding the store cache ({}) is full: free space there, or set TACIT_CACHE_DIR to a disk with room \
                 or TACIT_CACHE_MB lower; nothing in the store was changed",
                dir.display()
            ),
        );
    }
    with_path(e, "write a block to the store cache", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lengths() {
        assert_eq!(block_len(10, 0), 10);
        assert_eq!(block_len(BLOCK_BYTES * 2 + 5, 2), 5);
        assert_eq!(block_len(BLOCK_BYTES * 2, 2), 0);
        assert_eq!(block_len(BLOCK_BYTES * 2, 1), BLOCK_BYTES);
    }

    #[test]
    fn eviction_keeps_the_cache_under_its_limit_and_the_newest_block() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = BlockCache::open(&CacheOptions { dir: tmp.path().into(), limit_bytes: 10 }).unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let file = cache.dir().join(name);
            cache.keep(name, &file, &[i as u8; 4]).unwrap();
        }
        // 12 bytes > 10: "a", the oldest, went; "b" and "c" stay.
        assert_eq!(cache.used_bytes(), 8);
        assert!(!cache.dir().join("a").exists() && cache.dir().join("c").exists());
        assert!(cache.touch("b"));
        cache.keep("d", &cache.dir().join("d"), &[9; 4]).unwrap();
        // "c" was the least recently used after "b" was read again.
        assert!(cache.dir().join("b").exists() && !cache.dir().join("c").exists());
        // A second process counts what is there.
        let again = BlockCache::open(&CacheOptions { dir: tmp.path().into(), limit_bytes: 10 }).unwrap();
        assert_eq!(again.used_bytes(), 8);
    }
}
