//! Compaction of one partition on an output store (S3): the current generation is staged in a
//! local folder, the engine ([`loglake_transform::compact::compact_partition`]) writes the next
//! one there, and it is uploaded under `gen-<N+1>/…` with its manifest last. Making it visible is
//! the catalog's step (the caller's: Glue `UpdatePartition`); until then no reader lists it.

use std::collections::BTreeSet;
use std::path::Path;

use loglake_core::CompiledSchema;
use loglake_transform::compact::{
    COMPACTION_MANIFEST, CompactInput, CompactOptions, CompactionManifest, compact_partition,
    generation_dir,
};
use tokio::runtime::Handle;

use crate::error::Result;
use crate::output::OutputStore;

/// One partition of a table on an output store (`<table>/<generation folder>` under it).
#[derive(Clone, Copy)]
#[expect(
    missing_debug_implementations,
    reason = "holds a store and a runtime handle"
)]
pub struct StorePartition<'a> {
    /// The clean location (`s3://bucket/clean`).
    pub store: &'a OutputStore,
    /// The runtime its calls block on.
    pub rt: &'a Handle,
    /// The table's folder name under the store.
    pub table: &'a str,
    /// `dt=…/hr=…`.
    pub partition: &'a str,
}

impl StorePartition<'_> {
    /// A generation's folder, relative to the store.
    fn dir(&self, generation: u64) -> String {
        format!(
            "{}/{}",
            self.table,
            generation_dir(self.partition, generation)
        )
    }

    /// The `part-…` files of a generation's folder, relative to the table folder.
    pub fn part_files(&self, generation: u64) -> Result<Vec<String>> {
        let gen_dir = generation_dir(self.partition, generation);
        Ok(self
            .store
            .list(self.rt, &self.dir(generation))?
            .into_iter()
            .filter(|(n, _)| n.starts_with("part-") && n.ends_with(".parquet"))
            .map(|(n, _)| format!("{gen_dir}/{n}"))
            .collect())
    }

    /// How many Parquet files a reader of generation `generation`'s folder sees.
    pub fn parquet_files(&self, generation: u64) -> Result<usize> {
        Ok(self
            .store
            .list(self.rt, &self.dir(generation))?
            .iter()
            .filter(|(n, _)| n.ends_with(".parquet") && !n.starts_with(['_', '.']))
            .count())
    }

    /// Stages generation `generation` (its `parts` and, past 0, its compacted files) under
    /// `staging`, writes the next generation there and uploads it, manifest last.
    pub fn compact(
        &self,
        schema: &CompiledSchema,
        generation: u64,
        parts: &[String],
        drop: &BTreeSet<String>,
        opts: &CompactOptions,
        staging: &Path,
    ) -> Result<CompactionManifest> {
        let table_dir = staging.join(self.table);
        let current = generation_dir(self.partition, generation);
        let mut names: Vec<String> = parts.to_vec();
        if generation > 0 {
            let rel = format!("{current}/{COMPACTION_MANIFEST}");
            self.download(&rel, &table_dir)?;
            let previous = CompactionManifest::read(&table_dir.join(&current))?;
            names.extend(previous.files.iter().map(|f| format!("{current}/{f}")));
        }
        for rel in &names {
            self.download(rel, &table_dir)?;
        }
        let input = CompactInput {
            partition: self.partition.to_owned(),
            table_dir: table_dir.clone(),
            generation,
            parts: parts.to_vec(),
            drop: drop.clone(),
            out_dir: None,
        };
        let manifest = compact_partition(schema, &input, opts)?;
        // Objects an earlier attempt that died left in the next generation's folder (no reader
        // lists it yet; the caller holds the partition's claim): a smaller generation must not
        // inherit its extra files.
        self.delete_generation(manifest.generation)?;
        let next = generation_dir(self.partition, manifest.generation);
        let mut uploads: Vec<(std::path::PathBuf, String)> = manifest
            .files
            .iter()
            .map(|f| {
                (
                    table_dir.join(&next).join(f),
                    format!("{}/{next}/{f}", self.table),
                )
            })
            .collect();
        self.store.upload_all(self.rt, &uploads)?;
        uploads.clear();
        let local = table_dir.join(&next).join(COMPACTION_MANIFEST);
        self.store.upload(
            self.rt,
            &local,
            &format!("{}/{next}/{COMPACTION_MANIFEST}", self.table),
        )?;
        Ok(manifest)
    }

    fn download(&self, rel: &str, table_dir: &Path) -> Result<()> {
        let to = table_dir.join(rel);
        if !self
            .store
            .download(self.rt, &format!("{}/{rel}", self.table), &to)?
        {
            return Err(crate::Error::NotFound {
                location: self.store.display(&format!("{}/{rel}", self.table)),
                version: None,
            });
        }
        Ok(())
    }

    /// Copies `part-…` files (relative to the table folder) into generation `generation`'s
    /// folder: files a transform published into the old folder after the compaction listed it.
    pub fn carry_over(&self, files: &[String], generation: u64, staging: &Path) -> Result<()> {
        let table_dir = staging.join(self.table);
        let next = generation_dir(self.partition, generation);
        for rel in files {
            self.download(rel, &table_dir)?;
            let name = rel.rsplit('/').next().unwrap_or(rel);
            self.store.upload(
                self.rt,
                &table_dir.join(rel),
                &format!("{}/{next}/{name}", self.table),
            )?;
        }
        Ok(())
    }

    /// Deletes every object of a generation's folder (an old generation after its grace
    /// period, or a new one the catalog did not switch to).
    pub fn delete_generation(&self, generation: u64) -> Result<usize> {
        let dir = self.dir(generation);
        let listed = self.store.list(self.rt, &dir)?;
        for (name, _) in &listed {
            self.store.delete(self.rt, &format!("{dir}/{name}"))?;
        }
        Ok(listed.len())
    }
}
