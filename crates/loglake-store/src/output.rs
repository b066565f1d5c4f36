//! An output folder (S3, or a local folder through the same object-store API) that staged
//! files are uploaded to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::location::{Location, join_key, obj_path, s3_store};

/// Files uploaded at once by [`OutputStore::upload_all`].
const UPLOAD_CONCURRENCY: usize = 8;

/// An output folder (S3, or a local folder through the same object-store API): the transform
/// writes into a local staging folder, and its files are then uploaded here; the per-source
/// manifest is updated so a crash never leaves an unlisted file.
pub struct OutputStore {
    /// Where it is, as users write it.
    pub location: Location,
    store: Arc<dyn ObjectStore>,
}

impl OutputStore {
    /// Opens an output location (creating a local folder).
    pub fn open(location: &Location) -> Result<Self> {
        let store: Arc<dyn ObjectStore> = match location {
            Location::S3 { bucket, .. } => s3_store(bucket)?,
            Location::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|source| Error::Store {
                        location: dir.display().to_string(),
                        source,
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
    pub fn display(&self, rel: &str) -> String {
        self.location.join(rel).display()
    }

    /// Downloads an object to a local file; `false` when it does not exist.
    pub fn download(&self, rt: &Handle, rel: &str, to: &Path) -> Result<bool> {
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
    pub fn upload(&self, rt: &Handle, from: &Path, rel: &str) -> Result<()> {
        rt.block_on(self.upload_async(from, rel))
    }

    /// Uploads many files, [`UPLOAD_CONCURRENCY`] at a time (object stores are latency-bound:
    /// one file at a time leaves the bandwidth idle). Stops at the first error.
    pub fn upload_all(&self, rt: &Handle, files: &[(PathBuf, String)]) -> Result<()> {
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
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Upload {
            location: self.display(rel),
            from: from.display().to_string(),
            source,
        };
        let len = std::fs::metadata(from).map_err(|e| failed(e.into()))?.len();
        if len <= 8 << 20 {
            let bytes = std::fs::read(from).map_err(|e| failed(e.into()))?;
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map(drop)
                .map_err(|e| failed(e.into()))
        } else {
            let mut w = object_store::buffered::BufWriter::new(self.store.clone(), path);
            let mut f = tokio::fs::File::open(from)
                .await
                .map_err(|e| failed(e.into()))?;
            tokio::io::copy(&mut f, &mut w)
                .await
                .map_err(|e| failed(e.into()))?;
            tokio::io::AsyncWriteExt::shutdown(&mut w)
                .await
                .map_err(|e| failed(e.into()))
        }
    }

    /// The objects directly in a folder (`rel_dir`, relative to the output folder): their
    /// names and sizes, sorted by name.
    pub fn list(&self, rt: &Handle, rel_dir: &str) -> Result<Vec<(String, u64)>> {
        let prefix = self.path(rel_dir)?;
        let listed = rt
            .block_on(self.store.list_with_delimiter(Some(&prefix)))
            .map_err(|e| self.err(rel_dir, e))?;
        let mut out: Vec<(String, u64)> = listed
            .objects
            .into_iter()
            .filter_map(|m| Some((m.location.filename()?.to_owned(), m.size)))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes an object; a missing one is fine.
    pub fn delete(&self, rt: &Handle, rel: &str) -> Result<()> {
        match rt.block_on(self.store.delete(&self.path(rel)?)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    fn err(&self, rel: &str, e: object_store::Error) -> Error {
        Error::Store {
            location: self.display(rel),
            source: e,
        }
    }
}
