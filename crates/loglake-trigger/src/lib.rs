//! # loglake-trigger
//!
//! The trigger's logic, free of any AWS client:
//! - [`event`] decodes every document shape that can announce a new raw object (S3
//!   notifications, EventBridge, SQS- and SNS-wrapped, test events) into the objects it names;
//! - [`handler`] turns one event into ledger claims and Glue runs (per object, or one run per
//!   batch over a manifest), and Glue job state changes into ledger results, generic over the
//!   narrow traits [`handler::ObjectHead`], [`handler::ManifestStore`], [`handler::JobLauncher`]
//!   and [`loglake_core::ledger::Ledger`];
//! - [`glue_task`] is the Glue run's step of the same lifecycle, for one object: is the version
//!   still the key's current one, publish (and publish a newer version again), record the
//!   result in the ledger; generic over [`handler::ObjectHead`], the ledger and
//!   [`glue_task::Publish`];
//! - [`config`] reads the `LOGLAKE_*` variables; [`metrics`] writes the EMF document.
//!
//! The Lambda (`loglake-lambda`), `loglake event`, `loglake trigger` and `loglake glue-task`
//! are thin layers over it;
//! the AWS implementations of the traits are in `loglake-aws`.

pub mod config;
pub mod event;
pub mod glue_task;
pub mod handler;
pub mod metrics;
