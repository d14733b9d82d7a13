//! The `tokens` component: API tokens and organizations. Routes
//! (spin.toml): `/api/v1/tokens`, `/api/v1/tokens/:id`,
//! `/api/v1/organizations`, `/api/v1/organizations/current`.
//!
//! - `POST /api/v1/tokens` mints a token (the secret is in the response,
//!   once); `GET /api/v1/tokens` lists them without secrets;
//!   `DELETE /api/v1/tokens/:id` revokes one. All need `admin`.
//! - `GET /api/v1/tokens/current` describes the calling token (any scope):
//!   what a client signing in wants to know.
//! - `POST /api/v1/organizations` creates an organization with a first
//!   admin token. Only admins of the default organization (the instance's
//!   operators) may; everyone else gets 403.
//! - `GET /api/v1/organizations/current`: the caller's organization.

use prompthelm_component_kit::request::{Query, path_param, read_json};
use prompthelm_component_kit::{ApiError, JsonResponse, Method, RequestContext, StatusCode};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::ids::DEFAULT_ORGANIZATION;
use prompthelm_domain::requests::{NewOrganization, NewToken};
use prompthelm_store::Stamp;
use prompthelm_store::auth::{Principal, authenticate, identify, token_hash_key};
use prompthelm_store::db::Db;
use prompthelm_store::tokens::{self, MintedToken, Organization};
use serde::Serialize;
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let id = path_param(&req, "id");
    if path.starts_with("/api/v1/organizations") {
        return match (path.ends_with("/current"), method) {
            (true, Method::GET) => ctx.respond(StatusCode::OK, current_organization(&req).await),
            (true, m) => ctx.method_not_allowed(&m, &path, &[Method::GET]),
            (false, Method::POST) => {
                ctx.respond(StatusCode::CREATED, create_organization(&ctx, req).await)
            }
            (false, m) => ctx.method_not_allowed(&m, &path, &[Method::POST]),
        };
    }
    match (id.as_deref(), method) {
        (None, Method::GET) => ctx.respond(StatusCode::OK, list(&req).await),
        (None, Method::POST) => ctx.respond(StatusCode::CREATED, mint(&ctx, req).await),
        (None, m) => ctx.method_not_allowed(&m, &path, &[Method::GET, Method::POST]),
        (Some("current"), Method::GET) => ctx.respond(StatusCode::OK, current(&req).await),
        (Some("current"), m) => ctx.method_not_allowed(&m, &path, &[Method::GET]),
        (Some(id), Method::GET) => ctx.respond(StatusCode::OK, get(&req, id).await),
        (Some(id), Method::DELETE) => ctx.respond(StatusCode::OK, revoke(&ctx, &req, id).await),
        (Some(_), m) => ctx.method_not_allowed(&m, &path, &[Method::GET, Method::DELETE]),
    }
}

async fn list(req: &Request) -> Result<impl Serialize, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::Admin).await?;
    let query = Query::parse(req.uri(), &["limit", "cursor"])?;
    tokens::list(&db, &principal.organization_id, &query.page()?).await
}

async fn mint(ctx: &RequestContext, req: Request) -> Result<MintedToken, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::Admin).await?;
    Query::parse(req.uri(), &[])?;
    let body: NewToken = read_json(req).await?;
    let scopes = body.validate().map_err(ApiError::invalid_fields)?;
    let key = token_hash_key().await?;
    let new = tokens::NewToken {
        organization_id: &principal.organization_id,
        name: body.name.trim(),
        scopes: &scopes,
    };
    db.transaction(async |db| tokens::mint(db, &principal, new, &key, Stamp::from(ctx)).await)
        .await
}

async fn get(req: &Request, id: &str) -> Result<impl Serialize, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::Admin).await?;
    Query::parse(req.uri(), &[])?;
    tokens::get(&db, &principal.organization_id, id).await
}

async fn revoke(ctx: &RequestContext, req: &Request, id: &str) -> Result<impl Serialize, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::Admin).await?;
    Query::parse(req.uri(), &[])?;
    db.transaction(async |db| tokens::revoke(db, &principal, id, Stamp::from(ctx)).await)
        .await
}

/// `GET /api/v1/tokens/current`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Caller {
    /// The token id, or `bootstrap`.
    id: String,
    name: String,
    actor_type: &'static str,
    scopes: Vec<Scope>,
    organization: Organization,
}

async fn current(req: &Request) -> Result<Caller, ApiError> {
    let db = Db::open().await?;
    let principal = identify(&db, req.headers()).await?;
    Query::parse(req.uri(), &[])?;
    Ok(Caller {
        organization: tokens::organization(&db, &principal.organization_id).await?,
        id: principal.actor,
        name: principal.actor_name,
        actor_type: principal.actor_type.as_str(),
        scopes: principal.scopes,
    })
}

async fn current_organization(req: &Request) -> Result<Organization, ApiError> {
    let db = Db::open().await?;
    let principal = identify(&db, req.headers()).await?;
    Query::parse(req.uri(), &[])?;
    tokens::organization(&db, &principal.organization_id).await
}

/// `POST /api/v1/organizations`: the new organization and its first token.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedOrganization {
    organization: Organization,
    token: MintedToken,
}

/// Only the operators of the instance (admins of the default organization)
/// create organizations; to anyone else the endpoint says 403.
fn require_operator(principal: &Principal) -> Result<(), ApiError> {
    if principal.organization_id == DEFAULT_ORGANIZATION {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only admins of the default organization can create organizations",
        ))
    }
}

async fn create_organization(
    ctx: &RequestContext,
    req: Request,
) -> Result<CreatedOrganization, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::Admin).await?;
    require_operator(&principal)?;
    Query::parse(req.uri(), &[])?;
    let body: NewOrganization = read_json(req).await?;
    body.validate().map_err(ApiError::invalid_fields)?;
    let key = token_hash_key().await?;
    let name = body.name.trim();
    db.transaction(async |db| {
        let organization =
            tokens::create_organization(db, &principal, name, Stamp::from(ctx)).await?;
        let new = tokens::NewToken {
            organization_id: &organization.id,
            name: "first admin",
            scopes: &[Scope::Admin],
        };
        let token = tokens::mint(db, &principal, new, &key, Stamp::from(ctx)).await?;
        Ok(CreatedOrganization {
            organization,
            token,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompthelm_domain::envelope::codes;
    use prompthelm_store::auth::ActorType;

    #[test]
    fn only_default_organization_admins_are_operators() {
        let mut p = Principal {
            organization_id: DEFAULT_ORGANIZATION.into(),
            actor: "tok_1".into(),
            actor_name: "ops".into(),
            actor_type: ActorType::ApiToken,
            scopes: vec![Scope::Admin],
        };
        assert!(require_operator(&p).is_ok());
        p.organization_id = "org_other".into();
        assert_eq!(require_operator(&p).unwrap_err().code, codes::FORBIDDEN);
    }
}
