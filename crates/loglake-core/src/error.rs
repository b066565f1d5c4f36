//! The core crate's one error type. Every variant carries the context a user needs to act on it:
//! the file, the field, the offending value.

use std::path::PathBuf;

/// Errors from loading a schema or opening an input. Per-record problems are not errors: they
/// are [`crate::Rejection`]s, which the transform quarantines (partial failure is data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema file could not be read.
    #[error("cannot read schema file `{path}`: {source}")]
    SchemaRead {
        /// Path of the schema file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The schema file is not valid JSON or does not have the expected shape.
    #[error("schema `{origin}` is not a valid loglake schema: {source}")]
    SchemaParse {
        /// Where the schema came from (a path, or `built-in`).
        origin: String,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// The schema parsed but breaks a rule (duplicate column, unknown type, ...).
    #[error("schema `{origin}`: {message}")]
    SchemaInvalid {
        /// Where the schema came from.
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An input could not be opened or read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The input path or URI.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
