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
fn concurrent_requests_each_get_a_fresh_instance() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let rt = &rt;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| s.spawn(move || rt.get(&format!("/probe/echo/n{i}"))))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().status, 200);
        }
    });
}
