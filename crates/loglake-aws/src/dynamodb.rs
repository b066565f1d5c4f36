//! The idempotency ledger on DynamoDB (DESIGN.md §4), with Powertools semantics: the claim is one
//! conditional write ([`CLAIM_CONDITION`]) whose lease is the invocation's deadline, so a
//! crashed claimant's item becomes claimable when its invocation would have timed out anyway.
//!
//! Items (hash key `id` only):
//! - a version item `s3://bucket/key#<version>`: `status`, `owner`, `lease_until` (epoch ms),
//!   `attempts`, `job_run_id`, `sequencer`, `size`, `error`, `expires_at` (TTL, epoch s);
//! - a key item `latest:s3://bucket/key` ([`KEY_ITEM_PREFIX`]): the highest `sequencer` seen for
//!   the key (fixed width, [`sequencer_sort_key`]) and its version's id (`latest_id`).
//!
//! A claim with a sequencer writes both in one `TransactWriteItems` (version item under
//! [`CLAIM_CONDITION`], key item under [`KEY_CONDITION`]), so an older version's late event is
//! refused in the same round trip. Without a sequencer the claim is one conditional
//! `UpdateItem` (an upsert: it also counts `attempts`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use loglake_core::ledger::{
    ATTR_ATTEMPTS, ATTR_CLAIM_TOKEN, ATTR_ERROR, ATTR_EXPIRES_AT, ATTR_ID, ATTR_JOB_RUN_ID,
    ATTR_LATEST_ID, ATTR_LEASE_UNTIL, ATTR_OWNER, ATTR_SEQUENCER, ATTR_STATUS, ATTR_SUPERSEDED_BY,
    CLAIM_CONDITION, Claim, ClaimCheck, ClaimRequest, Finished, KEY_CONDITION, KEY_ITEM_PREFIX,
    Ledger, LedgerError, LedgerItem, ObjectVersion, RunResult, Status, claim_decision,
    sequencer_sort_key,
};
use loglake_trigger::handler::ErrorKind;

use crate::error::classify;

type Item = HashMap<String, AttributeValue>;

/// Attribute: object size in bytes (informational).
const ATTR_SIZE: &str = "size";
/// How often a claim transaction is retried when it collides with a concurrent one on the same
/// items (`TransactionConflict`), before the claim fails as retryable.
const CONFLICT_RETRIES: u32 = 5;

/// The DynamoDB ledger.
#[derive(Debug, Clone)]
pub struct DynamoDbLedger {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

impl DynamoDbLedger {
    /// A ledger over `table`.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn error(
        &self,
        operation: &'static str,
        id: &str,
        message: String,
        kind: ErrorKind,
    ) -> LedgerError {
        let message = format!("table {}: {message}", self.table);
        LedgerError::new(
            "dynamodb",
            operation,
            id,
            message,
            kind != ErrorKind::Permanent,
        )
    }

    /// The ledger error for an SDK error: classified, its whole context in the message, the
    /// SDK error itself kept as the source.
    fn sdk_error<E>(
        &self,
        operation: &'static str,
        id: &str,
        e: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> LedgerError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        let (kind, message) = classify(&e);
        self.error(operation, id, message, kind).caused_by(e)
    }

    /// The version item's claim: names, values and update expression.
    fn claim_update(
        object: &ObjectVersion,
        req: &ClaimRequest,
    ) -> (String, Item, HashMap<String, String>) {
        let mut names: HashMap<String, String> = [
            ("#id", ATTR_ID),
            ("#status", ATTR_STATUS),
            ("#owner", ATTR_OWNER),
            ("#lease_until", ATTR_LEASE_UNTIL),
            ("#attempts", ATTR_ATTEMPTS),
            ("#expires_at", ATTR_EXPIRES_AT),
            ("#size", ATTR_SIZE),
            ("#job_run_id", ATTR_JOB_RUN_ID),
            ("#error", ATTR_ERROR),
            ("#claim_token", ATTR_CLAIM_TOKEN),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut values: Item = [
            (":in_progress", s(Status::InProgress.as_str())),
            (":failed", s(Status::Failed.as_str())),
            (":now", n(req.now_ms)),
            (":max_attempts", n(req.max_attempts)),
            (":owner", s(&req.owner)),
            (":lease", n(req.lease_until_ms)),
            (":zero", n(0)),
            (":one", n(1)),
            (":expires", n(req.expires_at)),
            (":size", n(object.size)),
            (":claim_token", s(&req.token)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut set = String::from(
            "SET #status = :in_progress, #owner = :owner, #lease_until = :lease, \
             #attempts = if_not_exists(#attempts, :zero) + :one, #expires_at = :expires, \
             #size = :size, #claim_token = :claim_token",
        );
        if let Some(seq) = &object.sequencer {
            names.insert("#sequencer".into(), ATTR_SEQUENCER.into());
            values.insert(":sequencer".into(), s(seq));
            set.push_str(", #sequencer = :sequencer");
        }
        (format!("{set} REMOVE #job_run_id, #error"), values, names)
    }

    /// Reads an item, strongly consistent.
    async fn read(&self, operation: &'static str, id: &str) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error(operation, id, e))?;
        Ok(out.item)
    }

    /// The claim's outcome when the version item's condition failed. The item may be this
    /// claim's own write: the request was applied, its response lost, and the SDK's retry then
    /// failed the condition against it. That is a claim, not a duplicate (else no run starts and
    /// no later event revives the version).
    fn refused(
        &self,
        id: &str,
        old: Option<&Item>,
        req: &ClaimRequest,
    ) -> Result<Claim, LedgerError> {
        let item = old.map(|i| parse_item(id, i)).transpose()?;
        let own = old.and_then(|i| string(i, ATTR_CLAIM_TOKEN)).as_deref() == Some(&req.token);
        if let Some(mine) = item
            .as_ref()
            .filter(|i| own && i.status == Status::InProgress)
        {
            tracing::info!(id, token = %req.token, "the claim's retry found its own claim");
            return Ok(Claim::Claimed {
                attempt: Some(mine.attempts),
            });
        }
        match claim_decision(item.as_ref(), req.now_ms, req.max_attempts) {
            ClaimCheck::Held(status) => Ok(Claim::Duplicate {
                status,
                job_run_id: item.and_then(|i| i.job_run_id),
            }),
            ClaimCheck::Exhausted => Ok(Claim::Exhausted {
                attempts: item.map_or(0, |i| i.attempts),
            }),
            // The item changed between the refused write and the read: let the caller retry.
            ClaimCheck::Claimable => Err(self.error(
                "claim",
                id,
                "the item changed during the claim; try again".into(),
                ErrorKind::Transient,
            )),
        }
    }

    async fn claim_plain(
        &self,
        object: &ObjectVersion,
        req: &ClaimRequest,
    ) -> Result<Claim, LedgerError> {
        let id = object.id();
        let (update, values, names) = Self::claim_update(object, req);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(&id))
            .update_expression(update)
            .condition_expression(CLAIM_CONDITION)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Claim::Claimed {
                attempt: o
                    .attributes()
                    .and_then(|a| number(a, ATTR_ATTEMPTS))
                    .and_then(|a| u32::try_from(a).ok()),
            }),
            Err(e) => {
                if let Some(UpdateItemError::ConditionalCheckFailedException(ccf)) =
                    e.as_service_error()
                {
                    let old = match ccf.item() {
                        Some(item) => Some(item.clone()),
                        None => self.read("claim", &id).await?,
                    };
                    return self.refused(&id, old.as_ref(), req);
                }
                Err(self.sdk_error("claim", &id, e))
            }
        }
    }

    /// The claim's two conditional updates: the version item (under [`CLAIM_CONDITION`]) and
    /// the key item holding the highest sequencer (under [`KEY_CONDITION`]).
    fn guarded_updates(
        &self,
        object: &ObjectVersion,
        key_id: &str,
        sequencer: &str,
        req: &ClaimRequest,
    ) -> Result<(Update, Update), LedgerError> {
        let id = object.id();
        let (update, values, names) = Self::claim_update(object, req);
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            self.error("claim", &id, e.to_string(), ErrorKind::Permanent)
        };
        let version_item = Update::builder()
            .table_name(&self.table)
            .key(ATTR_ID, s(&id))
            .update_expression(update)
            .condition_expression(CLAIM_CONDITION)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(built)?;
        let key_item = Update::builder()
            .table_name(&self.table)
            .key(ATTR_ID, s(key_id))
            .update_expression("SET #sequencer = :seq, #latest_id = :id, #expires_at = :expires")
            .condition_expression(KEY_CONDITION)
            .expression_attribute_names("#sequencer", ATTR_SEQUENCER)
            .expression_attribute_names("#latest_id", ATTR_LATEST_ID)
            .expression_attribute_names("#expires_at", ATTR_EXPIRES_AT)
            .expression_attribute_values(":seq", s(sequencer_sort_key(sequencer)))
            .expression_attribute_values(":id", s(&id))
            .expression_attribute_values(":expires", n(req.expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(built)?;
        Ok((version_item, key_item))
    }

    async fn claim_guarded(
        &self,
        object: &ObjectVersion,
        sequencer: &str,
        req: &ClaimRequest,
    ) -> Result<Claim, LedgerError> {
        let id = object.id();
        let key_id = format!("{KEY_ITEM_PREFIX}{}", object.key_uri());
        let (version_item, key_item) = self.guarded_updates(object, &key_id, sequencer, req)?;
        let mut conflicts = 0;
        loop {
            let out = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(version_item.clone())
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(key_item.clone())
                        .build(),
                )
                .send()
                .await;
            let e = match out {
                Ok(_) => return Ok(Claim::Claimed { attempt: None }),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                e.as_service_error()
            else {
                return Err(self.sdk_error("claim", &id, e));
            };
            let reasons = cancelled.cancellation_reasons();
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            let failed = |i: usize| code(i) == "ConditionalCheckFailed";
            if failed(0) {
                let old = match reasons[0].item() {
                    Some(item) => Some(item.clone()),
                    None => self.read("claim", &id).await?,
                };
                return self.refused(&id, old.as_ref(), req);
            }
            if failed(1) {
                let newer = match reasons[1].item() {
                    Some(item) => string(item, ATTR_SEQUENCER),
                    None => self
                        .read("claim", &key_id)
                        .await?
                        .and_then(|item| string(&item, ATTR_SEQUENCER)),
                };
                // Stored fixed-width (right-padded with zeros), as compared.
                return Ok(Claim::Superseded {
                    newer: newer.unwrap_or_default(),
                });
            }
            let conflict = (0..2).any(|i| code(i) == "TransactionConflict");
            if conflict && conflicts < CONFLICT_RETRIES {
                conflicts += 1;
                // A concurrent claim of the same version or key: it settles within milliseconds.
                tokio::time::sleep(Duration::from_millis(10 * u64::from(conflicts))).await;
                continue;
            }
            // A conflict that outlasted our retries, or a cancellation for capacity: nothing
            // was written and a later attempt can succeed, whatever the exception's own class.
            let transient = (0..2).any(|i| {
                matches!(
                    code(i),
                    "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                )
            });
            if transient {
                let (_, message) = classify(&e);
                return Err(self
                    .error("claim", &id, message, ErrorKind::Transient)
                    .caused_by(e));
            }
            return Err(self.sdk_error("claim", &id, e));
        }
    }
}

/// Reads a version item.
fn parse_item(id: &str, item: &Item) -> Result<LedgerItem, LedgerError> {
    let bad = |what: &str| {
        LedgerError::new(
            "dynamodb",
            "read",
            id,
            format!("malformed item: {what}"),
            false,
        )
    };
    let status = string(item, ATTR_STATUS)
        .and_then(|s| Status::parse(&s))
        .ok_or_else(|| bad("`status` is not IN_PROGRESS, STARTED, SUCCEEDED or FAILED"))?;
    Ok(LedgerItem {
        id: id.to_owned(),
        status,
        owner: string(item, ATTR_OWNER).unwrap_or_default(),
        lease_until_ms: number(item, ATTR_LEASE_UNTIL).unwrap_or(0),
        attempts: number(item, ATTR_ATTEMPTS)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        job_run_id: string(item, ATTR_JOB_RUN_ID),
        sequencer: string(item, ATTR_SEQUENCER),
        error: string(item, ATTR_ERROR),
        superseded_by: string(item, ATTR_SUPERSEDED_BY),
        expires_at: number(item, ATTR_EXPIRES_AT).unwrap_or(0),
    })
}

impl Ledger for DynamoDbLedger {
    async fn claim(
        &self,
        object: &ObjectVersion,
        req: &ClaimRequest,
    ) -> Result<Claim, LedgerError> {
        match &object.sequencer {
            Some(seq) => self.claim_guarded(object, seq, req).await,
            None => self.claim_plain(object, req).await,
        }
    }

    async fn start(
        &self,
        id: &str,
        owner: &str,
        job_run_id: &str,
        lease_until_ms: i64,
    ) -> Result<(), LedgerError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(id))
            .update_expression("SET #status = :started, #job_run_id = :run, #lease_until = :lease")
            .condition_expression("#status = :in_progress AND #owner = :owner")
            .expression_attribute_names("#status", ATTR_STATUS)
            .expression_attribute_names("#job_run_id", ATTR_JOB_RUN_ID)
            .expression_attribute_names("#lease_until", ATTR_LEASE_UNTIL)
            .expression_attribute_names("#owner", ATTR_OWNER)
            .expression_attribute_values(":started", s(Status::Started.as_str()))
            .expression_attribute_values(":in_progress", s(Status::InProgress.as_str()))
            .expression_attribute_values(":run", s(job_run_id))
            .expression_attribute_values(":lease", n(lease_until_ms))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(self.error(
                "start",
                id,
                format!(
                    "claim lost: not IN_PROGRESS for owner {owner} (run {job_run_id} was started)"
                ),
                ErrorKind::Permanent,
            )),
            Err(e) => Err(self.sdk_error("start", id, e)),
        }
    }

    async fn release(&self, id: &str, owner: &str) -> Result<(), LedgerError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(id))
            .condition_expression("#status = :in_progress AND #owner = :owner")
            .expression_attribute_names("#status", ATTR_STATUS)
            .expression_attribute_names("#owner", ATTR_OWNER)
            .expression_attribute_values(":in_progress", s(Status::InProgress.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match out {
            // Someone else holds it now (our lease ended): nothing of ours to release.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(self.sdk_error("release", id, e)),
        }
    }

    async fn finish(
        &self,
        id: &str,
        job_run_id: &str,
        result: &RunResult,
    ) -> Result<Finished, LedgerError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(id))
            .condition_expression(
                "(#status = :started OR #status = :status) AND #job_run_id = :run",
            )
            .expression_attribute_names("#status", ATTR_STATUS)
            .expression_attribute_names("#job_run_id", ATTR_JOB_RUN_ID)
            .expression_attribute_names("#error", ATTR_ERROR)
            .expression_attribute_values(":started", s(Status::Started.as_str()))
            .expression_attribute_values(":run", s(job_run_id))
            .return_values(ReturnValue::AllNew);
        req = req.expression_attribute_values(":status", s(result.status().as_str()));
        req = match result {
            RunResult::Succeeded => req.update_expression("SET #status = :status REMOVE #error"),
            RunResult::Superseded { by } => req
                .update_expression("SET #status = :status, #superseded = :newer REMOVE #error")
                .expression_attribute_names("#superseded", ATTR_SUPERSEDED_BY)
                .expression_attribute_values(":newer", s(by)),
            RunResult::Failed(why) => req
                .update_expression("SET #status = :status, #error = :error")
                .expression_attribute_values(":error", s(why)),
        };
        match req.send().await {
            Ok(o) => Ok(Finished::Recorded {
                attempts: o
                    .attributes()
                    .and_then(|a| number(a, ATTR_ATTEMPTS))
                    .and_then(|a| u32::try_from(a).ok())
                    .unwrap_or(0),
            }),
            // Not STARTED, or another result, with that run: a domain outcome.
            Err(e) if is_condition_failure(&e) => Ok(Finished::NotOwned),
            Err(e) => Err(self.sdk_error("finish", id, e)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<LedgerItem>, LedgerError> {
        self.read("get", id)
            .await?
            .map(|item| parse_item(id, &item))
            .transpose()
    }
}

fn is_condition_failure<E>(
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}
