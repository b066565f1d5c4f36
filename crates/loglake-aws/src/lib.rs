//! # loglake-aws
//!
//! The AWS side of loglake's narrow traits, over the official AWS SDK for Rust:
//! - [`DynamoDbLedger`]: the idempotency ledger (DESIGN.md §4) — [`loglake_core::ledger::Ledger`];
//! - [`S3Objects`]: `HeadObject` and batch manifests — `ObjectHead` + `ManifestStore`;
//! - [`GlueJobs`]: `StartJobRun` / `GetJobRun` — `JobLauncher`;
//! - [`GlueCatalog`]: the table check against the schema, `BatchCreatePartition`, and the
//!   tables' descriptions for `loglake query --glue`.
//!
//! Every call's error is classified retryable or not ([`loglake_trigger::handler::ErrorKind`]).
//! [`Clients::from_env`] builds the clients once per process from the standard AWS
//! environment; `AWS_ENDPOINT_URL` points them at an emulator (moto), with path-style S3.

mod catalog;
mod dynamodb;
mod error;
mod glue;
mod s3;

pub use catalog::{
    CatalogError, ExpectedTable, GENERATION, GlueCatalog, GluePartition, GlueTable,
    PREVIOUS_LOCATION, RegisteredTable, SWITCHED_AT_MS, differences,
};
pub use dynamodb::DynamoDbLedger;
pub use glue::GlueJobs;
pub use s3::S3Objects;

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// The trigger's clients, built once per process.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3.
    pub s3: S3Objects,
    /// Glue.
    pub glue: GlueJobs,
    /// The ledger.
    pub ledger: DynamoDbLedger,
}

impl Clients {
    /// Builds the clients from `sdk` for the ledger table `ledger_table`.
    pub fn new(sdk: &aws_config::SdkConfig, ledger_table: &str) -> Self {
        Self {
            s3: S3Objects::new(sdk),
            glue: GlueJobs::new(aws_sdk_glue::Client::new(sdk)),
            ledger: DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), ledger_table),
        }
    }

    /// Loads the SDK configuration from the environment and builds the clients.
    pub async fn from_env(ledger_table: &str) -> Self {
        Self::new(&sdk_config().await, ledger_table)
    }
}

/// The trigger's handler over the AWS clients (the Lambda, `loglake trigger`, `loglake backfill`).
pub type Trigger = loglake_trigger::handler::Handler<S3Objects, GlueJobs, DynamoDbLedger>;

/// Builds the clients from the environment for `config`'s ledger table, and the handler.
pub async fn trigger_from_env(config: loglake_trigger::config::TriggerConfig) -> Trigger {
    let clients = Clients::from_env(&config.ledger_table).await;
    loglake_trigger::handler::Handler {
        config,
        store: clients.s3,
        launcher: clients.glue,
        ledger: clients.ledger,
    }
}
