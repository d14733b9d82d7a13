//! What a prompt's environment resolves to, read from the database: the
//! canonical answer the gateway serves, and (for production) exactly what
//! the key-value cache holds ([`crate::cache`]). This module knows nothing
//! of the cache; the cache builds on it.

use prompthelm_component_kit::ApiError;
use prompthelm_domain::canary::StickyBy;
use prompthelm_domain::compare::VersionContent;
pub use prompthelm_domain::gateway::Environment;
use prompthelm_domain::watch::Policy;
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
    /// Production's running canary, loaded in the same statement as the
    /// version, so the cache entry carries it under the same generation.
    /// Always `None` for development. Absent in entries written before
    /// canaries existed, which is right: none ran then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<ResolvedCanary>,
    /// Production's regression-watch policy when its mode is not `off`
    /// (same statement, same generation: a policy change bumps it), so a
    /// call of an unwatched prompt pays nothing for the watch. Always
    /// `None` for development.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Policy>,
}

/// A running canary as the gateway needs it: the candidate's full content
/// and the split's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedCanary {
    pub version: ResolvedVersion,
    pub percent: u8,
    pub sticky_by: StickyBy,
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
    // Production joins its canary and the candidate's content (columns 14
    // to 25) and its watch policy (26); development has none.
    let (pointer, canary_columns, canary_joins) = match environment {
        Environment::Production => (
            "p.production_version_id",
            ", k.percent, k.sticky_by, c.id, c.version, c.system, c.user_template, \
             c.variables, c.model, c.temperature, c.max_tokens, c.top_p, c.stop_sequences, \
             w.policy",
            " LEFT JOIN prompt_canaries k ON k.prompt_id = p.id \
             LEFT JOIN prompt_versions c ON c.id = k.version_id \
             LEFT JOIN prompt_watches w ON w.prompt_id = p.id AND w.mode != 'off'",
        ),
        Environment::Development => ("p.development_version_id", "", ""),
    };
    let row = db
        .row(
            &format!(
                "SELECT p.id, p.slug, p.archived_at, p.generation, v.id, v.version, v.system, \
                 v.user_template, v.variables, v.model, v.temperature, v.max_tokens, v.top_p, \
                 v.stop_sequences{canary_columns} FROM prompts p \
                 LEFT JOIN prompt_versions v ON v.id = {pointer}{canary_joins} \
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
    // Only production's statement has the canary columns (14 on).
    let (canary, watch) = if row.0.len() > 14 {
        let watch = match row.opt_text(26)? {
            None => None,
            Some(_) => Some(row.json(26)?),
        };
        (canary_at(row, 14)?, watch)
    } else {
        (None, None)
    };
    Ok(ResolvedPrompt {
        prompt_id: row.text(0)?,
        slug: row.text(1)?,
        archived: row.opt_int(2)?.is_some(),
        generation: row.int(3)?,
        version,
        canary,
        watch,
    })
}

/// Reads `percent, sticky_by, id, version` and the content columns of a
/// canary starting at column `first`; `None` when no canary runs.
fn canary_at(row: &Row, first: usize) -> Result<Option<ResolvedCanary>, ApiError> {
    let Some(percent) = row.opt_int(first)? else {
        return Ok(None);
    };
    let sticky_by = row.text(first + 1)?;
    Ok(Some(ResolvedCanary {
        percent: u8::try_from(percent)
            .map_err(|_| ApiError::internal("canary percent out of range"))?,
        sticky_by: StickyBy::parse(&sticky_by)
            .ok_or_else(|| ApiError::internal("unknown canary sticky_by"))?,
        version: ResolvedVersion {
            id: row.text(first + 2)?,
            version: row.text(first + 3)?,
            content: content_at(row, first + 4)?,
        },
    }))
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
            canary: Some(ResolvedCanary {
                version: ResolvedVersion {
                    id: "ver_2".into(),
                    version: "1.2.0".into(),
                    content: VersionContent::default(),
                },
                percent: 30,
                sticky_by: StickyBy::User,
            }),
            watch: None,
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains(r#""stopSequences":["END"]"#), "{text}");
        assert!(text.contains(r#""percent":30,"stickyBy":"user""#), "{text}");
        assert_eq!(
            serde_json::from_str::<ResolvedPrompt>(&text).unwrap(),
            entry
        );
    }

    #[test]
    fn entries_written_before_canaries_read_as_without_one() {
        let old =
            r#"{"generation":1,"promptId":"prm_1","slug":"s","archived":false,"version":null}"#;
        let entry: ResolvedPrompt = serde_json::from_str(old).unwrap();
        assert_eq!(entry.canary, None);
        assert!(!serde_json::to_string(&entry).unwrap().contains("canary"));
    }
}
