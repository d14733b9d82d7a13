//! What `prompthelm up` refuses to start with, and what it does at start.

use std::path::Path;

use crate::harness::{
    Options, Runtime, app_manifest, migration_file_count, probe_manifest, repo_root,
};

/// Writes a variant of the probe manifest next to the real one (so relative
/// sources still resolve) and returns its path.
fn probe_variant(dir: &Path, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(probe_manifest()).unwrap();
    let text = text.replace(
        "../../../target/",
        &format!("{}/target/", repo_root().display()),
    );
    let text = text.replace(
        "workdir = \"../../..\"",
        &format!("workdir = \"{}\"", repo_root().display()),
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn start_fails(opts: Options) -> String {
    match Runtime::start(opts) {
        Ok(rt) => panic!("expected a startup error, but it serves at {}", rt.base_url),
        Err(f) => f.stderr,
    }
}

#[test]
fn an_unsupported_manifest_key_is_a_startup_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_variant(dir.path(), |t| {
        t.replace(
            "[component.bare]\n",
            "[component.bare]\nfiles = [\"static/**\"]\n",
        )
    });
    let stderr = start_fails(Options::new(manifest));
    assert!(stderr.contains("component.bare.files"), "{stderr}");
}

#[test]
fn a_required_variable_without_value_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_variant(dir.path(), |t| {
        t.replace(
            "[variables]\n",
            "[variables]\nprovider_key = { required = true, secret = true }\n",
        )
    });
    let stderr = start_fails(Options::new(manifest.clone()));
    assert!(stderr.contains("provider_key"), "{stderr}");
    // Given through the environment, it starts.
    Runtime::probe(Options::new(manifest).env("SPIN_VARIABLE_PROVIDER_KEY", "x"));
}

#[test]
fn a_missing_wasm_says_to_build() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_variant(dir.path(), |t| {
        t.replacen("release/probe.wasm", "release/does-not-exist.wasm", 1)
    });
    let stderr = start_fails(Options::new(manifest));
    assert!(stderr.contains("does-not-exist.wasm"), "{stderr}");
    assert!(stderr.contains("build"), "{stderr}");
}

#[test]
fn an_unsupported_runtime_config_backend_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[key_value_store.default]\ntype = \"azure_cosmos\"\naccount = \"a\"\n",
    )
    .unwrap();
    let stderr = start_fails(
        Options::new(app_manifest())
            .arg("--runtime-config-file")
            .arg(config.to_str().unwrap()),
    );
    assert!(
        stderr.contains("azure_cosmos")
            && stderr.contains("not supported by the local runtime yet"),
        "{stderr}"
    );
}

#[test]
fn runtime_config_places_the_default_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    let db = dir.path().join("elsewhere/app.db");
    std::fs::write(
        &config,
        format!(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    let rt = Runtime::start(
        Options::new(app_manifest())
            .arg("--runtime-config-file")
            .arg(config.to_str().unwrap()),
    )
    .unwrap_or_else(|f| panic!("{}", f.stderr));
    assert_eq!(rt.get("/api/v1/gateway/health").status, 200);
    assert!(db.is_file(), "{} was not created", db.display());
    assert!(!rt.state_dir.join("sqlite_db.db").exists());
}

#[test]
fn migrations_apply_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let files = migration_file_count();
    assert!(files >= 1);

    let first = Runtime::start(Options::new(app_manifest()).state_dir(&state))
        .unwrap_or_else(|f| panic!("{}", f.stderr));
    let logs = first.stop();
    assert!(
        logs.contains(&format!(
            "{files} migration(s) applied now, 0 already applied"
        )),
        "{logs}"
    );

    let second = Runtime::start(Options::new(app_manifest()).state_dir(&state))
        .unwrap_or_else(|f| panic!("{}", f.stderr));
    assert_eq!(second.get("/api/v1/gateway/health").status, 200);
    let logs = second.stop();
    assert!(
        logs.contains(&format!(
            "0 migration(s) applied now, {files} already applied"
        )),
        "{logs}"
    );

    let conn = rusqlite::Connection::open(state.join("sqlite_db.db")).unwrap();
    let recorded: i64 = conn
        .query_row("SELECT COUNT(*) FROM _prompthelm_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(recorded as usize, files);
}

#[test]
fn migrate_command_applies_pending_files_for_a_later_up() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prompthelm"))
        .arg("migrate")
        .arg("--manifest")
        .arg(app_manifest())
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("already applied"), "{stderr}");
    assert!(!stderr.contains(" 0 migration(s) applied now"), "{stderr}");

    let rt = Runtime::start(Options::new(app_manifest()).state_dir(&state))
        .unwrap_or_else(|f| panic!("{}", f.stderr));
    let logs = rt.stop();
    assert!(logs.contains(": 0 migration(s) applied now"), "{logs}");
}

/// A probe app in `dir` with its own `migrations/` holding `files`.
fn app_with_migrations(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let manifest = probe_variant(dir, |t| t);
    let migrations = dir.join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    for (name, sql) in files {
        std::fs::write(migrations.join(name), sql).unwrap();
    }
    manifest
}

#[test]
fn an_invalid_migration_file_stops_startup_naming_file_and_statement() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app_with_migrations(
        dir.path(),
        &[
            ("0001_ok.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "0002_bad.sql",
                "CREATE TABLE b (y INTEGER);\nCREATE TABLE oops (;\n",
            ),
        ],
    );
    let stderr = start_fails(Options::new(manifest));
    assert!(stderr.contains("0002_bad.sql"), "{stderr}");
    assert!(stderr.contains("statement 2"), "{stderr}");
}

#[test]
fn a_failing_migration_applies_nothing_of_its_file() {
    let dir = tempfile::tempdir().unwrap();
    // Valid SQL that fails when run: the file's first statement must be
    // rolled back with it.
    let manifest = app_with_migrations(
        dir.path(),
        &[
            ("0001_ok.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "0002_fails.sql",
                "CREATE TABLE b (y INTEGER);\nINSERT INTO missing_table VALUES (1);\n",
            ),
        ],
    );
    let state = dir.path().join("state");
    let stderr = start_fails(Options::new(manifest).state_dir(&state));
    assert!(stderr.contains("0002_fails.sql"), "{stderr}");

    let conn = rusqlite::Connection::open(state.join("sqlite_db.db")).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tables, ["a"]);
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM _prompthelm_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(versions, [1]);
}

/// Each event loop listens with SO_REUSEPORT, which would let a second
/// `up` on a taken port share it silently; it must fail instead.
#[test]
fn a_port_another_runtime_serves_is_a_startup_error() {
    let first = Runtime::probe(Options::new(probe_manifest()));
    let addr = first.base_url.trim_start_matches("http://").to_owned();
    let stderr = start_fails(
        Options::new(probe_manifest())
            .arg("--listen")
            .arg(addr.clone()),
    );
    assert!(stderr.contains(&format!("listening on {addr}")), "{stderr}");
    // The first one still serves.
    assert_eq!(first.get("/probe/echo/back").status, 200);
}

/// Compiled components are kept as files named by what they are compiled
/// from, and mapped from there: the first start writes them, a restart maps
/// the same files without writing any, and a file no start has used for
/// over a week is removed.
#[test]
fn compiled_components_are_cached_as_files_and_unused_ones_removed() {
    use std::os::unix::fs::MetadataExt as _;
    use std::time::{Duration, SystemTime};

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let compiled_dir = cache.join("components");
    std::fs::create_dir_all(&compiled_dir).unwrap();
    let unused = compiled_dir.join("0123.cwasm");
    std::fs::write(&unused, b"compiled from a .wasm rebuilt since").unwrap();
    std::fs::File::options()
        .append(true)
        .open(&unused)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(8 * 24 * 3600))
        .unwrap();
    let cached = || {
        let mut files: Vec<_> = std::fs::read_dir(&compiled_dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.file_name(), entry.metadata().unwrap().ino())
            })
            .collect();
        files.sort();
        files
    };
    let serve_once = || {
        let rt = Runtime::probe(
            Options::new(probe_manifest()).args(&["--cache-dir", cache.to_str().unwrap()]),
        );
        let reply = rt.get("/probe/echo");
        assert_eq!(reply.status, 200, "{}", reply.body);
        rt.stop();
    };

    serve_once();
    assert!(!unused.exists(), "the unused entry is still there");
    let first = cached();
    // `probe` and `bare` are one .wasm: one compiled file.
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].0.to_string_lossy().ends_with(".cwasm"),
        "{first:?}"
    );

    serve_once();
    assert_eq!(cached(), first, "a restart wrote the compiled code again");
}
