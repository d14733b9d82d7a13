//! Prompt versions: immutable snapshots. Saving one numbers it by the
//! semver rules and makes it the development version; promoting one moves
//! the production pointer. Nothing here updates or deletes a version row
//! (the schema's triggers refuse it anyway).

use std::collections::HashMap;

use prompthelm_component_kit::{ApiError, StatusCode, secure_random_bytes};
use prompthelm_domain::compare::VersionContent;
use prompthelm_domain::envelope::codes;
use prompthelm_domain::ids::{self, VERSION};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::semver::{self, Version as Semver};
use prompthelm_domain::time::rfc3339_millis;
use prompthelm_domain::validation::VersionDraft;
use prompthelm_domain::variables::VariableSpec;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::audit::{self, NewEntry, actions};
use crate::auth::Principal;
use crate::canary::{self, Cause, EndedCanary, Outcome};
use crate::db::{Db, Row, json_text, opt};
use crate::prompts;

/// A version as served.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub id: String,
    pub prompt_id: String,
    /// The semver number, e.g. `1.2.0`.
    pub version: String,
    #[serde(flatten)]
    pub content: VersionContent,
    pub message: String,
    pub author: String,
    pub created_at: String,
    /// Whether the production pointer is on this version now.
    pub is_production: bool,
    /// Whether this is the development version (the newest save).
    pub is_development: bool,
    /// When this version was last promoted to production, if ever.
    pub last_promoted_at: Option<String>,
}

/// The columns [`version`] reads, in order, for `prompt_versions v` joined
/// with `prompts p`.
const VERSION_SELECT: &str = "SELECT v.seq, v.id, v.prompt_id, v.version, v.system, \
     v.user_template, v.variables, v.model, v.temperature, v.max_tokens, v.top_p, \
     v.stop_sequences, v.message, v.author, v.created_at, \
     COALESCE(p.production_version_id = v.id, 0), COALESCE(p.development_version_id = v.id, 0), \
     (SELECT MAX(a.created_at) FROM audit_log a WHERE a.prompt_id = v.prompt_id \
        AND a.action = 'prompt.promote' AND a.version_id = v.id) \
     FROM prompt_versions v JOIN prompts p ON p.id = v.prompt_id";

fn version(row: &Row) -> Result<Version, ApiError> {
    Ok(Version {
        id: row.text(1)?,
        prompt_id: row.text(2)?,
        version: row.text(3)?,
        content: content_at(row, 4)?,
        message: row.text(12)?,
        author: row.text(13)?,
        created_at: rfc3339_millis(row.int(14)?),
        is_production: row.bool(15)?,
        is_development: row.bool(16)?,
        last_promoted_at: row.opt_int(17)?.map(rfc3339_millis),
    })
}

/// Reads the content columns `system, user_template, variables, model,
/// temperature, max_tokens, top_p, stop_sequences`, in that order, starting
/// at column `first`.
pub(crate) fn content_at(row: &Row, first: usize) -> Result<VersionContent, ApiError> {
    let max_tokens = row
        .opt_int(first + 5)?
        .map(|n| u32::try_from(n).map_err(|_| ApiError::internal("max_tokens out of range")))
        .transpose()?;
    Ok(VersionContent {
        system: row.text(first)?,
        user: row.text(first + 1)?,
        variables: row.json(first + 2)?,
        model: row.text(first + 3)?,
        temperature: row.opt_real(first + 4)?,
        max_tokens,
        top_p: row.opt_real(first + 6)?,
        stop_sequences: row.json(first + 7)?,
    })
}

fn not_found(version_id: &str, prompt_id: &str) -> ApiError {
    ApiError::not_found(
        codes::VERSION_NOT_FOUND,
        format!("prompt {prompt_id} has no version {version_id}"),
    )
}

/// A version of a prompt of the organization, or 404 `VERSION_NOT_FOUND`
/// (also when the version belongs to another prompt).
pub async fn get(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    version_id: &str,
) -> Result<Version, ApiError> {
    let row = db
        .row(
            &format!(
                "{VERSION_SELECT} WHERE v.organization_id = ? AND v.prompt_id = ? AND v.id = ?"
            ),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(prompt_id.to_owned()),
                Value::Text(version_id.to_owned()),
            ],
        )
        .await?
        .ok_or_else(|| not_found(version_id, prompt_id))?;
    version(&row)
}

/// A page of the prompt's versions, in the order they were saved.
pub async fn list(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    page: &PageRequest,
) -> Result<Page<Version>, ApiError> {
    // 404 for an unknown prompt rather than an empty list.
    prompts::get(db, organization_id, prompt_id).await?;
    db.page(
        &format!(
            "{VERSION_SELECT} WHERE v.organization_id = ? AND v.prompt_id = ? AND v.seq > ? \
             ORDER BY v.seq LIMIT ?"
        ),
        vec![
            Value::Text(organization_id.to_owned()),
            Value::Text(prompt_id.to_owned()),
            Value::Integer(page.after.unwrap_or(0)),
        ],
        page,
        version,
    )
    .await
}

/// Saves a validated draft as the prompt's next version, makes it the
/// development version, and audits it. The number follows
/// [`semver::next_version`] against the newest save. Call inside a
/// transaction (the write lock keeps two saves from taking one number).
pub async fn create(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    draft: &VersionDraft,
    stamp: Stamp<'_>,
) -> Result<Version, ApiError> {
    let org = &principal.organization_id;
    prompts::get_active(db, org, prompt_id).await?;
    let newest = db
        .row(
            "SELECT version, variables FROM prompt_versions WHERE prompt_id = ? \
             ORDER BY major DESC, minor DESC, patch DESC LIMIT 1",
            [Value::Text(prompt_id.to_owned())],
        )
        .await?;
    let previous = match &newest {
        Some(row) => {
            let number = Semver::parse(&row.text(0)?).map_err(ApiError::internal)?;
            let schema: Vec<VariableSpec> = row.json(1)?;
            Some((number, schema))
        }
        None => None,
    };
    let number = semver::next_version(
        previous.as_ref().map(|(n, s)| (n, s.as_slice())),
        &draft.variables,
    );
    let id = ids::new_id(VERSION, secure_random_bytes());
    db.run(
        "INSERT INTO prompt_versions (id, prompt_id, organization_id, version, major, minor, patch, \
         system, user_template, variables, model, temperature, max_tokens, top_p, stop_sequences, \
         message, author, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(id.clone()),
            Value::Text(prompt_id.to_owned()),
            Value::Text(org.clone()),
            Value::Text(number.to_string()),
            Value::Integer(clamp(number.major)),
            Value::Integer(clamp(number.minor)),
            Value::Integer(clamp(number.patch)),
            Value::Text(draft.system.clone()),
            Value::Text(draft.user.clone()),
            Value::Text(json_text(&draft.variables)?),
            Value::Text(draft.model.clone()),
            opt(draft.temperature),
            opt(draft.max_tokens.map(i64::from)),
            opt(draft.top_p),
            Value::Text(json_text(&draft.stop_sequences)?),
            Value::Text(draft.message.clone()),
            Value::Text(principal.actor_name.clone()),
            Value::Integer(stamp.now),
        ],
    )
    .await?;
    db.run(
        "UPDATE prompts SET development_version_id = ? WHERE id = ?",
        [Value::Text(id.clone()), Value::Text(prompt_id.to_owned())],
    )
    .await?;
    audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::VERSION_CREATE,
            prompt_id: Some(prompt_id),
            version_id: Some(&id),
            details: serde_json::json!({
                "version": number.to_string(),
                "previousVersion": previous.as_ref().map(|(n, _)| n.to_string()),
                "message": draft.message,
            }),
        },
    )
    .await?;
    get(db, org, prompt_id, &id).await
}

/// Semver parts are u64; SQLite integers are i64. No real prompt gets near.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What a promote did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub prompt_id: String,
    /// The version now in production.
    pub version_id: String,
    pub version: String,
    /// The version production pointed at before, if any.
    pub previous_version_id: Option<String>,
    pub previous_version: Option<String>,
    /// Whether the pointer moved. `false` when the version was production
    /// already: nothing changed and nothing was audited.
    pub changed: bool,
    /// Whether the version had been production before: a rollback.
    pub revert: bool,
    /// The `prompt.promote` audit entry, when the pointer moved.
    pub audit_entry_id: Option<String>,
    /// The prompt's generation after the promote (the cache's version).
    pub generation: i64,
    /// The canary this promote ended (every promote that moves the pointer
    /// ends a running canary, in its transaction): outcome `promote` when
    /// the candidate was promoted, else `revert`. Absent when none ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_canary: Option<EndedCanary>,
    /// What went wrong after the commit (the cache refresh); the promote
    /// itself is done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The production version a promote expects to replace
/// (`expectedCurrentVersionId`): a compare-and-swap on the pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected<'a> {
    /// No check.
    Anything,
    /// Production must have no version yet.
    Nothing,
    /// Production must be this version.
    Version(&'a str),
}

/// Moves the production pointer of a prompt of `principal`'s organization
/// to one of its versions and audits it with `revert` set when the version
/// had been production before. A running canary ends with it (see
/// [`Promotion::ended_canary`]): production moved under it, so its split no
/// longer compares what it was started to compare. Promoting the current
/// production version changes nothing. Call inside a transaction.
pub async fn promote(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    version_id: &str,
    expected: Expected<'_>,
    stamp: Stamp<'_>,
) -> Result<Promotion, ApiError> {
    promote_ending_canary(
        db,
        principal,
        prompt_id,
        version_id,
        expected,
        stamp,
        Cause::Promote,
        None,
    )
    .await
}

/// [`promote`] with the evidence of a system actor (the regression
/// watch) in its audit entries' `details.evidence`: the same code path as a
/// person's promote, so the same rules, entries and canary ending.
pub async fn promote_with_evidence(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    version_id: &str,
    expected: Expected<'_>,
    stamp: Stamp<'_>,
    evidence: &serde_json::Value,
) -> Result<Promotion, ApiError> {
    promote_ending_canary(
        db,
        principal,
        prompt_id,
        version_id,
        expected,
        stamp,
        Cause::Promote,
        Some(evidence),
    )
    .await
}

// One private path behind promote, end_canary and their system twins.
#[allow(clippy::too_many_arguments)]
async fn promote_ending_canary(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    version_id: &str,
    expected: Expected<'_>,
    stamp: Stamp<'_>,
    cause: Cause,
    evidence: Option<&serde_json::Value>,
) -> Result<Promotion, ApiError> {
    let org = &principal.organization_id;
    let prompt = prompts::get_active(db, org, prompt_id).await?;
    let target = get(db, org, prompt_id, version_id).await?;
    let current = prompt.production_version_id.as_deref();
    let holds = match expected {
        Expected::Anything => true,
        Expected::Nothing => current.is_none(),
        Expected::Version(id) => current == Some(id),
    };
    if !holds {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::PRECONDITION_FAILED,
            format!(
                "production is {}, not the expected version; nothing was changed",
                current.unwrap_or("not set")
            ),
        )
        .with_details(serde_json::json!({"currentVersionId": current})));
    }
    let previous = match &prompt.production_version_id {
        Some(id) => Some(get(db, org, prompt_id, id).await?),
        None => None,
    };
    if target.is_production {
        return Ok(Promotion {
            prompt_id: prompt_id.to_owned(),
            version_id: target.id,
            version: target.version,
            previous_version_id: Some(version_id.to_owned()),
            previous_version: previous.map(|p| p.version),
            changed: false,
            revert: false,
            audit_entry_id: None,
            generation: canary::generation(db, prompt_id).await?,
            ended_canary: None,
            warnings: Vec::new(),
        });
    }
    let revert = target.last_promoted_at.is_some();
    db.run(
        "UPDATE prompts SET production_version_id = ?, generation = generation + 1 WHERE id = ?",
        [
            Value::Text(version_id.to_owned()),
            Value::Text(prompt_id.to_owned()),
        ],
    )
    .await?;
    let previous_version_id = previous.as_ref().map(|p| p.id.clone());
    let previous_version = previous.map(|p| p.version);
    let mut details = serde_json::json!({
        "previousVersionId": previous_version_id,
        "previousVersion": previous_version,
        "versionId": version_id,
        "version": target.version,
        "revert": revert,
    });
    if let Some(evidence) = evidence {
        details["evidence"] = evidence.clone();
    }
    let audit_entry_id = audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::PROMPT_PROMOTE,
            prompt_id: Some(prompt_id),
            version_id: Some(version_id),
            details,
        },
    )
    .await?;
    let ended_canary = match canary::get(db, org, prompt_id).await? {
        Some(running) => {
            let outcome = if running.version_id == version_id {
                Outcome::Promote
            } else {
                Outcome::Revert
            };
            Some(canary::close(db, principal, running, outcome, cause, stamp, evidence).await?)
        }
        None => None,
    };
    Ok(Promotion {
        prompt_id: prompt_id.to_owned(),
        version_id: target.id,
        version: target.version,
        previous_version_id,
        previous_version,
        changed: true,
        revert,
        audit_entry_id: Some(audit_entry_id),
        generation: canary::generation(db, prompt_id).await?,
        ended_canary,
        warnings: Vec::new(),
    })
}

/// What ending a canary did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryEnd {
    /// The canary as it ran until it ended.
    pub canary: canary::Canary,
    pub outcome: Outcome,
    /// The promote of the candidate, for outcome `promote`; else `null`.
    pub promotion: Option<Promotion>,
    /// The `prompt.canary.end` entry.
    pub audit_entry_id: String,
    /// The prompt's generation after the change (the cache's version).
    pub generation: i64,
    /// What went wrong after the commit (the cache refresh).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Ends the running canary of a prompt of `principal`'s organization:
/// `Revert` leaves production as it is; `Promote` promotes the candidate
/// exactly as `POST .../versions/:vid/promote` does (its `prompt.promote`
/// entry, `revert` set if it had been production before), then the canary
/// ends with it. Either way one `prompt.canary.end` entry (`endedBy: end`).
/// 404 `CANARY_NOT_FOUND` when none runs; 409 `PROMPT_ARCHIVED`. The one
/// way to end a canary, for a person (`DELETE /prompts/:id/canary`) and
/// for the system (a `Principal` of actor type `system`). Call inside a
/// transaction, then refresh the cache.
pub async fn end_canary(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    outcome: Outcome,
    stamp: Stamp<'_>,
) -> Result<CanaryEnd, ApiError> {
    end_canary_with(db, principal, prompt_id, outcome, stamp, None).await
}

/// [`end_canary`] by a system actor (the regression watch), with its
/// evidence in the audit entries' `details.evidence`.
pub async fn end_canary_with_evidence(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    outcome: Outcome,
    stamp: Stamp<'_>,
    evidence: &serde_json::Value,
) -> Result<CanaryEnd, ApiError> {
    end_canary_with(db, principal, prompt_id, outcome, stamp, Some(evidence)).await
}

async fn end_canary_with(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    outcome: Outcome,
    stamp: Stamp<'_>,
    evidence: Option<&serde_json::Value>,
) -> Result<CanaryEnd, ApiError> {
    let org = &principal.organization_id;
    prompts::get_active(db, org, prompt_id).await?;
    let running = canary::get(db, org, prompt_id)
        .await?
        .ok_or_else(|| canary::not_running(prompt_id))?;
    let (ended, promotion) = match outcome {
        Outcome::Revert => (
            canary::close(db, principal, running, outcome, Cause::End, stamp, evidence).await?,
            None,
        ),
        Outcome::Promote => {
            let mut promotion = promote_ending_canary(
                db,
                principal,
                prompt_id,
                &running.version_id,
                Expected::Anything,
                stamp,
                Cause::End,
                evidence,
            )
            .await?;
            let ended = promotion.ended_canary.take().ok_or_else(|| {
                ApiError::internal("promoting the candidate did not end its canary")
            })?;
            (ended, Some(promotion))
        }
    };
    Ok(CanaryEnd {
        canary: ended.canary,
        outcome: ended.outcome,
        promotion,
        audit_entry_id: ended.audit_entry_id,
        generation: canary::generation(db, prompt_id).await?,
        warnings: Vec::new(),
    })
}

/// The semver label of each version of a prompt of the organization, by id.
pub async fn labels(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
) -> Result<HashMap<String, String>, ApiError> {
    db.rows(
        "SELECT id, version FROM prompt_versions WHERE organization_id = ? AND prompt_id = ?",
        [
            Value::Text(organization_id.to_owned()),
            Value::Text(prompt_id.to_owned()),
        ],
    )
    .await?
    .iter()
    .map(|row| Ok((row.text(0)?, row.text(1)?)))
    .collect()
}
