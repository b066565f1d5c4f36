//! # loglake-trigger
//!
//! The trigger's logic, free of any AWS client: [`event`] decodes every document shape that can
//! announce a new raw object (S3 notifications, EventBridge, SQS- and SNS-wrapped, test events)
//! into the objects it names. The Lambda binary and `loglake event` / `loglake trigger` are thin
//! layers over it.

pub mod event;
