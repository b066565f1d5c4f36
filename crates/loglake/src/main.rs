//! `loglake`: the command-line interface (DESIGN.md §5). Thin glue over the library crates:
//! argument parsing, progress on stderr, data on stdout, exit codes.
//!
//! Exit codes: 0 ok; 1 data problems reported (quarantined records, failed objects);
//! 2 usage or configuration error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod glue_compact;
mod glue_task;
#[cfg(feature = "local")]
mod local;
mod schema_cmd;
mod transform;
mod trigger;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loglake_core::{CompiledSchema, Schema};

#[derive(Parser)]
#[command(
    name = "loglake",
    version,
    about = "Raw JSON logs to partitioned, queryable Parquet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[cfg(feature = "local")]
    /// Generate deterministic sample JSON logs (about 1% bad lines).
    Gen(GenArgs),
    /// Transform raw JSON logs into partitioned Parquet, quarantining bad records.
    ///
    /// Prints one JSON summary per input on stdout:
    /// {"source","records_in","records_written","records_quarantined","bytes_in","partitions",
    /// "files","null_coercions",...}. Output layout:
    /// <OUTPUT>/clean/<table>/dt=YYYY-MM-DD/hr=HH/part-<source_id>-<n>.parquet and
    /// <OUTPUT>/quarantine/<table>/<source_id>.ndjson.gz.
    Transform(transform::TransformArgs),
    /// Infer a schema file from sample logs, or check one for drift (`schema infer|check`).
    Schema(schema_cmd::SchemaArgs),
    #[cfg(feature = "local")]
    /// Run the local pipeline once over a root (ledger, transform, catalog).
    ///
    /// Claims each new raw object version in the ledger, transforms it and registers its
    /// partitions in the catalog. Prints one JSON line per object: {"id","key","version",
    /// "version_id","outcome","status","job_run_id","summary"|"reason"|"error"}; outcome is
    /// processed, duplicate, superseded, deferred, exhausted or failed.
    ///
    /// A second run over unchanged objects processes nothing.
    Run(local::RootArgs),
    #[cfg(feature = "local")]
    /// Run the local pipeline continuously as files arrive.
    ///
    /// New files are processed as soon as their writer closes them (file watcher), with a
    /// periodic rescan as a safety net. Ctrl-C stops after the objects in flight and releases
    /// this process's claims.
    Watch(local::WatchArgs),
    #[cfg(feature = "local")]
    /// Query the catalog's tables with SQL (DataFusion).
    Query(local::QueryArgs),
    #[cfg(feature = "local")]
    /// Rewrite a root's settled partitions into few large files, swapped in atomically.
    Compact(local::CompactArgs),
    #[cfg(feature = "local")]
    /// Generate, process and query sample logs: the whole product, offline.
    ///
    /// Generates sample logs, runs the local pipeline on them and queries the result.
    Demo(local::DemoArgs),
    /// Decode an S3/EventBridge/SQS/SNS event into the objects it created.
    ///
    /// Prints one JSON line per created object:
    /// {"bucket","key","version_id","size","etag","sequencer"} (key decoded). Test events and
    /// non-create events print nothing; a document that is not an event exits with code 2.
    Event(EventArgs),
    /// Run the trigger Lambda's handler once, here, on an event.
    ///
    /// Decodes the event, claims each new object version in the DynamoDB ledger, starts the
    /// Glue job, and prints one JSON line per object:
    /// {"id","bucket","key","version","version_id","outcome": "started"|"duplicate"|"skipped",
    /// "job_run_id"} ("reason" for skips, "error" for failures).
    /// Glue Job State Change events print "succeeded"/"failed" lines. Configured like the
    /// Lambda: LOGLAKE_LEDGER_TABLE, LOGLAKE_GLUE_JOB (required), LOGLAKE_MODE (per-object|batch),
    /// LOGLAKE_MANIFEST_BUCKET, LOGLAKE_MANIFEST_PREFIX, LOGLAKE_RAW_BUCKET, LOGLAKE_RAW_PREFIX,
    /// LOGLAKE_MAX_ATTEMPTS, LOGLAKE_LEDGER_TTL_DAYS, LOGLAKE_METRICS_NAMESPACE; AWS_ENDPOINT_URL
    /// for an emulator. Exit 1 when an object was not processed (retry the event), 2 for an
    /// unreadable event or configuration.
    Trigger(trigger::TriggerArgs),
    /// Send existing raw objects through the trigger's path (Glue runs).
    ///
    /// Lists `--raw s3://bucket/prefix` (optionally `--since DATE`), claims each object in the
    /// ledger and starts one Glue run per `--batch-size` objects over a manifest. Objects already
    /// processed are duplicates. Configured by the trigger's LOGLAKE_* variables
    /// (LOGLAKE_MANIFEST_BUCKET required). Prints one JSON line per object, like
    /// `loglake trigger`.
    Backfill(trigger::BackfillArgs),
    /// The Glue job's work on its executors (run by glue/loglake_glue_job.py).
    ///
    /// `plan` prints the run's objects (a manifest's lines, or one object); `object` processes
    /// one of them: skips a version that is no longer the key's current one, transforms and
    /// publishes, publishes a newer version again if one arrived meanwhile, records the result
    /// in the DynamoDB ledger, and prints one JSON result line.
    GlueTask(glue_task::GlueTaskArgs),
}

#[derive(clap::Args)]
struct EventArgs {
    /// The event document, or `-` for standard input.
    file: PathBuf,
    /// Also say on stderr why events were ignored.
    #[arg(long, short)]
    verbose: bool,
}

#[cfg(feature = "local")]
#[derive(clap::Args)]
struct GenArgs {
    /// Folder to write the files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of files.
    #[arg(long, default_value_t = 4)]
    files: usize,
    /// Lines per file.
    #[arg(long, default_value_t = 1000)]
    lines: usize,
    /// Seed; the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of bad lines (0.0 to 1.0).
    #[arg(long, default_value_t = 0.01)]
    bad_ratio: f64,
    /// Write gzip files (`.ndjson.gz`).
    #[arg(long, conflicts_with = "zstd")]
    gzip: bool,
    /// Write zstd files (`.ndjson.zst`).
    #[arg(long)]
    zstd: bool,
    /// First event time (RFC 3339).
    #[arg(long, default_value = "2024-05-01T00:00:00Z")]
    start: String,
    /// Hours covered by all files together.
    #[arg(long, default_value_t = 72)]
    hours: u32,
}

/// A usage or configuration error: exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs (the trigger's, the AWS SDK's) go to stderr; RUST_LOG selects them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        #[cfg(feature = "local")]
        Command::Gen(args) => generate(&args),
        Command::Transform(args) => transform::transform(&args),
        Command::Schema(args) => schema_cmd::schema(&args),
        #[cfg(feature = "local")]
        Command::Run(args) => local::run(&args),
        #[cfg(feature = "local")]
        Command::Watch(args) => local::watch(&args),
        #[cfg(feature = "local")]
        Command::Query(args) => local::query(&args),
        #[cfg(feature = "local")]
        Command::Compact(args) => local::compact(&args),
        #[cfg(feature = "local")]
        Command::Demo(args) => local::demo(&args),
        Command::Event(args) => event(&args),
        Command::Trigger(args) => trigger::trigger(&args),
        Command::Backfill(args) => trigger::backfill(&args),
        Command::GlueTask(args) => glue_task::glue_task(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let mut shown = err.to_string();
            let _ = writeln!(stderr, "error: {shown}");
            for cause in err.chain().skip(1) {
                // AWS errors carry the SDK's whole context in their message already.
                let text = cause.to_string();
                if !shown.contains(&text) {
                    let _ = writeln!(stderr, "  caused by: {text}");
                    shown.push_str(&text);
                }
            }
            if err.downcast_ref::<UsageError>().is_some()
                || err.downcast_ref::<loglake_core::Error>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Writes one line of data to stdout and flushes it, so consumers see each line as it comes.
fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

#[cfg(feature = "local")]
fn generate(args: &GenArgs) -> anyhow::Result<ExitCode> {
    let start = loglake_core::time::parse_rfc3339(&args.start).ok_or_else(|| {
        usage(format!(
            "`--start {}` is not an RFC 3339 time\nhint: use e.g. `--start 2024-05-01T00:00:00Z`",
            args.start
        ))
    })?;
    let opts = loglake_gen::GenOptions {
        files: args.files,
        lines: args.lines,
        seed: args.seed,
        bad_ratio: args.bad_ratio,
        compression: match (args.gzip, args.zstd) {
            (true, _) => loglake_gen::Compression::Gzip,
            (_, true) => loglake_gen::Compression::Zstd,
            _ => loglake_gen::Compression::None,
        },
        start: start.div_euclid(1_000_000),
        hours: args.hours,
    };
    let report = loglake_gen::generate(&args.out, &opts).map_err(|e| match e {
        loglake_gen::Error::Invalid(m) => usage(m),
        other => anyhow::Error::new(other),
    })?;
    print_line(
        &serde_json::json!({
            "files": report.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "lines": report.lines,
            "bad_lines": report.bad_lines,
            "bytes": report.bytes,
        })
        .to_string(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a document named on the command line (`-` is standard input): its display name and
/// bytes.
fn read_document(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("cannot read standard input")?;
        return Ok(("<stdin>".to_owned(), buf));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| usage(format!("cannot read event file `{}`: {e}", path.display())))?;
    Ok((path.display().to_string(), bytes))
}

fn event(args: &EventArgs) -> anyhow::Result<ExitCode> {
    let (name, bytes) = read_document(&args.file)?;
    let decoded = loglake_trigger::event::decode(&bytes).map_err(|e| {
        usage(format!(
            "`{name}` is not a readable event document: {e}\nhint: pass an S3 notification, an \
             EventBridge Object Created event, or an SQS/SNS event carrying one"
        ))
    })?;
    for o in decoded.objects() {
        print_line(&serde_json::to_string(o)?)?;
    }
    if args.verbose {
        for reason in decoded.ignored() {
            eprintln!("ignored: {reason}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_schema(path: Option<&Path>) -> anyhow::Result<CompiledSchema> {
    Ok(match path {
        Some(p) => Schema::from_path(p)?.compile(&p.display().to_string())?,
        None => Schema::default_app_logs().compile("built-in app_logs")?,
    })
}

/// The async runtime for AWS and object-store calls (two workers: the work is I/O).
/// A runtime only when something remote needs one (local work starts no threads).
pub(crate) fn runtime_if(needed: bool) -> anyhow::Result<Option<tokio::runtime::Runtime>> {
    needed.then(runtime).transpose()
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
