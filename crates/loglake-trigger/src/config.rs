//! The trigger's configuration: `LOGLAKE_*` environment variables, the same for the Lambda and
//! `loglake trigger` (DESIGN.md §5). Terraform sets them in `infra/lambda.tf`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LOGLAKE_LEDGER_TABLE` | required | DynamoDB ledger table |
//! | `LOGLAKE_GLUE_JOB` | required | Glue job to start |
//! | `LOGLAKE_MODE` | `per-object` | `per-object`: one run per object; `batch`: one run per invocation, over a manifest |
//! | `LOGLAKE_MANIFEST_BUCKET` | required in batch mode | where batch manifests are written |
//! | `LOGLAKE_MANIFEST_PREFIX` | `tmp/manifests/` | key prefix of manifests |
//! | `LOGLAKE_RAW_BUCKET` | any | only objects of this bucket are taken (others are skipped) |
//! | `LOGLAKE_RAW_PREFIX` | `""` | only keys under this prefix are taken |
//! | `LOGLAKE_MAX_ATTEMPTS` | `3` | runs per object version before it is left FAILED |
//! | `LOGLAKE_LEDGER_TTL_DAYS` | `30` | ledger items expire (DynamoDB TTL) this long after their claim |
//! | `LOGLAKE_METRICS_NAMESPACE` | `loglake` | CloudWatch namespace of the EMF metrics |

/// How objects become Glue runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One run per object (arguments name the object).
    PerObject,
    /// One run per invocation (an SQS batch), over a manifest of its objects.
    Batch,
}

/// The trigger's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    /// DynamoDB ledger table.
    pub ledger_table: String,
    /// Glue job name.
    pub glue_job: String,
    /// Per-object or batch.
    pub mode: Mode,
    /// Bucket for batch manifests.
    pub manifest_bucket: Option<String>,
    /// Key prefix for batch manifests.
    pub manifest_prefix: String,
    /// Only this bucket's objects are taken, when set.
    pub raw_bucket: Option<String>,
    /// Only keys under this prefix are taken.
    pub raw_prefix: String,
    /// Runs per version before it is left FAILED.
    pub max_attempts: u32,
    /// Ledger TTL in days.
    pub ttl_days: u32,
    /// CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
}

/// A variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What is wrong, and what to set.
    pub message: String,
}

impl TriggerConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (a variable's value, if set).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let required = |variable: &'static str, what: &str| {
            get(variable).ok_or_else(|| ConfigError {
                variable,
                message: format!("not set: {what}"),
            })
        };
        let number = |variable: &'static str, default: u32, min: u32| -> Result<u32, ConfigError> {
            match get(variable) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(ConfigError {
                        variable,
                        message: format!("`{v}` is not a whole number >= {min}"),
                    }),
                },
            }
        };
        let mode = match get("LOGLAKE_MODE").as_deref().map(str::trim) {
            None | Some("per-object") => Mode::PerObject,
            Some("batch") => Mode::Batch,
            Some(other) => {
                return Err(ConfigError {
                    variable: "LOGLAKE_MODE",
                    message: format!("`{other}` is not `per-object` or `batch`"),
                });
            }
        };
        let manifest_bucket = get("LOGLAKE_MANIFEST_BUCKET");
        if mode == Mode::Batch && manifest_bucket.is_none() {
            return Err(ConfigError {
                variable: "LOGLAKE_MANIFEST_BUCKET",
                message: "not set: batch mode writes one manifest per run there".into(),
            });
        }
        Ok(Self {
            ledger_table: required("LOGLAKE_LEDGER_TABLE", "the DynamoDB ledger table's name")?,
            glue_job: required("LOGLAKE_GLUE_JOB", "the Glue job to start")?,
            mode,
            manifest_bucket,
            manifest_prefix: get("LOGLAKE_MANIFEST_PREFIX")
                .unwrap_or_else(|| "tmp/manifests/".into()),
            raw_bucket: get("LOGLAKE_RAW_BUCKET"),
            raw_prefix: get("LOGLAKE_RAW_PREFIX").unwrap_or_default(),
            max_attempts: number("LOGLAKE_MAX_ATTEMPTS", 3, 1)?,
            ttl_days: number("LOGLAKE_LEDGER_TTL_DAYS", 30, 1)?,
            metrics_namespace: get("LOGLAKE_METRICS_NAMESPACE").unwrap_or_else(|| "loglake".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_and_errors() {
        let base = [("LOGLAKE_LEDGER_TABLE", "t"), ("LOGLAKE_GLUE_JOB", "j")];
        let c = TriggerConfig::from_lookup(lookup(&base)).expect("config");
        assert_eq!(c.mode, Mode::PerObject);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.manifest_prefix, "tmp/manifests/");

        let e = TriggerConfig::from_lookup(lookup(&[("LOGLAKE_GLUE_JOB", "j")])).unwrap_err();
        assert_eq!(e.variable, "LOGLAKE_LEDGER_TABLE");

        let batch = [base[0], base[1], ("LOGLAKE_MODE", "batch")];
        let e = TriggerConfig::from_lookup(lookup(&batch)).unwrap_err();
        assert_eq!(e.variable, "LOGLAKE_MANIFEST_BUCKET");

        let bad = [base[0], base[1], ("LOGLAKE_MAX_ATTEMPTS", "0")];
        let e = TriggerConfig::from_lookup(lookup(&bad)).unwrap_err();
        assert!(e.to_string().contains("LOGLAKE_MAX_ATTEMPTS: `0`"), "{e}");

        let bad = [base[0], base[1], ("LOGLAKE_MODE", "batched")];
        assert_eq!(
            TriggerConfig::from_lookup(lookup(&bad))
                .unwrap_err()
                .variable,
            "LOGLAKE_MODE"
        );
    }
}
