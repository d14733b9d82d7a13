//! The execution log: one row per gateway call that passed authentication
//! (`migrations/0003_gateway.sql`). The gateway fills an [`ExecutionLog`]
//! as the call goes and [`insert`]s it before its response completes, so an
//! answered call is a stored call. One INSERT, no read: it is on the hot path.
//!
//! The `logs` component reads them back ([`list`], [`get`]) and purges old
//! ones ([`purge`]).

use prompthelm_component_kit::ApiError;
use prompthelm_domain::latency;
use prompthelm_domain::log_filter::{self, FilterValue};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::time::rfc3339_millis;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::db::{Db, Row, opt};

/// Whether the call produced an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "success" => Some(Status::Success),
            "error" => Some(Status::Error),
            _ => None,
        }
    }
}

/// One row of `execution_logs`; see the migration for each column.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionLog {
    pub id: String,
    pub organization_id: String,
    pub actor: String,
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub version: Option<String>,
    /// Whether a running canary's candidate served the call.
    pub canary: bool,
    pub environment: Option<&'static str>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub stream: bool,
    pub status: Status,
    pub error_code: Option<String>,
    /// The status line the caller got, not the outcome: a stream answers
    /// 200 before its first delta, so a stream that failed later has 200
    /// here and `status` error with its `error_code`.
    pub http_status: u16,
    pub latency_ms: i64,
    pub provider_latency_ms: Option<i64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cost_usd: f64,
    pub cost_known: bool,
    pub request_id: String,
    pub user_agent: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub created_at: i64,
}

/// Stores `log`; the schema's triggers add it to its hour's and day's
/// rollups in the same statement (`migrations/0004_rollups.sql`, `0005`).
pub async fn insert(db: &Db, log: &ExecutionLog) -> Result<(), ApiError> {
    let count = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    db.run(
        "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, version_id, version, \
         environment, model, provider, stream, status, error_code, http_status, latency_ms, \
         provider_latency_ms, input_tokens, output_tokens, cached_input_tokens, cost_usd, \
         cost_known, request_id, user_agent, request_body, response_body, created_at, \
         latency_bucket, canary) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(log.id.clone()),
            Value::Text(log.organization_id.clone()),
            Value::Text(log.actor.clone()),
            opt(log.prompt_id.clone()),
            opt(log.version_id.clone()),
            opt(log.version.clone()),
            opt(log.environment.map(str::to_owned)),
            opt(log.model.clone()),
            opt(log.provider.clone()),
            Value::Integer(i64::from(log.stream)),
            Value::Text(log.status.as_str().to_owned()),
            opt(log.error_code.clone()),
            Value::Integer(i64::from(log.http_status)),
            Value::Integer(log.latency_ms),
            opt(log.provider_latency_ms),
            count(log.input_tokens),
            count(log.output_tokens),
            count(log.cached_input_tokens),
            Value::Real(log.cost_usd),
            Value::Integer(i64::from(log.cost_known)),
            Value::Text(log.request_id.clone()),
            opt(log.user_agent.clone()),
            opt(log.request_body.clone()),
            opt(log.response_body.clone()),
            Value::Integer(log.created_at),
            // The rollup triggers add the call to this sketch bucket;
            // computed here so SQL never takes a logarithm.
            Value::Integer(i64::from(latency::bucket_index(
                u64::try_from(log.latency_ms).unwrap_or(0),
            ))),
            Value::Integer(i64::from(log.canary)),
        ],
    )
    .await?;
    Ok(())
}

/// The columns every listed log carries (no bodies), in [`summary`]'s order;
/// `seq` first for [`Db::page`].
const SUMMARY_COLUMNS: &str = "seq, id, prompt_id, version_id, version, environment, model, \
     provider, stream, status, error_code, http_status, latency_ms, provider_latency_ms, \
     input_tokens, output_tokens, cached_input_tokens, cost_usd, cost_known, actor, request_id, \
     user_agent, created_at, canary";

/// A log as listed by `GET /api/v1/execution-logs`: everything but the bodies.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSummary {
    pub id: String,
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub version: Option<String>,
    /// Whether a running canary's candidate served the call.
    pub canary: bool,
    pub environment: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub stream: bool,
    pub status: String,
    pub error_code: Option<String>,
    pub http_status: i64,
    pub latency_ms: i64,
    pub provider_latency_ms: Option<i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    /// USD, as the execute answer's `cost`.
    pub cost: f64,
    /// False when the model has no price (the cost is then 0).
    pub cost_known: bool,
    /// The token that made the call.
    pub actor: String,
    pub request_id: String,
    pub user_agent: Option<String>,
    pub created_at: String,
}

/// One log with its provider exchange, for `GET /api/v1/execution-logs/:id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogDetail {
    #[serde(flatten)]
    pub summary: LogSummary,
    /// What was sent to the provider; JSON when the stored text parses (a
    /// body cut at the size cap does not, and is served as its text).
    pub request_body: Option<serde_json::Value>,
    /// What came back (or the stream's transcript), likewise.
    pub response_body: Option<serde_json::Value>,
}

fn summary(row: &Row) -> Result<LogSummary, ApiError> {
    Ok(LogSummary {
        id: row.text(1)?,
        prompt_id: row.opt_text(2)?,
        version_id: row.opt_text(3)?,
        version: row.opt_text(4)?,
        canary: row.bool(23)?,
        environment: row.opt_text(5)?,
        model: row.opt_text(6)?,
        provider: row.opt_text(7)?,
        stream: row.bool(8)?,
        status: row.text(9)?,
        error_code: row.opt_text(10)?,
        http_status: row.int(11)?,
        latency_ms: row.int(12)?,
        provider_latency_ms: row.opt_int(13)?,
        input_tokens: row.int(14)?,
        output_tokens: row.int(15)?,
        cached_input_tokens: row.int(16)?,
        cost: row.opt_real(17)?.unwrap_or(0.0),
        cost_known: row.bool(18)?,
        actor: row.text(19)?,
        request_id: row.text(20)?,
        user_agent: row.opt_text(21)?,
        created_at: rfc3339_millis(row.int(22)?),
    })
}

/// The fixed filters of the logs list; each given one must match.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub environment: Option<String>,
    pub status: Option<Status>,
    pub error_code: Option<String>,
    pub model: Option<String>,
    /// Calls at or after this instant (ms).
    pub from: Option<i64>,
    /// Calls before this instant (ms).
    pub to: Option<i64>,
    /// The compiled `q` expression (`prompthelm_domain::log_filter`).
    pub expression: Option<log_filter::Filter>,
}

/// A page of the organization's logs, newest first. The cursor is the
/// row's `seq`, so calls logged while a client pages never shift the pages
/// it has not read yet.
pub async fn list(
    db: &Db,
    organization_id: &str,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<LogSummary>, ApiError> {
    // Fixed SQL fragments; every value is a parameter, and the `q` fragment
    // holds only allow-listed columns and `?`s (log_filter's guarantee).
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM execution_logs WHERE organization_id = ?");
    let mut params = vec![Value::Text(organization_id.to_owned())];
    let equal = [
        ("prompt_id", &filter.prompt_id),
        ("version_id", &filter.version_id),
        ("environment", &filter.environment),
        ("error_code", &filter.error_code),
        ("model", &filter.model),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            params.push(Value::Text(value.clone()));
        }
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        params.push(Value::Text(status.as_str().to_owned()));
    }
    if let Some(from) = filter.from {
        sql.push_str(" AND created_at >= ?");
        params.push(Value::Integer(from));
    }
    if let Some(to) = filter.to {
        sql.push_str(" AND created_at < ?");
        params.push(Value::Integer(to));
    }
    if let Some(expression) = &filter.expression {
        sql.push_str(" AND (");
        sql.push_str(&expression.sql);
        sql.push(')');
        params.extend(expression.params.iter().map(|value| match value {
            FilterValue::Text(s) => Value::Text(s.clone()),
            FilterValue::Integer(n) => Value::Integer(*n),
            FilterValue::Real(f) => Value::Real(*f),
        }));
    }
    if let Some(after) = page.after {
        sql.push_str(" AND seq < ?");
        params.push(Value::Integer(after));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    db.page(&sql, params, page, summary).await
}

/// One log of the organization, bodies included; `None` when the id is
/// unknown there.
pub async fn get(db: &Db, organization_id: &str, id: &str) -> Result<Option<LogDetail>, ApiError> {
    let row = db
        .row(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, request_body, response_body FROM execution_logs \
                 WHERE organization_id = ? AND id = ?"
            ),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(id.to_owned()),
            ],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let body = |i: usize| -> Result<Option<serde_json::Value>, ApiError> {
        Ok(row
            .opt_text(i)?
            .map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
    };
    Ok(Some(LogDetail {
        summary: summary(&row)?,
        request_body: body(24)?,
        response_body: body(25)?,
    }))
}

/// Rows one purge statement deletes: small enough that the write lock is
/// held briefly, so gateway calls keep logging while a purge runs.
pub const PURGE_BATCH: i64 = 2_000;

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub deleted: u64,
    /// False when `max_batches` ran out first: call again for the rest.
    pub complete: bool,
}

/// Deletes the organization's logs created before `cutoff` (ms), in
/// batches of [`PURGE_BATCH`], at most `max_batches` of them. Rollups are
/// untouched (their trigger fires on INSERT only), so analytics keep the
/// whole history. Each batch commits on its own: a purge that stops halfway
/// has removed only whole, old rows.
pub async fn purge(
    db: &Db,
    organization_id: &str,
    cutoff: i64,
    max_batches: u32,
) -> Result<Purged, ApiError> {
    let mut deleted = 0;
    for _ in 0..max_batches {
        let n = db
            .run_counting_changes(
                "DELETE FROM execution_logs WHERE seq IN (SELECT seq FROM execution_logs \
                 WHERE organization_id = ? AND created_at < ? ORDER BY created_at LIMIT ?)",
                [
                    Value::Text(organization_id.to_owned()),
                    Value::Integer(cutoff),
                    Value::Integer(PURGE_BATCH),
                ],
            )
            .await?;
        deleted += n;
        if n < PURGE_BATCH as u64 {
            return Ok(Purged {
                deleted,
                complete: true,
            });
        }
    }
    Ok(Purged {
        deleted,
        complete: false,
    })
}
