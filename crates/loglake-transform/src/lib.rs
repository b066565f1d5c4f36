//! # loglake-transform
//!
//! Raw JSON logs in, partitioned, deterministic, zstd Parquet out (DESIGN.md §3): the work of
//! the Glue job, runnable anywhere. Built on `loglake-core` for decoding and normalisation.
//!
//! ```
//! use loglake_core::Schema;
//! use loglake_transform::{transform_reader, LocalOutput, Source, TransformOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let schema = Schema::default_app_logs().compile("built-in").unwrap();
//! let input = b"{\"ts\":\"2024-05-01T07:08:09Z\",\"level\":\"info\",\"msg\":\"up\"}\nnot json\n";
//! let source = Source {
//!     name: "raw-bucket/app/a.json".into(), display: "a.json".into(), written_us: None,
//!     size: None,
//! };
//! let summary = transform_reader(
//!     &input[..], &source, &schema, &LocalOutput::new(dir.path()),
//!     &TransformOptions::default(), &|_| {},
//! ).unwrap();
//! assert_eq!((summary.records_in, summary.records_written, summary.records_quarantined), (2, 1, 1));
//! assert_eq!(summary.partitions, ["dt=2024-05-01/hr=07"]);
//! assert!(summary.files[0].ends_with(&format!("part-{}-0.parquet", summary.source_id)));
//! ```

pub mod check;
mod columns;
pub mod compact;
mod error;
pub mod infer;
mod output;
pub mod publish;
mod quarantine;
mod transform;
mod writer;

pub use columns::{arrow_schema, arrow_type};
pub use error::{Error, Result};
pub use output::{LocalOutput, Manifest};
pub use transform::{
    Source, Summary, TransformOptions, for_each_parallel, transform_file, transform_reader,
    transform_reader_to,
};
pub use writer::WriterOptions;
