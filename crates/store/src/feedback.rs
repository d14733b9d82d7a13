//! Feedback on executions and signals of prompts
//! (`migrations/0006_feedback_and_minutes.sql`). The schema's triggers roll
//! both up in the statement that writes them: a new score adds to the
//! buckets of the call it judges, a replaced score moves them.
//!
//! Imports point one way: this module reads `execution_logs` but the
//! executions module knows nothing of feedback (the logs filter reaches the
//! feedback table through `domain::log_filter`'s fixed SQL).

use prompthelm_component_kit::{ApiError, codes, secure_random_bytes};
use prompthelm_domain::feedback::{Feedback, Signal};
use prompthelm_domain::ids::{self, EXECUTION, FEEDBACK, SIGNAL};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::rollup::UNATTRIBUTED;
use prompthelm_domain::time::rfc3339_millis;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::auth::Principal;
use crate::db::{Db, Row, opt};

/// What feedback needs of the call it judges: copied onto the feedback row
/// so its rollups land in the call's buckets, with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub execution_id: String,
    /// [`UNATTRIBUTED`] for a call without a prompt (or version).
    pub prompt_key: String,
    pub version_key: String,
    pub created_at: i64,
}

/// 404 for an execution the organization does not have (another
/// organization's included, so existence does not leak).
pub fn execution_not_found(execution_id: &str) -> ApiError {
    ApiError::not_found(
        codes::EXECUTION_LOG_NOT_FOUND,
        format!("no execution {execution_id}"),
    )
}

/// The organization's execution `execution_id`, if it is logged (a purged
/// log takes its execution with it).
pub async fn call(
    db: &Db,
    organization_id: &str,
    execution_id: &str,
) -> Result<Option<Call>, ApiError> {
    // A malformed id is a plain 404, without a lookup.
    if !ids::looks_like(EXECUTION, execution_id) {
        return Ok(None);
    }
    let row = db
        .row(
            "SELECT coalesce(prompt_id, ''), coalesce(version_id, ''), created_at \
             FROM execution_logs WHERE id = ? AND organization_id = ?",
            [
                Value::Text(execution_id.to_owned()),
                Value::Text(organization_id.to_owned()),
            ],
        )
        .await?;
    row.map(|row| {
        Ok(Call {
            execution_id: execution_id.to_owned(),
            prompt_key: row.text(0)?,
            version_key: row.text(1)?,
            created_at: row.int(2)?,
        })
    })
    .transpose()
}

/// A stored score, as answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRecord {
    pub id: String,
    pub execution_id: String,
    /// The judged call's prompt and version (`null` for an ad-hoc call).
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub name: String,
    pub source: String,
    pub score: f64,
    pub comment: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// The token that sent the latest score.
    pub actor: String,
    /// When the call judged was made: the bucket the feedback counts in.
    pub call_at: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Whether a score was new or replaced an earlier one of the same
/// execution, name and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Replaced,
}

/// Stores `feedback` on `call`, replacing the score of the same execution,
/// name and source if there is one: one UPSERT, whose triggers add the
/// score to the call's buckets or move the replaced one. `RETURNING id`
/// tells the two apart: a replaced row keeps its first id.
pub async fn record(
    db: &Db,
    principal: &Principal,
    stamp: Stamp<'_>,
    call: &Call,
    feedback: &Feedback,
) -> Result<(Outcome, FeedbackRecord), ApiError> {
    let new_id = ids::new_id(FEEDBACK, secure_random_bytes());
    let row = db
        .row(
            "INSERT INTO execution_feedback (id, organization_id, execution_id, prompt_key, \
             version_key, call_at, name, source, score, comment, metadata, actor, request_id, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (organization_id, execution_id, name, source) DO UPDATE SET \
             score = excluded.score, comment = excluded.comment, metadata = excluded.metadata, \
             actor = excluded.actor, request_id = excluded.request_id, \
             updated_at = excluded.updated_at \
             RETURNING id, created_at",
            [
                Value::Text(new_id.clone()),
                Value::Text(principal.organization_id.clone()),
                Value::Text(call.execution_id.clone()),
                Value::Text(call.prompt_key.clone()),
                Value::Text(call.version_key.clone()),
                Value::Integer(call.created_at),
                Value::Text(feedback.name.clone()),
                Value::Text(feedback.source.clone()),
                Value::Real(feedback.score),
                opt(feedback.comment.clone()),
                opt(feedback.metadata.clone()),
                Value::Text(principal.actor.clone()),
                Value::Text(stamp.request_id.to_owned()),
                Value::Integer(stamp.now),
                Value::Integer(stamp.now),
            ],
        )
        .await?
        .ok_or_else(|| ApiError::internal("the feedback UPSERT returned no row"))?;
    let id = row.text(0)?;
    let outcome = if id == new_id {
        Outcome::Created
    } else {
        Outcome::Replaced
    };
    let attributed = |key: &str| (key != UNATTRIBUTED).then(|| key.to_owned());
    Ok((
        outcome,
        FeedbackRecord {
            id,
            execution_id: call.execution_id.clone(),
            prompt_id: attributed(&call.prompt_key),
            version_id: attributed(&call.version_key),
            name: feedback.name.clone(),
            source: feedback.source.clone(),
            score: feedback.score,
            comment: feedback.comment.clone(),
            // Checked to be a JSON object by the domain, so it parses back.
            metadata: feedback
                .metadata
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| ApiError::internal(format!("metadata does not parse back: {e}")))?,
            actor: principal.actor.clone(),
            call_at: rfc3339_millis(call.created_at),
            created_at: rfc3339_millis(row.int(1)?),
            updated_at: rfc3339_millis(stamp.now),
        },
    ))
}

/// A stored signal, as answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalRecord {
    pub id: String,
    pub prompt_id: String,
    pub name: String,
    pub value: f64,
    /// The time the value is about.
    pub at: String,
    pub actor: String,
    pub created_at: String,
}

/// Stores a signal of the prompt (which the caller has checked exists);
/// the schema's trigger adds it to its buckets.
pub async fn insert_signal(
    db: &Db,
    principal: &Principal,
    stamp: Stamp<'_>,
    prompt_id: &str,
    signal: &Signal,
) -> Result<SignalRecord, ApiError> {
    let id = ids::new_id(SIGNAL, secure_random_bytes());
    db.run(
        "INSERT INTO prompt_signals (id, organization_id, prompt_id, name, value, at, actor, \
         request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(id.clone()),
            Value::Text(principal.organization_id.clone()),
            Value::Text(prompt_id.to_owned()),
            Value::Text(signal.name.clone()),
            Value::Real(signal.value),
            Value::Integer(signal.at),
            Value::Text(principal.actor.clone()),
            Value::Text(stamp.request_id.to_owned()),
            Value::Integer(stamp.now),
        ],
    )
    .await?;
    Ok(SignalRecord {
        id,
        prompt_id: prompt_id.to_owned(),
        name: signal.name.clone(),
        value: signal.value,
        at: rfc3339_millis(signal.at),
        actor: principal.actor.clone(),
        created_at: rfc3339_millis(stamp.now),
    })
}

/// The filters of the signal list; each given one must match.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub name: Option<String>,
    /// Signals about this instant or later (ms).
    pub from: Option<i64>,
    /// Signals about instants before this one (ms).
    pub to: Option<i64>,
}

fn signal(row: &Row) -> Result<SignalRecord, ApiError> {
    Ok(SignalRecord {
        id: row.text(1)?,
        prompt_id: row.text(2)?,
        name: row.text(3)?,
        value: row.opt_real(4)?.unwrap_or(0.0),
        at: rfc3339_millis(row.int(5)?),
        actor: row.text(6)?,
        created_at: rfc3339_millis(row.int(7)?),
    })
}

/// A page of the prompt's signals, newest sent first (cursor: `seq`).
pub async fn list_signals(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    filter: &SignalFilter,
    page: &PageRequest,
) -> Result<Page<SignalRecord>, ApiError> {
    let mut sql = "SELECT seq, id, prompt_id, name, value, at, actor, created_at \
                   FROM prompt_signals WHERE organization_id = ? AND prompt_id = ?"
        .to_owned();
    let mut params = vec![
        Value::Text(organization_id.to_owned()),
        Value::Text(prompt_id.to_owned()),
    ];
    if let Some(name) = &filter.name {
        sql.push_str(" AND name = ?");
        params.push(Value::Text(name.clone()));
    }
    if let Some(from) = filter.from {
        sql.push_str(" AND at >= ?");
        params.push(Value::Integer(from));
    }
    if let Some(to) = filter.to {
        sql.push_str(" AND at < ?");
        params.push(Value::Integer(to));
    }
    if let Some(after) = page.after {
        sql.push_str(" AND seq < ?");
        params.push(Value::Integer(after));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    db.page(&sql, params, page, signal).await
}
