//! How a gateway call speaks: which endpoint it is ([`Mode`]) and which
//! wire format it answers in ([`Dialect`]), with the error response of
//! each. Every other file of the call builds on this one.

use bytes::Bytes;
use http_body_util::Full;
use prompthelm_component_kit::{ApiError, RequestContext};
use spin_sdk::http::{BoxBody, Response, box_body};

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

/// A buffered response with the body type every handler returns.
pub fn boxed(response: http::Response<String>) -> Response<BoxBody> {
    response.map(|text| box_body(Full::new(Bytes::from(text))))
}
