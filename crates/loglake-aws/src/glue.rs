//! Glue: start the transform job, and read a run's arguments back.

use std::collections::HashMap;

use loglake_trigger::handler::{AwsError, ErrorKind, JobLauncher};

use crate::error::aws_error;

/// Glue job runs.
#[derive(Debug, Clone)]
pub struct GlueJobs {
    client: aws_sdk_glue::Client,
}

impl GlueJobs {
    /// Wraps a client.
    pub fn new(client: aws_sdk_glue::Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_glue::Client {
        &self.client
    }

    async fn get_run(
        &self,
        job: &str,
        run_id: &str,
    ) -> Result<aws_sdk_glue::operation::get_job_run::GetJobRunOutput, AwsError> {
        self.client
            .get_job_run()
            .job_name(job)
            .run_id(run_id)
            .send()
            .await
            .map_err(|e| aws_error("glue", "GetJobRun", format!("{job}/{run_id}"), e))
    }

    /// Whether a run has ended (any final state: SUCCEEDED, FAILED, TIMEOUT, STOPPED, ERROR,
    /// EXPIRED), by `GetJobRun`.
    pub async fn run_ended(&self, job: &str, run_id: &str) -> Result<bool, AwsError> {
        use aws_sdk_glue::types::JobRunState as S;
        let out = self.get_run(job, run_id).await?;
        let state = out.job_run().and_then(|r| r.job_run_state().cloned());
        Ok(matches!(
            state,
            Some(S::Succeeded | S::Failed | S::Timeout | S::Stopped | S::Error | S::Expired)
        ))
    }
}

impl JobLauncher for GlueJobs {
    async fn start_run(
        &self,
        job: &str,
        arguments: &[(String, String)],
    ) -> Result<String, AwsError> {
        let args: HashMap<String, String> = arguments.iter().cloned().collect();
        let out = self
            .client
            .start_job_run()
            .job_name(job)
            .set_arguments(Some(args))
            .send()
            .await
            .map_err(|e| aws_error("glue", "StartJobRun", job, e))?;
        out.job_run_id().map(str::to_owned).ok_or_else(|| {
            AwsError::new(
                "glue",
                "StartJobRun",
                job.to_owned(),
                "the answer has no JobRunId",
                ErrorKind::Transient,
            )
        })
    }

    async fn run_arguments(
        &self,
        job: &str,
        run_id: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let out = self.get_run(job, run_id).await?;
        let mut args: Vec<(String, String)> = out
            .job_run()
            .and_then(|r| r.arguments())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        args.sort();
        Ok(args)
    }
}
