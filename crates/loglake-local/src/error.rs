//! The local pipeline's one error type. Per-object failures (an unreadable object, a failed
//! upload) are reported in that object's [`crate::ObjectReport`] and recorded FAILED in the
//! ledger; these errors stop a whole run (bad arguments, an unusable state database).

/// Errors of the local pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments or configuration (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The state database failed.
    #[error("state database `{path}`: {source}")]
    State {
        /// `state.db`.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A local file or folder could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A raw or output location failed (listing, reading, publishing).
    #[error(transparent)]
    Store(#[from] loglake_store::Error),
    /// The catalog's table disagrees with the schema file.
    #[error(
        "the catalog's table `{table}` does not match the schema: {detail}. Use the schema it was \
         created with, or a new root (or table name) for the new schema"
    )]
    CatalogMismatch {
        /// `database.table`.
        table: String,
        /// The differences.
        detail: String,
    },
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] loglake_core::ledger::LedgerError),
    /// The transform failed.
    #[error(transparent)]
    Transform(#[from] loglake_transform::Error),
    /// A partition this object wrote to was compacted while it was being published: its
    /// files went to the old generation's folder. The pipeline processes the object again.
    #[error(
        "partition `{partition}` was compacted while this object was published; it is processed again"
    )]
    CompactedMeanwhile {
        /// `dt=…/hr=…`.
        partition: String,
    },
    /// The file watcher failed.
    #[error("watching `{path}`: {message}")]
    Watch {
        /// The folder.
        path: String,
        /// notify's error.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
