//! S3: `HeadObject` for the trigger, and batch manifests.

use aws_sdk_s3::primitives::ByteStream;
use loglake_trigger::handler::{AwsError, ErrorKind, Head, ManifestStore, ObjectHead};

use crate::error::aws_error;

/// S3 for the trigger.
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
}

impl S3Objects {
    /// A client from `sdk`; path-style addressing when `sdk` has an endpoint override (an
    /// emulator on loopback has no per-bucket host names).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

impl ObjectHead for S3Objects {
    async fn head(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Head>, AwsError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(Head {
                size: o
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                etag: o.e_tag().map(|e| e.trim_matches('"').to_owned()),
                version_id: o
                    .version_id()
                    .filter(|v| !v.is_empty() && *v != "null")
                    .map(str::to_owned),
            })),
            Err(e) => {
                let not_found = e.as_service_error().is_some_and(|se| se.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                if not_found {
                    return Ok(None);
                }
                Err(aws_error(
                    "s3",
                    "HeadObject",
                    format!("s3://{bucket}/{key}"),
                    e,
                ))
            }
        }
    }
}

impl ManifestStore for S3Objects {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("s3", "PutObject", format!("s3://{bucket}/{key}"), e))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let target = format!("s3://{bucket}/{key}");
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| aws_error("s3", "GetObject", target.clone(), e))?;
        let body = out.body.collect().await.map_err(|e| {
            AwsError::new(
                "s3",
                "GetObject",
                target,
                format!("reading the body: {e}"),
                ErrorKind::Transient,
            )
            .caused_by(e)
        })?;
        Ok(body.into_bytes().to_vec())
    }
}
