//! The `webhooks` component (issue 17 §3, "notify"): an organization's
//! webhook endpoints and their delivery log. Routes (spin.toml), all with
//! scope `admin`:
//!
//! - `POST /api/v1/webhooks`: `{"url", "events"?, "description"?}` → 201
//!   with the signing secret (`whsec_…`), shown this once; audited
//!   (`webhook.create`). The URL must be on the deployment's
//!   `webhook_origin` (the one outbound host spin.toml grants for
//!   webhooks): any other is a 422, since Spin would refuse to send there.
//! - `GET /api/v1/webhooks`: the endpoints, newest first, paged.
//! - `GET`/`DELETE /api/v1/webhooks/:id`: one endpoint; deleting it drops
//!   its deliveries too (audited: `webhook.delete`).
//! - `GET /api/v1/webhooks/:id/deliveries`: the delivery log, newest
//!   first, each delivery with its attempts.
//! - `POST /api/v1/webhooks/:id/deliveries/:did/retry`: one attempt now.
//!
//! Validation is `prompthelm_domain::webhook`; storage and sending
//! `prompthelm_store::webhooks`. The regression watch enqueues the
//! deliveries (`prompthelm_store::watch`), the gateway sends them.

use prompthelm_component_kit::request::{path_param, read_json};
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
    secure_random_bytes, variables,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::pagination::Page;
use prompthelm_domain::webhook::{self, WebhookInput};
use prompthelm_store::Stamp;
use prompthelm_store::caller::authorize;
use prompthelm_store::webhooks::{self, Created, Delivery, Webhook};
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Create,
    List,
    Get,
    Delete,
    Deliveries,
    Retry,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::POST, "/api/v1/webhooks", Endpoint::Create),
    route(Method::GET, "/api/v1/webhooks", Endpoint::List),
    route(Method::GET, "/api/v1/webhooks/:id", Endpoint::Get),
    route(Method::DELETE, "/api/v1/webhooks/:id", Endpoint::Delete),
    route(
        Method::GET,
        "/api/v1/webhooks/:id/deliveries",
        Endpoint::Deliveries,
    ),
    route(
        Method::POST,
        "/api/v1/webhooks/:id/deliveries/:did/retry",
        Endpoint::Retry,
    ),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let id = path_param(&req, "id").unwrap_or_default();
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::Create) => ctx.respond(StatusCode::CREATED, create(&ctx, req).await),
        Ok(Endpoint::List) => ctx.respond(StatusCode::OK, list(&req).await),
        Ok(Endpoint::Get) => ctx.respond(StatusCode::OK, get(&req, &id).await),
        Ok(Endpoint::Delete) => ctx.respond(StatusCode::OK, delete(&ctx, &req, &id).await),
        Ok(Endpoint::Deliveries) => ctx.respond(StatusCode::OK, deliveries(&req, &id).await),
        Ok(Endpoint::Retry) => {
            let did = path_param(&req, "did").unwrap_or_default();
            ctx.respond(StatusCode::OK, retry(&req, &id, &did).await)
        }
    }
}

async fn create(ctx: &RequestContext, req: Request) -> Result<Created, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::Admin, &[]).await?;
    let input: WebhookInput = read_json(req).await?;
    let allowed = variables::get("webhook_origin").await?;
    let new = webhook::validate(input, &allowed).map_err(ApiError::invalid_fields)?;
    let mut random = [0u8; 32];
    random[..16].copy_from_slice(&secure_random_bytes());
    random[16..].copy_from_slice(&secure_random_bytes());
    let secret = webhook::format_secret(random);
    webhooks::create(&db, &principal, Stamp::from(ctx), &new, secret).await
}

async fn list(req: &Request) -> Result<Page<Webhook>, ApiError> {
    let (principal, db, query) = authorize(req, Scope::Admin, &["limit", "cursor"]).await?;
    let page = query.page()?;
    webhooks::list(&db, &principal.organization_id, &page).await
}

async fn get(req: &Request, id: &str) -> Result<Webhook, ApiError> {
    let (principal, db, _) = authorize(req, Scope::Admin, &[]).await?;
    webhooks::get(&db, &principal.organization_id, id).await
}

async fn delete(
    ctx: &RequestContext,
    req: &Request,
    id: &str,
) -> Result<prompthelm_component_kit::serde_json::Value, ApiError> {
    let (principal, db, _) = authorize(req, Scope::Admin, &[]).await?;
    webhooks::delete(&db, &principal, Stamp::from(ctx), id).await
}

async fn deliveries(req: &Request, id: &str) -> Result<Page<Delivery>, ApiError> {
    let (principal, db, query) = authorize(req, Scope::Admin, &["limit", "cursor"]).await?;
    let page = query.page()?;
    webhooks::deliveries(&db, &principal.organization_id, id, &page).await
}

async fn retry(req: &Request, id: &str, did: &str) -> Result<Delivery, ApiError> {
    let (principal, db, _) = authorize(req, Scope::Admin, &[]).await?;
    let base = variables::number::<u64>("webhook_retry_base_seconds", 1..=3_600).await?;
    webhooks::retry(&db, &principal.organization_id, id, did, base).await
}
