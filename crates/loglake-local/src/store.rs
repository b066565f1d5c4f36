//! Where raw objects come from and where output goes: a local folder or an S3 prefix
//! (`s3://bucket/prefix`, any S3-compatible server through `AWS_ENDPOINT_URL`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use loglake_core::ledger::{ObjectVersion, version_name};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::state::StateDb;

/// A location: a local folder or `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder.
    Local(PathBuf),
    /// A bucket and a key prefix (no leading or trailing `/`; may be empty).
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
}

impl Location {
    /// Parses `s3://bucket/prefix` or a path.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Usage(format!(
                    "`{s}` names no bucket; expected s3://bucket/prefix"
                )));
            }
            Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            })
        } else if s.contains("://") {
            Err(Error::Usage(format!(
                "`{s}`: only local paths and s3:// URIs are supported"
            )))
        } else {
            Ok(Location::Local(PathBuf::from(s)))
        }
    }

    /// As the user would write it.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// A child location.
    pub fn join(&self, part: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(part)),
            Location::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                prefix: join_key(prefix, part),
            },
        }
    }
}

fn join_key(prefix: &str, part: &str) -> String {
    if prefix.is_empty() {
        part.to_owned()
    } else {
        format!("{prefix}/{part}")
    }
}

/// An S3 client for one bucket, from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, …); plain HTTP is allowed when the endpoint says `http://`.
pub fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok();
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_endpoint(&endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if std::env::var_os("AWS_REGION").is_none()
        && let Ok(region) = std::env::var("AWS_DEFAULT_REGION")
    {
        builder = builder.with_region(region);
    }
    builder
        .build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| Error::Store {
            location: format!("s3://{bucket}"),
            message: format!(
                "{e}; set AWS_REGION and credentials (and AWS_ENDPOINT_URL for a non-AWS server)"
            ),
        })
}

/// An object-store path for a key, taken as is (no re-encoding: `%`, spaces and unicode are
/// part of the key). Keys with empty, `.` or `..` segments cannot be addressed.
fn obj_path(location: &str, key: &str) -> Result<ObjPath> {
    ObjPath::parse(key).map_err(|e| Error::Store {
        location: location.to_owned(),
        message: format!("key `{key}` cannot be addressed: {e}"),
    })
}

/// A raw object found by a listing, with what reading it needs.
#[derive(Debug, Clone)]
pub struct RawObject {
    /// Its identity.
    pub version: ObjectVersion,
    /// Local file (for a local store).
    pub path: Option<PathBuf>,
    /// The S3 version to read (`None`: the current one).
    pub version_id: Option<String>,
    /// Last modified, epoch ms (S3 listings).
    pub last_modified_ms: Option<i64>,
    /// As users see it.
    pub display: String,
}

impl RawObject {
    /// When it was written, UTC microseconds (the transform's time window ends relative to it).
    pub fn written_us(&self) -> Option<i64> {
        self.last_modified_ms.map(|ms| ms.saturating_mul(1000))
    }
}

/// The raw store: a folder (the root's `raw/`) or an S3 prefix.
pub enum RawStore {
    /// Local folder; objects' versions are `<mtime ns hex>-<sha256 16 hex>`.
    Local {
        /// The folder.
        dir: PathBuf,
    },
    /// S3; versions are version ids, else ETags.
    S3 {
        /// Client.
        store: Arc<dyn ObjectStore>,
        /// Bucket.
        bucket: String,
        /// Prefix listed.
        prefix: String,
    },
}

impl std::fmt::Debug for RawStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location().display())
    }
}

/// Names a writer is still working on, or that are not logs: hidden files, temp files.
pub fn ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".inprogress")
        || name.ends_with('~')
}

impl RawStore {
    /// Opens a raw location.
    pub fn open(location: &Location) -> Result<Self> {
        Ok(match location {
            Location::Local(dir) => RawStore::Local { dir: dir.clone() },
            Location::S3 { bucket, prefix } => RawStore::S3 {
                store: s3_store(bucket)?,
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            },
        })
    }

    /// Its location.
    pub fn location(&self) -> Location {
        match self {
            RawStore::Local { dir } => Location::Local(dir.clone()),
            RawStore::S3 { bucket, prefix, .. } => Location::S3 {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            },
        }
    }

    /// Lists the objects, sorted by key. Zero-byte objects, folder markers and hidden or
    /// temporary names are left out.
    pub fn list(&self, state: &StateDb, rt: &Handle) -> Result<Vec<RawObject>> {
        match self {
            RawStore::Local { dir } => list_local(dir, state),
            RawStore::S3 { .. } => self.list_remote(rt),
        }
    }

    /// Lists an S3 store's objects (as [`RawStore::list`]): everything under its prefix, taken
    /// as a folder.
    pub fn list_remote(&self, rt: &Handle) -> Result<Vec<RawObject>> {
        match self {
            RawStore::Local { dir } => Err(Error::Usage(format!(
                "`{}` is a folder, not an S3 prefix",
                dir.display()
            ))),
            RawStore::S3 {
                store,
                bucket,
                prefix,
            } => list_s3(store, bucket, prefix, rt),
        }
    }

    /// Lists the S3 objects whose keys start with `key_prefix`, as S3 means a prefix:
    /// `logs/a` matches `logs/a.json` and `logs/ab/c.json`, and a whole key matches that
    /// object (`loglake backfill`). The store's own prefix is not used.
    pub fn list_key_prefix(&self, key_prefix: &str, rt: &Handle) -> Result<Vec<RawObject>> {
        let RawStore::S3 { store, bucket, .. } = self else {
            return self.list_remote(rt);
        };
        // The folder holding the prefix, listed recursively, then the keys filtered by it.
        let folder = key_prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut out = list_s3(store, bucket, folder, rt)?;
        out.retain(|o| o.version.key.starts_with(key_prefix));
        Ok(out)
    }

    /// One S3 object by key (and version id), checked to exist: the transform's `s3://` input.
    pub fn object(&self, key: &str, version_id: Option<&str>, rt: &Handle) -> Result<RawObject> {
        let RawStore::S3 { store, bucket, .. } = self else {
            return Err(Error::Usage(
                "a single object by key needs an s3:// store".into(),
            ));
        };
        let display = format!("s3://{bucket}/{key}");
        let path = obj_path(&display, key)?;
        let options = object_store::GetOptions {
            version: version_id.map(str::to_owned),
            head: true,
            ..Default::default()
        };
        let meta = rt
            .block_on(store.get_opts(&path, options))
            .map_err(|e| Error::Store {
                location: display.clone(),
                message: match e {
                    object_store::Error::NotFound { .. } => format!(
                        "not found{}; check the bucket, key and version",
                        version_id
                            .map(|v| format!(" (version {v})"))
                            .unwrap_or_default()
                    ),
                    other => other.to_string(),
                },
            })?
            .meta;
        let version = version_name(
            version_id.or(meta.version.as_deref()),
            meta.e_tag.as_deref(),
        )
        .unwrap_or_default();
        Ok(RawObject {
            display,
            version: ObjectVersion {
                store: format!("s3://{bucket}"),
                key: key.to_owned(),
                version,
                size: meta.size,
                sequencer: None,
            },
            path: None,
            version_id: version_id.map(str::to_owned),
            last_modified_ms: Some(meta.last_modified.timestamp_millis()),
        })
    }

    /// Opens an object for streaming. For S3 the reader pulls the body chunk by chunk from the
    /// runtime; it must be read outside the runtime's worker threads.
    pub fn reader(&self, object: &RawObject, rt: &Handle) -> Result<Box<dyn Read + Send>> {
        match self {
            RawStore::Local { .. } => {
                let path = object.path.as_deref().unwrap_or(Path::new(""));
                let f = std::fs::File::open(path).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok(Box::new(f))
            }
            RawStore::S3 { store, .. } => {
                let path = obj_path(&object.display, &object.version.key)?;
                let options = object_store::GetOptions {
                    version: object.version_id.clone(),
                    ..Default::default()
                };
                let mut stream = rt
                    .block_on(store.get_opts(&path, options))
                    .map_err(|e| Error::Store {
                        location: object.display.clone(),
                        message: e.to_string(),
                    })?
                    .into_stream();
                // Read-ahead: the body is pulled on the runtime while the reader thread
                // decodes, up to READ_AHEAD_CHUNKS chunks ahead.
                let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD_CHUNKS);
                rt.spawn(async move {
                    while let Some(chunk) = stream.next().await {
                        if tx.send(chunk).await.is_err() {
                            break; // the reader was dropped
                        }
                    }
                });
                Ok(Box::new(StreamReader {
                    rx,
                    buf: Bytes::new(),
                    display: object.display.clone(),
                }))
            }
        }
    }
}

/// Chunks of an S3 body read ahead of the decoder (object_store chunks are ~8-64 KiB).
const READ_AHEAD_CHUNKS: usize = 256;
/// Files uploaded at once by [`OutputStore::upload_all`].
pub(crate) const UPLOAD_CONCURRENCY: usize = 8;

/// A blocking `Read` over an object_store byte stream, fed by a task on the runtime.
struct StreamReader {
    rx: tokio::sync::mpsc::Receiver<object_store::Result<Bytes>>,
    buf: Bytes,
    display: String,
}

impl Read for StreamReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!("{}: {e}", self.display)));
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// SHA-256 of a file, hex.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// A local file's identity as the ledger sees it, from one look at its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalVersion {
    /// `<mtime ns, 16 hex>-<first 16 hex of SHA-256>`.
    pub version: String,
    /// The modification time as a fixed-width upper-case hex sequencer.
    pub sequencer: String,
    /// Length in bytes.
    pub size: u64,
    /// Modification time, epoch ms.
    pub modified_ms: i64,
}

/// A local file's version (see [`LocalVersion`]). The hash is cached in `state.db` by (path,
/// mtime, size), so unchanged files are not re-read on every scan.
pub fn local_version(state: &StateDb, path: &Path) -> Result<LocalVersion> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mtime = mtime_ns(&meta);
    let key = path.display().to_string();
    let hash = match state.cached_hash(&key, mtime, meta.len())? {
        Some(h) => h,
        None => {
            let h = sha256_file(path).map_err(io)?;
            state.cache_hash(&key, mtime, meta.len(), &h)?;
            h
        }
    };
    Ok(LocalVersion {
        version: format!("{mtime:016x}-{}", &hash[..16]),
        sequencer: format!("{mtime:016X}"),
        size: meta.len(),
        modified_ms: mtime.div_euclid(1_000_000),
    })
}

/// Every object under `folder` (recursively; `""` for the whole bucket), sorted by key: not
/// empty, not a folder marker, not a hidden or temporary name.
fn list_s3(
    store: &Arc<dyn ObjectStore>,
    bucket: &str,
    prefix: &str,
    rt: &Handle,
) -> Result<Vec<RawObject>> {
    let prefix_path = if prefix.is_empty() {
        None
    } else {
        Some(obj_path(bucket, prefix)?)
    };
    let metas = rt.block_on(async {
        store
            .list(prefix_path.as_ref())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
    });
    let metas = metas.map_err(|e| Error::Store {
        location: format!("s3://{bucket}/{prefix}"),
        message: e.to_string(),
    })?;
    let mut out: Vec<RawObject> = metas
        .into_iter()
        .filter(|m| m.size > 0 && !m.location.as_ref().ends_with('/'))
        .filter(|m| !m.location.filename().is_some_and(ignored_name))
        .map(|m| {
            let key = m.location.to_string();
            // A store that gives neither (some S3-compatible ones): the modification time.
            let version = version_name(m.version.as_deref(), m.e_tag.as_deref())
                .unwrap_or_else(|| format!("{}", m.last_modified.timestamp_micros()));
            RawObject {
                display: format!("s3://{bucket}/{key}"),
                version: ObjectVersion {
                    store: format!("s3://{bucket}"),
                    key,
                    version,
                    size: m.size,
                    sequencer: None,
                },
                path: None,
                version_id: None,
                last_modified_ms: Some(m.last_modified.timestamp_millis()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.version.key.cmp(&b.version.key));
    Ok(out)
}

fn list_local(dir: &Path, state: &StateDb) -> Result<Vec<RawObject>> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let local = match local_version(state, &path) {
            Ok(v) => v,
            // Deleted between the listing and now: not an object any more.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        };
        if local.size == 0 {
            continue;
        }
        out.push(RawObject {
            display: path.display().to_string(),
            version: ObjectVersion {
                store: "raw".into(),
                key,
                version: local.version,
                size: local.size,
                sequencer: Some(local.sequencer),
            },
            last_modified_ms: Some(local.modified_ms),
            path: Some(path),
            version_id: None,
        });
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if ignored_name(&name.to_string_lossy()) {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&entry.path(), out)?;
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// An output folder (S3, or a local folder through the same object-store API): the transform
/// writes into a local staging folder, and its files are then uploaded here; the per-source
/// manifest is updated so a crash never leaves an unlisted file.
pub(crate) struct OutputStore {
    /// Where it is, as users write it.
    pub(crate) location: Location,
    store: Arc<dyn ObjectStore>,
}

impl OutputStore {
    /// Opens an output location (creating a local folder).
    pub(crate) fn open(location: &Location) -> Result<Self> {
        let store: Arc<dyn ObjectStore> = match location {
            Location::S3 { bucket, .. } => s3_store(bucket)?,
            Location::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| Error::Store {
                        location: dir.display().to_string(),
                        message: e.to_string(),
                    })?
                    .with_automatic_cleanup(true);
                Arc::new(fs)
            }
        };
        Ok(Self {
            location: location.clone(),
            store,
        })
    }

    /// The object path of a path relative to the output folder (a local store is rooted at
    /// the folder; an S3 one at the bucket).
    fn path(&self, rel: &str) -> Result<ObjPath> {
        let key = match &self.location {
            Location::S3 { prefix, .. } => join_key(prefix, rel),
            Location::Local(_) => rel.to_owned(),
        };
        obj_path(&self.display(rel), &key)
    }

    /// A file's full location, for messages and summaries.
    pub(crate) fn display(&self, rel: &str) -> String {
        self.location.join(rel).display()
    }

    /// Downloads an object to a local file; `false` when it does not exist.
    pub(crate) fn download(&self, rt: &Handle, rel: &str, to: &Path) -> Result<bool> {
        let path = self.path(rel)?;
        let got = rt.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match got.map_err(|e| self.err(rel, e))? {
            None => Ok(false),
            Some(bytes) => {
                if let Some(dir) = to.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                std::fs::write(to, &bytes).map_err(|source| Error::Io {
                    path: to.display().to_string(),
                    source,
                })?;
                Ok(true)
            }
        }
    }

    /// Uploads a local file (multipart above 8 MiB, via object_store's buffered writer, which
    /// retries parts with backoff).
    pub(crate) fn upload(&self, rt: &Handle, from: &Path, rel: &str) -> Result<()> {
        rt.block_on(self.upload_async(from, rel))
    }

    /// Uploads many files, [`UPLOAD_CONCURRENCY`] at a time (object stores are latency-bound:
    /// one file at a time leaves the bandwidth idle). Stops at the first error.
    pub(crate) fn upload_all(&self, rt: &Handle, files: &[(PathBuf, String)]) -> Result<()> {
        rt.block_on(async {
            futures::stream::iter(files.iter().map(|(from, rel)| self.upload_async(from, rel)))
                .buffer_unordered(UPLOAD_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await
                .map(drop)
        })
    }

    async fn upload_async(&self, from: &Path, rel: &str) -> Result<()> {
        let path = self.path(rel)?;
        let res: std::result::Result<(), String> = async {
            let len = std::fs::metadata(from).map_err(|e| e.to_string())?.len();
            if len <= 8 << 20 {
                let bytes = std::fs::read(from).map_err(|e| e.to_string())?;
                self.store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else {
                let mut w = object_store::buffered::BufWriter::new(self.store.clone(), path);
                let mut f = tokio::fs::File::open(from)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::io::copy(&mut f, &mut w)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::io::AsyncWriteExt::shutdown(&mut w)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
        .await;
        res.map_err(|message| Error::Store {
            location: format!("{} (from {})", self.display(rel), from.display()),
            message,
        })
    }

    /// Deletes an object; a missing one is fine.
    pub(crate) fn delete(&self, rt: &Handle, rel: &str) -> Result<()> {
        match rt.block_on(self.store.delete(&self.path(rel)?)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    fn err(&self, rel: &str, e: object_store::Error) -> Error {
        Error::Store {
            location: self.display(rel),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("s3://b/p/q/").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap().join("raw").display(),
            "s3://b/raw"
        );
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("gs://b/x").is_err());
        assert_eq!(
            Location::parse("some/dir").unwrap(),
            Location::Local("some/dir".into())
        );
    }

    #[test]
    fn ignores_writers_temp_files() {
        for n in [".x.json", "a.json.tmp", "a.part", "_SUCCESS", "a.json~"] {
            assert!(ignored_name(n), "{n}");
        }
        assert!(!ignored_name("app-0001.ndjson.gz"));
    }
}
