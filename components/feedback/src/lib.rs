//! The `feedback` component (issue 17 §1): what happened after a call,
//! sent back by the product. Routes (spin.toml):
//!
//! - `POST /api/v1/executions/:id/feedback`: one score on one execution
//!   (the `id` of an execute or stream answer), `{"name"?, "score",
//!   "source"?, "comment"?, "metadata"?}`. 201, or 200 when it replaces the
//!   score of the same execution, name and source. Scope `feedback:write`.
//! - `POST /api/v1/feedback`: `{"items": [{"executionId", ...}, ...]}`, up
//!   to 100 scores at once, all or nothing: every item is checked, then
//!   every execution looked up, then all are written in one transaction;
//!   any bad item fails the batch naming its index, and nothing is
//!   written. 200 with one result per item. Scope `feedback:write`.
//! - `POST /api/v1/prompts/:id/signals`: a named value of the prompt at a
//!   time, not tied to one call. 201. Scope `feedback:write`.
//! - `GET /api/v1/prompts/:id/signals`: the prompt's signals, newest sent
//!   first, by `name`, `from`, `to`, paged. Scope `analytics:read`.
//!
//! Validation is `prompthelm_domain::feedback`, storage
//! `prompthelm_store::feedback`; the schema rolls both up for analytics.

use prompthelm_component_kit::request::{path_param, read_json};
use prompthelm_component_kit::{
    ApiError, JsonResponse, Method, RequestContext, RouteTable, StatusCode, codes, route,
    serde_json,
};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::feedback::{
    BatchInput, FeedbackInput, SignalInput, validate_batch, validate_feedback, validate_signal,
};
use prompthelm_domain::pagination::Page;
use prompthelm_domain::validation::{FieldError, codes as field_codes};
use prompthelm_store::caller::authorize;
use prompthelm_store::feedback::{
    self, FeedbackRecord, Outcome, SignalFilter, SignalRecord, execution_not_found,
};
use prompthelm_store::{Stamp, prompts};
use serde::Serialize;
use spin_sdk::http::Request;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Feedback,
    Batch,
    AddSignal,
    ListSignals,
}

const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(
        Method::POST,
        "/api/v1/executions/:id/feedback",
        Endpoint::Feedback,
    ),
    route(Method::POST, "/api/v1/feedback", Endpoint::Batch),
    route(
        Method::POST,
        "/api/v1/prompts/:id/signals",
        Endpoint::AddSignal,
    ),
    route(
        Method::GET,
        "/api/v1/prompts/:id/signals",
        Endpoint::ListSignals,
    ),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let id = path_param(&req, "id").unwrap_or_default();
    match ROUTES.find(&req) {
        Err(no_route) => no_route.response(&ctx),
        Ok(Endpoint::Feedback) => match one(&ctx, req, &id).await {
            Ok((Outcome::Created, record)) => ctx.json(StatusCode::CREATED, &record),
            // Idempotent: the same score again replaces it, and says so.
            Ok((Outcome::Replaced, record)) => ctx.json(StatusCode::OK, &record),
            Err(e) => ctx.api_error(&e),
        },
        Ok(Endpoint::Batch) => ctx.respond(StatusCode::OK, batch(&ctx, req).await),
        Ok(Endpoint::AddSignal) => {
            ctx.respond(StatusCode::CREATED, add_signal(&ctx, req, &id).await)
        }
        Ok(Endpoint::ListSignals) => ctx.respond(StatusCode::OK, list_signals(&req, &id).await),
    }
}

async fn one(
    ctx: &RequestContext,
    req: Request,
    execution_id: &str,
) -> Result<(Outcome, FeedbackRecord), ApiError> {
    let (principal, db, _) = authorize(&req, Scope::FeedbackWrite, &[]).await?;
    let input: FeedbackInput = read_json(req).await?;
    let feedback = validate_feedback(input, "").map_err(ApiError::invalid_fields)?;
    let call = feedback::call(&db, &principal.organization_id, execution_id)
        .await?
        .ok_or_else(|| execution_not_found(execution_id))?;
    feedback::record(&db, &principal, Stamp::from(ctx), &call, &feedback).await
}

/// One item's result in the batch answer, in the items' order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemResult {
    index: usize,
    result: Outcome,
    feedback: FeedbackRecord,
}

#[derive(Serialize)]
struct BatchResults {
    items: Vec<ItemResult>,
}

async fn batch(ctx: &RequestContext, req: Request) -> Result<BatchResults, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::FeedbackWrite, &[]).await?;
    let input: BatchInput = read_json(req).await?;
    let items = validate_batch(input.items).map_err(ApiError::invalid_fields)?;
    let stamp = Stamp::from(ctx);
    let organization_id = &principal.organization_id;
    db.transaction(async |db| {
        // Every execution first: a missing one fails the batch before
        // anything is written, naming every such item.
        let mut calls = Vec::with_capacity(items.len());
        let mut missing = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match feedback::call(db, organization_id, &item.execution_id).await? {
                Some(call) => calls.push(call),
                None => missing.push(FieldError::new(
                    format!("items[{i}].executionId"),
                    field_codes::UNKNOWN_VALUE,
                    format!("no execution {}", item.execution_id),
                )),
            }
        }
        if let Some(first) = missing.first() {
            let message = format!(
                "{}: {}{}",
                first.field,
                first.message,
                match missing.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                }
            );
            return Err(ApiError::not_found(codes::EXECUTION_LOG_NOT_FOUND, message)
                .with_details(serde_json::json!({ "errors": missing })));
        }
        let mut results = Vec::with_capacity(items.len());
        for (index, (item, call)) in items.iter().zip(&calls).enumerate() {
            let (result, feedback) =
                feedback::record(db, &principal, stamp, call, &item.feedback).await?;
            results.push(ItemResult {
                index,
                result,
                feedback,
            });
        }
        Ok(BatchResults { items: results })
    })
    .await
}

async fn add_signal(
    ctx: &RequestContext,
    req: Request,
    prompt_id: &str,
) -> Result<SignalRecord, ApiError> {
    let (principal, db, _) = authorize(&req, Scope::FeedbackWrite, &[]).await?;
    let input: SignalInput = read_json(req).await?;
    let stamp = Stamp::from(ctx);
    let signal = validate_signal(input, stamp.now).map_err(ApiError::invalid_fields)?;
    // 404 for a prompt the organization does not have; an archived prompt
    // still takes signals (its history is still read).
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    feedback::insert_signal(&db, &principal, stamp, prompt_id, &signal).await
}

async fn list_signals(req: &Request, prompt_id: &str) -> Result<Page<SignalRecord>, ApiError> {
    let (principal, db, query) = authorize(
        req,
        Scope::AnalyticsRead,
        &["name", "from", "to", "limit", "cursor"],
    )
    .await?;
    let filter = SignalFilter {
        name: query.get("name").map(str::to_owned),
        from: query.timestamp("from")?,
        to: query.timestamp("to")?,
    };
    let page = query.page()?;
    prompts::get(&db, &principal.organization_id, prompt_id).await?;
    feedback::list_signals(&db, &principal.organization_id, prompt_id, &filter, &page).await
}
