//! # loglake-core
//!
//! The cloud-free core of loglake: the table [`schema`], input [`decode`]-ing (compression by
//! magic bytes, NDJSON / JSON arrays / wrapped records, streamed in bounded chunks), and record
//! [`normalize`]-ation (timestamps, levels, type coercion, unknown fields kept as JSON).
//! It knows nothing of Arrow, Parquet or AWS; `loglake-transform` builds on it.
//!
//! ```
//! use loglake_core::{Normalizer, Row, Schema};
//!
//! let schema = Schema::default_app_logs().compile("built-in").unwrap();
//! let normalizer = Normalizer::new(&schema);
//! let mut row = Row::new(&schema);
//! normalizer
//!     .normalize(br#"{"time":"2024-05-01 07:08:09+0200","lvl":"warning","status":"503"}"#, &mut row)
//!     .unwrap();
//! assert_eq!(loglake_core::time::format_rfc3339_micros(row.ts), "2024-05-01T05:08:09.000000Z");
//!
//! let bad = normalizer.normalize(br#"{"msg":"no time"}"#, &mut row).unwrap_err();
//! assert!(bad.reason.starts_with("missing required field `ts`"));
//! ```

pub mod catalog;
pub mod decode;
mod error;
pub mod failpoint;
pub mod infer;
pub mod json;
pub mod ledger;
pub mod level;
pub mod lifecycle;
pub mod normalize;
pub mod partition;
pub mod schema;
mod source;
pub mod time;

pub use error::{Error, Result};
pub use normalize::{Cell, Normalizer, Rejection, Row};
pub use schema::{ColumnType, CompiledSchema, Schema};
pub use source::source_id;
