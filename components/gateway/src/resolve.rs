//! Finding what a prompt's environment runs, shared by execute, stream and
//! `GET /api/v1/gateway/resolve?promptSlug=|promptId=&environment=`.
//!
//! Production reads the key-value cache (one KV read on a hit; a miss reads
//! the database and refills the entry); development reads the database.
//! The resolve endpoint lets a deploy pipeline check what production serves
//! right after a promote, and tests watch the cache: `cache` in its answer
//! says `hit`, `miss`, `stale` (an entry of another generation, ignored),
//! `unavailable` (the store failed) or `bypass` (development), and
//! `canary` the split of a running canary. Scope `gateway:execute`.

use prompthelm_component_kit::{ApiError, codes};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::canary::{self, StickyBy};
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
    /// `hit`, `miss`, `stale`, `unavailable` or `bypass`.
    cache: &'static str,
    generation: i64,
    prompt_id: String,
    slug: String,
    archived: bool,
    version: Option<ResolvedVersion>,
    /// The split of production calls, when a canary runs (`null` otherwise,
    /// and always for development).
    canary: Option<CanarySplit>,
}

/// A running canary as resolve reports it: the candidate and the split.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanarySplit {
    version_id: String,
    version: String,
    percent: u8,
    sticky_by: StickyBy,
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
        generation: prompt.generation,
        prompt_id: prompt.prompt_id,
        slug: prompt.slug,
        archived: prompt.archived,
        version: prompt.version,
        canary: prompt.canary.map(|c| CanarySplit {
            version_id: c.version.id,
            version: c.version.version,
            percent: c.percent,
            sticky_by: c.sticky_by,
        }),
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

/// The version one call runs, and whether it is a running canary's
/// candidate (production only): the split of
/// [`prompthelm_domain::canary`] on the call's sticky key (`userId` from
/// the body, else from the header, else the request id). The hash is
/// computed only when a canary runs.
pub struct Arm {
    pub version: ResolvedVersion,
    pub canary: bool,
}

/// The sticky keys a call offers.
pub struct Keys<'a> {
    pub body_user_id: Option<&'a str>,
    pub header_user_id: Option<&'a str>,
    pub request_id: &'a str,
}

/// Picks the call's [`Arm`]; refuses like [`runnable`].
pub fn arm(
    resolved: &ResolvedPrompt,
    environment: Environment,
    keys: Keys<'_>,
) -> Result<Arm, ApiError> {
    let production = runnable(resolved, environment)?;
    let candidate = match (&resolved.canary, environment) {
        (Some(canary), Environment::Production) => {
            let key = canary::split_key(
                canary.sticky_by,
                keys.body_user_id,
                keys.header_user_id,
                keys.request_id,
            );
            canary::is_canary(&resolved.prompt_id, key, canary.percent).then_some(&canary.version)
        }
        _ => None,
    };
    Ok(Arm {
        canary: candidate.is_some(),
        version: candidate.unwrap_or(production).clone(),
    })
}

/// The version a resolved prompt runs (for production, without its
/// canary). Archived: 409 `PROMPT_ARCHIVED`; no version in the environment
/// yet: 409 `NO_VERSION_IN_ENVIRONMENT`.
pub fn runnable(
    resolved: &ResolvedPrompt,
    environment: Environment,
) -> Result<&ResolvedVersion, ApiError> {
    if resolved.archived {
        return Err(ApiError::conflict(
            codes::PROMPT_ARCHIVED,
            format!(
                "prompt {} is archived and cannot be executed",
                resolved.prompt_id
            ),
        ));
    }
    resolved.version.as_ref().ok_or_else(|| {
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
