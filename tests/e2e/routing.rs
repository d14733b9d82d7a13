//! Spin's routing rules and request headers, seen from inside a component.

use crate::harness::{Options, Runtime, probe_manifest};

fn echo(rt: &Runtime, path: &str) -> serde_json::Value {
    let res = rt.get(path);
    assert_eq!(res.status, 200, "{path}: {}", res.body);
    res.json()
}

fn header<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {v}"))
}

#[test]
fn exact_route_beats_wildcard() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let v = echo(&rt, "/probe/exact");
    assert_eq!(header(&v, "spin-matched-route"), "/probe/exact");
    assert_eq!(header(&v, "spin-path-info"), "");

    let v = echo(&rt, "/probe/exact/deeper");
    assert_eq!(header(&v, "spin-matched-route"), "/probe/...");
    assert_eq!(header(&v, "spin-path-info"), "/exact/deeper");
}

#[test]
fn longest_wildcard_prefix_wins_and_catch_all_takes_the_rest() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let v = echo(&rt, "/probe/echo/x?a=1");
    assert_eq!(header(&v, "spin-matched-route"), "/probe/...");
    assert_eq!(header(&v, "spin-path-info"), "/echo/x");
    assert_eq!(header(&v, "spin-component-route"), "/probe");
    assert_eq!(header(&v, "spin-raw-component-route"), "/probe/...");

    let v = echo(&rt, "/somewhere/else");
    assert_eq!(header(&v, "spin-matched-route"), "/...");
    assert_eq!(header(&v, "spin-path-info"), "/somewhere/else");
}

#[test]
fn named_segments_become_path_match_headers() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let v = echo(&rt, "/items/42");
    assert_eq!(header(&v, "spin-matched-route"), "/items/:id");
    assert_eq!(header(&v, "spin-path-match-id"), "42");

    let v = echo(&rt, "/items/7/parts/wheel");
    assert_eq!(header(&v, "spin-matched-route"), "/items/:id/parts/:part");
    assert_eq!(header(&v, "spin-path-match-id"), "7");
    assert_eq!(header(&v, "spin-path-match-part"), "wheel");
}

#[test]
fn guest_sees_an_absolute_uri_and_spin_headers() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let v = echo(&rt, "/probe/echo/abs?q=1");
    let full = format!("{}/probe/echo/abs?q=1", rt.base_url);
    assert_eq!(v["uri"], full.as_str(), "{v}");
    assert_eq!(header(&v, "spin-full-url"), full);
    assert_eq!(header(&v, "spin-base-path"), "/");
    assert!(header(&v, "spin-client-addr").starts_with("127.0.0.1:"));
}

#[test]
fn request_body_and_method_reach_the_guest() {
    let rt = Runtime::probe(Options::new(probe_manifest()));
    let res = rt.request(
        "POST",
        "/probe/echo/body",
        &[("content-type", "text/plain")],
        Some("payload-123"),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let v = res.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body"], "payload-123");
}
