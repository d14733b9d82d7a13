//! Talking to a provider: its configuration (Spin variables), sending with a
//! deadline, reading bodies with a deadline and a size cap, and what each
//! failure means on the wire.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use prompthelm_component_kit::{ApiError, StatusCode, codes, outbound};
use prompthelm_providers::stream::TRUNCATED;
use prompthelm_providers::{Provider, ProviderError};
use serde_json::json;
use spin_sdk::http::Response;

/// The most bytes of a provider's buffered body the gateway reads; a larger
/// answer is treated as malformed instead of exhausting the instance.
const MAX_BODY_BYTES: usize = 8 << 20;

/// Where a provider lives and how to authenticate to it.
pub struct ProviderConfig {
    /// Everything before the provider's endpoint: `<prefix>_base_url`, as
    /// set (a bare origin gets the provider's standard path when the
    /// request is built).
    pub base_url: String,
    pub api_key: String,
}

/// Reads `provider`'s `<prefix>_base_url`, `<prefix>_origin` and
/// `<prefix>_api_key` variables.
///
/// `<prefix>_base_url` is what OpenAI-style clients call the base URL:
/// `https://openrouter.ai/api/v1`, a local `http://127.0.0.1:11434/v1`, or a
/// bare `scheme://host[:port]`, which gets the provider's standard version
/// path (`/v1`, Google `/v1beta`, DeepSeek none). `<prefix>_origin` must be
/// that URL's `scheme://host[:port]`: spin.toml's `allowed_outbound_hosts`
/// is built from it, because Spin allows no path there.
///
/// An empty key means the deployment did not configure the provider: 503
/// `PROVIDER_NOT_CONFIGURED`, naming the variable to set; so does a base URL
/// whose origin is not `<prefix>_origin` (the call would be refused by the
/// outbound allow-list).
pub async fn config(provider: Provider) -> Result<ProviderConfig, ApiError> {
    let prefix = provider
        .variable_prefix()
        .ok_or_else(|| ApiError::internal(format!("{} has no configuration", provider.name())))?;
    let base_url = prompthelm_component_kit::variables::get(&format!("{prefix}_base_url")).await?;
    let origin = prompthelm_component_kit::variables::get(&format!("{prefix}_origin")).await?;
    let api_key = prompthelm_component_kit::variables::get(&format!("{prefix}_api_key")).await?;
    if api_key.is_empty() {
        return Err(not_configured(format!(
            "the {} provider has no API key: set the variable {prefix}_api_key \
             (SPIN_VARIABLE_{}_API_KEY)",
            provider.name(),
            prefix.to_ascii_uppercase()
        )));
    }
    let base_url = checked_base_url(&base_url, &origin).map_err(|why| {
        not_configured(format!(
            "the {} provider is misconfigured: {why} (set {prefix}_origin \
             (SPIN_VARIABLE_{}_ORIGIN) to the scheme://host[:port] of {prefix}_base_url: \
             outbound calls are allowed only there)",
            provider.name(),
            prefix.to_ascii_uppercase()
        ))
    })?;
    Ok(ProviderConfig { base_url, api_key })
}

/// `base_url` without trailing `/`s, if its `scheme://host[:port]` is
/// `origin` (one trailing `/` tolerated, as in `allowed_outbound_hosts`).
fn checked_base_url(base_url: &str, origin: &str) -> Result<String, String> {
    let base_url = base_url.trim_end_matches('/');
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let Some((scheme, rest)) = base_url.split_once("://") else {
        return Err(format!("the base URL {base_url:?} is not a URL"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let own_origin = format!("{scheme}://{authority}");
    if authority.is_empty() || !own_origin.eq_ignore_ascii_case(origin) {
        return Err(format!(
            "the base URL {base_url:?} is not on the allowed origin {origin:?}"
        ));
    }
    Ok(base_url.to_owned())
}

pub fn not_configured(message: String) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::PROVIDER_NOT_CONFIGURED,
        message,
    )
}

/// When the provider call must be over.
#[derive(Clone, Copy)]
pub struct CallDeadline {
    at: Instant,
    budget_ms: u64,
}

impl CallDeadline {
    pub fn after_ms(budget_ms: u64) -> Self {
        CallDeadline {
            at: Instant::now() + Duration::from_millis(budget_ms),
            budget_ms,
        }
    }

    /// Runs `work` until it finishes or the deadline passes (`None`).
    pub async fn race<F: Future>(&self, work: F) -> Option<F::Output> {
        outbound::within(self.at.saturating_duration_since(Instant::now()), work).await
    }
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamError {
    /// The provider answered an error status, with its message.
    Status { status: u16, message: String },
    /// The request never got an answer: connection refused, DNS, TLS, or
    /// the outbound host is not allowed.
    Unreachable(String),
    /// The call's deadline passed.
    Timeout { budget_ms: u64 },
    /// The body is not the provider's format.
    Malformed(String),
    /// The body or stream ended before completion.
    Truncated(String),
    /// The provider reported a failure inside a stream.
    StreamError(String),
}

impl UpstreamError {
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamError::Status { .. } | UpstreamError::StreamError(_) => codes::UPSTREAM_FAILURE,
            UpstreamError::Unreachable(_) => codes::UPSTREAM_UNREACHABLE,
            UpstreamError::Timeout { .. } => codes::PROVIDER_TIMEOUT,
            UpstreamError::Malformed(_) => codes::UPSTREAM_MALFORMED,
            UpstreamError::Truncated(_) => codes::UPSTREAM_TRUNCATED,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// A message for the caller. `secrets` are scrubbed: a provider may
    /// echo the key it was sent.
    pub fn message(&self, provider: Provider, secrets: &[&str]) -> String {
        let name = provider.name();
        let text = match self {
            UpstreamError::Status { status, message } => {
                format!("{name} answered {status}: {message}")
            }
            UpstreamError::Unreachable(why) => format!("{name} could not be reached: {why}"),
            UpstreamError::Timeout { budget_ms } => {
                format!("{name} did not finish within timeoutMs = {budget_ms}")
            }
            UpstreamError::Malformed(why) => {
                format!("{name} answered in an unexpected format: {why}")
            }
            UpstreamError::Truncated(why) => format!("{name}'s answer was cut off: {why}"),
            UpstreamError::StreamError(why) => format!("{name} reported an error: {why}"),
        };
        prompthelm_providers::transcript::scrub(&text, secrets)
    }

    /// The envelope's error, with the provider (and its status) as details.
    pub fn to_api_error(&self, provider: Provider, secrets: &[&str]) -> ApiError {
        let mut details = json!({"provider": provider.name()});
        if let UpstreamError::Status { status, .. } = self {
            details["providerStatus"] = json!(status);
        }
        ApiError::new(self.status(), self.code(), self.message(provider, secrets))
            .with_details(details)
    }
}

impl From<ProviderError> for UpstreamError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Status { status, message } => UpstreamError::Status { status, message },
            ProviderError::Malformed(why) if why == TRUNCATED => UpstreamError::Truncated(why),
            ProviderError::Malformed(why) => UpstreamError::Malformed(why),
        }
    }
}

/// Sends `request`; the answer's headers must arrive before the deadline.
pub async fn send(
    mut request: http::Request<Vec<u8>>,
    deadline: &CallDeadline,
) -> Result<Response, UpstreamError> {
    // A declared length keeps the body from being sent chunked: on a kept-
    // alive provider connection without TCP_NODELAY (Spin's), the closing
    // chunk would wait ~40 ms for the provider's delayed ACK.
    let length = http::HeaderValue::from(request.body().len());
    request
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, length);
    // Spin's client still writes the head and the body in two writes, and
    // Nagle holds the body until the head is acknowledged: ~40 ms of the
    // provider's delayed ACK per call. A provider answers `Expect:
    // 100-continue` with an interim `100 Continue` as soon as the head is
    // in, which acknowledges it, so the body leaves at once. The client
    // does not wait for that answer, so a provider that ignores the header
    // costs nothing; one that refuses it (417) is asked again without it.
    // The body is shared by both tries, not copied.
    let (head, body) = request.into_parts();
    let body = Bytes::from(body);
    let mut expecting = head.clone();
    expecting.headers.insert(
        http::header::EXPECT,
        http::HeaderValue::from_static("100-continue"),
    );
    match send_once(http::Request::from_parts(expecting, body.clone()), deadline).await? {
        refused if refused.status() == StatusCode::EXPECTATION_FAILED => {
            send_once(http::Request::from_parts(head, body), deadline).await
        }
        response => Ok(response),
    }
}

async fn send_once(
    request: http::Request<Bytes>,
    deadline: &CallDeadline,
) -> Result<Response, UpstreamError> {
    let request = request.map(Full::new);
    match deadline.race(spin_sdk::http::send(request)).await {
        None => Err(UpstreamError::Timeout {
            budget_ms: deadline.budget_ms,
        }),
        Some(Err(code)) => Err(UpstreamError::Unreachable(describe(&code))),
        Some(Ok(response)) => Ok(response),
    }
}

/// Reads a whole body before the deadline, at most [`MAX_BODY_BYTES`].
pub async fn read_body<B>(body: &mut B, deadline: &CallDeadline) -> Result<Vec<u8>, UpstreamError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(body, deadline).await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_BODY_BYTES {
            return Err(UpstreamError::Malformed(format!(
                "the body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
    }
    Ok(bytes)
}

/// The next data chunk of `body` (`None` at its end), before the deadline.
/// A body that fails mid-way was cut off.
pub async fn next_chunk<B>(
    body: &mut B,
    deadline: &CallDeadline,
) -> Result<Option<Bytes>, UpstreamError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    loop {
        let frame = match deadline.race(body.frame()).await {
            None => {
                return Err(UpstreamError::Timeout {
                    budget_ms: deadline.budget_ms,
                });
            }
            Some(None) => return Ok(None),
            Some(Some(Err(e))) => return Err(UpstreamError::Truncated(format!("{e:?}"))),
            Some(Some(Ok(frame))) => frame,
        };
        // Trailers carry no text; keep reading.
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
}

/// A readable reason from a `wasi:http` error code.
fn describe(code: &impl std::fmt::Debug) -> String {
    if outbound::is_denied(code) {
        "the outbound host is not in allowed_outbound_hosts (check the provider's base URL variable)"
            .to_owned()
    } else {
        format!("{code:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::checked_base_url;

    #[test]
    fn a_base_url_must_be_on_its_origin() {
        let ok = [
            (
                "https://api.openai.com/v1",
                "https://api.openai.com",
                "https://api.openai.com/v1",
            ),
            (
                "https://api.openai.com/",
                "https://api.openai.com/",
                "https://api.openai.com",
            ),
            (
                "https://openrouter.ai/api/v1/",
                "https://openrouter.ai",
                "https://openrouter.ai/api/v1",
            ),
            (
                "http://127.0.0.1:11434/v1",
                "http://127.0.0.1:11434",
                "http://127.0.0.1:11434/v1",
            ),
        ];
        for (base, origin, want) in ok {
            assert_eq!(
                checked_base_url(base, origin).as_deref(),
                Ok(want),
                "{base} {origin}"
            );
        }
        for (base, origin) in [
            ("https://openrouter.ai/api/v1", "https://api.openai.com"),
            ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11435"),
            ("https://api.openai.com/v1", "http://api.openai.com"),
            ("api.openai.com/v1", "https://api.openai.com"),
        ] {
            assert!(checked_base_url(base, origin).is_err(), "{base} {origin}");
        }
    }
}
