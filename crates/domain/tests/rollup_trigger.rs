//! The rollup triggers of `migrations/0004_rollups.sql` (hourly),
//! `0005_daily_rollups.sql` (daily, with its backfill) and
//! `0006_feedback_and_minutes.sql` (by minute, feedback and signals) against
//! their pure reference, `rollup::delta` (and `FeedbackMeasures::of_score`)
//! merged in Rust: the real migrations applied with rusqlite, random calls
//! inserted the way the gateway inserts them, the rollup rows read back the
//! way `store::rollups` reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prompthelm_domain::latency::{LatencySketch, bucket_index};
use prompthelm_domain::rollup::{
    Execution, FeedbackMeasures, MINUTE_MS, Measures, RollupRow, UNATTRIBUTED, delta,
};
use rusqlite::{Connection, params};

type Key = (String, String, i64, String);

const DAY_MS: i64 = 86_400_000;

/// Applies the migration files whose names sort within `range`.
fn migrate(db: &Connection, range: impl std::ops::RangeBounds<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .filter(|p| range.contains(&p.file_name().unwrap().to_string_lossy().into_owned()))
        .collect();
    files.sort();
    for file in files {
        db.execute_batch(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

fn migrated() -> Connection {
    let db = Connection::open_in_memory().unwrap();
    migrate(&db, ..);
    db
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Tables {
    Minute,
    Hour,
    Day,
}

/// Reads every rollup row (error rows merged in) by key, from the tables
/// of one granularity.
fn read_back(db: &Connection, tables: Tables) -> BTreeMap<Key, Measures> {
    let (measures, errors, start) = match tables {
        Tables::Day => (
            "execution_rollups_daily",
            "execution_rollup_errors_daily",
            "day_start",
        ),
        Tables::Hour => ("execution_rollups", "execution_rollup_errors", "hour_start"),
        Tables::Minute => (
            "execution_rollups_minute",
            "execution_rollup_errors_minute",
            "minute_start",
        ),
    };
    let mut rows: BTreeMap<Key, Measures> = BTreeMap::new();
    let mut stmt = db
        .prepare(&format!(
            "SELECT organization_id, prompt_key, {start}, version_key, calls, successes, \
             latency_sum_ms, cost_usd_sum, cost_unknown_calls, input_tokens, output_tokens, \
             cached_input_tokens, latency_sketch FROM {measures}"
        ))
        .unwrap();
    let mut q = stmt.query([]).unwrap();
    while let Some(r) = q.next().unwrap() {
        let count = |i| r.get::<_, i64>(i).map(|n| n as u64).unwrap();
        let key = (
            r.get(0).unwrap(),
            r.get(1).unwrap(),
            r.get(2).unwrap(),
            r.get(3).unwrap(),
        );
        let measures = Measures {
            calls: count(4),
            successes: count(5),
            latency_sum_ms: count(6),
            cost_usd: r.get(7).unwrap(),
            cost_unknown_calls: count(8),
            input_tokens: count(9),
            output_tokens: count(10),
            cached_input_tokens: count(11),
            latency: LatencySketch::decode(&r.get::<_, String>(12).unwrap()).unwrap(),
            error_codes: BTreeMap::new(),
            feedback: BTreeMap::new(),
        };
        assert!(rows.insert(key, measures).is_none());
    }
    let mut stmt = db
        .prepare(&format!(
            "SELECT organization_id, prompt_key, {start}, version_key, error_code, calls \
             FROM {errors}"
        ))
        .unwrap();
    let mut q = stmt.query([]).unwrap();
    while let Some(r) = q.next().unwrap() {
        let key: Key = (
            r.get(0).unwrap(),
            r.get(1).unwrap(),
            r.get(2).unwrap(),
            r.get(3).unwrap(),
        );
        let code: String = r.get(4).unwrap();
        let calls: i64 = r.get(5).unwrap();
        let row = rows.get_mut(&key).expect("an error row has its rollup row");
        row.error_codes.insert(code, calls as u64);
    }
    rows
}

/// Inserts one random call within `span_ms` after 2026-11-23T10:00Z;
/// returns its organization, its `delta` row and its time.
fn insert_random_call(
    db: &Connection,
    rng: &mut Lcg,
    i: usize,
    span_ms: i64,
) -> (String, RollupRow, i64) {
    let prompts = [None, Some("prm_a"), Some("prm_b")];
    let versions = [None, Some("ver_1"), Some("ver_2")];
    let codes = ["PROVIDER_TIMEOUT", "UPSTREAM_FAILURE", "RATE_LIMITED"];
    // Three UTC days around 2026-11-24T10:00Z.
    let base = 1_795_514_400_000_i64 - DAY_MS;
    let organization = if rng.next(4) == 0 { "org_b" } else { "org_a" };
    let prompt = prompts[rng.next(3) as usize];
    let version = prompt.and(versions[rng.next(3) as usize]);
    let success = rng.next(5) != 0;
    let error_code = (!success).then(|| codes[rng.next(3) as usize]);
    // Mostly realistic latencies, some negative (a clock step) and huge.
    let latency_ms = match rng.next(20) {
        0 => -(rng.next(50) as i64),
        1 => rng.next(10_000_000) as i64,
        _ => rng.next(5_000) as i64,
    };
    let call = Execution {
        prompt_id: prompt,
        version_id: version,
        created_at: base + rng.next(span_ms as u64) as i64,
        success,
        error_code,
        latency_ms,
        cost_usd: rng.next(1000) as f64 / 1e5,
        cost_known: rng.next(10) != 0,
        input_tokens: rng.next(2000),
        output_tokens: rng.next(500),
        cached_input_tokens: rng.next(100),
    };
    db.execute(
        "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, version_id, \
         stream, status, error_code, http_status, latency_ms, input_tokens, output_tokens, \
         cached_input_tokens, cost_usd, cost_known, request_id, created_at, latency_bucket) \
         VALUES (?, ?, 'tok', ?, ?, 0, ?, ?, 200, ?, ?, ?, ?, ?, ?, 'req', ?, ?)",
        params![
            format!("exe_{i}"),
            organization,
            call.prompt_id,
            call.version_id,
            if success { "success" } else { "error" },
            call.error_code,
            call.latency_ms,
            call.input_tokens as i64,
            call.output_tokens as i64,
            call.cached_input_tokens as i64,
            call.cost_usd,
            call.cost_known,
            call.created_at,
            // What the gateway binds (store::executions::insert).
            bucket_index(u64::try_from(call.latency_ms).unwrap_or(0)),
        ],
    )
    .unwrap();
    (organization.to_owned(), delta(&call), call.created_at)
}

fn assert_same(mut got: BTreeMap<Key, Measures>, mut expected: BTreeMap<Key, Measures>) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(got.keys().any(|k| k.1 == UNATTRIBUTED) && got.keys().any(|k| k.3 == UNATTRIBUTED));
    for (key, want) in &mut expected {
        let have = got.get_mut(key).unwrap();
        // Sums of floats in another order may differ in the last bits.
        assert!((have.cost_usd - want.cost_usd).abs() < 1e-9, "{key:?}");
        have.cost_usd = 0.0;
        want.cost_usd = 0.0;
        assert_eq!(have, want, "{key:?}");
    }
}

#[test]
fn the_triggers_add_up_exactly_what_delta_says_by_hour_and_by_day() {
    // Half the calls before 0005, so its backfill of the daily tables from
    // the hourly ones is checked too, then half with both triggers.
    let db = Connection::open_in_memory().unwrap();
    migrate(&db, .."0005".to_owned());
    let mut rng = Lcg(2026);
    let mut hourly: BTreeMap<Key, Measures> = BTreeMap::new();
    let mut daily: BTreeMap<Key, Measures> = BTreeMap::new();
    for i in 0..6000 {
        if i == 3000 {
            migrate(&db, "0005".to_owned()..);
        }
        let (organization, row, _) = insert_random_call(&db, &mut rng, i, 3 * DAY_MS);
        let key = |start| {
            (
                organization.clone(),
                row.prompt_key.clone(),
                start,
                row.version_key.clone(),
            )
        };
        hourly
            .entry(key(row.start))
            .or_default()
            .merge(&row.measures);
        daily
            .entry(key(row.start.div_euclid(DAY_MS) * DAY_MS))
            .or_default()
            .merge(&row.measures);
    }
    // Three days from 10:00Z touch four UTC days.
    assert_eq!(daily.keys().map(|k| k.2).collect::<BTreeSet<_>>().len(), 4);
    assert_same(read_back(&db, Tables::Hour), hourly);
    assert_same(read_back(&db, Tables::Day), daily);

    // The purge deletes logs only: the rollups keep counting every call.
    db.execute("DELETE FROM execution_logs", []).unwrap();
    for tables in [Tables::Hour, Tables::Day] {
        let after: u64 = read_back(&db, tables).values().map(|m| m.calls).sum();
        assert_eq!(after, 6000);
    }
    // Logs are never edited.
    db.execute(
        "INSERT INTO execution_logs (id, organization_id, actor, stream, status, \
         http_status, latency_ms, cost_known, request_id, created_at) \
         VALUES ('exe_x', 'org_a', 'tok', 0, 'success', 200, 1, 1, 'req', 0)",
        [],
    )
    .unwrap();
    let refused = db.execute("UPDATE execution_logs SET latency_ms = 2", []);
    assert!(refused.unwrap_err().to_string().contains("immutable"));
}

#[test]
fn the_schema_refuses_bucket_indexes_the_trigger_could_not_use() {
    let db = migrated();
    let insert = |bucket: &str| {
        db.execute(
            &format!(
                "INSERT INTO execution_logs (id, organization_id, actor, stream, status, \
                 http_status, latency_ms, cost_known, request_id, created_at, latency_bucket) \
                 VALUES (hex(randomblob(8)), 'org', 'tok', 0, 'success', 200, 1, 1, 'req', 0, {bucket})"
            ),
            [],
        )
    };
    // ('7' would be stored as the integer 7 by the column's INTEGER
    // affinity before the CHECK runs: harmless.)
    for bad in ["-1", "2052", "1.5", "'\"}'"] {
        assert!(insert(bad).is_err(), "{bad} was accepted");
    }
    insert("NULL").unwrap();
    insert("7").unwrap();
    let sketch: String = db
        .query_row("SELECT latency_sketch FROM execution_rollups", [], |r| {
            r.get(0)
        })
        .unwrap();
    let sketch = LatencySketch::decode(&sketch).unwrap();
    // The NULL-bucket call counts as a call without a latency.
    assert_eq!(sketch.count(), 1);
    let calls: i64 = db
        .query_row("SELECT calls FROM execution_rollups", [], |r| r.get(0))
        .unwrap();
    assert_eq!(calls, 2);
}

#[test]
fn the_minute_trigger_adds_up_what_delta_says_by_minute() {
    let db = migrated();
    let mut rng = Lcg(17);
    let mut minutely: BTreeMap<Key, Measures> = BTreeMap::new();
    // 3000 calls in 40 minutes (several per minute), all within the 48
    // hours minute rows are kept.
    for i in 0..3000 {
        let (organization, row, at) = insert_random_call(&db, &mut rng, i, 40 * MINUTE_MS);
        minutely
            .entry((
                organization,
                row.prompt_key.clone(),
                at.div_euclid(MINUTE_MS) * MINUTE_MS,
                row.version_key.clone(),
            ))
            .or_default()
            .merge(&row.measures);
    }
    assert!(minutely.len() > 200);
    assert_same(read_back(&db, Tables::Minute), minutely);
}

fn log_at(db: &Connection, id: &str, prompt: &str, at: i64) {
    db.execute(
        "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, version_id, stream, \
         status, error_code, http_status, latency_ms, cost_known, request_id, created_at, \
         latency_bucket) VALUES (?, 'org_a', 'tok', ?, 'ver_1', 0, 'error', 'X', 502, 5, 1, \
         'req', ?, 5)",
        params![id, prompt, at],
    )
    .unwrap();
}

fn minutes(db: &Connection, table: &str) -> Vec<(String, i64)> {
    let mut stmt = db
        .prepare(&format!(
            "SELECT prompt_key, minute_start FROM {table} ORDER BY prompt_key, minute_start"
        ))
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_new_minute_deletes_its_prompts_minutes_older_than_48_hours() {
    let db = migrated();
    let t0 = 1_795_514_400_000_i64;
    let hour = 60 * MINUTE_MS;
    log_at(&db, "e1", "prm_a", t0);
    log_at(&db, "e2", "prm_b", t0);
    log_at(&db, "e3", "prm_a", t0 + 47 * hour);
    // A second call in an existing minute prunes nothing.
    log_at(&db, "e4", "prm_a", t0 + 47 * hour + 1);
    let kept = vec![
        ("prm_a".to_owned(), t0),
        ("prm_a".to_owned(), t0 + 47 * hour),
        ("prm_b".to_owned(), t0),
    ];
    assert_eq!(minutes(&db, "execution_rollups_minute"), kept);
    assert_eq!(minutes(&db, "execution_rollup_errors_minute"), kept);
    // 48 hours and a minute later: prm_a's first minute goes, prm_b's
    // stays (only a call of its own prompt prunes it); hours and days stay.
    log_at(&db, "e5", "prm_a", t0 + 48 * hour + MINUTE_MS);
    let kept = vec![
        ("prm_a".to_owned(), t0 + 47 * hour),
        ("prm_a".to_owned(), t0 + 48 * hour + MINUTE_MS),
        ("prm_b".to_owned(), t0),
    ];
    assert_eq!(minutes(&db, "execution_rollups_minute"), kept);
    assert_eq!(minutes(&db, "execution_rollup_errors_minute"), kept);
    let hours: i64 = db
        .query_row("SELECT sum(calls) FROM execution_rollups", [], |r| r.get(0))
        .unwrap();
    assert_eq!(hours, 5);
}

/// Feedback rollups equal the final feedback rows' scores merged, per
/// granularity, after random scores and replacements.
#[test]
fn feedback_rollups_follow_every_score_and_replacement() {
    let db = migrated();
    let mut rng = Lcg(99);
    let t0 = 1_795_514_400_000_i64;
    let calls: Vec<(String, i64)> = (0..40)
        .map(|i| {
            let at = t0 + rng.next(3 * DAY_MS as u64) as i64;
            log_at(&db, &format!("exe_{i}"), ["prm_a", "prm_b"][i % 2], at);
            (format!("exe_{i}"), at)
        })
        .collect();
    for n in 0..600 {
        let (execution, at) = &calls[rng.next(calls.len() as u64) as usize];
        let name = ["thumbs", "csat"][rng.next(2) as usize];
        let source = ["user", "agent"][rng.next(2) as usize];
        let score = rng.next(5) as f64 - 2.0;
        // What store::feedback does: insert, or replace the score.
        let replaced = db
            .execute(
                "UPDATE execution_feedback SET score = ?, updated_at = ? \
                 WHERE organization_id = 'org_a' AND execution_id = ? AND name = ? AND source = ?",
                params![score, n, execution, name, source],
            )
            .unwrap();
        if replaced == 0 {
            db.execute(
                "INSERT INTO execution_feedback (id, organization_id, execution_id, prompt_key, \
                 version_key, call_at, name, source, score, actor, request_id, created_at, \
                 updated_at) SELECT ?, organization_id, id, prompt_id, version_id, created_at, \
                 ?, ?, ?, 'tok', 'req', ?, ? FROM execution_logs WHERE id = ?",
                params![format!("fbk_{n}"), name, source, score, n, n, execution],
            )
            .unwrap();
        }
        assert!(*at >= t0);
    }
    for bucket_ms in [MINUTE_MS, 60 * MINUTE_MS, DAY_MS] {
        let mut want: BTreeMap<(String, i64, String), FeedbackMeasures> = BTreeMap::new();
        let mut stmt = db
            .prepare("SELECT prompt_key, call_at, name, score FROM execution_feedback")
            .unwrap();
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let at: i64 = r.get(1).unwrap();
            want.entry((
                r.get(0).unwrap(),
                at.div_euclid(bucket_ms) * bucket_ms,
                r.get(2).unwrap(),
            ))
            .or_default()
            .merge(&FeedbackMeasures::of_score(r.get(3).unwrap()));
        }
        let mut stmt = db
            .prepare(
                "SELECT prompt_key, bucket_start, name, count, negative, score_sum \
                 FROM feedback_rollups WHERE bucket_ms = ? AND version_key = 'ver_1'",
            )
            .unwrap();
        let got: BTreeMap<(String, i64, String), FeedbackMeasures> = stmt
            .query_map([bucket_ms], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    FeedbackMeasures {
                        count: r.get::<_, i64>(3)? as u64,
                        negative: r.get::<_, i64>(4)? as u64,
                        score_sum: r.get(5)?,
                    },
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Scores are whole numbers: sums are exact.
        assert_eq!(got, want, "bucket_ms {bucket_ms}");
        assert!(got.values().any(|f| f.negative > 0 && f.count > f.negative));
    }
    // Replacing a score moves its buckets; the key never changes, and
    // nothing is deleted.
    for refused in [
        "UPDATE execution_feedback SET name = 'other'",
        "UPDATE execution_feedback SET call_at = 0",
        "DELETE FROM execution_feedback",
    ] {
        assert!(db.execute(refused, []).is_err(), "{refused}");
    }
}
