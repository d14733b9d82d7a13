//! The per-token call counter of the gateway's rate limit: one row per
//! subject (token) and minute in `gateway_rate_windows`, incremented by one
//! UPSERT, so concurrent calls on any instance count exactly. The verdict's
//! arithmetic is [`prompthelm_domain::rate_limit`].

use prompthelm_component_kit::ApiError;
use prompthelm_domain::rate_limit::{Decision, decide, window_start};
use spin_sdk::sqlite::Value;

use crate::db::Db;

/// Counts one call of `subject` at `now_ms` and decides it under `limit`
/// calls per minute. The first call of a window also drops the subject's
/// older windows, so the table holds about one row per active token.
pub async fn count_call(
    db: &Db,
    subject: &str,
    limit: u32,
    now_ms: i64,
) -> Result<Decision, ApiError> {
    let window = window_start(now_ms);
    let row = db
        .row(
            "INSERT INTO gateway_rate_windows (subject, window_start, calls) VALUES (?, ?, 1) \
             ON CONFLICT (subject, window_start) DO UPDATE SET calls = calls + 1 \
             RETURNING calls",
            [Value::Text(subject.to_owned()), Value::Integer(window)],
        )
        .await?
        .ok_or_else(|| ApiError::internal("the rate-limit upsert returned no row"))?;
    let calls = row.int(0)?;
    if calls == 1 {
        db.run(
            "DELETE FROM gateway_rate_windows WHERE subject = ? AND window_start < ?",
            [Value::Text(subject.to_owned()), Value::Integer(window)],
        )
        .await?;
    }
    Ok(decide(calls, limit, now_ms))
}
