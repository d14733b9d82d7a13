//! Who is calling: the bearer token of a request, checked against the
//! `api_tokens` table (or the `bootstrap_token` variable), and whether it
//! holds the scope an endpoint needs.
//!
//! Order of checks, and their answers: no or non-Bearer `Authorization` →
//! 401; not `phk_` + 32 hex → 401; unknown → 401; revoked → 401; scope
//! missing → 403. All 401s share the code `UNAUTHORIZED` with a message
//! saying which case it was; none reveals anything about other tokens.

use prompthelm_component_kit::{ApiError, variables};
use prompthelm_domain::auth::{Scope, grants, hash_token, is_token_format, parse_bearer};
use prompthelm_domain::ids::DEFAULT_ORGANIZATION;
use spin_sdk::sqlite::Value;

use crate::db::Db;

/// The Spin variable holding the key of token hashes.
pub const TOKEN_HASH_KEY_VARIABLE: &str = "token_hash_key";
/// The default of `token_hash_key` in spin.toml: public, so fine on a
/// laptop and a mistake in any deployment (health warns admins about it).
pub const PUBLIC_DEVELOPMENT_TOKEN_HASH_KEY: &str = "prompthelm-local-development-key";

/// The Spin variable holding the optional bootstrap token.
pub const BOOTSTRAP_TOKEN_VARIABLE: &str = "bootstrap_token";

/// The name the bootstrap token acts under, in audit entries and authors.
pub const BOOTSTRAP_ACTOR: &str = "bootstrap";

/// How an actor authenticated, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorType {
    /// A person signed in (reserved: PromptHelm has no user accounts yet;
    /// the console signs in with an API token).
    User,
    /// An API token.
    ApiToken,
    /// The system itself: the bootstrap token (entries from before issue 16
    /// may also name `prompthelm up`, the runtime's former first-run step).
    System,
}

impl ActorType {
    pub const ALL: [ActorType; 3] = [ActorType::User, ActorType::ApiToken, ActorType::System];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::ApiToken => "api_token",
            ActorType::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<ActorType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The organization everything this caller does is confined to.
    pub organization_id: String,
    /// The token id, or [`BOOTSTRAP_ACTOR`].
    pub actor: String,
    /// The token's name: what authors and audit entries show.
    pub actor_name: String,
    pub actor_type: ActorType,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// 403 unless this caller holds `needed` (or `admin`).
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if grants(&self.scopes, needed) {
            return Ok(());
        }
        let held = self
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Err(ApiError::forbidden(format!(
            "this endpoint needs the scope {needed}; the token has: {held}"
        )))
    }
}

/// Reads a Spin variable; `None` when it is empty.
async fn variable(name: &str) -> Result<Option<String>, ApiError> {
    let value = variables::get(name).await?;
    Ok((!value.is_empty()).then_some(value))
}

/// The key of token hashes. Empty is refused: it would make every hash
/// computable by anyone.
pub async fn token_hash_key() -> Result<String, ApiError> {
    variable(TOKEN_HASH_KEY_VARIABLE).await?.ok_or_else(|| {
        ApiError::internal(format!(
            "the variable {TOKEN_HASH_KEY_VARIABLE} is empty; set it to a long random secret"
        ))
    })
}

/// Authenticates the request's bearer token and checks it holds `needed`.
pub async fn authenticate(
    db: &Db,
    headers: &http::HeaderMap,
    needed: Scope,
) -> Result<Principal, ApiError> {
    let principal = identify(db, headers).await?;
    principal.require(needed)?;
    Ok(principal)
}

/// Why an unknown token is refused. While no token exists at all (a fresh
/// database under `spin up`, which mints none), the answer says how to get
/// the first one, since nothing else would.
async fn unknown_token_message(db: &Db) -> Result<String, ApiError> {
    let any = db
        .row("SELECT 1 FROM api_tokens LIMIT 1", [])
        .await?
        .is_some();
    Ok(if any {
        "unknown token".to_owned()
    } else {
        format!(
            "unknown token: this deployment has no API tokens yet. Set the variable \
             {BOOTSTRAP_TOKEN_VARIABLE} (SPIN_VARIABLE_BOOTSTRAP_TOKEN=phk_ followed by 32 \
             lowercase hex digits) to an admin token of your choosing and call with it, then \
             mint tokens with POST /api/v1/tokens"
        )
    })
}

/// Authenticates the request's bearer token, whatever its scopes.
pub async fn identify(db: &Db, headers: &http::HeaderMap) -> Result<Principal, ApiError> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing Authorization header; send `Authorization: Bearer phk_…`",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not readable text"))?;
    let token = parse_bearer(header).ok_or_else(|| {
        ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
    })?;
    if !is_token_format(token) {
        return Err(ApiError::unauthorized(
            "malformed token: API tokens are phk_ followed by 32 lowercase hex digits",
        ));
    }
    let key = token_hash_key().await?;
    let hash = hash_token(key.as_bytes(), token);

    if let Some(bootstrap) = variable(BOOTSTRAP_TOKEN_VARIABLE).await? {
        // Compared as keyed hashes, so the comparison's timing says nothing
        // about the secret.
        if is_token_format(&bootstrap) && hash_token(key.as_bytes(), &bootstrap) == hash {
            return Ok(Principal {
                organization_id: DEFAULT_ORGANIZATION.to_owned(),
                actor: BOOTSTRAP_ACTOR.to_owned(),
                actor_name: BOOTSTRAP_ACTOR.to_owned(),
                actor_type: ActorType::System,
                scopes: vec![Scope::Admin],
            });
        }
    }

    let row = db
        .row(
            "SELECT id, organization_id, name, scopes, revoked_at FROM api_tokens WHERE token_hash = ?",
            [Value::Text(hash)],
        )
        .await?;
    let Some(row) = row else {
        return Err(ApiError::unauthorized(unknown_token_message(db).await?));
    };
    if row.opt_int(4)?.is_some() {
        return Err(ApiError::unauthorized("this token has been revoked"));
    }
    Ok(Principal {
        actor: row.text(0)?,
        organization_id: row.text(1)?,
        actor_name: row.text(2)?,
        actor_type: ActorType::ApiToken,
        scopes: row.json(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(scopes: Vec<Scope>) -> Principal {
        Principal {
            organization_id: "org_x".into(),
            actor: "tok_1".into(),
            actor_name: "ci".into(),
            actor_type: ActorType::ApiToken,
            scopes,
        }
    }

    #[test]
    fn require_names_the_missing_scope_and_the_held_ones() {
        let p = principal(vec![Scope::PromptsRead]);
        assert!(p.require(Scope::PromptsRead).is_ok());
        let err = p.require(Scope::PromptsWrite).unwrap_err();
        assert_eq!(err.status.as_u16(), 403);
        assert_eq!(
            err.message,
            "this endpoint needs the scope prompts:write; the token has: prompts:read"
        );
        assert!(
            principal(vec![Scope::Admin])
                .require(Scope::AuditRead)
                .is_ok()
        );
    }

    #[test]
    fn the_public_development_key_is_the_manifest_default() {
        let manifest = include_str!("../../../spin.toml");
        assert!(manifest.contains(&format!(
            "token_hash_key = {{ default = \"{PUBLIC_DEVELOPMENT_TOKEN_HASH_KEY}\""
        )));
    }

    #[test]
    fn actor_types_round_trip() {
        for t in ActorType::ALL {
            assert_eq!(ActorType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ActorType::parse("robot"), None);
    }
}
