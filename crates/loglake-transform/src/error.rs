//! The transform's one error type. Per-record problems are not errors (they are quarantined);
//! these are the failures that stop one object: unreadable input, unwritable output.

/// Errors that fail the transform of one object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be opened or read.
    #[error("cannot read input `{path}`: {source}")]
    Input {
        /// The input path or URI.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reading the object failed part-way, or ended before its known size: an I/O failure of
    /// the object, not bad data (DESIGN.md invariant 5). Nothing was published for it; reading
    /// it again may succeed.
    #[error(
        "reading `{path}` failed at byte {offset}: {source}; nothing was published for it (run it again)"
    )]
    Read {
        /// The input path or URI.
        path: String,
        /// Bytes read from the object before the failure.
        offset: u64,
        /// The I/O error (`UnexpectedEof` for a short read).
        source: std::io::Error,
    },
    /// An output file could not be written, renamed or removed.
    #[error("cannot write `{path}`: {source}")]
    Output {
        /// The output path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Parquet encoder failed.
    #[error("cannot encode Parquet file `{path}`: {source}")]
    Parquet {
        /// The output path.
        path: String,
        /// The encoder error.
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow batch failed (a bug: the schema and the builders disagree).
    #[error("internal error building Arrow data for `{path}`: {source}")]
    Arrow {
        /// The output path.
        path: String,
        /// The Arrow error.
        source: arrow_schema::ArrowError,
    },
    /// A previous run's manifest could not be parsed.
    #[error("manifest `{path}` is corrupt: {source}")]
    Manifest {
        /// The manifest path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A publish target (an object store) failed; nothing after this step was published, and
    /// the next run of the source finishes the protocol (see [`crate::publish`]).
    #[error("publishing to `{location}`: {source}")]
    Publish {
        /// The target location.
        location: String,
        /// The target's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The core crate failed (schema, input opening).
    #[error(transparent)]
    Core(#[from] loglake_core::Error),
    /// No schema could be inferred from the sample.
    #[error(transparent)]
    Infer(#[from] loglake_core::infer::InferError),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
