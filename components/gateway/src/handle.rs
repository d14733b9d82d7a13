//! The gateway's calls, start to end: `POST /api/v1/gateway/execute` and
//! `/stream`, and the OpenAI-compatible `POST
//! /api/v1/openai/v1/chat/completions`. The data flow reads one way through
//! the files: this one (handle), the preamble (auth), [`crate::prepare`]
//! (rate limit, body, resolve), [`crate::render`], [`crate::provider`]
//! (the provider's request), then [`crate::execute`] or [`crate::stream`]
//! (the provider's answer), with [`crate::call`] holding the log row every
//! step fills. No file imports one that imports it back.

use std::time::Instant;

use prompthelm_component_kit::RequestContext;
use prompthelm_domain::auth::Scope;
use prompthelm_store::caller::authorize_ignoring_query;
use spin_sdk::http::{BoxBody, Request, Response};

use crate::call::Call;
use crate::dialect::{Dialect, Mode, boxed, error_response};
use crate::prepare::prepare;
use crate::{execute, stream};

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
    // auth: a 401/403 is not an execution, and is not logged.
    let (principal, db, _) = match authorize_ignoring_query(&req, Scope::GatewayExecute).await {
        Ok(caller) => caller,
        Err(e) => return boxed(error_response(&ctx, dialect, &e)),
    };
    let mut call = Call::start(ctx, db, &principal, &req, dialect, mode, started);
    match prepare(&mut call, req, &principal, mode).await {
        Err(e) => call.fail(e).await,
        Ok(prepared) => match prepared.mode {
            Mode::Execute => execute::run(call, prepared).await,
            Mode::Stream => stream::run(call, prepared).await,
        },
    }
}
