//! The `audit` component: `GET /api/v1/audit`, the organization's audit log,
//! newest first, filtered by `action`, `actorType`, `promptId`, `from` and
//! `to`. Read-only: the log has no endpoint that changes it.

use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::pagination::Page;
use prompthelm_store::audit::{self, Entry, Filter};
use prompthelm_store::auth::ActorType;
use prompthelm_store::caller::authorize;
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    List,
}

const ROUTES: RouteTable<Endpoint> =
    RouteTable(&[route(Method::GET, "/api/v1/audit", Endpoint::List)]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::List) => ctx.respond(StatusCode::OK, list(&req).await),
    }
}

async fn list(req: &Request) -> Result<Page<Entry>, ApiError> {
    let (principal, db, query) = authorize(
        req,
        Scope::AuditRead,
        &[
            "action",
            "actorType",
            "promptId",
            "from",
            "to",
            "limit",
            "cursor",
        ],
    )
    .await?;
    let actor_type = query
        .get("actorType")
        .map(|t| {
            ActorType::parse(t).ok_or_else(|| {
                ApiError::validation_error(format!(
                    "actorType must be one of user, api_token, system; not {t:?}"
                ))
            })
        })
        .transpose()?;
    let filter = Filter {
        action: query.get("action").map(str::to_owned),
        actor_type,
        prompt_id: query.get("promptId").map(str::to_owned),
        from: query.timestamp("from")?,
        to: query.timestamp("to")?,
    };
    audit::list(&db, &principal.organization_id, &filter, &query.page()?).await
}
