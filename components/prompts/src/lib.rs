//! The `prompts` component: create, list, read, archive and unarchive
//! prompts. Routes (spin.toml): `/api/v1/prompts`, `/api/v1/prompts/:id`,
//! `/api/v1/prompts/:id/archive`, `/api/v1/prompts/:id/unarchive`.
//!
//! Archive and unarchive change what the gateway may execute, so they write
//! through to the key-value cache; hence this component's KV grant.

use prompthelm_component_kit::request::{path_param, read_json};
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::requests::NewPrompt;
use prompthelm_store::cache;
use prompthelm_store::caller::{authorize, authorize_ignoring_query};
use prompthelm_store::{Stamp, prompt_detail, prompts};
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    List,
    Create,
    Detail,
    Archive,
    Unarchive,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::GET, "/api/v1/prompts", Endpoint::List),
    route(Method::POST, "/api/v1/prompts", Endpoint::Create),
    route(Method::GET, "/api/v1/prompts/:id", Endpoint::Detail),
    route(
        Method::POST,
        "/api/v1/prompts/:id/archive",
        Endpoint::Archive,
    ),
    route(
        Method::POST,
        "/api/v1/prompts/:id/unarchive",
        Endpoint::Unarchive,
    ),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let id = path_param(&req, "id").unwrap_or_default();
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::List) => ctx.respond(StatusCode::OK, list(&req).await),
        Ok(Endpoint::Create) => ctx.respond(StatusCode::CREATED, create(&ctx, req).await),
        Ok(Endpoint::Detail) => ctx.respond(StatusCode::OK, detail(&req, &id).await),
        Ok(Endpoint::Archive) => {
            ctx.respond(StatusCode::OK, set_archived(&ctx, &req, &id, true).await)
        }
        Ok(Endpoint::Unarchive) => {
            ctx.respond(StatusCode::OK, set_archived(&ctx, &req, &id, false).await)
        }
    }
}

async fn list(req: &Request) -> Result<impl serde::Serialize, ApiError> {
    let (principal, db, query) = authorize(
        req,
        Scope::PromptsRead,
        &["q", "includeArchived", "limit", "cursor"],
    )
    .await?;
    let filter = prompts::Filter {
        search: query.get("q").filter(|q| !q.is_empty()).map(str::to_owned),
        include_archived: query.flag("includeArchived")?,
    };
    prompts::list(&db, &principal.organization_id, &filter, &query.page()?).await
}

async fn create(ctx: &RequestContext, req: Request) -> Result<impl serde::Serialize, ApiError> {
    let (principal, db, _) = authorize_ignoring_query(&req, Scope::PromptsWrite).await?;
    let body: NewPrompt = read_json(req).await?;
    body.validate().map_err(ApiError::invalid_fields)?;
    let stamp = Stamp::from(ctx);
    db.transaction(async |db| {
        let new = prompts::NewPrompt {
            name: body.name.trim(),
            slug: &body.slug,
            description: &body.description,
        };
        prompts::create(db, &principal, new, stamp).await
    })
    .await
}

async fn detail(req: &Request, id: &str) -> Result<impl serde::Serialize, ApiError> {
    let (principal, db, _) = authorize(req, Scope::PromptsRead, &[]).await?;
    prompt_detail::get(&db, &principal.organization_id, id).await
}

async fn set_archived(
    ctx: &RequestContext,
    req: &Request,
    id: &str,
    archived: bool,
) -> Result<impl serde::Serialize, ApiError> {
    let (principal, db, _) = authorize(req, Scope::PromptsWrite, &[]).await?;
    let stamp = Stamp::from(ctx);
    let prompt = db
        .transaction(async |db| prompts::set_archived(db, &principal, id, archived, stamp).await)
        .await?;
    // Committed: a failed cache refresh is a warning, never an error (the
    // gateway checks every entry's generation against the database).
    let warnings = cache::refresh_after_commit(&db, &principal.organization_id, id)
        .await
        .into_iter()
        .collect();
    Ok(WithWarnings { prompt, warnings })
}

/// A prompt, plus what went wrong after its change committed.
#[derive(serde::Serialize)]
struct WithWarnings<T: serde::Serialize> {
    #[serde(flatten)]
    prompt: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}
