//! Every Spin host interface, and the manifest allow-lists that gate them:
//! `probe` is granted capabilities, `bare` (same code) is granted none.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use crate::api::urlencode;
use crate::harness::{Options, Runtime, probe_manifest};

fn ok(rt: &Runtime, path: &str) -> serde_json::Value {
    let res = rt.get(path);
    assert_eq!(res.status, 200, "{path}: {}", res.body);
    let v = res.json();
    assert_eq!(v["ok"], true, "{path}: {v}");
    v
}

fn refused(rt: &Runtime, path: &str) -> String {
    let res = rt.get(path);
    assert_eq!(res.status, 200, "{path}: {}", res.body);
    let v = res.json();
    assert_eq!(v["ok"], false, "{path}: {v}");
    v["error"].as_str().unwrap().to_owned()
}

#[test]
fn sqlite_round_trip_and_allow_list() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let v = ok(&rt, "/probe/sqlite?db=default&note=from-test");
    assert!(v["rows"].as_array().is_some_and(|r| !r.is_empty()), "{v}");
    assert_eq!(v["roundTrip"]["matches"], true, "{v}");
    // The row really landed in the state dir's default database.
    let conn = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    let count: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM probe WHERE note = 'from-test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(count, 1);

    assert_eq!(refused(&rt, "/probe/sqlite?db=analytics"), "access-denied");
    assert_eq!(refused(&rt, "/bare/sqlite?db=default"), "access-denied");
}

#[test]
fn key_value_round_trip_and_allow_list() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let v = ok(&rt, "/probe/kv?store=default");
    assert_eq!(v["matches"], true, "{v}");
    assert_eq!(v["exists"], true, "{v}");
    assert_eq!(v["keysIncludeKey"], true, "{v}");
    assert_eq!(v["existsAfterDelete"], false, "{v}");
    assert_eq!(v["getAfterDelete"], serde_json::Value::Null, "{v}");
    // Spin's file layout: table spin_key_value(store, key, value).
    let conn = rusqlite::Connection::open(rt.state_dir.join("sqlite_key_value.db")).unwrap();
    let kept: Vec<u8> = conn
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'probe:kept'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, b"kept-value");

    assert_eq!(refused(&rt, "/probe/kv?store=sessions"), "access-denied");
    assert_eq!(refused(&rt, "/bare/kv?store=default"), "access-denied");
}

#[test]
fn variables_resolve_by_spin_precedence() {
    // Default from the manifest, rendered into a component template.
    let rt = Runtime::probe(Options::new(probe_manifest()));
    assert_eq!(ok(&rt, "/probe/variable?name=greeting")["value"], "hello");
    assert_eq!(
        ok(&rt, "/probe/variable?name=sentence")["value"],
        "hello, world"
    );
    // Declared by the app but not listed for the component.
    assert!(refused(&rt, "/probe/variable?name=stub_host").starts_with("undefined"));
    assert!(refused(&rt, "/bare/variable?name=greeting").starts_with("undefined"));
    assert!(refused(&rt, "/probe/variable?name=Not-Valid").starts_with("invalid-name"));
    drop(rt);

    // SPIN_VARIABLE_<NAME> beats the default; --variable beats both.
    let rt = Runtime::probe(Options::new(probe_manifest()).env("SPIN_VARIABLE_GREETING", "howdy"));
    assert_eq!(
        ok(&rt, "/probe/variable?name=sentence")["value"],
        "howdy, world"
    );
    drop(rt);
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .env("SPIN_VARIABLE_GREETING", "howdy")
            .arg("--variable")
            .arg("greeting=hi"),
    );
    assert_eq!(ok(&rt, "/probe/variable?name=greeting")["value"], "hi");
}

#[test]
fn secret_values_are_readable_but_never_logged() {
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .arg("--variable")
            .arg("api_secret=top-secret-42"),
    );
    assert_eq!(
        ok(&rt, "/probe/variable?name=api_secret")["value"],
        "top-secret-42"
    );
    let logs = rt.stop();
    assert!(!logs.contains("top-secret-42"), "{logs}");
}

/// A one-shot HTTP server standing in for a provider.
fn stub_server() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).into_owned();
        let body = "hello from stub";
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request
    });
    (addr, handle)
}

#[test]
fn outbound_http_only_to_allowed_hosts() {
    let (addr, stub) = stub_server();
    // allowed_outbound_hosts = ["http://{{ stub_host }}"], rendered at startup.
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .arg("--variable")
            .arg(format!("stub_host={addr}")),
    );
    let url = format!("http://{addr}/v1/ping");
    let v = ok(&rt, &format!("/probe/outbound?url={}", urlencode(&url)));
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "hello from stub");
    assert!(stub.join().unwrap().starts_with("GET /v1/ping HTTP/1.1"));

    // Same host, other port; and a component with no allowed hosts at all.
    let other = "http://127.0.0.1:1/v1/ping";
    refused(&rt, &format!("/probe/outbound?url={}", urlencode(other)));
    refused(&rt, &format!("/bare/outbound?url={}", urlencode(&url)));
    // Both denials are logged; wait for the later one itself.
    let logs = rt.wait_for_log("component bare: outbound request to");
    assert!(
        logs.contains("component bare: outbound request to")
            && logs.contains("component probe: outbound request to http://127.0.0.1:1/"),
        "{logs}"
    );
}
