//! The `analytics` component:
//! `GET /api/v1/prompts/:id/analytics?window=1h|6h|24h|7d|30d|custom&from=&to=&bucket=minute|hour|day&versionId=`.
//! Scope `analytics:read`.
//!
//! Served from the rollups of the window's granularity (minute, hour or
//! day: `migrations/0004`–`0006`), never from the raw logs: the query reads
//! O(buckets × versions) rows whatever the number of calls, and keeps
//! working after the retention purge. Feedback comes from its own rollups
//! (in the bucket of the call judged), signals from theirs, and promotion
//! markers from the audit log, at their exact time.

use prompthelm_component_kit::request::path_param;
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::analytics::{Report, parse_window};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::rollup::{signal_series, summarize};
use prompthelm_store::caller::authorize;
use prompthelm_store::{audit, prompts, rollups, versions};
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Analytics,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[route(
    Method::GET,
    "/api/v1/prompts/:id/analytics",
    Endpoint::Analytics,
)]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::Analytics) => {
            let id = path_param(&req, "id").unwrap_or_default();
            ctx.respond(StatusCode::OK, analytics(&ctx, &req, &id).await)
        }
    }
}

async fn analytics(
    ctx: &RequestContext,
    req: &Request,
    prompt_id: &str,
) -> Result<Report, ApiError> {
    let (principal, db, query) = authorize(
        req,
        Scope::AnalyticsRead,
        &["window", "from", "to", "bucket", "versionId"],
    )
    .await?;
    let org = &principal.organization_id;
    let (kind, window) = parse_window(
        query.get("window"),
        query.timestamp("from")?,
        query.timestamp("to")?,
        query.get("bucket"),
        ctx.received_at_unix_millis(),
    )
    .map_err(ApiError::validation_error)?;
    // 404 for a prompt (or version) the organization does not have, rather
    // than an empty report that looks like "no traffic".
    prompts::get(&db, org, prompt_id).await?;
    let version_id = query.get("versionId");
    if let Some(version_id) = version_id {
        versions::get(&db, org, prompt_id, version_id).await?;
    }
    let rows = rollups::read(&db, org, prompt_id, &window, version_id).await?;
    // Signals belong to the prompt, not to a version: shown with or
    // without the versionId filter.
    let signals = rollups::read_signals(&db, org, prompt_id, &window).await?;
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
        signal_series(&window, &signals),
    ))
}
