//! The host keeps what it can between requests: SQLite connections (a pool
//! per database plus a keeper connection) and outbound HTTP connections
//! (one shared keep-alive client). Nothing a guest did on a pooled
//! connection may show in the next guest's use of it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::api::urlencode;
use crate::harness::{Options, Runtime, probe_manifest};

fn ok(rt: &Runtime, path: &str) -> serde_json::Value {
    let res = rt.get(path);
    assert_eq!(res.status, 200, "{path}: {}", res.body);
    let v = res.json();
    assert_eq!(v["ok"], true, "{path}: {v}");
    v
}

#[test]
fn pooled_sqlite_connections_stay_private_to_each_guest_connection() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let rt = Arc::new(rt);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    let note = format!("w{w}-{i}");
                    let v = ok(&rt, &format!("/probe/sqlite?note={note}"));
                    // The row read back by the guest's own last-insert-rowid
                    // is its own insert: no other request's connection state.
                    assert_eq!(v["changes"], 1, "{v}");
                    assert_eq!(v["rows"][0]["note"], note.as_str(), "{v}");
                    assert_eq!(v["roundTrip"]["matches"], true, "{v}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }

    let db_path = rt.state_dir.join("sqlite_db.db");
    // The keeper connection keeps the WAL between requests (the last guest
    // close no longer checkpoints and deletes it).
    assert!(
        rt.state_dir.join("sqlite_db.db-wal").exists(),
        "no WAL beside {}",
        db_path.display()
    );
    // No connection went back to the pool holding a lock: another writer
    // gets in at once.
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.busy_timeout(Duration::ZERO).unwrap();
    db.execute("INSERT INTO probe(note) VALUES ('outside')", [])
        .unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM probe", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 6 * 15 + 1);
    drop(db);

    // A guest that traps is dropped with its connections; the pool goes on.
    assert_eq!(rt.get("/probe/trap").status, 500);
    ok(&rt, "/probe/sqlite?note=after-trap");
}

/// An HTTP/1.1 server that keeps connections alive and counts them.
fn keep_alive_server() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            std::thread::spawn(move || serve(stream, &r));
        }
    });
    (addr, connections, requests)
}

fn serve(stream: TcpStream, requests: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        // Head, then the body its content-length announces (a GET has none).
        let mut length = 0usize;
        let mut first = true;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!("reply {n}");
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn outbound_connections_are_kept_alive_and_errors_keep_their_codes() {
    let (addr, connections, requests) = keep_alive_server();
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .arg("--variable")
            .arg(format!("stub_host={addr}")),
    );
    let url = format!("http://{addr}/v1/ping");
    for i in 1..=5 {
        let v = ok(&rt, &format!("/probe/outbound?url={}", urlencode(&url)));
        assert_eq!(v["status"], 200);
        assert_eq!(v["body"], format!("reply {i}"));
    }
    assert_eq!(requests.load(Ordering::SeqCst), 5);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "five sequential calls should share one kept-alive connection"
    );
    drop(rt);

    // A host that refuses connections: the same error code as wasmtime's
    // default sender gives.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .arg("--variable")
            .arg(format!("stub_host={closed_addr}")),
    );
    let url = format!("http://{closed_addr}/v1/ping");
    let res = rt.get(&format!("/probe/outbound?url={}", urlencode(&url)));
    let v = res.json();
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("ConnectionRefused"),
        "{v}"
    );
}

/// A statement first runs on the request's thread without waiting for
/// locks; one that finds another writer holding the database is run again
/// on the blocking pool, where it waits. Forced here: the test holds the
/// write lock while gateway calls (a log row each) and a promote arrive,
/// and releases it only once they are waiting. Every one must succeed,
/// none may fail with a busy database, and each write must be there.
#[test]
fn writes_that_meet_a_held_write_lock_wait_for_it_and_succeed() {
    use crate::api::{Client, id, version_body};
    use crate::harness::app_manifest;

    let rt = Runtime::probe(Options::new(app_manifest()));
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("locked"));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.2, &[], "v2")));
    api.promote(&pid, &v1);
    assert_eq!(api.served("promptSlug", "locked"), v1);

    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let api = &api;
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| s.spawn(move || api.execute_echo("promptSlug", "locked")))
            .collect();
        let promote = s.spawn(|| {
            api.post(
                &format!("/api/v1/prompts/{pid}/versions/{v2}/promote"),
                &serde_json::json!({}),
            )
        });
        // Held well past the moment the calls reach their writes, far
        // below the 5 s busy timeout they wait with.
        std::thread::sleep(Duration::from_millis(1500));
        db.execute_batch("COMMIT").unwrap();
        for call in calls {
            let res = call.join().unwrap();
            assert_eq!(res.status, 200, "{}", res.body);
        }
        let res = promote.join().unwrap();
        assert_eq!(res.status, 200, "{}", res.body);
    });
    assert_eq!(api.served("promptSlug", "locked"), v2);
    let logged: i64 = db
        .query_row(
            "SELECT count(*) FROM execution_logs WHERE prompt_id = ?1",
            [&pid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 6, "one row per call");
}
