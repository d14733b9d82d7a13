//! Webhooks (issue 17 §3, "notify") end to end: endpoints and their
//! validation, scope and isolation; a regression found by the watch in
//! `notify` mode posted, signed, to a receiver on loopback that fails the
//! first attempt and accepts the retry; and a `rollback` announced with
//! `rolledBack: true`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::api::{Client, error_fields, id, version_body};
use crate::harness::{Flavor, Options, Runtime, app_manifest};
use crate::stub::{StubOptions, StubProvider};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1: answers its requests with `statuses`
/// in turn (the last one from then on) and records them.
struct Receiver {
    origin: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(statuses: &[u16]) -> Receiver {
        Receiver::start_holding(statuses, None)
    }

    /// With `hold`, each request is recorded, then answered only once
    /// `hold` is set (at most 20 s later).
    fn start_holding(statuses: &[u16], hold: Option<Arc<AtomicBool>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = got.clone();
        let statuses = statuses.to_vec();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let n = {
                    let mut got = record.lock().unwrap();
                    got.push(request);
                    got.len()
                };
                let status = statuses[(n - 1).min(statuses.len() - 1)];
                if let Some(released) = &hold {
                    let until = Instant::now() + Duration::from_secs(20);
                    while !released.load(Ordering::SeqCst) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { origin, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (k, v) = header.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// What a receiver does with `PromptHelm-Signature`: `t=<secs>,v1=<hex
/// HMAC-SHA256(secret, "<t>.<body>")>`, with `t` recent.
fn assert_signed(got: &Received, secret: &str) {
    let header = got
        .header("PromptHelm-Signature")
        .unwrap_or_else(|| panic!("no signature: {got:?}"));
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature {header:?}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", got.body).as_bytes());
    assert_eq!(
        v1,
        hex::encode(mac.finalize().into_bytes()),
        "signature of {got:?}"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t: i64 = t.parse().unwrap();
    assert!((now - t).abs() < 120, "timestamp {t} vs now {now}");
}

/// The time of day of an RFC 3339 UTC timestamp with milliseconds
/// (`2026-12-07T02:51:19.123Z`), in ms.
fn millis_of_day(at: &Value) -> i64 {
    let at = at.as_str().unwrap();
    let clock = &at[11..23];
    let n = |range: std::ops::Range<usize>| clock[range].parse::<i64>().unwrap();
    ((n(0..2) * 60 + n(3..5)) * 60 + n(6..8)) * 1000 + n(9..12)
}

fn app(stub: &StubProvider, receiver: &Receiver) -> Runtime {
    Flavor::Prompthelm.start(
        stub.app_options()
            .rate_limit_per_minute(0)
            .env("SPIN_VARIABLE_WEBHOOK_ORIGIN", &receiver.origin)
            .env("SPIN_VARIABLE_WEBHOOK_RETRY_BASE_SECONDS", "1"),
    )
}

fn create_webhook(api: &Client, url: &str) -> (String, String) {
    let res = api.post(
        "/api/v1/webhooks",
        &json!({"url": url, "description": "on-call"}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let created = res.json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{created}"
    );
    (id(&created), secret)
}

/// A version whose every call the stub provider fails with a 503.
fn failing_body() -> Value {
    let mut body = version_body("broken", 0.3, &[], "fails");
    body["user"] = json!("[[stub:status=503]] Customer asks: {{question}}");
    body
}

fn call(api: &Client, slug: &str) {
    let res = api.post(
        "/api/v1/gateway/execute",
        &json!({"promptSlug": slug, "variables": {"question": "q"}}),
    );
    assert!(
        res.status == 200 || res.status == 502,
        "{}: {}",
        res.status,
        res.body
    );
}

/// Calls `slug` (20 per second) until `done`, at most 60 s.
fn drive_until(api: &Client, slug: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    loop {
        for _ in 0..10 {
            call(api, slug);
            std::thread::sleep(Duration::from_millis(50));
        }
        if done() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not done within 60 s"
        );
    }
}

/// A prompt with a healthy baseline (30 calls) and a failing version
/// promoted under a watch of `mode`; returns (prompt, v1, v2).
fn failing_promote(api: &Client, slug: &str, mode: &str) -> (String, String, String) {
    let pid = id(&api.create_prompt(slug));
    let v1 = id(&api.save_version(&pid, &version_body("good", 0.2, &[], "v1")));
    api.promote(&pid, &v1);
    for _ in 0..30 {
        call(api, slug);
    }
    let v2 = id(&api.save_version(&pid, &failing_body()));
    let set = api.call(
        "PUT",
        &format!("/api/v1/prompts/{pid}/watch"),
        Some(&json!({"mode": mode, "windowMinutes": 5})),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    api.promote(&pid, &v2);
    (pid, v1, v2)
}

#[test]
fn a_notify_regression_is_posted_signed_and_retried_after_a_500() {
    let receiver = Receiver::start(&[500, 200]);
    let stub = StubProvider::start();
    let rt = app(&stub, &receiver);
    let api = Client::admin(&rt);
    let (hook, secret) = create_webhook(&api, &format!("{}/hooks/ph", receiver.origin));
    let (pid, v1, v2) = failing_promote(&api, "notified", "notify");

    drive_until(&api, "notified", || receiver.received().len() >= 2);

    let got = receiver.received();
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first.path, "/hooks/ph");
    for attempt in [first, second] {
        assert_signed(attempt, &secret);
        assert_eq!(attempt.header("PromptHelm-Event"), Some("watch.regression"));
        assert_eq!(
            attempt.header("Content-Type"),
            Some("application/json"),
            "{attempt:?}"
        );
    }
    // One delivery, retried: the same id and the same body on both.
    let delivery_id = first.header("PromptHelm-Delivery").unwrap();
    assert!(delivery_id.starts_with("whd_"), "{delivery_id}");
    assert_eq!(second.header("PromptHelm-Delivery"), Some(delivery_id));
    assert_eq!(first.body, second.body);
    // Another secret does not verify it.
    let wrong = std::panic::catch_unwind(|| assert_signed(first, "whsec_wrong"));
    assert!(wrong.is_err(), "a wrong secret verified");

    let event: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(event["type"], "watch.regression", "{event}");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
    let data = &event["data"];
    assert_eq!(data["promptId"], pid.as_str(), "{event}");
    assert_eq!(data["promptSlug"], "notified");
    assert_eq!(data["mode"], "notify");
    assert_eq!(data["subject"], "promote");
    assert_eq!(data["baselineVersionId"], v1.as_str());
    assert_eq!(data["baselineVersion"], "1.0.0");
    assert_eq!(data["candidateVersionId"], v2.as_str());
    assert_eq!(data["candidateVersion"], "1.1.0");
    assert_eq!(data["rolledBack"], false);
    assert_eq!(data["action"], "notified");
    assert_eq!(data["productionVersionId"], v2.as_str());
    let evidence = data["evidence"].as_array().unwrap();
    let success = evidence
        .iter()
        .find(|m| m["metric"] == "successRate")
        .unwrap_or_else(|| panic!("{event}"));
    assert_eq!(success["regressed"], true);
    assert_eq!(success["baseline"], 1.0);
    assert_eq!(success["observed"], 0.0);
    assert!(
        success["observedCalls"].as_u64().unwrap() >= 20,
        "{success}"
    );
    assert_eq!(success["baselineCalls"], 30, "{success}");

    // The delivery log: attempt 1 failed with the 500, attempt 2 delivered.
    let log = api.list_all(&format!("/api/v1/webhooks/{hook}/deliveries"));
    assert_eq!(log.len(), 1, "one delivery per regression: {log:?}");
    let delivery = &log[0];
    assert_eq!(delivery["id"], delivery_id);
    assert_eq!(delivery["webhookId"], hook.as_str());
    assert_eq!(delivery["event"], "watch.regression");
    assert_eq!(delivery["promptId"], pid.as_str());
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    assert_eq!(delivery["nextAttemptAt"], Value::Null, "{delivery}");
    assert_eq!(delivery["payload"], event);
    let attempts = delivery["attemptLog"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{delivery}");
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["httpStatus"], 500, "{delivery}");
    assert_eq!(attempts[0]["manual"], false);
    assert_eq!(attempts[1]["attempt"], 2);
    assert_eq!(attempts[1]["httpStatus"], 200, "{delivery}");
    assert_eq!(attempts[1]["error"], Value::Null);
    // The retry waited at least the backoff (1 s here).
    let gap = millis_of_day(&attempts[1]["at"]) - millis_of_day(&attempts[0]["at"]);
    assert!(gap.rem_euclid(86_400_000) >= 1_000, "{delivery}");

    // Notify moves nothing: production is still the failing version, and
    // the watch wrote no audit entry.
    let prompt = api.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(prompt["productionVersionId"], v2.as_str());
    let audit = api.list_all(&format!("/api/v1/audit?promptId={pid}"));
    assert!(
        audit.iter().all(|e| e["actorName"] != "regression-watch"),
        "{audit:?}"
    );
    let verdict = &api.get(&format!("/api/v1/prompts/{pid}/watch")).json()["verdict"];
    assert_eq!(verdict["regressed"], true, "{verdict}");
    assert_eq!(verdict["action"], "notified", "{verdict}");

    // More evaluations of the same regression announce nothing more.
    std::thread::sleep(Duration::from_millis(5_200));
    for _ in 0..5 {
        call(&api, "notified");
    }
    assert_eq!(
        api.list_all(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .len(),
        1
    );

    // A redelivery by hand: a third attempt, manual, the same id.
    let retried = api.post(
        &format!("/api/v1/webhooks/{hook}/deliveries/{delivery_id}/retry"),
        &json!({}),
    );
    assert_eq!(retried.status, 200, "{}", retried.body);
    let retried = retried.json();
    assert_eq!(retried["attempts"], 3, "{retried}");
    assert_eq!(retried["state"], "delivered");
    assert_eq!(retried["attemptLog"][2]["manual"], true, "{retried}");
    assert_eq!(retried["attemptLog"][2]["httpStatus"], 200, "{retried}");
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].header("PromptHelm-Delivery"), Some(delivery_id));
    assert_signed(&got[2], &secret);
}

/// The call whose evaluation finds the regression answers before the
/// receiver does: delivery runs after the response. The receiver holds
/// the POST until the test has that call's answer; a delivery made inside
/// the call would hit its 3 s timeout first and log attempt 1 as an error.
#[test]
fn a_slow_receiver_does_not_hold_the_call_that_announces() {
    let release = Arc::new(AtomicBool::new(false));
    let receiver = Receiver::start_holding(&[200], Some(release.clone()));
    let stub = StubProvider::start();
    let rt = app(&stub, &receiver);
    let api = Client::admin(&rt);
    let (hook, _) = create_webhook(&api, &format!("{}/hooks/slow", receiver.origin));
    failing_promote(&api, "slow-receiver", "notify");

    let started = Instant::now();
    while receiver.received().is_empty() {
        call(&api, "slow-receiver");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing was delivered within 60 s"
        );
    }
    // The receiver holds the delivery, and the call that started it has
    // answered (calls are sequential): now let the receiver answer.
    release.store(true, Ordering::SeqCst);

    let delivered = || {
        let log = api.list_all(&format!("/api/v1/webhooks/{hook}/deliveries"));
        log.first().is_some_and(|d| d["state"] == "delivered")
    };
    let started = Instant::now();
    while !delivered() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not delivered: {:?}",
            api.list_all(&format!("/api/v1/webhooks/{hook}/deliveries"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = api.list_all(&format!("/api/v1/webhooks/{hook}/deliveries"));
    let attempts = log[0]["attemptLog"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{log:?}");
    assert_eq!(attempts[0]["httpStatus"], 200, "{log:?}");
}

#[test]
fn a_rollback_is_announced_as_rolled_back() {
    let receiver = Receiver::start(&[204]);
    let stub = StubProvider::start();
    let rt = app(&stub, &receiver);
    let api = Client::admin(&rt);
    let (hook, secret) = create_webhook(&api, &format!("{}/rb", receiver.origin));
    let (pid, v1, v2) = failing_promote(&api, "rolled", "rollback");

    drive_until(&api, "rolled", || !receiver.received().is_empty());

    let got = receiver.received();
    assert_signed(&got[0], &secret);
    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    let data = &event["data"];
    assert_eq!(data["mode"], "rollback", "{event}");
    assert_eq!(data["rolledBack"], true, "{event}");
    assert_eq!(data["action"], "rolledBack", "{event}");
    assert_eq!(data["candidateVersionId"], v2.as_str());
    assert_eq!(data["productionVersionId"], v1.as_str(), "after the revert");
    // The audit entry the event names is the watch's revert.
    let audit = api.list_all(&format!("/api/v1/audit?promptId={pid}"));
    let revert = audit
        .iter()
        .find(|e| e["id"] == data["auditEntryId"])
        .unwrap_or_else(|| panic!("{event} {audit:?}"));
    assert_eq!(revert["action"], "prompt.promote");
    assert_eq!(revert["actorName"], "regression-watch");
    let log = api.list_all(&format!("/api/v1/webhooks/{hook}/deliveries"));
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attemptLog"][0]["httpStatus"], 204);
}

#[test]
fn endpoints_are_validated_scoped_and_confined_to_their_organization() {
    let origin = "http://127.0.0.1:9";
    let rt =
        Runtime::start(Options::new(app_manifest()).env("SPIN_VARIABLE_WEBHOOK_ORIGIN", origin))
            .unwrap_or_else(|f| panic!("{}", f.stderr));
    let api = Client::admin(&rt);

    // Every problem named at once; nothing stored or audited.
    let bad = api.post(
        "/api/v1/webhooks",
        &json!({"url": "https://elsewhere.example.com/x", "events": ["nope"]}),
    );
    let env = bad.assert_envelope(422, "VALIDATION_ERROR");
    let fields = error_fields(&env);
    assert_eq!(fields, ["url", "events[0]"], "{env}");
    assert!(env["message"].as_str().unwrap().contains(origin), "{env}");
    for body in [
        json!({}),
        json!({"url": "not a url"}),
        json!({"url": "ftp://127.0.0.1:9/x"}),
        json!({"url": "http://user:pw@127.0.0.1:9/x"}),
        json!({"url": "http://127.0.0.1:10/x"}),
        json!({"url": format!("{origin}/x"), "events": []}),
        json!({"url": format!("{origin}/x"), "description": "d".repeat(501)}),
    ] {
        api.post("/api/v1/webhooks", &body)
            .assert_envelope(422, "VALIDATION_ERROR");
    }
    api.post("/api/v1/webhooks", &json!({"url": 3}))
        .assert_envelope(400, "VALIDATION_ERROR");
    api.post(
        "/api/v1/webhooks",
        &json!({"url": format!("{origin}/x"), "secret": "mine"}),
    )
    .assert_envelope(400, "VALIDATION_ERROR");
    assert!(api.list_all("/api/v1/webhooks").is_empty());

    // Created: the secret once, never again.
    let (hook, secret) = create_webhook(&api, &format!("{origin}/hook"));
    let shown = api.get(&format!("/api/v1/webhooks/{hook}"));
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown = shown.json();
    assert_eq!(shown["url"], format!("{origin}/hook"));
    assert_eq!(shown["events"], json!(["watch.regression"]));
    assert_eq!(shown["description"], "on-call");
    assert!(shown.get("secret").is_none(), "{shown}");
    let listed = api.list_all("/api/v1/webhooks");
    assert_eq!(listed, std::slice::from_ref(&shown));
    assert!(!api.get("/api/v1/webhooks").body.contains(&secret));
    let log = api.get(&format!("/api/v1/webhooks/{hook}/deliveries"));
    assert_eq!(log.status, 200, "{}", log.body);
    assert_eq!(log.json()["data"], json!([]));
    api.post(
        &format!("/api/v1/webhooks/{hook}/deliveries/whd_0123456789abcdef0123456789abcdef/retry"),
        &json!({}),
    )
    .assert_envelope(404, "DELIVERY_NOT_FOUND");
    api.get("/api/v1/webhooks/whk_0123456789abcdef0123456789abcdef")
        .assert_envelope(404, "WEBHOOK_NOT_FOUND");
    api.get("/api/v1/webhooks/nope")
        .assert_envelope(404, "WEBHOOK_NOT_FOUND");

    // Admin only.
    let (_, writer) = api.mint("writer", &["prompts:write", "prompts:read"]);
    let writer = api.with_token(&writer);
    writer
        .get("/api/v1/webhooks")
        .assert_envelope(403, "FORBIDDEN");
    writer
        .post("/api/v1/webhooks", &json!({"url": format!("{origin}/w")}))
        .assert_envelope(403, "FORBIDDEN");
    writer
        .delete(&format!("/api/v1/webhooks/{hook}"))
        .assert_envelope(403, "FORBIDDEN");
    writer
        .post(
            &format!(
                "/api/v1/webhooks/{hook}/deliveries/whd_0123456789abcdef0123456789abcdef/retry"
            ),
            &json!({}),
        )
        .assert_envelope(403, "FORBIDDEN");

    // Another organization sees none of it, and its own list is empty.
    let other = api
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let other = api.with_token(other["token"]["token"].as_str().unwrap());
    for path in [
        format!("/api/v1/webhooks/{hook}"),
        format!("/api/v1/webhooks/{hook}/deliveries"),
    ] {
        other.get(&path).assert_envelope(404, "WEBHOOK_NOT_FOUND");
    }
    other
        .delete(&format!("/api/v1/webhooks/{hook}"))
        .assert_envelope(404, "WEBHOOK_NOT_FOUND");
    other
        .post(
            &format!(
                "/api/v1/webhooks/{hook}/deliveries/whd_0123456789abcdef0123456789abcdef/retry"
            ),
            &json!({}),
        )
        .assert_envelope(404, "WEBHOOK_NOT_FOUND");
    assert!(other.list_all("/api/v1/webhooks").is_empty());

    // Deleted, audited both ways (never with the secret).
    let deleted = api.delete(&format!("/api/v1/webhooks/{hook}"));
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.json()["deleted"], true);
    api.get(&format!("/api/v1/webhooks/{hook}"))
        .assert_envelope(404, "WEBHOOK_NOT_FOUND");
    let audit = api.list_all("/api/v1/audit");
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("webhook."))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["webhook.delete", "webhook.create"], "{audit:?}");
    assert!(!serde_json::to_string(&audit).unwrap().contains(&secret));

    // At most 10 endpoints per organization.
    for n in 0..10 {
        create_webhook(&api, &format!("{origin}/h{n}"));
    }
    api.post("/api/v1/webhooks", &json!({"url": format!("{origin}/h10")}))
        .assert_envelope(409, "TOO_MANY_WEBHOOKS");
}

/// A deployment that set no `webhook_origin` allows no destination, and
/// says which variable to set.
#[test]
fn without_a_webhook_origin_no_endpoint_is_allowed() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let env = api
        .post(
            "/api/v1/webhooks",
            &json!({"url": "https://webhooks.invalid/x"}),
        )
        .assert_envelope(422, "VALIDATION_ERROR");
    assert!(
        env["details"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("webhook_origin"),
        "{env}"
    );
}
