//! PromptHelm gateway component: `/api/v1/gateway/*`.
//!
//! - `POST execute` and `POST stream` ([`handle`], which reads one way
//!   through [`prepare`], [`render`], [`provider`], then [`execute`] or
//!   [`stream`], with [`call`] holding the log row): run a prompt through
//!   its model's provider, the wire contract of the PromptHelm SDKs, and
//!   log every call.
//! - `GET resolve` ([`resolve`]): what a prompt resolves to, through the
//!   same key-value cache.
//! - `GET health` ([`health`]): the database and the key-value store answer.
//! - `/api/v1/openai/v1/chat/completions` and `/models` ([`openai`]): the
//!   same calls for any OpenAI client (`model: "prompt:<slug>"`), through the
//!   same [`handle`] in the OpenAI [`dialect`], logged and counted alike.
//!
//! Every path is one row of [`routes::ROUTES`]. The decisions (validation,
//! rendering, routes, provider formats) are plain functions in the domain
//! and providers crates and in [`routes`] and
//! [`health`], tested natively; the modules here are the thin shell that
//! calls the Spin host (SQLite, key-value, variables, outbound HTTP).

mod call;
mod dialect;
mod execute;
mod handle;
pub mod health;
mod openai;
mod prepare;
mod provider;
mod render;
mod resolve;
pub mod routes;
mod settings;
mod stream;
mod upstream;

use std::time::Instant;

use prompthelm_component_kit::{JsonResponse, RequestContext, StatusCode, host_errors};
use spin_sdk::http::{BoxBody, Response};
use spin_sdk::key_value;

use dialect::{Mode, boxed};
use health::{Audience, CheckOutcome, Health};
use prompthelm_domain::auth::Scope;
use prompthelm_store::caller::authorize_ignoring_query;
use prompthelm_store::db::Db;
use routes::{Endpoint, ROUTES};

#[spin_sdk::http_service]
async fn handler(req: spin_sdk::http::Request) -> Response<BoxBody> {
    let ctx = RequestContext::from_request(&req);
    match ROUTES.find(&req) {
        Err(no_route) if routes::speaks_openai(req.uri().path()) => {
            boxed(no_route.with_allow(openai::error_response(&ctx, &no_route.error)))
        }
        Err(no_route) => boxed(no_route.response(&ctx)),
        Ok(Endpoint::Execute) => handle::handle(req, ctx, Mode::Execute).await,
        Ok(Endpoint::Stream) => handle::handle(req, ctx, Mode::Stream).await,
        Ok(Endpoint::Health) => boxed(health_check(&ctx, &req).await),
        Ok(Endpoint::Resolve) => boxed(ctx.respond(StatusCode::OK, resolve::handle(&req).await)),
        Ok(Endpoint::OpenAiChat) => handle::handle_openai(req, ctx).await,
        Ok(Endpoint::OpenAiModels) => boxed(openai::models(&req, &ctx).await),
    }
}

/// Runs both checks against the host and answers with the report, in as
/// much detail as the caller may see.
async fn health_check(ctx: &RequestContext, req: &spin_sdk::http::Request) -> JsonResponse {
    let sqlite = timed(check_sqlite()).await;
    let key_value = timed(check_key_value()).await;
    let audience = audience(req).await;
    match health::evaluate(
        sqlite,
        key_value,
        audience,
        ctx.timestamp(),
        ctx.request_id(),
    ) {
        Health::Healthy(body) => ctx.json(StatusCode::OK, &body),
        Health::Unhealthy(envelope) => ctx.error_response(&envelope),
    }
}

/// An admin token sees the details; anyone else (no token, a bad one, a
/// database that cannot check it) the verdict. Health never answers 401.
async fn audience(req: &spin_sdk::http::Request) -> Audience {
    if !req.headers().contains_key(http::header::AUTHORIZATION) {
        return Audience::Public;
    }
    match authorize_ignoring_query(req, Scope::Admin).await {
        Ok(_) => Audience::Admin {
            warnings: settings::configuration_warnings().await,
        },
        Err(_) => Audience::Public,
    }
}

/// The `default` database answers a real query against the migrations
/// table. Opening it brings the schema up to date first (on a fresh `spin
/// up`, the first health probe migrates), so a schema that cannot be made
/// current fails this check with the reason.
async fn check_sqlite() -> Result<i64, String> {
    let db = Db::open().await.map_err(|e| e.message)?;
    let row = db
        .row(health::SCHEMA_VERSION_QUERY, [])
        .await
        .map_err(|e| e.message)?;
    health::schema_version(row.as_ref().and_then(|row| row.0.first()))
}

/// The `default` store answers a read (health writes nothing).
async fn check_key_value() -> Result<(), String> {
    let store = key_value::Store::open_default()
        .await
        .map_err(|e| host_errors::key_value(&e))?;
    store
        .get(health::KV_PROBE_KEY)
        .await
        .map(drop)
        .map_err(|e| host_errors::key_value(&e))
}

async fn timed<T>(check: impl Future<Output = Result<T, String>>) -> CheckOutcome<T> {
    let started = Instant::now();
    let result = check.await;
    CheckOutcome {
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        result,
    }
}
