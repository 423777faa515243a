//! Object storage for the crate store and the sparse index: an S3-compatible bucket (or
//! any store the `object_store` crate reaches) chosen by URL, used from synchronous code.
//!
//! The local file system stays the embedded default and keeps its own code
//! ([`CrateStore`](crate::CrateStore) and [`SparseIndex`](crate::SparseIndex) write
//! temporary files, `fsync` and rename); a [`Bucket`] is what they write through instead when
//! `--storage s3://bucket/prefix` is given.

#[cfg(feature = "object-storage")]
use std::sync::Arc;
use std::time::SystemTime;

#[cfg(feature = "object-storage")]
use object_store::path::Path as ObjectPath;
#[cfg(feature = "object-storage")]
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};

use crate::error::RegistryError;

/// `Cache-Control` of index files: a CDN keeps them but asks again every time.
pub const INDEX_CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";
/// `Cache-Control` of `.crate` files: a version's file never changes.
pub const CRATE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// A bucket under a prefix, with the runtime its client needs.
#[cfg(feature = "object-storage")]
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
    runtime: Arc<tokio::runtime::Runtime>,
}

#[cfg(feature = "object-storage")]
impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("url", &redact::Redacted(&self.url)).finish_non_exhaustive()
    }
}

/// An object read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// When it was last written, if the store says.
    pub modified: Option<SystemTime>,
}

#[cfg(feature = "object-storage")]
impl Bucket {
    /// The bucket of `url`: `s3://bucket/prefix` (also `gs://`, `az://`, `memory:///`).
    /// Credentials, region and endpoint come from the usual variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP` for a
    /// self-hosted server over plain HTTP); requests are path-style unless
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
    pub fn open(url: &str) -> Result<Bucket, RegistryError> {
        let invalid = |reason: String| RegistryError::Storage {
            url: redact::redact(url).into_owned(),
            action: "opening",
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(format!("not a URL: {e}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = match parsed.scheme() {
            "s3" | "s3a" => {
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(invalid("expected s3://BUCKET/PREFIX".into()));
                }
                // A request waits on this: a few quick retries, then a clear error.
                let retry = object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: std::time::Duration::from_secs(15),
                    ..object_store::RetryConfig::default()
                };
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?;
                (Arc::new(store), ObjectPath::from(parsed.path().trim_matches('/')))
            }
            "memory" => (
                Arc::new(object_store::memory::InMemory::new()),
                ObjectPath::from(parsed.path().trim_matches('/')),
            ),
            other => {
                return Err(invalid(format!(
                    "unsupported scheme {other:?}: expected s3://BUCKET/PREFIX"
                )))
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("object-store")
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("starting its runtime: {e}")))?;
        Ok(Bucket { store, prefix, url: url.to_owned(), runtime: Arc::new(runtime) })
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, key: &str) -> ObjectPath {
        let mut path = self.prefix.clone();
        for part in key.split('/').filter(|p| !p.is_empty()) {
            path = path.child(part);
        }
        path
    }

    fn error(&self, action: &'static str, key: &str, err: object_store::Error) -> RegistryError {
        RegistryError::Storage {
            url: format!("{}/{key}", redact::redact(self.url.trim_end_matches('/'))),
            action,
            reason: err.to_string(),
        }
    }

    /// Reads `key`; `None` when there is no such object.
    pub fn get(&self, key: &str) -> Result<Option<Object>, RegistryError> {
        let path = self.path(key);
        let store = Arc::clone(&self.store);
        let result = self.runtime.block_on(async move {
            let got = store.get(&path).await?;
            let modified = SystemTime::from(got.meta.last_modified);
            let bytes = got.bytes().await?;
            Ok::<_, object_store::Error>((bytes, modified))
        });
        match result {
            Ok((bytes, modified)) => {
                Ok(Some(Object { bytes: bytes.to_vec(), modified: Some(modified) }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.error("reading", key, err)),
        }
    }

    /// Writes `key` in one `PUT` with `cache_control`.
    pub fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        cache_control: &'static str,
    ) -> Result<(), RegistryError> {
        let path = self.path(key);
        let store = Arc::clone(&self.store);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::CacheControl, cache_control.into());
        let options = PutOptions { attributes, ..PutOptions::default() };
        self.runtime
            .block_on(async move { store.put_opts(&path, PutPayload::from(bytes), options).await })
            .map(|_| ())
            .map_err(|err| self.error("writing", key, err))
    }

    /// Deletes `key`; deleting what is not there is fine.
    pub fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let path = self.path(key);
        let store = Arc::clone(&self.store);
        match self.runtime.block_on(async move { store.delete(&path).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.error("deleting", key, err)),
        }
    }
}

/// Built without the `object-storage` feature: no bucket can be opened.
#[cfg(not(feature = "object-storage"))]
#[derive(Debug, Clone)]
pub struct Bucket {
    never: Never,
}

#[cfg(not(feature = "object-storage"))]
#[derive(Debug, Clone, Copy)]
enum Never {}

#[cfg(not(feature = "object-storage"))]
impl Bucket {
    /// Fails: this build has no object storage.
    pub fn open(url: &str) -> Result<Bucket, RegistryError> {
        Err(RegistryError::Storage {
            url: redact::redact(url).into_owned(),
            action: "opening",
            reason: "this build has no object storage: build registry-jobs with its `object-storage` feature".into(),
        })
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        match self.never {}
    }

    /// Reads `key`.
    pub fn get(&self, _key: &str) -> Result<Option<Object>, RegistryError> {
        match self.never {}
    }

    /// Writes `key`.
    pub fn put(
        &self,
        _key: &str,
        _bytes: Vec<u8>,
        _cache_control: &'static str,
    ) -> Result<(), RegistryError> {
        match self.never {}
    }

    /// Deletes `key`.
    pub fn delete(&self, _key: &str) -> Result<(), RegistryError> {
        match self.never {}
    }
}
