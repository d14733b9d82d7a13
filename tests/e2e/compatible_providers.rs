//! A named OpenAI-compatible provider configured without code: listed in
//! `openai_compatible_providers` with its base URL (path included) and
//! prices, its key in `openai_compatible_api_keys`, reached with models
//! named `<name>/<model>`. The stub stands in for it (its OpenAI endpoints
//! under `/proxy/`), on the origin the manifest already allows.

use serde_json::{Value, json};

use crate::api::Client;
use crate::harness::Flavor;
use crate::stub::{StubOptions as _, StubProvider, gateway_stream, reply_to};

const GROQ_KEY: &str = "gsk_test_0123456789";

fn configured(flavor: Flavor) {
    let stub = StubProvider::start();
    let providers = json!([{
        "name": "groq",
        "baseUrl": format!("{}/proxy/v1", stub.base_url),
        "prices": {"llama-3.3-70b-versatile": {"input": 0.59, "output": 0.79}},
    }]);
    let rt = flavor.start(
        stub.app_options()
            .rate_limit_per_minute(0)
            .env(
                "SPIN_VARIABLE_OPENAI_COMPATIBLE_PROVIDERS",
                &providers.to_string(),
            )
            .env(
                "SPIN_VARIABLE_OPENAI_COMPATIBLE_API_KEYS",
                &json!({"groq": GROQ_KEY}).to_string(),
            ),
    );
    let api = Client::admin(&rt);
    let user = "hi [[stub:tokens=1000,500]]";
    let body = json!({"user": user, "model": "groq/llama-3.3-70b-versatile"});

    let res = api.post("/api/v1/gateway/execute", &body);
    assert_eq!(res.status, 200, "{}", res.body);
    let v = res.json();
    assert_eq!(v["output"], reply_to(user));
    assert_eq!(v["provider"], "groq");
    assert_eq!(v["model"], "groq/llama-3.3-70b-versatile");
    // (1000 × 0.59 + 500 × 0.79) / 1e6 USD, at the configured prices.
    assert_eq!(v["cost"], 0.000985, "{v}");
    // The key never reaches the caller.
    assert!(!res.body.contains(GROQ_KEY));

    // The provider got OpenAI's format at its own base URL, with its own
    // key and the model name after `groq/`.
    let sent = stub.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["path"], "/proxy/v1/chat/completions");
    let auth: Vec<&Value> = sent[0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "authorization")
        .collect();
    assert_eq!(auth[0][1], format!("Bearer {GROQ_KEY}"));
    let sent_body: Value = serde_json::from_str(sent[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent_body["model"], "llama-3.3-70b-versatile");

    // Logged under the provider's name, costed.
    let id = v["id"].as_str().unwrap();
    let log = api.get(&format!("/api/v1/execution-logs/{id}"));
    assert_eq!(log.status, 200, "{}", log.body);
    let log = log.json();
    assert_eq!(log["provider"], "groq", "{log}");
    assert_eq!(log["model"], "groq/llama-3.3-70b-versatile", "{log}");
    assert!(!log.to_string().contains(GROQ_KEY), "{log}");

    // Streaming too.
    let frames: Vec<Value> = gateway_stream(&api, &body)
        .all()
        .iter()
        .map(|e| e.json())
        .collect();
    let done = frames.last().unwrap();
    assert_eq!(done["type"], "done", "{frames:?}");
    assert_eq!(done["cost"], 0.000985, "{done}");

    // A model without a listed price is served, its cost unknown (0).
    let unpriced = api.post(
        "/api/v1/gateway/execute",
        &json!({"user": "hi", "model": "groq/some-new-model"}),
    );
    assert_eq!(unpriced.status, 200, "{}", unpriced.body);
    assert_eq!(unpriced.json()["cost"], 0.0);

    // A prefix no provider is configured under is not guessed at.
    api.post(
        "/api/v1/gateway/execute",
        &json!({"user": "hi", "model": "together/llama"}),
    )
    .assert_envelope(422, "UNSUPPORTED_MODEL");
}

#[test]
fn a_configured_openai_compatible_provider_serves_its_models() {
    configured(Flavor::Prompthelm);
}

#[test]
fn a_configured_openai_compatible_provider_serves_its_models_under_spin() {
    if let Some(spin) = Flavor::spin() {
        configured(spin);
    }
}

/// A provider listed without a key is a 503 naming where the key goes, and
/// nothing is sent.
#[test]
fn a_configured_provider_without_a_key_is_not_configured() {
    let stub = StubProvider::start();
    let providers = json!([{"name": "groq", "baseUrl": format!("{}/proxy/v1", stub.base_url)}]);
    let rt = Flavor::Prompthelm.start(stub.app_options().env(
        "SPIN_VARIABLE_OPENAI_COMPATIBLE_PROVIDERS",
        &providers.to_string(),
    ));
    let api = Client::admin(&rt);
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"user": "hi", "model": "groq/llama"}),
    );
    let env = res.assert_envelope(503, "PROVIDER_NOT_CONFIGURED");
    assert!(
        env["message"]
            .as_str()
            .unwrap()
            .contains("openai_compatible_api_keys"),
        "{env}"
    );
    assert!(stub.requests().is_empty());
}
