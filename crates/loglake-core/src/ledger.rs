//! The idempotency ledger (DESIGN.md §4, contract for states): one item per object version,
//! so duplicate and concurrent events start at most one run per version.
//!
//! ```text
//!            claim (absent | IN_PROGRESS lease expired | FAILED attempts left)
//!   (none) ───────────────────────────────► IN_PROGRESS ──start(job_run_id)──► STARTED
//!      ▲                                        │                               │
//!      └──────────── release (start failed) ────┘            finish ◄───────────┘
//!                                                    SUCCEEDED | FAILED (attempts left → claimable)
//! ```
//!
//! The [`Ledger`] trait is implemented by the SQLite ledger of the local pipeline
//! (`loglake-local`) and by the DynamoDB ledger of the trigger Lambda. Both decide a claim with
//! the same rule, [`claim_decision`], which is the condition expression [`CLAIM_CONDITION`]
//! written in Rust; the attribute names are the constants below.
//!
//! ```
//! use loglake_core::ledger::{claim_decision, ClaimCheck, LedgerItem, Status};
//!
//! let now = 1_000_000;
//! assert_eq!(claim_decision(None, now, 3), ClaimCheck::Claimable);
//! let mut item = LedgerItem::new("s3://b/k#v1", Status::InProgress, "owner-a", now + 60_000);
//! assert_eq!(claim_decision(Some(&item), now, 3), ClaimCheck::Held(Status::InProgress));
//! item.lease_until_ms = now - 1; // the claimant crashed: its lease expired
//! assert_eq!(claim_decision(Some(&item), now, 3), ClaimCheck::Claimable);
//! ```

use std::cmp::Ordering;
use std::future::Future;

use serde::{Deserialize, Serialize};

/// Attribute: the item key, `s3://bucket/key#<version>` (`raw/key#<version>` locally).
pub const ATTR_ID: &str = "id";
/// Attribute: [`Status`] as its upper-case name.
pub const ATTR_STATUS: &str = "status";
/// Attribute: who holds the claim (a Lambda request id, or `host:pid:start` locally).
pub const ATTR_OWNER: &str = "owner";
/// Attribute: the claim's lease end, epoch milliseconds.
pub const ATTR_LEASE_UNTIL: &str = "lease_until";
/// Attribute: how many times the version was claimed.
pub const ATTR_ATTEMPTS: &str = "attempts";
/// Attribute: the run that processes the version.
pub const ATTR_JOB_RUN_ID: &str = "job_run_id";
/// Attribute: the S3 sequencer of the event (out-of-order guard).
pub const ATTR_SEQUENCER: &str = "sequencer";
/// Attribute: the last error, for FAILED items.
pub const ATTR_ERROR: &str = "error";
/// Attribute of a SUCCEEDED item whose version was not published because the key had a newer
/// version when its run came to it ([`RunResult::Superseded`]): that newer version's name.
pub const ATTR_SUPERSEDED_BY: &str = "superseded_by";
/// Attribute: TTL, epoch seconds.
pub const ATTR_EXPIRES_AT: &str = "expires_at";
/// Attribute of a key item: the id of the version with the highest sequencer.
pub const ATTR_LATEST_ID: &str = "latest_id";
/// Attribute: the token of the claim that wrote the item ([`ClaimRequest::token`]). A claim
/// whose response was lost and whose retry then fails its condition finds its own token here,
/// and is claimed, not a duplicate.
pub const ATTR_CLAIM_TOKEN: &str = "claim_token";

/// Prefix of the per-key items that hold the highest sequencer seen for a key (the out-of-order
/// guard): `latest:s3://bucket/key`. Version items start with `s3://`, so the two never collide.
pub const KEY_ITEM_PREFIX: &str = "latest:";

/// The out-of-order guard's condition on the key item (`:seq` is [`sequencer_sort_key`] of the
/// event's sequencer): a version may be claimed when no newer sequencer was seen for its key. An
/// equal sequencer is the same event delivered again, which the version item's own condition
/// then judges.
pub const KEY_CONDITION: &str = "attribute_not_exists(#sequencer) OR #sequencer <= :seq";

/// The claim's condition, as DynamoDB evaluates it (`:now` in epoch milliseconds).
pub const CLAIM_CONDITION: &str = "attribute_not_exists(#id) \
     OR (#status = :in_progress AND #lease_until < :now) \
     OR (#status = :failed AND #attempts < :max_attempts)";

/// An item's state (contract names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Claimed; the run is being started.
    InProgress,
    /// A run was started (`job_run_id` set).
    Started,
    /// The run processed the version.
    Succeeded,
    /// The run failed; claimable again while attempts are left.
    Failed,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Started => "STARTED",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "IN_PROGRESS" => Status::InProgress,
            "STARTED" => Status::Started,
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the ledger names an S3 object's version: its version id, else its ETag (quotes removed).
/// A version id of `null` (an object written while versioning was off or suspended) names no
/// version, so the ETag names it. `None` when S3 gave neither.
///
/// ```
/// use loglake_core::ledger::version_name;
/// assert_eq!(version_name(Some("3HL4kqtJ"), Some("\"9b2c\"")).as_deref(), Some("3HL4kqtJ"));
/// assert_eq!(version_name(Some("null"), Some("\"9b2c\"")).as_deref(), Some("9b2c"));
/// assert_eq!(version_name(None, None), None);
/// ```
pub fn version_name(version_id: Option<&str>, etag: Option<&str>) -> Option<String> {
    version_id
        .filter(|v| !v.is_empty() && *v != "null")
        .map(str::to_owned)
        .or_else(|| {
            etag.map(|e| e.trim_matches('"').to_owned())
                .filter(|e| !e.is_empty())
        })
}

/// One version of one raw object, as an event or a listing names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// Where the object lives: `s3://bucket`, or `raw` for the local root's raw folder.
    pub store: String,
    /// The object key (decoded), `/`-separated.
    pub key: String,
    /// Version id, else ETag (S3); a content hash locally.
    pub version: String,
    /// Size in bytes.
    pub size: u64,
    /// Orders versions of one key: the S3 event sequencer, or the modification time locally
    /// (fixed-width hex). `None` when unknown (no ordering guard).
    pub sequencer: Option<String>,
}

impl ObjectVersion {
    /// The ledger item id: `<store>/<key>#<version>`.
    pub fn id(&self) -> String {
        format!("{}#{}", self.key_uri(), self.version)
    }

    /// The key without the version: `<store>/<key>`.
    pub fn key_uri(&self) -> String {
        format!("{}/{}", self.store, self.key)
    }

    /// The source name that decides `source_id` (DESIGN.md invariant 2): `bucket/key`
    /// (the store without its scheme).
    pub fn source_name(&self) -> String {
        let store = self
            .store
            .split_once("://")
            .map_or(self.store.as_str(), |(_, rest)| rest);
        format!("{store}/{}", self.key)
    }
}

/// Width of [`sequencer_sort_key`]. S3 sequencers are 16 to 18 hex digits today.
pub const SEQUENCER_WIDTH: usize = 64;

/// A sequencer as a fixed-width, upper-case string, so that a plain string comparison (as
/// DynamoDB's `<=` does) agrees with [`compare_sequencers`].
///
/// ```
/// use loglake_core::ledger::sequencer_sort_key;
/// assert!(sequencer_sort_key("0a") < sequencer_sort_key("9"));
/// assert_eq!(sequencer_sort_key("ff00"), sequencer_sort_key("FF"));
/// ```
pub fn sequencer_sort_key(s: &str) -> String {
    let mut key = s.to_ascii_uppercase();
    if key.len() < SEQUENCER_WIDTH {
        key.extend(std::iter::repeat_n('0', SEQUENCER_WIDTH - key.len()));
    }
    key
}

/// Now, epoch milliseconds: the clock of leases and `updated_ms` (both ledgers, the trigger).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Compares S3 sequencers as AWS documents it: hex strings of varying length, compared
/// lexicographically after right-padding the shorter one with zeros (case-insensitive).
pub fn compare_sequencers(a: &str, b: &str) -> Ordering {
    let len = a.len().max(b.len());
    let padded = |s: &str| {
        let mut s = s.to_ascii_uppercase();
        s.extend(std::iter::repeat_n('0', len - s.len()));
        s
    };
    padded(a).cmp(&padded(b))
}

/// A stored ledger item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerItem {
    /// `<store>/<key>#<version>`.
    pub id: String,
    /// State.
    pub status: Status,
    /// Claim holder.
    pub owner: String,
    /// Lease end (epoch ms); meaningful while IN_PROGRESS (and STARTED locally).
    pub lease_until_ms: i64,
    /// Claims so far.
    pub attempts: u32,
    /// The run processing the version.
    pub job_run_id: Option<String>,
    /// Event sequencer.
    pub sequencer: Option<String>,
    /// Last error.
    pub error: Option<String>,
    /// The newer version that replaced this one before it was published ([`ATTR_SUPERSEDED_BY`]).
    pub superseded_by: Option<String>,
    /// TTL, epoch seconds.
    pub expires_at: i64,
}

impl LedgerItem {
    /// A fresh item (attempt 1).
    pub fn new(id: &str, status: Status, owner: &str, lease_until_ms: i64) -> Self {
        Self {
            id: id.to_owned(),
            status,
            owner: owner.to_owned(),
            lease_until_ms,
            attempts: 1,
            job_run_id: None,
            sequencer: None,
            error: None,
            superseded_by: None,
            expires_at: 0,
        }
    }
}

/// What [`claim_decision`] says about an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimCheck {
    /// The claim may be taken.
    Claimable,
    /// Someone holds or finished it: a duplicate.
    Held(Status),
    /// FAILED with no attempts left: left for the operator.
    Exhausted,
}

/// The claim rule ([`CLAIM_CONDITION`] in Rust): absent, IN_PROGRESS with an expired lease, or
/// FAILED with attempts left.
pub fn claim_decision(existing: Option<&LedgerItem>, now_ms: i64, max_attempts: u32) -> ClaimCheck {
    match existing {
        None => ClaimCheck::Claimable,
        Some(item) => match item.status {
            Status::InProgress if item.lease_until_ms < now_ms => ClaimCheck::Claimable,
            Status::Failed if item.attempts < max_attempts => ClaimCheck::Claimable,
            Status::Failed => ClaimCheck::Exhausted,
            status => ClaimCheck::Held(status),
        },
    }
}

/// A claim attempt's parameters.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Who claims (recorded in the item).
    pub owner: String,
    /// Now, epoch ms.
    pub now_ms: i64,
    /// Lease end, epoch ms (Powertools: now + the invocation's remaining time).
    pub lease_until_ms: i64,
    /// Claims allowed per version before it is left FAILED.
    pub max_attempts: u32,
    /// TTL, epoch seconds.
    pub expires_at: i64,
    /// Unique to this claim ([`claim_token`]): tells this claim's own write from another's
    /// when a retried request meets it.
    pub token: String,
}

impl ClaimRequest {
    /// A claim by `owner` at `now_ms`: its lease ends at `lease_until_ms` (the invocation's
    /// deadline, or now + the lease), it may be retried up to `max_attempts` times, and its item
    /// expires `ttl_ms` after now (DynamoDB TTL and the local ledger read seconds). A fresh
    /// [`claim_token`] is drawn for it.
    pub fn new(
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        max_attempts: u32,
        ttl_ms: i64,
    ) -> Self {
        Self {
            owner: owner.to_owned(),
            now_ms,
            lease_until_ms,
            max_attempts,
            expires_at: (now_ms + ttl_ms) / 1000,
            token: claim_token(owner),
        }
    }
}

/// A token unique to one claim by `owner` (a Lambda request id, or `host:pid:start`): the owner
/// and a counter of this process.
pub fn claim_token(owner: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{owner}/{n}")
}

/// What [`Ledger::finish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The result is recorded; the version's attempts so far.
    Recorded {
        /// Claims made of the version.
        attempts: u32,
    },
    /// The item is not this run's to finish (another run took it over, or it holds the other
    /// result): the run's end is stale and nothing was written. The failed condition, as a
    /// domain result, not an error.
    NotOwned,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim (IN_PROGRESS) and must start the run, or release.
    Claimed {
        /// 1 for the first claim of this version; `None` when the backend does not return it
        /// (DynamoDB's transactional claim; `finish` reports the attempts either way).
        attempt: Option<u32>,
    },
    /// Already claimed, started or done: skip (not an error).
    Duplicate {
        /// Its state.
        status: Status,
        /// Its run, when started.
        job_run_id: Option<String>,
    },
    /// A newer version of the same key was seen (by sequencer): skip this older one.
    Superseded {
        /// The newer sequencer.
        newer: String,
    },
    /// Another version of the same key is being processed; try again later.
    KeyBusy {
        /// The other version's item id.
        other: String,
    },
    /// FAILED and out of attempts.
    Exhausted {
        /// Claims made.
        attempts: u32,
    },
}

/// How a run ended for a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
    /// Processed.
    Succeeded,
    /// Processed by not publishing it: the key's current version was already another one (its
    /// rows replace this version's). Recorded SUCCEEDED with [`ATTR_SUPERSEDED_BY`].
    Superseded {
        /// The newer version's name.
        by: String,
    },
    /// Failed, with the reason.
    Failed(String),
}

impl RunResult {
    /// The status it is recorded as.
    pub fn status(&self) -> Status {
        match self {
            RunResult::Succeeded | RunResult::Superseded { .. } => Status::Succeeded,
            RunResult::Failed(_) => Status::Failed,
        }
    }
}

/// A ledger error. `retryable` says whether trying again may succeed (throttling, a busy
/// database, a network error) or not (a lost claim, a malformed item).
#[derive(Debug, Clone)]
pub struct LedgerError {
    /// `sqlite` or `dynamodb`.
    pub backend: &'static str,
    /// The operation (`claim`, `start`, …).
    pub operation: &'static str,
    /// The item.
    pub id: String,
    /// What went wrong.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// The error underneath (the AWS SDK's, SQLite's), shared so that the error stays `Clone`
    /// (one failed claim fails every object of a batch).
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ledger {}: {} `{}`: {}",
            self.backend, self.operation, self.id, self.message
        )
    }
}

impl std::error::Error for LedgerError {
    /// The underlying error itself (not the `Arc` holding it), so callers can downcast it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl LedgerError {
    /// An error with no underlying error (a malformed item, a lost condition).
    pub fn new(
        backend: &'static str,
        operation: &'static str,
        id: impl Into<String>,
        message: impl Into<String>,
        retryable: bool,
    ) -> Self {
        Self {
            backend,
            operation,
            id: id.into(),
            message: message.into(),
            retryable,
            source: None,
        }
    }

    /// The same error, caused by `source`.
    #[must_use]
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
}

/// The ledger operations (DESIGN.md §4). Every transition is conditional on the current state
/// (and on the claim's owner or the run id), so a slow or crashed claimant can never overwrite
/// the outcome of a later one.
pub trait Ledger: Send + Sync {
    /// Claims a version (absent → IN_PROGRESS, or re-claims per [`claim_decision`]), applying
    /// the out-of-order guard when the object has a sequencer.
    fn claim(
        &self,
        object: &ObjectVersion,
        request: &ClaimRequest,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send;

    /// IN_PROGRESS (held by `owner`) → STARTED with `job_run_id`; `lease_until_ms` bounds how
    /// long the run may go silent before it counts as lost (local runs).
    fn start(
        &self,
        id: &str,
        owner: &str,
        job_run_id: &str,
        lease_until_ms: i64,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Gives up a claim that started no run (IN_PROGRESS held by `owner` → absent), so a retry
    /// can claim it at once.
    fn release(
        &self,
        id: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// STARTED with `job_run_id` → SUCCEEDED or FAILED. Idempotent for the same run and result
    /// (the Glue job records each object's result, then the run's end event records the run's);
    /// any other state, or another run, is [`Finished::NotOwned`]. `Err` is only for a ledger
    /// that could not be asked or answered otherwise (throttling, access, validation).
    fn finish(
        &self,
        id: &str,
        job_run_id: &str,
        result: &RunResult,
    ) -> impl Future<Output = Result<Finished, LedgerError>> + Send;

    /// Reads one item.
    fn get(&self, id: &str)
    -> impl Future<Output = Result<Option<LedgerItem>, LedgerError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_request_expires_its_ttl_after_now_with_a_fresh_token() {
        let a = ClaimRequest::new("req-1", 1_700_000_000_500, 1_700_000_060_000, 3, 86_400_000);
        assert_eq!(a.expires_at, 1_700_086_400);
        assert_eq!(a.lease_until_ms, 1_700_000_060_000);
        let b = ClaimRequest::new("req-1", 1_700_000_000_500, 1_700_000_060_000, 3, 86_400_000);
        assert_ne!(a.token, b.token, "each claim has its own token");
        assert!(a.token.starts_with("req-1/"), "{}", a.token);
    }

    #[test]
    fn claim_rule() {
        let now = 10_000;
        let mut item = LedgerItem::new("x", Status::Started, "a", now + 1);
        assert_eq!(
            claim_decision(Some(&item), now, 3),
            ClaimCheck::Held(Status::Started)
        );
        item.status = Status::Succeeded;
        assert_eq!(
            claim_decision(Some(&item), now, 3),
            ClaimCheck::Held(Status::Succeeded)
        );
        item.status = Status::Failed;
        item.attempts = 2;
        assert_eq!(claim_decision(Some(&item), now, 3), ClaimCheck::Claimable);
        item.attempts = 3;
        assert_eq!(claim_decision(Some(&item), now, 3), ClaimCheck::Exhausted);
        item.status = Status::InProgress;
        item.lease_until_ms = now;
        assert_eq!(
            claim_decision(Some(&item), now, 3),
            ClaimCheck::Held(Status::InProgress),
            "a lease ending now is still held"
        );
    }

    #[test]
    fn sequencers_compare_as_hex_numbers() {
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
            Ordering::Less
        );
        // Right-padded: "0A" is "0A", "9" is "90".
        assert_eq!(compare_sequencers("0A", "9"), Ordering::Less);
        assert_eq!(compare_sequencers("ff00", "FF"), Ordering::Equal);
        assert_eq!(compare_sequencers("ff01", "FF"), Ordering::Greater);
    }

    #[test]
    fn ids_and_source_names() {
        let o = ObjectVersion {
            store: "s3://raw-bucket".into(),
            key: "app/a b.json".into(),
            version: "v1".into(),
            size: 3,
            sequencer: None,
        };
        assert_eq!(o.id(), "s3://raw-bucket/app/a b.json#v1");
        assert_eq!(o.source_name(), "raw-bucket/app/a b.json");
        let local = ObjectVersion {
            store: "raw".into(),
            ..o
        };
        assert_eq!(local.source_name(), "raw/app/a b.json");
        assert_eq!(Status::parse("STARTED"), Some(Status::Started));
        assert_eq!(Status::parse("started"), None);
    }
}
