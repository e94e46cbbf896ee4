//! The site store as a library: `--library s3://bucket/prefix`.
//!
//! A session in the store is *checked out* into a folder of the local cache
//! before a command works on it: its small files (the manifest, the profile
//! as recorded, the transcript, the merged annotations) are downloaded, its
//! stream files (`*.arrows`, `*.wav`) are not. The checkout is registered
//! in this process, and every stream reader opens files through
//! [`crate::file::SessionFile`], which reads a registered checkout's stream
//! files from the store with ranged reads through the bounded
//! [`BlockCache`]. So `inspect`, `transcribe`, `label`, `export` and Review
//! run on a store session with the calls they use on a local one, and
//! opening a one-hour session downloads what is read, not the hour.
//!
//! What a command changes goes back to the store at once:
//! - labels: [`super::annotations`] (an append-only log per author, merged
//!   when read; put-if-absent and If-Match guard the shared objects);
//! - the manifest (`reviewed`, the transcript's summary): read with its
//!   ETag, changed, written back with If-Match, retried when another writer
//!   came first;
//! - `transcript.parquet`: written whole (the last transcription wins, as
//!   on disk).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use tacit_schema::SessionManifest;

use super::cache::{BlockCache, CacheOptions, RemoteObject};
use super::{Store, StoreError};
use crate::layout;
use crate::library::SessionFilter;
use crate::{write_atomic, SessionError};

/// Sessions checked out in this process: their local folder → the store.
static CHECKOUTS: RwLock<Vec<Arc<Checkout>>> = RwLock::new(Vec::new());

/// The checkout holding the file `path`, and the file's name in it.
fn checkout_file(path: &Path) -> Option<(Arc<Checkout>, &str)> {
    Some((checkout_of(path.parent()?)?, path.file_name()?.to_str()?))
}

/// The store object behind `path`, when `path` is a stream file of a
/// checked-out session.
pub(crate) fn object_for(path: &Path) -> Option<Arc<RemoteObject>> {
    let (checkout, name) = checkout_file(path)?;
    checkout.lazy.get(name).cloned()
}

/// The checkout whose folder is `dir`, if `dir` is one.
pub(crate) fn checkout_of(dir: &Path) -> Option<Arc<Checkout>> {
    let checkouts = CHECKOUTS.read().unwrap_or_else(|e| e.into_inner());
    checkouts.iter().find(|c| c.dir == dir).cloned()
}

/// The walk of a checked-out session's stream file from the store's review
/// index, when the session has one.
pub(crate) fn indexed_walk(path: &Path) -> Option<crate::ipc::Messages> {
    let (checkout, name) = checkout_file(path)?;
    checkout.review.as_ref()?.walks.get(name).cloned()
}

/// The overview plot of sensor `stream` of a checked-out session, from the
/// store's review index (Review draws it without reading the stream).
pub fn overview(dir: &Path, stream: &str) -> Option<crate::seek::SensorSample> {
    checkout_of(dir)?.review.as_ref()?.overviews.get(stream).cloned()
}

/// The waveform of a checked-out session's WAV, from the store's review index.
pub fn peaks(path: &Path) -> Option<Vec<f32>> {
    let (checkout, name) = checkout_file(path)?;
    checkout.review.as_ref()?.peaks.get(name).cloned()
}

/// The store a checked-out session folder belongs to (`s3://…/sessions/<id>`), for messages.
pub fn store_of(dir: &Path) -> Option<String> {
    checkout_of(dir).map(|c| c.url())
}

/// True for a file that stays in the store until it is read (ranged).
fn is_lazy(name: &str) -> bool {
    name.ends_with(".arrows") || name.ends_with(".wav")
}

/// The site store, used as a library.
pub struct StoreLibrary {
    store: Arc<Store>,
    cache: Arc<BlockCache>,
    checkouts: PathBuf,
}

impl std::fmt::Debug for StoreLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLibrary").field("store", &self.store.url()).field("checkouts", &self.checkouts).finish_non_exhaustive()
    }
}

impl StoreLibrary {
    /// Connects to the store at `url` (`s3://bucket/prefix`) and opens it as
    /// a library with the cache `$TACIT_CACHE_DIR`/`$TACIT_CACHE_MB` name.
    pub fn connect(url: &str, options: &super::StoreOptions) -> Result<Self, StoreError> {
        Self::new(Store::connect(&super::StoreUrl::parse(url)?, options)?, &CacheOptions::default())
    }

    /// The store as a library, with its block cache.
    pub fn new(store: Store, cache: &CacheOptions) -> Result<Self, StoreError> {
        let blocks =
            BlockCache::open(cache).map_err(|e| StoreError::Other { what: "opening the store cache".into(), cause: e.to_string() })?;
        let mut h = super::digest::Sha256Stream::default();
        h.update(store.endpoint().as_bytes());
        h.update(store.url().to_string().as_bytes());
        let checkouts = cache.dir.join("sessions").join(format!("{}-{}", store.url().bucket, &h.hex()[..12]));
        Ok(Self { store: Arc::new(store), cache: blocks, checkouts })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The session folder for `session` (an id, or the start of exactly one
    /// id), checked out from the store.
    pub fn open(&self, session: &str) -> Result<PathBuf, StoreError> {
        // An exact id is one listing of its folder, not a read of every manifest.
        let objects = self.list_session(session)?;
        if has_manifest(&self.store.url().path(&["sessions", session]), &objects) {
            return self.checkout_listed(session, objects);
        }
        let id = self.resolve(session)?;
        self.checkout(&id)
    }

    /// The id `session` names: an exact id, or the start of exactly one.
    fn resolve(&self, session: &str) -> Result<String, StoreError> {
        self.resolve_in(&self.store.sessions()?, session)
    }

    /// [`Self::resolve`] against a listing already read.
    fn resolve_in(&self, listing: &super::StoreListing, session: &str) -> Result<String, StoreError> {
        let ids: Vec<&str> = listing.sessions.iter().map(|m| m.id.as_str()).collect();
        if ids.contains(&session) {
            return Ok(session.to_string());
        }
        let starts: Vec<&str> = ids.iter().copied().filter(|id| id.starts_with(session) && !session.is_empty()).collect();
        match starts.as_slice() {
            [one] => Ok((*one).to_string()),
            [] if listing.incomplete.iter().any(|i| i == session) => Err(StoreError::Other {
                what: format!("opening session {session} in {}", self.store.url()),
                cause: "it is still arriving (no session.json yet): wait for its push to finish".into(),
            }),
            [] => Err(StoreError::Other {
                what: format!("opening session {session:?} in {}", self.store.url()),
                cause: "no such session; `tacit sessions --library` lists the store's sessions".into(),
            }),
            many => Err(StoreError::Other {
                what: format!("opening session {session:?} in {}", self.store.url()),
                cause: format!("{} sessions start so: {}", many.len(), many.join(", ")),
            }),
        }
    }

    /// The sessions named (all when `sessions` is empty) that pass
    /// `filter`, each checked out.
    pub fn select(&self, sessions: &[String], filter: &SessionFilter) -> Result<Vec<PathBuf>, StoreError> {
        let listing = self.store.sessions()?;
        let ids: Vec<String> = if sessions.is_empty() {
            listing.sessions.iter().filter(|m| filter.matches(m)).map(|m| m.id.clone()).collect()
        } else {
            let mut out = Vec::new();
            for s in sessions {
                let id = self.resolve_in(&listing, s)?;
                if listing.sessions.iter().any(|m| m.id == id && filter.matches(m)) {
                    out.push(id);
                }
            }
            out
        };
        ids.iter().map(|id| self.checkout(id)).collect()
    }

    /// Checks session `id` out: lists its objects, downloads the small
    /// ones, merges the annotations, registers the folder.
    fn checkout(&self, id: &str) -> Result<PathBuf, StoreError> {
        let objects = self.list_session(id)?;
        self.checkout_listed(id, objects)
    }

    /// Every object under `sessions/<id>/`.
    fn list_session(&self, id: &str) -> Result<Vec<object_store::ObjectMeta>, StoreError> {
        let prefix = self.store.url().path(&["sessions", id]);
        let s3 = self.store.s3().clone();
        self.store
            .block_on(async { s3.list(Some(&prefix)).try_collect().await })
            .map_err(|e| self.store.error("listing the session's files", e))
    }

    /// [`Self::checkout`] of session `id` whose objects were just listed.
    fn checkout_listed(&self, id: &str, objects: Vec<object_store::ObjectMeta>) -> Result<PathBuf, StoreError> {
        let dir = self.checkouts.join(id);
        let prefix = self.store.url().path(&["sessions", id]);
        if !has_manifest(&prefix, &objects) {
            return Err(StoreError::Other {
                what: format!("opening session {id} in {}", self.store.url()),
                cause: "it has no session.json (not in the store, or its push is still under way)".into(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| SessionError::io("create the checkout folder", &dir, e))?;
        let s3 = self.store.s3().clone();
        let mut small = Vec::new();
        let mut lazy = HashMap::new();
        let mut review = None;
        for o in objects {
            let Some(rel) = relative(&prefix, &o.location) else { continue };
            if rel == super::review_index::OBJECT {
                review = Some(o.location.clone());
            }
            if rel.contains('/') {
                continue; // annotations.d/…: read by the merge; index/…: below
            }
            if is_lazy(&rel) {
                let etag = o.e_tag.clone().unwrap_or_else(|| format!("{}-{}", o.size, o.last_modified.timestamp_millis()));
                let object =
                    RemoteObject { store: self.store.clone(), path: o.location.clone(), size: o.size, etag, cache: self.cache.clone() };
                lazy.insert(rel, Arc::new(object));
            } else if rel != layout::ANNOTATIONS && rel != layout::ANNOTATIONS_LOG {
                small.push((rel, o.location));
            }
        }
        let fetched: Vec<(String, bytes::Bytes)> = self
            .store
            .block_on(
                futures::stream::iter(small)
                    .map(|(name, object)| {
                        let s3 = s3.clone();
                        async move { Ok::<_, object_store::Error>((name, s3.get(&object).await?.bytes().await?)) }
                    })
                    .buffered(8)
                    .try_collect(),
            )
            .map_err(|e| self.store.error("downloading the session's small files", e))?;
        // What an earlier checkout left that the store no longer has.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let known = fetched.iter().any(|(n, _)| *n == name) || name.ends_with(".lock");
                if !known && name != layout::ANNOTATIONS && name != layout::ANNOTATIONS_LOG {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        for (name, bytes) in &fetched {
            super::cache::count_fetched(bytes.len());
            write_atomic(&dir.join(name), bytes)?;
        }
        let review = match review {
            Some(object) => {
                let bytes = self
                    .store
                    .block_on(async { s3.get(&object).await?.bytes().await })
                    .map_err(|e| self.store.error("downloading the session's review index", e))?;
                super::cache::count_fetched(bytes.len());
                // A damaged index costs speed, not the session: Review reads the streams instead.
                match super::review_index::ReviewIndex::decode(&bytes) {
                    Ok(index) => Some(index),
                    Err(why) => {
                        eprintln!("warning: the review index of {id} in the store cannot be read ({why}); its streams are read instead");
                        None
                    }
                }
            }
            None => None,
        };
        let checkout = Arc::new(Checkout {
            store: self.store.clone(),
            id: id.to_string(),
            dir: dir.clone(),
            lazy,
            review,
            logs: Mutex::new(HashMap::new()),
        });
        {
            let mut all = CHECKOUTS.write().unwrap_or_else(|e| e.into_inner());
            all.retain(|c| c.dir != dir);
            all.push(checkout.clone());
        }
        super::annotations::refresh(&checkout)
            .map_err(|e| StoreError::Other { what: format!("merging the annotations of {id}"), cause: e.to_string() })?;
        Ok(dir)
    }
}

/// True when `objects` (listed under `prefix`) hold the session's manifest.
fn has_manifest(prefix: &ObjectPath, objects: &[object_store::ObjectMeta]) -> bool {
    objects.iter().any(|o| relative(prefix, &o.location).as_deref() == Some(layout::MANIFEST))
}

/// `location` below `prefix`, as a relative path (`a/b`).
fn relative(prefix: &ObjectPath, location: &ObjectPath) -> Option<String> {
    let parts: Vec<String> = location.prefix_match(prefix)?.map(|p| p.as_ref().to_string()).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// One session checked out of the store.
#[derive(Debug)]
pub(crate) struct Checkout {
    pub(crate) store: Arc<Store>,
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    lazy: HashMap<String, Arc<RemoteObject>>,
    /// The station's review index, when the store has one.
    review: Option<super::review_index::ReviewIndex>,
    /// Per-author log entries already fetched (immutable once written).
    pub(crate) logs: Mutex<HashMap<String, Vec<tacit_schema::labels::Change>>>,
}

impl Checkout {
    /// `s3://bucket/prefix/sessions/<id>`.
    pub(crate) fn url(&self) -> String {
        format!("s3://{}/{}", self.store.url().bucket, self.object(&[]))
    }

    /// The object path of `parts` inside the session.
    pub(crate) fn object(&self, parts: &[&str]) -> ObjectPath {
        let mut all = vec!["sessions", self.id.as_str()];
        all.extend_from_slice(parts);
        self.store.url().path(&all)
    }

    fn error(&self, what: &str, e: object_store::Error) -> SessionError {
        let path = self.dir.clone();
        SessionError::Io {
            action: "update in the site store",
            path,
            cause: std::io::Error::other(format!("{what}: {}", self.store.error(what, e))),
        }
    }

    /// Uploads the local file `name` of the checkout over the store's copy.
    pub(crate) fn upload(&self, name: &str) -> Result<(), SessionError> {
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| SessionError::io("read", &path, e))?;
        let (s3, object) = (self.store.s3().clone(), self.object(&[name]));
        self.store
            .block_on(async { s3.put(&object, PutPayload::from(bytes)).await })
            .map_err(|e| self.error(&format!("writing {name}"), e))?;
        Ok(())
    }

    /// The manifest's read-modify-write in the store: read with its ETag,
    /// changed, written back only if nobody wrote it meanwhile (If-Match);
    /// when somebody did, read again and redo. The local copy follows.
    pub(crate) fn update_manifest<T>(
        &self,
        mut change: impl FnMut(&mut SessionManifest) -> T,
    ) -> Result<(SessionManifest, T), SessionError> {
        let (s3, object) = (self.store.s3().clone(), self.object(&[layout::MANIFEST]));
        for _ in 0..20 {
            let got = self.store.block_on(async {
                let r = s3.get(&object).await?;
                let etag = r.meta.e_tag.clone();
                Ok::<_, object_store::Error>((etag, r.bytes().await?))
            });
            let (etag, bytes) = got.map_err(|e| self.error("reading session.json", e))?;
            let text = String::from_utf8_lossy(&bytes);
            let mut manifest = SessionManifest::from_json(&text).map_err(|e| SessionError::invalid(e.to_string(), &self.dir))?;
            let out = change(&mut manifest);
            let opts = PutOptions::from(PutMode::Update(UpdateVersion { e_tag: etag, version: None }));
            let payload = PutPayload::from(manifest.to_json().into_bytes());
            match self.store.block_on(async { s3.put_opts(&object, payload, opts).await }) {
                Ok(_) => {
                    write_atomic(&self.dir.join(layout::MANIFEST), manifest.to_json().as_bytes())?;
                    return Ok((manifest, out));
                }
                Err(object_store::Error::Precondition { .. }) => std::thread::sleep(jitter()),
                Err(e) => return Err(self.error("writing session.json", e)),
            }
        }
        Err(SessionError::invalid("session.json in the store kept changing under 20 tries; try again", &self.dir))
    }
}

/// A short random pause before a retry, so two writers do not meet again.
pub(crate) fn jitter() -> std::time::Duration {
    std::time::Duration::from_millis(20 + super::spread(180))
}
