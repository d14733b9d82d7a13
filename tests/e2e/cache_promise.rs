//! The rollback promise (issue 13 §1): no gateway call that starts after a
//! promote (or archive) returned is served by the previous state, whatever
//! the key-value store does. Faults are injected into the real store file
//! from outside, as a second SQLite connection: a late stale refill
//! (an old entry written back), eviction, a store that refuses writes (a
//! trigger that aborts them) and a store that fails every call (its table
//! renamed away).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Client, id, version_body};
use crate::harness::{Options, Reply, Runtime, app_manifest};
use crate::timeline::{Change, assert_served_current};

/// A second connection to the runtime's key-value file, for faults.
pub struct KvFaults(rusqlite::Connection);

impl KvFaults {
    pub fn open(rt: &Runtime) -> KvFaults {
        let conn = rusqlite::Connection::open(rt.state_dir.join("sqlite_key_value.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        KvFaults(conn)
    }

    /// Every later `set` fails (as a Redis at its memory limit refuses).
    pub fn refuse_writes(&self) {
        self.0
            .execute_batch(
                "CREATE TRIGGER IF NOT EXISTS test_refuse_insert BEFORE INSERT ON spin_key_value
                 BEGIN SELECT RAISE(ABORT, 'test fault: the store refuses writes'); END;
                 CREATE TRIGGER IF NOT EXISTS test_refuse_update BEFORE UPDATE ON spin_key_value
                 BEGIN SELECT RAISE(ABORT, 'test fault: the store refuses writes'); END;",
            )
            .unwrap();
    }

    pub fn allow_writes(&self) {
        self.0
            .execute_batch(
                "DROP TRIGGER IF EXISTS test_refuse_insert; DROP TRIGGER IF EXISTS test_refuse_update;",
            )
            .unwrap();
    }

    /// Every later call fails (as a store that is down).
    pub fn break_store(&self) {
        self.0
            .execute_batch("ALTER TABLE spin_key_value RENAME TO test_broken_key_value")
            .unwrap();
    }

    pub fn repair_store(&self) {
        self.0
            .execute_batch("ALTER TABLE test_broken_key_value RENAME TO spin_key_value")
            .unwrap();
    }

    /// Drops every entry (as an eviction or a restarted cache).
    pub fn evict_all(&self) {
        self.0.execute("DELETE FROM spin_key_value", []).unwrap();
    }

    /// The production entries, key → value.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut stmt = self
            .0
            .prepare("SELECT key, value FROM spin_key_value WHERE key LIKE 'production:%'")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Writes entries back, as a refill that loaded them long ago would.
    pub fn put(&self, entries: &[(String, Vec<u8>)]) {
        for (key, value) in entries {
            self.0
                .execute(
                    "INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
                .unwrap();
        }
    }
}

fn app_without_rate_limit() -> Runtime {
    Runtime::probe(
        Options::new(app_manifest()).env("SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE", "0"),
    )
}

/// A prompt with two saved versions, the first promoted and cached.
fn two_versions(api: &Client, slug: &str) -> (String, String, String) {
    let pid = id(&api.create_prompt(slug));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.4, &[], "v2")));
    api.promote(&pid, &v1);
    (pid, v1, v2)
}

#[test]
fn a_late_stale_refill_is_never_served_after_a_promote() {
    let rt = app_without_rate_limit();
    let api = Client::admin(&rt);
    let (pid, v1, v2) = two_versions(&api, "late-refill");
    let kv = KvFaults::open(&rt);

    // A refill loads generation N (v1) ...
    assert_eq!(api.served("promptSlug", "late-refill"), v1);
    let loaded_n = kv.entries();
    assert_eq!(loaded_n.len(), 2, "entries by id and by slug");
    // ... a promote commits N+1 and refreshes the cache ...
    let promotion = api.promote(&pid, &v2);
    assert!(promotion.get("warnings").is_none(), "{promotion}");
    assert_eq!(api.resolve("promptSlug=late-refill")["cache"], "hit");
    // ... then the slow refill writes N over it, after the promote returned.
    kv.put(&loaded_n);

    // The next calls must serve N+1, by slug and by id.
    assert_eq!(api.served("promptSlug", "late-refill"), v2);
    assert_eq!(api.served("promptId", &pid), v2);
    // The stale entry was seen and replaced.
    kv.put(&loaded_n);
    let seen = api.resolve(&format!("promptId={pid}"));
    assert_eq!(seen["cache"], "stale");
    assert_eq!(seen["version"]["id"], v2.as_str());
    assert_eq!(api.resolve(&format!("promptId={pid}"))["cache"], "hit");

    // The same for archive: a stale "runnable" entry does not run an
    // archived prompt.
    let runnable = kv.entries();
    let res = api.post(&format!("/api/v1/prompts/{pid}/archive"), &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    kv.put(&runnable);
    api.execute_echo("promptSlug", "late-refill")
        .assert_envelope(409, "PROMPT_ARCHIVED");
}

#[test]
fn a_promote_whose_cache_refresh_fails_is_a_success_with_a_warning_and_is_served() {
    let rt = app_without_rate_limit();
    let api = Client::admin(&rt);
    let (pid, v1, v2) = two_versions(&api, "refused");
    assert_eq!(api.served("promptSlug", "refused"), v1);
    let kv = KvFaults::open(&rt);

    // The store refuses writes: the promote commits and says so.
    kv.refuse_writes();
    let promotion = api.promote(&pid, &v2);
    assert_eq!(promotion["changed"], true);
    assert_eq!(promotion["versionId"], v2.as_str());
    let warnings = promotion["warnings"].as_array().expect("a warnings field");
    assert!(
        warnings[0].as_str().unwrap().contains("committed"),
        "{promotion}"
    );
    // The cache still holds v1, and nothing may serve it.
    assert!(
        kv.entries()
            .iter()
            .all(|(_, v)| String::from_utf8_lossy(v).contains(&v1))
    );
    assert_eq!(api.served("promptSlug", "refused"), v2);
    assert_eq!(api.served("promptId", &pid), v2);
    let seen = api.resolve("promptSlug=refused");
    assert_eq!(
        (seen["cache"].as_str(), seen["version"]["id"].as_str()),
        (Some("stale"), Some(v2.as_str()))
    );
    let detail = api.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(detail["productionVersionId"], v2.as_str());

    // A retry is idempotent: nothing changes, nothing more is audited.
    let again = api.promote(&pid, &v2);
    assert_eq!(again["changed"], false);
    let audited = api.list_all(&format!(
        "/api/v1/audit?action=prompt.promote&promptId={pid}"
    ));
    assert_eq!(audited.len(), 2);

    // Archive under the same fault: committed, warned, enforced.
    let res = api.post(&format!("/api/v1/prompts/{pid}/archive"), &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.json()["warnings"].is_array(), "{}", res.body);
    api.execute_echo("promptSlug", "refused")
        .assert_envelope(409, "PROMPT_ARCHIVED");
    let res = api.post(&format!("/api/v1/prompts/{pid}/unarchive"), &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);

    // Once the store takes writes again, a retry heals the cache.
    kv.allow_writes();
    let healed = api.promote(&pid, &v2);
    assert!(healed.get("warnings").is_none(), "{healed}");
    assert_eq!(api.resolve("promptSlug=refused")["cache"], "hit");
}

#[test]
fn a_store_that_fails_every_call_costs_a_database_read_not_an_error() {
    let rt = app_without_rate_limit();
    let api = Client::admin(&rt);
    let (pid, v1, v2) = two_versions(&api, "store-down");
    assert_eq!(api.served("promptSlug", "store-down"), v1);
    let kv = KvFaults::open(&rt);

    kv.break_store();
    let seen = api.resolve("promptSlug=store-down");
    assert_eq!(seen["cache"], "unavailable");
    assert_eq!(seen["version"]["id"], v1.as_str());
    let promotion = api.promote(&pid, &v2);
    assert!(promotion["warnings"].is_array(), "{promotion}");
    assert_eq!(api.served("promptSlug", "store-down"), v2);

    // Back up with the old entries in it: they are stale, not served.
    kv.repair_store();
    assert_eq!(api.served("promptId", &pid), v2);
    assert_eq!(api.resolve(&format!("promptId={pid}"))["cache"], "hit");

    // Evicted: a miss, the database answers, the entry comes back.
    kv.evict_all();
    assert_eq!(api.resolve("promptSlug=store-down")["cache"], "miss");
    assert_eq!(api.resolve("promptSlug=store-down")["cache"], "hit");
}

#[test]
fn expected_current_version_id_makes_promote_a_compare_and_swap() {
    let rt = app_without_rate_limit();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("cas"));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.4, &[], "v2")));
    let promote = |vid: &str, body: Value| {
        api.post(
            &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
            &body,
        )
    };

    // `null`: production must be empty.
    let res = promote(&v1, json!({"expectedCurrentVersionId": null}));
    assert_eq!(res.status, 200, "{}", res.body);
    let res = promote(&v2, json!({"expectedCurrentVersionId": null}));
    let envelope = res.assert_envelope(409, "PRECONDITION_FAILED");
    assert_eq!(envelope["details"]["currentVersionId"], v1.as_str());
    // The wrong id: refused, nothing changed or audited.
    let res = promote(&v2, json!({"expectedCurrentVersionId": v2}));
    res.assert_envelope(409, "PRECONDITION_FAILED");
    let detail = api.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(detail["productionVersionId"], v1.as_str());
    let audited = api.list_all(&format!(
        "/api/v1/audit?action=prompt.promote&promptId={pid}"
    ));
    assert_eq!(audited.len(), 1);
    // The right id: promoted.
    let res = promote(&v2, json!({"expectedCurrentVersionId": v1}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["versionId"], v2.as_str());
    // An unknown field or a wrong type is a 400, not a silent promote.
    promote(&v1, json!({"expectedVersion": v2})).assert_envelope(400, "VALIDATION_ERROR");
    promote(&v1, json!({"expectedCurrentVersionId": 7})).assert_envelope(400, "VALIDATION_ERROR");
    assert_eq!(api.served("promptId", &pid), v2);
}

#[test]
fn calls_refused_at_resolve_are_logged_against_their_prompt() {
    let rt = app_without_rate_limit();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("refusals"));
    // No production version yet.
    api.execute_echo("promptSlug", "refusals")
        .assert_envelope(409, "NO_VERSION_IN_ENVIRONMENT");
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    api.promote(&pid, &v1);
    let res = api.post(&format!("/api/v1/prompts/{pid}/archive"), &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    api.execute_echo("promptId", &pid)
        .assert_envelope(409, "PROMPT_ARCHIVED");

    let logs = api.list_all(&format!("/api/v1/execution-logs?promptId={pid}"));
    let mut codes: Vec<&str> = logs
        .iter()
        .map(|l| l["errorCode"].as_str().unwrap_or_default())
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, ["NO_VERSION_IN_ENVIRONMENT", "PROMPT_ARCHIVED"]);
    let report = api
        .get(&format!("/api/v1/prompts/{pid}/analytics?window=24h"))
        .json();
    assert_eq!(report["totals"]["calls"], 2, "{report}");
}

/// What production resolved to after a change: a version, or archived.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Version(String),
    Archived,
}

/// One gateway call, as its caller saw it.
struct Observation {
    sent: Instant,
    returned: Instant,
    state: State,
}

/// Promotes, archives and gateway calls run at once while the key-value
/// store is made to fail, refuse, evict and take stale writes at random.
/// Every call must be served by the state that was production when it was
/// sent, or by a later one: a change that returned before the call was
/// sent can never be missed.
#[test]
fn randomized_promotes_and_kv_faults_never_serve_a_superseded_state() {
    const VERSIONS: usize = 8;
    const CHANGES: usize = 80;
    const READERS: usize = 3;

    let rt = Arc::new(app_without_rate_limit());
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("raced"));
    let versions: Vec<String> = (0..VERSIONS)
        .map(|i| {
            id(&api.save_version(
                &pid,
                &version_body(&format!("v{i}"), 0.1, &[], &format!("v{i}")),
            ))
        })
        .collect();
    let t0 = Instant::now();
    api.promote(&pid, &versions[0]);
    let changes = Arc::new(Mutex::new(vec![Change {
        sent: t0,
        returned: Instant::now(),
        state: State::Version(versions[0].clone()),
    }]));
    let done = Arc::new(AtomicBool::new(false));
    let token = api.token.clone();

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (rt, token, pid, done) = (rt.clone(), token.clone(), pid.clone(), done.clone());
            std::thread::spawn(move || {
                let api = Client { rt: &rt, token };
                let mut seen = Vec::new();
                let mut n = 0;
                while !done.load(Ordering::SeqCst) {
                    n += 1;
                    let sent = Instant::now();
                    let (res, by_resolve) = if (n + r) % 3 == 0 {
                        (
                            api.get(&format!("/api/v1/gateway/resolve?promptId={pid}")),
                            true,
                        )
                    } else {
                        (api.execute_echo("promptSlug", "raced"), false)
                    };
                    let returned = Instant::now();
                    let state = match res.status {
                        200 if by_resolve => {
                            State::Version(res.json()["version"]["id"].as_str().unwrap().into())
                        }
                        200 => State::Version(res.json()["versionId"].as_str().unwrap().into()),
                        409 if res.body.contains("PROMPT_ARCHIVED") => State::Archived,
                        _ => panic!("unexpected answer {}: {}", res.status, res.body),
                    };
                    seen.push(Observation {
                        sent,
                        returned,
                        state,
                    });
                }
                seen
            })
        })
        .collect();

    let faults = {
        let (rt, done) = (rt.clone(), done.clone());
        std::thread::spawn(move || {
            let kv = KvFaults::open(&rt);
            let mut captured: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
            let mut rng = 0x9e37_79b9_u32;
            let mut injected = [0usize; 5];
            while !done.load(Ordering::SeqCst) {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                let fault = rng as usize % 5;
                match fault {
                    0 => kv.evict_all(),
                    1 => {
                        let Some(old) = captured.get(rng as usize % captured.len().max(1)) else {
                            continue;
                        };
                        kv.put(old);
                    }
                    2 => {
                        kv.refuse_writes();
                        std::thread::sleep(Duration::from_millis(15));
                        kv.allow_writes();
                    }
                    3 => {
                        kv.break_store();
                        std::thread::sleep(Duration::from_millis(15));
                        kv.repair_store();
                    }
                    _ => captured.push(kv.entries()),
                }
                injected[fault] += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            injected
        })
    };

    let mut rng = 0x2545_f491_u32;
    let mut current = 0;
    let mut warned = 0;
    let mut record = |sent: Instant, res: Reply, state: State| {
        let returned = Instant::now();
        assert_eq!(res.status, 200, "{}", res.body);
        if res.json().get("warnings").is_some() {
            warned += 1;
        }
        changes.lock().unwrap().push(Change {
            sent,
            returned,
            state,
        });
    };
    for _ in 0..CHANGES {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        if rng.is_multiple_of(10) {
            let sent = Instant::now();
            let res = api.post(&format!("/api/v1/prompts/{pid}/archive"), &json!({}));
            record(sent, res, State::Archived);
            let sent = Instant::now();
            let res = api.post(&format!("/api/v1/prompts/{pid}/unarchive"), &json!({}));
            record(sent, res, State::Version(versions[current].clone()));
        } else {
            // Never the version just replaced, so serving it is visible.
            current = (current + 1 + rng as usize % (VERSIONS - 1)) % VERSIONS;
            let vid = &versions[current];
            let sent = Instant::now();
            let res = api.call(
                "POST",
                &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
                None,
            );
            record(sent, res, State::Version(vid.clone()));
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    done.store(true, Ordering::SeqCst);
    let injected = faults.join().unwrap();
    let observations: Vec<Observation> = readers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    let changes = changes.lock().unwrap();
    let mut checked = 0;
    for call in &observations {
        assert_served_current(&changes, call.sent, call.returned, &call.state);
        checked += 1;
    }
    assert!(checked > 100, "only {checked} calls were checked");
    assert!(
        injected.iter().all(|&n| n > 0),
        "every fault kind was injected: {injected:?}"
    );
    assert!(warned > 0, "no promote saw a refused or failed store");
    // Once everything returned, the database and every answer agree.
    let last = changes.last().unwrap().state.clone();
    let State::Version(last) = last else {
        unreachable!("the writer always ends with a version in production")
    };
    assert_eq!(api.served("promptSlug", "raced"), last);
    assert_eq!(api.served("promptId", &pid), last);
}
