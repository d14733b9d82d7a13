//! The `analytics` component:
//! `GET /api/v1/prompts/:id/analytics?window=24h|7d|30d|custom&from=&to=&bucket=hour|day&versionId=`.
//! Scope `analytics:read`.
//!
//! Served from the hourly rollups (`migrations/0004_rollups.sql`), never
//! from the raw logs: the query reads O(hours × versions) rows whatever the
//! number of calls, and keeps working after the retention purge. Promotion
//! markers come from the audit log.

use prompthelm_component_kit::request::{Query, path_param};
use prompthelm_component_kit::{ApiError, JsonResponse, Method, RequestContext, StatusCode};
use prompthelm_domain::analytics::{Report, parse_window};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::rollup::summarize;
use prompthelm_store::auth::authenticate;
use prompthelm_store::db::Db;
use prompthelm_store::{audit, prompts, rollups, versions};
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    match (req.method(), path_param(&req, "id")) {
        (&Method::GET, Some(id)) => ctx.respond(StatusCode::OK, analytics(&ctx, &req, &id).await),
        (other, _) => ctx.method_not_allowed(other, req.uri().path(), &[Method::GET]),
    }
}

async fn analytics(
    ctx: &RequestContext,
    req: &Request,
    prompt_id: &str,
) -> Result<Report, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::AnalyticsRead).await?;
    let org = &principal.organization_id;
    let query = Query::parse(req.uri(), &["window", "from", "to", "bucket", "versionId"])?;
    let (kind, window) = parse_window(
        query.get("window"),
        query.timestamp("from")?,
        query.timestamp("to")?,
        query.get("bucket"),
        ctx.received_at_unix_millis(),
    )
    .map_err(ApiError::bad_request)?;
    // 404 for a prompt (or version) the organization does not have, rather
    // than an empty report that looks like "no traffic".
    prompts::get(&db, org, prompt_id).await?;
    let version_id = query.get("versionId");
    if let Some(version_id) = version_id {
        versions::get(&db, org, prompt_id, version_id).await?;
    }
    let rows = rollups::read(&db, org, prompt_id, &window, version_id).await?;
    let labels = versions::labels(&db, org, prompt_id).await?;
    let promotions = audit::promotions(&db, org, prompt_id, window.start(), window.end()).await?;
    Ok(Report::new(
        prompt_id,
        version_id,
        kind,
        &window,
        summarize(&window, &rows),
        &labels,
        promotions,
    ))
}
