//! Applies `migrations/` to the app's `default` database: at `up`, and alone
//! as `prompthelm migrate` (a deploy step, kept off the request path).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use prompthelm_manifest::AppManifest;
use prompthelm_migrations::sqlite::SqliteMigrationDatabase;

use crate::factors::sqlite::FileDatabase;

/// Applies the app's `migrations/` (beside spin.toml) to its `default` database.
pub fn apply_to_default(
    manifest: &AppManifest,
    databases: &BTreeMap<String, Arc<FileDatabase>>,
) -> anyhow::Result<()> {
    let db = databases
        .get("default")
        .context("the runtime config has no `default` sqlite database")?;
    apply(db, &manifest.dir.join("migrations"))
}

fn apply(db: &FileDatabase, dir: &Path) -> anyhow::Result<()> {
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
