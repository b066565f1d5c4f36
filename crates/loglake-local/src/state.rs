//! `state.db`: the SQLite ledger (DESIGN.md §4) and catalog (modelled on the Glue Data
//! Catalog) of the local pipeline, in one file under the root.
//!
//! Every connection runs in WAL mode with a busy timeout, and every transition is one
//! `BEGIN IMMEDIATE` transaction that re-reads the item, so two `loglake run` processes on one
//! root serialise their claims: exactly one wins each object version.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use loglake_core::ledger::{
    Claim, ClaimCheck, ClaimRequest, Finished, Ledger, LedgerError, LedgerItem, ObjectVersion,
    RunResult, Status, claim_decision, compare_sequencers,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use loglake_core::catalog::CatalogTable;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ledger (
    id          TEXT PRIMARY KEY,
    key_uri     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('IN_PROGRESS','STARTED','SUCCEEDED','FAILED')),
    owner       TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    job_run_id  TEXT,
    sequencer   TEXT,
    error       TEXT,
    expires_at  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    superseded_by TEXT
);
CREATE INDEX IF NOT EXISTS ledger_key ON ledger (key_uri);
CREATE TABLE IF NOT EXISTS ledger_keys (
    key_uri   TEXT PRIMARY KEY,
    sequencer TEXT NOT NULL,
    id        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS file_versions (
    path     TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    sha256   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_databases (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_tables (
    database       TEXT NOT NULL,
    name           TEXT NOT NULL,
    location       TEXT NOT NULL,
    columns        TEXT NOT NULL,
    partition_keys TEXT NOT NULL,
    schema_json    TEXT NOT NULL,
    PRIMARY KEY (database, name)
);
CREATE TABLE IF NOT EXISTS catalog_partitions (
    database   TEXT NOT NULL,
    table_name TEXT NOT NULL,
    vals       TEXT NOT NULL,
    location   TEXT NOT NULL,
    PRIMARY KEY (database, table_name, vals)
);
CREATE TABLE IF NOT EXISTS catalog_gc (
    location TEXT PRIMARY KEY,
    after_ms INTEGER NOT NULL
);
"#;

/// The state database of a root.
#[derive(Debug)]
pub struct StateDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::State {
        path: path.display().to_string(),
        source,
    }
}

/// Columns added after a `state.db` may have been created: added to an older file when opened.
const ADDED_COLUMNS: [(&str, &str, &str); 2] = [
    ("ledger", "superseded_by", "TEXT"),
    (
        "catalog_partitions",
        "generation",
        "INTEGER NOT NULL DEFAULT 0",
    ),
];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, ty) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))?;
        }
    }
    Ok(())
}

impl StateDb {
    /// Opens (creating) `state.db`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(sql_err(path))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(sql_err(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err(path))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_err(path))?;
        conn.execute_batch(SCHEMA).map_err(sql_err(path))?;
        add_missing_columns(&conn).map_err(sql_err(path))?;
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut conn).map_err(sql_err(&self.path))
    }

    fn ledger_op<T>(
        &self,
        operation: &'static str,
        id: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<std::result::Result<T, String>>,
    ) -> std::result::Result<T, LedgerError> {
        let err = |message: String, retryable: bool| {
            LedgerError::new("sqlite", operation, id, message, retryable)
        };
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let run = |conn: &mut Connection| -> rusqlite::Result<std::result::Result<T, String>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            if out.is_ok() {
                tx.commit()?;
            }
            Ok(out)
        };
        match run(&mut conn) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(err(message, false)),
            Err(e) => {
                let busy = matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                );
                Err(err(format!("{e} ({})", self.path.display()), busy).caused_by(e))
            }
        }
    }

    // ------------------------------------ ledger queries (transitions: `impl Ledger` below)

    /// Reads one item.
    pub fn item(&self, id: &str) -> Result<Option<LedgerItem>> {
        self.with(|c| read_item(c, id))
    }

    /// All items, by id.
    pub fn items(&self) -> Result<Vec<LedgerItem>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("{ITEM_SELECT} ORDER BY id"))?;
            st.query_map([], item_from_row)?.collect()
        })
    }

    /// Takes back claims and runs whose holder is gone: the lease expired, or `is_dead` says the
    /// owner process no longer exists. IN_PROGRESS items are released (deleted); STARTED items
    /// become FAILED ("run lost"), so they are claimable again while attempts are left.
    /// Returns the ids reaped.
    pub fn reap(&self, now_ms: i64, is_dead: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stale: Vec<(String, String, String, i64)> = {
                let mut st = tx.prepare(
                    "SELECT id, status, owner, lease_until FROM ledger \
                     WHERE status IN ('IN_PROGRESS','STARTED')",
                )?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut reaped = Vec::new();
            for (id, status, owner, lease) in stale {
                if lease >= now_ms && !is_dead(&owner) {
                    continue;
                }
                if status == "IN_PROGRESS" {
                    tx.execute(
                        "DELETE FROM ledger WHERE id = ?1 AND status = 'IN_PROGRESS'",
                        [&id],
                    )?;
                } else {
                    tx.execute(
                        "UPDATE ledger SET status = 'FAILED', error = ?2, updated_ms = ?3 \
                         WHERE id = ?1 AND status = 'STARTED'",
                        params![
                            id,
                            format!("run lost: its process ({owner}) ended before finishing"),
                            now_ms
                        ],
                    )?;
                }
                reaped.push(id);
            }
            tx.commit()?;
            Ok(reaped)
        })
    }

    /// Releases every live claim or run held by `owner` (clean shutdown): IN_PROGRESS items are
    /// deleted, STARTED ones marked FAILED with `reason`.
    pub fn release_owner(&self, owner: &str, reason: &str) -> Result<usize> {
        self.with(|c| {
            let a = c.execute(
                "DELETE FROM ledger WHERE owner = ?1 AND status = 'IN_PROGRESS'",
                [owner],
            )?;
            let b = c.execute(
                "UPDATE ledger SET status = 'FAILED', error = ?2, updated_ms = ?3 \
                 WHERE owner = ?1 AND status = 'STARTED'",
                params![owner, reason, now_ms()],
            )?;
            Ok(a + b)
        })
    }

    // ---------------------------------------------------------------- local file versions

    /// The cached SHA-256 of a local file, valid while its mtime and size are unchanged.
    pub fn cached_hash(&self, path: &str, mtime_ns: i64, size: u64) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT sha256 FROM file_versions WHERE path = ?1 AND mtime_ns = ?2 AND size = ?3",
                params![path, mtime_ns, size as i64],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Caches a local file's hash.
    pub fn cache_hash(&self, path: &str, mtime_ns: i64, size: u64, sha256: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO file_versions (path, mtime_ns, size, sha256) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (path) DO UPDATE SET mtime_ns = excluded.mtime_ns, \
                 size = excluded.size, sha256 = excluded.sha256",
                params![path, mtime_ns, size as i64, sha256],
            )
            .map(drop)
        })
    }

    // ---------------------------------------------------------------- catalog

    /// Creates the database and table, or brings the existing one to the schema by the one
    /// rule for schema changes ([`loglake_core::catalog::SchemaChange`]): added columns are
    /// added (files written before read them as null); a removed or retyped column, or other
    /// partition keys, is refused with what to do instead.
    pub fn ensure_table(&self, table: &CatalogTable) -> Result<()> {
        let columns = serde_json::to_string(&table.columns).unwrap_or_default();
        let keys = serde_json::to_string(&table.partition_keys).unwrap_or_default();
        let existing = self.table(&table.database, &table.name)?;
        if let Some(old) = existing {
            let mismatch = |detail: String| Error::CatalogMismatch {
                table: format!("{}.{}", table.database, table.name),
                detail,
            };
            let change = old.change_to(table);
            if !change.refused.is_empty() {
                return Err(mismatch(change.refused.join("; ")));
            }
            if old.location != table.location {
                return Err(mismatch(format!(
                    "it is registered at {} but this run writes to {}",
                    old.location, table.location
                )));
            }
            if change.added.is_empty() {
                return Ok(());
            }
            return self.with(|c| {
                c.execute(
                    "UPDATE catalog_tables SET columns = ?3, schema_json = ?4 \
                     WHERE database = ?1 AND name = ?2",
                    params![table.database, table.name, columns, table.schema_json],
                )
                .map(drop)
            });
        }
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO catalog_databases (name, description) VALUES (?1, ?2)",
                params![table.database, "loglake tables (local catalog)"],
            )?;
            c.execute(
                "INSERT OR IGNORE INTO catalog_tables \
                 (database, name, location, columns, partition_keys, schema_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    table.database,
                    table.name,
                    table.location,
                    columns,
                    keys,
                    table.schema_json
                ],
            )
            .map(drop)
        })
    }

    /// One table.
    pub fn table(&self, database: &str, name: &str) -> Result<Option<CatalogTable>> {
        self.with(|c| {
            c.query_row(
                &format!("{TABLE_SELECT} WHERE database = ?1 AND name = ?2"),
                [database, name],
                table_from_row,
            )
            .optional()
        })
    }

    /// All tables.
    pub fn tables(&self) -> Result<Vec<CatalogTable>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("{TABLE_SELECT} ORDER BY database, name"))?;
            st.query_map([], table_from_row)?.collect()
        })
    }

    /// Registers partitions (idempotent: a partition registered twice is kept once).
    /// Returns how many were new.
    pub fn add_partitions(&self, table: &CatalogTable, partitions: &[Partition]) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut added = 0;
            for p in partitions {
                added += tx.execute(
                    "INSERT OR IGNORE INTO catalog_partitions (database, table_name, vals, location) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        table.database,
                        table.name,
                        serde_json::to_string(&p.values).unwrap_or_default(),
                        p.location
                    ],
                )?;
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// A table's partitions, sorted by values.
    pub fn partitions(&self, database: &str, table: &str) -> Result<Vec<Partition>> {
        self.with(|c| read_partitions(c, database, table))
    }

    /// The atomic step of compaction: the partition's location becomes the new generation's
    /// folder, and the old folder is queued for deletion after `gc_after_ms`, in one
    /// transaction, only if the partition is still at generation `swap.from` and `install()`
    /// succeeds. `install` runs inside the transaction, which holds the write lock that
    /// registering partitions and other compactions need: it checks that the old folder's files
    /// are still the inputs and puts the new generation's folder in place. Returns whether it
    /// switched.
    pub fn swap_partition(
        &self,
        table: &CatalogTable,
        swap: &Swap,
        install: impl FnOnce() -> bool,
    ) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let vals = serde_json::to_string(&swap.values).unwrap_or_default();
            let key = params![table.database, table.name, vals];
            let (location, generation): (String, u64) = tx.query_row(
                "SELECT location, generation FROM catalog_partitions \
                 WHERE database = ?1 AND table_name = ?2 AND vals = ?3",
                key,
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if generation != swap.from || !install() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE catalog_partitions SET location = ?4, generation = ?5 \
                 WHERE database = ?1 AND table_name = ?2 AND vals = ?3",
                params![
                    table.database,
                    table.name,
                    vals,
                    swap.location,
                    swap.from + 1
                ],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO catalog_gc (location, after_ms) VALUES (?1, ?2)",
                params![location, swap.gc_after_ms],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Old generation folders whose grace period has passed.
    pub fn gc_due(&self, now_ms: i64) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT location FROM catalog_gc WHERE after_ms <= ?1 ORDER BY location",
            )?;
            st.query_map([now_ms], |r| r.get(0))?.collect()
        })
    }

    /// An old generation folder was deleted.
    pub fn gc_done(&self, location: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM catalog_gc WHERE location = ?1", [location])
                .map(drop)
        })
    }
}

/// One partition's switch to its next generation (see [`StateDb::swap_partition`]).
#[derive(Debug, Clone)]
pub struct Swap {
    /// The partition's values.
    pub values: Vec<String>,
    /// The generation compacted.
    pub from: u64,
    /// The new generation's folder.
    pub location: String,
    /// When the old folder may be deleted (epoch milliseconds).
    pub gc_after_ms: i64,
}

fn read_partitions(
    c: &Connection,
    database: &str,
    table: &str,
) -> rusqlite::Result<Vec<Partition>> {
    let mut st = c.prepare(
        "SELECT vals, location, generation FROM catalog_partitions \
         WHERE database = ?1 AND table_name = ?2 ORDER BY vals",
    )?;
    st.query_map(params![database, table], |r| {
        let vals: String = r.get(0)?;
        Ok(Partition {
            values: serde_json::from_str(&vals).unwrap_or_default(),
            location: r.get(1)?,
            generation: r.get(2)?,
        })
    })?
    .collect()
}

const ITEM_SELECT: &str = "SELECT id, status, owner, lease_until, attempts, job_run_id, \
                           sequencer, error, expires_at, superseded_by FROM ledger";

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LedgerItem> {
    let status: String = r.get(1)?;
    Ok(LedgerItem {
        id: r.get(0)?,
        status: Status::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown status {status}").into(),
            )
        })?,
        owner: r.get(2)?,
        lease_until_ms: r.get(3)?,
        attempts: r.get(4)?,
        job_run_id: r.get(5)?,
        sequencer: r.get(6)?,
        error: r.get(7)?,
        expires_at: r.get(8)?,
        superseded_by: r.get(9)?,
    })
}

fn read_item(c: &Connection, id: &str) -> rusqlite::Result<Option<LedgerItem>> {
    c.query_row(&format!("{ITEM_SELECT} WHERE id = ?1"), [id], item_from_row)
        .optional()
}

const TABLE_SELECT: &str =
    "SELECT database, name, location, columns, partition_keys, schema_json FROM catalog_tables";

fn table_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CatalogTable> {
    let json = |i: usize, s: String| {
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    Ok(CatalogTable {
        database: r.get(0)?,
        name: r.get(1)?,
        location: r.get(2)?,
        columns: json(3, r.get(3)?)?,
        partition_keys: json(4, r.get(4)?)?,
        schema_json: r.get(5)?,
    })
}

pub use loglake_core::ledger::now_ms;

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Values, in partition-key order.
    pub values: Vec<String>,
    /// Its folder: the current generation's.
    pub location: String,
    /// 0 until compacted, then the generation whose folder `location` is.
    #[serde(default)]
    pub generation: u64,
}

/// The SQLite ledger: each transition is one `BEGIN IMMEDIATE` transaction (see the module
/// docs). The futures are ready at once; callers without a runtime use `block_on`.
impl Ledger for StateDb {
    async fn claim(
        &self,
        object: &ObjectVersion,
        req: &ClaimRequest,
    ) -> std::result::Result<Claim, LedgerError> {
        let id = object.id();
        let key_uri = object.key_uri();
        self.ledger_op("claim", &id, |tx| {
            if let Some(seq) = &object.sequencer {
                let newest: Option<(String, String)> = tx
                    .query_row(
                        "SELECT sequencer, id FROM ledger_keys WHERE key_uri = ?1",
                        [&key_uri],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((newer, newer_id)) = newest
                    && newer_id != id
                    && compare_sequencers(&newer, seq).is_gt()
                {
                    return Ok(Ok(Claim::Superseded { newer }));
                }
            }
            // Another version of the key with a live claim or run: its output would race ours.
            let busy: Option<String> = tx
                .query_row(
                    "SELECT id FROM ledger WHERE key_uri = ?1 AND id != ?2 \
                     AND status IN ('IN_PROGRESS','STARTED') AND lease_until >= ?3 LIMIT 1",
                    params![key_uri, id, req.now_ms],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = busy {
                return Ok(Ok(Claim::KeyBusy { other }));
            }
            let existing = read_item(tx, &id)?;
            match claim_decision(existing.as_ref(), req.now_ms, req.max_attempts) {
                ClaimCheck::Held(status) => Ok(Ok(Claim::Duplicate {
                    status,
                    job_run_id: existing.and_then(|i| i.job_run_id),
                })),
                ClaimCheck::Exhausted => Ok(Ok(Claim::Exhausted {
                    attempts: existing.map_or(0, |i| i.attempts),
                })),
                ClaimCheck::Claimable => {
                    let attempt = existing.as_ref().map_or(0, |i| i.attempts) + 1;
                    tx.execute(
                        "INSERT INTO ledger (id, key_uri, status, owner, lease_until, attempts, \
                         job_run_id, sequencer, error, expires_at, updated_ms) \
                         VALUES (?1, ?2, 'IN_PROGRESS', ?3, ?4, ?5, NULL, ?6, NULL, ?7, ?8) \
                         ON CONFLICT (id) DO UPDATE SET status = 'IN_PROGRESS', \
                         owner = excluded.owner, lease_until = excluded.lease_until, \
                         attempts = excluded.attempts, job_run_id = NULL, \
                         sequencer = excluded.sequencer, expires_at = excluded.expires_at, \
                         updated_ms = excluded.updated_ms",
                        params![
                            id,
                            key_uri,
                            req.owner,
                            req.lease_until_ms,
                            attempt,
                            object.sequencer,
                            req.expires_at,
                            req.now_ms
                        ],
                    )?;
                    if let Some(seq) = &object.sequencer {
                        tx.execute(
                            "INSERT INTO ledger_keys (key_uri, sequencer, id) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (key_uri) DO UPDATE SET sequencer = excluded.sequencer, \
                             id = excluded.id",
                            params![key_uri, seq, id],
                        )?;
                    }
                    Ok(Ok(Claim::Claimed {
                        attempt: Some(attempt),
                    }))
                }
            }
        })
    }

    async fn start(
        &self,
        id: &str,
        owner: &str,
        job_run_id: &str,
        lease_until_ms: i64,
    ) -> std::result::Result<(), LedgerError> {
        self.ledger_op("start", id, |tx| {
            let n = tx.execute(
                "UPDATE ledger SET status = 'STARTED', job_run_id = ?3, lease_until = ?4, \
                 updated_ms = ?5 WHERE id = ?1 AND status = 'IN_PROGRESS' AND owner = ?2",
                params![id, owner, job_run_id, lease_until_ms, now_ms()],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(format!("claim lost: not IN_PROGRESS for owner {owner}"))
            })
        })
    }

    async fn release(&self, id: &str, owner: &str) -> std::result::Result<(), LedgerError> {
        self.ledger_op("release", id, |tx| {
            tx.execute(
                "DELETE FROM ledger WHERE id = ?1 AND status = 'IN_PROGRESS' AND owner = ?2",
                params![id, owner],
            )?;
            Ok(Ok(()))
        })
    }

    async fn finish(
        &self,
        id: &str,
        job_run_id: &str,
        result: &RunResult,
    ) -> std::result::Result<Finished, LedgerError> {
        let status = result.status();
        let (error, superseded_by) = match result {
            RunResult::Succeeded => (None, None),
            RunResult::Superseded { by } => (None, Some(by.as_str())),
            RunResult::Failed(e) => (Some(e.as_str()), None),
        };
        self.ledger_op("finish", id, |tx| {
            let n = tx.execute(
                "UPDATE ledger SET status = ?3, error = ?4, superseded_by = ?5, updated_ms = ?6 \
                 WHERE id = ?1 AND status IN ('STARTED', ?3) AND job_run_id = ?2",
                params![
                    id,
                    job_run_id,
                    status.as_str(),
                    error,
                    superseded_by,
                    now_ms()
                ],
            )?;
            if n != 1 {
                return Ok(Ok(Finished::NotOwned));
            }
            let attempts: u32 =
                tx.query_row("SELECT attempts FROM ledger WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            Ok(Ok(Finished::Recorded { attempts }))
        })
    }

    async fn get(&self, id: &str) -> std::result::Result<Option<LedgerItem>, LedgerError> {
        self.item(id)
            .map_err(|e| LedgerError::new("sqlite", "get", id, e.to_string(), false).caused_by(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `state.db` written before `superseded_by` existed gets the column when opened, keeps
    /// its items, and records a superseded result.
    #[test]
    fn an_older_state_db_gains_the_superseded_by_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let old_schema = SCHEMA.replace(",\n    superseded_by TEXT\n", "\n");
        assert_ne!(old_schema, SCHEMA, "the column is in the schema");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&old_schema).unwrap();
        conn.execute(
            "INSERT INTO ledger (id, key_uri, status, owner, lease_until, attempts, job_run_id, \
             expires_at, updated_ms) VALUES ('raw/a#v1', 'raw/a', 'STARTED', 'o', 0, 1, 'r', 0, 0)",
            [],
        )
        .unwrap();
        drop(conn);
        let db = StateDb::open(&path).unwrap();
        let result = RunResult::Superseded { by: "v2".into() };
        let finished = futures::executor::block_on(db.finish("raw/a#v1", "r", &result)).unwrap();
        assert_eq!(finished, Finished::Recorded { attempts: 1 });
        let item = db.item("raw/a#v1").unwrap().unwrap();
        assert_eq!(
            (item.status, item.superseded_by.as_deref()),
            (Status::Succeeded, Some("v2"))
        );
        drop(db);
        StateDb::open(&path).unwrap(); // opening again adds nothing twice
    }
}
