//! Publishing a transform's output to any output location (S3, or folders other than the
//! root's): the transform seals its files in a local staging folder, and the one publish
//! protocol ([`loglake_transform::publish`]: manifest(old ∪ new) → data files → quarantine →
//! removals → manifest(new)) runs against this crate's [`OutputStore`]s as its target, so a
//! crash at any point keeps invariant 2 (nothing counted twice), as it does for a local folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use loglake_core::CompiledSchema;
use loglake_transform::publish::{Placement, Sealed, Target};
use loglake_transform::{
    Error as TransformError, LocalOutput, Manifest, Result as TransformResult, Source, Summary,
    TransformOptions, transform_reader_to,
};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::location::Location;
use crate::output::OutputStore;

/// Writes transform output to a clean and a quarantine location through a staging folder.
pub struct Publisher {
    clean: OutputStore,
    quarantine: OutputStore,
    staging: PathBuf,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("clean", &self.clean.display(""))
            .field("quarantine", &self.quarantine.display(""))
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens the two locations (`<root>/clean`, `<root>/quarantine` by contract) and a local
    /// staging folder.
    pub fn open(clean: &Location, quarantine: &Location, staging: PathBuf) -> Result<Self> {
        Ok(Self {
            clean: OutputStore::open(clean)?,
            quarantine: OutputStore::open(quarantine)?,
            staging,
        })
    }

    /// Opens `<root>/clean` and `<root>/quarantine` of an output root.
    pub fn for_root(root: &Location, staging: PathBuf) -> Result<Self> {
        Self::open(&root.join("clean"), &root.join("quarantine"), staging)
    }

    /// Transforms one object (`reader`) and publishes its files, replacing what an earlier
    /// version of the same source wrote, in the transform's one publish protocol
    /// ([`loglake_transform::publish`]), into compacted partitions' current folders when a
    /// catalog `placement` is given. Blocking: call it outside the runtime's threads.
    #[expect(
        clippy::too_many_arguments,
        reason = "the transform's own inputs plus where it publishes; a struct would only rename them"
    )]
    pub fn publish(
        &self,
        rt: &Handle,
        reader: impl Read + Send,
        source: &Source,
        schema: &CompiledSchema,
        opts: &TransformOptions,
        placement: Option<&dyn Placement>,
        bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        let table = schema.table();
        let sid = loglake_core::source_id(&source.name);
        let dir = self.staging.join(format!("{sid}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let target = Remote {
            clean: &self.clean,
            quarantine: &self.quarantine,
            rt,
            table,
            manifest_rel: format!("{table}/_manifests/{sid}.json"),
            quarantine_rel: format!("{table}/{sid}.ndjson.gz"),
            dir: &dir,
            placement,
        };
        let staging = LocalOutput::new(&dir);
        let result = transform_reader_to(reader, source, schema, &staging, &target, opts, bytes);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(result?)
    }
}

/// An output location as the publish protocol's target: uploads and deletes, in its order.
struct Remote<'a> {
    clean: &'a OutputStore,
    quarantine: &'a OutputStore,
    rt: &'a Handle,
    table: &'a str,
    /// `<table>/_manifests/<source_id>.json`, under the clean location.
    manifest_rel: String,
    /// `<table>/<source_id>.ndjson.gz`, under the quarantine location.
    quarantine_rel: String,
    /// The staging folder (manifests are written here before their upload).
    dir: &'a Path,
    /// The catalog's side of compaction (Glue), when publishing for a catalog table.
    placement: Option<&'a dyn Placement>,
}

impl Remote<'_> {
    fn failed(&self, location: String) -> impl FnOnce(Error) -> TransformError {
        move |e| TransformError::Publish {
            location,
            source: Box::new(e),
        }
    }
}

impl Target for Remote<'_> {
    fn manifest(&self) -> TransformResult<Manifest> {
        let path = self.dir.join("previous-manifest.json");
        self.clean
            .download(self.rt, &self.manifest_rel, &path)
            .map_err(self.failed(self.clean.display(&self.manifest_rel)))?;
        Ok(Manifest::read(&path)?.unwrap_or_default())
    }

    fn set_manifest(&self, manifest: Option<&Manifest>) -> TransformResult<()> {
        let location = self.clean.display(&self.manifest_rel);
        match manifest {
            Some(m) => {
                let path = self.dir.join("manifest.json");
                m.write(&path)?;
                self.clean.upload(self.rt, &path, &self.manifest_rel)
            }
            None => self.clean.delete(self.rt, &self.manifest_rel),
        }
        .map_err(self.failed(location))
    }

    fn put_files(&self, files: &[Sealed]) -> TransformResult<()> {
        let uploads: Vec<(PathBuf, String)> = files
            .iter()
            .map(|f| (f.path.clone(), format!("{}/{}", self.table, f.rel)))
            .collect();
        self.clean
            .upload_all(self.rt, &uploads)
            .map_err(self.failed(self.clean.display(self.table)))
    }

    fn put_quarantine(&self, sealed: Option<&Path>) -> TransformResult<()> {
        match sealed {
            Some(q) => self.quarantine.upload(self.rt, q, &self.quarantine_rel),
            None => self.quarantine.delete(self.rt, &self.quarantine_rel),
        }
        .map_err(self.failed(self.quarantine_location()))
    }

    fn remove_file(&self, rel: &str) -> TransformResult<()> {
        let rel = format!("{}/{rel}", self.table);
        self.clean
            .delete(self.rt, &rel)
            .map_err(self.failed(self.clean.display(&rel)))
    }

    fn file_location(&self, rel: &str) -> String {
        self.clean.display(&format!("{}/{rel}", self.table))
    }

    fn quarantine_location(&self) -> String {
        self.quarantine.display(&self.quarantine_rel)
    }

    fn placement(&self) -> Option<&dyn Placement> {
        self.placement
    }
}
