//! The sticky canary (issue 17 §2) end to end: `/api/v1/prompts/:id/canary`
//! splits production calls by a hash of the caller's `userId` (body or
//! header), every answer, frame and log row names the version that served
//! it and whether it was the canary, and every change (start, update, end,
//! a promote) is seen by the very next call, whatever the cache holds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::{Client, error_fields, id, version_body};
use crate::cache_promise::KvFaults;
use crate::harness::{Flavor, Options, Reply, Runtime, app_manifest};
use crate::stub::{StubOptions, StubProvider, gateway_stream};

fn app(flavor: Flavor) -> Runtime {
    flavor
        .start(Options::new(app_manifest()).env("SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE", "0"))
}

/// A prompt with v1 in production, v2 (the candidate) and v3, the newest
/// save (development).
fn three_versions(api: &Client, slug: &str) -> (String, String, String, String) {
    let pid = id(&api.create_prompt(slug));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.4, &[], "v2")));
    let v3 = id(&api.save_version(&pid, &version_body("three", 0.6, &[], "v3")));
    api.promote(&pid, &v1);
    (pid, v1, v2, v3)
}

fn canary_path(pid: &str) -> String {
    format!("/api/v1/prompts/{pid}/canary")
}

fn start(api: &Client, pid: &str, body: &Value) -> Reply {
    api.post(&canary_path(pid), body)
}

/// An `echo` execute of `slug` (production) for `user` (as `userId` in the
/// body, or none); asserts success.
fn call_as(api: &Client, slug: &str, user: Option<&str>) -> Value {
    let mut body = json!({"promptSlug": slug, "model": "echo", "variables": {"question": "q"}});
    if let Some(user) = user {
        body["userId"] = json!(user);
    }
    let res = api.post("/api/v1/gateway/execute", &body);
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()
}

/// The same call with the user in the `X-PromptHelm-User-Id` header.
fn call_with_header(api: &Client, slug: &str, user: &str) -> Reply {
    let auth = format!("Bearer {}", api.token);
    api.rt.request(
        "POST",
        "/api/v1/gateway/execute",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("X-PromptHelm-User-Id", user),
        ],
        Some(
            &json!({"promptSlug": slug, "model": "echo", "variables": {"question": "q"}})
                .to_string(),
        ),
    )
}

/// (versionId, canary) of an answer, checking they agree with each other.
fn arm(answer: &Value, candidate: &str) -> (String, bool) {
    let version = answer["versionId"].as_str().unwrap().to_owned();
    let canary = answer["canary"]
        .as_bool()
        .unwrap_or_else(|| panic!("no canary in {answer}"));
    assert_eq!(canary, version == candidate, "{answer}");
    (version, canary)
}

fn audit_actions(api: &Client, pid: &str) -> Vec<Value> {
    api.list_all(&format!("/api/v1/audit?promptId={pid}"))
        .into_iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("prompt.canary"))
        .collect()
}

#[test]
fn a_sticky_canary_splits_users_and_every_change_is_seen_by_the_next_call() {
    let rt = app(Flavor::Prompthelm);
    let api = Client::admin(&rt);
    let (pid, v1, v2, v3) = three_versions(&api, "canary-flow");

    // Start: 201, audited, the cache refreshed, resolve reports the split.
    let res = start(&api, &pid, &json!({"versionId": v2, "percent": 30}));
    assert_eq!(res.status, 201, "{}", res.body);
    let started = res.json();
    assert_eq!(started["created"], true);
    assert_eq!(started["changed"], true);
    assert_eq!(started["previous"], Value::Null);
    assert_eq!(started["canary"]["versionId"], v2.as_str());
    assert_eq!(started["canary"]["productionVersionId"], v1.as_str());
    assert_eq!(started["canary"]["percent"], 30);
    assert_eq!(started["canary"]["stickyBy"], "user", "the default");
    assert!(started.get("warnings").is_none(), "{started}");
    let resolved = api.resolve("promptSlug=canary-flow");
    assert_eq!(resolved["cache"], "hit", "{resolved}");
    assert_eq!(
        resolved["canary"],
        json!({"versionId": v2, "version": "1.1.0", "percent": 30, "stickyBy": "user"})
    );
    assert_eq!(resolved["version"]["id"], v1.as_str());
    // The same settings again: 200, nothing changed, nothing audited.
    let again = start(&api, &pid, &json!({"versionId": v2, "percent": 30}));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["changed"], false);
    let shown = api.get(&canary_path(&pid));
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.json()["canary"], started["canary"]);
    let entries = audit_actions(&api, &pid);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "prompt.canary.start");
    assert_eq!(entries[0]["details"]["percent"], 30);
    assert_eq!(entries[0]["details"]["stickyBy"], "user");
    assert_eq!(entries[0]["versionId"], v2.as_str());

    // Each user always gets the same arm, by body or by header; both occur.
    let mut arms: BTreeMap<String, bool> = BTreeMap::new();
    let mut answers = Vec::new();
    for u in 0..40 {
        let user = format!("user-{u}");
        let first = call_as(&api, "canary-flow", Some(&user));
        let (_, on_canary) = arm(&first, &v2);
        for _ in 0..2 {
            let again = call_as(&api, "canary-flow", Some(&user));
            assert_eq!(arm(&again, &v2).1, on_canary, "{user} changed arms");
            answers.push(again);
        }
        let by_header = call_with_header(&api, "canary-flow", &user);
        assert_eq!(by_header.status, 200, "{}", by_header.body);
        assert_eq!(arm(&by_header.json(), &v2).1, on_canary, "{user} by header");
        answers.push(first);
        arms.insert(user, on_canary);
    }
    let on = arms.values().filter(|c| **c).count();
    assert!(
        on > 0 && on < arms.len(),
        "both arms: {on} of {}",
        arms.len()
    );
    // The body's userId wins over the header.
    let canary_user = arms.iter().find(|(_, c)| **c).unwrap().0.clone();
    let production_user = arms.iter().find(|(_, c)| !**c).unwrap().0.clone();
    let auth = format!("Bearer {}", api.token);
    let both = rt.request(
        "POST",
        "/api/v1/gateway/execute",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("X-PromptHelm-User-Id", &production_user),
        ],
        Some(
            &json!({"promptSlug": "canary-flow", "model": "echo", "userId": canary_user,
                "variables": {"question": "q"}})
            .to_string(),
        ),
    );
    assert_eq!(arm(&both.json(), &v2), (v2.clone(), true), "{}", both.body);

    // Log rows, one log and the list say the same.
    let rows = rt.execution_logs();
    for answer in &answers {
        let row = rows.iter().find(|r| r["id"] == answer["id"]).unwrap();
        assert_eq!(row["version_id"], answer["versionId"]);
        assert_eq!(row["canary"], json!(i64::from(answer["canary"] == true)));
    }
    let canary_answer = answers.iter().find(|a| a["canary"] == true).unwrap();
    let one = api.get(&format!(
        "/api/v1/execution-logs/{}",
        canary_answer["id"].as_str().unwrap()
    ));
    assert_eq!(one.json()["canary"], true, "{}", one.body);
    assert_eq!(one.json()["versionId"], v2.as_str());
    let listed = api.get(&format!("/api/v1/execution-logs?promptId={pid}&limit=200"));
    let listed = listed.json();
    let items = listed["data"].as_array().unwrap();
    assert!(items.iter().any(|l| l["canary"] == true), "{listed}");
    assert!(items.iter().any(|l| l["canary"] == false), "{listed}");
    for item in items {
        assert_eq!(item["canary"] == true, item["versionId"] == v2.as_str());
    }

    // The stream's done frame names the version and the arm.
    let events = gateway_stream(
        &api,
        &json!({"promptSlug": "canary-flow", "model": "echo", "userId": canary_user,
            "variables": {"question": "q"}}),
    )
    .all();
    let done = events.last().unwrap().json();
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(
        (done["versionId"].as_str(), done["canary"].as_bool()),
        (Some(v2.as_str()), Some(true))
    );
    let row = rt
        .execution_logs()
        .into_iter()
        .find(|r| r["id"] == done["id"])
        .unwrap();
    assert_eq!(row["canary"], 1);

    // Development is not split.
    let dev = api.post(
        "/api/v1/gateway/execute",
        &json!({"promptSlug": "canary-flow", "environment": "development", "model": "echo",
            "userId": canary_user, "variables": {"question": "q"}}),
    );
    assert_eq!(arm(&dev.json(), &v2), (v3.clone(), false), "{}", dev.body);
    assert_eq!(
        api.resolve("promptSlug=canary-flow&environment=development")["canary"],
        Value::Null
    );

    // 0 %: the very next call of a canary user is production (no sleep).
    let res = start(&api, &pid, &json!({"versionId": v2, "percent": 0}));
    assert_eq!(res.status, 200, "{}", res.body);
    let updated = res.json();
    assert_eq!(
        (updated["created"].as_bool(), updated["changed"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(
        updated["previous"],
        json!({"versionId": v2, "version": "1.1.0", "percent": 30, "stickyBy": "user"})
    );
    for (user, _) in arms.iter().filter(|(_, c)| **c) {
        assert_eq!(
            arm(&call_as(&api, "canary-flow", Some(user)), &v2),
            (v1.clone(), false)
        );
    }
    // 100 %: everyone, with or without a key.
    let res = start(
        &api,
        &pid,
        &json!({"versionId": v2, "percent": 100, "stickyBy": "request"}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["canary"]["stickyBy"], "request");
    for user in [None, Some(production_user.as_str())] {
        assert_eq!(
            arm(&call_as(&api, "canary-flow", user), &v2),
            (v2.clone(), true)
        );
    }
    let entries = audit_actions(&api, &pid);
    assert_eq!(entries[0]["action"], "prompt.canary.update");
    assert_eq!(entries[0]["details"]["stickyBy"], "request");
    assert_eq!(entries[0]["details"]["previous"]["percent"], 0);
    // An update without stickyBy keeps the running one's.
    let kept = start(&api, &pid, &json!({"versionId": v2, "percent": 100})).json();
    assert_eq!(kept["changed"], false, "{kept}");

    // End by reverting: production stays, the next call is production.
    let res = api.delete(&canary_path(&pid));
    assert_eq!(res.status, 200, "{}", res.body);
    let ended = res.json();
    assert_eq!(ended["outcome"], "revert");
    assert_eq!(ended["promotion"], Value::Null);
    assert_eq!(ended["canary"]["versionId"], v2.as_str());
    assert_eq!(
        arm(&call_as(&api, "canary-flow", None), &v2),
        (v1.clone(), false)
    );
    assert_eq!(api.get(&canary_path(&pid)).json()["canary"], Value::Null);
    assert_eq!(api.resolve("promptSlug=canary-flow")["canary"], Value::Null);
    let end_entry = &audit_actions(&api, &pid)[0];
    assert_eq!(end_entry["action"], "prompt.canary.end");
    assert_eq!(end_entry["details"]["outcome"], "revert");
    assert_eq!(end_entry["details"]["endedBy"], "end");
    assert_eq!(end_entry["id"], ended["auditEntryId"]);
    api.delete(&canary_path(&pid))
        .assert_envelope(404, "CANARY_NOT_FOUND");

    // End by promoting: the candidate is production, with both entries.
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 50})).status,
        201
    );
    let res = api.delete(&format!("{}?outcome=promote", canary_path(&pid)));
    assert_eq!(res.status, 200, "{}", res.body);
    let ended = res.json();
    assert_eq!(ended["outcome"], "promote");
    assert_eq!(ended["promotion"]["versionId"], v2.as_str());
    assert_eq!(ended["promotion"]["previousVersionId"], v1.as_str());
    // Production now, not the canary.
    let answer = call_as(&api, "canary-flow", Some(&canary_user));
    assert_eq!(
        (answer["versionId"].as_str(), answer["canary"].as_bool()),
        (Some(v2.as_str()), Some(false))
    );
    let all = api.list_all(&format!("/api/v1/audit?promptId={pid}"));
    assert_eq!(all[0]["action"], "prompt.canary.end");
    assert_eq!(all[0]["details"]["outcome"], "promote");
    assert_eq!(all[1]["action"], "prompt.promote");
    assert_eq!(all[1]["versionId"], v2.as_str());
    assert_eq!(
        api.get(&format!("/api/v1/prompts/{pid}")).json()["productionVersionId"],
        v2.as_str()
    );
}

#[test]
fn a_promote_while_a_canary_runs_ends_it_in_the_same_transaction() {
    let rt = app(Flavor::Prompthelm);
    let api = Client::admin(&rt);
    let (pid, v1, v2, v3) = three_versions(&api, "canary-promote");
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 100})).status,
        201
    );
    assert_eq!(
        call_as(&api, "canary-promote", None)["versionId"],
        v2.as_str()
    );

    // Promoting another version: the canary ends as a revert.
    let promotion = api.promote(&pid, &v3);
    assert_eq!(promotion["endedCanary"]["outcome"], "revert", "{promotion}");
    assert_eq!(promotion["endedCanary"]["canary"]["versionId"], v2.as_str());
    let answer = call_as(&api, "canary-promote", None);
    assert_eq!(arm(&answer, &v2), (v3.clone(), false));
    assert_eq!(api.get(&canary_path(&pid)).json()["canary"], Value::Null);
    let end = &audit_actions(&api, &pid)[0];
    assert_eq!(
        (
            end["details"]["outcome"].as_str(),
            end["details"]["endedBy"].as_str()
        ),
        (Some("revert"), Some("promote"))
    );

    // Promoting the candidate: it ends as a promote.
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v1, "percent": 10})).status,
        201
    );
    let promotion = api.promote(&pid, &v1);
    assert_eq!(
        promotion["endedCanary"]["outcome"], "promote",
        "{promotion}"
    );
    assert_eq!(promotion["revert"], true, "v1 had been production");
    // A promote without a running canary says nothing about one.
    assert!(api.promote(&pid, &v2).get("endedCanary").is_none());
}

#[test]
fn bad_canary_requests_are_refused_and_change_nothing() {
    let rt = app(Flavor::Prompthelm);
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("canary-bad"));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.4, &[], "v2")));
    let other = id(&api.create_prompt("canary-other"));
    let foreign = id(&api.save_version(&other, &version_body("x", 0.2, &[], "x")));

    // No production version yet.
    start(&api, &pid, &json!({"versionId": v2, "percent": 10}))
        .assert_envelope(409, "NO_VERSION_IN_ENVIRONMENT");
    api.promote(&pid, &v1);
    start(&api, &pid, &json!({"versionId": v1, "percent": 10}))
        .assert_envelope(409, "CANARY_IS_PRODUCTION");
    for version in [foreign.as_str(), "ver_0123456789abcdef0123456789abcdef"] {
        start(&api, &pid, &json!({"versionId": version, "percent": 10}))
            .assert_envelope(404, "VERSION_NOT_FOUND");
    }
    let invalid = start(
        &api,
        &pid,
        &json!({"versionId": v2, "percent": 101, "stickyBy": "session"}),
    )
    .assert_envelope(422, "VALIDATION_ERROR");
    let fields = error_fields(&invalid);
    assert_eq!(fields, ["percent", "stickyBy"]);
    start(&api, &pid, &json!({"versionId": v2, "percent": 12.5}))
        .assert_envelope(422, "VALIDATION_ERROR");
    start(&api, &pid, &json!({"percent": 10})).assert_envelope(422, "VALIDATION_ERROR");
    start(
        &api,
        &pid,
        &json!({"versionId": v2, "percent": 10, "extra": 1}),
    )
    .assert_envelope(400, "VALIDATION_ERROR");
    let auth = format!("Bearer {}", api.token);
    rt.request(
        "POST",
        &canary_path(&pid),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some("{\"versionId\":"),
    )
    .assert_envelope(400, "VALIDATION_ERROR");
    start(
        &api,
        "prm_0123456789abcdef0123456789abcdef",
        &json!({"versionId": v2, "percent": 10}),
    )
    .assert_envelope(404, "PROMPT_NOT_FOUND");
    api.delete(&canary_path(&pid))
        .assert_envelope(404, "CANARY_NOT_FOUND");
    api.delete(&format!("{}?outcome=keep", canary_path(&pid)))
        .assert_envelope(400, "VALIDATION_ERROR");

    // A reader may look but not start one; another organization sees nothing.
    let (_, reader) = api.mint("reader", &["prompts:read"]);
    let reader = api.with_token(&reader);
    start(&reader, &pid, &json!({"versionId": v2, "percent": 10}))
        .assert_envelope(403, "FORBIDDEN");
    reader
        .delete(&canary_path(&pid))
        .assert_envelope(403, "FORBIDDEN");
    assert_eq!(reader.get(&canary_path(&pid)).status, 200);
    let elsewhere = api
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let elsewhere = api.with_token(elsewhere["token"]["token"].as_str().unwrap());
    start(&elsewhere, &pid, &json!({"versionId": v2, "percent": 10}))
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    elsewhere
        .get(&canary_path(&pid))
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    elsewhere
        .delete(&canary_path(&pid))
        .assert_envelope(404, "PROMPT_NOT_FOUND");

    // Nothing of that was written.
    assert_eq!(api.get(&canary_path(&pid)).json()["canary"], Value::Null);
    assert!(audit_actions(&api, &pid).is_empty());

    // Bad sticky keys are refused in the gateway's envelope, logged.
    let body = |user: Value| {
        json!({"promptSlug": "canary-bad", "model": "echo", "userId": user,
            "variables": {"question": "q"}})
    };
    for user in [json!(""), json!("u".repeat(257)), json!(7)] {
        let res = api.post("/api/v1/gateway/execute", &body(user.clone()));
        assert!([400, 422].contains(&res.status), "{user}: {}", res.body);
        res.assert_envelope(res.status, "VALIDATION_ERROR");
    }
    let res = call_with_header(&api, "canary-bad", &"h".repeat(257));
    let env = res.assert_envelope(422, "VALIDATION_ERROR");
    assert!(
        env["message"]
            .as_str()
            .unwrap()
            .contains("X-PromptHelm-User-Id"),
        "{env}"
    );
    assert_eq!(
        call_with_header(&api, "canary-bad", &"h".repeat(256)).status,
        200
    );

    // An archived prompt takes no canary changes.
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 10})).status,
        201
    );
    assert_eq!(
        api.post(&format!("/api/v1/prompts/{pid}/archive"), &json!({}))
            .status,
        200
    );
    start(&api, &pid, &json!({"versionId": v2, "percent": 20}))
        .assert_envelope(409, "PROMPT_ARCHIVED");
    api.delete(&canary_path(&pid))
        .assert_envelope(409, "PROMPT_ARCHIVED");
    assert_eq!(api.get(&canary_path(&pid)).json()["canary"]["percent"], 10);
}

#[test]
fn a_stale_cache_entry_never_hides_a_canary_change() {
    let rt = app(Flavor::Prompthelm);
    let api = Client::admin(&rt);
    let (pid, v1, v2, _) = three_versions(&api, "canary-stale");
    let kv = KvFaults::open(&rt);

    // An entry loaded before the canary started (no canary in it) ...
    assert_eq!(
        call_as(&api, "canary-stale", None)["versionId"],
        v1.as_str()
    );
    let before = kv.entries();
    assert_eq!(before.len(), 2, "entries by id and by slug");
    // ... written back after the start returned must not be served.
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 100})).status,
        201
    );
    kv.put(&before);
    assert_eq!(
        arm(&call_as(&api, "canary-stale", None), &v2),
        (v2.clone(), true)
    );
    kv.put(&before);
    let seen = api.resolve(&format!("promptId={pid}"));
    assert_eq!(seen["cache"], "stale", "{seen}");
    assert_eq!(seen["canary"]["percent"], 100);

    // The same for an update and for the end: an entry with the canary at
    // 100 % written back after the change is ignored.
    let at_100 = kv.entries();
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 0})).status,
        200
    );
    kv.put(&at_100);
    assert_eq!(
        arm(&call_as(&api, "canary-stale", None), &v2),
        (v1.clone(), false)
    );
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 100})).status,
        200
    );
    let running = kv.entries();
    assert_eq!(api.delete(&canary_path(&pid)).status, 200);
    kv.put(&running);
    assert_eq!(
        arm(&call_as(&api, "canary-stale", None), &v2),
        (v1.clone(), false)
    );
    assert_eq!(
        api.resolve(&format!("promptId={pid}"))["canary"],
        Value::Null
    );

    // A store that refuses writes: the change answers 200 with a warning
    // and is served anyway.
    kv.refuse_writes();
    let res = start(&api, &pid, &json!({"versionId": v2, "percent": 100}));
    assert_eq!(res.status, 201, "{}", res.body);
    assert!(
        res.json()["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty()),
        "{}",
        res.body
    );
    assert_eq!(
        arm(&call_as(&api, "canary-stale", None), &v2),
        (v2.clone(), true)
    );
    kv.allow_writes();
}

#[test]
fn the_openai_route_splits_by_its_user_field() {
    let stub = StubProvider::start();
    let rt = Flavor::Prompthelm.start(stub.app_options().rate_limit_per_minute(0));
    let api = Client::admin(&rt);
    let (pid, _, v2, _) = three_versions(&api, "canary-openai");
    assert_eq!(
        start(&api, &pid, &json!({"versionId": v2, "percent": 50})).status,
        201
    );
    let call = |user: &str| {
        let res = api.post(
            "/api/v1/openai/v1/chat/completions",
            &json!({"model": "prompt:canary-openai", "user": user,
                "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(res.status, 200, "{}", res.body);
        let meta = res.json()["prompthelm"].clone();
        (
            meta["versionId"].as_str().unwrap().to_owned(),
            meta["canary"].as_bool().unwrap(),
        )
    };
    let mut seen = [false, false];
    for u in 0..16 {
        let user = format!("openai-user-{u}");
        let first = call(&user);
        assert_eq!(first.1, first.0 == v2);
        assert_eq!(call(&user), first, "{user} changed arms");
        seen[usize::from(first.1)] = true;
    }
    assert_eq!(seen, [true, true], "both arms among 16 users at 50 %");
}

#[test]
fn a_canary_under_spin() {
    if let Some(spin) = Flavor::spin() {
        let rt = app(spin);
        let api = Client::admin(&rt);
        let (pid, v1, v2, _) = three_versions(&api, "canary-spin");
        assert_eq!(
            start(&api, &pid, &json!({"versionId": v2, "percent": 100})).status,
            201
        );
        assert_eq!(
            arm(&call_as(&api, "canary-spin", Some("u")), &v2),
            (v2.clone(), true)
        );
        assert_eq!(
            start(&api, &pid, &json!({"versionId": v2, "percent": 0})).status,
            200
        );
        assert_eq!(
            arm(&call_as(&api, "canary-spin", Some("u")), &v2),
            (v1.clone(), false)
        );
        let ended = api.delete(&format!("{}?outcome=promote", canary_path(&pid)));
        assert_eq!(ended.status, 200, "{}", ended.body);
        let answer = call_as(&api, "canary-spin", Some("u"));
        assert_eq!(
            (answer["versionId"].as_str(), answer["canary"].as_bool()),
            (Some(v2.as_str()), Some(false))
        );
    }
}
