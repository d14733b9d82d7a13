//! Reading the analytics rollups (`migrations/0004_rollups.sql` by hour,
//! `0005_daily_rollups.sql` by day, `0006_feedback_and_minutes.sql` by
//! minute, with feedback and signals): the rows of one prompt over a
//! window, as `prompthelm_domain::rollup::RollupRow`s for
//! `rollup::summarize` and `SignalRow`s for `rollup::signal_series`.
//! Nothing here writes: the schema's triggers keep the rollups, in the
//! statement that writes the call, the feedback or the signal.
//!
//! A window reads the tables of its granularity. Every query is a range
//! scan of a primary-key prefix, so its cost grows with the buckets ×
//! versions (× feedback or signal names) of the window, never with the
//! calls.

use std::collections::BTreeMap;

use prompthelm_component_kit::ApiError;
use prompthelm_domain::latency::LatencySketch;
use prompthelm_domain::rollup::{
    FeedbackMeasures, Measures, RollupRow, RollupTables, SignalPoint, SignalRow, Window,
};
use spin_sdk::sqlite::Value;

use crate::db::{Db, Row};

/// The rollup rows (measures, error counts and feedback) of `prompt_id` in
/// the organization whose bucket falls in `window`, of one version if
/// given.
pub async fn read(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    window: &Window,
    version_id: Option<&str>,
) -> Result<Vec<RollupRow>, ApiError> {
    let mut params = vec![
        Value::Text(organization_id.to_owned()),
        Value::Text(prompt_id.to_owned()),
        Value::Integer(window.start()),
        Value::Integer(window.end()),
    ];
    // Fixed table and column names, chosen by the granularity.
    let RollupTables {
        measures: measures_table,
        errors: errors_table,
        start,
    } = window.granularity().tables();
    let scope = |start: &str| {
        let mut scope = format!(
            "WHERE organization_id = ? AND prompt_key = ? AND {start} >= ? AND {start} < ?"
        );
        if version_id.is_some() {
            scope.push_str(" AND version_key = ?");
        }
        scope
    };
    if let Some(version_id) = version_id {
        params.push(Value::Text(version_id.to_owned()));
    }
    let measures = db
        .rows(
            &format!(
                "SELECT version_key, {start}, calls, successes, latency_sum_ms, cost_usd_sum, \
                 cost_unknown_calls, input_tokens, output_tokens, cached_input_tokens, \
                 latency_sketch FROM {measures_table} {}",
                scope(start)
            ),
            params.clone(),
        )
        .await?;
    let errors = db
        .rows(
            &format!(
                "SELECT version_key, {start}, error_code, calls FROM {errors_table} {}",
                scope(start)
            ),
            params.clone(),
        )
        .await?;
    // Every granularity in one table: `bucket_ms` picks this window's rows
    // (its `?` comes after the scope's).
    let mut feedback_params = params;
    feedback_params.push(Value::Integer(window.granularity().millis()));
    let feedback = db
        .rows(
            &format!(
                "SELECT version_key, bucket_start, name, count, negative, score_sum \
                 FROM feedback_rollups {} AND bucket_ms = ?",
                scope("bucket_start")
            ),
            feedback_params,
        )
        .await?;
    let mut rows = measures
        .iter()
        .map(|row| measures_row(prompt_id, row))
        .collect::<Result<Vec<_>, _>>()?;
    rows.extend(error_rows(prompt_id, &errors)?);
    rows.extend(feedback_rows(prompt_id, &feedback)?);
    Ok(rows)
}

/// The signal rollup rows of `prompt_id` in the organization whose bucket
/// falls in `window`.
pub async fn read_signals(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    window: &Window,
) -> Result<Vec<SignalRow>, ApiError> {
    let rows = db
        .rows(
            "SELECT name, bucket_start, count, value_sum FROM signal_rollups \
             WHERE organization_id = ? AND prompt_id = ? AND bucket_ms = ? \
             AND bucket_start >= ? AND bucket_start < ?",
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(prompt_id.to_owned()),
                Value::Integer(window.granularity().millis()),
                Value::Integer(window.start()),
                Value::Integer(window.end()),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(SignalRow {
                name: row.text(0)?,
                start: row.int(1)?,
                values: SignalPoint {
                    count: count(row, 2)?,
                    sum: row.opt_real(3)?.unwrap_or(0.0),
                },
            })
        })
        .collect()
}

fn count(row: &Row, i: usize) -> Result<u64, ApiError> {
    let n = row.int(i)?;
    u64::try_from(n).map_err(|_| ApiError::internal(format!("rollup column {i} is negative: {n}")))
}

fn measures_row(prompt_id: &str, row: &Row) -> Result<RollupRow, ApiError> {
    let start = row.int(1)?;
    // A sketch that does not decode is a corrupt row (the trigger only ever
    // writes valid ones): a 500 naming it, rather than percentiles that
    // silently leave its calls out.
    let latency = LatencySketch::decode(&row.text(10)?).map_err(|e| {
        ApiError::internal(format!(
            "the latency sketch of prompt {prompt_id} at {start} does not decode: {}",
            e.0
        ))
    })?;
    Ok(RollupRow {
        prompt_key: prompt_id.to_owned(),
        version_key: row.text(0)?,
        start,
        measures: Measures {
            calls: count(row, 2)?,
            successes: count(row, 3)?,
            latency_sum_ms: count(row, 4)?,
            cost_usd: row.opt_real(5)?.unwrap_or(0.0),
            cost_unknown_calls: count(row, 6)?,
            input_tokens: count(row, 7)?,
            output_tokens: count(row, 8)?,
            cached_input_tokens: count(row, 9)?,
            latency,
            error_codes: BTreeMap::new(),
            feedback: BTreeMap::new(),
        },
    })
}

/// Error rows become measures holding only their error code's count, which
/// merge into the bucket and version like any other row.
fn error_rows(prompt_id: &str, rows: &[Row]) -> Result<Vec<RollupRow>, ApiError> {
    rows.iter()
        .map(|row| {
            Ok(RollupRow {
                prompt_key: prompt_id.to_owned(),
                version_key: row.text(0)?,
                start: row.int(1)?,
                measures: Measures {
                    error_codes: BTreeMap::from([(row.text(2)?, count(row, 3)?)]),
                    ..Measures::default()
                },
            })
        })
        .collect()
}

/// Feedback rows become measures holding only their name's feedback, like
/// error rows.
fn feedback_rows(prompt_id: &str, rows: &[Row]) -> Result<Vec<RollupRow>, ApiError> {
    rows.iter()
        .map(|row| {
            Ok(RollupRow {
                prompt_key: prompt_id.to_owned(),
                version_key: row.text(0)?,
                start: row.int(1)?,
                measures: Measures {
                    feedback: BTreeMap::from([(
                        row.text(2)?,
                        FeedbackMeasures {
                            count: count(row, 3)?,
                            negative: count(row, 4)?,
                            score_sum: row.opt_real(5)?.unwrap_or(0.0),
                        },
                    )]),
                    ..Measures::default()
                },
            })
        })
        .collect()
}
