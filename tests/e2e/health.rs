//! `GET /api/v1/gateway/health` on the real app manifest.

use crate::harness::Runtime;

#[test]
fn health_is_ok_when_sqlite_and_key_value_answer() {
    let rt = Runtime::app();
    let res = rt.get("/api/v1/gateway/health");
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

    // One log line per request: method, path, component, status, duration.
    let logs = rt.wait_for_log("GET /api/v1/gateway/health gateway 200");
    assert!(
        logs.contains("GET /api/v1/gateway/health gateway 200"),
        "{logs}"
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
fn health_is_503_naming_sqlite_when_the_database_is_unusable() {
    let rt = Runtime::app();
    assert_eq!(rt.get("/api/v1/gateway/health").status, 200);

    // Overwrite the database with garbage, in place, and drop its WAL.
    let db = rt.state_dir.join("sqlite_db.db");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(rt.state_dir.join(format!("sqlite_db.db{suffix}")));
    }

    let res = rt.get("/api/v1/gateway/health");
    let v = res.assert_envelope(503, "SERVICE_UNAVAILABLE");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("sqlite"), "{message}");
    assert_eq!(v["details"]["sqlite"]["status"], "error", "{v}");
    assert_eq!(v["details"]["keyValue"]["status"], "ok", "{v}");
}

#[test]
fn unknown_gateway_path_is_404_envelope() {
    let rt = Runtime::app();
    rt.get("/api/v1/gateway/nope")
        .assert_envelope(404, "NOT_FOUND");
    // Outside every route the runtime itself answers with the envelope.
    rt.get("/nothing-here").assert_envelope(404, "NOT_FOUND");
}
