//! Numbered SQL migrations for PromptHelm.
//!
//! Files named `NNNN_name.sql` are validated and split into statements with sqlparser
//! ([`load_dir`], [`parse_migration`]), then applied in order, each exactly once and each
//! in its own transaction, and recorded in [`TRACKING_TABLE`] ([`migrate`]).
//!
//! The database side sits behind [`MigrationDatabase`] so the same runner serves the
//! local runtime (rusqlite, feature `rusqlite`) and a CI deploy step against remote libSQL.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};

mod parse;
#[cfg(feature = "rusqlite")]
pub mod sqlite;

pub use parse::{load_dir, parse_migration};

/// Table recording applied migrations:
/// `(version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`.
pub const TRACKING_TABLE: &str = "_prompthelm_migrations";

/// Creates [`TRACKING_TABLE`] if it is missing.
pub const CREATE_TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS _prompthelm_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)";

/// One migration file, split into statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// From the file name prefix (`0001_init.sql` -> 1).
    pub version: u32,
    /// From the file name (`0001_init.sql` -> `init`).
    pub name: String,
    /// E.g. `0001_init.sql`.
    pub file_name: String,
    /// Original SQL text of each statement, trimmed, without the trailing `;`.
    pub statements: Vec<String>,
    /// Lowercase hex SHA-256 of the file contents.
    pub checksum: String,
}

impl Migration {
    /// Names statement `index` (from 0) of this file in an error: the file,
    /// the statement's number and its first line.
    pub fn statement_failed(&self, index: usize) -> String {
        let first_line = self.statements.get(index).and_then(|s| s.lines().next());
        format!(
            "{}: statement {} `{}` failed",
            self.file_name,
            index + 1,
            first_line.unwrap_or("").trim()
        )
    }
}

/// A row of [`TRACKING_TABLE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: u32,
    pub name: String,
    pub checksum: String,
}

/// What one [`migrate`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Newly applied by this run, in order.
    pub applied: Vec<AppliedMigration>,
    /// Already applied before (including ones another process applied concurrently).
    pub already_applied: usize,
}

/// The database a migration run talks to.
pub trait MigrationDatabase {
    /// Ensures the tracking table exists and returns what is applied, ordered by version.
    fn applied(&mut self) -> Result<Vec<AppliedMigration>>;

    /// Runs every statement of `migration` and records it in the tracking table, all in
    /// ONE transaction: on any error nothing of it stays. Implementations must re-check
    /// inside the transaction that the version is not already recorded (two runtimes
    /// starting at once), and skip if it is. Returns true if applied now.
    fn apply(&mut self, migration: &Migration) -> Result<bool>;
}

/// Checks what a database has applied against the migration files and
/// returns the pending ones, in order. Refuses when two files share a number,
/// when an applied version's checksum differs from its file, or when the
/// database has an applied version with no file (a build older than the
/// database). Pure: shared by [`migrate`] and by the app's own runner (which
/// applies the same files through Spin's SQLite interface).
pub fn plan<'m>(
    applied: &[AppliedMigration],
    migrations: &'m [Migration],
) -> Result<Vec<&'m Migration>> {
    let mut files: BTreeMap<u32, &Migration> = BTreeMap::new();
    for migration in migrations {
        if let Some(other) = files.insert(migration.version, migration) {
            bail!(
                "{} and {} both have number {}",
                other.file_name,
                migration.file_name,
                migration.version
            );
        }
    }
    let mut done = BTreeSet::new();
    for row in applied {
        let Some(file) = files.get(&row.version) else {
            bail!(
                "the database has migration {} ({}) applied but there is no file for it; \
                 is this build older than the database?",
                row.version,
                row.name
            );
        };
        if file.checksum != row.checksum {
            bail!(
                "{} was edited after it was applied (applied checksum {}, file checksum {}); \
                 restore it and add a new migration instead",
                file.file_name,
                row.checksum,
                file.checksum
            );
        }
        done.insert(row.version);
    }
    Ok(files
        .into_values()
        .filter(|m| !done.contains(&m.version))
        .collect())
}

/// Applies pending migrations in order (see [`plan`] for what is refused
/// before anything is applied). A failing migration stops the run; the ones
/// before it stay applied.
pub fn migrate(
    db: &mut impl MigrationDatabase,
    migrations: &[Migration],
) -> Result<MigrationReport> {
    let applied = db.applied().context("reading applied migrations")?;
    // Check everything before applying anything.
    let pending = plan(&applied, migrations)?;

    let mut report = MigrationReport {
        applied: Vec::new(),
        already_applied: applied.len(),
    };
    for migration in pending {
        let applied_now = db
            .apply(migration)
            .with_context(|| format!("applying {}", migration.file_name))?;
        if applied_now {
            report.applied.push(AppliedMigration {
                version: migration.version,
                name: migration.name.clone(),
                checksum: migration.checksum.clone(),
            });
        } else {
            report.already_applied += 1;
        }
    }
    Ok(report)
}
