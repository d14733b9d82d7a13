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

use prompthelm_component_kit::request::{path_param, read_optional_json};
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::auth::Scope;
use prompthelm_store::cache;
use prompthelm_store::caller::authorize;
use prompthelm_store::versions::{self, Expected, Promotion};
use prompthelm_store::{Stamp, prompts};
use serde::Deserialize;
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Promote,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[route(
    Method::POST,
    "/api/v1/prompts/:id/versions/:vid/promote",
    Endpoint::Promote,
)]);

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
