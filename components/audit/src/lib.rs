//! The `audit` component: `GET /api/v1/audit`, the organization's audit log,
//! newest first, filtered by `action`, `actorType`, `promptId`, `from` and
//! `to`. Read-only: the log has no endpoint that changes it.

use prompthelm_component_kit::request::Query;
use prompthelm_component_kit::{ApiError, JsonResponse, Method, RequestContext, StatusCode};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::pagination::Page;
use prompthelm_store::audit::{self, Entry, Filter};
use prompthelm_store::auth::{ActorType, authenticate};
use prompthelm_store::db::Db;
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    match req.method() {
        &Method::GET => ctx.respond(StatusCode::OK, list(&req).await),
        other => ctx.method_not_allowed(other, req.uri().path(), &[Method::GET]),
    }
}

async fn list(req: &Request) -> Result<Page<Entry>, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::AuditRead).await?;
    let query = Query::parse(
        req.uri(),
        &[
            "action",
            "actorType",
            "promptId",
            "from",
            "to",
            "limit",
            "cursor",
        ],
    )?;
    let actor_type = query
        .get("actorType")
        .map(|t| {
            ActorType::parse(t).ok_or_else(|| {
                ApiError::bad_request(format!(
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
