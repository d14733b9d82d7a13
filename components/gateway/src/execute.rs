//! `POST /api/v1/gateway/execute`: one provider call, answered as one JSON
//! body `{id, output, model, inputTokens, outputTokens, totalTokens,
//! latencyMs, cost, timestamp, …}` (DESIGN.md §2), or for the OpenAI
//! dialect one `chat.completion`.

use std::time::Instant;

use prompthelm_component_kit::StatusCode;
use prompthelm_domain::openai;
use prompthelm_providers::response::{echo, parse};
use prompthelm_providers::{Completion, transcript};
use prompthelm_store::executions::Status;
use serde_json::json;
use spin_sdk::http::{BoxBody, Response};

use crate::call::{Call, millis_since};
use crate::dialect::{Dialect, boxed};
use crate::provider::Prepared;
use crate::upstream::{self, UpstreamError};

pub async fn run(mut call: Call, prepared: Prepared) -> Response<BoxBody> {
    let provider_started = Instant::now();
    let outcome = complete(&mut call, &prepared).await;
    call.log.provider_latency_ms = Some(millis_since(provider_started));
    call.phases.mark("provider");
    let completion = match outcome {
        Ok(completion) => completion,
        Err(e) => {
            let error = e.to_api_error(prepared.provider, &prepared.secret_refs());
            return call.fail(error).await;
        }
    };
    let cost = call.record_usage(
        completion.input_tokens,
        completion.output_tokens,
        completion.cached_input_tokens,
    );
    if let Err(e) = call.store(Status::Success, StatusCode::OK, None).await {
        return call.error_response(&e);
    }
    let log = &call.log;
    // A provider (or a template) may echo what it was sent; the provider key
    // must not reach the caller that way either.
    let output = transcript::scrub(&completion.output, &prepared.secret_refs());
    if let Dialect::OpenAi { .. } = call.dialect {
        let mut body = openai::completion(
            &log.id,
            call.created(),
            &prepared.model,
            &output,
            openai::finish_reason(completion.finish_reason.as_deref()),
            openai::usage(completion.input_tokens, completion.output_tokens),
        );
        body["prompthelm"] = json!({
            "executionId": log.id,
            "provider": prepared.provider_name,
            "cost": cost.usd,
            "latencyMs": log.latency_ms,
            "promptId": log.prompt_id,
            "versionId": log.version_id,
            "version": log.version,
            "canary": log.canary,
            "environment": log.environment,
        });
        return call.finish_response(boxed(call.ctx.json(StatusCode::OK, &body)));
    }
    let body = json!({
        "id": log.id,
        "output": output,
        "model": prepared.model,
        "inputTokens": completion.input_tokens,
        "outputTokens": completion.output_tokens,
        "totalTokens": completion.input_tokens + completion.output_tokens,
        "latencyMs": log.latency_ms,
        "cost": cost.usd,
        "timestamp": call.ctx.timestamp(),
        "provider": prepared.provider_name,
        "cachedInputTokens": completion.cached_input_tokens,
        "finishReason": completion.finish_reason,
        "promptId": log.prompt_id,
        "versionId": log.version_id,
        "version": log.version,
        "canary": log.canary,
        "environment": log.environment,
    });
    call.finish_response(boxed(call.ctx.json(StatusCode::OK, &body)))
}

/// Calls the provider (or answers `echo` locally) and records its response
/// in the log.
async fn complete(call: &mut Call, prepared: &Prepared) -> Result<Completion, UpstreamError> {
    let Some(request) = prepared.request.clone() else {
        let completion = echo(&prepared.chat);
        call.log.response_body = Some(prepared.echo_record(&completion.output));
        return Ok(completion);
    };
    let response = upstream::send(request, &prepared.deadline).await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let bytes = upstream::read_body(&mut body, &prepared.deadline).await?;
    call.log.response_body = Some(transcript::finish(
        &transcript::response_record(status, &bytes),
        &prepared.secret_refs(),
    ));
    Ok(parse(prepared.provider, status, &bytes)?)
}
