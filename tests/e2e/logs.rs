//! The execution logs through the `logs` component: filters, the filter
//! language, newest-first cursor paging while calls keep arriving, bodies,
//! organization isolation and the retention purge.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api::{Client, id, urlencode};
use crate::harness::{Reply, Runtime};
use crate::history::{self, Lcg, PastCall, at, now_ms};

const DAY_MS: i64 = 86_400_000;

/// A promoted prompt on the `echo` model (a dry run, no provider needed)
/// that needs a `question`.
fn echo_prompt(admin: &Client, slug: &str) -> (String, String) {
    let pid = id(&admin.create_prompt(slug));
    let vid = id(&admin.save_version(
        &pid,
        &json!({
            "user": "Q: {{question}}",
            "variables": [{"name": "question", "type": "string", "required": true}],
            "model": "echo",
            "message": "v1",
        }),
    ));
    admin.promote(&pid, &vid);
    (pid, vid)
}

/// One gateway call of `slug`; `None` as the question makes it fail (422).
fn call(client: &Client, slug: &str, question: Option<&str>) -> Reply {
    let variables = match question {
        Some(q) => json!({"question": q}),
        None => json!({}),
    };
    client.post(
        "/api/v1/gateway/execute",
        &json!({"promptSlug": slug, "variables": variables}),
    )
}

fn logs(client: &Client, query: &str) -> Vec<Value> {
    let res = client.get(&format!("/api/v1/execution-logs?limit=200&{query}"));
    assert_eq!(res.status, 200, "{query}: {}", res.body);
    assert_eq!(res.json()["nextCursor"], Value::Null, "{query}");
    res.json()["data"].as_array().unwrap().clone()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(id).collect()
}

fn q(client: &Client, filter: &str) -> Reply {
    client.get(&format!(
        "/api/v1/execution-logs?limit=200&q={}",
        urlencode(filter)
    ))
}

#[test]
fn the_list_filters_and_pages_newest_first_while_calls_arrive() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, vid) = echo_prompt(&admin, "faq");
    let mut made = Vec::new();
    for i in 0..5 {
        let res = call(&admin, "faq", Some(&format!("q{i}")));
        assert_eq!(res.status, 200, "{}", res.body);
        made.push(id(&res.json()));
    }
    for _ in 0..2 {
        call(&admin, "faq", None).assert_envelope(422, "GATEWAY_MISSING_VARIABLES");
    }
    let res = admin.post(
        "/api/v1/gateway/execute",
        &json!({"user": "ad hoc", "model": "echo"}),
    );
    assert_eq!(res.status, 200, "{}", res.body);

    // Newest first; a summary carries no bodies.
    let all = logs(&admin, "");
    assert_eq!(all.len(), 8);
    assert_eq!(all[0]["promptId"], Value::Null, "the ad-hoc call is newest");
    let oldest_five: Vec<String> = ids(&all[3..]).into_iter().rev().collect();
    assert_eq!(oldest_five, made);
    let stamps: Vec<&str> = all
        .iter()
        .map(|r| r["createdAt"].as_str().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "{stamps:?}");
    for row in &all {
        assert!(row.get("requestBody").is_none() && row.get("responseBody").is_none());
    }
    let first = &all[3];
    assert_eq!(
        (&first["promptId"], &first["versionId"], &first["version"]),
        (&json!(pid), &json!(vid), &json!("1.0.0"))
    );
    assert_eq!(first["status"], "success");
    assert_eq!(first["model"], "echo");
    assert_eq!(first["environment"], "production");
    assert_eq!(first["httpStatus"], 200);
    assert!(
        first["latencyMs"].is_i64() && first["cost"].is_f64(),
        "{first}"
    );

    // Fixed filters.
    let failed = logs(&admin, "status=error");
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|r| r["errorCode"] == "GATEWAY_MISSING_VARIABLES" && r["httpStatus"] == 422)
    );
    assert_eq!(logs(&admin, "errorCode=GATEWAY_MISSING_VARIABLES").len(), 2);
    assert_eq!(logs(&admin, "status=success").len(), 6);
    assert_eq!(logs(&admin, &format!("promptId={pid}")).len(), 7);
    assert_eq!(
        logs(
            &admin,
            &format!("promptId={pid}&status=success&versionId={vid}")
        )
        .len(),
        5
    );
    assert_eq!(logs(&admin, "model=echo&environment=production").len(), 5);
    assert_eq!(logs(&admin, "model=gpt-4o").len(), 0);
    let later = at(now_ms() + 60_000);
    assert_eq!(logs(&admin, &format!("from={later}")).len(), 0);
    assert_eq!(logs(&admin, &format!("to={later}")).len(), 8);
    for (query, needle) in [
        ("status=maybe", "status"),
        ("environment=staging", "environment"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
        ("promptid=x", "promptid"),
    ] {
        let res = admin.get(&format!("/api/v1/execution-logs?{query}"));
        let env = res.assert_envelope(400, "VALIDATION_ERROR");
        assert!(env["message"].as_str().unwrap().contains(needle), "{env}");
    }

    // Cursor pages stay stable while new calls are logged between them:
    // the pages hold exactly the rows that existed, in order, once each.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut arrived = Vec::new();
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/execution-logs?limit=3&cursor={c}"),
            None => "/api/v1/execution-logs?limit=3".to_owned(),
        };
        let page = admin.get(&url).json();
        paged.extend(ids(page["data"].as_array().unwrap()));
        let res = call(&admin, "faq", Some("arriving"));
        arrived.push(id(&res.json()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, ids(&all));
    let fresh = logs(&admin, "");
    let newest: Vec<String> = ids(&fresh[..arrived.len()]).into_iter().rev().collect();
    assert_eq!(newest, arrived);
}

#[test]
fn filter_expressions_select_rows_and_hostile_ones_are_refused() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, _) = echo_prompt(&admin, "faq");
    for i in 0..3 {
        assert_eq!(call(&admin, "faq", Some(&format!("q{i}"))).status, 200);
    }
    call(&admin, "faq", None).assert_envelope(422, "GATEWAY_MISSING_VARIABLES");
    // Slow, expensive and failing calls from the past, to filter on.
    let org = admin.get("/api/v1/organizations/current").json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let past = |latency_ms, error_code, cost_usd| PastCall {
        organization_id: org.clone(),
        prompt_id: Some(pid.clone()),
        version_id: None,
        created_at: now_ms() - DAY_MS,
        latency_ms,
        error_code,
        cost_usd,
        input_tokens: 10,
        output_tokens: 20,
    };
    history::insert(
        &rt,
        &[
            past(2500, Some("PROVIDER_TIMEOUT"), 0.0),
            past(3000, Some("UPSTREAM_FAILURE"), 0.0),
            past(1200, Some("UPSTREAM_FAILURE"), 0.0),
            past(800, None, 0.02),
        ],
    );

    let count = |filter: &str| {
        let res = q(&admin, filter);
        assert_eq!(res.status, 200, "{filter}: {}", res.body);
        res.json()["data"].as_array().unwrap().len()
    };
    // The examples, and the rest of the grammar.
    assert_eq!(count("status = 'error' AND latencyMs > 2000"), 2);
    assert_eq!(
        count("errorCode IN ('PROVIDER_TIMEOUT','UPSTREAM_FAILURE')"),
        3
    );
    assert_eq!(count("cost >= 0.01 OR model LIKE 'ech%'"), 4);
    assert_eq!(count("latency_ms BETWEEN 1000 AND 2600"), 2);
    assert_eq!(
        count("NOT (status = 'success') AND errorCode IS NOT NULL"),
        4
    );
    assert_eq!(count("stream = false AND httpStatus = 422"), 1);
    assert_eq!(count("\"errorCode\" = 'GATEWAY_MISSING_VARIABLES'"), 1);
    assert_eq!(count("version IS NULL AND provider = 'openai'"), 4);
    // Combined with the fixed filters.
    let res = admin.get(&format!(
        "/api/v1/execution-logs?status=error&q={}",
        urlencode("latencyMs < 2000")
    ));
    assert_eq!(
        res.json()["data"].as_array().unwrap().len(),
        2,
        "{}",
        res.body
    );

    // Values are parameters: SQL inside a string literal is just text.
    assert_eq!(count("model = 'echo'' OR ''1''=''1'"), 0);
    assert_eq!(count("errorCode = 'x'') OR 1=1 --'"), 0);
    assert_eq!(count("model LIKE '%''; DROP TABLE execution_logs; --'"), 0);

    // Hostile or broken filters: a 400 naming the problem, never a 5xx.
    let deep = format!("{}status = 'error'{}", "(".repeat(200), ")".repeat(200));
    let long = format!("model = '{}'", "x".repeat(3000));
    let in_list = format!(
        "model IN ({})",
        (0..101)
            .map(|i| format!("'m{i}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (filter, needle) in [
        ("secret = 1", "secret"),
        ("status = 'error'; DROP TABLE execution_logs", ";"),
        ("status = 'error' -- and more", "comment"),
        ("/* hi */ status = 'error'", "comment"),
        ("lower(model) = 'echo'", "function"),
        ("promptId IN (SELECT id FROM prompts)", "subquer"),
        ("EXISTS (SELECT 1)", ""),
        ("latencyMs > '5'", "number"),
        ("status = 'maybe'", "status"),
        ("model = ?", "placeholder"),
        ("latencyMs + 1 > 5", ""),
        ("model = provider", ""),
        ("1 = 1", ""),
        ("status", ""),
        ("", "empty"),
        ("   ", "empty"),
        ("status = 'error' UNION SELECT * FROM api_tokens", ""),
        ("CAST(latencyMs AS TEXT) = '1'", ""),
        ("model = NULL", "NULL"),
        ("stream > true", ""),
        (deep.as_str(), "deep"),
        (long.as_str(), "2000"),
        (in_list.as_str(), "100"),
    ] {
        let res = q(&admin, filter);
        assert_eq!(res.status, 400, "{filter:.80}: {}", res.body);
        let env = res.assert_envelope(400, "INVALID_FILTER");
        let message = env["message"].as_str().unwrap().to_lowercase();
        assert!(message.starts_with("q: "), "{message}");
        assert!(
            message.contains(&needle.to_lowercase()),
            "{filter:.80}: {message}"
        );
    }

    // Random token soup: every answer is a 200 or a 400 envelope.
    let tokens = [
        "status",
        "latencyMs",
        "model",
        "cost",
        "'error'",
        "'x''y'",
        "2000",
        "-1",
        "0.5",
        "1e3",
        "=",
        "!=",
        "<>",
        "<",
        ">=",
        "AND",
        "OR",
        "NOT",
        "(",
        ")",
        ",",
        "IN",
        "LIKE",
        "BETWEEN",
        "IS",
        "NULL",
        "true",
        ";",
        "--",
        "/*",
        "*/",
        "?",
        ":a",
        "@b",
        "$1",
        "\"model\"",
        "`x`",
        "[y]",
        "SELECT",
        "*",
        "+",
        "||",
        "\u{0}",
        "é",
        "\\",
        "'",
    ];
    let mut rng = Lcg(7);
    for _ in 0..300 {
        let len = 1 + rng.next() % 9;
        let filter: Vec<&str> = (0..len)
            .map(|_| tokens[(rng.next() % tokens.len() as u64) as usize])
            .collect();
        let filter = filter.join(" ");
        let res = q(&admin, &filter);
        match res.status {
            200 => {}
            400 => {
                res.assert_envelope(400, "INVALID_FILTER");
            }
            other => panic!("{filter:?} answered {other}: {}", res.body),
        }
    }
    // The table is intact.
    assert_eq!(logs(&admin, "").len(), 8);
}

#[test]
fn a_log_opens_with_its_bodies_and_only_in_its_organization() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, _) = echo_prompt(&admin, "faq");
    let ours = id(&call(&admin, "faq", Some("what is ours?")).json());

    let other = admin
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let them = admin.with_token(other["token"]["token"].as_str().unwrap());
    let (their_pid, _) = echo_prompt(&them, "faq");
    let theirs = id(&call(&them, "faq", Some("what is theirs?")).json());

    // Each organization sees only its own logs, whatever it asks for.
    assert_eq!(ids(&logs(&admin, "")), std::slice::from_ref(&ours));
    assert_eq!(ids(&logs(&them, "")), std::slice::from_ref(&theirs));
    assert!(logs(&them, &format!("promptId={pid}")).is_empty());
    let res = q(
        &them,
        &format!("promptId = '{pid}' OR promptId = '{their_pid}'"),
    );
    assert_eq!(
        ids(res.json()["data"].as_array().unwrap()),
        std::slice::from_ref(&theirs)
    );
    them.get(&format!("/api/v1/execution-logs/{ours}"))
        .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    admin
        .get(&format!("/api/v1/execution-logs/{theirs}"))
        .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");
    admin
        .get("/api/v1/execution-logs/exe_00000000000000000000000000000000")
        .assert_envelope(404, "EXECUTION_LOG_NOT_FOUND");

    // The detail is the summary plus both bodies, secrets already scrubbed
    // at write time (the gateway tests check the scrubbing).
    let res = admin.get(&format!("/api/v1/execution-logs/{ours}"));
    assert_eq!(res.status, 200, "{}", res.body);
    let detail = res.json();
    let summary = &logs(&admin, "")[0];
    for (key, value) in summary.as_object().unwrap() {
        assert_eq!(&detail[key], value, "{key}");
    }
    let bodies = format!("{}{}", detail["requestBody"], detail["responseBody"]);
    assert!(bodies.contains("what is ours?"), "{detail}");
    assert!(!bodies.contains(&admin.token), "{detail}");
    admin
        .get(&format!("/api/v1/execution-logs/{ours}?full=1"))
        .assert_envelope(400, "VALIDATION_ERROR");
    admin
        .call("DELETE", &format!("/api/v1/execution-logs/{ours}"), None)
        .assert_envelope(405, "METHOD_NOT_ALLOWED");
}

#[test]
fn the_retention_purge_deletes_old_logs_and_keeps_their_rollups() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let (pid, vid) = echo_prompt(&admin, "faq");
    let recent = id(&call(&admin, "faq", Some("now")).json());
    let org = admin.get("/api/v1/organizations/current").json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = now_ms();
    let mut rng = Lcg(11);
    let mut past = |days_ago: i64| PastCall {
        organization_id: org.clone(),
        prompt_id: Some(pid.clone()),
        version_id: Some(vid.clone()),
        created_at: now - days_ago * DAY_MS - (rng.next() % 3_600_000) as i64,
        latency_ms: 100 + (rng.next() % 900) as i64,
        error_code: None,
        cost_usd: 0.001,
        input_tokens: 1,
        output_tokens: 1,
    };
    // 2,100 calls from 91 days ago (more than one purge batch), 3 from 10.
    let ancient: Vec<PastCall> = (0..2100).map(|_| past(91)).collect();
    let old: Vec<PastCall> = (0..3).map(|_| past(10)).collect();
    history::insert(&rt, &ancient);
    let old_ids: BTreeSet<String> = history::insert(&rt, &old).into_iter().collect();

    // Only admins purge; the parameter is checked.
    let (_, analyst) = admin.mint("analyst", &["analytics:read", "audit:read", "prompts:read"]);
    admin
        .with_token(&analyst)
        .post("/api/v1/execution-logs/purge", &json!({}))
        .assert_envelope(403, "FORBIDDEN");
    for bad in ["0", "-3", "soon", "36501"] {
        admin
            .call(
                "POST",
                &format!("/api/v1/execution-logs/purge?olderThanDays={bad}"),
                None,
            )
            .assert_envelope(400, "VALIDATION_ERROR");
    }
    admin
        .get("/api/v1/execution-logs/purge")
        .assert_envelope(405, "METHOD_NOT_ALLOWED");

    let window = format!(
        "/api/v1/prompts/{pid}/analytics?window=custom&from={}&to={}&bucket=day",
        at(now - 92 * DAY_MS),
        at(now - 5 * DAY_MS)
    );
    let before = admin.get(&window).json();
    assert_eq!(before["totals"]["calls"], 2103, "{before}");

    // The default retention (90 days) removes the 91-day-old calls only.
    let res = admin.call("POST", "/api/v1/execution-logs/purge", None);
    assert_eq!(res.status, 200, "{}", res.body);
    let report = res.json();
    assert_eq!(report["retentionDays"], 90);
    assert_eq!(report["deleted"], 2100);
    assert_eq!(report["complete"], true);
    let left: BTreeSet<String> = ids(&logs(&admin, "")).into_iter().collect();
    let mut expected = old_ids.clone();
    expected.insert(recent.clone());
    assert_eq!(left, expected);
    // Analytics still count every call: rollups are kept.
    assert_eq!(admin.get(&window).json(), before);
    // The purge is audited.
    let audit = admin
        .get("/api/v1/audit?action=execution_logs.purge")
        .json();
    let entry = &audit["data"][0];
    assert_eq!(entry["id"], report["auditEntryId"]);
    assert_eq!(entry["details"]["deleted"], 2100);

    // A shorter retention asked for by the caller; then nothing is left to do.
    let res = admin.call("POST", "/api/v1/execution-logs/purge?olderThanDays=5", None);
    assert_eq!(res.json()["deleted"], 3, "{}", res.body);
    assert_eq!(ids(&logs(&admin, "")), [recent]);
    let res = admin.call("POST", "/api/v1/execution-logs/purge?olderThanDays=5", None);
    assert_eq!(res.json()["deleted"], 0, "{}", res.body);
}
