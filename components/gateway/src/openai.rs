//! The OpenAI-compatible face: `/api/v1/openai/v1/...` (docs/API.md,
//! "OpenAI-compatible endpoint"). Chat completions run through
//! [`crate::call`] like `/gateway/execute` (the mapping is
//! [`prompthelm_domain::openai`]); this module holds the model list and
//! OpenAI's error shape.

use prompthelm_component_kit::{ApiError, JsonResponse, RequestContext, StatusCode};
use prompthelm_domain::auth::Scope;
use prompthelm_domain::openai;
use prompthelm_domain::pagination::{MAX_LIMIT, PageRequest};
use prompthelm_domain::time::parse_timestamp;
use prompthelm_store::caller::authorize_ignoring_query;
use prompthelm_store::prompts::{self, Filter};
use serde_json::{Value, json};
use spin_sdk::http::Request;

/// `{"error": {message, type, param, code, request_id, details?}}` with the
/// error's status and `X-Request-Id`. A 500's message is replaced like the
/// envelope's (the details go to the log only).
pub fn error_response(ctx: &RequestContext, error: &ApiError) -> JsonResponse {
    let mut message = error.message.clone();
    let mut details = error.details.clone();
    let mut param = None;
    if error.status == StatusCode::INTERNAL_SERVER_ERROR {
        eprintln!(
            "request {}: {} {}: {}",
            ctx.request_id(),
            error.status.as_u16(),
            error.code,
            error.message
        );
        message = format!(
            "internal error; the server log has the details under request id {}",
            ctx.request_id()
        );
        details = None;
    } else if let Some(errors) = details
        .as_mut()
        .and_then(|d| d.get_mut("errors"))
        .and_then(Value::as_array_mut)
    {
        // Field errors name OpenAI's parameters, not the gateway's fields.
        for e in errors.iter_mut() {
            if let Some(field) = e.get("field").and_then(Value::as_str) {
                e["field"] = json!(openai::param_for(field));
            }
        }
        if let Some(first) = errors.first() {
            let field = first["field"].as_str().unwrap_or_default().to_owned();
            let text = first["message"].as_str().unwrap_or_default();
            message = match errors.len() {
                1 => format!("{field}: {text}"),
                n => format!("{field}: {text} (and {} more)", n - 1),
            };
            param = Some(field);
        }
    }
    let body = openai::error_body(
        error.status.as_u16(),
        error.code,
        &message,
        param.as_deref(),
        ctx.request_id(),
        details.as_ref(),
    );
    ctx.json(error.status, &body)
}

/// `GET /api/v1/openai/v1/models`: the organization's prompts (not
/// archived) as `prompt:<slug>` models. Scope `gateway:execute`.
pub async fn models(req: &Request, ctx: &RequestContext) -> JsonResponse {
    match list(req).await {
        Ok(data) => ctx.json(StatusCode::OK, &json!({"object": "list", "data": data})),
        Err(e) => error_response(ctx, &e),
    }
}

async fn list(req: &Request) -> Result<Vec<Value>, ApiError> {
    let (principal, db, _) = authorize_ignoring_query(req, Scope::GatewayExecute).await?;
    let filter = Filter {
        search: None,
        include_archived: false,
    };
    let limit = MAX_LIMIT.to_string();
    let mut cursor: Option<String> = None;
    let mut data = Vec::new();
    loop {
        let page =
            PageRequest::parse(Some(&limit), cursor.as_deref()).map_err(ApiError::internal)?;
        let page = prompts::list(&db, &principal.organization_id, &filter, &page).await?;
        for prompt in &page.data {
            let created = parse_timestamp(&prompt.created_at)
                .unwrap_or(0)
                .div_euclid(1000);
            data.push(openai::model_entry(&prompt.slug, created));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(data),
        }
    }
}
