//! The regression watch (`migrations/0008_watch.sql`): a prompt's policy,
//! its last verdict, and the evaluation the gateway runs after a call's
//! log row is stored ([`after_call`]).
//!
//! The watch acts only through the functions a person's requests use
//! (`versions::end_canary_with_evidence`, `versions::promote_with_evidence`),
//! with a system principal named [`watch::ACTOR_NAME`]: the same
//! transaction, audit entries, generation bump and cache refresh.

use prompthelm_component_kit::{ApiError, secure_random_bytes};
use prompthelm_domain::ids;
use prompthelm_domain::rollup::{Granularity, Measures, Window};
use prompthelm_domain::time::rfc3339_millis;
use prompthelm_domain::watch::{self, MetricVerdict, Mode, Policy};
use prompthelm_domain::webhook;
use serde::{Deserialize, Serialize};
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::audit::{self, NewEntry, actions};
use crate::auth::{ActorType, Principal};
use crate::cache;
use crate::canary::{self, Outcome};
use crate::db::{Db, json_text};
use crate::prompts;
use crate::rollups;
use crate::versions::{self, Expected};
use crate::webhooks;

/// What `GET`/`PUT /prompts/:id/watch` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchState {
    pub prompt_id: String,
    pub policy: Policy,
    /// The last evaluation, `null` before the first.
    pub verdict: Option<Verdict>,
    /// When and by whom the policy was last set; `null` while it is the
    /// default (never set).
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    /// The watch's newest automatic rollback of this prompt, from the audit
    /// log: the verdict is replaced by the next evaluation (5 s later,
    /// nothing left to watch), the audit entry stays, so this is what tells
    /// a person it happened and why.
    pub last_rollback: Option<Rollback>,
    /// The `prompt.watch.update` entry of a PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_entry_id: Option<String>,
    /// The prompt's generation after a PUT (the cache's version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// What went wrong after a PUT's commit (the cache refresh).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An automatic rollback, as `GET /watch` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// The watch's audit entry: `prompt.promote` (a promote undone) or
    /// `prompt.canary.end` (a canary ended, or the one a rollback's
    /// promote ended).
    pub audit_entry_id: String,
    pub action: String,
    pub at: String,
    /// The entry's `details.evidence`: what was compared and the regressed
    /// metrics with their numbers and sample sizes.
    pub evidence: serde_json::Value,
    /// Whether a promote or a canary change came after it (production or
    /// the canary moved since): then it is history, not the current state.
    pub superseded: bool,
}

/// The newest action of the watch on the prompt, and whether a promote or
/// canary change followed it. One statement on the audit log's prompt
/// index.
async fn last_rollback(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
) -> Result<Option<Rollback>, ApiError> {
    let text = |s: &str| Value::Text(s.to_owned());
    let row = db
        .row(
            "SELECT a.id, a.action, a.created_at, json_extract(a.details, '$.evidence'), \
             EXISTS (SELECT 1 FROM audit_log b WHERE b.prompt_id = a.prompt_id \
             AND b.organization_id = a.organization_id AND b.seq > a.seq \
             AND b.action IN (?, ?, ?, ?)) \
             FROM audit_log a WHERE a.prompt_id = ? AND a.organization_id = ? \
             AND a.action IN (?, ?) AND a.actor_type = ? AND a.actor = ? \
             ORDER BY a.seq DESC LIMIT 1",
            [
                text(actions::PROMPT_PROMOTE),
                text(actions::CANARY_START),
                text(actions::CANARY_UPDATE),
                text(actions::CANARY_END),
                text(prompt_id),
                text(organization_id),
                text(actions::PROMPT_PROMOTE),
                text(actions::CANARY_END),
                text(ActorType::System.as_str()),
                text(watch::ACTOR_NAME),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Rollback {
        audit_entry_id: row.text(0)?,
        action: row.text(1)?,
        at: rfc3339_millis(row.int(2)?),
        evidence: match row.opt_text(3)? {
            Some(_) => row.json(3)?,
            None => serde_json::Value::Null,
        },
        superseded: row.bool(4)?,
    }))
}

/// What was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// A running canary: production against the candidate since it started.
    Canary,
    /// A promote inside the window: the previous version over the window
    /// before it against the new version since.
    Promote,
}

/// One evaluation, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub evaluated_at: String,
    /// `null` when nothing was being watched (no canary, no promote inside
    /// the window): then `metrics` is empty.
    pub subject: Option<Subject>,
    pub baseline_version_id: Option<String>,
    pub candidate_version_id: Option<String>,
    /// When the canary started or the promote happened.
    pub since: Option<String>,
    pub regressed: bool,
    pub metrics: Vec<MetricVerdict>,
    /// What the watch did: `canaryEnded` or `rolledBack` (mode rollback),
    /// `notified` (mode notify: shown here, in the console, and posted to
    /// the organization's webhooks), or `null`.
    pub action: Option<String>,
    /// The audit entry of the action.
    pub audit_entry_id: Option<String>,
    /// How many `watch.regression` webhook deliveries this verdict
    /// enqueued (once per regression; absent when none was announced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_deliveries: Option<usize>,
    /// Why a rollback was not made (someone changed production first), or
    /// what failed after it committed (the cache refresh).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The prompt's policy and last verdict (defaults when never set). The
/// caller checks the prompt.
pub async fn get(db: &Db, organization_id: &str, prompt_id: &str) -> Result<WatchState, ApiError> {
    let row = db
        .row(
            "SELECT policy, verdict, updated_at, updated_by FROM prompt_watches \
             WHERE organization_id = ? AND prompt_id = ?",
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(prompt_id.to_owned()),
            ],
        )
        .await?;
    let state = match row {
        None => WatchState {
            prompt_id: prompt_id.to_owned(),
            policy: Policy::default(),
            verdict: None,
            updated_at: None,
            updated_by: None,
            last_rollback: None,
            audit_entry_id: None,
            generation: None,
            warnings: Vec::new(),
        },
        Some(row) => WatchState {
            prompt_id: prompt_id.to_owned(),
            policy: row.json(0)?,
            verdict: match row.opt_text(1)? {
                None => None,
                Some(_) => Some(row.json(1)?),
            },
            updated_at: Some(rfc3339_millis(row.int(2)?)),
            updated_by: Some(row.text(3)?),
            last_rollback: None,
            audit_entry_id: None,
            generation: None,
            warnings: Vec::new(),
        },
    };
    Ok(WatchState {
        last_rollback: last_rollback(db, organization_id, prompt_id).await?,
        ..state
    })
}

/// Sets the policy of a prompt of `principal`'s organization, bumps the
/// prompt's generation (the gateway's cache entry carries the policy) and
/// audits it (`prompt.watch.update`, with the previous policy). The last
/// verdict is kept. Call inside a transaction, then refresh the cache.
pub async fn put(
    db: &Db,
    principal: &Principal,
    prompt_id: &str,
    policy: &Policy,
    stamp: Stamp<'_>,
) -> Result<WatchState, ApiError> {
    let org = &principal.organization_id;
    prompts::get(db, org, prompt_id).await?;
    let previous = get(db, org, prompt_id).await?;
    db.run(
        "INSERT INTO prompt_watches (prompt_id, organization_id, mode, policy, updated_at, \
         updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (prompt_id) DO UPDATE SET \
         mode = excluded.mode, policy = excluded.policy, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
        [
            Value::Text(prompt_id.to_owned()),
            Value::Text(org.clone()),
            Value::Text(policy.mode.as_str().to_owned()),
            Value::Text(json_text(policy)?),
            Value::Integer(stamp.now),
            Value::Text(principal.actor_name.clone()),
        ],
    )
    .await?;
    db.run(
        "UPDATE prompts SET generation = generation + 1 WHERE id = ?",
        [Value::Text(prompt_id.to_owned())],
    )
    .await?;
    let audit_entry_id = audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::WATCH_UPDATE,
            prompt_id: Some(prompt_id),
            version_id: None,
            details: serde_json::json!({
                "policy": policy,
                "previousPolicy": previous.policy,
            }),
        },
    )
    .await?;
    let mut state = get(db, org, prompt_id).await?;
    state.audit_entry_id = Some(audit_entry_id);
    state.generation = Some(canary::generation(db, prompt_id).await?);
    Ok(state)
}

/// The principal the watch acts as: actor type `system`, named so a person
/// can tell it from the bootstrap token (also `system`).
fn watch_principal(organization_id: &str) -> Principal {
    Principal {
        organization_id: organization_id.to_owned(),
        actor: watch::ACTOR_NAME.to_owned(),
        actor_name: watch::ACTOR_NAME.to_owned(),
        actor_type: ActorType::System,
        scopes: Vec::new(),
    }
}

/// Claims the prompt's next evaluation: one conditional UPDATE, so of all
/// replicas and concurrent calls one wins per [`watch::EVALUATE_EVERY_MS`].
async fn claim(db: &Db, prompt_id: &str, now: i64) -> Result<bool, ApiError> {
    let changed = db
        .run_counting_changes(
            "UPDATE prompt_watches SET evaluated_at = ? WHERE prompt_id = ? \
             AND mode != 'off' AND evaluated_at <= ?",
            [
                Value::Integer(now),
                Value::Text(prompt_id.to_owned()),
                Value::Integer(now - watch::EVALUATE_EVERY_MS),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// The pair a verdict compares, and the windows of each arm.
struct Pair {
    subject: Subject,
    baseline: String,
    candidate: String,
    since: i64,
    baseline_window: Window,
    candidate_window: Window,
}

fn window(from: i64, to: i64) -> Result<Window, ApiError> {
    Window::custom(from, to, Granularity::Minute)
        .map_err(|e| ApiError::internal(format!("watch window: {e}")))
}

/// What is being watched now: the running canary, else the last promote
/// inside the window (unless the watch made it: a rollback is not judged
/// against the version it rolled back from).
async fn pair(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    policy: &Policy,
    now: i64,
) -> Result<Option<Pair>, ApiError> {
    let from = now - policy.window_ms();
    let canary = db
        .row(
            "SELECT k.version_id, p.production_version_id, k.started_at FROM prompt_canaries k \
             JOIN prompts p ON p.id = k.prompt_id WHERE k.organization_id = ? AND k.prompt_id = ?",
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(prompt_id.to_owned()),
            ],
        )
        .await?;
    if let Some(row) = canary {
        let (Some(baseline), since) = (row.opt_text(1)?, row.int(2)?) else {
            return Ok(None);
        };
        let arms = window(since.max(from), now + 1)?;
        return Ok(Some(Pair {
            subject: Subject::Canary,
            baseline,
            candidate: row.text(0)?,
            since,
            baseline_window: arms,
            candidate_window: arms,
        }));
    }
    let promote = db
        .row(
            "SELECT actor, actor_type, version_id, \
             json_extract(details, '$.previousVersionId'), created_at FROM audit_log \
             WHERE prompt_id = ? AND action = ? AND organization_id = ? \
             ORDER BY seq DESC LIMIT 1",
            [
                Value::Text(prompt_id.to_owned()),
                Value::Text(actions::PROMPT_PROMOTE.to_owned()),
                Value::Text(organization_id.to_owned()),
            ],
        )
        .await?;
    let Some(row) = promote else {
        return Ok(None);
    };
    let by_watch = row.text(0)? == watch::ACTOR_NAME && row.text(1)? == ActorType::System.as_str();
    let since = row.int(4)?;
    let (Some(candidate), Some(baseline)) = (row.opt_text(2)?, row.opt_text(3)?) else {
        return Ok(None);
    };
    if by_watch || since < from {
        return Ok(None);
    }
    Ok(Some(Pair {
        subject: Subject::Promote,
        baseline,
        candidate,
        since,
        baseline_window: window(since - policy.window_ms(), since)?,
        candidate_window: window(since, now + 1)?,
    }))
}

async fn measures(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    window: &Window,
    version_id: &str,
) -> Result<Measures, ApiError> {
    let mut total = Measures::default();
    for row in rollups::read(db, organization_id, prompt_id, window, Some(version_id)).await? {
        total.merge(&row.measures);
    }
    Ok(total)
}

/// Values of one signal read per arm, at most (the newest): a bound on the
/// evaluation's work, far above what a product signal sends in a window.
const MAX_SIGNAL_VALUES: i64 = 10_000;

/// The watched signals' verdicts. Signals are the prompt's, not a
/// version's, so they are compared only after a promote: the values sent
/// about the window before it against those since. During a canary both
/// versions serve at once and no value can be told apart: each signal is
/// reported without data, with a warning.
async fn signal_verdicts(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    policy: &Policy,
    pair: &Pair,
    now: i64,
    warnings: &mut Vec<String>,
) -> Result<Vec<MetricVerdict>, ApiError> {
    if policy.signals.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(policy.signals.len());
    if pair.subject == Subject::Canary {
        warnings.push(
            "signals belong to the prompt, not to a version: during a canary both versions \
             serve at once, so watched signals are compared only after a promote"
                .to_owned(),
        );
        for signal in &policy.signals {
            out.push(watch::compare_signal(policy, signal, &[], &[]));
        }
        return Ok(out);
    }
    for signal in &policy.signals {
        let values = |from: i64, to: i64| {
            signal_values(db, organization_id, prompt_id, &signal.name, from, to)
        };
        let baseline = values(pair.since - policy.window_ms(), pair.since).await?;
        let candidate = values(pair.since, now + 1).await?;
        out.push(watch::compare_signal(policy, signal, &baseline, &candidate));
    }
    Ok(out)
}

/// The values of signal `name` about `[from, to)` (ms).
async fn signal_values(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    name: &str,
    from: i64,
    to: i64,
) -> Result<Vec<f64>, ApiError> {
    let rows = db
        .rows(
            "SELECT value FROM prompt_signals WHERE organization_id = ? AND prompt_id = ? \
             AND name = ? AND at >= ? AND at < ? ORDER BY at DESC LIMIT ?",
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(prompt_id.to_owned()),
                Value::Text(name.to_owned()),
                Value::Integer(from),
                Value::Integer(to),
                Value::Integer(MAX_SIGNAL_VALUES),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            row.opt_real(0)?
                .ok_or_else(|| ApiError::internal("a signal without a value"))
        })
        .collect()
}

/// The evidence of an action, for its audit entries: the regressed
/// metrics with their numbers and sample sizes.
fn evidence(pair: &Pair, policy: &Policy, verdicts: &[MetricVerdict]) -> serde_json::Value {
    serde_json::json!({
        "subject": pair.subject,
        "baselineVersionId": pair.baseline,
        "candidateVersionId": pair.candidate,
        "since": rfc3339_millis(pair.since),
        "windowMinutes": policy.window_minutes,
        "alpha": policy.alpha,
        "regressed": verdicts.iter().filter(|v| v.regressed).collect::<Vec<_>>(),
    })
}

/// Runs after a production call of a watched prompt stored its log row:
/// claims the evaluation (at most one per [`watch::EVALUATE_EVERY_MS`]),
/// compares the pair being watched, and in one transaction acts on a
/// regression (mode `rollback`), enqueues its webhook deliveries (modes
/// `notify` and `rollback`, once per regression) and stores the verdict,
/// so no verdict is stored without its deliveries. `None` when another
/// call holds the claim. `request_id` is the call's, stamped on the
/// action's entries.
pub async fn after_call(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    policy: &Policy,
    request_id: &str,
    now: i64,
) -> Result<Option<Verdict>, ApiError> {
    if policy.mode == Mode::Off || !claim(db, prompt_id, now).await? {
        return Ok(None);
    }
    let mut verdict = Verdict {
        evaluated_at: rfc3339_millis(now),
        subject: None,
        baseline_version_id: None,
        candidate_version_id: None,
        since: None,
        regressed: false,
        metrics: Vec::new(),
        action: None,
        audit_entry_id: None,
        webhook_deliveries: None,
        warnings: Vec::new(),
    };
    let pair = pair(db, organization_id, prompt_id, policy, now).await?;
    if let Some(pair) = &pair {
        let baseline = measures(
            db,
            organization_id,
            prompt_id,
            &pair.baseline_window,
            &pair.baseline,
        )
        .await?;
        let candidate = measures(
            db,
            organization_id,
            prompt_id,
            &pair.candidate_window,
            &pair.candidate,
        )
        .await?;
        verdict.metrics = watch::compare(policy, &baseline, &candidate);
        verdict.metrics.extend(
            signal_verdicts(
                db,
                organization_id,
                prompt_id,
                policy,
                pair,
                now,
                &mut verdict.warnings,
            )
            .await?,
        );
        verdict.regressed = verdict.metrics.iter().any(|m| m.regressed);
        verdict.subject = Some(pair.subject);
        verdict.baseline_version_id = Some(pair.baseline.clone());
        verdict.candidate_version_id = Some(pair.candidate.clone());
        verdict.since = Some(rfc3339_millis(pair.since));
    }
    let mut verdict = db
        .transaction(async |db| {
            if let (Some(pair), true) = (&pair, verdict.regressed) {
                match policy.mode {
                    Mode::Rollback => {
                        act(
                            db,
                            organization_id,
                            prompt_id,
                            pair,
                            policy,
                            request_id,
                            now,
                            &mut verdict,
                        )
                        .await?
                    }
                    Mode::Notify => verdict.action = Some("notified".to_owned()),
                    Mode::Off => {}
                }
                announce(
                    db,
                    organization_id,
                    prompt_id,
                    pair,
                    policy,
                    now,
                    &mut verdict,
                )
                .await?;
            }
            store_verdict(db, prompt_id, &verdict).await?;
            Ok(verdict)
        })
        .await?;
    if verdict.action.as_deref().is_some_and(|a| a != "notified") {
        // After the commit, as a person's promote: a store that refuses
        // does not undo the rollback, and the verdict says so.
        if let Some(warning) = cache::refresh_after_commit(db, organization_id, prompt_id).await {
            verdict.warnings.push(warning);
            store_verdict(db, prompt_id, &verdict).await?;
        }
    }
    Ok(Some(verdict))
}

async fn store_verdict(db: &Db, prompt_id: &str, verdict: &Verdict) -> Result<(), ApiError> {
    db.run(
        "UPDATE prompt_watches SET verdict = ? WHERE prompt_id = ?",
        [
            Value::Text(json_text(verdict)?),
            Value::Text(prompt_id.to_owned()),
        ],
    )
    .await
}

/// Enqueues the regression's `watch.regression` deliveries, unless this
/// regression (the same subject, candidate and start) was announced
/// already: one announcement per regression, not one per evaluation.
/// Inside the verdict's transaction.
async fn announce(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    pair: &Pair,
    policy: &Policy,
    now: i64,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    let subject = match pair.subject {
        Subject::Canary => "canary",
        Subject::Promote => "promote",
    };
    let key = format!("{subject}:{}:{}", pair.candidate, pair.since);
    let announced = db
        .row(
            "SELECT notified FROM prompt_watches WHERE prompt_id = ?",
            [Value::Text(prompt_id.to_owned())],
        )
        .await?
        .map(|row| row.opt_text(0))
        .transpose()?
        .flatten();
    if announced.as_deref() == Some(key.as_str()) {
        return Ok(());
    }
    let prompt = db
        .row(
            "SELECT slug, production_version_id FROM prompts WHERE id = ?",
            [Value::Text(prompt_id.to_owned())],
        )
        .await?
        .ok_or_else(|| ApiError::internal("a watched prompt is gone"))?;
    let version = async |id: &str| -> Result<Option<String>, ApiError> {
        db.row(
            "SELECT version FROM prompt_versions WHERE id = ?",
            [Value::Text(id.to_owned())],
        )
        .await?
        .map(|row| row.text(0))
        .transpose()
    };
    let rolled_back = matches!(
        verdict.action.as_deref(),
        Some("canaryEnded" | "rolledBack")
    );
    let payload = serde_json::json!({
        "id": ids::new_id(ids::EVENT, secure_random_bytes()),
        "type": webhook::EVENT_WATCH_REGRESSION,
        "createdAt": rfc3339_millis(now),
        "organizationId": organization_id,
        "data": {
            "promptId": prompt_id,
            "promptSlug": prompt.text(0)?,
            "mode": policy.mode,
            "subject": pair.subject,
            "baselineVersionId": pair.baseline,
            "baselineVersion": version(&pair.baseline).await?,
            "candidateVersionId": pair.candidate,
            "candidateVersion": version(&pair.candidate).await?,
            "since": rfc3339_millis(pair.since),
            "evaluatedAt": verdict.evaluated_at,
            "rolledBack": rolled_back,
            "action": verdict.action,
            "auditEntryId": verdict.audit_entry_id,
            "productionVersionId": prompt.opt_text(1)?,
            "windowMinutes": policy.window_minutes,
            "alpha": policy.alpha,
            "evidence": verdict.metrics.iter().filter(|m| m.regressed).collect::<Vec<_>>(),
        },
    });
    let queued = webhooks::enqueue(
        db,
        organization_id,
        webhook::EVENT_WATCH_REGRESSION,
        Some(prompt_id),
        &payload,
        now,
    )
    .await?;
    db.run(
        "UPDATE prompt_watches SET notified = ? WHERE prompt_id = ?",
        [Value::Text(key), Value::Text(prompt_id.to_owned())],
    )
    .await?;
    verdict.webhook_deliveries = Some(queued);
    Ok(())
}

/// Ends the canary (outcome `revert`) or re-promotes the baseline, as a
/// person would, if production is still what was judged. Inside the
/// verdict's transaction; the caller refreshes the cache after it.
#[allow(clippy::too_many_arguments)]
async fn act(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
    pair: &Pair,
    policy: &Policy,
    request_id: &str,
    now: i64,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    let principal = watch_principal(organization_id);
    let stamp = Stamp { request_id, now };
    let evidence = evidence(pair, policy, &verdict.metrics);
    let acted = match pair.subject {
        Subject::Canary => {
            // Someone changed the canary since it was judged: leave it.
            match canary::get(db, organization_id, prompt_id).await? {
                Some(running) if running.version_id == pair.candidate => {
                    let ended = versions::end_canary_with_evidence(
                        db,
                        &principal,
                        prompt_id,
                        Outcome::Revert,
                        stamp,
                        &evidence,
                    )
                    .await?;
                    Some(("canaryEnded", ended.audit_entry_id))
                }
                _ => None,
            }
        }
        Subject::Promote => {
            // The compare-and-swap leaves a production someone moved
            // since alone (409 inside, no change).
            let promotion = versions::promote_with_evidence(
                db,
                &principal,
                prompt_id,
                &pair.baseline,
                Expected::Version(&pair.candidate),
                stamp,
                &evidence,
            )
            .await;
            match promotion {
                Ok(p) => p.audit_entry_id.map(|id| ("rolledBack", id)),
                Err(e) if e.status.as_u16() == 409 || e.status.as_u16() == 404 => None,
                Err(e) => return Err(e),
            }
        }
    };
    match acted {
        Some((action, entry)) => {
            verdict.action = Some(action.to_owned());
            verdict.audit_entry_id = Some(entry);
        }
        None => verdict
            .warnings
            .push("production changed since it was judged; nothing was rolled back".to_owned()),
    }
    Ok(())
}
