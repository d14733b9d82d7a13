//! Applies `migrations/` to the app's `default` database: at `up`, and alone
//! as `prompthelm migrate` (a deploy step, kept off the request path).

use std::path::Path;

use anyhow::Context as _;
use prompthelm_migrations::sqlite::SqliteMigrationDatabase;

use crate::factors::sqlite::FileDatabase;

pub fn apply(db: &FileDatabase, dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        eprintln!("No migrations: {} does not exist", dir.display());
        return Ok(());
    }
    let migrations = prompthelm_migrations::load_dir(dir)?;
    let mut conn = db
        .open_connection()
        .with_context(|| format!("opening {} for migrations", db.path().display()))?;
    let report =
        prompthelm_migrations::migrate(&mut SqliteMigrationDatabase::new(&mut conn), &migrations)
            .with_context(|| format!("migrating {}", db.path().display()))?;
    for m in &report.applied {
        eprintln!("Applied migration {:04}_{}", m.version, m.name);
    }
    eprintln!(
        "Database {}: {} migration(s) applied now, {} already applied",
        db.path().display(),
        report.applied.len(),
        report.already_applied
    );
    Ok(())
}
