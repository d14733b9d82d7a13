//! kill -9 of `prompthelm up` under a mixed write load (version saves,
//! promotes, gateway calls), then a restart on the same state, several
//! rounds: every write that got a 2xx is in the database, the production
//! pointer and the newest `prompt.promote` audit entry name the same
//! version, and every way of asking what production serves (resolve by id
//! and by slug, execute) answers that version, whatever the cache held when
//! the process died (issue 13 §1 "Observed", §5).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::api::{Client, id, version_body};
use crate::harness::{Options, Runtime, app_manifest, try_send};

const ROUNDS: usize = 4;
const WORKERS: usize = 8;
const VERSIONS: usize = 6;

/// What the server acknowledged with a 2xx before it died.
#[derive(Default)]
struct Acknowledged {
    versions: Vec<String>,
    promote_entries: Vec<String>,
    executions: Vec<String>,
}

fn xorshift(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

#[test]
fn kill_9_during_mixed_writes_loses_no_acknowledged_write_and_serves_the_committed_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let start = || {
        Runtime::probe(
            Options::new(app_manifest())
                .state_dir(&state)
                .env("SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE", "0"),
        )
    };

    let mut rt = start();
    let token = rt.admin_token();
    let (pid, versions) = {
        let api = Client::admin(&rt);
        let pid = id(&api.create_prompt("crashy"));
        let versions: Vec<String> = (0..VERSIONS)
            .map(|i| id(&api.save_version(&pid, &version_body(&format!("v{i}"), 0.1, &[], "v"))))
            .collect();
        api.promote(&pid, &versions[0]);
        (pid, versions)
    };
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut rng = 0x1234_5678_u32;

    for round in 0..ROUNDS {
        let shared = Arc::new(rt);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (rt, stop, acked) = (shared.clone(), stop.clone(), acked.clone());
                let (token, pid, versions) = (token.clone(), pid.clone(), versions.clone());
                std::thread::spawn(move || {
                    let auth = format!("Bearer {token}");
                    let headers = [
                        ("Authorization", auth.as_str()),
                        ("Content-Type", "application/json"),
                    ];
                    let mut rng = 0x9e37_79b9_u32 ^ ((round * WORKERS + w) as u32 + 1);
                    while !stop.load(Ordering::SeqCst) {
                        let pick = xorshift(&mut rng);
                        let (path, body) = match pick % 3 {
                            0 => {
                                let vid = &versions[pick as usize / 3 % versions.len()];
                                (
                                    format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
                                    None,
                                )
                            }
                            1 => (
                                format!("/api/v1/prompts/{pid}/versions"),
                                Some(version_body("saved", 0.3, &[], "crash load").to_string()),
                            ),
                            _ => (
                                "/api/v1/gateway/execute".to_owned(),
                                Some(
                                    json!({"promptId": pid, "model": "echo",
                                           "variables": {"question": "q"}})
                                    .to_string(),
                                ),
                            ),
                        };
                        let Ok(res) = try_send("POST", &rt.url(&path), &headers, body.as_deref())
                        else {
                            // The server died under this request: not acknowledged.
                            continue;
                        };
                        assert!(
                            res.status < 300,
                            "{path} answered {}: {}",
                            res.status,
                            res.body
                        );
                        let answer = res.json();
                        let mut acked = acked.lock().unwrap();
                        match pick % 3 {
                            0 => acked
                                .promote_entries
                                .extend(answer["auditEntryId"].as_str().map(str::to_owned)),
                            1 => acked.versions.push(id(&answer)),
                            _ => acked.executions.push(id(&answer)),
                        }
                    }
                })
            })
            .collect();

        std::thread::sleep(Duration::from_millis(
            1000 + u64::from(xorshift(&mut rng) % 2000),
        ));
        shared.kill_now();
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            worker.join().unwrap();
        }
        drop(shared);

        // The database file, read directly: every acknowledged write is in it.
        {
            let db = rusqlite::Connection::open(state.join("sqlite_db.db")).unwrap();
            let has = |sql: &str, id: &str| -> bool { db.query_row(sql, [id], |_| Ok(())).is_ok() };
            let acked = acked.lock().unwrap();
            for vid in &acked.versions {
                assert!(
                    has("SELECT 1 FROM prompt_versions WHERE id = ?", vid),
                    "round {round}: acknowledged version {vid} is lost"
                );
            }
            for entry in &acked.promote_entries {
                assert!(
                    has("SELECT 1 FROM audit_log WHERE id = ?", entry),
                    "round {round}: acknowledged promote {entry} is lost"
                );
            }
            for exe in &acked.executions {
                assert!(
                    has("SELECT 1 FROM execution_logs WHERE id = ?", exe),
                    "round {round}: acknowledged call {exe} is lost"
                );
            }
            assert!(
                !acked.promote_entries.is_empty() && !acked.executions.is_empty(),
                "round {round}: the load acknowledged nothing"
            );
        }

        // Restarted on the same state: pointer, audit and every read agree.
        rt = start();
        let api = Client {
            rt: &rt,
            token: token.clone(),
        };
        let prompt = api.get(&format!("/api/v1/prompts/{pid}")).json();
        let pointer = prompt["productionVersionId"].as_str().unwrap().to_owned();
        let newest = api
            .get(&format!(
                "/api/v1/audit?action=prompt.promote&promptId={pid}&limit=1"
            ))
            .json();
        assert_eq!(
            newest["data"][0]["versionId"], pointer,
            "round {round}: the newest promote entry and the pointer disagree"
        );
        for query in [format!("promptId={pid}"), "promptSlug=crashy".to_owned()] {
            let res = api.get(&format!("/api/v1/gateway/resolve?{query}"));
            assert_eq!(res.status, 200, "{}", res.body);
            assert_eq!(
                res.json()["version"]["id"],
                pointer,
                "round {round}: resolve {query} disagrees with the pointer"
            );
        }
        let res = api.post(
            "/api/v1/gateway/execute",
            &json!({"promptSlug": "crashy", "model": "echo", "variables": {"question": "q"}}),
        );
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(
            res.json()["versionId"],
            pointer,
            "round {round}: execute disagrees with the pointer"
        );
    }
}
