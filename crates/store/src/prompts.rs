//! Prompts: create, list, read, archive and unarchive.

use prompthelm_component_kit::{ApiError, secure_random_bytes};
use prompthelm_domain::envelope::codes;
use prompthelm_domain::ids::{self, PROMPT};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::time::rfc3339_millis;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::audit::{self, NewEntry, actions};
use crate::auth::Principal;
use crate::db::{Db, Row};

/// A prompt as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    pub archived: bool,
    pub archived_at: Option<String>,
    pub production_version_id: Option<String>,
    pub development_version_id: Option<String>,
}

/// The columns [`prompt`] reads, in order.
pub(crate) const PROMPT_COLUMNS: &str = "seq, id, name, slug, description, created_at, created_by, \
     archived_at, production_version_id, development_version_id";

pub(crate) fn prompt(row: &Row) -> Result<Prompt, ApiError> {
    let archived_at = row.opt_int(7)?;
    Ok(Prompt {
        id: row.text(1)?,
        name: row.text(2)?,
        slug: row.text(3)?,
        description: row.text(4)?,
        created_at: rfc3339_millis(row.int(5)?),
        created_by: row.text(6)?,
        archived: archived_at.is_some(),
        archived_at: archived_at.map(rfc3339_millis),
        production_version_id: row.opt_text(8)?,
        development_version_id: row.opt_text(9)?,
    })
}

/// What a new prompt needs, already validated.
pub struct NewPrompt<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub description: &'a str,
}

/// Creates a prompt and audits it. A slug the organization already uses is
/// 409 `SLUG_TAKEN`. Call inside a transaction.
pub async fn create(
    db: &Db,
    principal: &Principal,
    new: NewPrompt<'_>,
    stamp: Stamp<'_>,
) -> Result<Prompt, ApiError> {
    let taken = db
        .row(
            "SELECT id FROM prompts WHERE organization_id = ? AND slug = ?",
            [
                Value::Text(principal.organization_id.clone()),
                Value::Text(new.slug.to_owned()),
            ],
        )
        .await?;
    if let Some(row) = taken {
        return Err(ApiError::conflict(
            codes::SLUG_TAKEN,
            format!(
                "the slug {:?} is taken by prompt {}",
                new.slug,
                row.text(0)?
            ),
        ));
    }
    let id = ids::new_id(PROMPT, secure_random_bytes());
    db.run(
        "INSERT INTO prompts (id, organization_id, name, slug, description, created_at, created_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(id.clone()),
            Value::Text(principal.organization_id.clone()),
            Value::Text(new.name.to_owned()),
            Value::Text(new.slug.to_owned()),
            Value::Text(new.description.to_owned()),
            Value::Integer(stamp.now),
            Value::Text(principal.actor_name.clone()),
        ],
    )
    .await?;
    audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::PROMPT_CREATE,
            prompt_id: Some(&id),
            version_id: None,
            details: serde_json::json!({"name": new.name, "slug": new.slug}),
        },
    )
    .await?;
    Ok(Prompt {
        id,
        name: new.name.to_owned(),
        slug: new.slug.to_owned(),
        description: new.description.to_owned(),
        created_at: rfc3339_millis(stamp.now),
        created_by: principal.actor_name.clone(),
        archived: false,
        archived_at: None,
        production_version_id: None,
        development_version_id: None,
    })
}

/// Filters of the prompt list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Case-insensitive substring of the name or slug.
    pub search: Option<String>,
    /// Whether archived prompts are listed too.
    pub include_archived: bool,
}

/// A page of the organization's prompts, oldest first.
pub async fn list(
    db: &Db,
    organization_id: &str,
    filter: &Filter,
    page: &PageRequest,
) -> Result<Page<Prompt>, ApiError> {
    let mut sql =
        format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE organization_id = ? AND seq > ?");
    let mut params = vec![
        Value::Text(organization_id.to_owned()),
        Value::Integer(page.after.unwrap_or(0)),
    ];
    if !filter.include_archived {
        sql.push_str(" AND archived_at IS NULL");
    }
    if let Some(search) = &filter.search {
        // instr() rather than LIKE, so `%` and `_` in the search are literal.
        sql.push_str(" AND (instr(lower(name), ?) > 0 OR instr(slug, ?) > 0)");
        let needle = search.to_lowercase();
        params.push(Value::Text(needle.clone()));
        params.push(Value::Text(needle));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    db.page(&sql, params, page, prompt).await
}

fn not_found(prompt_id: &str) -> ApiError {
    ApiError::not_found(codes::PROMPT_NOT_FOUND, format!("no prompt {prompt_id}"))
}

/// A prompt of the organization, or 404 `PROMPT_NOT_FOUND` (also for a
/// prompt of another organization, so existence does not leak).
pub async fn get(db: &Db, organization_id: &str, prompt_id: &str) -> Result<Prompt, ApiError> {
    let row = db
        .row(
            &format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE organization_id = ? AND id = ?"),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(prompt_id.to_owned()),
            ],
        )
        .await?
        .ok_or_else(|| not_found(prompt_id))?;
    prompt(&row)
}

/// A prompt that may change: it exists in the organization and is not
/// archived (409 `PROMPT_ARCHIVED` otherwise).
pub async fn get_active(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
) -> Result<Prompt, ApiError> {
    let prompt = get(db, organization_id, prompt_id).await?;
    if prompt.archived {
        return Err(ApiError::conflict(
            codes::PROMPT_ARCHIVED,
            format!("prompt {prompt_id} is archived; unarchive it first"),
        ));
    }
    Ok(prompt)
}

/// Archives (`archived: true`) or unarchives a prompt and audits the
/// change; setting the state it already has changes nothing and writes no
/// entry. A real change bumps the prompt's generation: the gateway must
/// stop (or resume) executing it. Call inside a transaction.
pub async fn set_archived(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    archived: bool,
    stamp: Stamp<'_>,
) -> Result<Prompt, ApiError> {
    let current = get(db, &principal.organization_id, prompt_id).await?;
    if current.archived == archived {
        return Ok(current);
    }
    db.run(
        "UPDATE prompts SET archived_at = ?, generation = generation + 1 WHERE id = ?",
        [
            if archived {
                Value::Integer(stamp.now)
            } else {
                Value::Null
            },
            Value::Text(prompt_id.to_owned()),
        ],
    )
    .await?;
    audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: if archived {
                actions::PROMPT_ARCHIVE
            } else {
                actions::PROMPT_UNARCHIVE
            },
            prompt_id: Some(prompt_id),
            version_id: None,
            details: serde_json::json!({"slug": current.slug}),
        },
    )
    .await?;
    Ok(Prompt {
        archived,
        archived_at: archived.then(|| rfc3339_millis(stamp.now)),
        ..current
    })
}
