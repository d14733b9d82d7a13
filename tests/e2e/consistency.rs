//! The production pointer and its key-value cache under concurrency and
//! loss: concurrent promotes audit every real change exactly once and end
//! with the cache equal to the database; a wiped or corrupted cache is
//! refilled from the database on the next resolve.

use std::sync::Arc;

use serde_json::Value;

use crate::api::{Client, id, version_body};
use crate::harness::Runtime;

/// The prompt's production pointer and generation in the database.
fn database_pointer(rt: &Runtime, pid: &str) -> (String, i64) {
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    db.query_row(
        "SELECT production_version_id, generation FROM prompts WHERE id = ?",
        [pid],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The cache entries of the prompt (by id and by slug), parsed.
fn cache_entries(rt: &Runtime, pid: &str, slug: &str) -> Vec<Value> {
    let kv = rusqlite::Connection::open(rt.state_dir.join("sqlite_key_value.db")).unwrap();
    [
        format!("production:org_default:id:{pid}"),
        format!("production:org_default:slug:{slug}"),
    ]
    .iter()
    .map(|key| {
        let bytes: Vec<u8> = kv
            .query_row(
                "SELECT value FROM spin_key_value WHERE key = ?",
                [key],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no cache entry {key}: {e}"));
        serde_json::from_slice(&bytes).unwrap()
    })
    .collect()
}

#[test]
fn fifty_concurrent_promotes_audit_each_change_once_and_leave_cache_equal_to_database() {
    let rt = Arc::new(Runtime::app());
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("contended"));
    let versions: Vec<String> = (0..5)
        .map(|i| {
            id(&api.save_version(
                &pid,
                &version_body(&format!("v{i}"), 0.1 * f64::from(i), &[], "x"),
            ))
        })
        .collect();
    let token = api.token.clone();

    // A fixed pseudo-random sequence of targets (xorshift), 50 at once.
    let mut state = 0x2545_f491_u32;
    let targets: Vec<String> = (0..50)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            versions[state as usize % versions.len()].clone()
        })
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(targets.len()));
    let handles: Vec<_> = targets
        .into_iter()
        .map(|vid| {
            let (rt, pid, token, barrier) =
                (rt.clone(), pid.clone(), token.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let res = rt.request(
                    "POST",
                    &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
                    &[("Authorization", &format!("Bearer {token}"))],
                    None,
                );
                assert_eq!(res.status, 200, "{}", res.body);
                res.json()
            })
        })
        .collect();
    let results: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let changes: Vec<&Value> = results.iter().filter(|r| r["changed"] == true).collect();
    let entries = api.list_all(&format!(
        "/api/v1/audit?action=prompt.promote&promptId={pid}"
    ));
    assert_eq!(
        entries.len(),
        changes.len(),
        "one audit entry per real change"
    );
    let mut audited: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut reported: Vec<&str> = changes
        .iter()
        .map(|r| r["auditEntryId"].as_str().unwrap())
        .collect();
    audited.sort_unstable();
    reported.sort_unstable();
    assert_eq!(audited, reported);
    // The entries form one chain: each starts where the one before ended.
    for pair in entries.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert_eq!(
            newer["details"]["previousVersionId"],
            older["details"]["versionId"]
        );
    }
    // No-ops were really no-ops: the version was production already.
    assert!(
        results
            .iter()
            .filter(|r| r["changed"] == false)
            .all(|r| r["previousVersionId"] == r["versionId"])
    );

    let (pointer, generation) = database_pointer(&rt, &pid);
    assert_eq!(entries[0]["versionId"], pointer.as_str());
    assert_eq!(generation as usize, changes.len());
    for entry in cache_entries(&rt, &pid, "contended") {
        assert_eq!(entry["version"]["id"], pointer.as_str(), "{entry}");
        assert_eq!(entry["generation"], generation, "{entry}");
    }
    let resolved = api
        .get(&format!("/api/v1/gateway/resolve?promptId={pid}"))
        .json();
    assert_eq!(resolved["cache"], "hit");
    assert_eq!(resolved["version"]["id"], pointer.as_str());
}

#[test]
fn a_wiped_or_corrupted_cache_falls_back_to_the_database_and_refills() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("cached"));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.3, &[], "v2")));
    api.promote(&pid, &v1);
    api.promote(&pid, &v2);
    let resolve = |by: &str| api.get(&format!("/api/v1/gateway/resolve?{by}")).json();

    let kv = rusqlite::Connection::open(rt.state_dir.join("sqlite_key_value.db")).unwrap();
    let wiped = kv.execute("DELETE FROM spin_key_value", []).unwrap();
    assert!(wiped >= 2);
    let miss = resolve("promptSlug=cached");
    assert_eq!(miss["cache"], "miss");
    assert_eq!(miss["version"]["id"], v2.as_str());
    assert_eq!(miss["version"]["system"], "two");
    // Refilled under both keys.
    assert_eq!(cache_entries(&rt, &pid, "cached").len(), 2);
    assert_eq!(resolve(&format!("promptId={pid}"))["cache"], "hit");

    kv.execute(
        "UPDATE spin_key_value SET value = x'00ff' WHERE key LIKE 'production:%'",
        [],
    )
    .unwrap();
    let after_garbage = resolve(&format!("promptId={pid}"));
    assert_eq!(after_garbage["cache"], "miss");
    assert_eq!(after_garbage["version"]["id"], v2.as_str());

    // A rollback right after: the next resolve sees it, from the cache.
    api.promote(&pid, &v1);
    let after = resolve("promptSlug=cached");
    assert_eq!(after["cache"], "hit");
    assert_eq!(after["version"]["id"], v1.as_str());
}
