//! Publishing a transform's output to any output location (S3, or folders other than the
//! root's): the transform writes into a local staging folder, then the files are uploaded in an
//! order that keeps invariant 2 (nothing counted twice) true after a crash at any point:
//! manifest(old ∪ new) → data files → quarantine → removals → manifest(new).

use std::io::Read;
use std::path::{Path, PathBuf};

use loglake_core::CompiledSchema;
use loglake_transform::{
    LocalOutput, Manifest, Source, Summary, TransformOptions, transform_reader,
};
use tokio::runtime::Handle;

use crate::error::Result;
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
    /// version of the same source wrote. Blocking: call it outside the runtime's threads.
    pub fn publish(
        &self,
        rt: &Handle,
        reader: impl Read + Send,
        source: &Source,
        schema: &CompiledSchema,
        opts: &TransformOptions,
        bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        let table = schema.table();
        let sid = loglake_core::source_id(&source.name);
        let dir = self.staging.join(format!("{sid}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stage = Stage {
            out: LocalOutput::new(&dir),
            manifest_rel: format!("{table}/_manifests/{sid}.json"),
            quarantine_rel: format!("{table}/{sid}.ndjson.gz"),
            table,
            dir: dir.clone(),
        };
        let result = (|| -> Result<Summary> {
            // The previous version's manifest: its files this version does not rewrite are
            // removed (step 4).
            let manifest_path = stage.manifest_path(&sid);
            self.clean
                .download(rt, &stage.manifest_rel, &manifest_path)?;
            let old = Manifest::read(&manifest_path)?.unwrap_or_default();
            let summary = transform_reader(reader, source, schema, &stage.out, opts, bytes)?;
            self.upload_in_order(rt, &stage, &old, &source.name, &sid, summary)
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// The staged files, published in the crash-safe order: 1. a manifest naming old and new
    /// files (so a crash never leaves an unlisted file), 2. data files, 3. quarantine,
    /// 4. removals, 5. the final manifest. Returns the summary with published locations.
    fn upload_in_order(
        &self,
        rt: &Handle,
        stage: &Stage<'_>,
        old: &Manifest,
        source_name: &str,
        sid: &str,
        mut summary: Summary,
    ) -> Result<Summary> {
        let table = stage.table;
        let table_dir = stage.out.table_dir(table);
        let new_files: Vec<String> = summary.files.iter().map(|f| stage.rel(f)).collect();
        let mut union = old.clone();
        union.source = source_name.to_owned();
        union.files.extend(new_files.iter().cloned());
        let union_path = stage.dir.join("union.json");
        union.write(&union_path)?;
        self.clean.upload(rt, &union_path, &stage.manifest_rel)?;
        let uploads: Vec<(PathBuf, String)> = new_files
            .iter()
            .map(|f| (table_dir.join(f), format!("{table}/{f}")))
            .collect();
        self.clean.upload_all(rt, &uploads)?;
        match &summary.quarantine_file {
            Some(q) => self
                .quarantine
                .upload(rt, Path::new(q), &stage.quarantine_rel)?,
            None => self.quarantine.delete(rt, &stage.quarantine_rel)?,
        }
        // Not the transform's `removed_files`: it removes stale files where it writes, in
        // staging, where the previous version's files never are.
        let removed: Vec<String> = old
            .files
            .iter()
            .filter(|f| !new_files.contains(f))
            .cloned()
            .collect();
        for f in &removed {
            self.clean.delete(rt, &format!("{table}/{f}"))?;
        }
        let manifest_path = stage.manifest_path(sid);
        if manifest_path.exists() {
            self.clean.upload(rt, &manifest_path, &stage.manifest_rel)?;
        } else {
            self.clean.delete(rt, &stage.manifest_rel)?;
        }
        let published = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .map(|f| self.clean.display(&format!("{table}/{f}")))
                .collect()
        };
        summary.files = published(&new_files);
        summary.removed_files = published(&removed);
        if summary.quarantine_file.is_some() {
            summary.quarantine_file = Some(self.quarantine.display(&stage.quarantine_rel));
        }
        Ok(summary)
    }
}

/// One source's staging folder, and its objects' names relative to the output locations.
struct Stage<'a> {
    out: LocalOutput,
    dir: PathBuf,
    table: &'a str,
    /// `<table>/_manifests/<source_id>.json`, under the clean location.
    manifest_rel: String,
    /// `<table>/<source_id>.ndjson.gz`, under the quarantine location.
    quarantine_rel: String,
}

impl Stage<'_> {
    fn manifest_path(&self, sid: &str) -> PathBuf {
        self.out.manifest_path(self.table, sid)
    }

    /// A staged file's name relative to the table folder.
    fn rel(&self, path: &str) -> String {
        Path::new(path)
            .strip_prefix(self.out.table_dir(self.table))
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| path.to_owned())
    }
}
