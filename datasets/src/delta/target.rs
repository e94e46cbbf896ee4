//! Where the Delta tables live — a local folder or a site store prefix — and
//! the one `ObjectStore` client and I/O threads every table shares.

use std::path::Path;
use std::sync::{Arc, Once};

use deltalake_core::logstore::{default_logstore, logstore_factories, LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig};
use deltalake_core::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tacit_session::store::{Store, StoreOptions, StoreUrl};
use url::Url;

use crate::error::DatasetError;

/// The I/O threads: the site store's own, or a small runtime for a folder.
enum Io {
    Own(tokio::runtime::Runtime),
    Store(Box<Store>),
}

/// A set of Delta tables under one root.
pub struct Target {
    root: Arc<dyn ObjectStore>,
    base: Url,
    base_path: ObjectPath,
    io: Io,
    shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("at", &self.shown).finish_non_exhaustive()
    }
}

impl Target {
    /// Opens `out` (a folder, created if missing, or `s3://bucket/prefix`).
    pub fn open(out: &str, store: &StoreOptions) -> Result<Self, DatasetError> {
        Self::connect(out, store, true)
    }

    /// Opens a dataset that must exist already (for reading).
    pub fn open_existing(out: &str, store: &StoreOptions) -> Result<Self, DatasetError> {
        Self::connect(out, store, false)
    }

    fn connect(out: &str, store: &StoreOptions, create: bool) -> Result<Self, DatasetError> {
        if StoreUrl::is_store(out) {
            let url = StoreUrl::parse(out)?;
            let s = Store::connect(&url, store)?;
            register_s3();
            let base = Url::parse(&format!("{url}/")).map_err(|e| DatasetError::Options(format!("{out}: {e}")))?;
            let base_path = ObjectPath::from_iter(url.prefix.split('/').filter(|p| !p.is_empty()));
            Ok(Self { root: s.object_store(), base, base_path, io: Io::Store(Box::new(s)), shown: url.to_string() })
        } else {
            let dir = Path::new(out);
            if create {
                std::fs::create_dir_all(dir).map_err(|e| DatasetError::io("create", dir, e))?;
            } else if !dir.is_dir() {
                return Err(DatasetError::Options(format!("{out}: no such dataset folder")));
            }
            let abs = std::fs::canonicalize(dir).map_err(|e| DatasetError::io("find", dir, e))?;
            let base = Url::from_directory_path(&abs)
                .map_err(|()| DatasetError::Options(format!("{} cannot be written as a file:// URL", abs.display())))?;
            let base_path = ObjectPath::from_absolute_path(&abs).map_err(|e| DatasetError::Options(format!("{}: {e}", abs.display())))?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("delta-io")
                .enable_all()
                .build()
                .map_err(|e| DatasetError::io("start the I/O threads for", dir, e))?;
            Ok(Self { root: Arc::new(LocalFileSystem::new()), base, base_path, io: Io::Own(rt), shown: abs.display().to_string() })
        }
    }

    /// As the user gave it (absolute for a folder).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Runs `f` on the I/O threads and waits for it.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle().block_on(f)
    }

    /// The folder of table `name` on the local disk (`None` on a store,
    /// which makes each object durable itself).
    pub(crate) fn local_table(&self, name: &str) -> Option<std::path::PathBuf> {
        match &self.io {
            Io::Own(_) => Some(std::path::Path::new(&self.shown).join(name)),
            Io::Store(_) => None,
        }
    }

    /// The I/O threads' handle.
    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        match &self.io {
            Io::Own(rt) => rt.handle().clone(),
            Io::Store(s) => s.handle(),
        }
    }

    /// The object path of `rel` (a `/`-separated path under the root).
    pub(crate) fn path(&self, rel: &str) -> ObjectPath {
        let mut p = self.base_path.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The URL of table `name`.
    pub(crate) fn table_url(&self, name: &str) -> Result<Url, DatasetError> {
        self.base.join(&format!("{name}/")).map_err(|e| DatasetError::Options(format!("table {name}: {e}")))
    }

    /// Table `name` at its newest version, or `None` when there is none yet.
    pub(crate) async fn table(&self, name: &str) -> Result<(DeltaTable, bool), DatasetError> {
        let url = self.table_url(name)?;
        let mut t = DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(self.root.clone(), url).build())
            .map_err(|e| delta_error(name, &e))?;
        // delta-rs reports a missing table as an error (and logs it): look first.
        let log = self.path(&format!("{name}/_delta_log"));
        let listed = self.root.list_with_delimiter(Some(&log)).await.map_err(|e| self.io_error("list", name, &e))?;
        if listed.objects.is_empty() {
            return Ok((t, false));
        }
        match t.load().await {
            Ok(()) => Ok((t, true)),
            Err(DeltaTableError::NotATable(_)) => Ok((t, false)),
            Err(e) => Err(delta_error(name, &e)),
        }
    }

    /// The object at `rel`, or `None` if there is none.
    pub(crate) fn read(&self, rel: &str) -> Result<Option<bytes::Bytes>, DatasetError> {
        let path = self.path(rel);
        self.block_on(async {
            match self.root.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.io_error("read", rel, &e))
    }

    /// Writes `rel` only if it does not exist; `false` if another writer was first.
    pub(crate) fn create(&self, rel: &str, bytes: Vec<u8>) -> Result<bool, DatasetError> {
        let path = self.path(rel);
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        self.block_on(async {
            match self.root.put_opts(&path, PutPayload::from(bytes), opts).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.io_error("create", rel, &e))
    }

    /// Writes (or replaces) `rel` in one request: readers see the old or the new object.
    pub(crate) fn replace(&self, rel: &str, bytes: Vec<u8>) -> Result<(), DatasetError> {
        let path = self.path(rel);
        self.block_on(async { self.root.put(&path, PutPayload::from(bytes)).await })
            .map(|_| ())
            .map_err(|e| self.io_error("write", rel, &e))
    }

    /// The names of the folders under the root that hold a `_delta_log`.
    pub(crate) fn tables(&self) -> Result<Vec<String>, DatasetError> {
        let base = self.base_path.clone();
        let listed =
            self.block_on(async { self.root.list_with_delimiter(Some(&base)).await }).map_err(|e| self.io_error("list", "", &e))?;
        let mut out = Vec::new();
        for dir in listed.common_prefixes {
            let Some(name) = dir.filename().map(str::to_string) else { continue };
            let log = dir.clone().join("_delta_log");
            let has = self.block_on(async { self.root.list_with_delimiter(Some(&log)).await }).map(|l| !l.objects.is_empty());
            if has.unwrap_or(false) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    pub(crate) fn io_error(&self, what: &'static str, rel: &str, e: &object_store::Error) -> DatasetError {
        match &self.io {
            Io::Store(s) => DatasetError::Options(format!("{}/{rel}: {}", self.shown, s.error(what, clone_error(e)))),
            Io::Own(_) => DatasetError::Options(format!("cannot {what} {}/{rel}: {e}", self.shown)),
        }
    }
}

/// `object_store::Error` is not `Clone`; the store's classifier reads its text.
fn clone_error(e: &object_store::Error) -> object_store::Error {
    object_store::Error::Generic { store: "S3", source: format!("{e:?}").into() }
}

/// One line for a Delta failure on table `name`.
pub(crate) fn delta_error(name: &str, e: &DeltaTableError) -> DatasetError {
    DatasetError::Options(format!("Delta table {name}: {e}"))
}

/// Commits to `s3://` go through delta-rs's default log store: an atomic
/// put-if-absent of `_delta_log/<version>.json` (S3 conditional writes), so
/// no lock service (DynamoDB) is needed. The client is the site store's own.
struct ConditionalPutLogStores;

impl LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

fn register_s3() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(scheme) = Url::parse("s3://") {
            logstore_factories().insert(scheme, Arc::new(ConditionalPutLogStores));
        }
    });
}
