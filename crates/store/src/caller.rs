//! The preamble every authenticated endpoint starts with, in one place:
//! open the database, authenticate the bearer token for the endpoint's
//! scope, read the query's allow-listed parameters; in that order, so a
//! caller without the right token learns nothing about the query (the
//! order ARCHITECTURE.md's invariants name).
//!
//! It lives here rather than in the component kit because it needs the
//! database and `auth`, which build on the kit.
//!
//! ```ignore
//! let (principal, db, query) =
//!     authorize(&req, Scope::PromptsRead, &["limit", "cursor"]).await?;
//! ```

use prompthelm_component_kit::ApiError;
use prompthelm_component_kit::request::Query;
use prompthelm_domain::auth::Scope;

use crate::auth::{Principal, authenticate, identify};
use crate::db::Db;

/// An authenticated request, ready for the endpoint's own logic: who
/// calls, the database connection, and the query (only with the
/// parameters the endpoint allows).
pub type Caller = (Principal, Db, Query);

/// Opens the database, authenticates the request for `scope` (401/403)
/// and parses its query, allowing only `allowed` (400).
pub async fn authorize<B>(
    req: &http::Request<B>,
    scope: Scope,
    allowed: &[&str],
) -> Result<Caller, ApiError> {
    preamble(req, Some(scope), Some(allowed)).await
}

/// [`authorize`] for endpoints that never read their query (it is not
/// checked).
pub async fn authorize_ignoring_query<B>(
    req: &http::Request<B>,
    scope: Scope,
) -> Result<Caller, ApiError> {
    preamble(req, Some(scope), None).await
}

/// [`authorize`] for any valid token, whatever its scopes.
pub async fn identify_caller<B>(
    req: &http::Request<B>,
    allowed: &[&str],
) -> Result<Caller, ApiError> {
    preamble(req, None, Some(allowed)).await
}

async fn preamble<B>(
    req: &http::Request<B>,
    scope: Option<Scope>,
    allowed: Option<&[&str]>,
) -> Result<Caller, ApiError> {
    let db = Db::open().await?;
    let principal = match scope {
        Some(scope) => authenticate(&db, req.headers(), scope).await?,
        None => identify(&db, req.headers()).await?,
    };
    let query = match allowed {
        Some(allowed) => Query::parse(req.uri(), allowed)?,
        None => Query::default(),
    };
    Ok((principal, db, query))
}
