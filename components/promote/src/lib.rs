//! The `promote` component: `POST /api/v1/prompts/:id/versions/:vid/promote`,
//! exactly as the rollback walkthrough calls it.
//!
//! One transaction moves the production pointer and appends the
//! `prompt.promote` audit entry (with `revert: true` for a rollback); then
//! the key-value cache is refreshed, so the next gateway call resolves to
//! the new version. Promoting the production version again changes nothing
//! but still refreshes the cache, which makes a retry after a failed cache
//! write heal it.

use prompthelm_component_kit::request::{Query, path_param};
use prompthelm_component_kit::{ApiError, JsonResponse, Method, RequestContext, StatusCode};
use prompthelm_domain::auth::Scope;
use prompthelm_store::auth::authenticate;
use prompthelm_store::cache::{self, PromptRef};
use prompthelm_store::db::Db;
use prompthelm_store::versions::{self, Promotion};
use prompthelm_store::{Stamp, prompts};
use spin_sdk::http::Request;
use spin_sdk::key_value::Store;

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (Some(prompt_id), Some(version_id)) = (path_param(&req, "id"), path_param(&req, "vid"))
    else {
        return ctx.not_found(&method, &path);
    };
    match method {
        Method::POST => ctx.respond(
            StatusCode::OK,
            promote(&ctx, &req, &prompt_id, &version_id).await,
        ),
        _ => ctx.method_not_allowed(&method, &path, &[Method::POST]),
    }
}

async fn promote(
    ctx: &RequestContext,
    req: &Request,
    prompt_id: &str,
    version_id: &str,
) -> Result<Promotion, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::PromptsWrite).await?;
    Query::parse(req.uri(), &[])?;
    let stamp = Stamp::from(ctx);
    // Checked before the transaction too, so a 404 never takes the write lock.
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    let promotion = db
        .transaction(async |db| {
            versions::promote(db, &principal, prompt_id, version_id, stamp).await
        })
        .await?;
    let kv = Store::open_default().await?;
    cache::refresh(
        &db,
        &kv,
        &principal.organization_id,
        PromptRef::Id(prompt_id),
    )
    .await?;
    Ok(promotion)
}
