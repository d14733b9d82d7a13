//! The `promote` component: `POST /api/v1/prompts/:id/versions/:vid/promote`,
//! exactly as the rollback walkthrough calls it (no body), with an optional
//! JSON body `{"expectedCurrentVersionId": "ver_…" | null}` that makes it a
//! compare-and-swap (409 `PRECONDITION_FAILED` when production moved).
//!
//! One transaction moves the production pointer, bumps the prompt's
//! generation and appends the `prompt.promote` audit entry (with `revert:
//! true` for a rollback). Only then is the key-value cache refreshed, best
//! effort: the gateway never serves an entry of another generation, so a
//! refresh that fails (or never runs, after a crash) cannot make a call
//! serve the previous version. It becomes a `warnings` entry of the 200,
//! because the promote did happen. Promoting the production version again
//! changes nothing and refreshes the cache again, so a retry is harmless.
//! A promote ends a running canary in the same transaction.
//!
//! It also serves the sticky canary, `/api/v1/prompts/:id/canary`: `POST`
//! starts one (201) or changes the running one (200), `GET` shows it (`null`
//! when none runs), `DELETE ?outcome=revert|promote` ends it. Each change is
//! one transaction with its audit entry and a generation bump, then the same
//! cache refresh, so the next gateway call sees it.
//!
//! And the regression watch's policy, `/api/v1/prompts/:id/watch`: `PUT`
//! sets it (audited, generation bumped, cache refreshed), `GET` shows it
//! with the last verdict. The watch itself runs in the gateway
//! (`store::watch::after_call`).

use prompthelm_component_kit::request::{path_param, read_json, read_optional_json};
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::canary::CanaryRequest;
use prompthelm_domain::watch::PolicyRequest;
use prompthelm_store::cache;
use prompthelm_store::caller::authorize;
use prompthelm_store::canary::{self, Canary, CanaryChange, Outcome};
use prompthelm_store::versions::{self, CanaryEnd, Expected, Promotion};
use prompthelm_store::watch::{self, WatchState};
use prompthelm_store::{Stamp, prompts};
use serde::{Deserialize, Serialize};
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Promote,
    StartCanary,
    GetCanary,
    EndCanary,
    GetWatch,
    PutWatch,
}

const CANARY: &str = "/api/v1/prompts/:id/canary";

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(
        Method::POST,
        "/api/v1/prompts/:id/versions/:vid/promote",
        Endpoint::Promote,
    ),
    route(Method::POST, CANARY, Endpoint::StartCanary),
    route(Method::GET, CANARY, Endpoint::GetCanary),
    route(Method::DELETE, CANARY, Endpoint::EndCanary),
    route(Method::GET, WATCH, Endpoint::GetWatch),
    route(Method::PUT, WATCH, Endpoint::PutWatch),
]);

const WATCH: &str = "/api/v1/prompts/:id/watch";

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::Promote) => {
            let prompt_id = path_param(&req, "id").unwrap_or_default();
            let version_id = path_param(&req, "vid").unwrap_or_default();
            ctx.respond(
                StatusCode::OK,
                promote(&ctx, req, &prompt_id, &version_id).await,
            )
        }
        Ok(Endpoint::StartCanary) => {
            let prompt_id = path_param(&req, "id").unwrap_or_default();
            match start_canary(&ctx, req, &prompt_id).await {
                Ok(change) if change.created => ctx.json(StatusCode::CREATED, &change),
                other => ctx.respond(StatusCode::OK, other),
            }
        }
        Ok(Endpoint::GetCanary) => {
            let prompt_id = path_param(&req, "id").unwrap_or_default();
            ctx.respond(StatusCode::OK, get_canary(&req, &prompt_id).await)
        }
        Ok(Endpoint::EndCanary) => {
            let prompt_id = path_param(&req, "id").unwrap_or_default();
            ctx.respond(StatusCode::OK, end_canary(&ctx, &req, &prompt_id).await)
        }
        Ok(Endpoint::GetWatch) => {
            let prompt_id = path_param(&req, "id").unwrap_or_default();
            ctx.respond(StatusCode::OK, get_watch(&req, &prompt_id).await)
        }
        Ok(Endpoint::PutWatch) => {
            let prompt_id = path_param(&req, "id").unwrap_or_default();
            ctx.respond(StatusCode::OK, put_watch(&ctx, req, &prompt_id).await)
        }
    }
}

/// The optional body. `expectedCurrentVersionId` absent: no check; `null`:
/// production must have no version yet; an id: production must be it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PromoteBody {
    #[serde(default, deserialize_with = "present")]
    expected_current_version_id: Option<Option<String>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn promote(
    ctx: &RequestContext,
    req: Request,
    prompt_id: &str,
    version_id: &str,
) -> Result<Promotion, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::PromptsWrite, &[]).await?;
    let body: PromoteBody = read_optional_json(req).await?;
    let expected = match &body.expected_current_version_id {
        None => Expected::Anything,
        Some(None) => Expected::Nothing,
        Some(Some(id)) => Expected::Version(id),
    };
    let stamp = Stamp::from(ctx);
    // Checked before the transaction too, so a 404 never takes the write lock.
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    let mut promotion = db
        .transaction(async |db| {
            versions::promote(db, &principal, prompt_id, version_id, expected, stamp).await
        })
        .await?;
    // Committed: from here on nothing may turn the answer into an error.
    promotion
        .warnings
        .extend(cache::refresh_after_commit(&db, &principal.organization_id, prompt_id).await);
    Ok(promotion)
}

/// `POST /api/v1/prompts/:id/canary`: starts a canary or changes the
/// running one. Scope `prompts:write`.
async fn start_canary(
    ctx: &RequestContext,
    req: Request,
    prompt_id: &str,
) -> Result<CanaryChange, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::PromptsWrite, &[]).await?;
    let body: CanaryRequest = read_json(req).await?;
    let settings = body.validate().map_err(ApiError::invalid_fields)?;
    let stamp = Stamp::from(ctx);
    // Checked before the transaction too, so a 404 never takes the write lock.
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    let mut change = db
        .transaction(async |db| canary::set(db, &principal, prompt_id, &settings, stamp).await)
        .await?;
    // Committed: from here on nothing may turn the answer into an error.
    change
        .warnings
        .extend(cache::refresh_after_commit(&db, &principal.organization_id, prompt_id).await);
    Ok(change)
}

/// `GET`'s answer: the running canary, or `null`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanaryState {
    prompt_id: String,
    canary: Option<Canary>,
}

/// `GET /api/v1/prompts/:id/canary`. Scope `prompts:read`.
async fn get_canary(req: &Request, prompt_id: &str) -> Result<CanaryState, ApiError> {
    let (principal, db, _) = authorize(req, Scope::PromptsRead, &[]).await?;
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    Ok(CanaryState {
        prompt_id: prompt_id.to_owned(),
        canary: canary::get(&db, &principal.organization_id, prompt_id).await?,
    })
}

/// `DELETE /api/v1/prompts/:id/canary?outcome=revert|promote` (default
/// `revert`). Scope `prompts:write`.
async fn end_canary(
    ctx: &RequestContext,
    req: &Request,
    prompt_id: &str,
) -> Result<CanaryEnd, ApiError> {
    let (principal, db, query) = authorize(req, Scope::PromptsWrite, &["outcome"]).await?;
    let outcome = match query.get("outcome") {
        None => Outcome::Revert,
        Some(name) => Outcome::parse(name).ok_or_else(|| {
            ApiError::validation_error(format!("outcome must be revert or promote, not {name:?}"))
        })?,
    };
    let stamp = Stamp::from(ctx);
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    let mut ended = db
        .transaction(async |db| {
            versions::end_canary(db, &principal, prompt_id, outcome, stamp).await
        })
        .await?;
    ended
        .warnings
        .extend(cache::refresh_after_commit(&db, &principal.organization_id, prompt_id).await);
    Ok(ended)
}

/// `GET /api/v1/prompts/:id/watch`: the policy (defaults when never set)
/// and the last verdict with its numbers. Scope `prompts:read`.
async fn get_watch(req: &Request, prompt_id: &str) -> Result<WatchState, ApiError> {
    let (principal, db, _) = authorize(req, Scope::PromptsRead, &[]).await?;
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    watch::get(&db, &principal.organization_id, prompt_id).await
}

/// `PUT /api/v1/prompts/:id/watch`: sets the policy (`mode` required, every
/// threshold left out takes its default; 422 naming each bad one). Scope
/// `prompts:write`. Audited `prompt.watch.update`; the gateway's cache
/// entry follows through the generation, like a promote.
async fn put_watch(
    ctx: &RequestContext,
    req: Request,
    prompt_id: &str,
) -> Result<WatchState, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::PromptsWrite, &[]).await?;
    let body: PolicyRequest = read_json(req).await?;
    let policy = body.validate().map_err(ApiError::invalid_fields)?;
    let stamp = Stamp::from(ctx);
    // Checked before the transaction too, so a 404 never takes the write lock.
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    let mut state = db
        .transaction(async |db| watch::put(db, &principal, prompt_id, &policy, stamp).await)
        .await?;
    // Committed: from here on nothing may turn the answer into an error.
    state
        .warnings
        .extend(cache::refresh_after_commit(&db, &principal.organization_id, prompt_id).await);
    Ok(state)
}
