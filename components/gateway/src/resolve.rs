//! Finding what a prompt's environment runs, shared by execute, stream and
//! `GET /api/v1/gateway/resolve?promptSlug=|promptId=&environment=`.
//!
//! Production reads the key-value cache (one KV read on a hit; a miss reads
//! the database and refills the entry); development reads the database.
//! The resolve endpoint lets a deploy pipeline check what production serves
//! right after a promote, and tests watch the cache: `cache` in its answer
//! says `hit`, `miss`, `stale` (an entry of another generation, ignored),
//! `unavailable` (the store failed) or `bypass` (development). Scope
//! `gateway:execute`.

use prompthelm_component_kit::{ApiError, codes};
use prompthelm_domain::auth::Scope;
use prompthelm_store::cache::{self, Cache, CacheOutcome};
use prompthelm_store::caller::authorize;
use prompthelm_store::db::Db;
use prompthelm_store::resolved::{self, Environment, PromptRef, ResolvedPrompt, ResolvedVersion};
use serde::Serialize;
use spin_sdk::http::Request;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    environment: Environment,
    /// `hit`, `miss` or `bypass`.
    cache: &'static str,
    #[serde(flatten)]
    prompt: ResolvedPrompt,
}

/// `GET /api/v1/gateway/resolve`.
pub async fn handle(req: &Request) -> Result<Resolution, ApiError> {
    let (principal, db, query) = authorize(
        req,
        Scope::GatewayExecute,
        &["promptSlug", "promptId", "environment"],
    )
    .await?;
    let prompt = match (query.get("promptSlug"), query.get("promptId")) {
        (Some(slug), None) => PromptRef::Slug(slug),
        (None, Some(id)) => PromptRef::Id(id),
        _ => {
            return Err(ApiError::validation_error(
                "give exactly one of promptSlug and promptId",
            ));
        }
    };
    let environment = match query.get("environment") {
        None => Environment::Production,
        Some(name) => Environment::parse(name).ok_or_else(|| {
            ApiError::validation_error(format!(
                "environment must be production or development, not {name:?}"
            ))
        })?,
    };
    let (prompt, cache) = lookup(&db, &principal.organization_id, prompt, environment).await?;
    runnable(&prompt, environment)?;
    Ok(Resolution {
        environment,
        cache,
        prompt,
    })
}

/// What a prompt's `environment` resolves to, and how it was found (`hit`,
/// `miss`, `stale` or `unavailable` for production's cache, `bypass` for
/// development). Unknown prompt: 404 `PROMPT_NOT_FOUND`.
pub async fn lookup(
    db: &Db,
    organization_id: &str,
    prompt: PromptRef<'_>,
    environment: Environment,
) -> Result<(ResolvedPrompt, &'static str), ApiError> {
    let (resolved, cache) = match environment {
        Environment::Production => {
            let cache = Cache::open().await;
            match cache::resolve(db, &cache, organization_id, prompt).await? {
                Some((resolved, outcome)) => (Some(resolved), outcome.as_str()),
                None => (None, CacheOutcome::Miss.as_str()),
            }
        }
        Environment::Development => (
            resolved::load(db, organization_id, prompt, environment).await?,
            "bypass",
        ),
    };
    let resolved = resolved.ok_or_else(|| {
        let name = match prompt {
            PromptRef::Id(id) => format!("no prompt with id {id}"),
            PromptRef::Slug(slug) => format!("no prompt with slug {slug:?}"),
        };
        ApiError::not_found(codes::PROMPT_NOT_FOUND, name)
    })?;
    Ok((resolved, cache))
}

/// The version a resolved prompt runs. Archived: 409 `PROMPT_ARCHIVED`; no
/// version in the environment yet: 409 `NO_VERSION_IN_ENVIRONMENT`.
pub fn runnable(
    resolved: &ResolvedPrompt,
    environment: Environment,
) -> Result<ResolvedVersion, ApiError> {
    if resolved.archived {
        return Err(ApiError::conflict(
            codes::PROMPT_ARCHIVED,
            format!(
                "prompt {} is archived and cannot be executed",
                resolved.prompt_id
            ),
        ));
    }
    resolved.version.clone().ok_or_else(|| {
        ApiError::conflict(
            codes::NO_VERSION_IN_ENVIRONMENT,
            format!(
                "prompt {} has no {} version yet",
                resolved.prompt_id,
                match environment {
                    Environment::Production => "production (promote one first)",
                    Environment::Development => "development (save one first)",
                }
            ),
        )
    })
}
