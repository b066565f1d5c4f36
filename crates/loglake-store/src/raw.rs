//! Raw objects: listed (one ignore rule for folders and S3), opened for streaming, and checked
//! to exist at the version asked for.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use loglake_core::ledger::{ObjectVersion, version_name};
use object_store::ObjectStore;
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::location::{Location, obj_path, s3_store};

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

/// The files under a folder, recursively, sorted; [`ignored_name`]s (and everything under an
/// ignored folder) left out. A missing folder has no files.
pub fn local_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(dir, &mut out).map_err(Error::io(dir))?;
    out.sort();
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
        } else if ty.is_file() || (ty.is_symlink() && entry.path().is_file()) {
            // A link to a file is that file; links to folders are not followed (no cycles).
            out.push(entry.path());
        }
    }
    Ok(())
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

    /// Lists an S3 store's objects, sorted by key: everything under its prefix, taken as a
    /// folder; zero-byte objects, folder markers and [`ignored_name`]s left out.
    pub fn list_remote(&self, rt: &Handle) -> Result<Vec<RawObject>> {
        match self {
            RawStore::Local { dir } => Err(Error::Location {
                location: dir.display().to_string(),
                message: "is a folder, not an S3 prefix".into(),
            }),
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
            return Err(Error::Location {
                location: key.to_owned(),
                message: "a single object by key needs an s3:// store".into(),
            });
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
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => Error::NotFound {
                    location: display.clone(),
                    version: version_id.map(str::to_owned),
                },
                source => Error::Store {
                    location: display.clone(),
                    source,
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
                let f = std::fs::File::open(path).map_err(Error::io(path))?;
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
                    .map_err(|source| Error::Store {
                        location: object.display.clone(),
                        source,
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
    let metas = metas.map_err(|source| Error::Store {
        location: format!("s3://{bucket}/{prefix}"),
        source,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_writers_temp_files() {
        for n in [
            ".x.json",
            "a.json.tmp",
            "a.part",
            "_SUCCESS",
            "a.json~",
            "a.inprogress",
        ] {
            assert!(ignored_name(n), "{n}");
        }
        assert!(!ignored_name("app-0001.ndjson.gz"));
    }

    #[test]
    fn local_files_skip_ignored_names_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "b.json",
            "a/c.json",
            "a/.hidden.json",
            "_tmp/d.json",
            "e.json.part",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "{}").unwrap();
        }
        let found: Vec<_> = local_files(dir.path())
            .unwrap()
            .into_iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(found, ["a/c.json", "b.json"]);
        assert!(local_files(&dir.path().join("missing")).unwrap().is_empty());
    }
}
