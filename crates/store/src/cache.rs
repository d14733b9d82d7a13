//! The key-value cache of what the gateway resolves: per prompt, its
//! production version (DESIGN.md §3).
//!
//! Each prompt has one entry under two keys, by id and by slug, so one KV
//! read finds it whichever name the caller uses. The database is the source
//! of truth; the entry carries the prompt's `generation`, which every change
//! to what production resolves to bumps (promote, archive, unarchive) in the
//! same transaction as the change.
//!
//! **The invariant: a cache entry is served only when its generation equals
//! the generation the database holds at the start of the resolve.** So
//! [`resolve`] reads the prompt's generation from the database (one indexed
//! read) before it reads the key-value store, and an entry of any other
//! generation is ignored. Whatever the store holds (an entry written late by
//! a slow refill, one left behind by a crash between a commit and its
//! refresh, a half-updated pair of keys) and whatever it does (fails,
//! evicts, refuses writes), a call that starts after a promote committed
//! cannot be served the previous version. Writes to the store are therefore
//! only an accelerator: best effort, after the commit, and a failed one is a
//! warning, never an error for a change that already committed.
//!
//! Development resolves are not cached: they serve testing and read the
//! database.

use prompthelm_component_kit::ApiError;
use serde::Serialize;
use spin_sdk::key_value::Store;

use crate::db::Db;
use crate::resolved::{Environment, PromptRef, ResolvedPrompt, head, load};

/// The KV key of a prompt's production entry.
pub fn production_key(organization_id: &str, prompt: PromptRef<'_>) -> String {
    match prompt {
        PromptRef::Id(id) => format!("production:{organization_id}:id:{id}"),
        PromptRef::Slug(slug) => format!("production:{organization_id}:slug:{slug}"),
    }
}

/// How the cache took part in a resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// Served from an entry of the current generation.
    Hit,
    /// No entry (or one that does not parse): served from the database.
    Miss,
    /// An entry of another generation: ignored, served from the database.
    Stale,
    /// The store failed: served from the database.
    Unavailable,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Stale => "stale",
            CacheOutcome::Unavailable => "unavailable",
        }
    }
}

/// The `default` key-value store as the cache sees it: a store that cannot
/// be opened, read or written is a degraded cache, not a failed request.
/// Every failure is written to the component's log (stderr) and reported to
/// the caller of [`Cache::put`] as text.
pub struct Cache(Result<Store, String>);

impl Cache {
    /// Opens the `default` store; a failure is kept and reported by each use.
    pub async fn open() -> Cache {
        Cache(
            Store::open_default()
                .await
                .map_err(|e| format!("opening the key-value store failed: {e}")),
        )
    }

    /// The value under `key`; `Err` when the store failed (logged).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ()> {
        let store = self.0.as_ref().map_err(|e| eprintln!("cache: {e}"))?;
        store
            .get(key)
            .await
            .map_err(|e| eprintln!("cache: reading {key} failed: {e}"))
    }

    /// Writes `entry` under both its keys.
    async fn put(&self, organization_id: &str, entry: &ResolvedPrompt) -> Result<(), String> {
        let store = self.0.as_ref().map_err(Clone::clone)?;
        let value = serde_json::to_vec(entry).map_err(|e| format!("encoding the entry: {e}"))?;
        for key in [
            production_key(organization_id, PromptRef::Id(&entry.prompt_id)),
            production_key(organization_id, PromptRef::Slug(&entry.slug)),
        ] {
            store
                .set(&key, &value)
                .await
                .map_err(|e| format!("writing {key} failed: {e}"))?;
        }
        Ok(())
    }
}

/// How many times [`refresh_after_commit`] rewrites the entry while the
/// generation keeps moving under it.
const MAX_REFRESH_ATTEMPTS: usize = 8;

/// Writes the prompt's current production entry to the cache after a change
/// committed (promote, archive, unarchive), so the next call hits. It
/// re-reads the generation after writing and writes again while it moved,
/// so once concurrent writers have all returned the entry equals the
/// database. Never fails the change: what went wrong comes back as a
/// warning for the response (and is logged); readers then serve from the
/// database until an entry of the current generation is written, because
/// of the invariant in the module docs.
pub async fn refresh_after_commit(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
) -> Option<String> {
    let problem = match refresh(db, organization_id, prompt_id).await {
        Ok(()) => return None,
        Err(problem) => problem,
    };
    eprintln!("cache: refreshing prompt {prompt_id} failed: {problem}");
    Some(format!(
        "the change is committed, but the gateway cache was not refreshed ({problem}); \
         gateway calls read the database until it is, so they already serve the change"
    ))
}

async fn refresh(db: &Db, organization_id: &str, prompt_id: &str) -> Result<(), String> {
    let cache = Cache::open().await;
    let prompt = PromptRef::Id(prompt_id);
    let read_failed = |e: ApiError| format!("reading the committed state failed: {}", e.message);
    for _ in 0..MAX_REFRESH_ATTEMPTS {
        let Some(entry) = load(db, organization_id, prompt, Environment::Production)
            .await
            .map_err(read_failed)?
        else {
            return Ok(());
        };
        cache.put(organization_id, &entry).await?;
        let now = head(db, organization_id, prompt)
            .await
            .map_err(read_failed)?;
        if now.is_none_or(|now| now.generation == entry.generation) {
            return Ok(());
        }
    }
    // Still moving: the writers that moved it refresh after us, and no
    // reader serves the entry of another generation meanwhile.
    Ok(())
}

/// Resolves a prompt's production entry: one indexed database read of the
/// prompt's generation, then one KV read; the entry is served only if its
/// generation is that one. Otherwise (missing, stale, unreadable, or the
/// store failed) the database answers and the cache is refilled, best
/// effort: a stale refill can never be served, so its failure only costs
/// the next call a database read.
pub async fn resolve(
    db: &Db,
    cache: &Cache,
    organization_id: &str,
    prompt: PromptRef<'_>,
) -> Result<Option<(ResolvedPrompt, CacheOutcome)>, ApiError> {
    let Some(head) = head(db, organization_id, prompt).await? else {
        return Ok(None);
    };
    let outcome = match cache.get(&production_key(organization_id, prompt)).await {
        Err(()) => CacheOutcome::Unavailable,
        Ok(None) => CacheOutcome::Miss,
        Ok(Some(bytes)) => match serde_json::from_slice::<ResolvedPrompt>(&bytes) {
            Ok(entry)
                if entry.generation == head.generation && entry.prompt_id == head.prompt_id =>
            {
                return Ok(Some((entry, CacheOutcome::Hit)));
            }
            Ok(_) => CacheOutcome::Stale,
            Err(_) => CacheOutcome::Miss,
        },
    };
    let Some(entry) = load(db, organization_id, prompt, Environment::Production).await? else {
        return Ok(None);
    };
    if outcome != CacheOutcome::Unavailable
        && let Err(problem) = cache.put(organization_id, &entry).await
    {
        eprintln!(
            "cache: refilling prompt {} failed: {problem}",
            entry.prompt_id
        );
    }
    Ok(Some((entry, outcome)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_organization_and_kind() {
        assert_eq!(
            production_key("org_a", PromptRef::Id("prm_1")),
            "production:org_a:id:prm_1"
        );
        assert_eq!(
            production_key("org_a", PromptRef::Slug("support-bot")),
            "production:org_a:slug:support-bot"
        );
    }
}
