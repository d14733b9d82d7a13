//! What a prompt's environment resolves to, read from the database: the
//! canonical answer the gateway serves, and (for production) exactly what
//! the key-value cache holds ([`crate::cache`]). This module knows nothing
//! of the cache; the cache builds on it.

use prompthelm_component_kit::ApiError;
use prompthelm_domain::compare::VersionContent;
pub use prompthelm_domain::gateway::Environment;
use serde::{Deserialize, Serialize};
use spin_sdk::sqlite::Value;

use crate::db::{Db, Row};
use crate::versions::content_at;

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
            content: content_at(row, 6)?,
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

/// The prompt a caller named and its generation, read from the database at
/// the start of a resolve: the only generation a cache entry may have to be
/// served.
pub(crate) struct Head {
    pub(crate) prompt_id: String,
    pub(crate) generation: i64,
}

pub(crate) async fn head(
    db: &Db,
    organization_id: &str,
    prompt: PromptRef<'_>,
) -> Result<Option<Head>, ApiError> {
    let (sql, value) = match prompt {
        PromptRef::Id(id) => (
            "SELECT id, generation FROM prompts WHERE organization_id = ? AND id = ?",
            id,
        ),
        PromptRef::Slug(slug) => (
            "SELECT id, generation FROM prompts WHERE organization_id = ? AND slug = ?",
            slug,
        ),
    };
    db.row(
        sql,
        [
            Value::Text(organization_id.to_owned()),
            Value::Text(value.to_owned()),
        ],
    )
    .await?
    .map(|row| {
        Ok(Head {
            prompt_id: row.text(0)?,
            generation: row.int(1)?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

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
