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
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, route,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::ids::DEFAULT_ORGANIZATION;
use prompthelm_domain::requests::{NewOrganization, NewToken};
use prompthelm_store::Stamp;
use prompthelm_store::auth::{Principal, token_hash_key};
use prompthelm_store::caller::{authorize, authorize_ignoring_query, identify_caller};
use prompthelm_store::tokens::{self, MintedToken, Organization};
use serde::Serialize;
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    List,
    Mint,
    Current,
    Get,
    Revoke,
    CreateOrganization,
    CurrentOrganization,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::GET, "/api/v1/tokens", Endpoint::List),
    route(Method::POST, "/api/v1/tokens", Endpoint::Mint),
    route(Method::GET, "/api/v1/tokens/current", Endpoint::Current),
    route(Method::GET, "/api/v1/tokens/:id", Endpoint::Get),
    route(Method::DELETE, "/api/v1/tokens/:id", Endpoint::Revoke),
    route(
        Method::POST,
        "/api/v1/organizations",
        Endpoint::CreateOrganization,
    ),
    route(
        Method::GET,
        "/api/v1/organizations/current",
        Endpoint::CurrentOrganization,
    ),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let id = path_param(&req, "id").unwrap_or_default();
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::List) => ctx.respond(StatusCode::OK, list(&req).await),
        Ok(Endpoint::Mint) => ctx.respond(StatusCode::CREATED, mint(&ctx, req).await),
        Ok(Endpoint::Current) => ctx.respond(StatusCode::OK, current(&req).await),
        Ok(Endpoint::Get) => ctx.respond(StatusCode::OK, get(&req, &id).await),
        Ok(Endpoint::Revoke) => ctx.respond(StatusCode::OK, revoke(&ctx, &req, &id).await),
        Ok(Endpoint::CreateOrganization) => {
            ctx.respond(StatusCode::CREATED, create_organization(&ctx, req).await)
        }
        Ok(Endpoint::CurrentOrganization) => {
            ctx.respond(StatusCode::OK, current_organization(&req).await)
        }
    }
}

async fn list(req: &Request) -> Result<impl Serialize, ApiError> {
    let (principal, db, query) = authorize(req, Scope::Admin, &["limit", "cursor"]).await?;
    tokens::list(&db, &principal.organization_id, &query.page()?).await
}

async fn mint(ctx: &RequestContext, req: Request) -> Result<MintedToken, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::Admin, &[]).await?;
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
    let (principal, db, _) = authorize(req, Scope::Admin, &[]).await?;
    tokens::get(&db, &principal.organization_id, id).await
}

async fn revoke(ctx: &RequestContext, req: &Request, id: &str) -> Result<impl Serialize, ApiError> {
    let (principal, db, _) = authorize(req, Scope::Admin, &[]).await?;
    db.transaction(async |db| tokens::revoke(db, &principal, id, Stamp::from(ctx)).await)
        .await
}

/// `GET /api/v1/tokens/current`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CurrentToken {
    /// The token id, or `bootstrap`.
    id: String,
    name: String,
    actor_type: &'static str,
    scopes: Vec<Scope>,
    organization: Organization,
}

async fn current(req: &Request) -> Result<CurrentToken, ApiError> {
    let (principal, db, _) = identify_caller(req, &[]).await?;
    Ok(CurrentToken {
        organization: tokens::organization(&db, &principal.organization_id).await?,
        id: principal.actor,
        name: principal.actor_name,
        actor_type: principal.actor_type.as_str(),
        scopes: principal.scopes,
    })
}

async fn current_organization(req: &Request) -> Result<Organization, ApiError> {
    let (principal, db, _) = identify_caller(req, &[]).await?;
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
    // The operator check comes before the query's.
    let (principal, db, _) = authorize_ignoring_query(&req, Scope::Admin).await?;
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
