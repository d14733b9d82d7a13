//! Providers behind a path: `<provider>_base_url` is the base URL as
//! OpenAI-style clients take it (`https://openrouter.ai/api/v1`, a local
//! `http://127.0.0.1:11434/v1`), and `<provider>_origin` its
//! `scheme://host[:port]`, the outbound allow-list entry (Spin allows no path
//! there). The stub serves every endpoint under `/proxy/` too and logs the
//! full path.

use serde_json::{Value, json};

use crate::api::{Client, id};
use crate::harness::Flavor;
use crate::stub::{StubProvider, gateway_stream, reply_to};

/// Model, base path, the path the provider must receive.
const CASES: [(&str, &str, &str); 4] = [
    ("gpt-4o-mini", "/proxy/v1", "/proxy/v1/chat/completions"),
    (
        "claude-3-5-haiku-latest",
        "/proxy/v1/",
        "/proxy/v1/messages",
    ),
    (
        "gemini-2.0-flash",
        "/proxy/v1beta",
        "/proxy/v1beta/models/gemini-2.0-flash:",
    ),
    ("deepseek-chat", "/proxy", "/proxy/chat/completions"),
];

fn prompt(admin: &Client) {
    let pid = id(&admin.create_prompt("paths"));
    let vid = id(&admin.save_version(
        &pid,
        &json!({"user": "Answer {{question}}", "model": "gpt-4o-mini", "message": "v1",
                "variables": [{"name": "question", "type": "string", "required": true}]}),
    ));
    admin.promote(&pid, &vid);
}

fn behind_a_path(flavor: Flavor) {
    let stub = StubProvider::start();
    let opts = CASES
        .iter()
        .fold(stub.app_options(), |opts, (model, path, _)| {
            let provider = match model.split('-').next().unwrap() {
                "gpt" => "OPENAI",
                "claude" => "ANTHROPIC",
                "gemini" => "GOOGLE",
                _ => "DEEPSEEK",
            };
            opts.env(
                &format!("SPIN_VARIABLE_{provider}_BASE_URL"),
                &format!("{}{path}", stub.base_url),
            )
        });
    let rt = flavor.start(opts);
    let admin = Client::admin(&rt);
    prompt(&admin);
    let body = |model: &str| json!({"promptSlug": "paths", "model": model, "variables": {"question": "why?"}});

    for (model, _, want) in CASES {
        stub.clear();
        let res = admin.post("/api/v1/gateway/execute", &body(model));
        assert_eq!(res.status, 200, "{model}: {}", res.body);
        assert_eq!(res.json()["output"], reply_to("Answer why?"), "{model}");

        let events = gateway_stream(&admin, &body(model)).all();
        let frames: Vec<Value> = events.iter().map(|e| e.json()).collect();
        assert_eq!(
            frames.last().unwrap()["type"],
            "done",
            "{model}: {frames:?}"
        );

        let paths: Vec<String> = stub
            .requests()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(paths.len(), 2, "{model}: {paths:?}");
        for path in &paths {
            assert!(path.starts_with(want), "{model}: {path} (want {want}…)");
        }
    }
}

#[test]
fn execute_and_stream_reach_a_provider_behind_a_base_url_with_a_path() {
    behind_a_path(Flavor::Prompthelm);
}

#[test]
fn execute_and_stream_reach_a_provider_behind_a_base_url_with_a_path_under_spin() {
    if let Some(spin) = Flavor::spin() {
        behind_a_path(spin);
    }
}

/// A base URL off its allowed origin is a configuration error named in a
/// 503, not a call the outbound allow-list refuses.
#[test]
fn a_base_url_off_its_origin_is_not_configured() {
    let stub = StubProvider::start();
    let rt = Flavor::Prompthelm.start(stub.app_options().env(
        "SPIN_VARIABLE_OPENAI_BASE_URL",
        "https://openrouter.ai/api/v1",
    ));
    let admin = Client::admin(&rt);
    prompt(&admin);
    let res = admin.post(
        "/api/v1/gateway/execute",
        &json!({"promptSlug": "paths", "model": "gpt-4o-mini", "variables": {"question": "why?"}}),
    );
    let env = res.assert_envelope(503, "PROVIDER_NOT_CONFIGURED");
    let message = env["message"].as_str().unwrap();
    assert!(message.contains("openai_origin"), "{env}");
    assert!(message.contains("https://openrouter.ai/api/v1"), "{env}");
    assert!(stub.requests().is_empty());
}
