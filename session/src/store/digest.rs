//! A file's checksums, read once: SHA-256 (what the store's index records
//! and a read-back is compared with) and the MD5s S3-compatible stores put
//! in their ETags (of the whole object, or of each part of a multipart
//! upload), so a verification needs no download.

use std::io::Read;
use std::path::Path;

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a file held when it was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileDigest {
    /// Bytes.
    pub size: u64,
    /// Modification time (ns since the epoch): with `size`, the key that
    /// says the file has not changed since.
    pub mtime_ns: i128,
    /// SHA-256, hex.
    pub sha256: String,
    /// MD5 of the whole file, hex (a single PUT's ETag).
    pub md5: String,
    /// The part size the part MD5s are of.
    pub part_size: u64,
    /// MD5 of each part, hex.
    pub part_md5s: Vec<String>,
}

impl FileDigest {
    /// Reads `path` through once, in parts of `part_size` bytes.
    pub fn of(path: &Path, part_size: u64) -> std::io::Result<Self> {
        let (size, mtime_ns) = stat(path)?;
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Hasher::new(part_size);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        // The file changed while it was read: the caller reads it again later.
        if stat(path)? != (size, mtime_ns) {
            return Err(std::io::Error::other("the file changed while it was read"));
        }
        Ok(hasher.finish(size, mtime_ns))
    }

    /// True when the file still has this size and modification time.
    pub fn is_current(&self, path: &Path, part_size: u64) -> bool {
        self.part_size == part_size && stat(path).is_ok_and(|s| s == (self.size, self.mtime_ns))
    }

    /// True when the file goes up in parts.
    pub fn is_multipart(&self) -> bool {
        self.size > self.part_size
    }

    /// The ETags a store may give this content: the whole file's MD5
    /// (single PUTs; some stores for multipart too) and, when uploaded in
    /// parts, the MD5 of the part MD5s with the part count (`…-N`).
    pub fn etags(&self) -> Vec<String> {
        let mut tags = vec![self.md5.clone()];
        if self.is_multipart() {
            let mut m = Md5::new();
            for p in &self.part_md5s {
                m.update(unhex(p));
            }
            tags.push(format!("{}-{}", hex(&m.finalize()), self.part_md5s.len()));
        }
        tags
    }
}

/// A file's checksums computed from its bytes fed in order, in any
/// chunks: what [`FileDigest::of`] reads, and what a first push sends
/// while it hashes (each file read once).
pub(crate) struct Hasher {
    sha: Sha256,
    /// The whole file's MD5: a single PUT's ETag, and the ETag some stores
    /// (localbucket) give a multipart object too; without it a re-push
    /// to such a store would read every large object back.
    whole: Md5,
    part: Md5,
    in_part: u64,
    part_size: u64,
    parts: Vec<String>,
}

impl Hasher {
    /// For a file going up in parts of `part_size`.
    pub fn new(part_size: u64) -> Self {
        Self { sha: Sha256::new(), whole: Md5::new(), part: Md5::new(), in_part: 0, part_size: part_size.max(1), parts: Vec::new() }
    }

    /// The next bytes of the file.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.sha.update(bytes);
        self.whole.update(bytes);
        while !bytes.is_empty() {
            let room = usize::try_from(self.part_size - self.in_part).unwrap_or(usize::MAX);
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.part.update(now);
            self.in_part += now.len() as u64;
            if self.in_part == self.part_size {
                self.parts.push(hex(&std::mem::take(&mut self.part).finalize()));
                self.in_part = 0;
            }
            bytes = rest;
        }
    }

    /// The checksums of everything fed, for a file of this size and time.
    pub fn finish(mut self, size: u64, mtime_ns: i128) -> FileDigest {
        if self.in_part > 0 || self.parts.is_empty() {
            self.parts.push(hex(&self.part.finalize()));
        }
        let md5 = hex(&self.whole.finalize());
        FileDigest { size, mtime_ns, sha256: hex(&self.sha.finalize()), md5, part_size: self.part_size, part_md5s: self.parts }
    }
}

/// `(size, mtime in ns)`.
pub(crate) fn stat(path: &Path) -> std::io::Result<(u64, i128)> {
    let m = std::fs::metadata(path)?;
    let t = m.modified()?;
    let ns = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    Ok((m.len(), ns))
}

/// An ETag as compared: without quotes, lower case.
pub(crate) fn normal_etag(tag: &str) -> String {
    tag.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase()
}

/// MD5 of `bytes`, hex: what a PUT of them gets as its ETag.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Bytes as lowercase hex (checksums here and the model files' SHA-256 in transcribe).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// SHA-256 of bytes streamed in, hex.
#[derive(Default)]
pub(crate) struct Sha256Stream(Sha256);

impl Sha256Stream {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn hex(self) -> String {
        hex(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_etags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, vec![7u8; 10]).unwrap();
        let d = FileDigest::of(&f, 4).unwrap();
        assert_eq!(d.part_md5s.len(), 3);
        assert_eq!(d.md5, hex(&Md5::digest([7u8; 10])));
        assert_eq!(d.part_md5s[2], hex(&Md5::digest([7u8; 2])));
        // The multipart ETag: MD5 of the binary part MD5s, then the count.
        let mut m = Md5::new();
        m.update(Md5::digest([7u8; 4]));
        m.update(Md5::digest([7u8; 4]));
        m.update(Md5::digest([7u8; 2]));
        assert_eq!(d.etags(), vec![d.md5.clone(), format!("{}-3", hex(&m.finalize()))]);
        // Fed in other chunks, the same checksums.
        let mut h = Hasher::new(4);
        for chunk in [&[7u8; 3][..], &[7u8; 6][..], &[7u8; 1][..]] {
            h.update(chunk);
        }
        assert_eq!(h.finish(d.size, d.mtime_ns), d);
        assert!(d.is_current(&f, 4));
        assert!(!d.is_current(&f, 8));
        let empty = dir.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        let e = FileDigest::of(&empty, 4).unwrap();
        assert_eq!(e.etags(), vec!["d41d8cd98f00b204e9800998ecf8427e".to_string()]);
        assert_eq!(normal_etag("\"ABC-2\""), "abc-2");
    }
}
