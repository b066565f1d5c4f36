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
        let out = LocalOutput::new(&dir);
        let table_dir = out.table_dir(table);
        let manifest_rel = format!("_manifests/{sid}.json");
        let manifest_path = out.manifest_path(table, &sid);
        // The previous version's manifest: the transform removes what the new version does not
        // rewrite, and we mirror those removals.
        self.clean
            .download(rt, &format!("{table}/{manifest_rel}"), &manifest_path)?;
        let old = Manifest::read(&manifest_path)?.unwrap_or_default();
        let result = (|| -> Result<Summary> {
            let mut summary = transform_reader(reader, source, schema, &out, opts, bytes)?;
            let rel = |p: &str| -> String {
                Path::new(p)
                    .strip_prefix(&table_dir)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_else(|_| p.to_owned())
            };
            let new_files: Vec<String> = summary.files.iter().map(|f| rel(f)).collect();
            // 1. A manifest naming old and new files, so a crash never leaves an unlisted file.
            let mut union = old.clone();
            union.source = source.name.clone();
            union.files.extend(new_files.iter().cloned());
            let union_path = dir.join("union.json");
            union.write(&union_path)?;
            self.clean
                .upload(rt, &union_path, &format!("{table}/{manifest_rel}"))?;
            // 2. Data files, 3. quarantine, 4. removals, 5. the final manifest.
            let uploads: Vec<(PathBuf, String)> = new_files
                .iter()
                .map(|f| (table_dir.join(f), format!("{table}/{f}")))
                .collect();
            self.clean.upload_all(rt, &uploads)?;
            let q_rel = format!("{table}/{sid}.ndjson.gz");
            match &summary.quarantine_file {
                Some(q) => self.quarantine.upload(rt, Path::new(q), &q_rel)?,
                None => self.quarantine.delete(rt, &q_rel)?,
            }
            // The previous version's files that this one did not rewrite. Not the transform's
            // `removed_files`: it removes stale files where it writes, in staging, where the
            // previous version's files never are.
            let removed: Vec<String> = old
                .files
                .iter()
                .filter(|f| !new_files.contains(f))
                .cloned()
                .collect();
            for f in &removed {
                self.clean.delete(rt, &format!("{table}/{f}"))?;
            }
            if manifest_path.exists() {
                self.clean
                    .upload(rt, &manifest_path, &format!("{table}/{manifest_rel}"))?;
            } else {
                self.clean.delete(rt, &format!("{table}/{manifest_rel}"))?;
            }
            summary.files = new_files
                .iter()
                .map(|f| self.clean.display(&format!("{table}/{f}")))
                .collect();
            summary.removed_files = removed
                .iter()
                .map(|f| self.clean.display(&format!("{table}/{f}")))
                .collect();
            if summary.quarantine_file.is_some() {
                summary.quarantine_file = Some(self.quarantine.display(&q_rel));
            }
            Ok(summary)
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}
