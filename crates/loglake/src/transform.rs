//! `loglake transform`: raw objects (files, folders, `s3://` objects and prefixes) through the
//! transform to a local folder or an S3 output root, one summary line per input, in order.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loglake_core::CompiledSchema;
use loglake_transform::{
    LocalOutput, Source, Summary, TransformOptions, for_each_parallel, transform_file,
    transform_reader,
};

use crate::{load_schema, print_line, runtime_if, usage};

#[derive(clap::Args)]
pub(crate) struct TransformArgs {
    /// Input files or folders (folders are read recursively; hidden files are skipped), or
    /// S3 objects `s3://bucket/key` and prefixes `s3://bucket/prefix/` (trailing `/`), read with
    /// the standard AWS environment (`AWS_ENDPOINT_URL` for other S3 servers).
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) input: Vec<String>,
    /// Output root: a folder or `s3://bucket/prefix` (files go to `<root>/clean/<table>/…` and
    /// `<root>/quarantine/<table>/…`).
    #[arg(long)]
    pub(crate) output: String,
    /// The S3 version to read (one `s3://bucket/key` input only).
    #[arg(long)]
    pub(crate) version_id: Option<String>,
    /// Register the written partitions in this Glue Data Catalog table (`database.table`),
    /// after checking, before any data is written, that its columns agree with the schema.
    #[arg(long, value_name = "DATABASE.TABLE")]
    pub(crate) catalog: Option<String>,
    /// Schema file (JSON). Default: the built-in `schemas/app_logs.json`.
    #[arg(long)]
    pub(crate) schema: Option<PathBuf>,
    /// Name that identifies the source (as `bucket/key`), deciding `source_id` and so the
    /// output file names. Only with a single input file. Default: the file's absolute path.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Objects transformed at once. Default: the number of cores.
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// The DynamoDB ledger table and the run that claim a compacted partition's purge (the
    /// Glue task's); not an option of `loglake transform`.
    #[arg(skip)]
    pub(crate) ledger: Option<(String, String)>,
}

/// Expands folders into their files: the store's listing rule ([`loglake_store::local_files`]:
/// sorted; hidden, `_`-prefixed, temporary and partial files skipped), as the pipeline lists.
pub(crate) fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(loglake_store::local_files(input)?);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            return Err(usage(format!(
                "input `{}` does not exist\nhint: pass files or folders of raw JSON logs, e.g. the output of `loglake gen`",
                input.display()
            )));
        }
    }
    if files.is_empty() {
        return Err(usage(
            "no input files found in the given folders".to_owned(),
        ));
    }
    Ok(files)
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} read ({bytes_per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// One input of `loglake transform`.
pub(crate) enum Work {
    File(PathBuf),
    Object(loglake_store::RawObject, Arc<loglake_store::RawStore>),
}

impl Work {
    /// The input as the inference and drift readers take it: a name, when it was written,
    /// and a way to open it (again: they read twice).
    pub(crate) fn input<'w>(
        &'w self,
        rt: Option<&'w tokio::runtime::Runtime>,
    ) -> loglake_transform::infer::Input<'w> {
        match self {
            Work::File(p) => loglake_transform::infer::Input::file(p),
            Work::Object(o, store) => loglake_transform::infer::Input {
                display: o.display.clone(),
                written_us: o.written_us(),
                size: Some(o.version.size),
                open: Box::new(move || {
                    let rt = rt.ok_or_else(|| std::io::Error::other("no runtime"))?;
                    store.reader(o, rt.handle()).map_err(std::io::Error::other)
                }),
            },
        }
    }

    fn display(&self) -> String {
        match self {
            Work::File(p) => p.display().to_string(),
            Work::Object(o, _) => o.display.clone(),
        }
    }
}

/// Where `loglake transform` writes.
enum Sink {
    /// A local folder: written in place.
    Local(LocalOutput),
    /// S3: staged locally, then uploaded; the staging folder is removed on drop.
    Remote(
        loglake_store::Publisher,
        #[allow(dead_code)] tempfile::TempDir,
    ),
}

/// Resolves the inputs: local files (folders expanded) and S3 objects (prefixes listed).
pub(crate) fn resolve_inputs(
    inputs: &[String],
    version_id: Option<&str>,
    rt: Option<&tokio::runtime::Runtime>,
) -> anyhow::Result<Vec<Work>> {
    let mut work = Vec::new();
    let remote: Vec<&String> = inputs.iter().filter(|i| i.starts_with("s3://")).collect();
    if version_id.is_some() && (remote.len() != 1 || inputs.len() != 1) {
        bail!(usage(
            "`--version-id` needs exactly one `s3://bucket/key` input"
        ));
    }
    for input in inputs {
        if !input.starts_with("s3://") {
            work.extend(
                expand_inputs(&[PathBuf::from(input)])?
                    .into_iter()
                    .map(Work::File),
            );
            continue;
        }
        let (Some(rt), loglake_store::Location::S3 { bucket, prefix }) = (
            rt,
            loglake_store::Location::parse(input).map_err(|e| usage(e.to_string()))?,
        ) else {
            continue;
        };
        let listing = input.ends_with('/') || prefix.is_empty();
        let location = loglake_store::Location::S3 {
            bucket: bucket.clone(),
            prefix: if listing {
                prefix.clone()
            } else {
                String::new()
            },
        };
        let store = Arc::new(loglake_store::RawStore::open(&location)?);
        if listing {
            let found = store.list_remote(rt.handle())?;
            if found.is_empty() {
                bail!(usage(format!("`{input}`: no objects under this prefix")));
            }
            work.extend(found.into_iter().map(|o| Work::Object(o, store.clone())));
        } else {
            let object = store.object(&prefix, version_id, rt.handle())?;
            work.push(Work::Object(object, store));
        }
    }
    Ok(work)
}

/// Checks `database.table` in the Glue Data Catalog against the schema (exit 2 when they
/// disagree, before any data is written).
/// The `--catalog` table, checked against the schema, with the clients that reach it (built
/// once for the plan: registration, placement and purges use them).
pub(crate) struct Catalog {
    sdk: aws_config::SdkConfig,
    glue: loglake_aws::GlueCatalog,
    table: loglake_aws::RegisteredTable,
}

fn check_catalog(
    name: &str,
    schema: &CompiledSchema,
    rt: Option<&tokio::runtime::Runtime>,
) -> anyhow::Result<Catalog> {
    let (database, table) = crate::glue_compact::split_catalog(name)?;
    let (database, table) = (database.as_str(), table.as_str());
    let rt = rt.context("no runtime")?;
    let t = loglake_core::catalog::catalog_table(schema, database, "");
    if t.name != table {
        bail!(usage(format!(
            "`--catalog {name}`: the schema's table is `{}`\nhint: pass --catalog {database}.{}",
            t.name, t.name
        )));
    }
    let expected = loglake_aws::ExpectedTable {
        database: database.to_owned(),
        name: table.to_owned(),
        columns: t.column_types(),
        partition_keys: t.key_names(),
    };
    rt.block_on(async {
        let sdk = loglake_aws::sdk_config().await;
        let glue = loglake_aws::GlueCatalog::new(aws_sdk_glue::Client::new(&sdk));
        match glue.check(&expected).await {
            Ok(table) => Ok(Catalog { sdk, glue, table }),
            Err(
                e @ (loglake_aws::CatalogError::Missing { .. }
                | loglake_aws::CatalogError::Mismatch { .. }),
            ) => Err(usage(e.to_string())),
            Err(e) => Err(e.into()),
        }
    })
}

/// `loglake transform`, resolved once: inputs, output, catalog, runtime (ripgrep's HiArgs).
pub(crate) struct TransformPlan<'a> {
    args: &'a TransformArgs,
    schema: CompiledSchema,
    rt: Option<tokio::runtime::Runtime>,
    pub(crate) files: Vec<Work>,
    sink: Sink,
    catalog: Option<Catalog>,
    opts: TransformOptions,
}

impl<'a> TransformPlan<'a> {
    fn new(args: &'a TransformArgs) -> anyhow::Result<Self> {
        Self::with_schema(args, load_schema(args.schema.as_deref())?)
    }

    /// The plan for `args`, with the schema already loaded (the Glue task reads it from S3).
    pub(crate) fn with_schema(
        args: &'a TransformArgs,
        schema: CompiledSchema,
    ) -> anyhow::Result<Self> {
        let remote = args.output.starts_with("s3://")
            || args.catalog.is_some()
            || args.input.iter().any(|i| i.starts_with("s3://"));
        let rt = runtime_if(remote)?;
        let files = resolve_inputs(&args.input, args.version_id.as_deref(), rt.as_ref())?;
        if args.source.is_some() && files.len() != 1 {
            bail!(usage(format!(
                "`--source` names one object, but {} input files were given",
                files.len()
            )));
        }
        let sink = open_sink(&args.output)?;
        let catalog = match &args.catalog {
            None => None,
            Some(name) => Some(check_catalog(name, &schema, rt.as_ref())?),
        };
        Ok(Self {
            args,
            schema,
            rt,
            files,
            sink,
            catalog,
            opts: TransformOptions::default(),
        })
    }

    fn handle(&self) -> anyhow::Result<tokio::runtime::Handle> {
        self.rt
            .as_ref()
            .map(|r| r.handle().clone())
            .context("no runtime")
    }

    /// Transforms and publishes one input, then registers its partitions; published again when
    /// compaction switched one of its partitions while it published (its files went to the old
    /// generation's folder).
    pub(crate) fn run(&self, w: &Work, progress: &(dyn Fn(u64) + Sync)) -> anyhow::Result<Summary> {
        for _ in 0..loglake_transform::publish::PUBLISH_ATTEMPTS {
            let placement = self.placement();
            let summary = self.run_once(w, placement.as_ref(), progress)?;
            let moved = match &placement {
                Some(p) => p.moved()?,
                None => Vec::new(),
            };
            if moved.is_empty() {
                return Ok(summary);
            }
        }
        bail!(
            "{}: its partitions were compacted while it was published, {} times; it is retried",
            w.display(),
            loglake_transform::publish::PUBLISH_ATTEMPTS
        )
    }

    /// Publishing into a catalog table on S3 goes through the Glue catalog's placement
    /// (compacted partitions' current folders, purges of replaced sources).
    fn placement(&self) -> Option<crate::glue_compact::GluePlacement<'_>> {
        match (&self.catalog, &self.rt, &self.sink) {
            (Some(c), Some(rt), Sink::Remote(..)) => Some(crate::glue_compact::GluePlacement::new(
                (&c.sdk, &c.glue, &c.table),
                &self.schema,
                self.args.ledger.clone(),
                rt,
            )),
            _ => None,
        }
    }

    fn run_once(
        &self,
        w: &Work,
        placement: Option<&crate::glue_compact::GluePlacement<'_>>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> anyhow::Result<Summary> {
        let placement = placement.map(|p| p as &dyn loglake_transform::publish::Placement);
        let (schema, opts) = (&self.schema, &self.opts);
        let source_name = self.args.source.as_deref();
        let summary = match (w, &self.sink) {
            (Work::File(path), Sink::Local(out)) => {
                transform_file(path, source_name, schema, out, opts, progress)?
            }
            (Work::File(path), Sink::Remote(publisher, _)) => {
                let (file, source) = Source::open_file(path, source_name)?;
                publisher.publish(
                    &self.handle()?,
                    file,
                    &source,
                    schema,
                    opts,
                    placement,
                    progress,
                )?
            }
            (Work::Object(object, store), sink) => {
                let rt = self.handle()?;
                let reader = store.reader(object, &rt)?;
                let source = Source {
                    name: source_name.map_or_else(|| object.version.source_name(), str::to_owned),
                    display: object.display.clone(),
                    written_us: object.written_us(),
                    size: Some(object.version.size),
                };
                match sink {
                    Sink::Local(out) => {
                        transform_reader(reader, &source, schema, out, opts, progress)?
                    }
                    Sink::Remote(publisher, _) => publisher
                        .publish(&rt, reader, &source, schema, opts, placement, progress)?,
                }
            }
        };
        if let (Some(c), Some(rt)) = (&self.catalog, &self.rt) {
            rt.block_on(c.glue.add_partitions(&c.table, &summary.partitions))
                .with_context(|| format!("registering the partitions of {}", w.display()))?;
        }
        Ok(summary)
    }
}

/// The output: a local folder written in place, or S3 through a local staging folder.
fn open_sink(output: &str) -> anyhow::Result<Sink> {
    if !output.starts_with("s3://") {
        return Ok(Sink::Local(LocalOutput::new(output)));
    }
    let root = loglake_store::Location::parse(output).map_err(|e| usage(e.to_string()))?;
    let staging = tempfile::Builder::new()
        .prefix("loglake-staging-")
        .tempdir()
        .context("cannot create a staging folder (set TMPDIR)")?;
    let publisher = loglake_store::Publisher::for_root(&root, staging.path().to_owned())?;
    Ok(Sink::Remote(publisher, staging))
}

/// Summary lines printed in input order, each as soon as every earlier input is done.
#[derive(Default)]
struct InOrder {
    next: usize,
    pending: std::collections::BTreeMap<usize, String>,
    /// Some input failed or quarantined records (exit 1).
    problems: bool,
}

impl InOrder {
    /// Records input `i`'s line; returns the lines now printable, in order.
    fn push(&mut self, i: usize, line: String, problem: bool) -> Vec<String> {
        self.problems |= problem;
        self.pending.insert(i, line);
        let mut ready = Vec::new();
        while let Some(line) = self.pending.remove(&self.next) {
            ready.push(line);
            self.next += 1;
        }
        ready
    }
}

pub(crate) fn transform(args: &TransformArgs) -> anyhow::Result<ExitCode> {
    let plan = TransformPlan::new(args)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let total: u64 = plan
        .files
        .iter()
        .map(|w| match w {
            Work::File(f) => std::fs::metadata(f).map_or(0, |m| m.len()),
            Work::Object(o, _) => o.version.size,
        })
        .sum();
    let bar = progress_bar(total, args.quiet);
    let progress = |n: u64| bar.inc(n);
    let state = Mutex::new(InOrder::default());
    let work = |w: &Work| plan.run(w, &progress);
    let done = |i: usize, result: anyhow::Result<Summary>| {
        let (line, problem) = match result {
            Ok(summary) => (
                serde_json::to_string(&summary).unwrap_or_default(),
                summary.records_quarantined > 0,
            ),
            Err(err) => {
                bar.suspend(|| eprintln!("error: {err}"));
                let line = serde_json::json!({
                    "source": plan.files[i].display(),
                    "error": err.to_string(),
                });
                (line.to_string(), true)
            }
        };
        let Ok(mut st) = state.lock() else { return };
        for line in st.push(i, line, problem) {
            if let Err(e) = bar.suspend(|| print_line(&line)) {
                eprintln!("error: cannot write to stdout: {e}");
            }
        }
    };
    for_each_parallel(&plan.files, jobs, &work, &done);
    bar.finish_and_clear();
    let problems = state.lock().map(|s| s.problems).unwrap_or(true);
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn summaries_come_out_in_input_order_as_soon_as_possible() {
        let mut o = InOrder::default();
        assert!(o.push(1, "b".into(), false).is_empty(), "waits for input 0");
        assert_eq!(o.push(0, "a".into(), false), ["a", "b"]);
        assert_eq!(o.push(2, "c".into(), true), ["c"]);
        assert!(o.problems);
    }
}
