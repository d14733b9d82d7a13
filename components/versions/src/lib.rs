//! The `versions` component: save and read a prompt's versions, and compare
//! two of them. Routes (spin.toml): `/api/v1/prompts/:id/versions`,
//! `/api/v1/prompts/:id/versions/:vid`, `/api/v1/prompts/:id/compare`.
//!
//! A save changes the development version only; production moves through
//! the `promote` component, so this one needs no key-value store.

use prompthelm_component_kit::request::{path_param, read_json};
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::compare::{Comparison, compare};
use prompthelm_domain::validation::{VersionDraft, validate_draft};
use prompthelm_store::caller::authorize;
use prompthelm_store::{Stamp, prompts, versions};
use serde::Serialize;
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    List,
    Create,
    Get,
    Compare,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::GET, "/api/v1/prompts/:id/versions", Endpoint::List),
    route(
        Method::POST,
        "/api/v1/prompts/:id/versions",
        Endpoint::Create,
    ),
    route(
        Method::GET,
        "/api/v1/prompts/:id/versions/:vid",
        Endpoint::Get,
    ),
    route(
        Method::GET,
        "/api/v1/prompts/:id/compare",
        Endpoint::Compare,
    ),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let endpoint = match ROUTES.find(&req) {
        Ok(endpoint) => endpoint,
        Err(no_route) => return no_route.response(&ctx),
    };
    let prompt_id = path_param(&req, "id").unwrap_or_default();
    match endpoint {
        Endpoint::List => ctx.respond(StatusCode::OK, list(&req, &prompt_id).await),
        Endpoint::Create => ctx.respond(StatusCode::CREATED, create(&ctx, req, &prompt_id).await),
        Endpoint::Get => {
            let version_id = path_param(&req, "vid").unwrap_or_default();
            ctx.respond(StatusCode::OK, get(&req, &prompt_id, &version_id).await)
        }
        Endpoint::Compare => ctx.respond(StatusCode::OK, compare_versions(&req, &prompt_id).await),
    }
}

async fn list(req: &Request, prompt_id: &str) -> Result<impl Serialize, ApiError> {
    let (principal, db, query) = authorize(req, Scope::PromptsRead, &["limit", "cursor"]).await?;
    versions::list(&db, &principal.organization_id, prompt_id, &query.page()?).await
}

async fn get(req: &Request, prompt_id: &str, version_id: &str) -> Result<impl Serialize, ApiError> {
    let (principal, db, _) = authorize(req, Scope::PromptsRead, &[]).await?;
    // The prompt first, so an unknown prompt says PROMPT_NOT_FOUND.
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    versions::get(&db, &principal.organization_id, prompt_id, version_id).await
}

async fn create(
    ctx: &RequestContext,
    req: Request,
    prompt_id: &str,
) -> Result<impl Serialize, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::PromptsWrite, &[]).await?;
    let draft: VersionDraft = read_json(req).await?;
    // An unknown prompt is a 404 even when the draft is also invalid.
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    validate_draft(&draft).map_err(ApiError::invalid_fields)?;
    let stamp = Stamp::from(ctx);
    db.transaction(async |db| versions::create(db, &principal, prompt_id, &draft, stamp).await)
        .await
}

/// `GET /api/v1/prompts/:id/compare?from=:vid&to=:vid`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompareResponse {
    prompt_id: String,
    from: VersionRef,
    to: VersionRef,
    /// Whether anything compared differs.
    changed: bool,
    #[serde(flatten)]
    comparison: Comparison,
}

#[derive(Serialize)]
struct VersionRef {
    id: String,
    version: String,
}

async fn compare_versions(req: &Request, prompt_id: &str) -> Result<impl Serialize, ApiError> {
    let (principal, db, query) = authorize(req, Scope::PromptsRead, &["from", "to"]).await?;
    let (from_id, to_id) = (query.require("from")?, query.require("to")?);
    let org = &principal.organization_id;
    prompts::get(&db, org, prompt_id).await?;
    let from = versions::get(&db, org, prompt_id, from_id).await?;
    let to = versions::get(&db, org, prompt_id, to_id).await?;
    let comparison = compare(&from.content, &to.content);
    Ok(CompareResponse {
        prompt_id: prompt_id.to_owned(),
        changed: comparison.has_changes(),
        from: VersionRef {
            id: from.id,
            version: from.version,
        },
        to: VersionRef {
            id: to.id,
            version: to.version,
        },
        comparison,
    })
}
