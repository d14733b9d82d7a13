//! `POST /api/v1/gateway/stream`: the provider's stream relayed as
//! Server-Sent Events, one `data: {"type":"chunk","content":…}` frame per
//! provider text delta, sent as it arrives, then one `done` or `error`
//! frame (DESIGN.md §2).
//!
//! The answer starts (200) only once the provider accepted the call; a
//! failure before that is an ordinary error response. The relay runs in a
//! task spawned after the handler returns the response head. It stores the
//! execution log before sending the last frame, so a caller that saw `done`
//! can find the call in the log.
//!
//! In the OpenAI dialect the same relay sends `chat.completion.chunk`
//! frames instead: a first one with `delta.role`, one per text delta, a last
//! one with `finish_reason`, a usage chunk when asked
//! (`stream_options.include_usage`), then `data: [DONE]`; a failure
//! mid-stream is a `data: {"error": {...}}` frame, which OpenAI's SDKs raise.

use std::time::Instant;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc::Sender;
use http::HeaderValue;
use prompthelm_component_kit::{REQUEST_ID_HEADER, StatusCode};
use prompthelm_domain::openai;
use prompthelm_providers::response::{echo, error_message};
use prompthelm_providers::transcript::StreamScrubber;
use prompthelm_providers::{SseParser, StreamDecoder, StreamEvent, transcript};
use prompthelm_store::executions::Status;
use serde_json::{Value, json};
use spin_sdk::http::{BoxBody, Response, box_body};
use spin_sdk::wasip3::http_compat::IncomingResponseBody;

use crate::call::{Call, millis_since};
use crate::dialect::Dialect;
use crate::provider::Prepared;
use crate::upstream::{self, CallDeadline, UpstreamError};

/// The most bytes of a stream kept for the log's transcript; the stored
/// text is capped again at [`transcript::BODY_CAP`].
const MAX_TRANSCRIPT_BYTES: usize = 8 << 20;

/// The log's code when the caller hung up mid-stream (nginx's convention).
const CLIENT_CLOSED_REQUEST: &str = "CLIENT_CLOSED_REQUEST";

/// The log's code when the caller stopped reading: frames could not be
/// handed over before the call's deadline, so the relay gave up.
const CLIENT_STALLED: &str = "CLIENT_STALLED";

/// The status a stream's caller got: the response head (200) goes out
/// before the provider's first delta, so a stream that fails later is
/// logged with it as its `http_status` and the failure in `status` and
/// `error_code` (the error frame says the same).
const HEAD_SENT: StatusCode = StatusCode::OK;

/// Where the text comes from.
enum Source {
    /// The `echo` model's answer, computed locally.
    Echo(String),
    /// The provider's accepted streaming response.
    Provider(IncomingResponseBody),
}

pub async fn run(mut call: Call, prepared: Prepared) -> Response<BoxBody> {
    let provider_started = Instant::now();
    let source = match open(&mut call, &prepared).await {
        Ok(source) => source,
        Err(e) => {
            call.log.provider_latency_ms = Some(millis_since(provider_started));
            let error = e.to_api_error(prepared.provider, &prepared.secret_refs());
            return call.fail(error).await;
        }
    };
    let (frames, body) = spin_sdk::http::body::stream::<Bytes>();
    let mut response = http::Response::new(box_body(body));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    if let Ok(id) = HeaderValue::from_str(call.ctx.request_id()) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    let response = call.finish_response(response);
    spin_sdk::wasip3::spawn(relay(call, prepared, source, frames, provider_started));
    response
}

/// Sends the request; a refusal (error status) is read and parsed so the
/// caller gets the provider's message.
async fn open(call: &mut Call, prepared: &Prepared) -> Result<Source, UpstreamError> {
    let Some(request) = prepared.request.clone() else {
        return Ok(Source::Echo(echo(&prepared.chat).output));
    };
    let response = upstream::send(request, &prepared.deadline).await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    if (200..300).contains(&status) {
        return Ok(Source::Provider(body));
    }
    let bytes = upstream::read_body(&mut body, &prepared.deadline).await?;
    call.log.response_body = Some(transcript::finish(
        &transcript::response_record(status, &bytes),
        &prepared.secret_refs(),
    ));
    Err(UpstreamError::Status {
        status,
        message: error_message(&bytes),
    })
}

/// Why a relay ended early.
enum Stop {
    Upstream(UpstreamError),
    /// The caller went away: nobody is left to send frames to.
    ClientGone,
    /// The caller stopped reading until the call's deadline passed.
    ClientStalled,
}

impl From<UpstreamError> for Stop {
    fn from(e: UpstreamError) -> Self {
        Stop::Upstream(e)
    }
}

/// What the relay has seen and sent so far.
struct Relayed {
    transcript: Vec<u8>,
    usage: (u64, u64, u64),
    /// Keeps the provider key (echoed by a provider) out of the frames.
    scrubber: StreamScrubber,
    framer: Framer,
}

/// How frames look in the call's dialect.
enum Framer {
    Native,
    OpenAi {
        id: String,
        created: i64,
        model: String,
        include_usage: bool,
    },
}

impl Framer {
    fn new(call: &Call, prepared: &Prepared) -> Framer {
        match call.dialect {
            Dialect::Native => Framer::Native,
            Dialect::OpenAi { include_usage } => Framer::OpenAi {
                id: call.log.id.clone(),
                created: call.created(),
                model: prepared.model.clone(),
                include_usage,
            },
        }
    }

    /// The frame before any text: OpenAI's `delta.role`.
    fn start(&self) -> Option<Bytes> {
        match self {
            Framer::Native => None,
            Framer::OpenAi {
                id, created, model, ..
            } => Some(frame(&openai::chunk(
                id,
                *created,
                model,
                json!({"role": "assistant", "content": ""}),
                None,
            ))),
        }
    }

    fn chunk(&self, text: &str) -> Bytes {
        match self {
            Framer::Native => frame(&json!({"type": "chunk", "content": text})),
            Framer::OpenAi {
                id, created, model, ..
            } => frame(&openai::chunk(
                id,
                *created,
                model,
                json!({"content": text}),
                None,
            )),
        }
    }

    /// The frames of a stored, successful call.
    fn done(&self, call: &Call, model: &str, input: u64, output: u64, cost: f64) -> Bytes {
        match self {
            Framer::Native => frame(&json!({
                "type": "done",
                "id": call.log.id,
                "inputTokens": input,
                "outputTokens": output,
                "totalTokens": input + output,
                "cost": cost,
                "model": model,
                "latencyMs": call.log.latency_ms,
                "promptId": call.log.prompt_id,
                "versionId": call.log.version_id,
                "version": call.log.version,
                "canary": call.log.canary,
            })),
            Framer::OpenAi {
                id,
                created,
                model,
                include_usage,
            } => {
                let mut text = String::from_utf8_lossy(&frame(&openai::chunk(
                    id,
                    *created,
                    model,
                    json!({}),
                    Some("stop"),
                )))
                .into_owned();
                if *include_usage {
                    let usage =
                        openai::usage_chunk(id, *created, model, openai::usage(input, output));
                    text.push_str(&String::from_utf8_lossy(&frame(&usage)));
                }
                text.push_str("data: [DONE]\n\n");
                Bytes::from(text)
            }
        }
    }

    fn error(&self, call: &Call, status: StatusCode, code: &str, message: &str) -> Bytes {
        match self {
            Framer::Native => frame(&json!({
                "type": "error",
                "id": call.log.id,
                "errorCode": code,
                "message": message,
                "requestId": call.ctx.request_id(),
            })),
            Framer::OpenAi { .. } => frame(&openai::error_body(
                status.as_u16(),
                code,
                message,
                None,
                call.ctx.request_id(),
                None,
            )),
        }
    }
}

async fn relay(
    mut call: Call,
    prepared: Prepared,
    source: Source,
    mut frames: Sender<Bytes>,
    provider_started: Instant,
) {
    let mut relayed = Relayed {
        transcript: Vec::new(),
        usage: (0, 0, 0),
        scrubber: StreamScrubber::new(&prepared.secret_refs()),
        framer: Framer::new(&call, &prepared),
    };
    let deadline = &prepared.deadline;
    let started = match relayed.framer.start() {
        Some(first) => send(&mut frames, &first, deadline).await,
        None => Ok(()),
    };
    let outcome = match source {
        _ if started.is_err() => started,
        Source::Echo(output) => {
            call.log.response_body = Some(prepared.echo_record(&output));
            let output = transcript::scrub(&output, &prepared.secret_refs());
            send(&mut frames, &relayed.framer.chunk(&output), deadline).await
        }
        Source::Provider(mut body) => {
            let outcome = pump(&mut body, &prepared, &mut frames, &mut relayed).await;
            call.log.response_body = Some(transcript::finish(
                &transcript::stream_record(200, &relayed.transcript),
                &prepared.secret_refs(),
            ));
            outcome
        }
    };
    call.log.provider_latency_ms = Some(millis_since(provider_started));
    let (input, output, cached) = relayed.usage;
    let cost = call.record_usage(input, output, cached);

    let last_frame = match outcome {
        Ok(()) => match call.store(Status::Success, HEAD_SENT, None).await {
            Ok(()) => relayed
                .framer
                .done(&call, &prepared.model, input, output, cost.usd),
            Err(e) => relayed.framer.error(&call, e.status, e.code, &e.message),
        },
        Err(Stop::Upstream(e)) => {
            let message = e.message(prepared.provider, &prepared.secret_refs());
            match call.store(Status::Error, HEAD_SENT, Some(e.code())).await {
                Ok(()) => relayed.framer.error(&call, e.status(), e.code(), &message),
                Err(store_error) => relayed.framer.error(
                    &call,
                    store_error.status,
                    store_error.code,
                    &store_error.message,
                ),
            }
        }
        Err(stop @ (Stop::ClientGone | Stop::ClientStalled)) => {
            let code = match stop {
                Stop::ClientStalled => CLIENT_STALLED,
                _ => CLIENT_CLOSED_REQUEST,
            };
            if let Err(e) = call.store(Status::Error, HEAD_SENT, Some(code)).await {
                eprintln!(
                    "gateway: execution log {} not stored after the client {}: {}",
                    call.log.id,
                    if code == CLIENT_STALLED {
                        "stalled"
                    } else {
                        "left"
                    },
                    e.message
                );
            }
            return;
        }
    };
    // A send error here means the caller left (or stalled) during the last
    // frame; the call is already logged, so there is nothing left to tell
    // anyone.
    let _ = send(&mut frames, &last_frame, deadline).await;
}

/// Reads the provider's stream to its end, relaying text deltas.
async fn pump(
    body: &mut IncomingResponseBody,
    prepared: &Prepared,
    frames: &mut Sender<Bytes>,
    relayed: &mut Relayed,
) -> Result<(), Stop> {
    let mut sse = SseParser::new();
    let mut decoder = StreamDecoder::new(prepared.provider);
    loop {
        let Some(chunk) = upstream::next_chunk(body, &prepared.deadline).await? else {
            if std::mem::take(&mut sse).finish() {
                return Err(UpstreamError::Truncated(
                    "the stream ended in the middle of an event".into(),
                )
                .into());
            }
            let events = decoder.finish().map_err(UpstreamError::from)?;
            apply(events, frames, relayed, &prepared.deadline).await?;
            return flush(frames, relayed, &prepared.deadline).await;
        };
        if relayed.transcript.len() < MAX_TRANSCRIPT_BYTES {
            relayed.transcript.extend_from_slice(&chunk);
        }
        for event in sse.push(&chunk) {
            let events = decoder.decode(&event).map_err(UpstreamError::from)?;
            if apply(events, frames, relayed, &prepared.deadline).await? {
                return flush(frames, relayed, &prepared.deadline).await;
            }
        }
    }
}

/// Acts on decoded events; `Ok(true)` once the provider said it is done.
async fn apply(
    events: Vec<StreamEvent>,
    frames: &mut Sender<Bytes>,
    relayed: &mut Relayed,
    deadline: &CallDeadline,
) -> Result<bool, Stop> {
    for event in events {
        match event {
            StreamEvent::Delta(text) => {
                let text = relayed.scrubber.push(&text);
                if !text.is_empty() {
                    send(frames, &relayed.framer.chunk(&text), deadline).await?;
                }
            }
            StreamEvent::Usage {
                input_tokens,
                output_tokens,
                cached_input_tokens,
            } => relayed.usage = (input_tokens, output_tokens, cached_input_tokens),
            StreamEvent::Done => return Ok(true),
            StreamEvent::Error(message) => {
                return Err(UpstreamError::StreamError(message).into());
            }
        }
    }
    Ok(false)
}

/// Sends what the scrubber still holds back, at the stream's end.
async fn flush(
    frames: &mut Sender<Bytes>,
    relayed: &mut Relayed,
    deadline: &CallDeadline,
) -> Result<(), Stop> {
    let rest = std::mem::replace(&mut relayed.scrubber, StreamScrubber::new(&[])).finish();
    if rest.is_empty() {
        return Ok(());
    }
    send(frames, &relayed.framer.chunk(&rest), deadline).await
}

/// Hands one frame to the response body. A caller that stops reading fills
/// the buffers until this waits; past the call's deadline it gives up, so
/// a stalled client cannot hold the instance beyond the call's budget.
async fn send(
    frames: &mut Sender<Bytes>,
    frame: &Bytes,
    deadline: &CallDeadline,
) -> Result<(), Stop> {
    match deadline.race(frames.send(frame.clone())).await {
        None => Err(Stop::ClientStalled),
        Some(sent) => sent.map_err(|_| Stop::ClientGone),
    }
}

/// One SSE event: a single `data:` line (JSON has no raw newlines).
fn frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}
