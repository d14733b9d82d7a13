//! A failing guest costs one request, never the server.

use crate::harness::{Options, Runtime, probe_manifest};

#[test]
fn a_trapping_guest_is_a_500_envelope_and_the_server_lives_on() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let res = rt.request("GET", "/probe/trap", &[("X-Request-Id", "trap-1")], None);
    let v = res.assert_envelope(500, "INTERNAL_ERROR");
    assert_eq!(v["requestId"], "trap-1");
    let logs = rt.wait_for_log("GET /probe/trap probe 500");
    assert!(logs.contains("GET /probe/trap probe 500"), "{logs}");
    assert!(logs.contains("request trap-1 failed"), "{logs}");

    assert_eq!(rt.get("/probe/echo/after").status, 200);
}

#[test]
fn a_looping_guest_is_stopped_by_the_request_timeout() {
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .arg("--request-timeout-secs")
            .arg("2"),
    );
    rt.get("/probe/loop")
        .assert_envelope(504, "COMPONENT_TIMEOUT");
    assert_eq!(rt.get("/probe/echo/after").status, 200);
}

#[test]
fn concurrent_requests_are_each_answered_with_their_own_path() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let rt = &rt;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| s.spawn(move || (i, rt.get(&format!("/probe/echo/n{i}")))))
            .collect();
        for h in handles {
            let (i, res) = h.join().unwrap();
            assert_eq!(res.status, 200);
            // Instances are shared (Spin 4's reuse): no answer is another's.
            let uri = res.json()["uri"].as_str().unwrap().to_owned();
            assert!(uri.ends_with(&format!("/probe/echo/n{i}")), "{uri}");
        }
    });
}

#[test]
fn response_bodies_stream_as_the_guest_writes_them() {
    use std::io::BufRead as _;
    use std::time::{Duration, Instant};

    let rt = Runtime::probe(Options::new(probe_manifest()));
    let res = ureq::get(&rt.url("/probe/stream?chunks=3&delay_ms=400"))
        .call()
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut lines = std::io::BufReader::new(res.into_body().into_reader()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "chunk 0");
    let first_chunk_at = Instant::now();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, ["chunk 1", "chunk 2"]);
    // Two more delays passed after the first chunk arrived: it was sent when
    // written, not buffered until the end.
    assert!(
        first_chunk_at.elapsed() >= Duration::from_millis(700),
        "the body arrived all at once"
    );
}

#[test]
fn an_oversized_body_is_refused_before_the_component_runs() {
    use std::io::{Read as _, Write as _};

    let rt = Runtime::probe(Options::new(probe_manifest()));
    // Declare a body over the cap and send none of it: the runtime must
    // answer from the headers alone.
    let addr = rt.base_url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /probe/echo/big HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 20000000\r\nX-Request-Id: big-1\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut head = String::new();
    let mut buf = [0u8; 2048];
    // Read until the envelope's closing brace (headers and body may arrive
    // in separate reads).
    while !head.ends_with('}') {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed after {head:?}");
        head.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("PAYLOAD_TOO_LARGE"), "{head}");
    assert!(head.contains("big-1"), "{head}");
}
