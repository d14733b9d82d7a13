//! What `prompthelm up` refuses to start with, and what it does at start.

use std::path::Path;

use crate::harness::{Options, Runtime, app_manifest, probe_manifest, repo_root};

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
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n",
    )
    .unwrap();
    let stderr = start_fails(
        Options::new(app_manifest())
            .arg("--runtime-config-file")
            .arg(config.to_str().unwrap()),
    );
    assert!(stderr.contains("redis"), "{stderr}");
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
    let files = std::fs::read_dir(repo_root().join("migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
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
