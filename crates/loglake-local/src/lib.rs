//! # loglake-local
//!
//! The whole pipeline on one machine (DESIGN.md §1, "Locally"): a raw store (the root's `raw/`
//! folder, or `s3://bucket/prefix` on any S3-compatible server), the SQLite ledger and catalog
//! in `<root>/state.db`, and the transform writing `clean/` and `quarantine/`.
//!
//! ```text
//! <root>/raw/…                 raw objects (any folder depth)
//! <root>/clean/<table>/dt=…/hr=…/part-<source_id>-<n>.parquet
//! <root>/quarantine/<table>/<source_id>.ndjson.gz
//! <root>/state.db              ledger (DESIGN.md §4 states) + catalog (database, table, partitions)
//! ```
//!
//! A local object's version is `<mtime ns>-<sha256 prefix>`, so a rewritten file is a new
//! version that replaces the old one's rows, and an unchanged file is never processed twice.
//!
//! ```
//! use loglake_local::{Pipeline, PipelineConfig};
//!
//! let root = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(root.path().join("raw")).unwrap();
//! std::fs::write(root.path().join("raw/a.json"),
//!     "{\"ts\":\"2024-05-01T07:08:09Z\",\"msg\":\"up\"}\nnot json\n").unwrap();
//! let schema = loglake_core::Schema::default_app_logs().compile("built-in").unwrap();
//! let pipeline = Pipeline::open(PipelineConfig::new(root.path()), schema).unwrap();
//!
//! let first = pipeline.run_once(&|_| {}).unwrap();
//! assert_eq!((first.processed, first.records_written, first.records_quarantined), (1, 1, 1));
//! let again = pipeline.run_once(&|_| {}).unwrap();
//! assert_eq!((again.processed, again.duplicates), (0, 1));
//! let parts = pipeline.state().partitions("loglake", "app_logs").unwrap();
//! assert_eq!(parts[0].values, ["2024-05-01", "07"]);
//! ```

mod compact;
mod error;
mod listing;
mod pipeline;
mod state;
mod watch;

pub use compact::{CompactConfig, CompactReport, Compactor, PartitionReport, generations};
pub use error::{Error, Result};
pub use listing::{LocalVersion, list, local_version};
pub use pipeline::{
    ObjectReport, Outcome, Pipeline, PipelineConfig, Progress, RunReport, owner_is_dead,
    owner_token,
};
pub use state::{Partition, StateDb, Swap, now_ms};
pub use watch::{WatchOptions, watch};
