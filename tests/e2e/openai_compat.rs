//! The official OpenAI Python SDK (PyPI `openai`, pinned below) against the
//! OpenAI-compatible endpoint `/api/v1/openai/v1` (issue 15 §10), with the
//! stub provider behind the gateway.
//!
//! `tests/openai/compat.py` makes the calls (sync, streaming, models, error
//! cases) and prints what the SDK gave back; this file seeds the prompts and
//! tokens, asserts on the observation, and checks that every call that
//! passed authentication is an execution-log row like `/gateway/execute`'s.
//! The venv is made once under `target/prompthelm-test-cache/openai-sdk`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::api::{Client, id};
use crate::harness::{Flavor, Runtime, send};
use crate::stub::{StubOptions as _, StubProvider, reply_to};

const PACKAGE: &str = "openai";
const VERSION: &str = "3.51.0";

const SLUG: &str = "oa-compat";
const TWO_SLUG: &str = "oa-compat-two";
const VARIABLE: &str = "name";
const MODEL: &str = "gpt-4o-mini";
/// A well-formed token that no organization has.
const UNKNOWN_KEY: &str = "phk_0123456789abcdef0123456789abcdef";

fn openai_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| crate::venv::python_with("openai-sdk", PACKAGE, VERSION, installed))
}

fn installed(python: &Path) -> bool {
    python.is_file()
        && Command::new(python)
            .args([
                "-c",
                &format!("import openai, sys; sys.exit(openai.__version__ != '{VERSION}')"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// `SLUG` (production "Greet {{name}} warmly", development "Welcome {{name}}
/// aboard") and `TWO_SLUG` (two required variables); returns a
/// `gateway:execute` token.
fn seed(admin: &Client) -> String {
    let version = |user: &str, variables: Value| {
        json!({
            "system": "You are terse.",
            "user": user,
            "variables": variables,
            "model": MODEL,
            "temperature": 0.2,
            "maxTokens": 64,
        })
    };
    let one = json!([{"name": VARIABLE, "type": "string", "required": true}]);
    let pid = id(&admin.create_prompt(SLUG));
    let v1 = admin.save_version(&pid, &version("Greet {{name}} warmly", one.clone()));
    admin.promote(&pid, &id(&v1));
    admin.save_version(&pid, &version("Welcome {{name}} aboard", one));

    let two = json!([
        {"name": "a", "type": "string", "required": true},
        {"name": "b", "type": "string", "required": true},
    ]);
    let pid = id(&admin.create_prompt(TWO_SLUG));
    let v = admin.save_version(&pid, &version("{{a}} and {{b}}", two));
    admin.promote(&pid, &id(&v));
    admin.mint("openai compat", &["gateway:execute"]).1
}

fn logged(rt: &Runtime) -> Vec<BTreeMap<String, Value>> {
    rt.execution_logs()
}

fn row<'a>(rows: &'a [BTreeMap<String, Value>], id: &Value) -> &'a BTreeMap<String, Value> {
    rows.iter()
        .find(|row| &row["id"] == id)
        .unwrap_or_else(|| panic!("no execution log {id}"))
}

fn assert_completion(c: &Value, content: &str) {
    assert_eq!(c["type"], "ChatCompletion", "{c}");
    assert_eq!(c["object"], "chat.completion", "{c}");
    assert_eq!(c["model"], MODEL, "{c}");
    assert_eq!(c["role"], "assistant", "{c}");
    assert_eq!(c["content"], content, "{c}");
    assert_eq!(c["finish_reason"], "stop", "{c}");
    assert_eq!(c["index"], 0, "{c}");
    assert!(c["created"].as_i64().unwrap() > 1_700_000_000, "{c}");
    assert!(c["id"].as_str().unwrap().starts_with("exe_"), "{c}");
    let usage = &c["usage"];
    let (p, k) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p > 0 && k > 0, "{c}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), p + k, "{c}");
}

fn assert_error(e: &Value, class: &str, status: u16, code: &str) {
    assert_eq!(e["class"], class, "{e}");
    assert_eq!(e["status"], status, "{e}");
    assert_eq!(e["code"], code, "{e}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    let request_id = e["x_request_id"].as_str().unwrap_or_default();
    assert!(request_id.starts_with("req_"), "{e}");
    assert_eq!(e["request_id"], request_id, "{e}");
}

#[test]
fn the_openai_sdk_runs_managed_prompts() {
    openai_sdk(Flavor::Prompthelm);
}

#[test]
fn the_openai_sdk_runs_managed_prompts_under_spin() {
    if let Some(spin) = Flavor::spin() {
        openai_sdk(spin);
    }
}

/// The official `openai` package against the app served by `flavor`.
fn openai_sdk(flavor: Flavor) {
    let python = openai_python();
    let stub = StubProvider::start();
    let rt = flavor.start(stub.app_options());
    let limited = flavor.start(stub.app_options().rate_limit_per_minute(1));
    let key = seed(&Client::admin(&rt));
    let limited_key = seed(&Client::admin(&limited));

    let obs = crate::venv::run_script(
        python,
        "openai/compat.py",
        &[
            ("OA_BASE_URL", &rt.url("/api/v1/openai/v1")),
            ("OA_API_KEY", &key),
            ("OA_UNKNOWN_API_KEY", UNKNOWN_KEY),
            ("OA_SLUG", SLUG),
            ("OA_VARIABLE", VARIABLE),
            ("OA_TWO_SLUG", TWO_SLUG),
            ("OA_LIMITED_BASE_URL", &limited.url("/api/v1/openai/v1")),
            ("OA_LIMITED_API_KEY", &limited_key),
        ],
    );
    assert_eq!(obs["openaiVersion"], VERSION);

    // Sync: the last user message fills the one required variable.
    let sync = &obs["sync"];
    assert_completion(sync, &reply_to("Greet Ada warmly"));
    assert_eq!(sync["status"], 200);
    assert!(sync["x_request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(sync["prompthelm"]["environment"], "production", "{sync}");
    assert!(sync["prompthelm"]["version"].is_string(), "{sync}");
    assert_eq!(sync["prompthelm"]["executionId"], sync["id"]);
    // prompthelm_variables through extra_body.
    assert_completion(&obs["syncVariables"], &reply_to("Greet Grace warmly"));
    // @development runs the newest save.
    let dev = &obs["development"];
    assert_completion(dev, &reply_to("Welcome Linus aboard"));
    assert_eq!(dev["prompthelm"]["environment"], "development");
    // A plain model: system + last user message, ad hoc.
    let ad_hoc = &obs["adHoc"];
    assert_completion(ad_hoc, &reply_to("Hello there"));
    assert_eq!(ad_hoc["prompthelm"]["promptId"], Value::Null);

    // Streaming: a role chunk, text chunks, a finish chunk, the usage chunk.
    let stream = &obs["stream"];
    assert_eq!(stream["text"], reply_to("Greet Ada warmly"), "{stream}");
    let chunks = stream["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 4, "{stream}");
    let stream_id = &chunks[0]["id"];
    for chunk in chunks {
        assert_eq!(chunk["type"], "ChatCompletionChunk", "{chunk}");
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(&chunk["id"], stream_id, "{chunk}");
        assert_eq!(chunk["model"], MODEL, "{chunk}");
    }
    assert_eq!(chunks[0]["choices"][0]["role"], "assistant", "{stream}");
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]), "{stream}");
    let usage = &usage_chunk["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0, "{stream}");
    let last = rest.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop", "{stream}");
    for chunk in &rest[..rest.len() - 1] {
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null, "{chunk}");
        assert_eq!(chunk["usage"], Value::Null, "{chunk}");
    }
    // Without stream_options: no usage chunk.
    let plain = &obs["streamPlain"];
    assert_eq!(plain["text"], reply_to("Greet Ada warmly"));
    let plain_chunks = plain["chunks"].as_array().unwrap();
    assert_eq!(
        plain_chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert!(plain_chunks.iter().all(|c| c["usage"].is_null()), "{plain}");

    // The organization's prompts are its models.
    let models = &obs["models"];
    let mut ids: Vec<&str> = models["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["prompt:oa-compat", "prompt:oa-compat-two"]);
    assert_eq!(models["objects"], json!(["model"]));
    assert_eq!(models["owned_by"], json!(["prompthelm"]));

    let errors = &obs["errors"];
    assert_error(
        &errors["badToken"],
        "AuthenticationError",
        401,
        "UNAUTHORIZED",
    );
    assert_eq!(errors["badToken"]["type"], "authentication_error");
    assert_error(
        &errors["badTokenModels"],
        "AuthenticationError",
        401,
        "UNAUTHORIZED",
    );
    assert_error(
        &errors["unknownPrompt"],
        "NotFoundError",
        404,
        "PROMPT_NOT_FOUND",
    );
    assert_error(
        &errors["unknownPromptStream"],
        "NotFoundError",
        404,
        "PROMPT_NOT_FOUND",
    );
    let missing = &errors["missingVariables"];
    assert_error(
        missing,
        "UnprocessableEntityError",
        422,
        "GATEWAY_MISSING_VARIABLES",
    );
    assert!(
        missing["message"].as_str().unwrap().contains('a'),
        "{missing}"
    );
    let temperature = &errors["badTemperature"];
    assert_error(
        temperature,
        "UnprocessableEntityError",
        422,
        "VALIDATION_ERROR",
    );
    assert_eq!(temperature["param"], "temperature", "{temperature}");
    let environment = &errors["badEnvironment"];
    assert_error(
        environment,
        "UnprocessableEntityError",
        422,
        "VALIDATION_ERROR",
    );
    assert_eq!(environment["param"], "model", "{environment}");
    assert_error(
        &errors["unsupportedModel"],
        "UnprocessableEntityError",
        422,
        "UNSUPPORTED_MODEL",
    );
    assert_eq!(obs["limitedFirst"], reply_to("Greet Ada warmly"));
    // A minute boundary may let a second call through, never a third.
    let accepted = obs["limitedAccepted"].as_u64().unwrap();
    assert!((1..=2).contains(&accepted), "{obs}");
    assert_error(
        &errors["rateLimited"],
        "RateLimitError",
        429,
        "RATE_LIMITED",
    );

    // Logged like /gateway/execute: one row per authenticated call.
    let rows = logged(&rt);
    let r = row(&rows, &sync["id"]);
    assert_eq!(r["status"], "success", "{r:?}");
    assert_eq!(r["http_status"], 200);
    assert_eq!(r["model"], MODEL);
    assert_eq!(r["environment"], "production");
    assert_eq!(r["stream"], 0);
    assert_eq!(r["input_tokens"], sync["usage"]["prompt_tokens"]);
    assert_eq!(r["output_tokens"], sync["usage"]["completion_tokens"]);
    assert!(
        r["prompt_id"].as_str().unwrap().starts_with("prm_"),
        "{r:?}"
    );
    let r = row(&rows, &dev["id"]);
    assert_eq!(r["environment"], "development");
    let r = row(&rows, &ad_hoc["id"]);
    assert_eq!(r["prompt_id"], Value::Null);
    let r = row(&rows, stream_id);
    assert_eq!(r["stream"], 1, "{r:?}");
    assert_eq!(r["status"], "success");
    assert_eq!(r["output_tokens"], usage["completion_tokens"]);
    let codes: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["error_code"].as_str())
        .collect();
    for code in [
        "PROMPT_NOT_FOUND",
        "GATEWAY_MISSING_VARIABLES",
        "VALIDATION_ERROR",
        "UNSUPPORTED_MODEL",
    ] {
        assert!(codes.contains(&code), "{code} not logged: {codes:?}");
    }
    assert!(!codes.contains(&"UNAUTHORIZED"), "{codes:?}");
    // 6 successes and 6 refusals after authentication (the bad token and
    // the model list are not executions).
    assert_eq!(rows.len(), 6 + 6, "{rows:#?}");
    let limited_rows = logged(&limited);
    let mut expected = vec![Value::Null; accepted as usize];
    expected.push(json!("RATE_LIMITED"));
    assert_eq!(
        limited_rows
            .iter()
            .map(|r| r["error_code"].clone())
            .collect::<Vec<_>>(),
        expected
    );

    // The rest of the wire: OpenAI's error shape for unknown paths and
    // methods, X-Request-Id kept.
    let auth = format!("Bearer {key}");
    let res = send(
        "GET",
        &rt.url("/api/v1/openai/v1/embeddings"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(res.status, 404, "{}", res.body);
    assert_eq!(res.json()["error"]["type"], "not_found_error");
    assert!(res.header("x-request-id").is_some());
    let res = send(
        "GET",
        &rt.url("/api/v1/openai/v1/chat/completions"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(res.status, 405, "{}", res.body);
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(res.json()["error"]["code"], "METHOD_NOT_ALLOWED");
}
