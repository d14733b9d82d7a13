//! The front half of `POST /api/v1/gateway/execute` and `/stream`, and of
//! the OpenAI-compatible `POST /api/v1/openai/v1/chat/completions`, shared
//! by all three: authenticate, count the call against the token's rate
//! limit, read and validate the body, resolve the prompt, render it, pick
//! the provider and build its request. Then [`crate::execute`] or
//! [`crate::stream`] talks to the provider and answers in the call's
//! [`Dialect`].
//!
//! Every call that passed authentication ends with its execution-log row
//! stored ([`Call::store`]) before the response completes; if the row cannot
//! be stored, the caller gets that error instead of the answer.

use std::time::Instant;

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::Full;
use prompthelm_component_kit::{
    ApiError, RequestContext, StatusCode, codes, random_bytes, request,
};
use prompthelm_domain::auth::{Scope, parse_bearer};
use prompthelm_domain::gateway::{
    self, GatewayRequest, MAX_RENDERED_BYTES, PromptName, RenderError, Target,
};
use prompthelm_domain::ids::new_id;
use prompthelm_domain::openai::{self, ChatCompletionRequest};
use prompthelm_domain::rate_limit::{Decision, WINDOW_MS};
use prompthelm_domain::template::ResolveError;
use prompthelm_providers::request::build;
use prompthelm_providers::{ChatRequest, Cost, Provider, transcript};
use prompthelm_store::auth::{Principal, authenticate};
use prompthelm_store::cache::PromptRef;
use prompthelm_store::db::Db;
use prompthelm_store::executions::{self, ExecutionLog, Status};
use prompthelm_store::rate_limit;
use serde_json::json;
use spin_sdk::http::{BoxBody, Request, Response, box_body};

use crate::resolve;
use crate::settings;
use crate::upstream::{self, Deadline};

/// Which endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Execute,
    Stream,
}

/// Which wire format a call speaks: the PromptHelm SDKs' (envelopes, `chunk`
/// and `done` frames) or OpenAI's (`chat.completion`, `chat.completion.chunk`,
/// `{"error": {...}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Native,
    OpenAi {
        /// `stream_options.include_usage`: a usage chunk before `[DONE]`.
        include_usage: bool,
    },
}

/// A call that passed authentication: its context, its database connection
/// and the log row it fills as it goes.
pub struct Call {
    pub ctx: RequestContext,
    pub db: Db,
    pub log: ExecutionLog,
    pub dialect: Dialect,
    started: Instant,
    rate: Option<Decision>,
}

/// What the body asked, in the gateway's terms.
struct Asked {
    body: GatewayRequest,
    mode: Mode,
    /// Text for the one required variable the caller left out (OpenAI's
    /// last user message), see [`openai::fill_variable`].
    fill: Option<String>,
}

/// What the provider will be asked, ready to send.
pub struct Prepared {
    pub provider: Provider,
    pub chat: ChatRequest,
    /// The provider's HTTP request; `None` for the local `echo` model.
    pub request: Option<http::Request<Vec<u8>>>,
    pub deadline: Deadline,
    /// One answer or a stream.
    pub mode: Mode,
    /// Values scrubbed from everything stored or returned: the provider key
    /// and the caller's own token.
    pub secrets: Vec<String>,
}

impl Prepared {
    pub fn secret_refs(&self) -> Vec<&str> {
        refs(&self.secrets)
    }

    /// What the log stores as the `echo` model's response.
    pub fn echo_record(&self, output: &str) -> String {
        transcript::finish(&json!({"output": output}), &self.secret_refs())
    }
}

/// Serves execute or stream.
pub async fn handle(req: Request, ctx: RequestContext, mode: Mode) -> Response<BoxBody> {
    serve(req, ctx, Dialect::Native, mode).await
}

/// Serves OpenAI's chat completions; the body's `stream` picks the mode.
pub async fn handle_openai(req: Request, ctx: RequestContext) -> Response<BoxBody> {
    let dialect = Dialect::OpenAi {
        include_usage: false,
    };
    serve(req, ctx, dialect, Mode::Execute).await
}

async fn serve(
    req: Request,
    ctx: RequestContext,
    dialect: Dialect,
    mode: Mode,
) -> Response<BoxBody> {
    let started = Instant::now();
    let db = match Db::open().await {
        Ok(db) => db,
        Err(e) => return boxed(error_response(&ctx, dialect, &e)),
    };
    let principal = match authenticate(&db, req.headers(), Scope::GatewayExecute).await {
        Ok(principal) => principal,
        Err(e) => return boxed(error_response(&ctx, dialect, &e)),
    };
    let log = new_log(&ctx, &principal, &req, mode);
    let mut call = Call {
        ctx,
        db,
        log,
        dialect,
        started,
        rate: None,
    };
    match prepare(&mut call, req, &principal, mode).await {
        Err(e) => call.fail(e).await,
        Ok(prepared) => match prepared.mode {
            Mode::Execute => crate::execute::run(call, prepared).await,
            Mode::Stream => crate::stream::run(call, prepared).await,
        },
    }
}

/// An error in the dialect's shape, with `X-Request-Id` either way.
pub fn error_response(
    ctx: &RequestContext,
    dialect: Dialect,
    error: &ApiError,
) -> http::Response<String> {
    match dialect {
        Dialect::Native => ctx.api_error(error),
        Dialect::OpenAi { .. } => crate::openai::error_response(ctx, error),
    }
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

fn new_log(ctx: &RequestContext, principal: &Principal, req: &Request, mode: Mode) -> ExecutionLog {
    ExecutionLog {
        id: new_id("exe_", random_bytes()),
        organization_id: principal.organization_id.clone(),
        actor: principal.actor.clone(),
        prompt_id: None,
        version_id: None,
        version: None,
        environment: None,
        model: None,
        provider: None,
        stream: mode == Mode::Stream,
        status: Status::Error,
        error_code: None,
        http_status: 0,
        latency_ms: 0,
        provider_latency_ms: None,
        input_tokens: 0,
        output_tokens: 0,
        cached_input_tokens: 0,
        cost_usd: 0.0,
        cost_known: true,
        request_id: ctx.request_id().to_owned(),
        user_agent: req
            .headers()
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        request_body: None,
        response_body: None,
        created_at: ctx.received_at_unix_millis(),
    }
}

async fn prepare(
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
    }
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
            let version = resolve::runnable(&resolved, *environment)?;
            call.log.version_id = Some(version.id);
            call.log.version = Some(version.version);
            openai::fill_variable(
                &mut body.variables,
                &version.content.variables,
                fill.as_deref(),
            );
            Some(version.content)
        }
    };
    let rendered = gateway::render(&body, version.as_ref()).map_err(render_error)?;
    call.log.model = Some(rendered.model.clone());
    let provider = Provider::for_model(&rendered.model).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::UNSUPPORTED_MODEL,
            format!(
                "no provider serves model {:?}: use gpt-*, o1/o3/o4-*, chatgpt-*, claude-*, \
                 gemini-*, deepseek-* or echo",
                rendered.model
            ),
        )
    })?;
    call.log.provider = Some(provider.name());
    let chat = ChatRequest {
        model: rendered.model,
        system: rendered.system,
        user: rendered.user,
        temperature: rendered.temperature,
        max_tokens: rendered.max_tokens,
        top_p: rendered.top_p,
        stop_sequences: rendered.stop_sequences,
        stream: mode == Mode::Stream,
    };
    let mut secrets: Vec<String> = caller_token.into_iter().collect();

    let request = if provider == Provider::Echo {
        let record = json!({"model": chat.model, "system": chat.system, "user": chat.user});
        call.log.request_body = Some(transcript::finish(&record, &refs(&secrets)));
        None
    } else {
        let config = upstream::config(provider).await?;
        secrets.push(config.api_key.clone());
        let request = build(provider, &chat, &config.base_url, &config.api_key)
            .map_err(|e| upstream::not_configured(format!("{}: {e}", provider.name())))?;
        call.log.request_body = Some(transcript::finish(
            &transcript::request_record(&request),
            &refs(&secrets),
        ));
        Some(request)
    };
    Ok(Prepared {
        provider,
        chat,
        request,
        deadline: Deadline::after_ms(plan.timeout_ms),
        mode,
        secrets,
    })
}

fn refs(secrets: &[String]) -> Vec<&str> {
    secrets.iter().map(String::as_str).collect()
}

/// Missing variables are the gateway's own 422; values of the wrong type
/// are field errors like any other; a rendered prompt over the cap is its
/// own 422.
fn render_error(e: RenderError) -> ApiError {
    match e {
        RenderError::Variables(e) => variables_error(e),
        RenderError::TooLarge { bytes } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::RENDERED_PROMPT_TOO_LARGE,
            format!(
                "the rendered system and user texts would be {bytes} bytes; the gateway \
                 renders at most {MAX_RENDERED_BYTES}"
            ),
        )
        .with_details(json!({"renderedBytes": bytes, "limit": MAX_RENDERED_BYTES})),
    }
}

fn variables_error(e: ResolveError) -> ApiError {
    if e.missing.is_empty() {
        return ApiError::invalid_fields(e.invalid);
    }
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::GATEWAY_MISSING_VARIABLES,
        e.to_string(),
    )
    .with_details(if e.invalid.is_empty() {
        json!({"missing": e.missing})
    } else {
        json!({"missing": e.missing, "errors": e.invalid})
    })
}

impl Call {
    /// An error response in the call's dialect (not logged).
    pub fn error_response(&self, error: &ApiError) -> Response<BoxBody> {
        self.finish_response(boxed(error_response(&self.ctx, self.dialect, error)))
    }

    /// When the request arrived, in Unix seconds (OpenAI's `created`).
    pub fn created(&self) -> i64 {
        self.ctx.received_at_unix_millis().div_euclid(1000)
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> i64 {
        millis_since(self.started)
    }

    /// Records the tokens and their cost.
    pub fn record_usage(&mut self, input: u64, output: u64, cached: u64) -> Cost {
        let model = self.log.model.as_deref().unwrap_or_default();
        let cost = prompthelm_providers::cost(model, input, output, cached);
        self.log.input_tokens = input;
        self.log.output_tokens = output;
        self.log.cached_input_tokens = cached;
        self.log.cost_usd = cost.usd;
        self.log.cost_known = cost.known;
        cost
    }

    /// Finishes the log row with its outcome and stores it.
    pub async fn store(
        &mut self,
        status: Status,
        http_status: StatusCode,
        error_code: Option<&str>,
    ) -> Result<(), ApiError> {
        self.log.status = status;
        self.log.http_status = http_status.as_u16();
        self.log.error_code = error_code.map(str::to_owned);
        self.log.latency_ms = self.elapsed_ms();
        executions::insert(&self.db, &self.log).await
    }

    /// Logs the failure, then answers with its envelope.
    pub async fn fail(mut self, error: ApiError) -> Response<BoxBody> {
        let answer = match self
            .store(Status::Error, error.status, Some(error.code))
            .await
        {
            Ok(()) => error,
            Err(store_error) => store_error,
        };
        let response = error_response(&self.ctx, self.dialect, &answer);
        self.finish_response(boxed(response))
    }

    /// Adds the rate-limit headers (and `Retry-After` on a refusal).
    pub fn finish_response(&self, mut response: Response<BoxBody>) -> Response<BoxBody> {
        if let Some(rate) = self.rate {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
            if !rate.allowed {
                headers.insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from(rate.retry_after_secs),
                );
            }
        }
        response
    }
}

pub fn millis_since(start: Instant) -> i64 {
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// A buffered response with the body type every handler returns.
pub fn boxed(response: http::Response<String>) -> Response<BoxBody> {
    response.map(|text| box_body(Full::new(Bytes::from(text))))
}
