//! Provider requests carry `Expect: 100-continue`: the provider's interim
//! `100 Continue` acknowledges the request head at once, so under Spin,
//! whose outbound connections lack TCP_NODELAY, the body is not held ~40 ms
//! by Nagle until the provider's delayed ACK (benches/gateway measures
//! that). These tests check what must stay true around it: the header is
//! sent, and a provider that refuses it (417) is asked again without it, so
//! the call still succeeds.

use serde_json::{Value, json};

use crate::api::Client;
use crate::harness::Flavor;
use crate::stub::{StubOptions as _, StubProvider, gateway_stream, reply_to};

fn expect_headers(stub: &StubProvider) -> Vec<Option<String>> {
    stub.requests()
        .iter()
        .map(|r| {
            r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0] == "expect")
                .map(|h| h[1].as_str().unwrap().to_owned())
        })
        .collect()
}

fn continue_() -> Option<String> {
    Some("100-continue".to_owned())
}

fn provider_requests_ask_for_continue(flavor: Flavor) {
    let stub = StubProvider::start();
    let rt = flavor.start(stub.app_options().rate_limit_per_minute(0));
    let api = Client::admin(&rt);

    for model in ["gpt-4o-mini", "claude-3-5-haiku-latest", "gemini-2.0-flash"] {
        stub.clear();
        let body = json!({"user": "hello", "model": model});
        let res = api.post("/api/v1/gateway/execute", &body);
        assert_eq!(res.status, 200, "{model}: {}", res.body);
        assert_eq!(expect_headers(&stub), [continue_()], "{model}");
    }

    // A provider that answers 417 to the header gets the call again
    // without it, for execute and for stream alike.
    let user = "hello [[stub:refuse_expect]]";
    let body = json!({"user": user, "model": "gpt-4o-mini"});
    stub.clear();
    let res = api.post("/api/v1/gateway/execute", &body);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["output"], reply_to(user));
    assert_eq!(expect_headers(&stub), [continue_(), None]);

    stub.clear();
    let frames: Vec<Value> = gateway_stream(&api, &body)
        .all()
        .iter()
        .map(|e| e.json())
        .collect();
    assert_eq!(frames.last().unwrap()["type"], "done", "{frames:?}");
    assert_eq!(expect_headers(&stub), [continue_(), None]);
}

#[test]
fn provider_requests_ask_for_continue_and_do_without_when_refused() {
    provider_requests_ask_for_continue(Flavor::Prompthelm);
}

#[test]
fn provider_requests_ask_for_continue_and_do_without_when_refused_under_spin() {
    if let Some(spin) = Flavor::spin() {
        provider_requests_ask_for_continue(spin);
    }
}
