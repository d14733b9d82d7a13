//! The gateway end to end: execute and stream through the real components,
//! against the stub provider speaking each provider's wire format, with the
//! execution log read back from the SQLite file.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::{Client, error_fields, id};
use crate::harness::{Flavor, Options, Reply, Runtime, app_manifest};
use crate::stub::{OPENAI_KEY, PROVIDER_KEYS, StubOptions, StubProvider, gateway_stream, reply_to};

const MODELS: [(&str, &str, &str); 4] = [
    ("gpt-4o-mini", "openai", "/v1/chat/completions"),
    ("claude-3-5-haiku-latest", "anthropic", "/v1/messages"),
    (
        "gemini-2.0-flash",
        "google",
        "/v1beta/models/gemini-2.0-flash:",
    ),
    ("deepseek-chat", "deepseek", "/chat/completions"),
];

/// A prompt `slug` whose production version asks `Answer {{question}}`,
/// with a `tone` that defaults to `kind`.
fn promoted_prompt(admin: &Client, slug: &str, model: &str) -> (String, String) {
    let pid = id(&admin.create_prompt(slug));
    let vid = id(&admin.save_version(
        &pid,
        &json!({
            "system": "Be {{ tone }}.",
            "user": "Answer {{question}}",
            "variables": [
                {"name": "tone", "type": "string", "default": "kind"},
                {"name": "question", "type": "string", "required": true},
            ],
            "model": model,
            "temperature": 0.3,
            "maxTokens": 50,
            "stopSequences": ["END"],
            "message": "v1",
        }),
    ));
    admin.promote(&pid, &vid);
    (pid, vid)
}

fn execute(client: &Client, body: &Value) -> Reply {
    client.post("/api/v1/gateway/execute", body)
}

/// Every execution-log row, oldest first, as column → value.
fn logged(rt: &Runtime) -> Vec<BTreeMap<String, Value>> {
    rt.execution_logs()
}

fn log_of(rt: &Runtime, id: &str) -> BTreeMap<String, Value> {
    logged(rt)
        .into_iter()
        .find(|row| row["id"] == id)
        .unwrap_or_else(|| panic!("no execution log {id}"))
}

#[test]
fn execute_and_stream_speak_each_providers_format() {
    each_providers_format(Flavor::Prompthelm);
}

#[test]
fn execute_and_stream_speak_each_providers_format_under_spin() {
    if let Some(spin) = Flavor::spin() {
        each_providers_format(spin);
    }
}

fn each_providers_format(flavor: Flavor) {
    let stub = StubProvider::start();
    let rt = flavor.start(stub.app_options());
    let admin = Client::admin(&rt);
    let (pid, vid) = promoted_prompt(&admin, "support", "gpt-4o-mini");

    for (model, provider, path) in MODELS {
        stub.clear();
        let res = execute(
            &admin,
            &json!({"promptSlug": "support", "model": model, "variables": {"question": "why?"}}),
        );
        assert_eq!(res.status, 200, "{model}: {}", res.body);
        let body = res.json();
        assert_eq!(body["output"], reply_to("Answer why?"), "{model}");
        assert_eq!(body["model"], model);
        assert_eq!(body["provider"], provider);
        assert_eq!(
            (body["promptId"].as_str(), body["versionId"].as_str()),
            (Some(pid.as_str()), Some(vid.as_str()))
        );
        assert_eq!(body["environment"], "production");
        let (input, output) = (
            body["inputTokens"].as_u64().unwrap(),
            body["outputTokens"].as_u64().unwrap(),
        );
        assert!(input > 0 && output > 0, "{body}");
        assert_eq!(body["totalTokens"].as_u64(), Some(input + output));
        assert!(
            body["cost"].as_f64().unwrap() > 0.0,
            "a priced model costs something: {body}"
        );
        assert!(body["id"].as_str().unwrap().starts_with("exe_"));
        assert!(res.header("x-request-id").is_some_and(|v| !v.is_empty()));

        // The provider got its own request shape, with its own key header.
        let sent = stub.requests();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0]["path"].as_str().unwrap().starts_with(path),
            "{model}: {}",
            sent[0]["path"]
        );
        let sent_body = sent[0]["body"].as_str().unwrap();
        assert!(sent_body.contains("Be kind."), "{sent_body}");
        assert!(sent_body.contains("Answer why?"), "{sent_body}");
        assert!(
            sent_body.contains("END"),
            "stop sequences are sent: {sent_body}"
        );

        // Stream: chunks add up to the same output, then a done frame.
        let events = gateway_stream(
            &admin,
            &json!({"promptSlug": "support", "model": model, "variables": {"question": "why?"}}),
        )
        .all();
        let frames: Vec<Value> = events.iter().map(|e| e.json()).collect();
        let (done, chunks) = frames.split_last().unwrap();
        assert!(
            chunks.len() > 1,
            "{model}: one frame per provider chunk: {frames:?}"
        );
        let text: String = chunks
            .iter()
            .map(|c| {
                assert_eq!(c["type"], "chunk", "{c}");
                c["content"].as_str().unwrap()
            })
            .collect();
        assert_eq!(text, reply_to("Answer why?"), "{model}");
        assert_eq!(done["type"], "done", "{done}");
        assert_eq!(done["model"], model);
        assert!(done["inputTokens"].as_u64().unwrap() > 0, "{done}");
        assert_eq!(
            done["totalTokens"].as_u64(),
            Some(done["inputTokens"].as_u64().unwrap() + done["outputTokens"].as_u64().unwrap())
        );
        let row = log_of(&rt, done["id"].as_str().unwrap());
        assert_eq!(
            (row["status"].as_str(), row["stream"].as_i64()),
            (Some("success"), Some(1))
        );
        assert_eq!(row["provider"], provider);
    }
}

#[test]
fn the_echo_model_is_a_dry_run_that_needs_no_provider() {
    // No provider variables at all: a fresh `prompthelm up`.
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "dry", "echo");
    let res = execute(
        &admin,
        &json!({"promptSlug": "dry", "variables": {"question": "2+2", "tone": "brief"}}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["output"], "Be brief.\n\nAnswer 2+2");
    assert_eq!(res.json()["cost"], 0.0);

    // Ad hoc, with placeholders of its own.
    let res = execute(
        &admin,
        &json!({"user": "Hi {{ who }}", "model": "echo", "variables": {"who": "Ada"}}),
    );
    assert_eq!(res.json()["output"], "Hi Ada", "{}", res.body);
    assert_eq!(res.json()["promptId"], Value::Null);

    // A real provider without a key is a clear 503, not a call to the internet.
    let res = execute(
        &admin,
        &json!({"promptSlug": "dry", "model": "gpt-4o", "variables": {"question": "x"}}),
    );
    let env = res.assert_envelope(503, "PROVIDER_NOT_CONFIGURED");
    assert!(
        env["message"].as_str().unwrap().contains("openai_api_key"),
        "{env}"
    );
}

#[test]
fn the_next_call_after_a_promote_or_rollback_runs_the_new_version() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let pid = id(&admin.create_prompt("flip"));
    let version = |system: &str| {
        id(&admin.save_version(
            &pid,
            &json!({"system": system, "user": "u", "model": "echo", "message": system}),
        ))
    };
    let (v1, v2) = (version("one"), version("two"));
    let run = |env: &str| {
        let res = execute(&admin, &json!({"promptId": pid, "environment": env}));
        assert_eq!(res.status, 200, "{}", res.body);
        let body = res.json();
        (
            body["versionId"].as_str().unwrap().to_owned(),
            body["output"].as_str().unwrap().to_owned(),
        )
    };
    // Development is the newest save; production is nothing yet.
    assert_eq!(run("development"), (v2.clone(), "two\n\nu".to_owned()));
    execute(&admin, &json!({"promptId": pid})).assert_envelope(409, "NO_VERSION_IN_ENVIRONMENT");

    for round in 0..5 {
        admin.promote(&pid, &v1);
        assert_eq!(run("production").0, v1, "round {round}: after promoting v1");
        admin.promote(&pid, &v2);
        assert_eq!(run("production").0, v2, "round {round}: after promoting v2");
        // Rollback: the very next call, by slug too.
        admin.promote(&pid, &v1);
        let by_slug = execute(&admin, &json!({"promptSlug": "flip"})).json();
        assert_eq!(
            by_slug["versionId"],
            v1.as_str(),
            "round {round}: after the rollback"
        );
        assert_eq!(by_slug["output"], "one\n\nu");
    }

    // Archived: refused with its own code, and so is an unknown prompt.
    assert_eq!(
        admin
            .post(&format!("/api/v1/prompts/{pid}/archive"), &json!({}))
            .status,
        200
    );
    execute(&admin, &json!({"promptId": pid})).assert_envelope(409, "PROMPT_ARCHIVED");
    execute(&admin, &json!({"promptSlug": "nope"})).assert_envelope(404, "PROMPT_NOT_FOUND");
}

#[test]
fn bad_input_is_a_4xx_naming_the_problem_and_is_logged() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "vars", "echo");

    let res = execute(
        &admin,
        &json!({"promptSlug": "vars", "variables": {"tone": "dry"}}),
    );
    let env = res.assert_envelope(422, "GATEWAY_MISSING_VARIABLES");
    assert_eq!(env["details"]["missing"], json!(["question"]));

    let res = execute(
        &admin,
        &json!({"user": "{{a}} {{b}}", "model": "echo", "variables": {"a": "1"}}),
    );
    assert_eq!(
        res.assert_envelope(422, "GATEWAY_MISSING_VARIABLES")["details"]["missing"],
        json!(["b"])
    );

    let res = execute(
        &admin,
        &json!({"promptSlug": "vars", "temperature": 5, "timeoutMs": 0, "variables": {"question": "q"}}),
    );
    let env = res.assert_envelope(422, "VALIDATION_ERROR");
    let fields = error_fields(&env);
    assert_eq!(fields, ["temperature", "timeoutMs"]);

    execute(&admin, &json!({"user": "hi", "model": "llama-3-70b"}))
        .assert_envelope(422, "UNSUPPORTED_MODEL");
    execute(&admin, &json!({"promptSlug": "vars", "max_tokens": 5}))
        .assert_envelope(400, "VALIDATION_ERROR");
    execute(
        &admin,
        &json!({"promptSlug": "vars", "variables": {"question": 5}}),
    )
    .assert_envelope(400, "VALIDATION_ERROR");
    execute(&admin, &json!({"system": "only a system text"}))
        .assert_envelope(422, "VALIDATION_ERROR");
    let huge = "x".repeat(2 << 20);
    let res = admin.call(
        "POST",
        "/api/v1/gateway/execute",
        Some(&json!({"user": huge, "model": "echo"})),
    );
    res.assert_envelope(413, "PAYLOAD_TOO_LARGE");
    let res = admin.call("GET", "/api/v1/gateway/execute", None);
    res.assert_envelope(405, "METHOD_NOT_ALLOWED");
    let stream = gateway_stream(&admin, &json!({"promptSlug": "vars"})).into_reply();
    stream.assert_envelope(422, "GATEWAY_MISSING_VARIABLES");

    // Each of these calls passed authentication, so each is in the log
    // with its code (the 405 never reached the gateway's call path).
    let codes: Vec<Value> = logged(&rt)
        .into_iter()
        .map(|row| row["error_code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            "GATEWAY_MISSING_VARIABLES",
            "GATEWAY_MISSING_VARIABLES",
            "VALIDATION_ERROR",
            "UNSUPPORTED_MODEL",
            "VALIDATION_ERROR",
            "VALIDATION_ERROR",
            "VALIDATION_ERROR",
            "PAYLOAD_TOO_LARGE",
            "GATEWAY_MISSING_VARIABLES",
        ]
    );
}

#[test]
fn provider_failures_become_their_own_codes_and_logged_failures() {
    provider_failures(Flavor::Prompthelm);
}

#[test]
fn provider_failures_under_spin() {
    if let Some(spin) = Flavor::spin() {
        provider_failures(spin);
    }
}

fn provider_failures(flavor: Flavor) {
    let stub = StubProvider::start();
    let rt = flavor.start(stub.app_options());
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "faulty", "gpt-4o-mini");
    let call = |question: &str, timeout_ms: u64| {
        execute(
            &admin,
            &json!({"promptSlug": "faulty", "timeoutMs": timeout_ms, "variables": {"question": question}}),
        )
    };

    let env = call("[[stub:status=500]]", 5000).assert_envelope(502, "UPSTREAM_FAILURE");
    assert_eq!(env["details"]["providerStatus"], 500);
    call("[[stub:status=429]]", 5000).assert_envelope(502, "UPSTREAM_FAILURE");
    call("[[stub:garbage]]", 5000).assert_envelope(502, "UPSTREAM_MALFORMED");
    let env = call("[[stub:delay=3000]]", 300).assert_envelope(504, "PROVIDER_TIMEOUT");
    assert!(env["message"].as_str().unwrap().contains("300"), "{env}");

    // Mid-stream failures end the stream with an error frame.
    let stream = |question: &str, timeout_ms: u64| {
        let frames: Vec<Value> = gateway_stream(
            &admin,
            &json!({"promptSlug": "faulty", "timeoutMs": timeout_ms, "variables": {"question": question}}),
        )
        .all()
        .iter()
        .map(|e| e.json())
        .collect();
        frames.last().unwrap().clone()
    };
    let last = stream("a b c d e [[stub:cut=2]]", 5000);
    assert_eq!(
        (last["type"].as_str(), last["errorCode"].as_str()),
        (Some("error"), Some("UPSTREAM_TRUNCATED")),
        "{last}"
    );
    assert!(
        last["requestId"].as_str().is_some_and(|r| !r.is_empty()),
        "{last}"
    );
    let last = stream("a b c d e [[stub:chunk_delay=400]]", 600);
    assert_eq!(last["errorCode"], "PROVIDER_TIMEOUT", "{last}");
    // A refusal before the stream started is a plain error response.
    let res = gateway_stream(
        &admin,
        &json!({"promptSlug": "faulty", "variables": {"question": "[[stub:status=503]]"}}),
    )
    .into_reply();
    res.assert_envelope(502, "UPSTREAM_FAILURE");

    let rows = logged(&rt);
    let codes: Vec<&str> = rows
        .iter()
        .map(|r| r["error_code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "UPSTREAM_FAILURE",
            "UPSTREAM_FAILURE",
            "UPSTREAM_MALFORMED",
            "PROVIDER_TIMEOUT",
            "UPSTREAM_TRUNCATED",
            "PROVIDER_TIMEOUT",
            "UPSTREAM_FAILURE",
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r["status"] == "error" && r["model"] == "gpt-4o-mini")
    );
    assert_eq!(rows[0]["http_status"], 502);
    assert_eq!(rows[3]["http_status"], 504);
    assert!(rows[3]["provider_latency_ms"].as_i64().unwrap() >= 300);
    // The provider's error body is kept for debugging.
    assert!(
        rows[0]["response_body"].as_str().unwrap().contains("500"),
        "{:?}",
        rows[0]
    );
}

/// Every execute answer says where its time went (`Server-Timing`), phase
/// by phase; a refused call says so up to where it stopped.
#[test]
fn execute_answers_carry_their_phases_as_server_timing() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options().rate_limit_per_minute(100));
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "timed", "gpt-4o-mini");
    let phases = |res: &Reply| -> Vec<String> {
        let header = res.header("server-timing").expect("Server-Timing");
        header
            .split(", ")
            .map(|p| {
                let (name, dur) = p.split_once(";dur=").expect(header);
                assert!(dur.parse::<f64>().is_ok_and(|d| d >= 0.0), "{header}");
                name.to_owned()
            })
            .collect()
    };
    let res = execute(
        &admin,
        &json!({"promptSlug": "timed", "variables": {"question": "q"}}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        phases(&res),
        [
            "auth", "admit", "body", "resolve", "render", "provider", "log", "total"
        ]
    );
    let refused = execute(&admin, &json!({"promptSlug": "nope"}));
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(phases(&refused), ["auth", "admit", "body", "log", "total"]);
}

#[test]
fn an_unreachable_provider_is_a_502_not_a_hang() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let rt = Runtime::probe(
        Options::new(app_manifest())
            .env("SPIN_VARIABLE_OPENAI_BASE_URL", "http://127.0.0.1:9")
            .env("SPIN_VARIABLE_OPENAI_ORIGIN", "http://127.0.0.1:9")
            .env("SPIN_VARIABLE_OPENAI_API_KEY", OPENAI_KEY),
    );
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "gone", "gpt-4o-mini");
    let body = json!({"promptSlug": "gone", "variables": {"question": "q"}});
    execute(&admin, &body).assert_envelope(502, "UPSTREAM_UNREACHABLE");
    gateway_stream(&admin, &body)
        .into_reply()
        .assert_envelope(502, "UPSTREAM_UNREACHABLE");
}

#[test]
fn stream_frames_are_sent_as_the_provider_sends_them() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options());
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "live", "gpt-4o-mini");
    let question = "one two three [[stub:hold]]";
    let mut stream = gateway_stream(
        &admin,
        &json!({"promptSlug": "live", "variables": {"question": question}}),
    );
    assert_eq!(stream.status, 200);
    assert!(
        stream
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    // The stub holds everything after its first chunk until released: the
    // first frame can only arrive here if the gateway did not buffer.
    let first = stream.next_event().unwrap().expect("a first frame").json();
    assert_eq!(first, json!({"type": "chunk", "content": "stub "}));
    assert_eq!(stub.release(), 1);
    let rest: Vec<Value> = stream.all().iter().map(|e| e.json()).collect();
    let text: String = std::iter::once(&first)
        .chain(&rest)
        .filter(|f| f["type"] == "chunk")
        .map(|f| f["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, reply_to(&format!("Answer {question}")));
    assert_eq!(rest.last().unwrap()["type"], "done");
}

#[test]
fn request_fields_override_the_version() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options());
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "over", "gpt-4o-mini");
    let res = execute(
        &admin,
        &json!({"promptSlug": "over", "variables": {"question": "q"}, "temperature": 1.5,
                "maxTokens": 7, "topP": 0.5, "stopSequences": ["STOP"], "system": "Be {{tone}}!"}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let sent: Value = serde_json::from_str(stub.requests()[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["temperature"], 1.5);
    assert_eq!(sent["max_tokens"], 7);
    assert_eq!(sent["top_p"], 0.5);
    assert_eq!(sent["stop"], json!(["STOP"]));
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be kind!"})
    );
}

#[test]
fn the_log_is_written_before_the_answer_and_keeps_no_secret() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options());
    let admin = Client::admin(&rt);
    promoted_prompt(&admin, "audit-me", "gpt-4o-mini");
    // The caller's own token (the admin's was printed at startup by design).
    let (_, token) = admin.mint("caller", &["gateway:execute"]);
    let caller = admin.with_token(&token);
    let mut answers = String::new();
    for (model, _, _) in MODELS {
        for question in ["fine", "[[stub:status=401]]", "[[stub:garbage]]"] {
            let body = json!({"promptSlug": "audit-me", "model": model, "variables": {"question": question}});
            let auth = format!("Bearer {}", caller.token);
            let request_id = format!("req-{model}-{}", question.len());
            let res = caller.rt.request(
                "POST",
                "/api/v1/gateway/execute",
                &[
                    ("Authorization", auth.as_str()),
                    ("User-Agent", "e2e-agent/1.0"),
                    ("X-Request-Id", request_id.as_str()),
                ],
                Some(&body.to_string()),
            );
            answers.push_str(&res.body);
            answers.push_str(&format!("{:?}", res.headers));
            // Acknowledged means stored: the row is there the moment the
            // answer is.
            let rows = logged(&rt);
            let row = rows.last().unwrap();
            assert_eq!(row["request_id"], request_id.as_str());
            assert_eq!(row["user_agent"], "e2e-agent/1.0");
            assert_eq!(row["http_status"], res.status);
            if res.status == 200 {
                let body = res.json();
                assert_eq!(row["id"], body["id"]);
                assert_eq!(row["input_tokens"], body["inputTokens"]);
                assert_eq!(row["output_tokens"], body["outputTokens"]);
                let (stored, answered) = (
                    row["cost_usd"].as_f64().unwrap(),
                    body["cost"].as_f64().unwrap(),
                );
                assert!((stored - answered).abs() < 1e-12, "{stored} vs {answered}");
                assert_eq!(row["cost_known"], 1);
                assert_eq!(row["latency_ms"], body["latencyMs"]);
                assert!(
                    row["provider_latency_ms"].as_i64().unwrap()
                        <= row["latency_ms"].as_i64().unwrap()
                );
                let request: Value =
                    serde_json::from_str(row["request_body"].as_str().unwrap()).unwrap();
                assert!(
                    request["url"].as_str().unwrap().starts_with(&stub.base_url),
                    "{request}"
                );
                assert!(
                    request["body"].to_string().contains("Answer fine"),
                    "{request}"
                );
                let response: Value =
                    serde_json::from_str(row["response_body"].as_str().unwrap()).unwrap();
                assert_eq!(response["status"], 200, "{response}");
            }
        }
    }
    let events = gateway_stream(
        &admin,
        &json!({"promptSlug": "audit-me", "variables": {"question": "streamed"}}),
    )
    .all();
    let done = events.last().unwrap().json();
    let row = log_of(&rt, done["id"].as_str().unwrap());
    assert!(
        row["response_body"].as_str().unwrap().contains("[DONE]"),
        "the stream transcript is kept: {row:?}"
    );

    // An unknown model is priced at 0 and flagged.
    let res = execute(
        &admin,
        &json!({"promptSlug": "audit-me", "model": "gpt-9-imaginary", "variables": {"question": "q"}}),
    );
    assert_eq!(res.json()["cost"], 0.0, "{}", res.body);
    assert_eq!(
        log_of(&rt, res.json()["id"].as_str().unwrap())["cost_known"],
        0
    );

    // No provider key and no bearer token in any stored row or any answer,
    // though every request carried one of them.
    let db = std::fs::read(rt.state_dir.join("sqlite_db.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    let stored: String = logged(&rt).iter().map(|r| format!("{r:?}")).collect();
    for secret in PROVIDER_KEYS.iter().copied().chain([caller.token.as_str()]) {
        assert!(
            !stored.contains(secret),
            "{secret} stored in execution_logs"
        );
        assert!(!db.contains(secret), "{secret} in the database file");
        assert!(!answers.contains(secret), "{secret} in an answer");
        assert!(
            !rt.logs().contains(secret),
            "{secret} in the runtime's output"
        );
    }
    assert!(
        stored.contains("[REDACTED]"),
        "the key headers are there, redacted"
    );
}

#[test]
fn each_token_gets_its_calls_per_minute_then_429_with_retry_after() {
    let rt = Runtime::probe(Options::new(app_manifest()).rate_limit_per_minute(3));
    let admin = Client::admin(&rt);
    let body = json!({"user": "hi", "model": "echo"});
    for remaining in [2, 1, 0] {
        let res = execute(&admin, &body);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            res.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    }
    let res = execute(&admin, &body);
    let env = res.assert_envelope(429, "RATE_LIMITED");
    assert_eq!(env["details"]["limit"], 3);
    let retry: u64 = res
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let res = gateway_stream(&admin, &body).into_reply();
    res.assert_envelope(429, "RATE_LIMITED");

    // Another token has its own budget; other endpoints are not limited.
    let (_, other) = admin.mint("other", &["gateway:execute"]);
    assert_eq!(execute(&admin.with_token(&other), &body).status, 200);
    assert_eq!(admin.get("/api/v1/prompts").status, 200);
    let limited = logged(&rt)
        .iter()
        .filter(|r| r["error_code"] == "RATE_LIMITED")
        .count();
    assert_eq!(limited, 2);
}
