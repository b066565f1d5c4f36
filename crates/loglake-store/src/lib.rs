//! # loglake-store
//!
//! Where loglake's objects live, for every adapter (the local pipeline, `loglake transform`, the
//! Glue task):
//! - [`Location`]: a local folder or `s3://bucket/prefix` (any S3-compatible server through
//!   `AWS_ENDPOINT_URL`), reached through [object_store];
//! - [`RawStore`]: raw objects listed with one ignore rule ([`ignored_name`], for folders and S3
//!   alike), checked to exist at the version asked for, and streamed with read-ahead (the
//!   transform checks every byte arrived against the object's size);
//! - [`Publisher`]: a transform's files staged locally, then published in the crash-safe order
//!   manifest(old ∪ new) → data files → quarantine → removals → manifest(new), so a crash at any
//!   point leaves no file unlisted and no row counted twice.
//!
//! It knows nothing of ledgers, catalogs or watching.
//!
//! ```
//! use loglake_store::{Location, RawStore, local_files};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("a.json"), "{}\n").unwrap();
//! std::fs::write(dir.path().join("a.json.part"), "{}\n").unwrap(); // a writer's partial file
//! assert_eq!(local_files(dir.path()).unwrap(), [dir.path().join("a.json")]);
//!
//! let raw = Location::parse("s3://raw-bucket/logs/").unwrap();
//! assert_eq!(raw.join("2024/a.json").display(), "s3://raw-bucket/logs/2024/a.json");
//! assert!(Location::parse("gs://elsewhere").unwrap_err().is_usage());
//! # let _ = RawStore::open(&Location::Local(dir.path().into())).unwrap();
//! ```

pub mod compact;
mod error;
mod location;
mod output;
mod publish;
mod raw;

pub use error::{Error, Result};
pub use location::{Location, s3_store};
pub use output::OutputStore;
pub use publish::Publisher;
pub use raw::{RawObject, RawStore, ignored_name, local_files};
