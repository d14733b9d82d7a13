//! The call's first steps after authentication: count it against the
//! token's per-minute limit, read the body in the call's dialect, validate
//! it, and resolve the prompt's version; then [`render`] the texts and build
//! the [`provider`] request.

use prompthelm_component_kit::{ApiError, StatusCode, codes, request};
use prompthelm_domain::auth::parse_bearer;
use prompthelm_domain::canary;
use prompthelm_domain::gateway::{self, Environment, GatewayRequest, PromptName, Target};
use prompthelm_domain::openai::{self, ChatCompletionRequest};
use prompthelm_domain::rate_limit::WINDOW_MS;
use prompthelm_domain::validation::{self, FieldError};
use prompthelm_store::auth::Principal;
use prompthelm_store::rate_limit;
use prompthelm_store::resolved::PromptRef;
use serde_json::json;
use spin_sdk::http::Request;

use crate::call::Call;
use crate::dialect::{Dialect, Mode};
use crate::provider::{self, Prepared};
use crate::render::render;
use crate::resolve;
use crate::settings;

/// What the body asked, in the gateway's terms.
struct Asked {
    body: GatewayRequest,
    mode: Mode,
    /// Text for the one required variable the caller left out (OpenAI's
    /// last user message), see [`openai::fill_variable`].
    fill: Option<String>,
}

/// Reads the body in the call's dialect.
async fn read_body(call: &mut Call, req: Request, mode: Mode) -> Result<Asked, ApiError> {
    match call.dialect {
        Dialect::Native => Ok(Asked {
            body: request::read_json(req).await?,
            mode,
            fill: None,
        }),
        Dialect::OpenAi { .. } => {
            let chat: ChatCompletionRequest = request::read_json(req).await?;
            let mapped = openai::to_gateway(chat).map_err(ApiError::invalid_fields)?;
            call.dialect = Dialect::OpenAi {
                include_usage: mapped.include_usage,
            };
            call.log.stream = mapped.stream;
            Ok(Asked {
                body: mapped.body,
                mode: if mapped.stream {
                    Mode::Stream
                } else {
                    Mode::Execute
                },
                fill: mapped.last_user,
            })
        }
    }
}

/// Everything between authentication and the provider: the rate limit,
/// the body, the resolve, then [`render`] and [`provider::prepare`].
pub async fn prepare(
    call: &mut Call,
    req: Request,
    principal: &Principal,
    mode: Mode,
) -> Result<Prepared, ApiError> {
    let limit = settings::rate_limit_per_minute().await?;
    if limit > 0 {
        let now = prompthelm_component_kit::now_unix_millis();
        let decision = rate_limit::count_call(&call.db, &principal.actor, limit, now).await?;
        call.rate = Some(decision);
        if !decision.allowed {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!(
                    "this token may start {limit} gateway calls per minute; retry in {} s",
                    decision.retry_after_secs
                ),
            )
            .with_details(json!({"limit": limit, "windowSeconds": WINDOW_MS / 1000})));
        }
        call.phases.mark("admit");
    }
    let header_user_id = header_user_id(&req)?;
    let caller_token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_bearer)
        .map(str::to_owned);
    let Asked {
        mut body,
        mode,
        fill,
    } = read_body(call, req, mode).await?;
    let plan = gateway::validate(&body, settings::default_timeout_ms().await?)
        .map_err(ApiError::invalid_fields)?;
    call.phases.mark("body");

    let version = match &plan.target {
        Target::AdHoc => None,
        Target::Saved {
            prompt,
            environment,
        } => {
            let prompt = match prompt {
                PromptName::Slug(slug) => PromptRef::Slug(slug),
                PromptName::Id(id) => PromptRef::Id(id),
            };
            call.log.environment = Some(environment.as_str());
            let (resolved, _) =
                resolve::lookup(&call.db, &principal.organization_id, prompt, *environment).await?;
            // Attributed before the checks, so a call refused because the
            // prompt is archived (or has no version there) shows up in the
            // prompt's logs and analytics.
            call.log.prompt_id = Some(resolved.prompt_id.clone());
            if *environment == Environment::Production {
                call.watch = resolved.watch.clone();
            }
            let resolve::Arm { version, canary } = resolve::arm(
                &resolved,
                *environment,
                resolve::Keys {
                    body_user_id: body.user_id.as_deref(),
                    header_user_id: header_user_id.as_deref(),
                    request_id: call.ctx.request_id(),
                },
            )?;
            call.log.version_id = Some(version.id);
            call.log.version = Some(version.version);
            call.log.canary = canary;
            openai::fill_variable(
                &mut body.variables,
                &version.content.variables,
                fill.as_deref(),
            );
            call.phases.mark("resolve");
            Some(version.content)
        }
    };
    let rendered = render(&body, version.as_ref())?;
    let prepared = provider::prepare(call, rendered, mode, caller_token, plan.timeout_ms).await?;
    call.phases.mark("render");
    Ok(prepared)
}

/// The `X-PromptHelm-User-Id` header, for clients that cannot add `userId`
/// to the body: the same rules (1 to 256 characters), a 422 naming the
/// header otherwise.
fn header_user_id(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(canary::USER_ID_HEADER) else {
        return Ok(None);
    };
    let field = "X-PromptHelm-User-Id";
    let Ok(text) = value.to_str() else {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            field,
            validation::codes::INVALID_FORMAT,
            format!("{field} must be visible ASCII"),
        )]));
    };
    let mut errors = Vec::new();
    canary::check_user_id(&mut errors, field, text);
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    Ok(Some(text.to_owned()))
}
