//! Per-prompt analytics through the `analytics` component: the seed story
//! through the gateway and the stub provider, percentile accuracy against
//! exact percentiles over generated history, windows and isolation.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::{Client, id, version_body};
use crate::harness::Runtime;
use crate::history::{self, Lcg, PastCall, at, now_ms};
use crate::stub::StubProvider;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn analytics(client: &Client, pid: &str, query: &str) -> Value {
    let res = client.get(&format!("/api/v1/prompts/{pid}/analytics?{query}"));
    assert_eq!(res.status, 200, "{query}: {}", res.body);
    res.json()
}

/// The per-version entry of `report` for `vid`.
fn version<'a>(report: &'a Value, vid: &str) -> &'a Value {
    report["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["versionId"] == vid)
        .unwrap_or_else(|| panic!("no version {vid} in {report}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The seed walkthrough, steps 1 to 4, in the API: a slow and failing
/// version is promoted, analytics and logs show it, a rollback (audited as a
/// revert) brings success rate and p95 back.
#[test]
fn a_bad_promotion_shows_in_analytics_and_logs_and_a_rollback_restores_them() {
    let stub = StubProvider::start();
    let rt = Runtime::probe(stub.app_options());
    let admin = Client::admin(&rt);
    let pid = id(&admin.create_prompt("support-reply"));
    let good = id(&admin.save_version(
        &pid,
        &version_body("You are a helpful support agent.", 0.2, &[], "baseline"),
    ));
    admin.promote(&pid, &good);
    let run = |question: &str| {
        admin.post(
            "/api/v1/gateway/execute",
            &json!({"promptSlug": "support-reply", "variables": {"question": question}}),
        )
    };
    for i in 0..6 {
        let res = run(&format!("good {i}"));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["versionId"], good.as_str());
    }

    // The bad version: every call waits 1.5 s at the provider, and half of
    // them fail there.
    let mut bad_body = version_body("You are a creative support agent.", 0.9, &[], "be creative");
    bad_body["user"] = json!("[[stub:delay=1500]] Customer asks: {{question}}");
    let bad = id(&admin.save_version(&pid, &bad_body));
    admin.promote(&pid, &bad);
    for i in 0..6 {
        if i % 2 == 0 {
            let res = run(&format!("bad {i} [[stub:status=500]]"));
            res.assert_envelope(502, "UPSTREAM_FAILURE");
        } else {
            let res = run(&format!("bad {i}"));
            assert_eq!(res.json()["versionId"], bad.as_str(), "{}", res.body);
        }
    }

    // Step 1: the Analytics tab shows the regression on the bad version.
    let report = analytics(&admin, &pid, "window=24h");
    assert_eq!(report["window"]["kind"], "24h");
    assert_eq!(report["window"]["bucket"], "hour");
    assert_eq!(report["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(report["totals"]["calls"], 12);
    assert_eq!(report["totals"]["errors"], 3);
    let b = version(&report, &bad);
    assert_eq!(b["version"], "1.1.0");
    assert_eq!(b["calls"], 6);
    assert_eq!(f(&b["successRate"]), 0.5);
    assert_eq!(
        b["errorCodes"],
        json!([{"errorCode": "UPSTREAM_FAILURE", "count": 3}])
    );
    assert!(f(&b["p95LatencyMs"]) >= 1500.0 * 0.99, "{b}");
    assert!(f(&b["p50LatencyMs"]) >= 1500.0 * 0.99, "{b}");
    let g = version(&report, &good);
    assert_eq!(
        (g["version"].as_str(), g["calls"].as_u64()),
        (Some("1.0.0"), Some(6))
    );
    assert_eq!(f(&g["successRate"]), 1.0);
    assert!(f(&g["p95LatencyMs"]) < f(&b["p95LatencyMs"]), "{g} vs {b}");
    assert!(f(&g["costPerCall"]) > 0.0, "{g}");
    let bucket_calls: u64 = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(bucket_calls, 12);

    // ...and the Logs view has the failing payloads, bodies included.
    let failures = admin
        .get(&format!(
            "/api/v1/execution-logs?promptId={pid}&status=error"
        ))
        .json();
    let failures = failures["data"].as_array().unwrap();
    assert_eq!(failures.len(), 3);
    assert!(failures.iter().all(|f| f["versionId"] == bad.as_str()
        && f["errorCode"] == "UPSTREAM_FAILURE"
        && f["httpStatus"] == 502));
    let detail = admin
        .get(&format!("/api/v1/execution-logs/{}", id(&failures[0])))
        .json();
    assert_eq!(detail["responseBody"]["status"], 500, "{detail}");
    let sent = detail["requestBody"]["body"].to_string();
    assert!(sent.contains("bad 4 [[stub:status=500]]"), "{sent}");
    assert!(sent.contains("creative support agent"), "{sent}");

    // Step 3: promote the previous version back: a revert, effective on the
    // next call.
    let res = admin.post(
        &format!("/api/v1/prompts/{pid}/versions/{good}/promote"),
        &json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["revert"], true);
    for i in 0..6 {
        let res = run(&format!("restored {i}"));
        assert_eq!(res.json()["versionId"], good.as_str(), "{}", res.body);
    }

    // Step 4: the analytics converge back, with the promotions marked.
    let report = analytics(&admin, &pid, "window=24h");
    let markers: Vec<(Value, Value, Value)> = report["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["fromVersionId"].clone(),
                m["toVersionId"].clone(),
                m["revert"].clone(),
            )
        })
        .collect();
    assert_eq!(
        markers,
        [
            (Value::Null, json!(good), json!(false)),
            (json!(good), json!(bad), json!(false)),
            (json!(bad), json!(good), json!(true)),
        ]
    );
    assert_eq!(report["promotions"][2]["toVersion"], "1.0.0");
    let restored = analytics(&admin, &pid, &format!("window=24h&versionId={good}"));
    assert_eq!(restored["versionId"], good.as_str());
    assert_eq!(restored["totals"]["calls"], 12);
    assert_eq!(f(&restored["totals"]["successRate"]), 1.0);
    assert!(
        f(&restored["totals"]["p95LatencyMs"]) < f(&b["p95LatencyMs"]),
        "{restored}"
    );
    let regressed = analytics(&admin, &pid, &format!("window=24h&versionId={bad}"));
    assert_eq!(regressed["totals"], version_figures(&report, &bad));
    // The bad version is still there, for forensics.
    let versions = admin.list_all(&format!("/api/v1/prompts/{pid}/versions"));
    assert_eq!(versions.len(), 2);
}

/// The figures of `vid` in a report's version breakdown, as a totals object.
fn version_figures(report: &Value, vid: &str) -> Value {
    let mut v = version(report, vid).clone();
    let o = v.as_object_mut().unwrap();
    for key in ["versionId", "version", "firstCallBucket", "lastCallBucket"] {
        o.remove(key);
    }
    v
}

/// Exact nearest-rank percentile (the `⌈q·n⌉`-th smallest).
fn exact(sorted: &[i64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1] as f64
}

fn assert_close(what: &str, got: &Value, exact: f64) {
    let got = f(got);
    assert!(
        (got - exact).abs() <= 0.01 * exact,
        "{what}: {got} is not within 1% of {exact}"
    );
}

#[test]
fn percentiles_match_exact_ones_per_bucket_version_and_window() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let pid = id(&admin.create_prompt("busy"));
    let v1 = id(&admin.save_version(&pid, &version_body("one", 0.1, &[], "v1")));
    let v2 = id(&admin.save_version(&pid, &version_body("two", 0.2, &[], "v2")));
    let org = admin.get("/api/v1/organizations/current").json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // 3,000 calls over the 6 hours before the current one, latencies spread
    // from 1 ms to about a minute (log-uniform), 1 in 8 failing.
    let now = now_ms();
    let first_hour = (now / HOUR_MS - 6) * HOUR_MS;
    let mut rng = Lcg(42);
    let calls: Vec<PastCall> = (0..3000)
        .map(|i| {
            let exponent = (rng.next() % 10_000) as f64 / 10_000.0 * 11.0;
            PastCall {
                organization_id: org.clone(),
                prompt_id: Some(pid.clone()),
                version_id: Some(if i % 3 == 0 { v2.clone() } else { v1.clone() }),
                created_at: first_hour + (rng.next() % (6 * HOUR_MS as u64)) as i64,
                latency_ms: (2f64.powf(exponent) * 30.0) as i64,
                error_code: match i % 16 {
                    0 => Some("PROVIDER_TIMEOUT"),
                    8 => Some("UPSTREAM_FAILURE"),
                    _ => None,
                },
                cost_usd: 0.001 * (i % 5) as f64,
                input_tokens: 100,
                output_tokens: (i % 50) as i64,
            }
        })
        .collect();
    history::insert(&rt, &calls);
    // Another prompt's and another organization's calls in the same hours
    // must not count.
    let noise = |org: &str, prompt: Option<String>| PastCall {
        organization_id: org.to_owned(),
        prompt_id: prompt,
        version_id: None,
        created_at: first_hour + HOUR_MS,
        latency_ms: 5,
        error_code: None,
        cost_usd: 1.0,
        input_tokens: 1,
        output_tokens: 1,
    };
    history::insert(
        &rt,
        &[
            noise(&org, None),
            noise(&org, Some("prm_other".into())),
            noise("org_elsewhere", Some(pid.clone())),
        ],
    );

    let check = |what: &str, figures: &Value, subset: &[&PastCall]| {
        assert_eq!(figures["calls"], subset.len() as u64, "{what}");
        let errors = subset.iter().filter(|c| c.error_code.is_some()).count();
        assert_eq!(figures["errors"], errors as u64, "{what}");
        let mut latencies: Vec<i64> = subset.iter().map(|c| c.latency_ms).collect();
        latencies.sort_unstable();
        for (key, q) in [
            ("p50LatencyMs", 0.5),
            ("p95LatencyMs", 0.95),
            ("p99LatencyMs", 0.99),
        ] {
            assert_close(
                &format!("{what} {key}"),
                &figures[key],
                exact(&latencies, q),
            );
        }
        let mean = latencies.iter().sum::<i64>() as f64 / latencies.len() as f64;
        assert!((f(&figures["meanLatencyMs"]) - mean).abs() < 1e-6, "{what}");
        let cost: f64 = subset.iter().map(|c| c.cost_usd).sum();
        assert!((f(&figures["costTotal"]) - cost).abs() < 1e-9, "{what}");
        let output: i64 = subset.iter().map(|c| c.output_tokens).sum();
        assert_eq!(figures["outputTokens"], output, "{what}");
        let mut codes: BTreeMap<&str, u64> = BTreeMap::new();
        for code in subset.iter().filter_map(|c| c.error_code) {
            *codes.entry(code).or_default() += 1;
        }
        let served: BTreeMap<&str, u64> = figures["errorCodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["errorCode"].as_str().unwrap(),
                    e["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(served, codes, "{what}");
    };

    // Hour buckets of a custom window.
    let report = analytics(
        &admin,
        &pid,
        &format!(
            "window=custom&from={}&to={}&bucket=hour",
            at(first_hour),
            at(first_hour + 6 * HOUR_MS)
        ),
    );
    let buckets = report["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 6);
    let all: Vec<&PastCall> = calls.iter().collect();
    for (i, bucket) in buckets.iter().enumerate() {
        let start = first_hour + i as i64 * HOUR_MS;
        let subset: Vec<&PastCall> = all
            .iter()
            .copied()
            .filter(|c| (start..start + HOUR_MS).contains(&c.created_at))
            .collect();
        check(&format!("hour {i}"), bucket, &subset);
    }
    check("window", &report["totals"], &all);
    for vid in [&v1, &v2] {
        let subset: Vec<&PastCall> = all
            .iter()
            .copied()
            .filter(|c| c.version_id.as_ref() == Some(vid))
            .collect();
        check(vid, version(&report, vid), &subset);
        let filtered = analytics(
            &admin,
            &pid,
            &format!(
                "window=custom&from={}&to={}&versionId={vid}",
                at(first_hour),
                at(first_hour + 6 * HOUR_MS)
            ),
        );
        check(&format!("{vid} filtered"), &filtered["totals"], &subset);
    }

    // The named windows and day buckets merge the same hours exactly. (7d,
    // not 24h: 24h by day is only today's bucket, which misses the calls
    // when this runs within 7 hours after UTC midnight.)
    let day = analytics(&admin, &pid, "window=7d&bucket=day");
    let day_calls: u64 = day["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(day_calls, 3000);
    for window in ["24h", "7d", "30d"] {
        check(
            window,
            &analytics(&admin, &pid, &format!("window={window}"))["totals"],
            &all,
        );
    }
    // A window before any call: every bucket empty, no percentiles.
    let empty = analytics(
        &admin,
        &pid,
        &format!(
            "window=custom&from={}&to={}",
            at(now - 80 * DAY_MS),
            at(now - 79 * DAY_MS)
        ),
    );
    assert_eq!(empty["totals"]["calls"], 0);
    assert_eq!(empty["totals"]["p95LatencyMs"], Value::Null);
    assert_eq!(empty["totals"]["successRate"], Value::Null);
    assert!(empty["versions"].as_array().unwrap().is_empty());
}

#[test]
fn bad_windows_are_400s_and_other_organizations_prompts_are_404s() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let pid = id(&admin.create_prompt("guarded"));
    let vid = id(&admin.save_version(&pid, &version_body("a", 0.1, &[], "v1")));
    let other_pid = id(&admin.create_prompt("other"));
    let now = now_ms();
    for query in [
        "window=1y".to_owned(),
        "window=custom".to_owned(),
        format!("window=custom&from={}", at(now)),
        format!(
            "window=custom&from={}&to={}",
            at(now - 91 * DAY_MS),
            at(now)
        ),
        format!("window=custom&from={}&to={}", at(now), at(now - 1)),
        format!("window=24h&from={}", at(now - HOUR_MS)),
        "bucket=second".to_owned(),
        // Minute rollups are kept 48 hours.
        "window=7d&bucket=minute".to_owned(),
        format!(
            "window=custom&bucket=minute&from={}&to={}",
            at(now - 3 * DAY_MS),
            at(now - 2 * DAY_MS - HOUR_MS)
        ),
        "window=custom&from=yesterday&to=today".to_owned(),
        "windw=24h".to_owned(),
    ] {
        let res = admin.get(&format!("/api/v1/prompts/{pid}/analytics?{query}"));
        assert_eq!(res.status, 400, "{query}: {}", res.body);
        res.assert_envelope(400, "VALIDATION_ERROR");
    }
    let ok = analytics(
        &admin,
        &pid,
        &format!(
            "window=custom&from={}&to={}",
            at(now - 90 * DAY_MS),
            at(now)
        ),
    );
    assert_eq!(ok["window"]["bucket"], "day");
    assert_eq!(ok["buckets"].as_array().unwrap().len(), 91);

    admin
        .get("/api/v1/prompts/prm_00000000000000000000000000000000/analytics")
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    admin
        .get(&format!(
            "/api/v1/prompts/{other_pid}/analytics?versionId={vid}"
        ))
        .assert_envelope(404, "VERSION_NOT_FOUND");
    admin
        .post(&format!("/api/v1/prompts/{pid}/analytics"), &json!({}))
        .assert_envelope(405, "METHOD_NOT_ALLOWED");

    let other = admin
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let them = admin.with_token(other["token"]["token"].as_str().unwrap());
    them.get(&format!("/api/v1/prompts/{pid}/analytics"))
        .assert_envelope(404, "PROMPT_NOT_FOUND");
}
