//! Schema migrations: the file records which have been applied, so a store
//! written by an older kuulo is brought up to date on open.

use std::time::SystemTime;

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::StoreError;
use crate::store::random_secret;
use crate::types::to_millis;

/// Schema migrations in order; entry `i` brings the schema to version `i + 1`.
/// Never edit a released entry: add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_2_purge.sql"),
];

/// Applies every migration the file lacks, each in its own transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         ) STRICT;",
    )?;
    let supported = MIGRATIONS.len() as u32;
    loop {
        // IMMEDIATE takes the write lock before the version is read, so two
        // processes opening a new file at once cannot both apply a step.
        // Schema change and version bump commit together: a crash leaves
        // the file at the old version, ready to retry.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = current_version(&tx)?;
        if found > supported {
            return Err(StoreError::NewerSchema { found, supported });
        }
        let Some(sql) = MIGRATIONS.get(found as usize) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![found + 1, to_millis(SystemTime::now())],
        )?;
        tx.commit()?;
    }
}

/// The number of migrations applied.
pub(crate) fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

/// The setting `key`, created with a random value on first use.
pub(crate) fn setting_or_init(conn: &mut Connection, key: &str) -> Result<Vec<u8>, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        params![key, random_secret()],
    )?;
    let value = tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
        r.get(0)
    })?;
    tx.commit()?;
    Ok(value)
}
