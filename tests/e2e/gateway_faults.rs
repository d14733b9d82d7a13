//! Hostile input and hostile peers at the gateway (issue 13 §3, §5): a
//! template bomb is refused before it is rendered, a provider that echoes
//! its request never shows the gateway's key to the caller, and a client
//! that stops reading a stream is let go at the call's budget and logged.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Client, id};
use crate::harness::Runtime;
use crate::stub::{ANTHROPIC_KEY, OPENAI_KEY, StubOptions, StubProvider, gateway_stream};

/// The error code of the execution log with this request id, once it is
/// stored (waiting up to `within`).
fn logged_error_code(rt: &Runtime, request_id: &str, within: Duration) -> Option<String> {
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    let deadline = Instant::now() + within;
    loop {
        let code = db.query_row(
            "SELECT error_code FROM execution_logs WHERE request_id = ?",
            [request_id],
            |r| r.get::<_, Option<String>>(0),
        );
        match code {
            Ok(code) => return code,
            Err(rusqlite::Error::QueryReturnedNoRows) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no execution log for request {request_id}: {e}"),
        }
    }
}

#[test]
fn a_template_bomb_is_refused_with_its_own_code_and_logged() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    // Ad hoc: 20,000 placeholders × a 1,000-character value = 20 MB.
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"user": "{{q}}".repeat(20_000), "model": "echo",
                "variables": {"q": "x".repeat(1_000)}}),
    );
    let envelope = res.assert_envelope(422, "RENDERED_PROMPT_TOO_LARGE");
    assert_eq!(envelope["details"]["renderedBytes"], 20_000_000);
    let request_id = envelope["requestId"].as_str().unwrap();
    assert_eq!(
        logged_error_code(&rt, request_id, Duration::ZERO).as_deref(),
        Some("RENDERED_PROMPT_TOO_LARGE")
    );

    // As a saved version (the template within the 100,000-character limit).
    let pid = id(&api.create_prompt("bomb"));
    let vid = id(&api.save_version(
        &pid,
        &json!({"user": "{{q}}".repeat(19_000),
                "variables": [{"name": "q", "type": "string", "required": true}],
                "model": "echo"}),
    ));
    api.promote(&pid, &vid);
    for path in ["/api/v1/gateway/execute", "/api/v1/gateway/stream"] {
        let res = api.post(
            path,
            &json!({"promptSlug": "bomb", "variables": {"q": "y".repeat(2_000)}}),
        );
        res.assert_envelope(422, "RENDERED_PROMPT_TOO_LARGE");
    }
    let failures = api.list_all(&format!("/api/v1/execution-logs?promptId={pid}"));
    assert_eq!(failures.len(), 2);
    // A normal call still works afterwards.
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"promptSlug": "bomb", "variables": {"q": "z"}}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
}

#[test]
fn a_provider_that_echoes_its_request_never_shows_the_key_to_the_caller() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options());
    let api = Client::admin(&rt);
    for (model, key, header) in [
        ("gpt-4o-mini", OPENAI_KEY, "authorization"),
        ("claude-3-5-haiku-latest", ANTHROPIC_KEY, "x-api-key"),
    ] {
        let body = json!({"user": "Say it [[stub:echo_headers]]", "model": model});
        let res = api.post("/api/v1/gateway/execute", &body);
        assert_eq!(res.status, 200, "{}", res.body);
        let output = res.json()["output"].as_str().unwrap().to_owned();
        // The provider did echo the header (so the check below can fail) ...
        assert!(output.contains(&format!("{header}: ")), "{output}");
        // ... and the caller sees its key only as [REDACTED].
        assert!(!res.body.contains(key), "{}", res.body);
        assert!(output.contains("[REDACTED]"), "{output}");

        let streamed: String = gateway_stream(&api, &body)
            .all()
            .iter()
            .map(|e| e.json())
            .filter(|f| f["type"] == "chunk")
            .map(|f| f["content"].as_str().unwrap().to_owned())
            .collect();
        assert!(streamed.contains(&format!("{header}: ")), "{streamed}");
        assert!(!streamed.contains(key), "{streamed}");
        assert!(streamed.contains("[REDACTED]"), "{streamed}");
    }
}

#[test]
fn a_client_that_stops_reading_a_stream_is_let_go_at_the_budget_and_logged() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options().rate_limit_per_minute(0));
    let api = Client::admin(&rt);
    // About 20 MB of answer: more than every buffer between the gateway and
    // a client that reads nothing (socket buffers, the host's pipes). The
    // budget is generous so that a loaded machine still gets the provider's
    // first byte in time (a 504 here would test nothing).
    let word = "w".repeat(16 * 1024);
    let body = json!({
        "user": format!("{word} [[stub:repeat=1200]]"),
        "model": "gpt-4o-mini",
        "timeoutMs": 15000,
    });
    let stalled = gateway_stream(&api, &body);
    assert_eq!(stalled.status, 200);
    let request_id = stalled.header("x-request-id").unwrap().to_owned();
    // Read nothing; the relay must give up at the 15 s budget on its own.
    let code = logged_error_code(&rt, &request_id, Duration::from_secs(90));
    assert_eq!(code.as_deref(), Some("CLIENT_STALLED"));
    drop(stalled);
    // The gateway serves on.
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"user": "still here?", "model": "gpt-4o-mini"}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let Value::String(output) = &res.json()["output"] else {
        panic!("{}", res.body)
    };
    assert!(output.contains("still here?"));
}
