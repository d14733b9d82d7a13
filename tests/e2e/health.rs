//! `GET /api/v1/gateway/health` on the real app manifest.

use crate::api::Client;
use crate::harness::Runtime;

/// Health as an admin sees it: every check, and the warnings.
fn admin_health(rt: &Runtime) -> crate::harness::Reply {
    Client::admin(rt).get("/api/v1/gateway/health")
}

#[test]
fn health_is_ok_when_sqlite_and_key_value_answer() {
    let rt = Runtime::app();
    let res = admin_health(&rt);
    assert_eq!(res.status, 200, "{}", res.body);
    let v = res.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["checks"]["sqlite"]["status"], "ok", "{v}");
    assert!(
        v["checks"]["sqlite"]["schemaVersion"].as_u64().unwrap() >= 1,
        "{v}"
    );
    assert_eq!(v["checks"]["keyValue"]["status"], "ok", "{v}");
    let id = res.header("x-request-id").expect("X-Request-Id");
    assert!(id.starts_with("req_"), "{id}");
    assert_eq!(v["requestId"], id);
    // The tests run with spin.toml's public token_hash_key: admins are told.
    let warnings = v["warnings"].as_array().expect("warnings for admins");
    assert!(
        warnings[0].as_str().unwrap().contains("token_hash_key"),
        "{v}"
    );

    // ... and so is whoever reads the startup output.
    assert!(
        rt.logs()
            .contains("the secret variable `token_hash_key` has the public default"),
        "{}",
        rt.logs()
    );

    // One log line per request: method, path, component, status, duration.
    let logs = rt.wait_for_log("GET /api/v1/gateway/health gateway 200");
    assert!(
        logs.contains("GET /api/v1/gateway/health gateway 200"),
        "{logs}"
    );
}

#[test]
fn health_tells_the_public_only_the_verdict_and_writes_nothing() {
    let rt = Runtime::app();
    let kv = rusqlite::Connection::open(rt.state_dir.join("sqlite_key_value.db")).unwrap();
    let rows = || -> i64 {
        kv.query_row("SELECT count(*) FROM spin_key_value", [], |r| r.get(0))
            .unwrap()
    };
    let before = rows();
    for auth in [None, Some("Bearer phk_00000000000000000000000000000000")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let res = rt.request("GET", "/api/v1/gateway/health", &headers, None);
        assert_eq!(res.status, 200, "{}", res.body);
        let v = res.json();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["requestId", "service", "status", "timestamp"], "{v}");
    }
    assert_eq!(
        rows(),
        before,
        "a health probe wrote to the key-value store"
    );
}

#[test]
fn health_is_degraded_not_down_when_the_key_value_store_fails() {
    let rt = Runtime::app();
    let kv = rusqlite::Connection::open(rt.state_dir.join("sqlite_key_value.db")).unwrap();
    kv.execute_batch("ALTER TABLE spin_key_value RENAME TO broken_key_value")
        .unwrap();
    let res = admin_health(&rt);
    assert_eq!(res.status, 200, "{}", res.body);
    let v = res.json();
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["checks"]["keyValue"]["status"], "error", "{v}");
    assert_eq!(v["checks"]["sqlite"]["status"], "ok", "{v}");
    assert_eq!(
        rt.get("/api/v1/gateway/health").json()["status"],
        "degraded"
    );
}

#[test]
fn health_echoes_the_callers_request_id() {
    let rt = Runtime::app();
    let res = rt.request(
        "GET",
        "/api/v1/gateway/health",
        &[("X-Request-Id", "trace-abc-123")],
        None,
    );
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-request-id"), Some("trace-abc-123"));
    assert_eq!(res.json()["requestId"], "trace-abc-123");
}

#[test]
fn health_is_503_when_the_database_is_unusable() {
    let rt = Runtime::app();
    assert_eq!(rt.get("/api/v1/gateway/health").status, 200);

    // Break it under the running app, through another connection, so every
    // open connection sees it at its next statement. (Overwriting the file
    // behind SQLite's back is not seen reliably: a connection kept open
    // between requests serves pages from its cache while the unlinked
    // `-shm` it still maps says nothing changed.)
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    db.execute_batch("ALTER TABLE _prompthelm_migrations RENAME TO broken")
        .unwrap();
    drop(db);

    // The public learns that it is down, not why.
    let v = rt
        .get("/api/v1/gateway/health")
        .assert_envelope(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        v["message"],
        "health check failed: the database is not available"
    );
    assert!(v.get("details").is_none(), "{v}");
}

#[test]
fn unknown_gateway_path_is_404_envelope() {
    let rt = Runtime::app();
    rt.get("/api/v1/gateway/nope")
        .assert_envelope(404, "NOT_FOUND");
    // Outside every route the runtime itself answers with the envelope.
    rt.get("/nothing-here").assert_envelope(404, "NOT_FOUND");
}
