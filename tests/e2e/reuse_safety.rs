//! Instances are reused as in Spin 4 (up to 128 requests each, 16 at once,
//! kept 1 s idle), so requests of different organizations share an
//! instance, one after another and at once. These tests interleave two
//! organizations' requests on reused instances and check that nothing
//! crosses: ids, auth context, request ids, log rows. They also check from
//! the runtime's own counts that reuse really happened (else they would
//! prove nothing), that `--max-instance-reuse-count 1` is a fresh instance
//! per request, and that a timed-out instance is dropped, not reused.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Client, id};
use crate::harness::{Flavor, Options, Reply, Runtime, app_manifest, probe_manifest, send};

/// One organization of the test, and everything it was given back.
struct Org {
    /// Every request id this organization sends starts with `rs-<tag>-`.
    tag: &'static str,
    org_id: String,
    token: String,
    token_id: String,
    prompts: Mutex<BTreeSet<String>>,
    /// Slug → prompt id.
    slugs: Mutex<BTreeMap<String, String>>,
    versions: Mutex<BTreeSet<String>>,
    /// Execution id → the request id of the call that made it.
    executions: Mutex<BTreeMap<String, String>>,
}

impl Org {
    fn new(tag: &'static str, org_id: String, token: String, token_id: String) -> Org {
        Org {
            tag,
            org_id,
            token,
            token_id,
            prompts: Mutex::default(),
            slugs: Mutex::default(),
            versions: Mutex::default(),
            executions: Mutex::default(),
        }
    }

    fn prefix(&self) -> String {
        format!("rs-{}-", self.tag)
    }

    /// Sends a request as this organization with `request_id`, and checks
    /// that the answer carries that id (header, and body for an envelope).
    fn call(
        &self,
        rt: &Runtime,
        method: &str,
        path: &str,
        body: Option<&Value>,
        request_id: &str,
    ) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let body = body.map(Value::to_string);
        let res = send(
            method,
            &rt.url(path),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("X-Request-Id", request_id),
            ],
            body.as_deref(),
        );
        assert_eq!(
            res.header("x-request-id"),
            Some(request_id),
            "{method} {path}: {res:?}"
        );
        if res.status >= 400 {
            let v = res.json();
            assert_eq!(v["requestId"], request_id, "{method} {path}: {v}");
        }
        res
    }

    fn ok(
        &self,
        rt: &Runtime,
        method: &str,
        path: &str,
        body: Option<&Value>,
        request_id: &str,
        status: u16,
    ) -> Value {
        let res = self.call(rt, method, path, body, request_id);
        assert_eq!(
            res.status, status,
            "{method} {path} ({request_id}): {}",
            res.body
        );
        res.json()
    }
}

/// One organization's step `step` of round `round` on thread `thread`: a
/// request (or a few) whose answers must name only this organization.
fn step(rt: &Runtime, me: &Org, other: &Org, thread: usize, round: usize, step: usize) {
    let rid = |n: usize| format!("{}t{thread}-r{round}-s{step}-{n}", me.prefix());
    // The same slug in both organizations.
    let slug = format!("shared-{thread}-{round}");
    let marker = format!("org {} thread {thread} round {round}", me.tag);
    let mine = |kind: &Mutex<BTreeSet<String>>, id: &str| kind.lock().unwrap().contains(id);
    let foreign_prompt = |id: &Value| id.as_str().is_some_and(|id| mine(&other.prompts, id));
    let foreign_version = |id: &Value| id.as_str().is_some_and(|id| mine(&other.versions, id));
    let prompt_id = || me.slugs.lock().unwrap()[&slug].clone();
    match step {
        0 => {
            let v = me.ok(
                rt,
                "POST",
                "/api/v1/prompts",
                Some(&json!({"name": marker, "slug": slug})),
                &rid(0),
                201,
            );
            assert_eq!(v["slug"], slug.as_str());
            assert!(!foreign_prompt(&v["id"]), "{v}");
            me.prompts.lock().unwrap().insert(id(&v));
            me.slugs.lock().unwrap().insert(slug.clone(), id(&v));
        }
        1 => {
            // The prompt of this slug, in this organization: found by listing.
            let list = me.ok(rt, "GET", "/api/v1/prompts?limit=100", None, &rid(0), 200);
            let rows = list["data"].as_array().unwrap();
            for row in rows {
                // Another thread of this organization may have had its
                // create answered but not yet recorded it: wait (briefly)
                // until one of the organizations records the prompt.
                let pid = row["id"].as_str().unwrap();
                let deadline = std::time::Instant::now() + Duration::from_secs(2);
                while !mine(&me.prompts, pid)
                    && !mine(&other.prompts, pid)
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                assert!(!foreign_prompt(&row["id"]), "another org's prompt: {row}");
                assert!(mine(&me.prompts, pid), "org {} listed {row}", me.tag);
            }
            let pid = rows
                .iter()
                .find(|r| r["slug"] == slug.as_str())
                .map(id)
                .unwrap_or_else(|| panic!("{slug} not listed: {list}"));
            assert_eq!(pid, prompt_id());
            let v = me.ok(
                rt,
                "POST",
                &format!("/api/v1/prompts/{pid}/versions"),
                Some(&json!({
                    "system": marker,
                    "user": "Q {{q}}",
                    "variables": [{"name": "q", "type": "string", "required": true}],
                    "model": "echo",
                    "message": marker,
                })),
                &rid(1),
                201,
            );
            assert_eq!(v["promptId"], pid.as_str(), "{v}");
            me.versions.lock().unwrap().insert(id(&v));
            let vid = id(&v);
            let p = me.ok(
                rt,
                "POST",
                &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
                None,
                &rid(2),
                200,
            );
            assert_eq!(
                (&p["promptId"], &p["versionId"]),
                (&json!(pid), &json!(vid))
            );
        }
        2 => {
            // Execute by the shared slug: this organization's prompt, this
            // request's own variable.
            let call_id = rid(0);
            let v = me.ok(
                rt,
                "POST",
                "/api/v1/gateway/execute",
                Some(&json!({"promptSlug": slug, "variables": {"q": call_id}})),
                &call_id,
                200,
            );
            assert_eq!(v["output"], format!("{marker}\n\nQ {call_id}"), "{v}");
            assert!(mine(&me.prompts, v["promptId"].as_str().unwrap()), "{v}");
            assert!(mine(&me.versions, v["versionId"].as_str().unwrap()), "{v}");
            me.executions.lock().unwrap().insert(id(&v), call_id);
            let r = me.ok(
                rt,
                "GET",
                &format!("/api/v1/gateway/resolve?promptSlug={slug}"),
                None,
                &rid(1),
                200,
            );
            assert_eq!(r["promptId"], v["promptId"], "{r}");
            assert_eq!(r["slug"], slug.as_str(), "{r}");
            assert_eq!(r["version"]["id"], v["versionId"], "{r}");
            assert_eq!(r["version"]["system"], marker.as_str(), "{r}");
        }
        3 => {
            let v = me.ok(rt, "GET", "/api/v1/tokens/current", None, &rid(0), 200);
            assert_eq!(v["id"], me.token_id.as_str(), "{v}");
            assert_eq!(v["organization"]["id"], me.org_id.as_str(), "{v}");
            let v = me.ok(
                rt,
                "GET",
                "/api/v1/organizations/current",
                None,
                &rid(1),
                200,
            );
            assert_eq!(v["id"], me.org_id.as_str(), "{v}");
            // An error answers with this request's id too (checked in call).
            let res = me.call(
                rt,
                "GET",
                "/api/v1/prompts/prm_00000000000000000000000000000000",
                None,
                &rid(2),
            );
            res.assert_envelope(404, "PROMPT_NOT_FOUND");
        }
        4 => {
            let logs = me.ok(
                rt,
                "GET",
                "/api/v1/execution-logs?limit=100",
                None,
                &rid(0),
                200,
            );
            for row in logs["data"].as_array().unwrap() {
                let request_id = row["requestId"].as_str().unwrap();
                assert!(request_id.starts_with(&me.prefix()), "{row}");
                assert!(!foreign_prompt(&row["promptId"]), "{row}");
                assert!(!foreign_version(&row["versionId"]), "{row}");
            }
            let audit = me.ok(rt, "GET", "/api/v1/audit?limit=100", None, &rid(1), 200);
            for row in audit["data"].as_array().unwrap() {
                if let Some(request_id) = row["requestId"].as_str() {
                    assert!(!request_id.starts_with(&other.prefix()), "{row}");
                }
                assert!(!foreign_prompt(&row["promptId"]), "{row}");
                assert!(!foreign_version(&row["versionId"]), "{row}");
                assert_ne!(row["actor"], other.token_id.as_str(), "{row}");
            }
            let v = me.ok(
                rt,
                "GET",
                &format!("/api/v1/prompts/{}", prompt_id()),
                None,
                &rid(2),
                200,
            );
            assert_eq!(v["slug"], slug.as_str(), "{v}");
        }
        _ => unreachable!(),
    }
}

const STEPS: usize = 5;

/// The second organization, made by the first one's admin.
fn two_orgs(rt: &Runtime) -> (Org, Org) {
    let admin = Client::admin(rt);
    let me = admin.get("/api/v1/tokens/current").json();
    let a = Org::new(
        "a",
        me["organization"]["id"].as_str().unwrap().to_owned(),
        admin.token.clone(),
        id(&me),
    );
    let created = a.ok(
        rt,
        "POST",
        "/api/v1/organizations",
        Some(&json!({"name": "Reuse B"})),
        "rs-a-setup-org",
        201,
    );
    let b = Org::new(
        "b",
        created["organization"]["id"].as_str().unwrap().to_owned(),
        created["token"]["token"].as_str().unwrap().to_owned(),
        created["token"]["id"].as_str().unwrap().to_owned(),
    );
    assert_ne!(a.org_id, b.org_id);
    (a, b)
}

/// `threads` threads, each doing `rounds` rounds of every step, alternating
/// organizations request by request (half the threads start with each).
/// Returns how many requests were sent.
fn interleave(rt: &Runtime, a: &Org, b: &Org, threads: usize, rounds: usize) -> usize {
    std::thread::scope(|s| {
        for thread in 0..threads {
            s.spawn(move || {
                for round in 0..rounds {
                    for n in 0..STEPS {
                        let (first, second) = if (thread + n) % 2 == 0 {
                            (a, b)
                        } else {
                            (b, a)
                        };
                        step(rt, first, second, thread, round, n);
                        step(rt, second, first, thread, round, n);
                    }
                }
            });
        }
    });
    // Requests per organization per round: 1 + 3 + 2 + 3 + 3.
    threads * rounds * 2 * 12
}

/// What the database holds is each organization's own: every log and audit
/// row of a request sent by one organization belongs to it.
fn check_rows(rt: &Runtime, orgs: [&Org; 2]) {
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    let org_of = |request_id: &str| {
        orgs.iter()
            .find(|o| request_id.starts_with(&o.prefix()))
            .unwrap_or_else(|| panic!("a row with a request id we never sent: {request_id}"))
    };
    let mut logged = 0;
    let logs = rows(
        &db,
        "SELECT id, organization_id, request_id, prompt_id FROM execution_logs",
    );
    for (id, org_id, request_id, prompt_id) in logs {
        let org = org_of(&request_id);
        assert_eq!(org_id, org.org_id, "log {id} of {request_id}");
        assert_eq!(
            org.executions.lock().unwrap().get(&id),
            Some(&request_id),
            "log {id} is not the one its call answered"
        );
        assert!(org.prompts.lock().unwrap().contains(&prompt_id.unwrap()));
        logged += 1;
    }
    let executed: usize = orgs
        .iter()
        .map(|o| o.executions.lock().unwrap().len())
        .sum();
    assert_eq!(logged, executed);

    let entries = rows(
        &db,
        "SELECT organization_id, request_id, actor, prompt_id FROM audit_log \
         WHERE request_id LIKE 'rs-%'",
    );
    let mut audited = 0;
    for (org_id, request_id, actor, prompt_id) in entries {
        let org = org_of(&request_id);
        // The new organization is audited where the operator acted.
        assert_eq!(org_id, org.org_id, "audit row of {request_id}");
        assert_eq!(actor, org.token_id, "audit row of {request_id}");
        if let Some(pid) = prompt_id {
            assert!(org.prompts.lock().unwrap().contains(&pid), "{request_id}");
        }
        audited += 1;
    }
    assert!(audited > 0);

    for org in orgs {
        for pid in org.prompts.lock().unwrap().iter() {
            let owner: String = db
                .query_row(
                    "SELECT organization_id FROM prompts WHERE id = ?",
                    [pid],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(owner, org.org_id, "prompt {pid}");
        }
    }
}

/// The rows of `sql`, which selects three text columns and a nullable one.
fn rows(db: &rusqlite::Connection, sql: &str) -> Vec<(String, String, String, Option<String>)> {
    db.prepare(sql)
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The runtime's count at shutdown: (instances created, requests served)
/// over all components, and the most requests one instance had at once.
fn instance_counts(logs: &str) -> (u64, u64, u64) {
    let total = logs
        .lines()
        .find_map(|l| l.strip_prefix("Instances: "))
        .unwrap_or_else(|| panic!("no instance counts in the logs:\n{logs}"));
    let numbers: Vec<u64> = total
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let shared = logs
        .lines()
        .filter(|l| l.starts_with("Instances of "))
        .filter_map(|l| {
            let (_, rest) = l.split_once("at most ")?;
            let (_, rest) = rest.split_once("at most ")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0);
    (numbers[0], numbers[1], shared)
}

/// Two organizations' requests interleaved from 8 threads share no state:
/// each lists and owns exactly its own rows. Returns how many requests were
/// sent.
fn two_organizations_interleaved(rt: &Runtime) -> usize {
    let (a, b) = two_orgs(rt);
    let sent = interleave(rt, &a, &b, 8, 3);

    // Each organization lists exactly its own prompts.
    for (me, other) in [(&a, &b), (&b, &a)] {
        let client = Client::admin(rt).with_token(&me.token);
        let listed: BTreeSet<String> = client.list_all("/api/v1/prompts").iter().map(id).collect();
        assert_eq!(listed, *me.prompts.lock().unwrap());
        assert!(listed.is_disjoint(&other.prompts.lock().unwrap()));
    }
    check_rows(rt, [&a, &b]);
    sent
}

/// Spin 4 reuses WASIp3 instances by default (128 requests each, 16 at
/// once, 1 s idle): the same interleaving must share nothing there too.
/// (Spin prints no instance counts, so only the isolation is checked.)
#[test]
fn two_organizations_interleaved_under_spin() {
    if let Some(spin) = Flavor::spin() {
        two_organizations_interleaved(&spin.app());
    }
}

#[test]
fn two_organizations_interleaved_on_reused_instances_share_no_state() {
    let rt = Runtime::start(
        Options::new(app_manifest())
            .arg("--max-instance-reuse-count")
            .arg("128")
            .arg("--max-instance-concurrent-reuse-count")
            .arg("16")
            .arg("--idle-instance-timeout")
            .arg("1s"),
    )
    .unwrap_or_else(|f| panic!("{}", f.stderr));
    let sent = two_organizations_interleaved(&rt);

    let logs = rt.stop();
    let (created, requests, shared) = instance_counts(&logs);
    eprintln!(
        "reuse: {created} instances for {requests} requests ({sent} sent by the test); \
         up to {shared} requests at once on one instance"
    );
    assert!(requests as usize >= sent, "{requests} < {sent}:\n{logs}");
    // Reuse happened, one request after another...
    assert!(
        created * 4 <= requests,
        "{created} instances for {requests} requests:\n{logs}"
    );
    // ...and at once, so requests of both organizations were in flight on
    // one instance together.
    assert!(shared >= 2, "never two requests on one instance:\n{logs}");
}

#[test]
fn a_reuse_count_of_one_is_a_fresh_instance_per_request() {
    let rt = Runtime::start(
        Options::new(app_manifest())
            .arg("--max-instance-reuse-count")
            .arg("1"),
    )
    .unwrap_or_else(|f| panic!("{}", f.stderr));
    let (a, b) = two_orgs(&rt);
    let sent = interleave(&rt, &a, &b, 4, 1);
    check_rows(&rt, [&a, &b]);
    let logs = rt.stop();
    let (created, requests, shared) = instance_counts(&logs);
    assert!(requests as usize >= sent, "{requests} < {sent}:\n{logs}");
    assert_eq!(created, requests, "{logs}");
    assert!(shared <= 1, "{logs}");
}

/// With reuse on, a request that runs past the timeout gets its 504, and
/// its instance is dropped rather than reused: a request that shares it
/// while a guest loops fails with the 504 envelope too, and the next
/// requests get a new instance.
#[test]
fn a_timed_out_instance_is_dropped_not_reused() {
    let rt = Runtime::probe(
        Options::new(probe_manifest())
            .arg("--request-timeout-secs")
            .arg("2")
            .arg("--idle-instance-timeout")
            .arg("60s"),
    );
    let get = |path: &str, rid: &str| rt.request("GET", path, &[("X-Request-Id", rid)], None);
    // Instance 1.
    assert_eq!(get("/probe/echo/first", "to-1").status, 200);
    // Instance 1 again: it sleeps past the timeout (waiting, not looping).
    let v = get("/probe/sleep?ms=6000", "to-2").assert_envelope(504, "COMPONENT_TIMEOUT");
    assert_eq!(v["requestId"], "to-2");
    // Its deadline passes a moment after the 504; then it takes no more.
    std::thread::sleep(Duration::from_millis(1500));
    // Instance 2: a sleeper, and a loop that joins it while it waits.
    let sharer = std::thread::scope(|s| {
        let sharer = s.spawn(|| get("/probe/sleep?ms=1500", "to-3"));
        std::thread::sleep(Duration::from_millis(300));
        get("/probe/loop", "to-4").assert_envelope(504, "COMPONENT_TIMEOUT");
        sharer.join().unwrap()
    });
    // The sleeper could not finish while the loop held the instance.
    let code = if sharer.status == 504 {
        "COMPONENT_TIMEOUT"
    } else {
        "INTERNAL_ERROR"
    };
    let v = sharer.assert_envelope(sharer.status, code);
    assert!(matches!(sharer.status, 500 | 504), "{v}");
    assert_eq!(v["requestId"], "to-3");
    std::thread::sleep(Duration::from_millis(1500));
    // Instance 3.
    for n in 5..8 {
        let res = get(&format!("/probe/echo/after{n}"), &format!("to-{n}"));
        assert_eq!(res.status, 200, "{res:?}");
    }
    let logs = rt.stop();
    assert!(logs.contains("instance failed"), "{logs}");
    let (created, requests, shared) = instance_counts(&logs);
    assert_eq!((created, requests), (3, 7), "{logs}");
    assert!(shared >= 1, "{logs}");
}
