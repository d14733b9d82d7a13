//! Feedback and signals (issue 17 §1) and minute buckets (§1b) through the
//! `feedback` and `analytics` components: scores that replace each other
//! and move the analytics, the all-or-nothing batch, isolation and scope,
//! signals as series, the `feedback.*` log filter, and minute buckets that
//! tell a promotion from its rollback.

use serde_json::{Value, json};

use crate::api::{Client, id, urlencode, version_body};
use crate::harness::{Flavor, Runtime};
use crate::history::{self, PastCall, now_ms};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// A prompt with a promoted version; returns (prompt id, version id).
fn promoted(admin: &Client, slug: &str) -> (String, String) {
    let pid = id(&admin.create_prompt(slug));
    let vid = id(&admin.save_version(&pid, &version_body("Be brief.", 0.2, &[], "v1")));
    admin.promote(&pid, &vid);
    (pid, vid)
}

/// A gateway call of the prompt on the `echo` model; returns its id.
fn call(admin: &Client, pid: &str) -> String {
    let res = admin.execute_echo("promptId", pid);
    assert_eq!(res.status, 200, "{}", res.body);
    id(&res.json())
}

fn feedback(client: &Client, execution: &str, body: &Value) -> crate::harness::Reply {
    client.post(&format!("/api/v1/executions/{execution}/feedback"), body)
}

fn analytics(client: &Client, pid: &str, query: &str) -> Value {
    let res = client.get(&format!("/api/v1/prompts/{pid}/analytics?{query}"));
    assert_eq!(res.status, 200, "{query}: {}", res.body);
    res.json()
}

/// The ids of the organization's logs matching the filter `q`.
fn logs_matching(client: &Client, q: &str) -> Vec<String> {
    let res = client.get(&format!(
        "/api/v1/execution-logs?limit=200&q={}",
        urlencode(q)
    ));
    assert_eq!(res.status, 200, "{q}: {}", res.body);
    let mut ids: Vec<String> = res.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    ids.sort();
    ids
}

fn rows(rt: &Runtime, table: &str) -> i64 {
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_score_is_created_then_replaced_and_moves_the_analytics() {
    score_and_replace(Flavor::Prompthelm);
}

#[test]
fn a_score_is_created_then_replaced_under_spin() {
    if let Some(spin) = Flavor::spin() {
        score_and_replace(spin);
    }
}

fn score_and_replace(flavor: Flavor) {
    let rt = flavor.app();
    let admin = Client::admin(&rt);
    let (pid, vid) = promoted(&admin, "rated");
    let first = call(&admin, &pid);
    let second = call(&admin, &pid);

    let res = feedback(
        &admin,
        &first,
        &json!({"score": -1, "comment": "wrong answer"}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let created = res.json();
    assert!(
        created["id"].as_str().unwrap().starts_with("fbk_"),
        "{created}"
    );
    assert_eq!(created["executionId"], first.as_str());
    assert_eq!(created["promptId"], pid.as_str());
    assert_eq!(created["versionId"], vid.as_str());
    assert_eq!(
        (&created["name"], &created["source"], &created["score"]),
        (&json!("thumbs"), &json!("user"), &json!(-1.0))
    );
    assert_eq!(created["comment"], "wrong answer");

    // Every granularity counts it on the version that served the call.
    for window in ["1h", "24h", "7d"] {
        let report = analytics(&admin, &pid, &format!("window={window}"));
        let thumbs = &report["versions"][0]["feedback"]["thumbs"];
        assert_eq!(
            thumbs,
            &json!({"count": 1, "negative": 1, "negativeRate": 1.0, "meanScore": -1.0}),
            "{window}: {report}"
        );
        assert_eq!(report["totals"]["feedback"]["thumbs"]["negative"], 1);
        let in_buckets: u64 = report["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["feedback"]["thumbs"]["count"].as_u64())
            .sum();
        assert_eq!(in_buckets, 1, "{window}");
    }
    assert_eq!(
        logs_matching(&admin, "feedback.score < 0"),
        [first.as_str()]
    );
    assert!(logs_matching(&admin, "feedback.score > 0").is_empty());

    // The same execution, name and source again: replaced (200), same id,
    // and the analytics move: negative 1 → 0.
    let res = feedback(&admin, &first, &json!({"score": 1}));
    assert_eq!(res.status, 200, "{}", res.body);
    let replaced = res.json();
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["score"], 1.0);
    assert!(replaced["comment"].is_null(), "a replacement is whole");
    assert_eq!(replaced["createdAt"], created["createdAt"]);
    for window in ["1h", "24h", "7d"] {
        let report = analytics(&admin, &pid, &format!("window={window}"));
        assert_eq!(
            report["versions"][0]["feedback"]["thumbs"],
            json!({"count": 1, "negative": 0, "negativeRate": 0.0, "meanScore": 1.0}),
            "{window}: {report}"
        );
    }
    assert!(logs_matching(&admin, "feedback.score < 0").is_empty());
    assert_eq!(
        logs_matching(&admin, "feedback.score > 0"),
        [first.as_str()]
    );
    // Sending the same score again is idempotent.
    let res = feedback(&admin, &first, &json!({"score": 1}));
    assert_eq!(res.status, 200, "{}", res.body);

    // Another source and another name are scores of their own.
    let res = feedback(
        &admin,
        &first,
        &json!({"score": -1, "source": "support-team"}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let res = feedback(
        &admin,
        &second,
        &json!({"name": "csat", "score": 2, "metadata": {"ticket": "T-1"}}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json()["metadata"], json!({"ticket": "T-1"}));
    let report = analytics(&admin, &pid, "window=1h");
    let fb = &report["versions"][0]["feedback"];
    assert_eq!(fb["thumbs"]["count"], 2);
    assert_eq!(fb["thumbs"]["negative"], 1);
    assert_eq!(
        fb["csat"],
        json!({"count": 1, "negative": 0, "negativeRate": 0.0, "meanScore": 2.0})
    );
    assert_eq!(
        logs_matching(&admin, "feedback.name = 'csat'"),
        [second.as_str()]
    );
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(logs_matching(&admin, "feedback.score > 0"), both);
    // Same row: the first call's positive score is a thumbs, the second's
    // a csat.
    assert_eq!(
        logs_matching(&admin, "feedback.name = 'csat' AND feedback.score > 0"),
        [second.as_str()]
    );

    // Bad input: 4xx in the envelope, nothing stored.
    let before = rows(&rt, "execution_feedback");
    for (body, status) in [
        (json!({"score": 0.5}), 422),
        (json!({}), 422),
        (json!({"score": 1, "name": "Thumbs Up"}), 422),
        (json!({"score": 1, "comment": "x".repeat(5000)}), 422),
        (json!({"score": 1, "metadata": [1, 2]}), 422),
        (json!({"score": "1"}), 400),
        (json!({"score": 1, "colour": "red"}), 400),
        (json!([1]), 400),
    ] {
        let res = feedback(&admin, &first, &body);
        res.assert_envelope(status, "VALIDATION_ERROR");
    }
    for missing in ["exe_ffffffffffffffffffffffffffffffff", "nope", "prm_x"] {
        feedback(&admin, missing, &json!({"score": 1}))
            .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    }
    assert_eq!(rows(&rt, "execution_feedback"), before);
}

#[test]
fn a_batch_is_all_or_nothing() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, _) = promoted(&admin, "batched");
    let a = call(&admin, &pid);
    let b = call(&admin, &pid);

    // One bad item among good ones: 422 naming it, nothing written.
    let res = admin.post(
        "/api/v1/feedback",
        &json!({"items": [
            {"executionId": a, "score": -1},
            {"executionId": b, "score": 3},
            {"executionId": b, "score": -1, "source": "qa"},
        ]}),
    );
    let env = res.assert_envelope(422, "VALIDATION_ERROR");
    assert_eq!(
        env["details"]["errors"][0]["field"], "items[1].score",
        "{env}"
    );
    // An unknown execution: 404 naming the item, nothing written.
    let res = admin.post(
        "/api/v1/feedback",
        &json!({"items": [
            {"executionId": a, "score": -1},
            {"executionId": "exe_ffffffffffffffffffffffffffffffff", "score": 1},
        ]}),
    );
    let env = res.assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    assert_eq!(
        env["details"]["errors"][0]["field"], "items[1].executionId",
        "{env}"
    );
    assert!(
        env["message"].as_str().unwrap().contains("items[1]"),
        "{env}"
    );
    // Too many, none, malformed.
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"executionId": a, "score": 1}))
        .collect();
    admin
        .post("/api/v1/feedback", &json!({ "items": many }))
        .assert_envelope(422, "VALIDATION_ERROR");
    admin
        .post("/api/v1/feedback", &json!({"items": []}))
        .assert_envelope(422, "VALIDATION_ERROR");
    admin
        .post("/api/v1/feedback", &json!({"items": {}}))
        .assert_envelope(400, "VALIDATION_ERROR");
    assert_eq!(rows(&rt, "execution_feedback"), 0);
    assert_eq!(rows(&rt, "feedback_rollups"), 0);
    let report = analytics(&admin, &pid, "window=1h");
    assert_eq!(report["totals"]["feedback"], json!({}));

    // A good batch: one result per item, in order; a later item of the
    // same execution, name and source replaces an earlier one.
    let res = admin.post(
        "/api/v1/feedback",
        &json!({"items": [
            {"executionId": a, "score": -1},
            {"executionId": b, "score": 1},
            {"executionId": a, "score": 1},
        ]}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let results = res.json();
    let outcomes: Vec<(u64, &str)> = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, [(0, "created"), (1, "created"), (2, "replaced")]);
    assert_eq!(
        results["items"][2]["feedback"]["id"],
        results["items"][0]["feedback"]["id"]
    );
    let report = analytics(&admin, &pid, "window=1h");
    assert_eq!(
        report["totals"]["feedback"]["thumbs"],
        json!({"count": 2, "negative": 0, "negativeRate": 0.0, "meanScore": 1.0})
    );
}

#[test]
fn feedback_needs_its_scope_and_stays_in_its_organization() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, _) = promoted(&admin, "guarded-feedback");
    let execution = call(&admin, &pid);
    let other = admin
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let other = admin.with_token(other["token"]["token"].as_str().unwrap());

    // Another organization's execution and prompt are missing ones.
    let theirs = feedback(&other, &execution, &json!({"score": -1}))
        .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    let missing = feedback(
        &other,
        "exe_ffffffffffffffffffffffffffffffff",
        &json!({"score": -1}),
    )
    .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    assert_eq!(
        theirs["message"]
            .as_str()
            .unwrap()
            .replace(&execution, "ID"),
        missing["message"]
            .as_str()
            .unwrap()
            .replace("exe_ffffffffffffffffffffffffffffffff", "ID")
    );
    other
        .post(
            "/api/v1/feedback",
            &json!({"items": [{"executionId": execution, "score": -1}]}),
        )
        .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    other
        .post(
            &format!("/api/v1/prompts/{pid}/signals"),
            &json!({"name": "tickets", "value": 1}),
        )
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    other
        .get(&format!("/api/v1/prompts/{pid}/signals"))
        .assert_envelope(404, "PROMPT_NOT_FOUND");

    // Reading analytics does not allow writing feedback, and a feedback
    // writer reads nothing.
    let (_, reader) = admin.mint(
        "reader",
        &["analytics:read", "gateway:execute", "prompts:write"],
    );
    let reader = admin.with_token(&reader);
    feedback(&reader, &execution, &json!({"score": -1})).assert_envelope(403, "FORBIDDEN");
    let (_, writer) = admin.mint("backend", &["feedback:write"]);
    let writer = admin.with_token(&writer);
    let res = feedback(&writer, &execution, &json!({"score": -1}));
    assert_eq!(res.status, 201, "{}", res.body);
    writer
        .get(&format!("/api/v1/prompts/{pid}/analytics"))
        .assert_envelope(403, "FORBIDDEN");
    assert_eq!(rows(&rt, "execution_feedback"), 1);
}

#[test]
fn signals_are_series_next_to_the_calls() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, _) = promoted(&admin, "signalled");
    let (other_pid, _) = promoted(&admin, "quiet");
    call(&admin, &pid);
    let now = now_ms();
    let signal =
        |prompt: &str, body: Value| admin.post(&format!("/api/v1/prompts/{prompt}/signals"), &body);
    let res = signal(&pid, json!({"name": "tickets", "value": 3}));
    assert_eq!(res.status, 201, "{}", res.body);
    let sent = res.json();
    assert!(sent["id"].as_str().unwrap().starts_with("sig_"), "{sent}");
    assert_eq!(sent["value"], 3.0);
    for (ago, value) in [(30 * MINUTE_MS, 2), (3 * HOUR_MS, 5)] {
        let at = history::at(now - ago);
        let res = signal(&pid, json!({"name": "tickets", "value": value, "at": at}));
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(res.json()["at"], at);
    }
    assert_eq!(
        signal(&pid, json!({"name": "nps", "value": -20})).status,
        201
    );
    assert_eq!(
        signal(&other_pid, json!({"name": "tickets", "value": 100})).status,
        201
    );

    let tickets = |report: &Value| -> Value {
        report["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "tickets")
            .cloned()
            .unwrap_or_else(|| panic!("no tickets series in {report}"))
    };
    let hour = analytics(&admin, &pid, "window=1h");
    let series = tickets(&hour);
    assert_eq!(
        series["total"],
        json!({"count": 2, "sum": 5.0, "mean": 2.5})
    );
    assert_eq!(series["buckets"].as_array().unwrap().len(), 60);
    assert_eq!(
        series["buckets"].as_array().unwrap().last().unwrap()["sum"],
        3.0,
        "the current minute"
    );
    let names: Vec<&str> = hour["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nps", "tickets"]);
    assert_eq!(
        tickets(&analytics(&admin, &pid, "window=6h"))["total"]["sum"],
        10.0
    );
    let day = analytics(&admin, &pid, "window=24h");
    assert_eq!(tickets(&day)["total"]["count"], 3);
    assert_eq!(tickets(&day)["buckets"].as_array().unwrap().len(), 24);
    // Signals belong to the prompt: shown with a version filter too.
    let vid = hour["versions"][0]["versionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let filtered = analytics(&admin, &pid, &format!("window=1h&versionId={vid}"));
    assert_eq!(tickets(&filtered)["total"]["count"], 2);

    // The list, newest sent first, by name.
    let all = admin.list_all(&format!("/api/v1/prompts/{pid}/signals"));
    assert_eq!(all.len(), 4);
    let res = admin.get(&format!("/api/v1/prompts/{pid}/signals?name=nps"));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["data"][0]["value"], -20.0);

    // Bad signals: 422 (or 400 unreadable), nothing stored.
    let before = rows(&rt, "prompt_signals");
    for (body, status) in [
        (json!({"name": "tickets"}), 422),
        (json!({"value": 1}), 422),
        (
            json!({"name": "tickets", "value": 1, "at": history::at(now + HOUR_MS)}),
            422,
        ),
        (
            json!({"name": "tickets", "value": 1, "at": "yesterday"}),
            422,
        ),
        (json!({"name": "Tickets!", "value": 1}), 422),
        (json!({"name": "tickets", "value": 1e300}), 422),
        (json!({"name": "tickets", "value": "3"}), 400),
        (json!({"name": "tickets", "value": 1, "extra": true}), 400),
    ] {
        signal(&pid, body).assert_envelope(status, "VALIDATION_ERROR");
    }
    signal(
        "prm_ffffffffffffffffffffffffffffffff",
        json!({"name": "t", "value": 1}),
    )
    .assert_envelope(404, "PROMPT_NOT_FOUND");
    assert_eq!(rows(&rt, "prompt_signals"), before);
}

/// Seed step 4, "within minutes": a bad version promoted and rolled back
/// minutes apart is its own minute buckets, with the promotion markers at
/// their exact time.
#[test]
fn minute_buckets_tell_a_promotion_from_its_rollback() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let pid = id(&admin.create_prompt("minutes"));
    let good = id(&admin.save_version(&pid, &version_body("Good.", 0.2, &[], "good")));
    let bad = id(&admin.save_version(&pid, &version_body("Bad.", 0.9, &[], "bad")));
    let before = now_ms();
    admin.promote(&pid, &good);
    admin.promote(&pid, &bad);
    admin.promote(&pid, &good);
    let after = now_ms();

    // Calls at controlled times (straight into SQLite, through the
    // triggers): the good version 12 minutes ago, the bad one 8 and 7
    // minutes ago (slow, half failing), the good one again 3 minutes ago.
    // The minutes are whole minutes before the current one, so they are
    // distinct buckets whatever the clock says.
    let this_minute = now_ms() / MINUTE_MS;
    let minute = |ago: i64| (this_minute - ago) * MINUTE_MS + 5_000;
    let past = |version: &str, at: i64, latency_ms: i64, error: Option<&'static str>| PastCall {
        organization_id: "org_default".into(),
        prompt_id: Some(pid.clone()),
        version_id: Some(version.to_owned()),
        created_at: at,
        latency_ms,
        error_code: error,
        cost_usd: 0.001,
        input_tokens: 10,
        output_tokens: 5,
    };
    let mut calls = Vec::new();
    for i in 0..4 {
        calls.push(past(&good, minute(12) + i, 200, None));
        calls.push(past(
            &bad,
            minute(8) + i,
            2_500,
            (i % 2 == 0).then_some("UPSTREAM_FAILURE"),
        ));
        calls.push(past(&bad, minute(7) + i, 2_500, None));
        calls.push(past(&good, minute(3) + i, 210, None));
    }
    history::insert(&rt, &calls);

    let report = analytics(&admin, &pid, "window=1h");
    assert_eq!(report["window"]["bucket"], "minute");
    let buckets = report["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 60);
    let bucket = |at: i64| {
        let start = history::at(at / MINUTE_MS * MINUTE_MS);
        buckets
            .iter()
            .find(|b| b["start"] == start.as_str())
            .unwrap_or_else(|| panic!("no bucket {start} in {report}"))
    };
    let (g1, b1, b2, g2) = (
        bucket(minute(12)),
        bucket(minute(8)),
        bucket(minute(7)),
        bucket(minute(3)),
    );
    assert_eq!(
        (g1["calls"].as_u64(), g1["successRate"].as_f64()),
        (Some(4), Some(1.0))
    );
    assert_eq!(
        (b1["calls"].as_u64(), b1["successRate"].as_f64()),
        (Some(4), Some(0.5))
    );
    assert!(
        b2["p50LatencyMs"].as_f64().unwrap() >= 2_500.0 * 0.99,
        "{b2}"
    );
    assert_eq!(
        (g2["calls"].as_u64(), g2["successRate"].as_f64()),
        (Some(4), Some(1.0))
    );
    assert!(g2["p95LatencyMs"].as_f64().unwrap() < 250.0, "{g2}");
    // The versions' first and last minutes are apart too.
    let version = |vid: &str| {
        report["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["versionId"] == vid)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        version(&bad)["firstCallBucket"],
        history::at(minute(8) / MINUTE_MS * MINUTE_MS)
    );
    assert_eq!(
        version(&bad)["lastCallBucket"],
        history::at(minute(7) / MINUTE_MS * MINUTE_MS)
    );
    assert_eq!(version(&good)["calls"], 8);

    // Promotion markers keep their exact time, not a bucket's.
    let markers = report["promotions"].as_array().unwrap();
    assert_eq!(markers.len(), 3, "{report}");
    for m in markers {
        let at = prompthelm_domain::time::parse_timestamp(m["at"].as_str().unwrap()).unwrap();
        assert!(
            (before..=after).contains(&at),
            "{m}: not within {before}..={after}"
        );
    }
    assert_eq!(markers[2]["revert"], true);
    // 6h is minutes too; bucket=minute is refused where minutes are not kept.
    let six = analytics(&admin, &pid, "window=6h");
    assert_eq!(six["buckets"].as_array().unwrap().len(), 360);
    assert_eq!(six["totals"]["calls"], 16);
    for query in [
        "window=7d&bucket=minute".to_owned(),
        format!(
            "window=custom&bucket=minute&from={}&to={}",
            history::at(now_ms() - 50 * HOUR_MS),
            history::at(now_ms() - 40 * HOUR_MS)
        ),
        "window=1h&bucket=second".to_owned(),
    ] {
        admin
            .get(&format!("/api/v1/prompts/{pid}/analytics?{query}"))
            .assert_envelope(400, "VALIDATION_ERROR");
    }
}
