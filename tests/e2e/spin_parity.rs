//! Where `spin up` used to answer without the app (issue 15 §7), both
//! runtimes now answer alike: a path no route serves gets the 404 envelope
//! (spin.toml's catch-all `/...`), and a body over the limit gets a whole
//! 413 envelope (the component drains the rest before answering).

use serde_json::json;

use crate::api::Client;
use crate::harness::{Flavor, Runtime, try_send};

#[test]
fn unrouted_paths_get_the_404_envelope() {
    unrouted_paths(&Flavor::Prompthelm.app());
}

#[test]
fn unrouted_paths_get_the_404_envelope_under_spin() {
    if let Some(spin) = Flavor::spin() {
        unrouted_paths(&spin.app());
    }
}

#[test]
fn a_too_large_body_gets_the_whole_413_envelope() {
    too_large_bodies(&Flavor::Prompthelm.app());
}

#[test]
fn a_too_large_body_gets_the_whole_413_envelope_under_spin() {
    if let Some(spin) = Flavor::spin() {
        too_large_bodies(&spin.app());
    }
}

fn unrouted_paths(rt: &Runtime) {
    for (method, path) in [
        ("GET", "/nope"),
        ("HEAD", "/nope.html"),
        ("POST", "/api/v1/nope"),
        ("GET", "/api/v2/prompts"),
        ("DELETE", "/assetsx/app.js"),
        ("GET", "/api/v1/prompts/p/versions/v/promote/x"),
        ("PUT", "/api"),
    ] {
        let res = rt.request(method, path, &[("X-Request-Id", "parity-404")], None);
        if method == "HEAD" {
            assert_eq!(res.status, 404, "{method} {path}");
            assert_eq!(res.header("x-request-id"), Some("parity-404"));
            continue;
        }
        let env = res.assert_envelope(404, "NOT_FOUND");
        assert_eq!(env["requestId"], "parity-404", "{method} {path}");
        assert_eq!(res.header("content-type"), Some("application/json"));
    }
    // The routes that exist still win over the catch-all.
    let index = rt.get("/");
    assert_eq!(index.status, 200, "{}", index.body);
    assert!(index.body.contains("<html"), "{}", index.body);
    assert_eq!(rt.get("/api/v1/openapi.json").status, 200);
    rt.get("/assets/nope.js").assert_envelope(404, "NOT_FOUND");
    let admin = Client::admin(rt);
    assert_eq!(admin.get("/api/v1/prompts").status, 200);
    admin
        .get("/api/v1/prompts/prm_00000000000000000000000000000000")
        .assert_envelope(404, "PROMPT_NOT_FOUND");
}

/// A 2 MiB body to endpoints that read at most 1 MiB: every answer is the
/// whole 413 envelope (several times: under Spin, a response sent before
/// the body was read was cut off only sometimes).
fn too_large_bodies(rt: &Runtime) {
    let admin = Client::admin(rt);
    let auth = format!("Bearer {}", admin.token);
    let huge = "x".repeat(2 << 20);
    let prompt = json!({"name": huge, "slug": "too-large"}).to_string();
    let execute = json!({"user": huge, "model": "echo"}).to_string();
    for round in 0..5 {
        for (path, body) in [
            ("/api/v1/prompts", &prompt),
            ("/api/v1/gateway/execute", &execute),
        ] {
            let rid = format!("parity-413-{round}");
            let res = try_send(
                "POST",
                &rt.url(path),
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                    ("X-Request-Id", &rid),
                ],
                Some(body),
            )
            .unwrap_or_else(|e| panic!("round {round}, {path}: the 413 was cut off: {e}"));
            let env = res.assert_envelope(413, "PAYLOAD_TOO_LARGE");
            assert_eq!(env["requestId"], rid.as_str());
        }
    }
    // Nothing was stored, and the app still answers.
    assert!(admin.list_all("/api/v1/prompts").is_empty());
}
