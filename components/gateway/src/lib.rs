//! PromptHelm gateway component: `/api/v1/gateway/*`.
//!
//! For now it serves `GET /api/v1/gateway/health` and
//! `GET /api/v1/gateway/resolve` (what a prompt resolves to, through the
//! key-value cache execute will use). The decisions (which route, what the
//! health report says, which status) are plain functions in [`routes`] and
//! [`health`], tested natively; the handler below is the thin shell that
//! calls the Spin host (SQLite, key-value) and hands the outcomes over.

pub mod health;
mod resolve;
pub mod routes;

use std::time::Instant;

use prompthelm_component_kit::{JsonResponse, Method, RequestContext, StatusCode, host_errors};
use spin_sdk::{key_value, sqlite};

use health::{CheckOutcome, Health};
use routes::Route;

#[spin_sdk::http_service]
async fn handler(req: spin_sdk::http::Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let path = req.uri().path();
    match routes::route(path) {
        Route::Health if req.method() == Method::GET => health_check(&ctx).await,
        Route::Resolve if req.method() == Method::GET => {
            ctx.respond(StatusCode::OK, resolve::handle(&req).await)
        }
        Route::Health | Route::Resolve => {
            ctx.method_not_allowed(req.method(), path, routes::GET_ONLY)
        }
        Route::NotFound => ctx.not_found(req.method(), path),
    }
}

/// Runs both checks against the host and answers with the report.
async fn health_check(ctx: &RequestContext) -> JsonResponse {
    let sqlite = timed(check_sqlite()).await;
    let key_value = timed(check_key_value(ctx.request_id())).await;
    match health::evaluate(sqlite, key_value, ctx.timestamp(), ctx.request_id()) {
        Health::Healthy(body) => ctx.json(StatusCode::OK, &body),
        Health::Unhealthy(envelope) => ctx.error_response(&envelope),
    }
}

/// The `default` database answers a real query against the migrations table.
async fn check_sqlite() -> Result<i64, String> {
    let db = sqlite::Connection::open_default()
        .await
        .map_err(|e| host_errors::sqlite(&e))?;
    let rows = db
        .execute(health::SCHEMA_VERSION_QUERY, [])
        .await
        .map_err(|e| host_errors::sqlite(&e))?
        .collect()
        .await
        .map_err(|e| host_errors::sqlite(&e))?;
    health::schema_version(rows.first().and_then(|row| row.values.first()))
}

/// The `default` store answers: set a unique key, read it back, delete it.
async fn check_key_value(request_id: &str) -> Result<(), String> {
    let store = key_value::Store::open_default()
        .await
        .map_err(|e| host_errors::key_value(&e))?;
    let key = health::kv_probe_key(request_id);
    let value = request_id.as_bytes();
    store
        .set(&key, value)
        .await
        .map_err(|e| host_errors::key_value(&e))?;
    let read_back = store.get(&key).await;
    // Clean up even when the read-back failed or differed.
    let deleted = store.delete(&key).await;
    let read_back = read_back.map_err(|e| host_errors::key_value(&e))?;
    health::kv_read_back_matches(value, read_back.as_deref())?;
    deleted.map_err(|e| host_errors::key_value(&e))
}

async fn timed<T>(check: impl Future<Output = Result<T, String>>) -> CheckOutcome<T> {
    let started = Instant::now();
    let result = check.await;
    CheckOutcome {
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        result,
    }
}
