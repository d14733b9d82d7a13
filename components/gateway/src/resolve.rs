//! `GET /api/v1/gateway/resolve?promptSlug=|promptId=&environment=`: the
//! version a gateway call would run, resolved exactly as execute resolves it
//! (production: one key-value read, the database on a miss, which refills
//! the cache; development: the database). Scope `gateway:execute`.
//!
//! It lets a deploy pipeline check what production serves right after a
//! promote, and tests watch the cache. `cache` in the answer says `hit`,
//! `miss` or `bypass` (development).

use prompthelm_component_kit::request::Query;
use prompthelm_component_kit::{ApiError, codes};
use prompthelm_domain::auth::Scope;
use prompthelm_store::auth::authenticate;
use prompthelm_store::cache::{self, CacheOutcome, Environment, PromptRef, ResolvedPrompt};
use prompthelm_store::db::Db;
use serde::Serialize;
use spin_sdk::http::Request;
use spin_sdk::key_value::Store;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    environment: Environment,
    /// `hit`, `miss` or `bypass`.
    cache: &'static str,
    #[serde(flatten)]
    prompt: ResolvedPrompt,
}

pub async fn handle(req: &Request) -> Result<Resolution, ApiError> {
    let db = Db::open().await?;
    let principal = authenticate(&db, req.headers(), Scope::GatewayExecute).await?;
    let query = Query::parse(req.uri(), &["promptSlug", "promptId", "environment"])?;
    let prompt = match (query.get("promptSlug"), query.get("promptId")) {
        (Some(slug), None) => PromptRef::Slug(slug),
        (None, Some(id)) => PromptRef::Id(id),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of promptSlug and promptId",
            ));
        }
    };
    let environment = match query.get("environment") {
        None => Environment::Production,
        Some(name) => Environment::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "environment must be production or development, not {name:?}"
            ))
        })?,
    };
    let org = &principal.organization_id;
    let (resolved, cache) = match environment {
        Environment::Production => {
            let kv = Store::open_default().await?;
            match cache::resolve(&db, &kv, org, prompt).await? {
                Some((resolved, CacheOutcome::Hit)) => (Some(resolved), "hit"),
                Some((resolved, CacheOutcome::Miss)) => (Some(resolved), "miss"),
                None => (None, "miss"),
            }
        }
        Environment::Development => (cache::load(&db, org, prompt, environment).await?, "bypass"),
    };
    let resolved = resolved.ok_or_else(|| {
        let name = match prompt {
            PromptRef::Id(id) => format!("no prompt with id {id}"),
            PromptRef::Slug(slug) => format!("no prompt with slug {slug:?}"),
        };
        ApiError::not_found(codes::PROMPT_NOT_FOUND, name)
    })?;
    if resolved.archived {
        return Err(ApiError::conflict(
            codes::PROMPT_ARCHIVED,
            format!(
                "prompt {} is archived and cannot be executed",
                resolved.prompt_id
            ),
        ));
    }
    if resolved.version.is_none() {
        return Err(ApiError::conflict(
            codes::NO_VERSION_IN_ENVIRONMENT,
            format!(
                "prompt {} has no {} version yet",
                resolved.prompt_id,
                match environment {
                    Environment::Production => "production (promote one first)",
                    Environment::Development => "development (save one first)",
                }
            ),
        ));
    }
    Ok(Resolution {
        environment,
        cache,
        prompt: resolved,
    })
}
