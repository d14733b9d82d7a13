//! The app brings its own schema up to date, through the same Spin SQLite
//! interface it uses for everything else, so `spin up` on an empty state, a
//! Turso database and a SpinKube rollout all end in the schema of
//! `migrations/` with no manual step (the local runtime also applies them at
//! start, with the same tracking table and checksums).
//!
//! The first [`Db::open`](crate::db::Db::open) of each instance calls
//! [`ensure_current`]: two reads when the schema is current. Pending files
//! are applied in order, each in its own `BEGIN IMMEDIATE` transaction that
//! re-checks the tracking table first, so replicas (or instances) starting
//! together wait for the write lock and then skip what another applied:
//! each file is applied exactly once. What is refused before anything is
//! applied (an edited file, a database newer than this build) is
//! `prompthelm_migrations::plan`'s.

use std::sync::atomic::{AtomicBool, Ordering};

use prompthelm_component_kit::{ApiError, StatusCode};
use prompthelm_domain::envelope::codes;
use prompthelm_migrations::{AppliedMigration, Migration, TRACKING_TABLE};
use spin_sdk::sqlite::Value;

use crate::db::Db;

/// One file of `migrations/`, embedded by build.rs.
pub struct Embedded {
    pub version: u32,
    pub name: &'static str,
    pub file_name: &'static str,
    pub checksum: &'static str,
    pub statements: &'static [&'static str],
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Set once this instance has seen the schema current. Schemas only move
/// forward, so it never has to be cleared, and it holds nothing of any
/// request (safe under instance reuse).
static CURRENT: AtomicBool = AtomicBool::new(false);

impl Db {
    /// Opens the `default` database, bringing its schema up to date on the
    /// first open of this instance ([`ensure_current`]).
    pub async fn open() -> Result<Db, ApiError> {
        let db = Db::connect().await?;
        ensure_current(&db).await?;
        Ok(db)
    }
}

/// Brings the schema up to date, once per instance. A schema that cannot be
/// brought up to date is `503 SCHEMA_NOT_READY`, naming why.
pub async fn ensure_current(db: &Db) -> Result<(), ApiError> {
    if CURRENT.load(Ordering::Relaxed) {
        return Ok(());
    }
    bring_up_to_date(db).await.map_err(not_ready)?;
    CURRENT.store(true, Ordering::Relaxed);
    Ok(())
}

fn not_ready(reason: String) -> ApiError {
    eprintln!("schema: not ready: {reason}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::SCHEMA_NOT_READY,
        format!("the database schema is not up to date: {reason}"),
    )
}

/// The embedded files as the migration planner takes them.
pub fn migrations() -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|m| Migration {
            version: m.version,
            name: m.name.to_owned(),
            file_name: m.file_name.to_owned(),
            statements: m.statements.iter().map(|s| (*s).to_owned()).collect(),
            checksum: m.checksum.to_owned(),
        })
        .collect()
}

async fn bring_up_to_date(db: &Db) -> Result<(), String> {
    let files = migrations();
    let applied = applied(db).await.map_err(|e| e.message)?;
    let pending = prompthelm_migrations::plan(&applied, &files).map_err(|e| format!("{e:#}"))?;
    for migration in pending {
        apply(db, migration)
            .await
            .map_err(|e| format!("applying {}: {}", migration.file_name, e.message))?;
    }
    Ok(())
}

/// What the tracking table records (nothing when it does not exist yet).
async fn applied(db: &Db) -> Result<Vec<AppliedMigration>, ApiError> {
    let exists = db
        .row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            [Value::Text(TRACKING_TABLE.to_owned())],
        )
        .await?
        .is_some();
    if !exists {
        return Ok(Vec::new());
    }
    db.rows(
        &format!("SELECT version, name, checksum FROM {TRACKING_TABLE} ORDER BY version"),
        [],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(AppliedMigration {
            version: u32::try_from(row.int(0)?)
                .map_err(|_| ApiError::internal("a migration version out of range"))?,
            name: row.text(1)?,
            checksum: row.text(2)?,
        })
    })
    .collect()
}

/// Applies one file and records it, in one transaction that first checks
/// nobody recorded it meanwhile.
async fn apply(db: &Db, migration: &Migration) -> Result<(), ApiError> {
    db.transaction(async |db| {
        db.run(
            &format!(
                "CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    checksum TEXT NOT NULL,
                    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                )"
            ),
            [],
        )
        .await?;
        let recorded = db
            .row(
                &format!("SELECT 1 FROM {TRACKING_TABLE} WHERE version = ?"),
                [Value::Integer(i64::from(migration.version))],
            )
            .await?
            .is_some();
        if recorded {
            return Ok(());
        }
        for statement in &migration.statements {
            db.rows(statement, []).await?;
        }
        db.run(
            &format!("INSERT INTO {TRACKING_TABLE} (version, name, checksum) VALUES (?, ?, ?)"),
            [
                Value::Integer(i64::from(migration.version)),
                Value::Text(migration.name.clone()),
                Value::Text(migration.checksum.clone()),
            ],
        )
        .await?;
        eprintln!("schema: applied {}", migration.file_name);
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_are_migrations_as_the_runtime_loads_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let on_disk = prompthelm_migrations::load_dir(&dir).unwrap();
        assert_eq!(migrations(), on_disk);
        assert!(migrations().len() >= 5);
        // A database with everything applied has nothing pending.
        let applied: Vec<AppliedMigration> = on_disk
            .iter()
            .map(|m| AppliedMigration {
                version: m.version,
                name: m.name.clone(),
                checksum: m.checksum.clone(),
            })
            .collect();
        let files = migrations();
        assert!(
            prompthelm_migrations::plan(&applied, &files)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            prompthelm_migrations::plan(&applied[..2], &files)
                .unwrap()
                .len(),
            files.len() - 2
        );
    }
}
