//! Applies `migrations/` to the app's `default` database: at `up`, and alone
//! as `prompthelm migrate` (a deploy step, kept off the request path).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use prompthelm_manifest::AppManifest;
use prompthelm_migrations::sqlite::SqliteMigrationDatabase;
use prompthelm_migrations::{
    AppliedMigration, CREATE_TRACKING_TABLE, Migration, MigrationDatabase, MigrationReport,
    TRACKING_TABLE,
};

use crate::app::Database;
use crate::factors::bindings::spin::sqlite::sqlite::{Error, QueryResult, Value};
use crate::factors::sqlite::{SqliteBackend as _, SqliteConnection, Wait};

/// Applies the app's `migrations/` (beside spin.toml) to its `default` database.
pub fn apply_to_default(
    manifest: &AppManifest,
    databases: &BTreeMap<String, Database>,
) -> anyhow::Result<()> {
    let db = databases
        .get("default")
        .context("the runtime config has no `default` sqlite database")?;
    apply(db, &manifest.dir.join("migrations"))
}

fn apply(db: &Database, dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        eprintln!("No migrations: {} does not exist", dir.display());
        return Ok(());
    }
    let migrations = prompthelm_migrations::load_dir(dir)?;
    let (report, name) = match db {
        Database::File(db) => {
            let name = db.path().display().to_string();
            let mut conn = db
                .open_connection()
                .with_context(|| format!("opening {name} for migrations"))?;
            let report = prompthelm_migrations::migrate(
                &mut SqliteMigrationDatabase::new(&mut conn),
                &migrations,
            );
            (report, name)
        }
        Database::Libsql(db) => {
            let name = format!("libSQL database {}", db.url());
            let conn = db
                .connect()
                .map_err(|e| anyhow!("connecting to {name}: {}", describe(e)))?;
            let report =
                prompthelm_migrations::migrate(&mut ConnectionMigrations(conn), &migrations);
            (report, name)
        }
    };
    let report: MigrationReport = report.with_context(|| format!("migrating {name}"))?;
    for m in &report.applied {
        eprintln!("Applied migration {:04}_{}", m.version, m.name);
    }
    eprintln!(
        "Database {name}: {} migration(s) applied now, {} already applied",
        report.applied.len(),
        report.already_applied
    );
    Ok(())
}

/// Migrations through the runtime's own [`SqliteConnection`]: how a remote
/// (libSQL) database is migrated, with the same tracking table and the same
/// one-transaction-per-file rule as the rusqlite runner and the app's own.
struct ConnectionMigrations(Box<dyn SqliteConnection>);

impl ConnectionMigrations {
    fn run(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<QueryResult> {
        match self.0.query(sql, params, Wait::Allowed) {
            Ok(Some(rows)) => Ok(rows),
            Ok(None) => Err(anyhow!("`{sql}` did not run")),
            Err(e) => Err(anyhow!("{}", describe(e))),
        }
    }
}

fn describe(e: Error) -> String {
    match e {
        Error::Io(message) => message,
        other => format!("{other:?}"),
    }
}

fn text(row: &[Value], i: usize) -> anyhow::Result<String> {
    match row.get(i) {
        Some(Value::Text(t)) => Ok(t.clone()),
        other => Err(anyhow!(
            "{TRACKING_TABLE}: column {i} is {other:?}, expected text"
        )),
    }
}

impl MigrationDatabase for ConnectionMigrations {
    fn applied(&mut self) -> anyhow::Result<Vec<AppliedMigration>> {
        self.run(CREATE_TRACKING_TABLE, &[])?;
        let rows = self.run(
            &format!("SELECT version, name, checksum FROM {TRACKING_TABLE} ORDER BY version"),
            &[],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                let version = match row.values.first() {
                    Some(Value::Integer(v)) => u32::try_from(*v)?,
                    other => anyhow::bail!("{TRACKING_TABLE}: a version {other:?}"),
                };
                Ok(AppliedMigration {
                    version,
                    name: text(&row.values, 1)?,
                    checksum: text(&row.values, 2)?,
                })
            })
            .collect()
    }

    fn apply(&mut self, migration: &Migration) -> anyhow::Result<bool> {
        // IMMEDIATE: a second runner waits, then sees the row below.
        self.run("BEGIN IMMEDIATE", &[])?;
        let applied = self.apply_in_transaction(migration);
        match applied {
            Ok(applied_now) => {
                self.run("COMMIT", &[])?;
                Ok(applied_now)
            }
            Err(e) => {
                if let Err(rollback) = self.run("ROLLBACK", &[]) {
                    eprintln!("rollback after a failed migration failed: {rollback:#}");
                }
                Err(e)
            }
        }
    }
}

impl ConnectionMigrations {
    fn apply_in_transaction(&mut self, migration: &Migration) -> anyhow::Result<bool> {
        self.run(CREATE_TRACKING_TABLE, &[])?;
        let version = Value::Integer(i64::from(migration.version));
        let recorded = self.run(
            &format!("SELECT 1 FROM {TRACKING_TABLE} WHERE version = ?1"),
            std::slice::from_ref(&version),
        )?;
        if !recorded.rows.is_empty() {
            return Ok(false);
        }
        for (index, statement) in migration.statements.iter().enumerate() {
            self.run(statement, &[])
                .with_context(|| migration.statement_failed(index))?;
        }
        self.run(
            &format!("INSERT INTO {TRACKING_TABLE} (version, name, checksum) VALUES (?1, ?2, ?3)"),
            &[
                version,
                Value::Text(migration.name.clone()),
                Value::Text(migration.checksum.clone()),
            ],
        )?;
        Ok(true)
    }
}
