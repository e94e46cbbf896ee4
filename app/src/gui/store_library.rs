//! The site store as the app's library (a trainer's PC): `tacit app
//! --library s3://bucket/prefix [--endpoint …]`, or the store's URL typed
//! into the Library folder field. One connection per store for the life of
//! the app; sessions are checked out into the local cache by the scan, and
//! Review reads their streams through the bounded block cache and saves
//! labels to the store (`tacit_session::store::remote`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use tacit_session::store::{StoreLibrary, StoreOptions, StoreUrl};

/// How to reach a store (endpoint, region, profile), from `tacit app`'s flags.
static OPTIONS: Mutex<Option<StoreOptions>> = Mutex::new(None);
/// Stores connected so far, by URL.
static OPEN: Mutex<Vec<(String, Arc<StoreLibrary>)>> = Mutex::new(Vec::new());

/// Sets how stores are reached (before the first connection).
pub(crate) fn set_options(options: StoreOptions) {
    *OPTIONS.lock().unwrap_or_else(|e| e.into_inner()) = Some(options);
}

/// The store URL when the library `root` is one.
pub(crate) fn url_of(root: &Path) -> Option<&str> {
    root.to_str().filter(|r| StoreUrl::is_store(r))
}

/// The store library at `url`, connected once.
pub(crate) fn library(url: &str) -> Result<Arc<StoreLibrary>, String> {
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, lib)) = open.iter().find(|(u, _)| u == url) {
        return Ok(lib.clone());
    }
    let options = OPTIONS.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
    let lib = Arc::new(StoreLibrary::connect(url, &options).map_err(|e| e.to_string())?);
    open.push((url.to_string(), lib.clone()));
    Ok(lib)
}
