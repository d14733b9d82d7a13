//! [`MigrationDatabase`] over a rusqlite connection (the local runtime's database).

use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::{
    AppliedMigration, CREATE_TRACKING_TABLE, Migration, MigrationDatabase, TRACKING_TABLE,
};

pub struct SqliteMigrationDatabase<'c> {
    conn: &'c mut Connection,
}

impl<'c> SqliteMigrationDatabase<'c> {
    pub fn new(conn: &'c mut Connection) -> Self {
        Self { conn }
    }
}

fn create_tracking_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE_TRACKING_TABLE)
}

impl MigrationDatabase for SqliteMigrationDatabase<'_> {
    fn applied(&mut self) -> Result<Vec<AppliedMigration>> {
        create_tracking_table(self.conn).with_context(|| format!("creating {TRACKING_TABLE}"))?;
        let mut query = self.conn.prepare(&format!(
            "SELECT version, name, checksum FROM {TRACKING_TABLE} ORDER BY version"
        ))?;
        let rows = query.query_map([], |row| {
            Ok(AppliedMigration {
                version: row.get(0)?,
                name: row.get(1)?,
                checksum: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn apply(&mut self, migration: &Migration) -> Result<bool> {
        // IMMEDIATE takes the write lock up front, so a second runtime starting at the
        // same time waits (busy timeout) and then sees the row below, instead of both
        // running the file. Dropping `tx` without commit rolls everything back.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // `apply` may be called without `applied` first.
        create_tracking_table(&tx).with_context(|| format!("creating {TRACKING_TABLE}"))?;
        let recorded: bool = tx.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {TRACKING_TABLE} WHERE version = ?1)"),
            [migration.version],
            |row| row.get(0),
        )?;
        if recorded {
            return Ok(false);
        }
        for (index, statement) in migration.statements.iter().enumerate() {
            // execute_batch, not execute: a statement may return rows (e.g. SELECT).
            tx.execute_batch(statement)
                .with_context(|| migration.statement_failed(index))?;
        }
        tx.execute(
            &format!("INSERT INTO {TRACKING_TABLE} (version, name, checksum) VALUES (?1, ?2, ?3)"),
            params![migration.version, migration.name, migration.checksum],
        )?;
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MigrationReport, load_dir, migrate, parse_migration};

    fn m(file_name: &str, sql: &str) -> Migration {
        parse_migration(file_name, sql).unwrap()
    }

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [name],
            |row| row.get(0),
        )
        .unwrap()
    }

    fn recorded_versions(conn: &Connection) -> Vec<u32> {
        let mut q = conn
            .prepare(&format!(
                "SELECT version FROM {TRACKING_TABLE} ORDER BY version"
            ))
            .unwrap();
        q.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn base() -> Vec<Migration> {
        vec![
            m(
                "0001_a.sql",
                "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT) STRICT;",
            ),
            m(
                "0002_b.sql",
                "CREATE TABLE b (k TEXT PRIMARY KEY) WITHOUT ROWID;\nINSERT INTO b VALUES ('x;y');",
            ),
        ]
    }

    #[test]
    fn applies_each_migration_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        let migrations = base();
        let first = migrate(&mut SqliteMigrationDatabase::new(&mut conn), &migrations).unwrap();
        let versions: Vec<u32> = first.applied.iter().map(|a| a.version).collect();
        assert_eq!((versions, first.already_applied), (vec![1, 2], 0));

        let second = migrate(&mut SqliteMigrationDatabase::new(&mut conn), &migrations).unwrap();
        assert_eq!(
            second,
            MigrationReport {
                applied: vec![],
                already_applied: 2
            }
        );
        let value: String = conn.query_row("SELECT k FROM b", [], |r| r.get(0)).unwrap();
        assert_eq!(value, "x;y");
        let applied_at: String = conn
            .query_row(
                &format!("SELECT applied_at FROM {TRACKING_TABLE} WHERE version = 1"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(applied_at.ends_with('Z'), "{applied_at}");
    }

    #[test]
    fn apply_skips_a_version_already_recorded() {
        let mut conn = Connection::open_in_memory().unwrap();
        let mut db = SqliteMigrationDatabase::new(&mut conn);
        let migration = m("0001_a.sql", "CREATE TABLE a (x);");
        assert!(db.apply(&migration).unwrap());
        // Would fail ("table a already exists") if it ran again.
        assert!(!db.apply(&migration).unwrap());
    }

    #[test]
    fn failing_statement_leaves_nothing_of_its_file() {
        let mut conn = Connection::open_in_memory().unwrap();
        let mut migrations = base();
        migrations.push(m(
            "0003_broken.sql",
            "CREATE TABLE c (x);\nINSERT INTO no_such_table VALUES (1);",
        ));
        let err = migrate(&mut SqliteMigrationDatabase::new(&mut conn), &migrations).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("applying 0003_broken.sql"), "{err}");
        assert!(
            err.contains("statement 2 `INSERT INTO no_such_table VALUES (1)` failed"),
            "{err}"
        );
        assert!(err.contains("no such table"), "{err}");
        assert!(!table_exists(&conn, "c"));
        assert!(table_exists(&conn, "a") && table_exists(&conn, "b"));
        assert_eq!(recorded_versions(&conn), [1, 2]);
    }

    #[test]
    fn edited_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut SqliteMigrationDatabase::new(&mut conn), &base()[..1]).unwrap();
        let mut edited = base();
        edited[0] = m("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);");
        let err = migrate(&mut SqliteMigrationDatabase::new(&mut conn), &edited).unwrap_err();
        assert!(
            err.to_string()
                .contains("0001_a.sql was edited after it was applied"),
            "{err}"
        );
        // Refused before applying anything: 0002 stays pending.
        assert_eq!(recorded_versions(&conn), [1]);
        assert!(!table_exists(&conn, "b"));
    }

    #[test]
    fn unknown_applied_version_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut SqliteMigrationDatabase::new(&mut conn), &base()).unwrap();
        let err = migrate(&mut SqliteMigrationDatabase::new(&mut conn), &base()[..1]).unwrap_err();
        assert!(
            err.to_string()
                .contains("migration 2 (b) applied but there is no file"),
            "{err}"
        );
    }

    #[test]
    fn repository_migrations_apply() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let migrations = load_dir(&dir).unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        let report = migrate(&mut SqliteMigrationDatabase::new(&mut conn), &migrations).unwrap();
        assert_eq!(report.applied.len(), migrations.len());
        let owner: String = conn
            .query_row(
                "SELECT value FROM app_meta WHERE key = 'schema_owner'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(owner, "prompthelm");
    }
}
