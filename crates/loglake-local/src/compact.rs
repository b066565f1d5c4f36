//! Compaction of a local root's settled partitions, swapped in by one SQLite transaction.
//!
//! Per partition: [`loglake_transform::compact::compact_partition`] writes the next generation
//! folder (invisible: the catalog still names the current one); [`StateDb::swap_partition`]
//! switches the catalog's location to it in one transaction, only if no `part-…` file arrived in
//! the current folder meanwhile, and queues the old folder for deletion after the grace period;
//! [`Compactor::collect_garbage`] deletes old folders whose grace has passed. A process killed at
//! any point leaves the catalog naming a complete generation; the next run redoes the work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loglake_core::CompiledSchema;
use loglake_core::catalog::CatalogTable;
use loglake_core::partition::PartitionPath;
use loglake_transform::compact::{
    CompactInput, CompactOptions, clear_dir, compact_partition, generation_dir, hour_end_ms,
    part_files, partition_of, worth_compacting,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::{Partition, StateDb, Swap, now_ms};

/// When and how a root is compacted.
#[derive(Debug, Clone, Copy)]
pub struct CompactConfig {
    /// A partition is compacted once its hour ended this long ago.
    pub settle: Duration,
    /// An old generation is deleted this long after the switch (longer than any query).
    pub grace: Duration,
    /// A partition not yet compacted is compacted once it has this many files.
    pub min_files: usize,
    /// File sizes and memory bound.
    pub options: CompactOptions,
}

impl Default for CompactConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(3600),
            grace: Duration::from_secs(600),
            min_files: 8,
            options: CompactOptions::default(),
        }
    }
}

/// One partition's compaction.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// `dt=…/hr=…`.
    pub partition: String,
    /// The new generation.
    pub generation: u64,
    /// Files before (current compacted files plus `part-…` files) and after.
    pub files_before: usize,
    /// Files written.
    pub files_after: usize,
    /// Rows in the new generation.
    pub rows: u64,
    /// Parquet bytes read and written.
    pub bytes_before: u64,
    /// Parquet bytes written.
    pub bytes_after: u64,
    /// Whether the catalog switched to it (false: files arrived meanwhile; retried next time).
    pub swapped: bool,
    /// Milliseconds spent.
    pub duration_ms: u64,
}

/// A compaction pass's report (one JSON document on stdout for `loglake compact`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactReport {
    /// Partitions compacted.
    pub partitions: Vec<PartitionReport>,
    /// Old generation folders deleted.
    pub collected: Vec<String>,
}

/// Where compactors stage the generations they write, under the table folder (hidden).
const STAGING: &str = ".compacting";

/// A staging folder's name for an owner token (`host:pid:start`).
fn staging_name(owner: &str) -> String {
    owner.replace([':', '/'], "_")
}

/// Puts a staged generation folder in place, inside the switch's transaction: a folder left at
/// `to` by an attempt that died between its rename and its commit is not visible (the catalog
/// still names the old generation), so it is removed first.
fn install(staged: &Path, to: &Path) -> bool {
    if clear_dir(to).is_err() {
        return false;
    }
    to.parent()
        .is_some_and(|p| std::fs::create_dir_all(p).is_ok())
        && std::fs::rename(staged, to).is_ok()
}

/// Compacts one table of a root.
#[derive(Debug)]
pub struct Compactor<'a> {
    state: &'a StateDb,
    table: &'a CatalogTable,
    schema: &'a CompiledSchema,
    config: CompactConfig,
    /// This process (`host:pid:start`): names its staging folder.
    owner: String,
}

impl<'a> Compactor<'a> {
    /// A compactor over a root's table (its location must be a local folder).
    pub fn new(
        state: &'a StateDb,
        table: &'a CatalogTable,
        schema: &'a CompiledSchema,
        config: CompactConfig,
    ) -> Result<Self> {
        if table.location.contains("://") {
            return Err(Error::Usage(format!(
                "table `{}` is at `{}`: local compaction rewrites local folders only; on S3 the \
                 Glue job compacts",
                table.name, table.location
            )));
        }
        Ok(Self {
            state,
            table,
            schema,
            config,
            owner: crate::pipeline::owner_token(),
        })
    }

    fn table_dir(&self) -> PathBuf {
        PathBuf::from(&self.table.location)
    }

    /// Compacts every settled partition that is worth it, then deletes old generations whose
    /// grace period has passed.
    pub fn run(&self, now_ms: i64) -> Result<CompactReport> {
        self.clear_dead_staging()?;
        let mut report = CompactReport::default();
        let settle = i64::try_from(self.config.settle.as_millis()).unwrap_or(i64::MAX);
        for p in self
            .state
            .partitions(&self.table.database, &self.table.name)?
        {
            if hour_end_ms(&p.values).is_none_or(|end| end > now_ms.saturating_sub(settle)) {
                continue;
            }
            if let Some(r) = self.compact(&p, &BTreeSet::new(), false)? {
                report.partitions.push(r);
            }
        }
        report.collected = self.collect_garbage(now_ms.max(crate::state::now_ms()))?;
        Ok(report)
    }

    /// Rewrites `partition` (`dt=…/hr=…`) without the rows of `source` in its compacted files:
    /// a new version of that source is being published (see `loglake_transform::publish::
    /// Placement`).
    pub fn purge(&self, partition: &str, source: &str) -> Result<Option<PartitionReport>> {
        let drop = BTreeSet::from([source.to_owned()]);
        for p in self
            .state
            .partitions(&self.table.database, &self.table.name)?
        {
            if partition_path(self.table, &p)? == partition {
                return self.compact(&p, &drop, true);
            }
        }
        Ok(None)
    }

    /// One partition: `None` when it is not worth compacting.
    fn compact(
        &self,
        p: &Partition,
        drop: &BTreeSet<String>,
        force: bool,
    ) -> Result<Option<PartitionReport>> {
        let started = Instant::now();
        let partition = partition_path(self.table, p)?;
        let table_dir = self.table_dir();
        let current = generation_dir(&partition, p.generation);
        let parts = part_files(&table_dir, &current)?;
        let worth = worth_compacting(p.generation, parts.len(), self.config.min_files);
        if !(worth || force) {
            return Ok(None);
        }
        // This process's own staging folder: another compactor of the same partition (a
        // `loglake compact` beside a `run`) writes its own, and only the switch installs one.
        let staging = table_dir
            .join(STAGING)
            .join(staging_name(&self.owner))
            .join(generation_dir(&partition, p.generation + 1));
        let input = CompactInput {
            partition: partition.clone(),
            table_dir: table_dir.clone(),
            generation: p.generation,
            parts: parts.clone(),
            drop: drop.clone(),
            out_dir: Some(staging.clone()),
        };
        let before = self.files_before(&input)?;
        let manifest = match compact_partition(self.schema, &input, &self.config.options) {
            Ok(m) => m,
            // Another compactor switched the partition and deleted the generation these inputs
            // were in (its grace period may be zero): nothing to do here any more.
            Err(_) if self.moved(p)? => {
                remove_tree(&table_dir.join(STAGING).join(staging_name(&self.owner)))?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        loglake_core::failpoint::hit("compact:before-swap");
        let next_dir = table_dir.join(generation_dir(&partition, manifest.generation));
        let swap = Swap {
            values: p.values.clone(),
            from: p.generation,
            location: next_dir.display().to_string(),
            gc_after_ms: now_ms()
                + i64::try_from(self.config.grace.as_millis()).unwrap_or(i64::MAX),
        };
        let swapped = self.state.swap_partition(self.table, &swap, || {
            part_files(&table_dir, &current).is_ok_and(|now| now == parts)
                && install(&staging, &next_dir)
        })?;
        // What is left of this process's staging (the folders above a generation it installed,
        // or one it did not): only this process writes there, one partition at a time.
        remove_tree(&table_dir.join(STAGING).join(staging_name(&self.owner)))?;
        loglake_core::failpoint::hit("compact:after-swap");
        Ok(Some(PartitionReport {
            partition,
            generation: manifest.generation,
            files_before: before.0,
            files_after: manifest.files.len(),
            rows: manifest.rows,
            bytes_before: before.1,
            bytes_after: dir_bytes(&next_dir),
            swapped,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }))
    }

    /// Whether the partition's generation in the catalog is no longer `p`'s.
    fn moved(&self, p: &Partition) -> Result<bool> {
        let now = self
            .state
            .partitions(&self.table.database, &self.table.name)?;
        Ok(!now
            .iter()
            .any(|q| q.values == p.values && q.generation == p.generation))
    }

    /// Removes the staging folders of compactors whose process has exited (killed mid-write).
    fn clear_dead_staging(&self) -> Result<()> {
        let dir = self.table_dir().join(STAGING);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // The token with its separators put back: `host_pid_start` → `host:pid:start`.
            let mut parts = name.rsplitn(3, '_');
            let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if crate::pipeline::owner_is_dead(&format!("{host}:{pid}:{start}")) {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Files and Parquet bytes a reader sees in the partition now.
    fn files_before(&self, input: &CompactInput) -> Result<(usize, u64)> {
        let dir = input
            .table_dir
            .join(generation_dir(&input.partition, input.generation));
        let compacted = if input.generation > 0 {
            loglake_transform::compact::CompactionManifest::read(&dir)?
                .files
                .len()
        } else {
            0
        };
        Ok((compacted + input.parts.len(), dir_bytes(&dir)))
    }

    /// Deletes old generation folders whose grace period has passed; returns them.
    pub fn collect_garbage(&self, now_ms: i64) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for location in self.state.gc_due(now_ms)? {
            clear_dir(Path::new(&location))?;
            loglake_core::failpoint::hit("compact:collected");
            self.state.gc_done(&location)?;
            done.push(location);
        }
        Ok(done)
    }
}

/// The current generation of every compacted partition (`dt=…/hr=…` → N ≥ 1): where
/// transforms write the files of those partitions.
pub fn generations(state: &StateDb, table: &CatalogTable) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for p in state.partitions(&table.database, &table.name)? {
        if p.generation > 0 {
            out.insert(partition_path(table, &p)?, p.generation);
        }
    }
    Ok(out)
}

/// The partition's escaped path (`dt=…/hr=…[/k=v]`): its location relative to the table
/// folder, without the generation folder.
fn partition_path(table: &CatalogTable, p: &Partition) -> Result<String> {
    let path = partition_of(&table.location, &p.location).ok_or_else(|| {
        Error::Usage(format!(
            "partition {:?} is at `{}`, outside its table's folder `{}`",
            p.values, p.location, table.location
        ))
    })?;
    PartitionPath::parse(&path).map_err(Error::Usage)?;
    Ok(path)
}

/// Removes a folder and everything in it; a missing one is fine.
fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: dir.display().to_string(),
            source,
        }),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The local catalog's side of publishing into a table that compaction rewrites: current
/// generations (read once, when the object starts) and purges through the [`Compactor`].
#[derive(Debug)]
pub(crate) struct LocalPlacement<'a> {
    compactor: Compactor<'a>,
    generations: BTreeMap<String, u64>,
    answered: loglake_transform::publish::Answered,
}

impl<'a> LocalPlacement<'a> {
    /// The catalog's generations now.
    pub(crate) fn new(compactor: Compactor<'a>) -> Result<Self> {
        let generations = generations(compactor.state, compactor.table)?;
        Ok(Self {
            compactor,
            generations,
            answered: Default::default(),
        })
    }

    /// The generations publishing used, per partition: compared with the catalog's after
    /// registration, to catch a compaction that switched a partition meanwhile.
    pub(crate) fn answered(&self) -> BTreeMap<String, u64> {
        self.answered.all()
    }
}

impl loglake_transform::publish::Placement for LocalPlacement<'_> {
    fn generation(&self, partition: &str) -> loglake_transform::Result<u64> {
        let g = self.generations.get(partition).copied().unwrap_or(0);
        Ok(self.answered.record(partition, g))
    }

    fn purge(&self, partition: &str, source: &str) -> loglake_transform::Result<()> {
        self.compactor
            .purge(partition, source)
            .map(drop)
            .map_err(|e| loglake_transform::Error::Publish {
                location: format!("{}/{partition}", self.compactor.table.location),
                source: Box::new(e),
            })
    }
}
