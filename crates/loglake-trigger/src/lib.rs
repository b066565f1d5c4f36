//! # loglake-trigger
//!
//! The trigger's logic, free of any AWS client:
//! - [`event`] decodes every document shape that can announce a new raw object (S3
//!   notifications, EventBridge, SQS- and SNS-wrapped, test events) into the objects it names;
//! - [`handler`] turns one event into ledger claims and Glue runs (per object, or one run per
//!   batch over a manifest), and Glue job state changes into ledger results, generic over the
//!   narrow traits [`handler::ObjectHead`], [`handler::ManifestStore`], [`handler::JobLauncher`]
//!   and [`loglake_core::ledger::Ledger`];
//! - [`config`] reads the `LOGLAKE_*` variables; [`metrics`] writes the EMF document.
//!
//! The Lambda (`loglake-lambda`), `loglake event` and `loglake trigger` are thin layers over it;
//! the AWS implementations of the traits are in `loglake-aws`.

pub mod config;
pub mod event;
pub mod handler;
pub mod metrics;
