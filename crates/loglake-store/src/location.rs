//! Locations: a local folder or `s3://bucket/prefix` (any S3-compatible server through
//! `AWS_ENDPOINT_URL`), and the object-store clients that reach them.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;

use crate::error::{Error, Result};

/// A location: a local folder or `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder.
    Local(PathBuf),
    /// A bucket and a key prefix (no leading or trailing `/`; may be empty).
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
}

impl Location {
    /// Parses `s3://bucket/prefix` or a path.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = |message: &str| Error::Location {
            location: s.to_owned(),
            message: message.to_owned(),
        };
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("names no bucket; expected s3://bucket/prefix"));
            }
            Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            })
        } else if s.contains("://") {
            Err(invalid("only local paths and s3:// URIs are supported"))
        } else {
            Ok(Location::Local(PathBuf::from(s)))
        }
    }

    /// As the user would write it.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// A child location.
    pub fn join(&self, part: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(part)),
            Location::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                prefix: join_key(prefix, part),
            },
        }
    }
}

pub(crate) fn join_key(prefix: &str, part: &str) -> String {
    if prefix.is_empty() {
        part.to_owned()
    } else {
        format!("{prefix}/{part}")
    }
}

/// An S3 client for one bucket, from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, …); plain HTTP is allowed when the endpoint says `http://`.
pub fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok();
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_endpoint(&endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if std::env::var_os("AWS_REGION").is_none()
        && let Ok(region) = std::env::var("AWS_DEFAULT_REGION")
    {
        builder = builder.with_region(region);
    }
    builder
        .build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|source| Error::Config {
            location: format!("s3://{bucket}"),
            source,
        })
}

/// An object-store path for a key, taken as is (no re-encoding: `%`, spaces and unicode are
/// part of the key). Keys with empty, `.` or `..` segments cannot be addressed.
pub(crate) fn obj_path(location: &str, key: &str) -> Result<ObjPath> {
    ObjPath::parse(key).map_err(|e| Error::Location {
        location: location.to_owned(),
        message: format!("key `{key}` cannot be addressed: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("s3://b/p/q/").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap().join("raw").display(),
            "s3://b/raw"
        );
        assert!(Location::parse("s3:///x").unwrap_err().is_usage());
        assert!(Location::parse("gs://b/x").unwrap_err().is_usage());
        assert_eq!(
            Location::parse("some/dir").unwrap(),
            Location::Local("some/dir".into())
        );
    }
}
