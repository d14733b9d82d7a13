//! A prompt's sticky canary (`migrations/0007_canary.sql`): at most one per
//! prompt, splitting production calls between the production version and a
//! candidate (`prompthelm_domain::canary` holds the split).
//!
//! Every start, change and end bumps the prompt's `generation` in the same
//! transaction as the change and its audit entry, so the gateway's cache
//! entry (which carries the canary, see [`crate::resolved`]) is served only
//! while it is current: the promote's read-your-writes guarantee covers the
//! canary. Callers refresh the cache after the commit
//! (`cache::refresh_after_commit`), as promote does.
//!
//! Starting and changing one is [`set`]. Ending one, by a person or by the
//! system (a regression watch), is `versions::end_canary`: it lives beside
//! promote because ending with `outcome=promote` is a promote, and every
//! promote ends a running canary ([`close`], called by `versions`).

use prompthelm_component_kit::{ApiError, StatusCode};
use prompthelm_domain::canary::{CanarySettings, StickyBy};
use prompthelm_domain::envelope::codes;
use prompthelm_domain::time::rfc3339_millis;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::audit::{self, NewEntry, actions};
use crate::auth::Principal;
use crate::db::{Db, Row};
use crate::prompts;

/// A running canary, as served.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    pub prompt_id: String,
    /// The candidate.
    pub version_id: String,
    pub version: String,
    /// The version the other calls get.
    pub production_version_id: Option<String>,
    pub production_version: Option<String>,
    /// The candidate's share of production calls, 0 to 100.
    pub percent: u8,
    pub sticky_by: StickyBy,
    pub started_at: String,
    pub started_by: String,
    pub updated_at: String,
}

/// The settings a canary had before an update.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSettings {
    pub version_id: String,
    pub version: String,
    pub percent: u8,
    pub sticky_by: StickyBy,
}

/// What `POST /prompts/:id/canary` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryChange {
    pub canary: Canary,
    /// A new canary (201), not an update of a running one (200).
    pub created: bool,
    /// `false` when the running canary had these settings already: nothing
    /// changed and nothing was audited.
    pub changed: bool,
    /// The running canary's settings before an update; `null` for a start.
    pub previous: Option<PreviousSettings>,
    /// The `prompt.canary.start` or `.update` entry, when something changed.
    pub audit_entry_id: Option<String>,
    /// The prompt's generation after the change (the cache's version).
    pub generation: i64,
    /// What went wrong after the commit (the cache refresh).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How a canary ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The candidate became production.
    Promote,
    /// Production stayed what it was (or another version was promoted).
    Revert,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "promote" => Some(Outcome::Promote),
            "revert" => Some(Outcome::Revert),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promote => "promote",
            Outcome::Revert => "revert",
        }
    }
}

/// Why a canary ended, as its `prompt.canary.end` entry says (`endedBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// `DELETE /prompts/:id/canary` (or the system ending it the same way).
    End,
    /// A promote while it ran (`POST .../versions/:vid/promote`).
    Promote,
}

/// A canary that ended, with its `prompt.canary.end` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndedCanary {
    pub canary: Canary,
    pub outcome: Outcome,
    pub audit_entry_id: String,
}

const CANARY_SELECT: &str = "SELECT k.prompt_id, k.version_id, c.version, \
     p.production_version_id, pv.version, k.percent, k.sticky_by, k.started_at, k.started_by, \
     k.updated_at FROM prompt_canaries k JOIN prompts p ON p.id = k.prompt_id \
     JOIN prompt_versions c ON c.id = k.version_id \
     LEFT JOIN prompt_versions pv ON pv.id = p.production_version_id \
     WHERE k.organization_id = ? AND k.prompt_id = ?";

fn canary(row: &Row) -> Result<Canary, ApiError> {
    let sticky_by = row.text(6)?;
    Ok(Canary {
        prompt_id: row.text(0)?,
        version_id: row.text(1)?,
        version: row.text(2)?,
        production_version_id: row.opt_text(3)?,
        production_version: row.opt_text(4)?,
        percent: u8::try_from(row.int(5)?)
            .map_err(|_| ApiError::internal("canary percent out of range"))?,
        sticky_by: StickyBy::parse(&sticky_by)
            .ok_or_else(|| ApiError::internal("unknown canary sticky_by"))?,
        started_at: rfc3339_millis(row.int(7)?),
        started_by: row.text(8)?,
        updated_at: rfc3339_millis(row.int(9)?),
    })
}

/// The prompt's running canary, if any (the caller checks the prompt).
pub async fn get(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
) -> Result<Option<Canary>, ApiError> {
    db.row(
        CANARY_SELECT,
        [
            Value::Text(organization_id.to_owned()),
            Value::Text(prompt_id.to_owned()),
        ],
    )
    .await?
    .as_ref()
    .map(canary)
    .transpose()
}

/// 404 `CANARY_NOT_FOUND`.
pub fn not_running(prompt_id: &str) -> ApiError {
    ApiError::not_found(
        codes::CANARY_NOT_FOUND,
        format!("prompt {prompt_id} has no running canary"),
    )
}

/// The prompt's generation, read inside the transaction that changes it.
pub(crate) async fn generation(db: &Db, prompt_id: &str) -> Result<i64, ApiError> {
    db.row(
        "SELECT generation FROM prompts WHERE id = ?",
        [Value::Text(prompt_id.to_owned())],
    )
    .await?
    .ok_or_else(|| ApiError::internal("prompt vanished inside its transaction"))?
    .int(0)
}

async fn bump_generation(db: &Db, prompt_id: &str) -> Result<i64, ApiError> {
    db.run(
        "UPDATE prompts SET generation = generation + 1 WHERE id = ?",
        [Value::Text(prompt_id.to_owned())],
    )
    .await?;
    generation(db, prompt_id).await
}

/// Starts a canary on a prompt of `principal`'s organization, or changes
/// the running one, and audits it (`prompt.canary.start` / `.update`, with
/// the previous settings). The candidate must be a version of this prompt
/// (404 `VERSION_NOT_FOUND`) other than production (409
/// `CANARY_IS_PRODUCTION`); the prompt must have a production version (409
/// `NO_VERSION_IN_ENVIRONMENT`) and not be archived (409
/// `PROMPT_ARCHIVED`). `sticky_by` left out: `user` for a start, unchanged
/// for an update. The same settings again change nothing. Call inside a
/// transaction.
pub async fn set(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    settings: &CanarySettings,
    stamp: Stamp<'_>,
) -> Result<CanaryChange, ApiError> {
    let org = &principal.organization_id;
    let prompt = prompts::get_active(db, org, prompt_id).await?;
    let candidate = db
        .row(
            "SELECT version FROM prompt_versions WHERE organization_id = ? AND prompt_id = ? \
             AND id = ?",
            [
                Value::Text(org.clone()),
                Value::Text(prompt_id.to_owned()),
                Value::Text(settings.version_id.clone()),
            ],
        )
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                codes::VERSION_NOT_FOUND,
                format!("prompt {prompt_id} has no version {}", settings.version_id),
            )
        })?
        .text(0)?;
    let Some(production) = prompt.production_version_id.as_deref() else {
        return Err(ApiError::conflict(
            codes::NO_VERSION_IN_ENVIRONMENT,
            format!(
                "prompt {prompt_id} has no production version to split with; promote one first"
            ),
        ));
    };
    if production == settings.version_id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::CANARY_IS_PRODUCTION,
            format!(
                "version {} is production already; a canary needs another version",
                settings.version_id
            ),
        ));
    }
    let running = get(db, org, prompt_id).await?;
    let sticky_by = settings
        .sticky_by
        .or(running.as_ref().map(|c| c.sticky_by))
        .unwrap_or(StickyBy::User);
    let params = || {
        [
            Value::Text(settings.version_id.clone()),
            Value::Integer(i64::from(settings.percent)),
            Value::Text(sticky_by.as_str().to_owned()),
            Value::Integer(stamp.now),
            Value::Text(prompt_id.to_owned()),
        ]
    };
    let details = serde_json::json!({
        "versionId": settings.version_id,
        "version": candidate,
        "percent": settings.percent,
        "stickyBy": sticky_by,
        "productionVersionId": production,
    });
    let (action, previous, details) = match &running {
        Some(now)
            if now.version_id == settings.version_id
                && now.percent == settings.percent
                && now.sticky_by == sticky_by =>
        {
            let generation = generation(db, prompt_id).await?;
            return Ok(CanaryChange {
                canary: now.clone(),
                created: false,
                changed: false,
                previous: None,
                audit_entry_id: None,
                generation,
                warnings: Vec::new(),
            });
        }
        Some(now) => {
            db.run(
                "UPDATE prompt_canaries SET version_id = ?, percent = ?, sticky_by = ?, \
                 updated_at = ? WHERE prompt_id = ?",
                params(),
            )
            .await?;
            let previous = PreviousSettings {
                version_id: now.version_id.clone(),
                version: now.version.clone(),
                percent: now.percent,
                sticky_by: now.sticky_by,
            };
            let mut details = details;
            details["previous"] = serde_json::to_value(&previous)
                .map_err(|e| ApiError::internal(format!("previous settings: {e}")))?;
            (actions::CANARY_UPDATE, Some(previous), details)
        }
        None => {
            db.run(
                "INSERT INTO prompt_canaries (version_id, percent, sticky_by, started_at, \
                 prompt_id, organization_id, started_by, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params().into_iter().chain([
                    Value::Text(org.clone()),
                    Value::Text(principal.actor_name.clone()),
                    Value::Integer(stamp.now),
                ]),
            )
            .await?;
            (actions::CANARY_START, None, details)
        }
    };
    let generation = bump_generation(db, prompt_id).await?;
    let audit_entry_id = audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action,
            prompt_id: Some(prompt_id),
            version_id: Some(&settings.version_id),
            details,
        },
    )
    .await?;
    let canary = get(db, org, prompt_id)
        .await?
        .ok_or_else(|| ApiError::internal("canary vanished inside its transaction"))?;
    Ok(CanaryChange {
        canary,
        created: previous.is_none(),
        changed: true,
        previous,
        audit_entry_id: Some(audit_entry_id),
        generation,
        warnings: Vec::new(),
    })
}

/// Ends `canary`: deletes it, bumps the generation and appends its
/// `prompt.canary.end` entry (the settings it ended with, `outcome`,
/// `endedBy`: `end` or `promote`). The caller moves production first when
/// the outcome is a promote. Call inside the transaction of that change.
pub(crate) async fn close(
    db: &Db,
    principal: &Principal,
    canary: Canary,
    outcome: Outcome,
    cause: Cause,
    stamp: Stamp<'_>,
    evidence: Option<&serde_json::Value>,
) -> Result<EndedCanary, ApiError> {
    db.run(
        "DELETE FROM prompt_canaries WHERE prompt_id = ?",
        [Value::Text(canary.prompt_id.clone())],
    )
    .await?;
    bump_generation(db, &canary.prompt_id).await?;
    let mut details = serde_json::json!({
        "versionId": canary.version_id,
        "version": canary.version,
        "percent": canary.percent,
        "stickyBy": canary.sticky_by,
        "startedAt": canary.started_at,
        "outcome": outcome,
        "endedBy": match cause {
            Cause::End => "end",
            Cause::Promote => "promote",
        },
    });
    // The regression watch's reason, so a person reading the log sees why
    // the system acted.
    if let Some(evidence) = evidence {
        details["revert"] = serde_json::Value::Bool(outcome == Outcome::Revert);
        details["evidence"] = evidence.clone();
    }
    let audit_entry_id = audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::CANARY_END,
            prompt_id: Some(&canary.prompt_id),
            version_id: Some(&canary.version_id),
            details,
        },
    )
    .await?;
    Ok(EndedCanary {
        canary,
        outcome,
        audit_entry_id,
    })
}
