//! PromptHelm gateway component: `/api/v1/gateway/*`.
//!
//! - `POST execute` and `POST stream` ([`call`], then [`execute`] or
//!   [`stream`]): run a prompt through its model's provider, the wire
//!   contract of the PromptHelm SDKs, and log every call.
//! - `GET resolve` ([`resolve`]): what a prompt resolves to, through the
//!   same key-value cache.
//! - `GET health` ([`health`]): the database and the key-value store answer.
//!
//! The decisions (validation, rendering, routes, provider formats) are plain
//! functions in the domain and providers crates and in [`routes`] and
//! [`health`], tested natively; the modules here are the thin shell that
//! calls the Spin host (SQLite, key-value, variables, outbound HTTP).

mod call;
mod execute;
pub mod health;
mod resolve;
pub mod routes;
mod settings;
mod stream;
mod upstream;

use std::time::Instant;

use prompthelm_component_kit::{JsonResponse, Method, RequestContext, StatusCode, host_errors};
use spin_sdk::http::{BoxBody, Response};
use spin_sdk::{key_value, sqlite};

use call::{Mode, boxed};
use health::{CheckOutcome, Health};
use routes::Route;

#[spin_sdk::http_service]
async fn handler(req: spin_sdk::http::Request) -> Response<BoxBody> {
    let ctx = RequestContext::from_request(&req);
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match routes::route(&path) {
        Route::Execute if method == Method::POST => call::handle(req, ctx, Mode::Execute).await,
        Route::Stream if method == Method::POST => call::handle(req, ctx, Mode::Stream).await,
        Route::Health if method == Method::GET => boxed(health_check(&ctx).await),
        Route::Resolve if method == Method::GET => {
            boxed(ctx.respond(StatusCode::OK, resolve::handle(&req).await))
        }
        Route::Health | Route::Resolve => {
            boxed(ctx.method_not_allowed(&method, &path, routes::GET_ONLY))
        }
        Route::Execute | Route::Stream => {
            boxed(ctx.method_not_allowed(&method, &path, routes::POST_ONLY))
        }
        Route::NotFound => boxed(ctx.not_found(&method, &path)),
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
