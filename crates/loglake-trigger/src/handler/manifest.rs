//! Batch manifests: one JSON line per object, written by the trigger, read by the Glue job.

use super::*;

/// One line of a batch manifest; also what a per-object run's arguments carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Bucket.
    pub bucket: String,
    /// Key (decoded).
    pub key: String,
    /// Ledger version (version id, else ETag).
    pub version: String,
    /// S3 version id to read, when versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Event sequencer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

impl ManifestEntry {
    /// The ledger's view of the object.
    pub fn object_version(&self) -> ObjectVersion {
        ObjectVersion {
            store: format!("s3://{}", self.bucket),
            key: self.key.clone(),
            version: self.version.clone(),
            size: self.size,
            sequencer: self.sequencer.clone(),
        }
    }

    /// The arguments of a per-object run.
    pub fn run_arguments(&self) -> Vec<(String, String)> {
        let mut args = vec![
            (ARG_BUCKET.to_owned(), self.bucket.clone()),
            (ARG_KEY.to_owned(), self.key.clone()),
            (ARG_VERSION.to_owned(), self.version.clone()),
        ];
        if let Some(v) = &self.version_id {
            args.push((ARG_VERSION_ID.to_owned(), v.clone()));
        }
        args
    }

    pub(super) fn report(
        &self,
        outcome: Outcome,
        job_run_id: Option<String>,
        why: Option<String>,
    ) -> ObjectReport {
        let mut r = ObjectReport::of(&self.object_version(), outcome);
        r.bucket = Some(self.bucket.clone());
        r.version_id.clone_from(&self.version_id);
        r.job_run_id = job_run_id;
        if outcome == Outcome::Failed {
            r.error = why;
        } else {
            r.reason = why;
        }
        r
    }

    pub(super) fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Parses a manifest (JSON lines of [`ManifestEntry`]).
pub fn parse_manifest(uri: &str, body: &[u8]) -> Result<Vec<ManifestEntry>, TriggerError> {
    let text = std::str::from_utf8(body).map_err(|e| TriggerError::Manifest {
        uri: uri.to_owned(),
        line: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| TriggerError::Manifest {
                uri: uri.to_owned(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}
