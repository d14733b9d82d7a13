//! The regression watch (issue 17 §3) end to end: `PUT/GET
//! /api/v1/prompts/:id/watch`, and the gateway evaluating it after each
//! call's log row: a failing canary is ended and a failing promote rolled
//! back by the watch itself, through the same store functions as a person,
//! audited as the `system` actor `regression-watch` with its evidence;
//! ten unlucky calls of a healthy version move nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Client, error_fields, id, version_body};
use crate::harness::{Flavor, Runtime};
use crate::stub::{StubOptions, StubProvider};

const WATCH_ACTOR: &str = "regression-watch";

fn app(stub: &StubProvider) -> Runtime {
    app_under(Flavor::Prompthelm, stub)
}

fn app_under(flavor: Flavor, stub: &StubProvider) -> Runtime {
    flavor.start(stub.app_options().rate_limit_per_minute(0))
}

fn watch_path(pid: &str) -> String {
    format!("/api/v1/prompts/{pid}/watch")
}

fn put_watch(api: &Client, pid: &str, body: &Value) -> Value {
    let res = api.call("PUT", &watch_path(pid), Some(body));
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()
}

/// A version whose every call the stub provider fails with a 503.
fn failing_body() -> Value {
    let mut body = version_body("broken", 0.3, &[], "fails");
    body["user"] = json!("[[stub:status=503]] Customer asks: {{question}}");
    body
}

/// A production execute of `slug`; the status and the version that served.
fn call(api: &Client, slug: &str, question: &str) -> (u16, String) {
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"promptSlug": slug, "variables": {"question": question}}),
    );
    assert!(
        res.status == 200 || res.status == 502,
        "unexpected {}: {}",
        res.status,
        res.body
    );
    let version = if res.status == 200 {
        res.json()["versionId"].as_str().unwrap().to_owned()
    } else {
        String::new()
    };
    (res.status, version)
}

/// Drives calls, about 50 a second, until `done` holds (checked every 10
/// calls), at most 60 s; returns how many calls it took. Paced by time,
/// not counted: the watch evaluates a prompt at most every 5 s, so a fast
/// runtime could make any fixed number of calls between two evaluations.
fn drive_until(api: &Client, slug: &str, mut done: impl FnMut() -> bool) -> usize {
    let started = Instant::now();
    for n in 1.. {
        call(api, slug, "q");
        if n % 10 == 0 && done() {
            return n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the watch did not act within 60 s ({n} calls)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unreachable!("the loop returns or panics")
}

fn entries(api: &Client, pid: &str, action: &str) -> Vec<Value> {
    api.list_all(&format!("/api/v1/audit?promptId={pid}"))
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

fn by_watch(entries: &[Value]) -> Vec<&Value> {
    entries
        .iter()
        .filter(|e| e["actorName"] == WATCH_ACTOR)
        .collect()
}

/// The evidence names successRate with both sample sizes at the minimum.
fn assert_evidence(entry: &Value, baseline: &str, candidate: &str) {
    assert_eq!(entry["actorType"], "system", "{entry}");
    assert_eq!(entry["actor"], WATCH_ACTOR, "{entry}");
    assert_eq!(entry["details"]["revert"], true, "{entry}");
    let evidence = &entry["details"]["evidence"];
    assert_eq!(evidence["baselineVersionId"], baseline, "{entry}");
    assert_eq!(evidence["candidateVersionId"], candidate, "{entry}");
    let regressed = evidence["regressed"].as_array().unwrap();
    let success = regressed
        .iter()
        .find(|m| m["metric"] == "successRate")
        .unwrap_or_else(|| panic!("no successRate in {evidence}"));
    assert_eq!(success["regressed"], true);
    assert_eq!(success["observed"], 0.0, "{success}");
    assert_eq!(success["baseline"], 1.0, "{success}");
    assert!(
        success["observedCalls"].as_u64().unwrap() >= 20,
        "{success}"
    );
    assert!(
        success["baselineCalls"].as_u64().unwrap() >= 20,
        "{success}"
    );
}

#[test]
fn a_failing_canary_is_ended_by_the_watch_with_its_evidence() {
    let stub = StubProvider::start();
    let rt = app(&stub);
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("watched-canary"));
    let v1 = id(&api.save_version(&pid, &version_body("good", 0.2, &[], "v1")));
    api.promote(&pid, &v1);
    let v2 = id(&api.save_version(&pid, &failing_body()));

    let set = put_watch(&api, &pid, &json!({"mode": "rollback"}));
    assert_eq!(set["policy"]["mode"], "rollback");
    assert_eq!(set["policy"]["minCalls"], 20, "the default: {set}");
    assert_eq!(set["policy"]["alpha"], 0.01);
    assert!(set["updatedBy"].is_string(), "{set}");
    assert_eq!(set["lastRollback"], Value::Null, "no rollback yet: {set}");
    let updates = entries(&api, &pid, "prompt.watch.update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["details"]["policy"]["mode"], "rollback");
    assert_eq!(updates[0]["details"]["previousPolicy"]["mode"], "off");

    let started = api.post(
        &format!("/api/v1/prompts/{pid}/canary"),
        &json!({"versionId": v2, "percent": 10, "stickyBy": "request"}),
    );
    assert_eq!(started.status, 201, "{}", started.body);

    let canary_gone =
        || api.get(&format!("/api/v1/prompts/{pid}/canary")).json()["canary"].is_null();
    drive_until(&api, "watched-canary", canary_gone);

    let ends = entries(&api, &pid, "prompt.canary.end");
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0]["actorName"], WATCH_ACTOR);
    assert_eq!(ends[0]["details"]["outcome"], "revert");
    assert_evidence(&ends[0], &v1, &v2);
    // Production never moved.
    assert!(by_watch(&entries(&api, &pid, "prompt.promote")).is_empty());
    let prompt = api.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(prompt["productionVersionId"], v1.as_str());

    // Every later call is served by production.
    for _ in 0..30 {
        assert_eq!(call(&api, "watched-canary", "q"), (200, v1.clone()));
    }
    let shown = api.get(&watch_path(&pid));
    assert_eq!(shown.status, 200, "{}", shown.body);
    // The rollback outlives the verdict that made it: it is read from the
    // audit log, with its evidence.
    let last = &shown.json()["lastRollback"];
    assert_eq!(last["auditEntryId"], ends[0]["id"], "{last}");
    assert_eq!(last["action"], "prompt.canary.end", "{last}");
    assert_eq!(last["at"], ends[0]["createdAt"], "{last}");
    assert_eq!(last["evidence"], ends[0]["details"]["evidence"], "{last}");
    assert_eq!(last["superseded"], false, "{last}");
    let verdict = shown.json()["verdict"].clone();
    // The verdict that acted, unless a later evaluation (nothing watched
    // any more) replaced it.
    if verdict["subject"] == "canary" {
        assert_eq!(verdict["regressed"], true, "{verdict}");
        assert_eq!(verdict["action"], "canaryEnded", "{verdict}");
        assert_eq!(verdict["auditEntryId"], ends[0]["id"], "{verdict}");
    } else {
        assert_eq!(verdict["subject"], Value::Null, "{verdict}");
        assert_eq!(verdict["regressed"], false, "{verdict}");
    }
}

#[test]
fn a_failing_promote_is_rolled_back_by_the_watch() {
    failing_promote_rolled_back(Flavor::Prompthelm);
}

/// The watch runs inline in the gateway's request, so it needs no
/// background thread or cron trigger: the same under the real Spin.
#[test]
fn a_failing_promote_is_rolled_back_by_the_watch_under_spin() {
    if let Some(spin) = Flavor::spin() {
        failing_promote_rolled_back(spin);
    }
}

fn failing_promote_rolled_back(flavor: Flavor) {
    let stub = StubProvider::start();
    let rt = app_under(flavor, &stub);
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("watched-promote"));
    let v1 = id(&api.save_version(&pid, &version_body("good", 0.2, &[], "v1")));
    api.promote(&pid, &v1);
    // The baseline: the window before the promote.
    for _ in 0..30 {
        assert_eq!(call(&api, "watched-promote", "q"), (200, v1.clone()));
    }
    let v2 = id(&api.save_version(&pid, &failing_body()));
    put_watch(&api, &pid, &json!({"mode": "rollback", "windowMinutes": 5}));
    api.promote(&pid, &v2);

    let back_on_v1 =
        || api.get(&format!("/api/v1/prompts/{pid}")).json()["productionVersionId"] == v1.as_str();
    drive_until(&api, "watched-promote", back_on_v1);

    let promotes = entries(&api, &pid, "prompt.promote");
    let watch_promotes = by_watch(&promotes);
    assert_eq!(watch_promotes.len(), 1, "{promotes:?}");
    let entry = watch_promotes[0];
    assert_eq!(entry["versionId"], v1.as_str());
    assert_eq!(entry["details"]["previousVersionId"], v2.as_str());
    assert_evidence(entry, &v1, &v2);
    for _ in 0..20 {
        assert_eq!(call(&api, "watched-promote", "q"), (200, v1.clone()));
    }
    // The watch does not judge its own rollback: nothing more happened.
    assert_eq!(by_watch(&entries(&api, &pid, "prompt.promote")).len(), 1);
    let last = api.get(&watch_path(&pid)).json()["lastRollback"].clone();
    assert_eq!(last["auditEntryId"], entry["id"], "{last}");
    assert_eq!(last["action"], "prompt.promote", "{last}");
    assert_eq!(last["evidence"]["subject"], "promote", "{last}");
    assert_eq!(last["evidence"], entry["details"]["evidence"], "{last}");
    assert_eq!(last["superseded"], false, "{last}");
    // A person's promote afterwards makes it history.
    api.promote(&pid, &v2);
    let last = api.get(&watch_path(&pid)).json()["lastRollback"].clone();
    assert_eq!(last["auditEntryId"], entry["id"], "{last}");
    assert_eq!(last["superseded"], true, "{last}");
}

/// A product signal marked "lower is better" that rose after a promote
/// rolls it back, although every call of the new version succeeds.
#[test]
fn a_watched_signal_that_rose_after_a_promote_rolls_it_back() {
    let stub = StubProvider::start();
    let rt = app(&stub);
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("watched-signal"));
    let v1 = id(&api.save_version(&pid, &version_body("good", 0.2, &[], "v1")));
    api.promote(&pid, &v1);
    let v2 = id(&api.save_version(&pid, &version_body("also good", 0.3, &[], "v2")));
    let set = put_watch(
        &api,
        &pid,
        &json!({"mode": "rollback", "signals": [{"name": "support_tickets"}]}),
    );
    assert_eq!(
        set["policy"]["signals"],
        json!([{"name": "support_tickets", "maxIncreaseRatio": 1.2}]),
        "{set}"
    );
    assert_eq!(set["policy"]["minSignalValues"], 5, "{set}");

    let signal = |value: f64| {
        let res = api.post(
            &format!("/api/v1/prompts/{pid}/signals"),
            &json!({"name": "support_tickets", "value": value}),
        );
        assert_eq!(res.status, 201, "{}", res.body);
    };
    // Another signal's values are not compared.
    for value in [1.0, 90.0, 2.0] {
        let res = api.post(
            &format!("/api/v1/prompts/{pid}/signals"),
            &json!({"name": "nps", "value": value}),
        );
        assert_eq!(res.status, 201, "{}", res.body);
    }
    for value in [10.0, 11.0, 9.0, 10.0, 12.0, 10.0] {
        signal(value);
    }
    api.promote(&pid, &v2);
    for value in [30.0, 28.0, 35.0, 31.0, 29.0] {
        signal(value);
    }

    let back_on_v1 =
        || api.get(&format!("/api/v1/prompts/{pid}")).json()["productionVersionId"] == v1.as_str();
    drive_until(&api, "watched-signal", back_on_v1);

    let promotes = entries(&api, &pid, "prompt.promote");
    let watch_promotes = by_watch(&promotes);
    assert_eq!(watch_promotes.len(), 1, "{promotes:?}");
    let evidence = &watch_promotes[0]["details"]["evidence"];
    assert_eq!(evidence["candidateVersionId"], v2.as_str(), "{evidence}");
    let regressed = evidence["regressed"].as_array().unwrap();
    assert_eq!(regressed.len(), 1, "only the signal: {evidence}");
    let tickets = &regressed[0];
    assert_eq!(tickets["metric"], "signal.support_tickets", "{tickets}");
    assert_eq!(tickets["baselineCalls"], 6, "{tickets}");
    assert_eq!(tickets["observedCalls"], 5, "{tickets}");
    assert_eq!(tickets["observed"], 30.6, "{tickets}");
    let baseline = tickets["baseline"].as_f64().unwrap();
    assert!((baseline - 62.0 / 6.0).abs() < 1e-9, "{tickets}");
}

#[test]
fn ten_unlucky_calls_of_a_healthy_version_move_nothing() {
    let stub = StubProvider::start();
    let rt = app(&stub);
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("watched-healthy"));
    let v1 = id(&api.save_version(&pid, &version_body("good", 0.2, &[], "v1")));
    api.promote(&pid, &v1);
    for _ in 0..30 {
        call(&api, "watched-healthy", "q");
    }
    let v2 = id(&api.save_version(&pid, &version_body("also good", 0.3, &[], "v2")));
    put_watch(&api, &pid, &json!({"mode": "rollback"}));
    api.promote(&pid, &v2);

    // Ten calls, three of them failing; the last comes after the claim
    // interval (5 s), so it evaluates all ten.
    let mut failed = 0;
    for n in 0..10 {
        if n == 9 {
            std::thread::sleep(Duration::from_millis(5_200));
        }
        let question = if n % 3 == 0 && n < 9 {
            "q [[stub:status=503]]"
        } else {
            "q"
        };
        if call(&api, "watched-healthy", question).0 != 200 {
            failed += 1;
        }
    }
    assert_eq!(failed, 3);

    let state = api.get(&watch_path(&pid)).json();
    let verdict = &state["verdict"];
    assert_eq!(verdict["subject"], "promote", "{state}");
    assert_eq!(verdict["baselineVersionId"], v1.as_str());
    assert_eq!(verdict["candidateVersionId"], v2.as_str());
    assert_eq!(verdict["regressed"], false, "{verdict}");
    assert_eq!(verdict["action"], Value::Null, "{verdict}");
    let success = verdict["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "successRate")
        .unwrap();
    assert_eq!(success["observedCalls"], 10, "{success}");
    assert_eq!(success["baselineCalls"], 30, "{success}");
    assert_eq!(success["enoughData"], false, "{success}");
    let audit = api.list_all(&format!("/api/v1/audit?promptId={pid}"));
    assert!(
        audit.iter().all(|e| e["actorName"] != WATCH_ACTOR),
        "{audit:?}"
    );
    let prompt = api.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(prompt["productionVersionId"], v2.as_str());
}

#[test]
fn the_policy_is_validated_scoped_and_confined_to_its_organization() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("watch-policy"));

    // Never set: the defaults, mode off, no verdict.
    let shown = api.get(&watch_path(&pid));
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown = shown.json();
    assert_eq!(shown["policy"]["mode"], "off");
    assert_eq!(shown["policy"]["windowMinutes"], 10);
    assert_eq!(shown["verdict"], Value::Null);
    assert_eq!(shown["lastRollback"], Value::Null);

    // Every bad threshold named at once; nothing stored or audited.
    let bad = api.call(
        "PUT",
        &watch_path(&pid),
        Some(&json!({"mode": "loud", "alpha": 2, "minCalls": 3})),
    );
    let env = bad.assert_envelope(422, "VALIDATION_ERROR");
    let fields = error_fields(&env);
    assert_eq!(fields, ["mode", "minCalls", "alpha"], "{env}");
    api.call("PUT", &watch_path(&pid), Some(&json!({"alpha": 0.05})))
        .assert_envelope(422, "VALIDATION_ERROR");
    api.call(
        "PUT",
        &watch_path(&pid),
        Some(&json!({"mode": "notify", "extra": 1})),
    )
    .assert_envelope(400, "VALIDATION_ERROR");
    assert!(entries(&api, &pid, "prompt.watch.update").is_empty());
    assert_eq!(api.get(&watch_path(&pid)).json()["policy"]["mode"], "off");

    // Unknown prompt: 404.
    api.call(
        "PUT",
        &watch_path("prm_0123456789abcdef0123456789abcdef"),
        Some(&json!({"mode": "notify"})),
    )
    .assert_envelope(404, "PROMPT_NOT_FOUND");

    // prompts:read may read, not write.
    let (_, reader) = api.mint("reader", &["prompts:read"]);
    let reader = api.with_token(&reader);
    assert_eq!(reader.get(&watch_path(&pid)).status, 200);
    reader
        .call("PUT", &watch_path(&pid), Some(&json!({"mode": "notify"})))
        .assert_envelope(403, "FORBIDDEN");

    // Another organization sees nothing.
    let other = api
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let other = api.with_token(other["token"]["token"].as_str().unwrap());
    other
        .get(&watch_path(&pid))
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    other
        .call("PUT", &watch_path(&pid), Some(&json!({"mode": "rollback"})))
        .assert_envelope(404, "PROMPT_NOT_FOUND");

    // A valid PUT: defaults filled in, audited, shown.
    let set = put_watch(&api, &pid, &json!({"mode": "notify", "p95Ratio": 2}));
    assert_eq!(set["policy"]["p95Ratio"], 2.0);
    assert_eq!(set["policy"]["costRatio"], 1.5);
    assert!(set["auditEntryId"].as_str().unwrap().starts_with("aud_"));
    assert_eq!(api.get(&watch_path(&pid)).json()["policy"], set["policy"]);
    assert_eq!(entries(&api, &pid, "prompt.watch.update").len(), 1);
}
