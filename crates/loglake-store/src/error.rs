//! The store's one error type: each variant names the location, and keeps the underlying error
//! as its `source`.

/// Errors of locations, listings, reads and publishing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A location that cannot be used as written (a usage error: exit code 2).
    #[error("`{location}`: {message}")]
    Location {
        /// As written.
        location: String,
        /// Why it cannot be used, with a hint.
        message: String,
    },
    /// An S3 client could not be configured.
    #[error(
        "`{location}`: {source}; set AWS_REGION and credentials (and AWS_ENDPOINT_URL for a \
         non-AWS server)"
    )]
    Config {
        /// `s3://bucket`.
        location: String,
        /// object_store's error.
        source: object_store::Error,
    },
    /// An object (or version) does not exist.
    #[error("`{location}`: not found{version}; check the bucket, key and version", version = version.as_ref().map(|v| format!(" (version {v})")).unwrap_or_default())]
    NotFound {
        /// The object.
        location: String,
        /// The version asked for.
        version: Option<String>,
    },
    /// A local file or folder could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An object-store call failed.
    #[error("`{location}`: {source}")]
    Store {
        /// The object or prefix.
        location: String,
        /// object_store's error (its own source chain says whether it was a timeout, a 5xx, …).
        source: object_store::Error,
    },
    /// Uploading a staged file failed.
    #[error("`{location}` (from {from}): {source}")]
    Upload {
        /// Where it was going.
        location: String,
        /// The staged file.
        from: String,
        /// The error (an object-store error or a local read error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The transform failed.
    #[error(transparent)]
    Transform(#[from] loglake_transform::Error),
}

impl Error {
    /// A usage error (a location that cannot be used as written): exit code 2.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Location { .. })
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
