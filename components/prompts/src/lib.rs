//! The `prompts` component: create, list, read, archive and unarchive
//! prompts. Routes (spin.toml): `/api/v1/prompts`, `/api/v1/prompts/:id`,
//! `/api/v1/prompts/:id/archive`, `/api/v1/prompts/:id/unarchive`.
//!
//! Archive and unarchive change what the gateway may execute, so they write
//! through to the key-value cache; hence this component's KV grant.

use prompthelm_component_kit::request::{Query, matched_route, path_param, read_json};
use prompthelm_component_kit::{ApiError, JsonResponse, Method, RequestContext, StatusCode};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::requests::NewPrompt;
use prompthelm_store::auth::authenticate;
use prompthelm_store::cache;
use prompthelm_store::db::Db;
use prompthelm_store::{Stamp, prompts};
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = matched_route(&req).unwrap_or_default().to_owned();
    let Some(id) = path_param(&req, "id") else {
        return match method {
            Method::GET => ctx.respond(StatusCode::OK, list(&req).await),
            Method::POST => ctx.respond(StatusCode::CREATED, create(&ctx, req).await),
            _ => ctx.method_not_allowed(&method, &path, &[Method::GET, Method::POST]),
        };
    };
    let archive = if route.ends_with("/:id/archive") {
        Some(true)
    } else if route.ends_with("/:id/unarchive") {
        Some(false)
    } else {
        None
    };
    match (archive, method) {
        (Some(archived), Method::POST) => ctx.respond(
            StatusCode::OK,
            set_archived(&ctx, &req, &id, archived).await,
        ),
        (Some(_), method) => ctx.method_not_allowed(&method, &path, &[Method::POST]),
        (None, Method::GET) => ctx.respond(StatusCode::OK, detail(&req, &id).await),
        (None, method) => ctx.method_not_allowed(&method, &path, &[Method::GET]),
    }
}

async fn list(req: &Request) -> Result<impl serde::Serialize, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::PromptsRead).await?;
    let query = Query::parse(req.uri(), &["q", "includeArchived", "limit", "cursor"])?;
    let filter = prompts::Filter {
        search: query.get("q").filter(|q| !q.is_empty()).map(str::to_owned),
        include_archived: query.flag("includeArchived")?,
    };
    prompts::list(&db, &principal.organization_id, &filter, &query.page()?).await
}

async fn create(ctx: &RequestContext, req: Request) -> Result<impl serde::Serialize, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::PromptsWrite).await?;
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
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::PromptsRead).await?;
    Query::parse(req.uri(), &[])?;
    prompts::detail(&db, &principal.organization_id, id).await
}

async fn set_archived(
    ctx: &RequestContext,
    req: &Request,
    id: &str,
    archived: bool,
) -> Result<impl serde::Serialize, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::PromptsWrite).await?;
    Query::parse(req.uri(), &[])?;
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
