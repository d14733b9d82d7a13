//! The audit log: append-only. This module can add entries and read them;
//! there is no code path that changes or removes one, and the schema's
//! triggers refuse it anyway.

use prompthelm_component_kit::{ApiError, secure_random_bytes};
use prompthelm_domain::analytics::PromotionMarker;
use prompthelm_domain::ids::{self, AUDIT};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::time::rfc3339_millis;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::auth::{ActorType, Principal};
use crate::db::{Db, Row, opt};

/// Actions recorded, as stored and served.
pub mod actions {
    pub const ORGANIZATION_CREATE: &str = "organization.create";
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const PROMPT_CREATE: &str = "prompt.create";
    pub const PROMPT_ARCHIVE: &str = "prompt.archive";
    pub const PROMPT_UNARCHIVE: &str = "prompt.unarchive";
    pub const VERSION_CREATE: &str = "prompt.version.create";
    pub const PROMPT_PROMOTE: &str = "prompt.promote";
    pub const CANARY_START: &str = "prompt.canary.start";
    pub const CANARY_UPDATE: &str = "prompt.canary.update";
    pub const CANARY_END: &str = "prompt.canary.end";
    pub const WATCH_UPDATE: &str = "prompt.watch.update";
    pub const EXECUTION_LOGS_PURGE: &str = "execution_logs.purge";
    pub const WEBHOOK_CREATE: &str = "webhook.create";
    pub const WEBHOOK_DELETE: &str = "webhook.delete";
}

/// A new entry, before it is stored.
pub struct NewEntry<'a> {
    pub action: &'static str,
    pub prompt_id: Option<&'a str>,
    pub version_id: Option<&'a str>,
    pub details: serde_json::Value,
}

/// Appends an entry in `principal`'s organization; returns its id.
/// Call it inside the transaction of the change it records, so that the
/// change and its entry commit together or not at all.
pub async fn append(
    db: &Db,
    principal: &Principal,
    stamp: Stamp<'_>,
    entry: NewEntry<'_>,
) -> Result<String, ApiError> {
    let id = ids::new_id(AUDIT, secure_random_bytes());
    db.run(
        "INSERT INTO audit_log (id, organization_id, action, actor, actor_name, actor_type, \
         prompt_id, version_id, details, request_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(id.clone()),
            Value::Text(principal.organization_id.clone()),
            Value::Text(entry.action.to_owned()),
            Value::Text(principal.actor.clone()),
            Value::Text(principal.actor_name.clone()),
            Value::Text(principal.actor_type.as_str().to_owned()),
            opt(entry.prompt_id),
            opt(entry.version_id),
            Value::Text(entry.details.to_string()),
            Value::Text(stamp.request_id.to_owned()),
            Value::Integer(stamp.now),
        ],
    )
    .await?;
    Ok(id)
}

/// An entry as served by `GET /api/v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: String,
    pub action: String,
    pub actor: String,
    pub actor_name: String,
    pub actor_type: String,
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub created_at: String,
}

/// Filters of the audit list; each given one must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor_type: Option<ActorType>,
    pub prompt_id: Option<String>,
    /// Entries at or after this instant (ms).
    pub from: Option<i64>,
    /// Entries before this instant (ms).
    pub to: Option<i64>,
}

/// A page of the organization's entries, newest first.
pub async fn list(
    db: &Db,
    organization_id: &str,
    filter: &Filter,
    page: &PageRequest,
) -> Result<Page<Entry>, ApiError> {
    // Fixed SQL fragments; every value is a parameter.
    let mut sql = String::from(
        "SELECT seq, id, action, actor, actor_name, actor_type, prompt_id, version_id, details, \
         request_id, created_at FROM audit_log WHERE organization_id = ?",
    );
    let mut params = vec![Value::Text(organization_id.to_owned())];
    if let Some(action) = &filter.action {
        sql.push_str(" AND action = ?");
        params.push(Value::Text(action.clone()));
    }
    if let Some(actor_type) = filter.actor_type {
        sql.push_str(" AND actor_type = ?");
        params.push(Value::Text(actor_type.as_str().to_owned()));
    }
    if let Some(prompt_id) = &filter.prompt_id {
        sql.push_str(" AND prompt_id = ?");
        params.push(Value::Text(prompt_id.clone()));
    }
    if let Some(from) = filter.from {
        sql.push_str(" AND created_at >= ?");
        params.push(Value::Integer(from));
    }
    if let Some(to) = filter.to {
        sql.push_str(" AND created_at < ?");
        params.push(Value::Integer(to));
    }
    if let Some(after) = page.after {
        sql.push_str(" AND seq < ?");
        params.push(Value::Integer(after));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    db.page(&sql, params, page, entry).await
}

fn entry(row: &Row) -> Result<Entry, ApiError> {
    Ok(Entry {
        id: row.text(1)?,
        action: row.text(2)?,
        actor: row.text(3)?,
        actor_name: row.text(4)?,
        actor_type: row.text(5)?,
        prompt_id: row.opt_text(6)?,
        version_id: row.opt_text(7)?,
        details: row.json(8)?,
        request_id: row.opt_text(9)?,
        created_at: rfc3339_millis(row.int(10)?),
    })
}

/// The most promotion markers one analytics answer carries (the newest).
pub const MAX_PROMOTION_MARKERS: i64 = 500;

/// The promotions of a prompt of the organization in `[from, to)` (ms), as
/// chart markers, oldest first; at most [`MAX_PROMOTION_MARKERS`], the newest.
pub async fn promotions(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<PromotionMarker>, ApiError> {
    let rows = db
        .rows(
            "SELECT id, actor, details, created_at FROM audit_log \
             WHERE prompt_id = ? AND action = ? AND organization_id = ? \
             AND created_at >= ? AND created_at < ? ORDER BY seq DESC LIMIT ?",
            [
                Value::Text(prompt_id.to_owned()),
                Value::Text(actions::PROMPT_PROMOTE.to_owned()),
                Value::Text(organization_id.to_owned()),
                Value::Integer(from),
                Value::Integer(to),
                Value::Integer(MAX_PROMOTION_MARKERS),
            ],
        )
        .await?;
    let mut markers = rows
        .iter()
        .map(|row| {
            let details: serde_json::Value = row.json(2)?;
            let text = |key: &str| details[key].as_str().map(str::to_owned);
            Ok(PromotionMarker {
                at: rfc3339_millis(row.int(3)?),
                audit_entry_id: row.text(0)?,
                actor: row.text(1)?,
                from_version_id: text("previousVersionId"),
                from_version: text("previousVersion"),
                to_version_id: text("versionId"),
                to_version: text("version"),
                revert: details["revert"].as_bool().unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    markers.reverse();
    Ok(markers)
}
