//! The output layout (DESIGN.md §3, contract) on a local folder, and the per-source manifest
//! that makes a new version of an object replace the previous version's files.
//!
//! ```text
//! <root>/clean/<table>/dt=YYYY-MM-DD/hr=HH[/<key>=<v>]/part-<source_id>-<n>.parquet
//! <root>/clean/<table>/_manifests/<source_id>.json      (files written for the source)
//! <root>/quarantine/<table>/<source_id>.ndjson.gz
//! ```
//! Files are written under a hidden `.…inprogress` name and published (see [`crate::publish`])
//! only once every file of the source is whole, so readers never see a partial file and a
//! source that fails (a broken read, a full disk) publishes nothing; Hive-style readers skip
//! the `_manifests` folder (leading `_`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A local output root.
#[derive(Debug, Clone)]
pub struct LocalOutput {
    root: PathBuf,
}

impl LocalOutput {
    /// An output root folder (created on demand).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/clean/<table>`.
    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join("clean").join(table)
    }

    /// `<root>/quarantine/<table>/<source_id>.ndjson.gz`.
    pub fn quarantine_path(&self, table: &str, source_id: &str) -> PathBuf {
        self.root
            .join("quarantine")
            .join(table)
            .join(format!("{source_id}.ndjson.gz"))
    }

    /// `<root>/clean/<table>/_manifests/<source_id>.json`.
    pub fn manifest_path(&self, table: &str, source_id: &str) -> PathBuf {
        self.table_dir(table)
            .join("_manifests")
            .join(format!("{source_id}.json"))
    }
}

/// The in-progress name of a file: hidden, so no reader picks it up.
pub(crate) fn in_progress_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.inprogress"))
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    Ok(())
}

/// Writes a file atomically: temp file, fsync-free write, rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    create_parent(path)?;
    let tmp = in_progress_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Removes a file; a missing file is fine.
pub(crate) fn remove_if_exists(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The files a source has written, relative to the table folder.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The source's name (its `bucket/key`).
    pub source: String,
    /// Data files, relative to `<root>/clean/<table>`.
    pub files: BTreeSet<String>,
}

impl Manifest {
    /// Reads a manifest; a missing one is empty.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| Error::Manifest {
                        path: path.display().to_string(),
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// Writes a manifest atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_progress_names_are_hidden() {
        assert_eq!(
            in_progress_path(Path::new("/x/dt=1/part-a-0.parquet")),
            Path::new("/x/dt=1/.part-a-0.parquet.inprogress")
        );
    }
}
