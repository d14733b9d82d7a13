//! The `logs` component: the execution logs the gateway writes. Routes
//! (spin.toml):
//!
//! - `GET /api/v1/execution-logs`: newest first, cursor-paged summaries
//!   (no bodies), filtered by `promptId`, `versionId`, `environment`,
//!   `status`, `errorCode`, `model`, `from`, `to` and the filter expression
//!   `q` (`prompthelm_domain::log_filter`). Scope `analytics:read`.
//! - `GET /api/v1/execution-logs/:id`: one log with its request and response
//!   bodies. Scope `analytics:read`.
//! - `POST /api/v1/execution-logs/purge[?olderThanDays=N]`: the retention
//!   purge, for a scheduler or CI. Deletes the organization's logs older
//!   than N days (default: the `log_retention_days` variable, 90); rollups
//!   stay, so analytics keep the whole history. Scope `admin`; audited.

use prompthelm_component_kit::request::path_param;
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_component_kit::{codes, variables};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::log_filter::parse_filter;
use prompthelm_domain::pagination::Page;
use prompthelm_domain::rollup::DAY_MS;
use prompthelm_domain::time::rfc3339_millis;
use prompthelm_store::audit::{self, NewEntry, actions};
use prompthelm_store::caller::authorize;
use prompthelm_store::executions::{self, ListFilter, LogDetail, LogSummary, Status};
use serde::Serialize;
use spin_sdk::http::Request;

/// The longest retention a purge accepts (about 100 years): beyond it the
/// cutoff would precede every log anyway.
const MAX_RETENTION_DAYS: i64 = 36_500;

/// Batches one purge request deletes at most
/// (`executions::PURGE_BATCH` rows each); `complete: false` says to call
/// again. Bounds the request's time however many logs are due.
const PURGE_MAX_BATCHES: u32 = 100;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    List,
    Purge,
    Detail,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::GET, "/api/v1/execution-logs", Endpoint::List),
    route(
        Method::POST,
        "/api/v1/execution-logs/purge",
        Endpoint::Purge,
    ),
    route(Method::GET, "/api/v1/execution-logs/:id", Endpoint::Detail),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::List) => ctx.respond(StatusCode::OK, list(&req).await),
        Ok(Endpoint::Purge) => ctx.respond(StatusCode::OK, purge(&ctx, &req).await),
        Ok(Endpoint::Detail) => {
            let id = path_param(&req, "id").unwrap_or_default();
            ctx.respond(StatusCode::OK, detail(&req, &id).await)
        }
    }
}

async fn list(req: &Request) -> Result<Page<LogSummary>, ApiError> {
    let (principal, db, query) = authorize(
        req,
        Scope::AnalyticsRead,
        &[
            "promptId",
            "versionId",
            "environment",
            "status",
            "errorCode",
            "model",
            "from",
            "to",
            "q",
            "limit",
            "cursor",
        ],
    )
    .await?;
    let text = |name: &str| query.get(name).map(str::to_owned);
    let status = query
        .get("status")
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::validation_error(format!("status must be success or error; not {s:?}"))
            })
        })
        .transpose()?;
    if let Some(env) = query.get("environment")
        && !matches!(env, "production" | "development")
    {
        return Err(ApiError::validation_error(format!(
            "environment must be production or development; not {env:?}"
        )));
    }
    let expression = query
        .get("q")
        .map(|q| {
            parse_filter(q).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_FILTER,
                    format!("q: {}", e.message),
                )
            })
        })
        .transpose()?;
    let filter = ListFilter {
        prompt_id: text("promptId"),
        version_id: text("versionId"),
        environment: text("environment"),
        status,
        error_code: text("errorCode"),
        model: text("model"),
        from: query.timestamp("from")?,
        to: query.timestamp("to")?,
        expression,
    };
    executions::list(&db, &principal.organization_id, &filter, &query.page()?).await
}

async fn detail(req: &Request, id: &str) -> Result<LogDetail, ApiError> {
    let (principal, db, _) = authorize(req, Scope::AnalyticsRead, &[]).await?;
    executions::get(&db, &principal.organization_id, id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                codes::EXECUTION_LOG_NOT_FOUND,
                format!("no execution log {id}"),
            )
        })
}

/// The purge's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PurgeReport {
    retention_days: i64,
    /// Logs created before this instant were due.
    cutoff: String,
    deleted: u64,
    /// False when the batch budget ran out first: call again for the rest.
    complete: bool,
    audit_entry_id: String,
}

async fn purge(ctx: &RequestContext, req: &Request) -> Result<PurgeReport, ApiError> {
    let (principal, db, query) = authorize(req, Scope::Admin, &["olderThanDays"]).await?;
    let days = match query.get("olderThanDays") {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
            .ok_or_else(|| {
                ApiError::validation_error(format!(
                    "olderThanDays must be a whole number from 1 to {MAX_RETENTION_DAYS}"
                ))
            })?,
        None => variables::number("log_retention_days", 1..=MAX_RETENTION_DAYS).await?,
    };
    let cutoff = ctx.received_at_unix_millis() - days * DAY_MS;
    let purged =
        executions::purge(&db, &principal.organization_id, cutoff, PURGE_MAX_BATCHES).await?;
    // Batches commit one by one (short write locks), so the entry follows
    // them rather than sharing their transaction: it records what was done.
    let audit_entry_id = audit::append(
        &db,
        &principal,
        ctx.into(),
        NewEntry {
            action: actions::EXECUTION_LOGS_PURGE,
            prompt_id: None,
            version_id: None,
            details: serde_json::json!({
                "retentionDays": days,
                "cutoff": rfc3339_millis(cutoff),
                "deleted": purged.deleted,
                "complete": purged.complete,
            }),
        },
    )
    .await?;
    Ok(PurgeReport {
        retention_days: days,
        cutoff: rfc3339_millis(cutoff),
        deleted: purged.deleted,
        complete: purged.complete,
        audit_entry_id,
    })
}
