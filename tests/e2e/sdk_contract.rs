//! The official Python SDK (PyPI `prompt-helm-sdk`, pinned below) against
//! the real gateway, with the stub provider behind it.
//!
//! `tests/sdk/contract.py` makes the calls and prints what the SDK gave back;
//! this file sets the stage (venv, runtimes, prompt, tokens) and asserts
//! field by field against docs/API.md's gateway section. The venv is made
//! once under `target/prompthelm-test-cache/python-sdk` and reused. Without
//! python3 (with venv and pip) or PyPI, the test fails; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::api::{Client, id};
use crate::harness::Flavor;
use crate::stub::{
    ANTHROPIC_KEY, DEEPSEEK_KEY, GOOGLE_KEY, OPENAI_KEY, StubOptions as _, StubProvider,
    gateway_stream, reply_to,
};

const SDK_PACKAGE: &str = "prompt-helm-sdk";
const SDK_VERSION: &str = "0.2.0";

const SLUG: &str = "sdk-contract";
const VARIABLE: &str = "name";
const VALUE: &str = "Ada";
const SYSTEM: &str = "You are terse.";
const USER: &str = "Greet {{name}} warmly";
/// `USER` rendered with `VALUE`: the last user message the stub sees.
const RENDERED: &str = "Greet Ada warmly";
const MODEL: &str = "gpt-4o-mini";
/// The stub counts words: 3 of system and 3 of user text in, and 6 of
/// `stub reply to: Greet Ada warmly` out.
const INPUT_TOKENS: u64 = 6;
const OUTPUT_TOKENS: u64 = 6;
/// gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output.
const COST: f64 = (INPUT_TOKENS as f64 * 0.15 + OUTPUT_TOKENS as f64 * 0.60) / 1e6;
/// A well-formed token that no organization has.
const UNKNOWN_KEY: &str = "phk_0123456789abcdef0123456789abcdef";

/// The venv's python with the pinned SDK installed; made once, then reused.
fn sdk_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        crate::venv::python_with("python-sdk", SDK_PACKAGE, SDK_VERSION, sdk_installed)
    })
}

fn sdk_installed(python: &Path) -> bool {
    python.is_file()
        && Command::new(python)
            .args([
                "-c",
                &format!(
                    "import prompt_helm, sys; sys.exit(prompt_helm.__version__ != '{SDK_VERSION}')"
                ),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Creates the contract's prompt, saves and promotes its version, and mints
/// a `gateway:execute` token; returns the token.
fn seed(admin: &Client) -> String {
    let prompt = admin.create_prompt(SLUG);
    let pid = id(&prompt);
    let version = admin.save_version(
        &pid,
        &json!({
            "system": SYSTEM,
            "user": USER,
            "variables": [{"name": VARIABLE, "type": "string", "required": true}],
            "model": MODEL,
            "temperature": 0.2,
            "maxTokens": 64,
        }),
    );
    admin.promote(&pid, &id(&version));
    admin.mint("sdk contract", &["gateway:execute"]).1
}

#[test]
fn the_python_sdk_speaks_the_gateway_contract() {
    sdk_contract(Flavor::Prompthelm);
}

#[test]
fn the_python_sdk_speaks_the_gateway_contract_under_spin() {
    if let Some(spin) = Flavor::spin() {
        sdk_contract(spin);
    }
}

/// The contract against the app served by `flavor`.
fn sdk_contract(flavor: Flavor) {
    let python = sdk_python();
    let stub = StubProvider::start();
    let rt = flavor.start(stub.app_options());
    let limited = flavor.start(stub.app_options().rate_limit_per_minute(1));

    let admin = Client::admin(&rt);
    let key = seed(&admin);
    let (_, no_scope_key) = admin.mint("sdk contract, no gateway", &["prompts:read"]);
    let limited_key = seed(&Client::admin(&limited));

    let obs = crate::venv::run_script(
        python,
        "sdk/contract.py",
        &[
            ("PH_BASE_URL", &rt.base_url),
            ("PH_API_KEY", &key),
            ("PH_NO_SCOPE_API_KEY", &no_scope_key),
            ("PH_UNKNOWN_API_KEY", UNKNOWN_KEY),
            ("PH_PROMPT_SLUG", SLUG),
            ("PH_VARIABLE", VARIABLE),
            ("PH_VALUE", VALUE),
            ("PH_MISSING_SLUG", "no-such-prompt"),
            ("PH_TIMEOUT_MS", "300"),
            ("PH_LIMITED_BASE_URL", &limited.base_url),
            ("PH_LIMITED_API_KEY", &limited_key),
            ("PH_LIMITED_PROMPT_SLUG", SLUG),
        ],
    );
    assert_eq!(obs["sdkVersion"], SDK_VERSION);

    let output = assert_execute(&obs["execute"]);
    assert_stream(&obs["stream"], &output);

    let errors = &obs["errors"];
    // 401 with no X-Request-Id sent: the server's own id reaches the SDK.
    let e = assert_sdk_error(
        &errors["unauthorized"],
        "AuthenticationError",
        401,
        "UNAUTHORIZED",
        None,
    );
    assert!(e["requestId"].as_str().unwrap().starts_with("req_"), "{e}");
    let e = assert_sdk_error(
        &errors["forbidden"],
        "AuthorizationError",
        403,
        "FORBIDDEN",
        Some("sdk-contract-forbidden"),
    );
    assert!(
        e["message"].as_str().unwrap().contains("gateway:execute"),
        "403 must name the scope: {e}"
    );
    assert_sdk_error(
        &errors["notFound"],
        "NotFoundError",
        404,
        "PROMPT_NOT_FOUND",
        Some("sdk-contract-not-found"),
    );
    assert_sdk_error(
        &errors["streamNotFound"],
        "NotFoundError",
        404,
        "PROMPT_NOT_FOUND",
        Some("sdk-contract-stream-not-found"),
    );
    assert_sdk_error(
        &errors["missingVariables"],
        "ApiError",
        422,
        "GATEWAY_MISSING_VARIABLES",
        Some("sdk-contract-missing"),
    );
    let body = raw_body(&errors["missingVariables"]);
    let missing = body["details"]["missing"]
        .as_array()
        .unwrap_or_else(|| panic!("422 without details.missing: {body}"));
    assert!(
        missing
            .iter()
            .any(|m| m == VARIABLE || m["name"] == VARIABLE),
        "details.missing must name `{VARIABLE}`: {body}"
    );
    assert_sdk_error(
        &errors["upstreamFailure"],
        "ApiError",
        502,
        "UPSTREAM_FAILURE",
        Some("sdk-contract-upstream"),
    );
    let body = raw_body(&errors["upstreamFailure"]);
    assert_eq!(body["details"]["providerStatus"], 500, "{body}");
    assert_sdk_error(
        &errors["providerTimeout"],
        "ApiError",
        504,
        "PROVIDER_TIMEOUT",
        Some("sdk-contract-timeout"),
    );

    // 429: the calls before the refused one went through.
    let attempts = errors["rateLimited"]["attempts"].as_array().unwrap();
    let (refused, allowed) = attempts.split_last().unwrap();
    assert!(
        (1..=2).contains(&allowed.len()) && allowed.iter().all(|a| a["ok"] == true),
        "with 1 call per minute, the 2nd or 3rd call is refused: {attempts:#?}"
    );
    assert_sdk_error(refused, "RateLimitError", 429, "RATE_LIMITED", None);
    let headers = &refused["exchanges"][0]["headers"];
    assert_retry_after(headers["retry-after"].as_str(), &refused["exchanges"][0]);
    assert_eq!(headers["x-ratelimit-limit"], "1", "{headers}");
    assert_eq!(headers["x-ratelimit-remaining"], "0", "{headers}");

    // The SDK exposes no headers, so Retry-After is checked directly too.
    let direct = Client::admin(&limited).with_token(&limited_key);
    let refused = (0..3)
        .map(|_| {
            direct.post(
                "/api/v1/gateway/execute",
                &json!({"promptSlug": SLUG, "variables": {VARIABLE: VALUE}}),
            )
        })
        .find(|r| r.status == 429)
        .expect("no 429 in three calls at 1 call per minute");
    refused.assert_envelope(429, "RATE_LIMITED");
    let exchange = json!({"status": refused.status, "body": refused.body});
    assert_retry_after(refused.header("retry-after"), &exchange);

    // What reached the provider: the rendered prompt with the OpenAI key,
    // and no other provider's key.
    let requests = stub.requests();
    let executed = requests
        .iter()
        .find(|r| last_user_text(r).as_deref() == Some(RENDERED))
        .unwrap_or_else(|| panic!("the stub never got {RENDERED:?}: {requests:#?}"));
    assert_eq!(executed["path"], "/v1/chat/completions");
    let auth = format!("Bearer {OPENAI_KEY}");
    assert!(
        executed["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["authorization", auth])),
        "{executed}"
    );
    for r in &requests {
        let text = r.to_string();
        for k in [ANTHROPIC_KEY, GOOGLE_KEY, DEEPSEEK_KEY] {
            assert!(!text.contains(k), "{k} was sent to OpenAI: {r}");
        }
    }
}

/// The execute case: the nine SDK fields, their types and values, the raw
/// JSON under them, and the headers. Returns the output.
fn assert_execute(case: &Value) -> String {
    assert_eq!(case["ok"], true, "execute failed: {case:#}");
    let r = &case["result"];
    assert_eq!(r["class"], "ExecuteResponse", "{r}");
    let types = json!({
        "id": "str", "output": "str", "model": "str", "input_tokens": "int",
        "output_tokens": "int", "total_tokens": "int", "latency_ms": "int",
        "cost": "float", "timestamp": "str",
    });
    assert_eq!(r["types"], types, "{r}");
    let v = &r["values"];
    assert!(v["id"].as_str().unwrap().starts_with("exe_"), "{v}");
    assert_eq!(v["output"], reply_to(RENDERED), "{v}");
    assert_eq!(v["model"], MODEL, "{v}");
    assert_eq!(v["input_tokens"], INPUT_TOKENS, "{v}");
    assert_eq!(v["output_tokens"], OUTPUT_TOKENS, "{v}");
    assert_eq!(v["total_tokens"], INPUT_TOKENS + OUTPUT_TOKENS, "{v}");
    assert!(v["latency_ms"].as_u64().is_some(), "{v}");
    assert_cost(&v["cost"]);
    assert_timestamp(&v["timestamp"]);

    // The wire: JSON integers where the SDK says int, and the extra fields.
    let ex = only_exchange(case);
    assert_eq!(ex["status"], 200, "{ex}");
    assert_eq!(ex["path"], "/api/v1/gateway/execute");
    let raw: Value = serde_json::from_str(ex["body"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("execute body is not JSON ({e}): {ex}"));
    for f in ["id", "output", "model", "timestamp"] {
        assert!(raw[f].is_string(), "{f}: {raw}");
        assert_eq!(raw[f], v[f], "{f}");
    }
    for f in ["inputTokens", "outputTokens", "totalTokens", "latencyMs"] {
        assert!(raw[f].is_u64(), "{f} must be a JSON integer: {raw}");
    }
    assert!(raw["cost"].is_number(), "{raw}");
    assert_eq!(raw["provider"], "openai", "{raw}");
    assert_eq!(raw["environment"], "production", "{raw}");
    assert_eq!(raw["version"], "1.0.0", "{raw}");
    assert_eq!(raw["finishReason"], "stop", "{raw}");
    assert_eq!(raw["cachedInputTokens"], 0, "{raw}");
    assert!(
        raw["promptId"]
            .as_str()
            .is_some_and(|s| s.starts_with("prm_")),
        "{raw}"
    );
    assert!(
        raw["versionId"]
            .as_str()
            .is_some_and(|s| s.starts_with("ver_")),
        "{raw}"
    );
    let h = &ex["headers"];
    assert!(
        h["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/json")),
        "{h}"
    );
    assert!(
        h["x-request-id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{h}"
    );
    assert_rate_limit_headers(h, 600);
    v["output"].as_str().unwrap().to_owned()
}

/// The stream case: chunk events that add up to the execute output, then one
/// done event with usage.
fn assert_stream(case: &Value, output: &str) {
    assert_eq!(case["ok"], true, "stream failed: {case:#}");
    let events = case["result"].as_array().unwrap();
    let (done, chunks) = events
        .split_last()
        .unwrap_or_else(|| panic!("no events: {case:#}"));
    let mut text = String::new();
    for c in chunks {
        assert_eq!(c["class"], "StreamChunkEvent", "{events:#?}");
        assert_eq!(c["values"]["type"], "chunk");
        text.push_str(c["values"]["content"].as_str().unwrap());
    }
    assert_eq!(text, output, "{events:#?}");
    let non_empty = chunks
        .iter()
        .filter(|c| c["values"]["content"] != "")
        .count();
    assert!(
        non_empty >= 2,
        "the answer came in one piece, not streamed: {events:#?}"
    );

    assert_eq!(done["class"], "StreamDoneEvent", "{events:#?}");
    let types = json!({
        "input_tokens": "int", "output_tokens": "int", "total_tokens": "int",
        "cost": "float", "model": "str", "latency_ms": "int", "type": "str",
    });
    assert_eq!(done["types"], types, "{done}");
    let v = &done["values"];
    assert_eq!(v["type"], "done");
    assert_eq!(v["input_tokens"], INPUT_TOKENS, "{v}");
    assert_eq!(v["output_tokens"], OUTPUT_TOKENS, "{v}");
    assert_eq!(v["total_tokens"], INPUT_TOKENS + OUTPUT_TOKENS, "{v}");
    assert_eq!(v["model"], MODEL, "{v}");
    assert_cost(&v["cost"]);

    let ex = only_exchange(case);
    assert_eq!(ex["status"], 200, "{ex}");
    assert_eq!(ex["path"], "/api/v1/gateway/stream");
    let h = &ex["headers"];
    assert!(
        h["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{h}"
    );
    assert!(h["x-request-id"].as_str().is_some(), "{h}");
    assert_rate_limit_headers(h, 600);
}

/// An error case: the SDK's exception class, status, errorCode and
/// requestId, each equal to the envelope on the wire. With `request_id`, the
/// id the call sent, which the gateway must echo. Returns the SDK's error.
fn assert_sdk_error(
    case: &Value,
    class: &str,
    status: u16,
    error_code: &str,
    request_id: Option<&str>,
) -> Value {
    assert_eq!(
        case["ok"], false,
        "expected {status} {error_code}: {case:#}"
    );
    let e = &case["error"];
    assert_eq!(e["class"], class, "{status} {error_code}: {case:#}");
    assert_eq!(e["module"], "prompt_helm.errors", "{e}");
    assert_eq!(e["isPromptHelmError"], true, "{e}");
    assert_eq!(e["statusCode"], status, "{case:#}");
    assert_eq!(e["errorCode"], error_code, "{case:#}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    let id = e["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestId reached the SDK: {case:#}"));
    if let Some(sent) = request_id {
        assert_eq!(id, sent, "the gateway did not echo X-Request-Id: {case:#}");
    }

    let ex = only_exchange(case);
    assert_eq!(ex["status"], status, "{ex}");
    assert_eq!(ex["headers"]["x-request-id"], id, "{ex}");
    if ex["path"] == "/api/v1/gateway/execute" {
        let body = raw_body(case);
        assert_eq!(body["statusCode"], status, "{body}");
        assert_eq!(body["errorCode"], error_code, "{body}");
        assert_eq!(body["requestId"], id, "{body}");
        assert_eq!(body["message"], e["message"], "{body}");
        assert_timestamp(&body["timestamp"]);
    }
    e.clone()
}

/// The one HTTP exchange of a case (the SDK runs without retries).
fn only_exchange(case: &Value) -> &Value {
    let ex = case["exchanges"].as_array().unwrap();
    assert_eq!(ex.len(), 1, "one HTTP exchange expected: {case:#}");
    &ex[0]
}

fn raw_body(case: &Value) -> Value {
    let ex = only_exchange(case);
    let body = ex["body"].as_str().unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {ex}"))
}

fn assert_cost(cost: &Value) {
    let c = cost.as_f64().unwrap_or_else(|| panic!("cost {cost}"));
    assert!(
        (c - COST).abs() < 1e-12,
        "cost {c}, expected {COST} (gpt-4o-mini, {INPUT_TOKENS} in, {OUTPUT_TOKENS} out)"
    );
}

/// RFC 3339 UTC with milliseconds: `2026-11-24T10:00:00.123Z`.
fn assert_timestamp(t: &Value) {
    let s = t.as_str().unwrap_or_else(|| panic!("timestamp {t}"));
    let b = s.as_bytes();
    let digits = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..23];
    assert!(
        b.len() == 24
            && (b[4], b[7], b[10], b[13], b[16], b[19], b[23])
                == (b'-', b'-', b'T', b':', b':', b'.', b'Z')
            && digits
                .into_iter()
                .all(|r| b[r].iter().all(u8::is_ascii_digit)),
        "timestamp {s:?} is not RFC 3339 UTC with milliseconds"
    );
}

fn assert_rate_limit_headers(h: &Value, limit: u32) {
    assert_eq!(h["x-ratelimit-limit"], limit.to_string(), "{h}");
    let remaining: u32 = h["x-ratelimit-remaining"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("X-RateLimit-Remaining: {h}"));
    assert!(remaining < limit, "{h}");
}

fn assert_retry_after(value: Option<&str>, exchange: &Value) {
    let secs: u64 = value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a Retry-After in seconds: {exchange}"));
    assert!(
        (1..=60).contains(&secs),
        "Retry-After {secs}: the next clock minute is at most 60 s away"
    );
}

/// The last user message of a request the stub recorded (OpenAI format).
fn last_user_text(recorded: &Value) -> Option<String> {
    let body: Value = serde_json::from_str(recorded["body"].as_str()?).ok()?;
    body["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?["content"]
        .as_str()
        .map(str::to_owned)
}

/// The stream on the wire, which the SDK reads leniently (it skips frames it
/// cannot parse, so it would not notice a broken one): every frame is one
/// `data:` line of JSON, chunks then one done that carries the execution id.
#[test]
fn stream_frames_are_the_json_events_the_sdk_parses() {
    let stub = StubProvider::start();
    let rt = Flavor::Prompthelm.start(stub.app_options());
    let admin = Client::admin(&rt);
    let client = admin.with_token(&seed(&admin));

    let s = gateway_stream(
        &client,
        &json!({"promptSlug": SLUG, "variables": {VARIABLE: VALUE}}),
    );
    assert_eq!(s.status, 200);
    assert!(
        s.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    let events = s.all();
    let (done, chunks) = events.split_last().expect("events");
    let mut text = String::new();
    for e in chunks {
        assert_eq!(e.name, None, "{e:?}");
        let v = e.json();
        assert_eq!(v["type"], "chunk", "{v}");
        text.push_str(v["content"].as_str().expect("content"));
    }
    assert_eq!(text, reply_to(RENDERED));
    let v = done.json();
    assert_eq!(v["type"], "done", "{v}");
    assert!(
        v["id"].as_str().is_some_and(|id| id.starts_with("exe_")),
        "{v}"
    );
    for f in ["inputTokens", "outputTokens", "totalTokens", "latencyMs"] {
        assert!(v[f].is_u64(), "{f}: {v}");
    }
    assert_eq!(v["inputTokens"], INPUT_TOKENS, "{v}");
    assert_eq!(v["outputTokens"], OUTPUT_TOKENS, "{v}");
    assert_eq!(v["model"], MODEL, "{v}");
    assert_cost(&v["cost"]);

    // Refused before it starts: a plain envelope, not a stream.
    let r = gateway_stream(
        &client,
        &json!({"promptSlug": "no-such-prompt", "variables": {VARIABLE: VALUE}}),
    )
    .into_reply();
    r.assert_envelope(404, "PROMPT_NOT_FOUND");
}
