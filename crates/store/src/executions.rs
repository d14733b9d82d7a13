//! The execution log: one row per gateway call that passed authentication
//! (`migrations/0003_gateway.sql`). The gateway fills an [`ExecutionLog`]
//! as the call goes and [`insert`]s it before its response completes, so an
//! answered call is a stored call. One INSERT, no read: it is on the hot path.

use prompthelm_component_kit::ApiError;
use spin_sdk::sqlite::Value;

use crate::db::{Db, opt};

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
    pub environment: Option<&'static str>,
    pub model: Option<String>,
    pub provider: Option<&'static str>,
    pub stream: bool,
    pub status: Status,
    pub error_code: Option<String>,
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

/// Stores `log`.
pub async fn insert(db: &Db, log: &ExecutionLog) -> Result<(), ApiError> {
    let count = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    db.execute(
        "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, version_id, version, \
         environment, model, provider, stream, status, error_code, http_status, latency_ms, \
         provider_latency_ms, input_tokens, output_tokens, cached_input_tokens, cost_usd, \
         cost_known, request_id, user_agent, request_body, response_body, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(log.id.clone()),
            Value::Text(log.organization_id.clone()),
            Value::Text(log.actor.clone()),
            opt(log.prompt_id.clone()),
            opt(log.version_id.clone()),
            opt(log.version.clone()),
            opt(log.environment.map(str::to_owned)),
            opt(log.model.clone()),
            opt(log.provider.map(str::to_owned)),
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
        ],
    )
    .await?;
    Ok(())
}
