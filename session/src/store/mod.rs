//! The site store: one S3-compatible object store (MinIO, Ceph RGW, Garage,
//! AWS S3) that holds every station's sessions, in the library's own layout
//! (`<prefix>/sessions/<id>/<file>`), reached through arrow-rs's
//! `object_store` client.
//!
//! - [`StoreUrl`]: `s3://bucket/prefix`; [`StoreOptions`]: endpoint, region,
//!   credentials profile;
//! - [`Store`]: the connected client (credentials from the standard AWS
//!   variables or a profile in the shared credentials file), its runtime,
//!   and every failure turned into one clear line ([`StoreError`]);
//! - [`push`]: a library's sessions into the store, resumable, verified,
//!   idempotent, the manifest last; `prune` frees the station's disk only
//!   for sessions verified in the store;
//! - [`StoreLibrary`] ([`remote`]): the store as a library — sessions
//!   checked out into the local cache, stream files read with ranged reads
//!   through the bounded [`cache`], labels by several trainers at once
//!   (`annotations`).

pub(crate) mod annotations;
pub mod cache;
mod credentials;
mod digest;
mod list;
pub mod push;
pub mod remote;
pub mod review_index;

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::SessionError;

pub use cache::CacheOptions;
pub use digest::hex;
pub use list::StoreListing;
pub use push::{push, PushOptions, PushReport, SessionPush, Verify};
pub use remote::StoreLibrary;

/// `s3://bucket/prefix`: where a site's sessions live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreUrl {
    /// The bucket.
    pub bucket: String,
    /// The folder inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl StoreUrl {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::Url(format!("{why}: {url:?} (give s3://bucket/prefix, e.g. s3://site-store/tacit)"));
        let rest = url.strip_prefix("s3://").ok_or_else(|| bad("a site store is an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(bad("not a bucket name (3–63 of a–z, 0–9, '-', '.')"));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Err(bad("the prefix has an empty, '.' or '..' part"));
        }
        Ok(Self { bucket: bucket.to_string(), prefix })
    }

    /// True for a string that names a store rather than a folder.
    pub fn is_store(s: &str) -> bool {
        s.starts_with("s3://")
    }

    /// The object path of `parts` under the prefix.
    pub(crate) fn path(&self, parts: &[&str]) -> ObjectPath {
        let mut all: Vec<&str> = self.prefix.split('/').filter(|p| !p.is_empty()).collect();
        all.extend(parts.iter().copied());
        ObjectPath::from_iter(all)
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// How to reach the store. Unset fields come from the standard AWS
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_PROFILE`, …).
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// `http://site-store:9000` for MinIO, Ceph, Garage, …; unset for AWS S3.
    /// An `http://` endpoint allows plain HTTP.
    pub endpoint: Option<String>,
    /// The region (default `us-east-1`).
    pub region: Option<String>,
    /// The profile of the shared credentials file (`~/.aws/credentials`),
    /// used when `AWS_ACCESS_KEY_ID` is unset.
    pub profile: Option<String>,
    /// How long one request keeps retrying through a cut network or a
    /// restarting store before it fails (default 2 minutes).
    pub retry_timeout: Option<Duration>,
}

impl StoreOptions {
    /// The options a station profile's `[store]` names.
    pub fn from_profile(p: &tacit_schema::StoreProfile) -> Self {
        Self { endpoint: p.endpoint.clone(), region: p.region.clone(), profile: p.profile.clone(), retry_timeout: None }
    }
}

/// A failure of the site store, in one line: what, where, what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a store URL.
    #[error("{0}")]
    Url(String),
    /// No credentials anywhere.
    #[error("no credentials for {store}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile of {file} with --profile or AWS_PROFILE")]
    NoCredentials {
        /// The store.
        store: String,
        /// The shared credentials file looked in.
        file: String,
    },
    /// Nothing answers at the endpoint.
    #[error("cannot reach the store at {endpoint}: {cause}; check --endpoint and that the store is up, then run the command again (nothing is lost: it resumes)")]
    Unreachable {
        /// The endpoint tried.
        endpoint: String,
        /// What the network said.
        cause: String,
    },
    /// The store refused the credentials.
    #[error("the store at {endpoint} refused the credentials ({code}) for {store}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile, and the key's rights on the bucket")]
    Denied {
        /// The endpoint.
        endpoint: String,
        /// The store.
        store: String,
        /// The store's error code.
        code: String,
    },
    /// No such bucket.
    #[error("bucket {bucket:?} does not exist at {endpoint}: create it (e.g. `aws s3 mb s3://{bucket}`) or fix the URL")]
    NoBucket {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
    /// Any other store failure.
    #[error("store error while {what}: {cause}")]
    Other {
        /// What we were doing, with the object.
        what: String,
        /// The store's answer.
        cause: String,
    },
    /// An object in the store does not hold what was uploaded.
    #[error("{object} in the store does not match the station's file ({detail}); it is uploaded again by `tacit push`")]
    Corrupt {
        /// The object.
        object: String,
        /// Which checksum differs.
        detail: String,
    },
    /// The caller asked the push to stop (a recording started); the parts
    /// sent so far are kept for the next push.
    #[error("paused; the next push goes on from here")]
    Paused,
    /// A local session file.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// A connected site store.
pub struct Store {
    url: StoreUrl,
    endpoint: String,
    s3: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `url` and checks that the bucket answers (one listing):
    /// a wrong endpoint, key or bucket fails here, before any work.
    pub fn connect(url: &StoreUrl, options: &StoreOptions) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("store-io")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Other { what: "starting the store's I/O threads".into(), cause: e.to_string() })?;
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(5), base: 2.0 },
            max_retries: 30,
            retry_timeout: options.retry_timeout.unwrap_or(Duration::from_secs(120)),
        };
        let (builder, endpoint) = builder(url, options)?;
        let s3 = builder.clone().with_retry(retry).build().map_err(|e| StoreError::Url(format!("{e}: {url}")))?;
        let store = Self { url: url.clone(), endpoint, s3: Arc::new(s3), runtime };
        // The check is quick: a dead endpoint fails in a second, not after the retries.
        let quick = RetryConfig { max_retries: 1, retry_timeout: Duration::from_secs(5), ..RetryConfig::default() };
        let probe = builder.with_retry(quick).build().map_err(|e| StoreError::Url(format!("{e}: {url}")))?;
        let prefix = url.path(&[]);
        store.block_on(async { probe.list_with_delimiter(Some(&prefix)).await }).map_err(|e| store.error("listing the store", e))?;
        Ok(store)
    }

    /// Connects to the store a station profile's `[store]` names.
    pub fn connect_profile(p: &tacit_schema::StoreProfile) -> Result<Self, StoreError> {
        Self::connect(&StoreUrl::parse(&p.url)?, &StoreOptions::from_profile(p))
    }

    /// The store's URL.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn s3(&self) -> &Arc<AmazonS3> {
        &self.s3
    }

    /// The bucket as an `ObjectStore` (root = the bucket, not the prefix), for
    /// the Delta Lake writer, which shares this client and its retries.
    pub fn object_store(&self) -> Arc<dyn object_store::ObjectStore> {
        self.s3.clone()
    }

    /// The store's I/O threads.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Runs `f` on the store's I/O threads and waits for it. Called from
    /// inside another runtime (a reader of a store session fed by the
    /// Delta writer's tasks), it waits on a thread of its own, since a
    /// runtime cannot block inside another.
    pub fn block_on<F: std::future::Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.runtime.block_on(f);
        }
        std::thread::scope(|s| match s.spawn(|| self.runtime.block_on(f)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// One line for a failed request: unreachable, refused, no bucket, or the store's own words.
    pub fn error(&self, what: &str, e: object_store::Error) -> StoreError {
        let chain = error_chain(&e);
        let has = |s: &str| chain.contains(s);
        if has("NoSuchBucket") {
            return StoreError::NoBucket { bucket: self.url.bucket.clone(), endpoint: self.endpoint.clone() };
        }
        for code in ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden"] {
            if has(code) {
                return StoreError::Denied { endpoint: self.endpoint.clone(), store: self.url.to_string(), code: code.into() };
            }
        }
        let lower = chain.to_lowercase();
        for net in
            ["connection refused", "error sending request", "dns error", "tcp connect", "connection reset", "timed out", "broken pipe"]
        {
            if lower.contains(net) {
                return StoreError::Unreachable { endpoint: self.endpoint.clone(), cause: net.into() };
            }
        }
        StoreError::Other { what: what.to_string(), cause: chain }
    }
}

/// The AmazonS3 builder for `url`: the AWS variables, then `options`, then
/// a profile's keys when the variables hold none; and the endpoint used.
fn builder(url: &StoreUrl, options: &StoreOptions) -> Result<(AmazonS3Builder, String), StoreError> {
    // Put-if-absent (`If-None-Match: *`) is how Delta commits stay atomic
    // without a lock service: AWS S3, MinIO, Ceph and localbucket honour it.
    let mut b = AmazonS3Builder::from_env().with_bucket_name(&url.bucket).with_conditional_put(S3ConditionalPut::ETagMatch);
    let env_endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
    let endpoint = options.endpoint.clone().or(env_endpoint);
    let region = options
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    b = b.with_region(&region);
    let shown = match &endpoint {
        Some(e) => {
            // A site store is addressed by path (bucket in the path, not the host name).
            b = b.with_endpoint(e).with_virtual_hosted_style_request(false).with_allow_http(e.starts_with("http://"));
            e.clone()
        }
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    let env_key = std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|k| !k.is_empty());
    if env_key.is_none() {
        let profile = options.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok()).unwrap_or_else(|| "default".into());
        let file = credentials::shared_file();
        match credentials::read(&file, &profile) {
            Some(keys) => {
                b = b.with_access_key_id(keys.access_key_id).with_secret_access_key(keys.secret_access_key);
                if let Some(t) = keys.session_token {
                    b = b.with_token(t);
                }
            }
            // Without keys, object_store would ask the cloud's instance
            // metadata service: never from a station PC.
            None => return Err(StoreError::NoCredentials { store: url.to_string(), file: file.display().to_string() }),
        }
    }
    Ok((b, shown))
}

/// A number below `n` that differs between processes and moments (the
/// clock's nanoseconds and the process id): what spreads the retries of
/// writers that met on one object (label commits here, Delta commits in
/// `datasets`) so they do not meet again. Not for anything secret.
pub fn spread(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    u64::from(nanos ^ std::process::id()) % n.max(1)
}

/// Every message of an error and its sources, joined.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = StoreUrl::parse("s3://site-store/tacit/bay-1/").unwrap();
        assert_eq!(u.bucket, "site-store");
        assert_eq!(u.prefix, "tacit/bay-1");
        assert_eq!(u.to_string(), "s3://site-store/tacit/bay-1");
        assert_eq!(u.path(&["sessions", "a"]).as_ref(), "tacit/bay-1/sessions/a");
        let root = StoreUrl::parse("s3://bucket").unwrap();
        assert_eq!(root.path(&["sessions"]).as_ref(), "sessions");
        for bad in ["/data/lib", "s3://", "s3://Big_Bucket/x", "s3://ok-bucket/a/../b", "s3://ab"] {
            let e = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains("s3://bucket/prefix"), "{bad}: {e}");
        }
    }
}
