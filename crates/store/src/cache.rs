//! The key-value cache of what the gateway resolves: per prompt, its
//! production version (DESIGN.md §3).
//!
//! Each prompt has one entry under two keys, by id and by slug, so one KV
//! read resolves a gateway call whichever the caller names. The database is
//! the source of truth; the entry carries the prompt's `generation`, which
//! every change to what production resolves to bumps (promote, archive,
//! unarchive).
//!
//! Writers (promote, archive) commit to the database first and then call
//! [`refresh`]; readers that miss call it too. [`refresh`] reads the prompt
//! in one statement, writes the entry, then reads the generation again and
//! repeats if it moved meanwhile. So whichever writer writes last has
//! checked afterwards that what it wrote is current, and once all writers
//! have returned, the entry equals the database. Slugs never change, so the
//! slug key never has to move. Development resolves are not cached: they
//! serve testing and read the database.

use prompthelm_component_kit::ApiError;
use prompthelm_domain::compare::VersionContent;
pub use prompthelm_domain::gateway::Environment;
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::Value;

use crate::db::{Db, Row};

/// How many times [`refresh`] rewrites the entry while the generation keeps
/// moving before it gives up and deletes it (readers then miss and refill).
const MAX_REFRESH_ATTEMPTS: usize = 8;

/// What a prompt's environment resolves to; for production, the cache entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPrompt {
    pub generation: i64,
    pub prompt_id: String,
    pub slug: String,
    pub archived: bool,
    /// The environment's version; `None` before the first promote (or save,
    /// for development).
    pub version: Option<ResolvedVersion>,
}

/// The version content the gateway renders and sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedVersion {
    pub id: String,
    pub version: String,
    #[serde(flatten)]
    pub content: VersionContent,
}

/// How a caller names a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptRef<'a> {
    Id(&'a str),
    Slug(&'a str),
}

/// The KV key of a prompt's production entry.
pub fn production_key(organization_id: &str, prompt: PromptRef<'_>) -> String {
    match prompt {
        PromptRef::Id(id) => format!("production:{organization_id}:id:{id}"),
        PromptRef::Slug(slug) => format!("production:{organization_id}:slug:{slug}"),
    }
}

/// Whether a resolve was answered by the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    Hit,
    Miss,
}

/// Reads what a prompt's environment resolves to from the database, in one
/// statement (so prompt row and version are one snapshot). For
/// [`Environment::Production`] this is exactly the cache entry.
pub async fn load(
    db: &Db,
    organization_id: &str,
    prompt: PromptRef<'_>,
    environment: Environment,
) -> Result<Option<ResolvedPrompt>, ApiError> {
    let (column, value) = match prompt {
        PromptRef::Id(id) => ("p.id", id),
        PromptRef::Slug(slug) => ("p.slug", slug),
    };
    let pointer = match environment {
        Environment::Production => "p.production_version_id",
        Environment::Development => "p.development_version_id",
    };
    let row = db
        .row(
            &format!(
                "SELECT p.id, p.slug, p.archived_at, p.generation, v.id, v.version, v.system, \
                 v.user_template, v.variables, v.model, v.temperature, v.max_tokens, v.top_p, \
                 v.stop_sequences FROM prompts p \
                 LEFT JOIN prompt_versions v ON v.id = {pointer} \
                 WHERE p.organization_id = ? AND {column} = ?"
            ),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(value.to_owned()),
            ],
        )
        .await?;
    row.as_ref().map(entry).transpose()
}

fn entry(row: &Row) -> Result<ResolvedPrompt, ApiError> {
    let version = match row.opt_text(4)? {
        None => None,
        Some(id) => Some(ResolvedVersion {
            id,
            version: row.text(5)?,
            content: crate::versions::content_at(row, 6)?,
        }),
    };
    Ok(ResolvedPrompt {
        prompt_id: row.text(0)?,
        slug: row.text(1)?,
        archived: row.opt_int(2)?.is_some(),
        generation: row.int(3)?,
        version,
    })
}

pub(crate) async fn current_generation(db: &Db, prompt_id: &str) -> Result<Option<i64>, ApiError> {
    db.row(
        "SELECT generation FROM prompts WHERE id = ?",
        [Value::Text(prompt_id.to_owned())],
    )
    .await?
    .map(|row| row.int(0))
    .transpose()
}

async fn write(kv: &Store, organization_id: &str, entry: &ResolvedPrompt) -> Result<(), ApiError> {
    let value = crate::db::json_text(entry)?;
    kv.set(
        production_key(organization_id, PromptRef::Id(&entry.prompt_id)),
        &value,
    )
    .await?;
    kv.set(
        production_key(organization_id, PromptRef::Slug(&entry.slug)),
        &value,
    )
    .await?;
    Ok(())
}

/// Brings the prompt's cache entry up to date with the database (see the
/// module docs for why this converges); returns what it wrote, or `None`
/// for a prompt that does not exist.
pub async fn refresh(
    db: &Db,
    kv: &Store,
    organization_id: &str,
    prompt: PromptRef<'_>,
) -> Result<Option<ResolvedPrompt>, ApiError> {
    for _ in 0..MAX_REFRESH_ATTEMPTS {
        let Some(entry) = load(db, organization_id, prompt, Environment::Production).await? else {
            return Ok(None);
        };
        write(kv, organization_id, &entry).await?;
        if current_generation(db, &entry.prompt_id).await? == Some(entry.generation) {
            return Ok(Some(entry));
        }
    }
    // Still moving: leave no entry rather than a possibly stale one; the
    // writer that moved it refreshes after us.
    let entry = load(db, organization_id, prompt, Environment::Production).await?;
    if let Some(entry) = &entry {
        kv.delete(production_key(
            organization_id,
            PromptRef::Id(&entry.prompt_id),
        ))
        .await?;
        kv.delete(production_key(
            organization_id,
            PromptRef::Slug(&entry.slug),
        ))
        .await?;
    }
    Ok(entry)
}

/// Resolves a prompt's production entry: one KV read on a hit; on a miss
/// (or an entry that does not parse) the database, refilling the cache.
pub async fn resolve(
    db: &Db,
    kv: &Store,
    organization_id: &str,
    prompt: PromptRef<'_>,
) -> Result<Option<(ResolvedPrompt, CacheOutcome)>, ApiError> {
    if let Some(bytes) = kv.get(production_key(organization_id, prompt)).await?
        && let Ok(entry) = serde_json::from_slice::<ResolvedPrompt>(&bytes)
    {
        return Ok(Some((entry, CacheOutcome::Hit)));
    }
    Ok(refresh(db, kv, organization_id, prompt)
        .await?
        .map(|entry| (entry, CacheOutcome::Miss)))
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

    #[test]
    fn entries_round_trip_as_json() {
        let entry = ResolvedPrompt {
            generation: 3,
            prompt_id: "prm_1".into(),
            slug: "s".into(),
            archived: false,
            version: Some(ResolvedVersion {
                id: "ver_1".into(),
                version: "1.1.0".into(),
                content: VersionContent {
                    system: "sys".into(),
                    temperature: Some(0.2),
                    stop_sequences: vec!["END".into()],
                    ..VersionContent::default()
                },
            }),
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains(r#""stopSequences":["END"]"#), "{text}");
        assert_eq!(
            serde_json::from_str::<ResolvedPrompt>(&text).unwrap(),
            entry
        );
    }
}
