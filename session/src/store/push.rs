//! `tacit push`: a library's sessions into the site store.
//!
//! Per session, under the session's push lock:
//!
//! 1. every file but the manifest, each skipped when the store already
//!    holds it (same size, and an ETag that is the file's MD5 or multipart
//!    MD5, or — for stores whose ETags are opaque — the same SHA-256 read
//!    back), otherwise uploaded: in one PUT, or in parts (several in
//!    flight) whose upload id and finished parts are kept in the session's
//!    `.push.json`, so a killed push goes on with the parts it had not sent;
//! 2. every upload verified against the store's answer (its ETag is the
//!    server's MD5 of what it received), or read back when that says nothing;
//! 3. `store.json` (each file's size and SHA-256), then `session.json`
//!    last: a session is in the store once its manifest is;
//! 4. with `prune`, the local folder removed only when every file it holds
//!    was verified in the store in this run and none changed since.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tacit_schema::progress::Progress;

use super::digest::{md5_hex, normal_etag, stat, FileDigest, Hasher, Sha256Stream};
use super::{Store, StoreError};
use crate::layout;
use crate::lock::PushLock;
use crate::{is_recording, write_atomic, SessionDir};

/// How a push checks what is in the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// Size and the store's ETag (its MD5 of what it received); objects
    /// whose ETag is opaque are read back.
    #[default]
    Etag,
    /// Every object read back and compared by SHA-256 (finds an object
    /// damaged inside the store after it was written).
    ReadBack,
}

/// What `push` does.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Remove each local session verified in the store.
    pub prune: bool,
    /// How objects already in the store are checked.
    pub verify: Verify,
    /// Files larger than this go up in parts of this size (≥ 5 MiB).
    pub part_size: u64,
    /// Parts in flight at once.
    pub concurrency: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self { prune: false, verify: Verify::Etag, part_size: 16 << 20, concurrency: 4 }
    }
}

/// What happened to one session.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SessionPush {
    /// Session id (or folder name when it could not be opened).
    pub id: String,
    /// `pushed`, `up-to-date`, `skipped`, `paused` (asked to stop; resumes next time) or `failed`.
    pub outcome: &'static str,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Files uploaded.
    pub files_sent: usize,
    /// Bytes uploaded (parts sent by an earlier, killed push not counted).
    pub bytes_sent: u64,
    /// Files already in the store.
    pub files_kept: usize,
    /// Objects found different from the station's file and uploaded again.
    pub repaired: Vec<String>,
    /// The local folder was removed (verified in the store).
    pub pruned: bool,
}

/// What `push` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    /// The store.
    pub store: String,
    /// One entry per session asked for.
    pub sessions: Vec<SessionPush>,
}

impl PushReport {
    /// Sessions that failed.
    pub fn failed(&self) -> usize {
        self.sessions.iter().filter(|s| s.outcome == "failed").count()
    }
}

/// The store's record of a pushed session: `sessions/<id>/store.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StoreIndex {
    /// 1.
    pub format_version: u32,
    /// Session id.
    pub session: String,
    /// Each file: size and SHA-256.
    pub files: BTreeMap<String, IndexEntry>,
}

/// One file of [`StoreIndex`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexEntry {
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The station's side of a push: `.push.json` in the session folder.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PushState {
    /// Checksums of the files, by name, valid while size and mtime hold.
    digests: BTreeMap<String, FileDigest>,
    /// Unfinished multipart uploads, by store then file.
    uploads: BTreeMap<String, BTreeMap<String, Upload>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Upload {
    id: String,
    /// The file's SHA-256; empty for an upload that hashed the file while
    /// sending it (a first push), which `size` and `mtime_ns` then identify.
    sha256: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    mtime_ns: i128,
    part_size: u64,
    /// Finished parts: index → ETag.
    parts: BTreeMap<usize, String>,
}

/// Pushes the sessions at `dirs` (folders of a library) into `store`. A
/// session that fails is reported and the others go on.
pub fn push(store: &Store, dirs: &[PathBuf], options: &PushOptions, progress: &dyn Progress) -> PushReport {
    let mut report = PushReport { store: store.url().to_string(), sessions: Vec::new() };
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let result = Pusher { store, dir, options, progress, state: PushState::default() }.run();
        let entry = match result {
            Ok(s) => s,
            Err(StoreError::Paused) => {
                let why = "paused; the next push goes on from here".to_string();
                SessionPush { id: name, outcome: "paused", reason: Some(why), ..SessionPush::default() }
            }
            Err(e) => SessionPush { id: name, outcome: "failed", reason: Some(e.to_string()), ..SessionPush::default() },
        };
        report.sessions.push(entry);
    }
    report
}

struct Pusher<'a> {
    store: &'a Store,
    dir: &'a Path,
    options: &'a PushOptions,
    progress: &'a dyn Progress,
    state: PushState,
}

/// What the store holds of one file.
enum Remote {
    Same,
    Missing,
    Differs(String),
}

impl Pusher<'_> {
    fn run(mut self) -> Result<SessionPush, StoreError> {
        let session = SessionDir::open(self.dir)?;
        let id = session.id().to_string();
        let mut out = SessionPush { id: id.clone(), ..SessionPush::default() };
        if let Err(e) = session.require_finished() {
            return Ok(SessionPush { outcome: "skipped", reason: Some(e.to_string()), ..out });
        }
        let Some(_lock) = PushLock::try_acquire(self.dir)? else {
            let why = "another tacit push is sending this session".to_string();
            return Ok(SessionPush { outcome: "skipped", reason: Some(why), ..out });
        };
        if self.options.part_size < 5 << 20 {
            return Err(StoreError::Url(format!("part size {} is below S3's minimum of 5 MiB", self.options.part_size)));
        }
        self.state = PushState::load(self.dir);
        let files = session_files(self.dir)?;
        let index = self.read_index(&id)?;
        let total: u64 = files.iter().filter_map(|f| std::fs::metadata(self.dir.join(f)).ok()).map(|m| m.len()).sum();
        self.progress.start(&format!("pushing {id}"), total);
        let mut digests = BTreeMap::new();
        for name in &files {
            if self.progress.cancelled() {
                self.save_state();
                return Err(StoreError::Paused);
            }
            let object = self.store.url().path(&["sessions", &id, name]);
            if name == layout::MANIFEST {
                digests.insert(name.clone(), self.digest(name)?);
                continue; // last, below
            }
            let digest = match self.known_digest(name) {
                Some(d) => {
                    self.send_if_needed(&object, name, &d, None, index.as_ref(), &mut out)?;
                    d
                }
                None => self.send_unhashed(&object, name, index.as_ref(), &mut out)?,
            };
            digests.insert(name.clone(), digest);
        }
        self.confirm_all(&id, &digests, &mut out)?;
        let new_index = StoreIndex {
            format_version: 1,
            session: id.clone(),
            files: digests.iter().map(|(n, d)| (n.clone(), IndexEntry { size: d.size, sha256: d.sha256.clone() })).collect(),
        };
        self.put_review_index(&id, index.as_ref(), &new_index)?;
        if index.as_ref() != Some(&new_index) {
            let bytes = serde_json::to_vec_pretty(&new_index)
                .map_err(|e| StoreError::Other { what: "writing store.json".into(), cause: e.to_string() })?;
            let object = self.store.url().path(&["sessions", &id, layout::STORE_INDEX]);
            self.put_small(&object, Bytes::from(bytes), None)?;
        }
        if let Some(digest) = digests.get(layout::MANIFEST) {
            let object = self.store.url().path(&["sessions", &id, layout::MANIFEST]);
            self.send_if_needed(&object, layout::MANIFEST, digest, None, index.as_ref(), &mut out)?;
        }
        self.save_state();
        self.progress.finish();
        out.outcome = if out.files_sent == 0 { "up-to-date" } else { "pushed" };
        if self.options.prune {
            out.pruned = self.prune(&digests)?;
        }
        Ok(out)
    }

    /// The file's checksums, from the state when it has not changed.
    fn digest(&mut self, name: &str) -> Result<FileDigest, StoreError> {
        if let Some(d) = self.known_digest(name) {
            return Ok(d);
        }
        let path = self.dir.join(name);
        let d = FileDigest::of(&path, self.options.part_size).map_err(|e| crate::SessionError::io("read", &path, e))?;
        self.state.digests.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// The checksums `.push.json` holds for the file as it is now.
    fn known_digest(&self, name: &str) -> Option<FileDigest> {
        self.state.digests.get(name).filter(|d| d.is_current(&self.dir.join(name), self.options.part_size)).cloned()
    }

    /// A file whose checksums are not known yet. When the store has no such
    /// object and no upload of it is unfinished (a first push), it is
    /// hashed while it is sent: each file read once. Otherwise it is hashed
    /// first, to compare it with the store's object or to go on with the
    /// upload a killed push left.
    fn send_unhashed(
        &mut self,
        object: &ObjectPath,
        name: &str,
        index: Option<&StoreIndex>,
        out: &mut SessionPush,
    ) -> Result<FileDigest, StoreError> {
        let head = self.head(object)?;
        let unfinished = self.state.uploads.get(&self.store_key()).is_some_and(|u| u.contains_key(name));
        if head.is_some() || unfinished {
            let d = self.digest(name)?;
            self.send_if_needed(object, name, &d, Some(head), index, out)?;
            return Ok(d);
        }
        let path = self.dir.join(name);
        let (size, _) = stat(&path).map_err(|e| crate::SessionError::io("read", &path, e))?;
        let (d, sent) = if size > self.options.part_size { self.put_parts_hashing(object, name)? } else { self.put_fresh(object, name)? };
        out.files_sent += 1;
        out.bytes_sent += sent;
        self.state.digests.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// `head`: the store's answer for `object` when already asked.
    fn send_if_needed(
        &mut self,
        object: &ObjectPath,
        name: &str,
        d: &FileDigest,
        head: Option<Option<ObjectMeta>>,
        index: Option<&StoreIndex>,
        out: &mut SessionPush,
    ) -> Result<(), StoreError> {
        let known = index.and_then(|i| i.files.get(name)).is_some_and(|e| e.sha256 == d.sha256 && e.size == d.size);
        let head = match head {
            Some(h) => h,
            None => self.head(object)?,
        };
        match self.compare(object, head, d, known, self.options.verify)? {
            Remote::Same => {
                out.files_kept += 1;
                self.progress.advance(d.size);
                return Ok(());
            }
            Remote::Missing => {}
            Remote::Differs(detail) => {
                self.progress.message(&format!("{object}: {detail}; uploading it again"));
                out.repaired.push(name.to_string());
            }
        }
        let sent = if d.is_multipart() { self.put_parts(object, name, d)? } else { self.put_file(object, name, d)? };
        out.files_sent += 1;
        out.bytes_sent += sent;
        Ok(())
    }

    /// Before the index and the manifest: every file is still in the store
    /// (one HEAD each). A store that lost objects during the push (restarted
    /// empty, or cleaned by someone) gets them again, so the manifest never
    /// lands beside a missing file.
    fn confirm_all(&mut self, id: &str, digests: &BTreeMap<String, FileDigest>, out: &mut SessionPush) -> Result<(), StoreError> {
        for _ in 0..3 {
            let mut lost = Vec::new();
            for (name, d) in digests.iter().filter(|(n, _)| *n != layout::MANIFEST) {
                let object = self.store.url().path(&["sessions", id, name]);
                let head = self.head(&object)?;
                if !matches!(self.compare(&object, head, d, false, Verify::Etag)?, Remote::Same) {
                    lost.push((object, name.clone(), d.clone()));
                }
            }
            if lost.is_empty() {
                return Ok(());
            }
            for (object, name, d) in lost {
                self.progress.message(&format!("{object}: no longer in the store; uploading it again"));
                let sent = if d.is_multipart() { self.put_parts(&object, &name, &d)? } else { self.put_file(&object, &name, &d)? };
                out.files_sent += 1;
                out.bytes_sent += sent;
            }
        }
        Err(StoreError::Other {
            what: format!("pushing session {id}"),
            cause: "the store keeps losing uploaded objects; check the store".into(),
        })
    }

    /// The store's metadata of `object`, `None` when it has none.
    fn head(&self, object: &ObjectPath) -> Result<Option<ObjectMeta>, StoreError> {
        match self.store.block_on(self.store.s3().head(object)) {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store.error(&format!("checking {object}"), e)),
        }
    }

    /// What the store holds at `object` (`head`) against the station's
    /// file. `known`: the store's index lists this very content.
    fn compare(
        &self,
        object: &ObjectPath,
        head: Option<ObjectMeta>,
        d: &FileDigest,
        known: bool,
        verify: Verify,
    ) -> Result<Remote, StoreError> {
        let Some(head) = head else { return Ok(Remote::Missing) };
        if head.size != d.size {
            return Ok(Remote::Differs(format!("{} bytes in the store, {} here", head.size, d.size)));
        }
        let etag = head.e_tag.as_deref().map(normal_etag).unwrap_or_default();
        let md5_matches = d.etags().contains(&etag);
        if md5_matches && verify == Verify::Etag {
            return Ok(Remote::Same);
        }
        if !md5_matches && known && verify == Verify::Etag && !looks_like_md5(&etag) {
            // An opaque ETag (encrypted stores): the index vouches for it.
            return Ok(Remote::Same);
        }
        let sha = self.read_back(object)?;
        if sha == d.sha256 {
            Ok(Remote::Same)
        } else {
            Ok(Remote::Differs(format!("SHA-256 {} in the store, {} here", short(&sha), short(&d.sha256))))
        }
    }

    fn read_back(&self, object: &ObjectPath) -> Result<String, StoreError> {
        let s3 = self.store.s3();
        self.store
            .block_on(async {
                let mut stream = s3.get(object).await?.into_stream();
                let mut sha = Sha256Stream::default();
                while let Some(chunk) = stream.try_next().await? {
                    sha.update(&chunk);
                }
                Ok(sha.hex())
            })
            .map_err(|e| self.store.error(&format!("reading back {object}"), e))
    }

    /// A small file in one PUT; its bytes are the ones checked.
    fn put_file(&mut self, object: &ObjectPath, name: &str, d: &FileDigest) -> Result<u64, StoreError> {
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| crate::SessionError::io("read", &path, e))?;
        let mut digest = d.clone();
        if bytes.len() as u64 != d.size || md5_hex(&bytes) != d.md5 {
            // Replaced since it was read (an annotation saved meanwhile):
            // what goes up is what is there now.
            digest = self.digest(name)?;
        }
        let n = bytes.len() as u64;
        self.put_small(object, Bytes::from(bytes), Some(&digest))?;
        self.progress.advance(n);
        Ok(n)
    }

    /// One PUT, then the check of the store's ETag against `digest` (or a
    /// read-back when the ETag is opaque).
    fn put_small(&self, object: &ObjectPath, bytes: Bytes, digest: Option<&FileDigest>) -> Result<(), StoreError> {
        let sha = digest.map(|d| d.sha256.clone());
        let expect = digest.map(FileDigest::etags);
        let result = self
            .store
            .block_on(self.store.s3().put(object, PutPayload::from_bytes(bytes)))
            .map_err(|e| self.store.error(&format!("uploading {object}"), e))?;
        if let (Some(expect), Some(sha)) = (expect, sha) {
            self.check_upload(object, result.e_tag.as_deref(), &expect, &sha)?;
        }
        Ok(())
    }

    fn check_upload(&self, object: &ObjectPath, etag: Option<&str>, expect: &[String], sha256: &str) -> Result<(), StoreError> {
        let etag = etag.map(normal_etag).unwrap_or_default();
        if expect.contains(&etag) {
            return Ok(());
        }
        if looks_like_md5(&etag) {
            let detail = format!("the store's MD5 {etag} is not the file's {}", expect[0]);
            return Err(StoreError::Corrupt { object: object.to_string(), detail });
        }
        let back = self.read_back(object)?;
        if back != sha256 {
            return Err(StoreError::Corrupt { object: object.to_string(), detail: format!("SHA-256 read back {}", short(&back)) });
        }
        Ok(())
    }

    /// A large file in parts, going on with an upload a killed push left.
    fn put_parts(&mut self, object: &ObjectPath, name: &str, d: &FileDigest) -> Result<u64, StoreError> {
        for attempt in 0..2 {
            match self.try_put_parts(object, name, d) {
                Err(PartsError::UploadGone) if attempt == 0 => {
                    // The store forgot the upload (restarted, or expired it): start afresh.
                    self.progress.message(&format!("{object}: the store no longer has the unfinished upload; sending it from the start"));
                    self.forget_upload(name);
                }
                Err(PartsError::Rejected(e)) if attempt == 0 => {
                    self.progress.message(&format!("{e}; sending {object} from the start"));
                    self.forget_upload(name);
                }
                Err(PartsError::UploadGone) => {
                    return Err(StoreError::Other {
                        what: format!("uploading {object}"),
                        cause: "the store lost the multipart upload twice".into(),
                    })
                }
                Err(PartsError::Rejected(e)) => return Err(e),
                Err(PartsError::Store(e)) => return Err(e),
                Ok(n) => return Ok(n),
            }
        }
        unreachable!("the loop returns")
    }

    fn try_put_parts(&mut self, object: &ObjectPath, name: &str, d: &FileDigest) -> Result<u64, PartsError> {
        let key = self.store_key();
        let same_file = |u: &Upload| {
            u.part_size == d.part_size && (u.sha256 == d.sha256 || (u.sha256.is_empty() && (u.size, u.mtime_ns) == (d.size, d.mtime_ns)))
        };
        let existing = self.state.uploads.get(&key).and_then(|u| u.get(name)).filter(|u| same_file(u)).cloned();
        let mut upload = match existing {
            Some(u) => {
                self.progress.message(&format!("{object}: resuming ({} of {} parts already sent)", u.parts.len(), d.part_md5s.len()));
                // Kept by an older tacit without them.
                Upload { size: d.size, mtime_ns: d.mtime_ns, ..u }
            }
            None => self.start_upload(object, name, Upload { sha256: d.sha256.clone(), ..Upload::of(d.size, d.mtime_ns, d.part_size) })?,
        };
        let sent = self.send_parts(object, name, &mut upload, PartCheck::Known(&d.part_md5s))?;
        let etag = self.complete(object, name, &upload)?;
        self.check_upload(object, etag.as_deref(), &d.etags(), &d.sha256)?;
        Ok(sent)
    }

    /// A first push of a large file: each part hashed as it is read to be
    /// sent, so the file is read once. A store that loses the upload gets
    /// the file again by [`Self::put_parts`].
    fn put_parts_hashing(&mut self, object: &ObjectPath, name: &str) -> Result<(FileDigest, u64), StoreError> {
        let path = self.dir.join(name);
        let (size, mtime_ns) = stat(&path).map_err(|e| crate::SessionError::io("read", &path, e))?;
        let part_size = self.options.part_size;
        let attempt = (|| {
            let mut upload = self.start_upload(object, name, Upload::of(size, mtime_ns, part_size))?;
            let mut hasher = Hasher::new(part_size);
            let sent = self.send_parts(object, name, &mut upload, PartCheck::Hash(&mut hasher))?;
            if stat(&path).map_err(|e| StoreError::from(crate::SessionError::io("read", &path, e)))? != (size, mtime_ns) {
                self.forget_upload(name);
                return Err(changed_during_push(object));
            }
            let etag = self.complete(object, name, &upload)?;
            let d = hasher.finish(size, mtime_ns);
            self.check_upload(object, etag.as_deref(), &d.etags(), &d.sha256)?;
            Ok((d, sent))
        })();
        match attempt {
            Ok(done) => Ok(done),
            Err(PartsError::Store(e)) => Err(e),
            Err(PartsError::UploadGone | PartsError::Rejected(_)) => {
                self.progress.message(&format!("{object}: the store refused the upload; sending it from the start"));
                self.forget_upload(name);
                let d = self.digest(name)?;
                let sent = self.put_parts(object, name, &d)?;
                Ok((d, sent))
            }
        }
    }

    /// A small file in one PUT on its first push: read once, hashed, sent.
    fn put_fresh(&mut self, object: &ObjectPath, name: &str) -> Result<(FileDigest, u64), StoreError> {
        let path = self.dir.join(name);
        let io = |e| StoreError::from(crate::SessionError::io("read", &path, e));
        let (size, mtime_ns) = stat(&path).map_err(io)?;
        let bytes = std::fs::read(&path).map_err(io)?;
        if stat(&path).map_err(io)? != (size, mtime_ns) || bytes.len() as u64 != size {
            // Replaced while read (an annotation saved meanwhile): hashed first, then sent.
            let d = self.digest(name)?;
            return Ok((d.clone(), self.put_file(object, name, &d)?));
        }
        let mut hasher = Hasher::new(self.options.part_size);
        hasher.update(&bytes);
        let d = hasher.finish(size, mtime_ns);
        self.put_small(object, Bytes::from(bytes), Some(&d))?;
        self.progress.advance(size);
        Ok((d, size))
    }

    /// A new multipart upload, kept in `.push.json` before any part is sent.
    fn start_upload(&mut self, object: &ObjectPath, name: &str, mut upload: Upload) -> Result<Upload, PartsError> {
        upload.id = self
            .store
            .block_on(self.store.s3().create_multipart(object))
            .map_err(|e| self.store.error(&format!("starting the upload of {object}"), e))?;
        self.state.uploads.entry(self.store_key()).or_default().insert(name.to_string(), upload.clone());
        self.save_state();
        Ok(upload)
    }

    /// The parts of `upload` not sent yet, several in flight, each read in
    /// file order and checked (or hashed) before it goes; every finished
    /// part is kept in `.push.json`.
    fn send_parts(&mut self, object: &ObjectPath, name: &str, upload: &mut Upload, mut check: PartCheck) -> Result<u64, PartsError> {
        for &i in upload.parts.keys() {
            self.progress.advance(upload.part_len(i));
        }
        let todo: Vec<usize> = (0..upload.part_count()).filter(|i| !upload.parts.contains_key(i)).collect();
        let part_size = upload.part_size;
        let shape = Upload::of(upload.size, upload.mtime_ns, part_size);
        let part_len = |i: usize| shape.part_len(i);
        let path = self.dir.join(name);
        let file = std::fs::File::open(&path).map_err(|e| StoreError::from(crate::SessionError::io("open", &path, e)))?;
        let s3 = self.store.s3().clone();
        let mut sent = 0u64;
        let store = self.store;
        let concurrency = self.options.concurrency.max(1);
        let id = upload.id.clone();
        let result: Result<(), PartsError> = store.block_on(async {
            let mut parts = futures::stream::iter(todo)
                .map(|i| {
                    // Read here, in order, so the hashes see the file in order.
                    let len = part_len(i);
                    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
                    let read = file
                        .read_exact_at(&mut buf, i as u64 * part_size)
                        .map_err(|e| PartsError::Store(crate::SessionError::io("read", &path, e).into()))
                        .and_then(|()| check.part(i, &buf, object));
                    let (s3, id, object) = (s3.clone(), id.clone(), object.clone());
                    async move {
                        read?;
                        let part = s3.put_part(&object, &id, i, PutPayload::from(buf)).await;
                        Ok::<_, PartsError>((i, len, part))
                    }
                })
                .buffer_unordered(concurrency);
            while let Some(done) = parts.next().await {
                let (i, len, part) = done?;
                match part {
                    Ok(PartId { content_id }) => {
                        upload.parts.insert(i, content_id);
                        sent += len;
                        self.progress.advance(len);
                        self.remember_parts(name, upload);
                    }
                    Err(e) => {
                        let what = format!("uploading part {} of {object}", i + 1);
                        return Err(match store.error(&what, e) {
                            // The network: stop here, the next run goes on with this upload.
                            e @ (StoreError::Unreachable { .. } | StoreError::Denied { .. } | StoreError::NoBucket { .. }) => {
                                PartsError::Store(e)
                            }
                            // The store refused the part of an upload it no
                            // longer knows (NoSuchUpload; moto answers 500):
                            // the file starts afresh, once.
                            e => PartsError::Rejected(e),
                        });
                    }
                }
                if self.progress.cancelled() {
                    return Err(PartsError::Store(StoreError::Paused));
                }
            }
            Ok(())
        });
        self.save_state();
        result?;
        Ok(sent)
    }

    /// Completes `upload`; the store's ETag of the object.
    fn complete(&mut self, object: &ObjectPath, name: &str, upload: &Upload) -> Result<Option<String>, PartsError> {
        let ids: Vec<PartId> = upload.parts.values().map(|c| PartId { content_id: c.clone() }).collect();
        let done = match self.store.block_on(self.store.s3().complete_multipart(object, &upload.id, ids)) {
            Ok(done) => done,
            Err(e) if upload_gone(&e) => return Err(PartsError::UploadGone),
            Err(e) => return Err(PartsError::Store(self.store.error(&format!("completing the upload of {object}"), e))),
        };
        self.forget_upload(name);
        Ok(done.e_tag)
    }

    /// After every part (≥ 5 MiB each): a killed push loses no finished part.
    fn remember_parts(&mut self, name: &str, upload: &Upload) {
        let key = self.store_key();
        self.state.uploads.entry(key).or_default().insert(name.to_string(), upload.clone());
        self.save_state();
    }

    fn forget_upload(&mut self, name: &str) {
        let key = self.store_key();
        if let Some(u) = self.state.uploads.get_mut(&key) {
            u.remove(name);
            if u.is_empty() {
                self.state.uploads.remove(&key);
            }
        }
        self.save_state();
    }

    fn store_key(&self) -> String {
        format!("{}@{}", self.store.url(), self.store.endpoint())
    }

    /// Keeps `.push.json`.
    fn save_state(&mut self) {
        let Ok(bytes) = serde_json::to_vec(&self.state) else { return };
        if let Err(e) = write_atomic(&self.dir.join(layout::PUSH_STATE), &bytes) {
            self.progress.message(&format!("cannot keep the push's progress ({e}); a killed push would start its files again"));
        }
    }

    /// The review index (`review_index`), before the manifest: built and
    /// sent when a stream file or the profile changed since the last push,
    /// or when the store has none (a session pushed by an older tacit).
    fn put_review_index(&self, id: &str, old: Option<&StoreIndex>, new: &StoreIndex) -> Result<(), StoreError> {
        let streams = |i: &StoreIndex| -> Vec<(String, String)> {
            i.files
                .iter()
                .filter(|(n, _)| n.ends_with(".arrows") || n.ends_with(".wav") || *n == layout::PROFILE)
                .map(|(n, e)| (n.clone(), e.sha256.clone()))
                .collect()
        };
        let object = self.store.url().path(&["sessions", id, "index", "review.json.zst"]);
        let s3 = self.store.s3();
        if old.is_some_and(|o| streams(o) == streams(new)) {
            match self.store.block_on(async { s3.head(&object).await }) {
                Ok(_) => return Ok(()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.store.error("looking for the review index", e)),
            }
        }
        let index = super::review_index::ReviewIndex::build(self.dir)?;
        let bytes = index.encode().map_err(|e| StoreError::Other { what: "encoding the review index".into(), cause: e })?;
        self.put_small(&object, Bytes::from(bytes), None)
    }

    fn read_index(&self, id: &str) -> Result<Option<StoreIndex>, StoreError> {
        let object = self.store.url().path(&["sessions", id, layout::STORE_INDEX]);
        let s3 = self.store.s3();
        match self.store.block_on(async { s3.get(&object).await?.bytes().await }) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store.error(&format!("reading {object}"), e)),
        }
    }

    /// Removes the local folder when everything in it is what was just
    /// verified in the store; under the manifest and annotations locks, so
    /// no edit lands between the check and the removal.
    fn prune(&mut self, verified: &BTreeMap<String, FileDigest>) -> Result<bool, StoreError> {
        let _manifest = crate::lock::UpdateLock::manifest(self.dir)?;
        let _annotations = crate::lock::UpdateLock::annotations(self.dir)?;
        if is_recording(self.dir) {
            return Ok(false);
        }
        let now = session_files(self.dir)?;
        let unchanged = now.len() == verified.len()
            && now.iter().all(|n| verified.get(n).is_some_and(|d| d.is_current(&self.dir.join(n), self.options.part_size)));
        if !unchanged {
            self.progress.message(&format!("{}: changed during the push; kept (push again to prune it)", self.dir.display()));
            return Ok(false);
        }
        std::fs::remove_dir_all(self.dir).map_err(|e| crate::SessionError::io("remove", self.dir, e))?;
        Ok(true)
    }
}

/// A file that changed while its upload was under way.
fn changed_during_push(object: &ObjectPath) -> PartsError {
    let cause = "the file changed during the push; run it again".to_string();
    PartsError::Store(StoreError::Other { what: format!("uploading {object}"), cause })
}

/// What each part read for an upload is checked against.
enum PartCheck<'a> {
    /// The part MD5s of the file as hashed before (the part must match).
    Known(&'a [String]),
    /// Nothing yet: the parts are hashed as they go (read in order).
    Hash(&'a mut Hasher),
}

impl PartCheck<'_> {
    fn part(&mut self, i: usize, bytes: &[u8], object: &ObjectPath) -> Result<(), PartsError> {
        match self {
            PartCheck::Hash(h) => h.update(bytes),
            PartCheck::Known(md5s) => {
                if md5s.get(i).is_none_or(|m| *m != md5_hex(bytes)) {
                    return Err(changed_during_push(object));
                }
            }
        }
        Ok(())
    }
}

enum PartsError {
    /// The store said it has no such upload.
    UploadGone,
    /// The store refused a part (not the network).
    Rejected(StoreError),
    Store(StoreError),
}

impl From<StoreError> for PartsError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Upload {
    /// An upload not started yet of a file of this size, time and part size.
    fn of(size: u64, mtime_ns: i128, part_size: u64) -> Self {
        Self { id: String::new(), sha256: String::new(), size, mtime_ns, part_size: part_size.max(1), parts: BTreeMap::new() }
    }

    fn part_count(&self) -> usize {
        usize::try_from(self.size.div_ceil(self.part_size.max(1))).unwrap_or(0).max(1)
    }

    fn part_len(&self, i: usize) -> u64 {
        self.size.saturating_sub(i as u64 * self.part_size).min(self.part_size)
    }
}

impl PushState {
    fn load(dir: &Path) -> Self {
        std::fs::read(dir.join(layout::PUSH_STATE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }
}

/// The files of a session that belong in the store, the manifest last:
/// everything but locks, the disk reserve and hidden files (temp files,
/// the push's own state).
fn session_files(dir: &Path) -> Result<Vec<String>, StoreError> {
    let skip = [layout::MANIFEST_LOCK, layout::RECORDING_LOCK, layout::ANNOTATIONS_LOCK, layout::RESERVE];
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| crate::SessionError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| crate::SessionError::io("list", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.starts_with('.') || skip.contains(&name.as_str()) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        names.push(name);
    }
    names.sort_by_key(|n| (n == layout::MANIFEST, n.clone()));
    Ok(names)
}

fn upload_gone(e: &object_store::Error) -> bool {
    let text = super::error_chain(e);
    text.contains("NoSuchUpload") || text.contains("InvalidPart") || matches!(e, object_store::Error::NotFound { .. })
}

fn looks_like_md5(etag: &str) -> bool {
    let hexpart = etag.split_once('-').map_or(etag, |(h, n)| if n.bytes().all(|b| b.is_ascii_digit()) { h } else { etag });
    hexpart.len() == 32 && hexpart.bytes().all(|b| b.is_ascii_hexdigit())
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_order_without_locks_or_state() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "session.json",
            "session.json.lock",
            "session.lock",
            "session.reserve",
            ".push.json",
            ".x.tmp",
            "cam-a.0.arrows",
            "annotations.json",
        ] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(session_files(dir.path()).unwrap(), ["annotations.json", "cam-a.0.arrows", "session.json"]);
    }

    #[test]
    fn etag_shapes() {
        assert!(looks_like_md5("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(looks_like_md5("d41d8cd98f00b204e9800998ecf8427e-12"));
        assert!(!looks_like_md5("3858f62230ac3c915f300c664312c63f-x"));
        assert!(!looks_like_md5("opaque"));
        let u = Upload::of(40, 0, 16);
        assert_eq!(u.part_count(), 3);
        assert_eq!([u.part_len(0), u.part_len(1), u.part_len(2)], [16, 16, 8]);
        assert_eq!(Upload::of(0, 0, 16).part_count(), 1);
    }
}
