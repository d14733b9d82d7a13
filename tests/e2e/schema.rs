//! The app brings its own schema up to date (issue 15 §1), as it must under
//! `spin up`, on Turso or in a SpinKube rollout, where no runtime applies
//! migrations: `prompthelm up --no-migrate` leaves the database alone, as
//! Spin does, and the components migrate on first use through Spin's SQLite
//! interface, each file exactly once however many replicas start together.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::api::{Client, id, version_body};
use crate::harness::{Options, Runtime, app_manifest, repo_root};

const BOOTSTRAP: &str = "phk_5c0ffee5c0ffee5c0ffee5c0ffee5c0f";

fn like_spin(state: &std::path::Path) -> Options {
    Options::new(app_manifest())
        .state_dir(state)
        .arg("--no-migrate")
        .env("SPIN_VARIABLE_BOOTSTRAP_TOKEN", BOOTSTRAP)
}

/// (version, name, checksum) of every file in migrations/.
fn migration_files() -> Vec<(i64, String, String)> {
    prompthelm_migrations::load_dir(&repo_root().join("migrations"))
        .unwrap()
        .into_iter()
        .map(|m| (i64::from(m.version), m.name, m.checksum))
        .collect()
}

fn recorded(state: &std::path::Path) -> Vec<(i64, String, String)> {
    let db = rusqlite::Connection::open(state.join("sqlite_db.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT version, name, checksum FROM _prompthelm_migrations ORDER BY version")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn an_empty_database_is_brought_up_to_date_by_the_app_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let rt = Runtime::probe(like_spin(&state));
    assert!(
        !rt.logs().contains("PROMPTHELM_API_KEY="),
        "no runtime bootstrap"
    );
    // Nothing applied by the runtime.
    let db = rusqlite::Connection::open(state.join("sqlite_db.db")).unwrap();
    let tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);

    // The first health probe migrates, and says ok.
    let res = rt.get("/api/v1/gateway/health");
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(recorded(&state), migration_files());

    // The walkthrough works on it, with the bootstrap token as the way in.
    let api = Client {
        rt: &rt,
        token: BOOTSTRAP.to_owned(),
    };
    let pid = id(&api.create_prompt("self-migrated"));
    let vid = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    api.promote(&pid, &vid);
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"promptId": pid, "model": "echo", "variables": {"question": "q"}}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
}

#[test]
fn replicas_starting_together_apply_each_migration_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let replicas: Vec<Arc<Runtime>> = (0..3)
        .map(|_| Arc::new(Runtime::probe(like_spin(&state))))
        .collect();
    // Every replica gets its first requests at the same moment, each on
    // fresh instances that all find the schema missing.
    let barrier = Arc::new(Barrier::new(replicas.len() * 4));
    let calls: Vec<_> = replicas
        .iter()
        .flat_map(|rt| (0..4).map(move |_| rt.clone()))
        .map(|rt| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let api = Client {
                    rt: &rt,
                    token: BOOTSTRAP.to_owned(),
                };
                barrier.wait();
                let res = api.get("/api/v1/prompts");
                (res.status, res.body)
            })
        })
        .collect();
    for call in calls {
        let (status, body) = call.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(recorded(&state), migration_files());
    // Each file was applied by exactly one instance of one replica.
    let logs: String = replicas.iter().map(|rt| rt.logs()).collect();
    for file in std::fs::read_dir(repo_root().join("migrations")).unwrap() {
        let file = file.unwrap().file_name().into_string().unwrap();
        if file.ends_with(".sql") {
            let applied = logs.matches(&format!("schema: applied {file}")).count();
            assert_eq!(applied, 1, "{file} applied {applied} times:\n{logs}");
        }
    }
}

#[test]
fn a_migration_edited_after_it_was_applied_is_503_schema_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // The runtime applies the files, then someone "edits" the first one.
    Runtime::probe(Options::new(app_manifest()).state_dir(&state)).stop();
    let db = rusqlite::Connection::open(state.join("sqlite_db.db")).unwrap();
    db.execute(
        "UPDATE _prompthelm_migrations SET checksum = 'edited' WHERE version = 1",
        [],
    )
    .unwrap();
    let rt = Runtime::probe(like_spin(&state));
    let api = Client {
        rt: &rt,
        token: BOOTSTRAP.to_owned(),
    };
    let refused = api
        .get("/api/v1/prompts")
        .assert_envelope(503, "SCHEMA_NOT_READY");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("0001_init.sql was edited after it was applied"),
        "{message}"
    );
}
