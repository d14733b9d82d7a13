//! Webhooks (`migrations/0011_webhooks.sql`): an organization's endpoints,
//! the deliveries the regression watch enqueues ([`enqueue`], inside the
//! transaction of its verdict), and sending them ([`deliver_due`] from the
//! gateway, [`retry`] by hand).
//!
//! This is the one module of the store that talks HTTP: an attempt is a
//! claim (one conditional UPDATE taking a lease, so replicas never send the
//! same attempt twice), the signed POST, and the record of its outcome, and
//! the three only make sense together.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use prompthelm_component_kit::{ApiError, codes, now_unix_millis, outbound, secure_random_bytes};
use prompthelm_domain::ids::{self, DELIVERY, WEBHOOK};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::time::rfc3339_millis;
use prompthelm_domain::webhook::{self, NewWebhook, State};
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::audit::{self, NewEntry, actions};
use crate::auth::Principal;
use crate::db::{Db, Row, json_text, opt};

/// How long one attempt may take, headers and all.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a claimed attempt holds its delivery: longer than any send, so
/// a lease only expires when its sender died mid-way.
const LEASE_MS: i64 = 30_000;
/// Deliveries one gateway call attempts at most, and the time after which
/// it starts no more (each attempt may still take [`SEND_TIMEOUT`]): this
/// bounds what a regression adds to the call that found it.
pub const MAX_DUE_PER_CALL: i64 = 3;
const DUE_BUDGET: Duration = Duration::from_secs(3);

/// An endpoint, as served (never with its secret, except once: [`Created`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

/// The answer of `POST /webhooks`: the endpoint with its signing secret,
/// shown this once.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
    pub audit_entry_id: String,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub attempt: i64,
    pub at: String,
    pub duration_ms: i64,
    /// The receiver's status; `null` when none came (`error` says why).
    pub http_status: Option<i64>,
    pub error: Option<String>,
    /// Asked for by a person (`.../retry`).
    pub manual: bool,
}

/// A delivery and its attempts, as served by the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub prompt_id: Option<String>,
    pub state: State,
    pub attempts: i64,
    /// When the next automatic attempt is due; `null` once delivered or
    /// failed.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub attempt_log: Vec<Attempt>,
    /// The body sent (and signed) on every attempt.
    pub payload: serde_json::Value,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        codes::WEBHOOK_NOT_FOUND,
        format!("no webhook endpoint {id}"),
    )
}

const WEBHOOK_COLUMNS: &str = "seq, id, url, events, description, created_at, created_by";

fn webhook_of(row: &Row) -> Result<Webhook, ApiError> {
    Ok(Webhook {
        id: row.text(1)?,
        url: row.text(2)?,
        events: row.json(3)?,
        description: row.opt_text(4)?,
        created_at: rfc3339_millis(row.int(5)?),
        created_by: row.text(6)?,
    })
}

/// Adds an endpoint with `secret` to `principal`'s organization and audits
/// it (`webhook.create`, without the secret), in one transaction; at most
/// [`webhook::MAX_WEBHOOKS`] per organization (409 past it).
pub async fn create(
    db: &Db,
    principal: &Principal,
    stamp: Stamp<'_>,
    new: &NewWebhook,
    secret: String,
) -> Result<Created, ApiError> {
    let org = &principal.organization_id;
    db.transaction(async |db| {
        let count = db
            .row(
                "SELECT COUNT(*) FROM webhooks WHERE organization_id = ?",
                [Value::Text(org.clone())],
            )
            .await?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        if count >= webhook::MAX_WEBHOOKS as i64 {
            return Err(ApiError::conflict(
                codes::TOO_MANY_WEBHOOKS,
                format!(
                    "the organization has {} webhook endpoints, the most allowed: delete one first",
                    webhook::MAX_WEBHOOKS
                ),
            ));
        }
        let id = ids::new_id(WEBHOOK, secure_random_bytes());
        db.run(
            "INSERT INTO webhooks (id, organization_id, url, events, description, secret, \
             created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                Value::Text(id.clone()),
                Value::Text(org.clone()),
                Value::Text(new.url.clone()),
                Value::Text(json_text(&new.events)?),
                opt(new.description.clone()),
                Value::Text(secret.clone()),
                Value::Integer(stamp.now),
                Value::Text(principal.actor_name.clone()),
            ],
        )
        .await?;
        let audit_entry_id = audit::append(
            db,
            principal,
            stamp,
            NewEntry {
                action: actions::WEBHOOK_CREATE,
                prompt_id: None,
                version_id: None,
                details: serde_json::json!({
                    "webhookId": id,
                    "url": new.url,
                    "events": new.events,
                }),
            },
        )
        .await?;
        Ok(Created {
            webhook: get(db, org, &id).await?,
            secret: secret.clone(),
            audit_entry_id,
        })
    })
    .await
}

/// One endpoint of the organization, or 404.
pub async fn get(db: &Db, organization_id: &str, id: &str) -> Result<Webhook, ApiError> {
    if !ids::looks_like(WEBHOOK, id) {
        return Err(not_found(id));
    }
    let row = db
        .row(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE organization_id = ? AND id = ?"),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(id.to_owned()),
            ],
        )
        .await?
        .ok_or_else(|| not_found(id))?;
    webhook_of(&row)
}

/// The organization's endpoints, newest first.
pub async fn list(
    db: &Db,
    organization_id: &str,
    page: &PageRequest,
) -> Result<Page<Webhook>, ApiError> {
    let mut params = vec![Value::Text(organization_id.to_owned())];
    let mut sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE organization_id = ?");
    if let Some(after) = page.after {
        sql.push_str(" AND seq < ?");
        params.push(Value::Integer(after));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    db.page(&sql, params, page, webhook_of).await
}

/// Deletes an endpoint with its deliveries and their attempts, audited
/// (`webhook.delete`), in one transaction. Nothing is sent to it after.
pub async fn delete(
    db: &Db,
    principal: &Principal,
    stamp: Stamp<'_>,
    id: &str,
) -> Result<serde_json::Value, ApiError> {
    let org = &principal.organization_id;
    db.transaction(async |db| {
        let webhook = get(db, org, id).await?;
        let key = || [Value::Text(id.to_owned())];
        db.run(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)",
            key(),
        )
        .await?;
        db.run("DELETE FROM webhook_deliveries WHERE webhook_id = ?", key())
            .await?;
        db.run("DELETE FROM webhooks WHERE id = ?", key()).await?;
        let audit_entry_id = audit::append(
            db,
            principal,
            stamp,
            NewEntry {
                action: actions::WEBHOOK_DELETE,
                prompt_id: None,
                version_id: None,
                details: serde_json::json!({"webhookId": id, "url": webhook.url}),
            },
        )
        .await?;
        Ok(serde_json::json!({"id": id, "deleted": true, "auditEntryId": audit_entry_id}))
    })
    .await
}

/// Enqueues `payload` as one delivery of `event` to every endpoint of the
/// organization subscribed to it, due at once. Call it inside the
/// transaction that records what it announces. Returns how many.
pub async fn enqueue(
    db: &Db,
    organization_id: &str,
    event: &str,
    prompt_id: Option<&str>,
    payload: &serde_json::Value,
    now: i64,
) -> Result<usize, ApiError> {
    let endpoints = db
        .rows(
            "SELECT id FROM webhooks w WHERE organization_id = ? AND EXISTS \
             (SELECT 1 FROM json_each(w.events) WHERE value = ?)",
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(event.to_owned()),
            ],
        )
        .await?;
    let body = json_text(payload)?;
    for endpoint in &endpoints {
        db.run(
            "INSERT INTO webhook_deliveries (id, organization_id, webhook_id, event, prompt_id, \
             payload, state, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            [
                Value::Text(ids::new_id(DELIVERY, secure_random_bytes())),
                Value::Text(organization_id.to_owned()),
                Value::Text(endpoint.text(0)?),
                Value::Text(event.to_owned()),
                opt(prompt_id),
                Value::Text(body.clone()),
                Value::Integer(now),
                Value::Integer(now),
            ],
        )
        .await?;
    }
    Ok(endpoints.len())
}

const DELIVERY_COLUMNS: &str = "seq, id, webhook_id, event, prompt_id, state, attempts, \
                                next_attempt_at, created_at, payload";

async fn delivery_of(db: &Db, row: &Row) -> Result<Delivery, ApiError> {
    let id = row.text(1)?;
    let state = row.text(5)?;
    let attempts = db
        .rows(
            "SELECT attempt, started_at, duration_ms, http_status, error, manual \
             FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
            [Value::Text(id.clone())],
        )
        .await?
        .iter()
        .map(|a| {
            Ok(Attempt {
                attempt: a.int(0)?,
                at: rfc3339_millis(a.int(1)?),
                duration_ms: a.int(2)?,
                http_status: a.opt_int(3)?,
                error: a.opt_text(4)?,
                manual: a.bool(5)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Delivery {
        id,
        webhook_id: row.text(2)?,
        event: row.text(3)?,
        prompt_id: row.opt_text(4)?,
        state: State::parse(&state)
            .ok_or_else(|| ApiError::internal(format!("a delivery in state {state:?}")))?,
        attempts: row.int(6)?,
        next_attempt_at: row.opt_int(7)?.map(rfc3339_millis),
        created_at: rfc3339_millis(row.int(8)?),
        attempt_log: attempts,
        payload: serde_json::from_str(&row.text(9)?)
            .map_err(|e| ApiError::internal(format!("a stored payload: {e}")))?,
    })
}

/// The endpoint's delivery log, newest first (404 for another
/// organization's endpoint).
pub async fn deliveries(
    db: &Db,
    organization_id: &str,
    webhook_id: &str,
    page: &PageRequest,
) -> Result<Page<Delivery>, ApiError> {
    get(db, organization_id, webhook_id).await?;
    let mut params = vec![
        Value::Text(organization_id.to_owned()),
        Value::Text(webhook_id.to_owned()),
    ];
    let mut sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
         WHERE organization_id = ? AND webhook_id = ?"
    );
    if let Some(after) = page.after {
        sql.push_str(" AND seq < ?");
        params.push(Value::Integer(after));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    params.push(Value::Integer(page.fetch_limit()));
    let rows = db.rows(&sql, params).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push((row.int(0)?, delivery_of(db, row).await?));
    }
    Ok(Page::from_rows(page, items))
}

async fn delivery(
    db: &Db,
    organization_id: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Delivery, ApiError> {
    let missing = || {
        ApiError::not_found(
            codes::DELIVERY_NOT_FOUND,
            format!("no delivery {delivery_id} for webhook endpoint {webhook_id}"),
        )
    };
    if !ids::looks_like(DELIVERY, delivery_id) {
        return Err(missing());
    }
    let row = db
        .row(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                 WHERE organization_id = ? AND webhook_id = ? AND id = ?"
            ),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(webhook_id.to_owned()),
                Value::Text(delivery_id.to_owned()),
            ],
        )
        .await?
        .ok_or_else(missing)?;
    delivery_of(db, &row).await
}

/// What a claim hands the sender.
struct Claimed {
    attempt: u32,
    url: String,
    secret: String,
    event: String,
    payload: String,
}

/// Claims the next attempt of `delivery_id`: one conditional UPDATE taking
/// the lease, automatic ones only when due. `None` when someone else holds
/// it or (automatic) it is not due any more.
async fn claim(
    db: &Db,
    delivery_id: &str,
    manual: bool,
    now: i64,
) -> Result<Option<Claimed>, ApiError> {
    let condition = if manual {
        "sending_until <= ?"
    } else {
        "sending_until <= ? AND state = 'pending' AND next_attempt_at <= ?"
    };
    let mut params = vec![
        Value::Integer(now + LEASE_MS),
        Value::Text(delivery_id.to_owned()),
        Value::Integer(now),
    ];
    if !manual {
        params.push(Value::Integer(now));
    }
    let changed = db
        .run_counting_changes(
            &format!(
                "UPDATE webhook_deliveries SET sending_until = ?, attempts = attempts + 1 \
                 WHERE id = ? AND {condition}"
            ),
            params,
        )
        .await?;
    if changed != 1 {
        return Ok(None);
    }
    let row = db
        .row(
            "SELECT d.attempts, w.url, w.secret, d.event, d.payload FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?",
            [Value::Text(delivery_id.to_owned())],
        )
        .await?
        .ok_or_else(|| ApiError::internal("a claimed delivery without its endpoint"))?;
    Ok(Some(Claimed {
        attempt: u32::try_from(row.int(0)?).unwrap_or(u32::MAX),
        url: row.text(1)?,
        secret: row.text(2)?,
        event: row.text(3)?,
        payload: row.text(4)?,
    }))
}

/// Sends one signed attempt; the receiver's status, or why none came.
async fn send(delivery_id: &str, claimed: &Claimed) -> Result<u16, String> {
    let body = Bytes::from(claimed.payload.clone().into_bytes());
    let signature =
        webhook::signature_header(&claimed.secret, now_unix_millis().div_euclid(1000), &body);
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(&claimed.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::USER_AGENT, "PromptHelm-Webhooks/1")
        .header(webhook::SIGNATURE_HEADER, signature)
        .header(webhook::EVENT_HEADER, &claimed.event)
        .header(webhook::DELIVERY_HEADER, delivery_id)
        .body(Full::new(body))
        .map_err(|e| format!("the request could not be built: {e}"))?;
    match outbound::within(SEND_TIMEOUT, spin_sdk::http::send(request)).await {
        Some(Ok(response)) => Ok(response.status().as_u16()),
        Some(Err(e)) if outbound::is_denied(&e) => {
            Err("the destination is not in allowed_outbound_hosts (webhook_origin)".to_owned())
        }
        Some(Err(e)) => Err(format!("no answer: {e:?}")),
        None => Err(format!("no answer within {} s", SEND_TIMEOUT.as_secs())),
    }
}

/// Claims, sends and records one attempt. `false` when it could not be
/// claimed (another sender has it, or it is not due).
async fn attempt(
    db: &Db,
    delivery_id: &str,
    manual: bool,
    backoff_base_secs: u64,
) -> Result<bool, ApiError> {
    let started_at = now_unix_millis();
    let Some(claimed) = claim(db, delivery_id, manual, started_at).await? else {
        return Ok(false);
    };
    let clock = Instant::now();
    let outcome = send(delivery_id, &claimed).await;
    let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    let ended = now_unix_millis();
    let succeeded = matches!(outcome, Ok(status) if webhook::is_success(status));
    let (state, next) =
        webhook::after_attempt(claimed.attempt, succeeded, ended, backoff_base_secs);
    let (status, error) = match outcome {
        Ok(status) => (Value::Integer(i64::from(status)), Value::Null),
        Err(why) => (Value::Null, Value::Text(why)),
    };
    db.transaction(async |db| {
        db.run(
            "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, \
             http_status, error, manual) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                Value::Text(delivery_id.to_owned()),
                Value::Integer(i64::from(claimed.attempt)),
                Value::Integer(started_at),
                Value::Integer(duration_ms),
                status.clone(),
                error.clone(),
                Value::Integer(i64::from(manual)),
            ],
        )
        .await?;
        db.run(
            "UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, sending_until = 0 \
             WHERE id = ?",
            [
                Value::Text(state.as_str().to_owned()),
                opt(next),
                Value::Text(delivery_id.to_owned()),
            ],
        )
        .await
    })
    .await?;
    Ok(true)
}

/// Attempts the organization's due deliveries, oldest due first: at most
/// [`MAX_DUE_PER_CALL`], and none started after [`DUE_BUDGET`]. Returns
/// how many were attempted. A failed attempt is recorded, not an error.
pub async fn deliver_due(
    db: &Db,
    organization_id: &str,
    backoff_base_secs: u64,
) -> Result<usize, ApiError> {
    let started = Instant::now();
    let due = db
        .rows(
            "SELECT id FROM webhook_deliveries WHERE organization_id = ? AND state = 'pending' \
             AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            [
                Value::Text(organization_id.to_owned()),
                Value::Integer(now_unix_millis()),
                Value::Integer(MAX_DUE_PER_CALL),
            ],
        )
        .await?;
    let mut attempted = 0;
    for row in &due {
        if started.elapsed() >= DUE_BUDGET {
            break;
        }
        if attempt(db, &row.text(0)?, false, backoff_base_secs).await? {
            attempted += 1;
        }
    }
    Ok(attempted)
}

/// A person's redelivery: one attempt now, whatever the state (a
/// delivered one is sent again: the receiver may have lost it); 409 while
/// another attempt is in flight. Answers the delivery after it.
pub async fn retry(
    db: &Db,
    organization_id: &str,
    webhook_id: &str,
    delivery_id: &str,
    backoff_base_secs: u64,
) -> Result<Delivery, ApiError> {
    get(db, organization_id, webhook_id).await?;
    delivery(db, organization_id, webhook_id, delivery_id).await?;
    if !attempt(db, delivery_id, true, backoff_base_secs).await? {
        return Err(ApiError::conflict(
            codes::DELIVERY_IN_FLIGHT,
            format!("an attempt of delivery {delivery_id} is in flight; retry after it"),
        ));
    }
    delivery(db, organization_id, webhook_id, delivery_id).await
}
