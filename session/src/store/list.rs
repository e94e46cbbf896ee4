//! The sessions of a site store, as a library lists them: every folder
//! under `prefix/sessions/` whose `session.json` is there (a session is in
//! the store once its manifest is: `push` writes it last). Folders without
//! one are pushes under way or cut off; they are counted, not listed.

use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use tacit_schema::SessionManifest;

use super::{Store, StoreError};
use crate::layout;

/// What [`Store::sessions`] found.
#[derive(Debug, Default)]
pub struct StoreListing {
    /// Sessions with their manifest, by id.
    pub sessions: Vec<SessionManifest>,
    /// Folders with no manifest yet (a push under way or cut off).
    pub incomplete: Vec<String>,
    /// Manifests that do not parse: (id, why).
    pub unreadable: Vec<(String, String)>,
}

impl Store {
    /// Every session in the store (manifests read 8 at a time).
    pub fn sessions(&self) -> Result<StoreListing, StoreError> {
        let root = self.url().path(&["sessions"]);
        let s3 = self.s3().clone();
        let listed =
            self.block_on(async { s3.list_with_delimiter(Some(&root)).await }).map_err(|e| self.error("listing the sessions", e))?;
        let ids: Vec<String> = listed.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect();
        let fetched: Vec<(String, Option<Result<SessionManifest, String>>)> = self
            .block_on(
                stream::iter(ids)
                    .map(|id: String| {
                        let (s3, object) = (s3.clone(), self.url().path(&["sessions", &id, layout::MANIFEST]));
                        async move {
                            match s3.get(&object).await {
                                Ok(r) => {
                                    let bytes = r.bytes().await?;
                                    let text = String::from_utf8_lossy(&bytes).into_owned();
                                    Ok((id, Some(SessionManifest::from_json(&text).map_err(|e| e.to_string()))))
                                }
                                Err(object_store::Error::NotFound { .. }) => Ok((id, None)),
                                Err(e) => Err(e),
                            }
                        }
                    })
                    .buffered(8)
                    .try_collect(),
            )
            .map_err(|e| self.error("reading the session manifests", e))?;
        let mut out = StoreListing::default();
        for (id, m) in fetched {
            match m {
                Some(Ok(m)) => out.sessions.push(m),
                Some(Err(why)) => out.unreadable.push((id, why)),
                None => out.incomplete.push(id),
            }
        }
        out.sessions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
