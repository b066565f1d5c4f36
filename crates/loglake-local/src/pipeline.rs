//! One pass of the local pipeline: list the raw store, claim each object version in the
//! ledger, transform it, publish its files, register its partitions, record the outcome.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loglake_core::CompiledSchema;
use loglake_core::ledger::{ClaimRequest, RunResult, Status};
use loglake_core::lifecycle::{Launch, Launcher, Lifecycle};
use loglake_transform::publish::LocalTarget;
use loglake_transform::{
    LocalOutput, Source, Summary, TransformOptions, for_each_parallel, transform_reader_to,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compact::{CompactConfig, CompactReport, Compactor, LocalPlacement, generations};
use crate::error::{Error, Result};
use crate::state::{Partition, StateDb, now_ms};
use loglake_core::catalog::{CatalogTable, catalog_table};
use loglake_store::{Location, Publisher, RawObject, RawStore};

/// Where a pipeline reads and writes.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The root: `state.db` lives here (and `raw/`, `clean/`, `quarantine/` by default).
    pub root: PathBuf,
    /// Raw objects (default `<root>/raw`).
    pub raw: Option<Location>,
    /// Folder holding `<table>/dt=…` (default `<root>/clean`).
    pub clean: Option<Location>,
    /// Folder holding `<table>/<source_id>.ndjson.gz` (default `<root>/quarantine`).
    pub quarantine: Option<Location>,
    /// Objects transformed at once (default: the number of cores).
    pub jobs: usize,
    /// How long a claim or run may stay silent before another process may take it over
    /// (a claim whose process has exited is taken over at once).
    pub lease: Duration,
    /// Claims per object version before it is left FAILED for the operator.
    pub max_attempts: u32,
    /// Ledger items expire (TTL) after this long.
    pub ttl: Duration,
    /// Catalog database name.
    pub database: String,
    /// Compaction of settled partitions after each pass (`None`: off). Only for a root whose
    /// clean folder is its own (on S3, the Glue job compacts).
    pub compact: Option<CompactConfig>,
}

impl PipelineConfig {
    /// Defaults for a root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            raw: None,
            clean: None,
            quarantine: None,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            lease: Duration::from_secs(15 * 60),
            max_attempts: 3,
            ttl: Duration::from_secs(90 * 24 * 3600),
            database: "loglake".into(),
            compact: Some(CompactConfig::default()),
        }
    }

    /// `<root>/state.db`.
    pub fn state_path(&self) -> PathBuf {
        self.root.join("state.db")
    }

    fn raw_location(&self) -> Location {
        self.raw
            .clone()
            .unwrap_or_else(|| Location::Local(self.root.join("raw")))
    }

    fn clean_location(&self) -> Location {
        self.clean
            .clone()
            .unwrap_or_else(|| Location::Local(self.root.join("clean")))
    }

    fn quarantine_location(&self) -> Location {
        self.quarantine
            .clone()
            .unwrap_or_else(|| Location::Local(self.root.join("quarantine")))
    }
}

/// What happened to one object in a pass: processed, duplicate, superseded, deferred,
/// exhausted or failed (the lifecycle's outcomes a local pass reports).
pub use loglake_core::lifecycle::Outcome;

/// One object's report (one JSON line on stdout), with the transform's summary.
pub type ObjectReport = loglake_core::lifecycle::ObjectReport<Summary>;

/// A pass's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Objects listed.
    pub objects: usize,
    /// Per outcome.
    pub processed: usize,
    /// Skipped as duplicates.
    pub duplicates: usize,
    /// Skipped as superseded / deferred / exhausted.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// Records read by processed objects.
    pub records_in: u64,
    /// Rows written.
    pub records_written: u64,
    /// Records quarantined.
    pub records_quarantined: u64,
    /// Partitions newly registered in the catalog.
    pub partitions_added: usize,
    /// Claims taken back from dead or expired holders before the pass.
    pub reaped: Vec<String>,
    /// Settled partitions compacted after the pass, and old generations deleted.
    pub compaction: Option<CompactReport>,
}

impl RunReport {
    fn add(&mut self, r: &ObjectReport) {
        match r.outcome {
            Outcome::Processed | Outcome::Succeeded | Outcome::Started => self.processed += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Superseded | Outcome::Deferred | Outcome::Exhausted | Outcome::Skipped => {
                self.skipped += 1;
            }
        }
        if let Some(s) = &r.summary {
            self.records_in += s.records_in;
            self.records_written += s.records_written;
            self.records_quarantined += s.records_quarantined;
        }
    }
}

/// Progress of a pass, for a progress bar.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Objects to look at, and the bytes of those not yet done.
    Listed {
        /// Objects.
        objects: usize,
        /// Bytes of objects that will be processed (upper bound).
        bytes: u64,
    },
    /// Bytes read.
    Bytes(u64),
    /// An object finished.
    Done(&'a ObjectReport),
}

enum Output {
    /// clean/ and quarantine/ are the root's folders: the transform writes in place.
    Direct(LocalOutput),
    /// Anywhere else (S3, other folders): staged under `<root>/.staging`, then published.
    Staged(Box<Publisher>),
}

/// The local pipeline over one root.
pub struct Pipeline {
    config: PipelineConfig,
    state: StateDb,
    raw: RawStore,
    output: Output,
    schema: CompiledSchema,
    table: CatalogTable,
    owner: String,
    runtime: tokio::runtime::Runtime,
    runs: AtomicU64,
    partitions_added: AtomicU64,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("root", &self.config.root)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Opens a root: the state database, the stores, and the catalog table (created, or
    /// checked against the schema).
    pub fn open(config: PipelineConfig, schema: CompiledSchema) -> Result<Self> {
        std::fs::create_dir_all(&config.root).map_err(|source| Error::Io {
            path: config.root.display().to_string(),
            source,
        })?;
        let state = StateDb::open(&config.state_path())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        let _guard = runtime.enter();
        let raw = RawStore::open(&config.raw_location())?;
        let clean = config.clean_location();
        let quarantine = config.quarantine_location();
        let default_clean = Location::Local(config.root.join("clean"));
        let default_quarantine = Location::Local(config.root.join("quarantine"));
        let output = if clean == default_clean && quarantine == default_quarantine {
            Output::Direct(LocalOutput::new(&config.root))
        } else {
            Output::Staged(Box::new(Publisher::open(
                &clean,
                &quarantine,
                config.root.join(".staging"),
            )?))
        };
        let location = match &clean {
            Location::Local(dir) => std::path::absolute(dir)
                .unwrap_or_else(|_| dir.clone())
                .join(schema.table())
                .display()
                .to_string(),
            s3 => s3.join(schema.table()).display(),
        };
        let table = catalog_table(&schema, &config.database, &location);
        state.ensure_table(&table)?;
        Ok(Self {
            owner: owner_token(),
            state,
            raw,
            output,
            schema,
            table,
            config,
            runtime,
            runs: AtomicU64::new(0),
            partitions_added: AtomicU64::new(0),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The state database.
    pub fn state(&self) -> &StateDb {
        &self.state
    }

    /// The catalog table this pipeline writes.
    pub fn table(&self) -> &CatalogTable {
        &self.table
    }

    /// This process's claim owner token (`host:pid:start`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Set to stop after the objects in flight (Ctrl-C).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// The runtime used for object-store calls.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Lists the raw store.
    pub fn list(&self) -> Result<Vec<RawObject>> {
        crate::listing::list(&self.raw, &self.state, self.runtime.handle())
    }

    /// Where raw objects are read from.
    pub fn raw_location(&self) -> Location {
        self.raw.location()
    }

    /// Takes back claims whose holder is gone (see [`StateDb::reap`]).
    pub fn reap(&self) -> Result<Vec<String>> {
        self.state.reap(now_ms(), &owner_is_dead)
    }

    /// One pass over every raw object.
    pub fn run_once(&self, progress: &(dyn Fn(Progress<'_>) + Sync)) -> Result<RunReport> {
        let objects = self.list()?;
        self.run_objects(&objects, progress)
    }

    /// One pass over the given objects (in parallel, `jobs` at a time).
    pub fn run_objects(
        &self,
        objects: &[RawObject],
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<RunReport> {
        let mut report = RunReport {
            reaped: self.reap()?,
            objects: objects.len(),
            ..RunReport::default()
        };
        let done: std::collections::HashSet<String> = self
            .state
            .items()?
            .into_iter()
            .filter(|i| i.status == Status::Succeeded)
            .map(|i| i.id)
            .collect();
        let todo_bytes = objects
            .iter()
            .filter(|o| !done.contains(&o.version.id()))
            .map(|o| o.version.size)
            .sum();
        progress(Progress::Listed {
            objects: objects.len(),
            bytes: todo_bytes,
        });
        let reports: Mutex<Vec<(usize, ObjectReport)>> = Mutex::new(Vec::new());
        for_each_parallel(
            objects,
            self.config.jobs,
            &|o: &RawObject| {
                if done.contains(&o.version.id()) {
                    let mut r = ObjectReport::of(&o.version, Outcome::Duplicate);
                    r.status = Some(Status::Succeeded);
                    return r;
                }
                if self.stop.load(Ordering::Relaxed) {
                    return ObjectReport::of(&o.version, Outcome::Deferred);
                }
                self.process(o, &|n| progress(Progress::Bytes(n)))
            },
            &|i, r| {
                progress(Progress::Done(&r));
                reports
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((i, r));
            },
        );
        let mut reports = reports
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reports.sort_by_key(|(i, _)| *i);
        for (_, r) in &reports {
            report.add(r);
        }
        report.partitions_added = self.partitions_added.swap(0, Ordering::Relaxed) as usize;
        if !self.stop.load(Ordering::Relaxed) {
            report.compaction = self.compact_settled()?;
        }
        Ok(report)
    }

    fn claim_request(&self) -> ClaimRequest {
        let now = now_ms();
        ClaimRequest::new(
            &self.owner,
            now,
            now + duration_ms(self.config.lease),
            self.config.max_attempts,
            duration_ms(self.config.ttl),
        )
    }

    /// The lifecycle's ledger steps for this process, now.
    fn lifecycle(&self) -> Lifecycle<'_, StateDb> {
        Lifecycle {
            ledger: &self.state,
            owner: &self.owner,
            lease_until_ms: now_ms() + duration_ms(self.config.lease),
            request: self.claim_request(),
        }
    }

    /// Claims, transforms, publishes and registers one object; never panics on bad data.
    pub fn process(&self, object: &RawObject, bytes: &(dyn Fn(u64) + Sync)) -> ObjectReport {
        use futures::executor::block_on as block;
        let v = &object.version;
        let id = v.id();
        let life = self.lifecycle();
        let claim = match block(life.claim(v)) {
            Ok(c) => c,
            Err(e) => return ObjectReport::failed(v, None, e.to_string()),
        };
        if let Some(refusal) = claim.refusal() {
            return ObjectReport::refused(v, refusal);
        }
        let runs = LocalRuns {
            owner: &self.owner,
            next: &self.runs,
        };
        let job_run_id = match block(life.launch(&runs, std::slice::from_ref(&id))) {
            Launch::Started { run_id, recorded } => {
                match recorded.into_iter().find_map(Result::err) {
                    None => run_id,
                    Some(e) => return ObjectReport::failed(v, None, e.to_string()),
                }
            }
            Launch::NotStarted(never) => match never {},
        };
        let (run_result, summary) = match self.transform_and_republish(object, bytes) {
            Ok(summary) => (RunResult::Succeeded, Some(summary)),
            Err(e) => (RunResult::Failed(e.to_string()), None),
        };
        let status = match block(life.finish(&id, &job_run_id, &run_result)) {
            Ok(Some((status, _))) => status,
            Ok(None) => {
                let why = format!("ledger item `{id}`: run {job_run_id} no longer owns it");
                return ObjectReport::failed(v, Some(job_run_id), why);
            }
            Err(e) => return ObjectReport::failed(v, Some(job_run_id), e.to_string()),
        };
        let mut report = match run_result {
            RunResult::Failed(error) => ObjectReport::failed(v, None, error),
            _ => ObjectReport::of(v, Outcome::Processed),
        };
        report.status = Some(status);
        report.job_run_id = Some(job_run_id);
        report.summary = summary;
        report
    }

    /// The object's work: transform and publish (again, when a partition it wrote to was
    /// compacted meanwhile).
    fn transform_and_republish(
        &self,
        object: &RawObject,
        bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        let mut tries = 0;
        let summary = loop {
            match self.transform_and_publish(object, bytes) {
                Err(Error::CompactedMeanwhile { .. })
                    if tries + 1 < loglake_transform::publish::PUBLISH_ATTEMPTS =>
                {
                    tries += 1;
                }
                other => break other?,
            }
        };
        Ok(summary)
    }

    /// Compacts the settled partitions and deletes old generations past their grace period
    /// (`None` when compaction is off, or the clean folder is not the root's own).
    pub fn compact_settled(&self) -> Result<Option<CompactReport>> {
        match (&self.config.compact, &self.output) {
            (Some(config), Output::Direct(_)) => {
                Compactor::new(&self.state, &self.table, &self.schema, *config)?
                    .run(now_ms())
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    fn transform_and_publish(
        &self,
        object: &RawObject,
        bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        let v = &object.version;
        let source = Source {
            name: v.source_name(),
            display: object.display.clone(),
            written_us: object.written_us(),
            size: Some(object.version.size),
        };
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let reader = self.raw.reader(object, self.runtime.handle())?;
        let reader = Hashing {
            inner: reader,
            hasher: object.path.is_some().then(|| hasher.clone()),
        };
        // The schema's record_path is applied by transform_reader itself.
        let opts = TransformOptions::default();
        let mut used = None;
        let mut summary = match &self.output {
            Output::Direct(out) => {
                // Files of a compacted partition go to its current generation's folder, and
                // a new version of a compacted source purges its old rows (Placement). Not
                // optional: with compaction turned off now, earlier compactions still hold rows.
                let config = self.config.compact.unwrap_or_default();
                let compactor = Compactor::new(&self.state, &self.table, &self.schema, config)?;
                let placement = LocalPlacement::new(compactor)?;
                let sid = loglake_core::source_id(&source.name);
                let target =
                    LocalTarget::new(out, self.schema.table(), &sid).with_placement(&placement);
                let s =
                    transform_reader_to(reader, &source, &self.schema, out, &target, &opts, bytes)?;
                used = Some(placement.answered());
                s
            }
            Output::Staged(publisher) => publisher.publish(
                self.runtime.handle(),
                reader,
                &source,
                &self.schema,
                &opts,
                None,
                bytes,
            )?,
        };
        // A local file rewritten while we read it: the output is of a version we did not claim.
        if let Some(path) = &object.path {
            let got = format!(
                "{:x}",
                hasher
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .finalize()
            );
            let claimed = v.version.rsplit('-').next().unwrap_or_default();
            if !got.starts_with(claimed) {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::other(
                        "the file changed while it was read; its new version is processed on \
                         the next pass",
                    ),
                });
            }
        }
        let partitions: Vec<Partition> = summary
            .partitions
            .iter()
            .map(|p| {
                // The catalog holds raw values; the location keeps the escaped path.
                let path =
                    loglake_core::partition::PartitionPath::parse(p).map_err(Error::Usage)?;
                Ok(Partition {
                    values: path.values(),
                    location: format!("{}/{p}", self.table.location),
                    generation: 0,
                })
            })
            .collect::<Result<_>>()?;
        let added = self.state.add_partitions(&self.table, &partitions)?;
        self.partitions_added
            .fetch_add(added as u64, Ordering::Relaxed);
        if let Some(used) = used {
            let now = generations(&self.state, &self.table)?;
            if let Some(p) = summary
                .partitions
                .iter()
                .find(|p| now.get(*p).unwrap_or(&0) != used.get(*p).unwrap_or(&0))
            {
                return Err(Error::CompactedMeanwhile {
                    partition: p.clone(),
                });
            }
        }
        summary.source = object.display.clone();
        Ok(summary)
    }

    /// Releases this process's live claims (clean shutdown). Returns how many.
    pub fn release_claims(&self) -> Result<usize> {
        self.state
            .release_owner(&self.owner, "stopped before finishing (shutdown)")
    }
}

/// Local runs: a run id per object, `local:<owner>:<n>`; the work starts only after STARTED is
/// recorded, so a claim whose STARTED failed is given back.
struct LocalRuns<'a> {
    owner: &'a str,
    next: &'a AtomicU64,
}

impl Launcher for LocalRuns<'_> {
    type Error = std::convert::Infallible;

    async fn launch(&self, _ids: &[String]) -> std::result::Result<String, Self::Error> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(format!("local:{}:{n}", self.owner))
    }

    fn runs_before_start(&self) -> bool {
        false
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Feeds what is read into a SHA-256 (local files: to detect a rewrite during the read).
struct Hashing<R> {
    inner: R,
    hasher: Option<Arc<Mutex<Sha256>>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &self.hasher {
            h.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .update(&buf[..n]);
        }
        Ok(n)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time (clock ticks since boot, Linux), which tells a live process from a
/// later one that reused its pid.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; fields after the parenthesised command name, which may contain spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19).map(str::to_owned)
}

/// `host:pid:start` of this process.
pub fn owner_token() -> String {
    let pid = std::process::id();
    format!(
        "{}:{pid}:{}",
        hostname(),
        process_start(pid).unwrap_or_else(|| "0".into())
    )
}

/// Whether a claim's owner process is known to be gone: same host, and its pid is not running
/// (or now belongs to a process started at another time). Owners on other hosts, or on
/// systems without `/proc`, are never presumed dead; their lease decides.
pub fn owner_is_dead(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() || !Path::new("/proc/self/stat").exists() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    process_start(pid).is_none_or(|s| s != start)
}
