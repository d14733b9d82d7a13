//! Reading the state's SQLite file back once the host has stopped: the
//! data's size, and the counts each answer must agree with. A disagreement
//! is a problem in the report (and a failed run), never a panic.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use prompthelm_domain::analytics::Report;
use prompthelm_domain::latency::{LatencySketch, RELATIVE_ACCURACY, nearest_rank};
use prompthelm_domain::rollup::{
    Granularity, Measures, RollupRow, RollupTables, Window, summarize,
};
use prompthelm_domain::time::parse_timestamp;
use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;

use crate::api::Setup;
use crate::generate::Generated;
use crate::queries::{LOGS_LIMIT, Measured, Query, SLOW_ERRORS};

/// The database and its rollups after generation.
#[derive(Debug, Clone, Copy)]
pub struct DbStats {
    pub file_bytes: u64,
    pub logged_calls: u64,
    /// `SUM(calls)` over the rollups: every logged call, when the trigger
    /// did its job.
    pub rolled_up_calls: u64,
    pub rollup_rows: u64,
    pub rollup_error_rows: u64,
}

/// Read-only, so closing it never checkpoints or otherwise writes.
pub fn open(db_path: &Path) -> anyhow::Result<Connection> {
    Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {} read-only", db_path.display()))
}

/// Whole-table figures: the state holds the bench's organization only.
pub fn stats(conn: &Connection, db_path: &Path) -> anyhow::Result<DbStats> {
    let count = |sql: &str| -> anyhow::Result<u64> {
        let n: i64 = conn
            .query_row(sql, [], |r| r.get(0))
            .with_context(|| sql.to_owned())?;
        Ok(n as u64)
    };
    // The generator checkpointed, and the host wrote no logs since, so the
    // WAL (if any) is small; it is still part of the data's size.
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = db_path.with_extension("db-wal");
    Ok(DbStats {
        file_bytes: size(db_path) + size(&wal),
        logged_calls: count("SELECT count(*) FROM execution_logs")?,
        rolled_up_calls: count("SELECT coalesce(sum(calls), 0) FROM execution_rollups")?,
        rollup_rows: count("SELECT count(*) FROM execution_rollups")?,
        rollup_error_rows: count("SELECT count(*) FROM execution_rollup_errors")?,
    })
}

/// What each query read or returned (a line for the report), and the
/// problems found: answers that disagree with the database.
pub fn answers(
    conn: &Connection,
    setup: &Setup,
    generated: &Generated,
    stats: &DbStats,
    measured: &[Measured],
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut problems = Vec::new();
    if stats.logged_calls != generated.calls || stats.rolled_up_calls != generated.calls {
        problems.push(format!(
            "{} calls generated, but execution_logs holds {} and the rollups count {}",
            generated.calls, stats.logged_calls, stats.rolled_up_calls
        ));
    }
    let mut details = Vec::new();
    for m in measured {
        let Some(answer) = &m.answer else {
            details.push(
                if m.capped {
                    "not run (time cap)"
                } else {
                    "no answer"
                }
                .to_owned(),
            );
            continue;
        };
        let label = m.query.label();
        let detail = match m.query {
            Query::Analytics { window, .. } => {
                check_analytics(conn, setup, window, answer, &label, &mut problems)?
            }
            Query::Logs { filter } => {
                check_logs(conn, setup, filter, answer, &label, &mut problems)?
            }
        };
        details.push(detail);
    }
    Ok((details, problems))
}

fn check_analytics(
    conn: &Connection,
    setup: &Setup,
    window: &str,
    answer: &Value,
    label: &str,
    problems: &mut Vec<String>,
) -> anyhow::Result<String> {
    let time = |key: &str| -> anyhow::Result<i64> {
        let text = answer["window"][key]
            .as_str()
            .with_context(|| format!("{label}: no window.{key}"))?;
        parse_timestamp(text).map_err(|e| anyhow::anyhow!("{label}: window.{key}: {e}"))
    };
    let (from, to) = (time("from")?, time("to")?);
    let granularity = match answer["window"]["bucket"].as_str() {
        Some("hour") => Granularity::Hour,
        Some("day") => Granularity::Day,
        other => anyhow::bail!("{label}: window.bucket is {other:?}"),
    };
    let (calls, errors): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(status = 'error'), 0) FROM execution_logs \
         WHERE organization_id = ? AND prompt_id = ? AND created_at >= ? AND created_at < ?",
        params![setup.organization_id, setup.prompt_id, from, to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let window_params = params![setup.organization_id, setup.prompt_id, from, to];
    let RollupTables {
        measures: measures_table,
        errors: errors_table,
        start,
    } = granularity.tables();
    let rollup_rows: i64 = conn.query_row(
        &format!(
            "SELECT (SELECT count(*) FROM {measures_table} WHERE organization_id = ?1 \
               AND prompt_key = ?2 AND {start} >= ?3 AND {start} < ?4) \
             + (SELECT count(*) FROM {errors_table} WHERE organization_id = ?1 \
               AND prompt_key = ?2 AND {start} >= ?3 AND {start} < ?4)"
        ),
        window_params,
        |r| r.get(0),
    )?;
    // The sketches' size is what grows with the calls (busier hours fill
    // more latency buckets), while the rows stay hours × versions.
    let sketch_entries: i64 = conn.query_row(
        &format!(
            "SELECT coalesce(sum((SELECT count(*) FROM json_each(latency_sketch, '$.b'))), 0) \
             FROM {measures_table} WHERE organization_id = ?1 AND prompt_key = ?2 \
               AND {start} >= ?3 AND {start} < ?4"
        ),
        window_params,
        |r| r.get(0),
    )?;
    // The answer's own window: whole buckets, so `custom` keeps it as is.
    let domain_window = Window::custom(from, to, granularity)
        .map_err(|e| anyhow::anyhow!("{label}: the answer's window: {e}"))?;
    let (select_ms, native_ms) = native_ms(conn, setup, &domain_window, window)?;

    let totals = &answer["totals"];
    let mut expect = |what: &str, got: Option<i64>, wanted: i64| {
        if got != Some(wanted) {
            problems.push(format!(
                "{label}: {what} is {}, expected {wanted}",
                got.map_or("missing".to_owned(), |g| g.to_string())
            ));
        }
    };
    expect("totals.calls", totals["calls"].as_i64(), calls);
    expect("totals.errors", totals["errors"].as_i64(), errors);
    let buckets = answer["buckets"].as_array().map_or(&[][..], Vec::as_slice);
    expect(
        "the number of buckets",
        Some(buckets.len() as i64),
        (to - from) / granularity.millis(),
    );
    expect(
        "the sum of the buckets' calls",
        buckets.iter().map(|b| b["calls"].as_i64()).sum(),
        calls,
    );
    // Every promotion happened minutes ago, inside every window; the last
    // one was the rollback.
    let promotions = answer["promotions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    expect(
        "the number of promotions",
        Some(promotions.len() as i64),
        setup.promotions as i64,
    );
    expect(
        "the number of reverts among the promotions",
        Some(promotions.iter().filter(|p| p["revert"] == true).count() as i64),
        1,
    );
    if window == "30d" && calls == 0 {
        problems.push(format!("{label}: no calls in the window"));
    }
    if window == "30d" && granularity == Granularity::Day && calls > 0 {
        // The sketch's promise, end to end through the trigger's JSON: each
        // percentile within RELATIVE_ACCURACY of the exact nearest-rank one.
        for (q, key) in [
            (0.5, "p50LatencyMs"),
            (0.95, "p95LatencyMs"),
            (0.99, "p99LatencyMs"),
        ] {
            let rank = nearest_rank(q, calls as u64).expect("calls > 0") as i64;
            let exact: i64 = conn.query_row(
                "SELECT latency_ms FROM execution_logs WHERE organization_id = ? \
                 AND prompt_id = ? AND created_at >= ? AND created_at < ? \
                 ORDER BY latency_ms LIMIT 1 OFFSET ?",
                params![setup.organization_id, setup.prompt_id, from, to, rank - 1],
                |r| r.get(0),
            )?;
            let got = totals[key].as_f64();
            let exact = exact as f64;
            if got.is_none_or(|got| (got - exact).abs() > RELATIVE_ACCURACY * exact + 1e-9) {
                problems.push(format!(
                    "{label}: totals.{key} is {got:?}, the exact one is {exact} (allowed: ±{}%)",
                    RELATIVE_ACCURACY * 100.0
                ));
            }
        }
    }
    Ok(format!(
        "{rollup_rows} rollup rows ({sketch_entries} sketch entries) → {} buckets, \
         {calls} calls; natively {select_ms:.1} ms SELECT, {native_ms:.1} ms in all",
        buckets.len()
    ))
}

/// The analytics component's work on the same file, natively: its two
/// rollup SELECTs (`store::rollups::read` without a version filter), then
/// the same rows decoded, summarized and serialized as the component does
/// (`rollup::summarize`, `analytics::Report`). Medians of 5 runs, ms: the
/// SELECTs alone, and everything. What is left of the HTTP time is the
/// host, wasm and the other statements.
fn native_ms(
    conn: &Connection,
    setup: &Setup,
    window: &Window,
    kind: &str,
) -> anyhow::Result<(f64, f64)> {
    let RollupTables {
        measures: measures_table,
        errors: errors_table,
        start,
    } = window.granularity().tables();
    let scope_sql =
        format!("WHERE organization_id = ? AND prompt_key = ? AND {start} >= ? AND {start} < ?");
    let measures_sql = format!(
        "SELECT version_key, {start}, calls, successes, latency_sum_ms, cost_usd_sum, \
         cost_unknown_calls, input_tokens, output_tokens, cached_input_tokens, \
         latency_sketch FROM {measures_table} {scope_sql}"
    );
    let errors_sql =
        format!("SELECT version_key, {start}, error_code, calls FROM {errors_table} {scope_sql}");
    let scope = params![
        setup.organization_id,
        setup.prompt_id,
        window.start(),
        window.end()
    ];
    let (mut select_runs, mut all_runs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        let mut measures = conn.prepare(&measures_sql)?;
        let measures: Vec<_> = measures
            .query_map(scope, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    [r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?],
                    r.get::<_, f64>(5)?,
                    [r.get::<_, i64>(6)?, r.get(7)?, r.get(8)?, r.get(9)?],
                    r.get::<_, String>(10)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut errors = conn.prepare(&errors_sql)?;
        let errors: Vec<_> = errors
            .query_map(scope, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        select_runs.push(started.elapsed().as_secs_f64() * 1000.0);

        // As `store::rollups::measures_row` and `error_rows` build them.
        let mut rows = Vec::with_capacity(measures.len() + errors.len());
        for (version_key, start, [calls, successes, latency], cost, counts, sketch) in measures {
            let [unknown, input, output, cached] = counts.map(|n| n as u64);
            rows.push(RollupRow {
                prompt_key: setup.prompt_id.clone(),
                version_key,
                start,
                measures: Measures {
                    calls: calls as u64,
                    successes: successes as u64,
                    latency_sum_ms: latency as u64,
                    cost_usd: cost,
                    cost_unknown_calls: unknown,
                    input_tokens: input,
                    output_tokens: output,
                    cached_input_tokens: cached,
                    latency: LatencySketch::decode(&sketch)
                        .map_err(|e| anyhow::anyhow!("a sketch does not decode: {}", e.0))?,
                    error_codes: BTreeMap::new(),
                    // The generated history has no feedback.
                    feedback: BTreeMap::new(),
                },
            });
        }
        for (version_key, start, code, calls) in errors {
            rows.push(RollupRow {
                prompt_key: setup.prompt_id.clone(),
                version_key,
                start,
                measures: Measures {
                    error_codes: BTreeMap::from([(code, calls as u64)]),
                    ..Measures::default()
                },
            });
        }
        let report = Report::new(
            &setup.prompt_id,
            None,
            kind.to_owned(),
            window,
            summarize(window, &rows),
            &HashMap::new(),
            Vec::new(),
            // Nor signals.
            Vec::new(),
        );
        std::hint::black_box(serde_json::to_string(&report)?);
        all_runs.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(select_runs), median(all_runs)))
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn check_logs(
    conn: &Connection,
    setup: &Setup,
    filter: Option<&str>,
    answer: &Value,
    label: &str,
    problems: &mut Vec<String>,
) -> anyhow::Result<String> {
    // The same rows in SQL: the filter measured is `SLOW_ERRORS`.
    let extra = match filter {
        None => "",
        Some(SLOW_ERRORS) => " AND status = 'error' AND latency_ms > 2000",
        Some(other) => anyhow::bail!("no SQL for the filter {other:?}"),
    };
    let scope = format!("FROM execution_logs WHERE organization_id = ? AND prompt_id = ?{extra}");
    let matching: i64 = conn.query_row(
        &format!("SELECT count(*) {scope}"),
        params![setup.organization_id, setup.prompt_id],
        |r| r.get(0),
    )?;
    let newest: Option<String> = conn
        .query_row(
            &format!("SELECT id {scope} ORDER BY seq DESC LIMIT 1"),
            params![setup.organization_id, setup.prompt_id],
            |r| r.get(0),
        )
        .ok();
    let items = answer["data"].as_array().map_or(&[][..], Vec::as_slice);
    let wanted = (matching as usize).min(LOGS_LIMIT);
    if items.len() != wanted {
        problems.push(format!(
            "{label}: {} items, the database has {matching} matching rows",
            items.len()
        ));
    }
    if items.first().and_then(|i| i["id"].as_str()) != newest.as_deref() {
        problems.push(format!(
            "{label}: the first item is not the newest matching row ({newest:?})"
        ));
    }
    if filter.is_some()
        && let Some(bad) = items
            .iter()
            .find(|i| i["status"] != "error" || i["latencyMs"].as_i64().is_none_or(|ms| ms <= 2000))
    {
        problems.push(format!("{label}: an item does not match the filter: {bad}"));
    }
    Ok(format!("{} items of {matching} matching", items.len()))
}
