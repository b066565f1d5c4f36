//! `loglake schema infer`: a schema file from a folder of unfamiliar logs. The rules live in
//! [`loglake_core::infer`], the reading in [`loglake_transform::infer`]; this prints the schema
//! on stdout and the evidence on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use loglake_core::infer::Inference;
use loglake_transform::check::{Thresholds, check_files};
use loglake_transform::infer::{InferOptions, InferRead, Input, infer_inputs};

use crate::transform::resolve_inputs;

use crate::{print_line, usage};

#[derive(clap::Args)]
pub(crate) struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(clap::Subcommand)]
enum SchemaCommand {
    /// Infer a schema file from sample logs: the schema on stdout, the evidence on stderr.
    ///
    /// Reads every input (plain, gzip or zstd; NDJSON, arrays, or the envelopes `Records`,
    /// `logEvents` and OTLP `resourceLogs`), samples up to --sample records spread evenly over
    /// all of it, and chooses the timestamp field, the level field, the columns and their types.
    /// `loglake transform --schema` accepts the output as it is.
    Infer(InferArgs),
    /// Measure a schema's drift against logs, writing nothing; exit 1 when a threshold is crossed.
    ///
    /// Reads the inputs as `transform` would and prints one JSON report on stdout: records,
    /// rows it would write, quarantined records by reason (timestamps outside the window
    /// included), values not coercible per column, and fields landing in `attributes` with the
    /// rows holding them (candidates to promote). Thresholds are rates (0 to 1); each crossed one
    /// is listed in `crossed` and on stderr. For a producer's CI.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The schema file to check.
    #[arg(long)]
    schema: PathBuf,
    /// Input files or folders (read recursively; hidden files skipped), or S3 objects
    /// `s3://bucket/key` and prefixes `s3://bucket/prefix/` (standard AWS environment).
    #[arg(required = true)]
    input: Vec<String>,
    /// Largest share of records quarantined, all reasons together.
    #[arg(long, default_value_t = 0.01)]
    max_quarantine: f64,
    /// Largest share of a column's rows whose value cannot be coerced to its type.
    #[arg(long, default_value_t = 0.01)]
    max_coercion: f64,
    /// Largest share of rows holding one field that no column maps (it lands in `attributes`).
    #[arg(long, default_value_t = 0.5)]
    max_unmapped: f64,
}

#[derive(clap::Args)]
struct InferArgs {
    /// Input files or folders (read recursively; hidden files skipped), or S3 objects
    /// `s3://bucket/key` and prefixes `s3://bucket/prefix/` (standard AWS environment).
    #[arg(required = true)]
    input: Vec<String>,
    /// Records to sample, spread evenly over the whole input.
    #[arg(long, default_value_t = 100_000)]
    sample: u64,
    /// Table name in the schema file.
    #[arg(long, default_value = "app_logs")]
    table: String,
    /// The timestamp field, instead of the one inference would choose.
    #[arg(long, value_name = "FIELD")]
    timestamp: Option<String>,
}

pub(crate) fn schema(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        SchemaCommand::Infer(a) => infer(a),
        SchemaCommand::Check(a) => check(a),
    }
}

fn infer(args: &InferArgs) -> anyhow::Result<ExitCode> {
    if args.sample == 0 {
        return Err(usage("--sample must be at least 1"));
    }
    let rt = crate::runtime_if(args.input.iter().any(|i| i.starts_with("s3://")))?;
    let work = resolve_inputs(&args.input, None, rt.as_ref())?;
    let files: Vec<Input<'_>> = work.iter().map(|w| w.input(rt.as_ref())).collect();
    let opts = InferOptions {
        sample: args.sample,
        table: args.table.clone(),
        timestamp: args.timestamp.clone(),
    };
    let (inference, read) = infer_inputs(&files, &opts)?;
    eprint!("{}", report(&inference, &read));
    print_line(&serde_json::to_string_pretty(&inference.schema)?)?;
    Ok(ExitCode::SUCCESS)
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    for (name, v) in [
        ("--max-quarantine", args.max_quarantine),
        ("--max-coercion", args.max_coercion),
        ("--max-unmapped", args.max_unmapped),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(usage(format!(
                "{name} is a share of records, 0 to 1 (got {v})"
            )));
        }
    }
    let schema = crate::load_schema(Some(&args.schema))?;
    let rt = crate::runtime_if(args.input.iter().any(|i| i.starts_with("s3://")))?;
    let work = resolve_inputs(&args.input, None, rt.as_ref())?;
    let files: Vec<Input<'_>> = work.iter().map(|w| w.input(rt.as_ref())).collect();
    let limits = Thresholds {
        quarantine: args.max_quarantine,
        coercion: args.max_coercion,
        unmapped: args.max_unmapped,
    };
    let drift = check_files(&files, &schema, limits)?;
    for c in &drift.crossed {
        eprintln!("threshold crossed: {c}");
    }
    print_line(&serde_json::to_string(&drift)?)?;
    Ok(if drift.crossed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report(inf: &Inference, read: &InferRead) -> String {
    let record_path = &inf.schema.input.record_path;
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "read {} file(s), {} bytes decompressed, {} records; sampled {} (every {}), of which {} not JSON objects and {} cut or malformed",
        read.files,
        read.bytes,
        read.records,
        inf.records + inf.not_objects + read.defects,
        ordinal(read.stride),
        inf.not_objects,
        read.defects
    );
    if inf.untracked > 0 {
        let _ = writeln!(
            out,
            "fields: more than {} distinct field paths; {} values of later ones not analysed (they stay in attributes)",
            loglake_core::infer::MAX_FIELDS,
            inf.untracked
        );
    }
    let _ = writeln!(
        out,
        "envelope: {}",
        if record_path.is_empty() {
            "none (one record per line, or a top-level array)".to_owned()
        } else {
            format!("input.record_path = {record_path:?}")
        }
    );
    let sources = &inf.timestamp_fields;
    let ranges = sources.iter().filter_map(|f| inf.fields.get(f)?.time_range);
    let range =
        ranges
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
            .map_or(String::new(), |(a, b)| {
                format!(
                    ", {} .. {}",
                    loglake_core::time::format_rfc3339_micros(a),
                    loglake_core::time::format_rfc3339_micros(b)
                )
            });
    let _ = writeln!(
        out,
        "timestamp: `{}` (formats {:?}{range})",
        sources.join("`, else `"),
        inf.schema.timestamp.formats
    );
    for (p, parsed, values) in &inf.timestamp_candidates {
        let _ = writeln!(
            out,
            "  candidate `{p}`: {parsed} of {values} values parse as times"
        );
    }
    match &inf.level_field {
        Some(field) => {
            let unknown = &inf.fields[field].unknown_levels;
            let _ = writeln!(out, "level: `{field}`; unknown spellings: {unknown:?}");
        }
        None => {
            let _ = writeln!(
                out,
                "level: none found (no level-named field of known levels)"
            );
        }
    }
    let _ = writeln!(
        out,
        "fields (coverage, types seen with examples -> choice: why):"
    );
    for c in &inf.choices {
        let f = &inf.fields[&c.field];
        let types: Vec<String> = f
            .types
            .iter()
            .map(|(t, n)| {
                let ex = f
                    .examples
                    .get(t)
                    .and_then(|e| e.first())
                    .map_or("", String::as_str);
                format!("{t} {n} (e.g. {ex})")
            })
            .collect();
        let _ = writeln!(
            out,
            "  {} {:.1}% {} -> {}: {}",
            c.field,
            100.0 * f.present as f64 / inf.records as f64,
            types.join(", "),
            c.outcome,
            c.why
        );
    }
    out
}

fn ordinal(n: u64) -> String {
    match n {
        1 => "record".into(),
        n => format!("{n}th record"),
    }
}
