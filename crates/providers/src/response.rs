//! Reading a provider's whole (non-streaming) response into a [`Completion`].
//!
//! Each provider reports the same facts in its own shape; [`parse`] reads
//! the parts the gateway needs (text, token counts, finish reason) and
//! ignores the rest, so new fields the providers add do not break us.
//!
//! Token counts are normalized so that `input_tokens` is the whole prompt,
//! cached part included, and `output_tokens` is everything billed as output
//! (Gemini's thinking tokens included). That is the shape
//! [`crate::pricing::cost`] expects. Anthropic counts cache reads and cache
//! writes apart from `input_tokens`, so they are added back here.

use serde::Deserialize;
use serde_json::Value;

use crate::provider::Provider;
use crate::request::ChatRequest;

/// What a provider answered, with normalized token counts (module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// The generated text.
    pub output: String,
    /// Prompt tokens, the cached ones included.
    pub input_tokens: u64,
    /// Generated tokens, reasoning/thinking tokens included.
    pub output_tokens: u64,
    /// The part of `input_tokens` read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// The provider's own reason, unchanged: `stop`, `length`, `end_turn`,
    /// `max_tokens`, `STOP`, `SAFETY`, …
    pub finish_reason: Option<String>,
}

/// A provider call that did not produce a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider answered a non-2xx status; `message` is the provider's
    /// own error message when its body had one, else the start of the body.
    Status { status: u16, message: String },
    /// The provider's answer is not in the shape its API documents.
    Malformed(String),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Status { status, message } => {
                write!(f, "provider answered HTTP {status}: {message}")
            }
            ProviderError::Malformed(reason) => write!(f, "malformed provider answer: {reason}"),
        }
    }
}

impl std::error::Error for ProviderError {}

/// Longest error-body excerpt kept when the body has no error message.
const BODY_EXCERPT_CHARS: usize = 200;

/// Reads `provider`'s non-streaming answer. A non-2xx `status` gives
/// [`ProviderError::Status`]; a 2xx body that is not the documented JSON
/// gives [`ProviderError::Malformed`]. Never panics, whatever the bytes.
pub fn parse(provider: Provider, status: u16, body: &[u8]) -> Result<Completion, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(ProviderError::Status {
            status,
            message: error_message(body),
        });
    }
    match provider {
        Provider::OpenAi | Provider::DeepSeek => parse_openai(provider, body),
        Provider::Anthropic => parse_anthropic(body),
        Provider::Google => parse_google(body),
        Provider::Echo => Err(ProviderError::Malformed(
            "the echo model is answered locally, not over HTTP".to_owned(),
        )),
    }
}

/// The answer of the local `echo` model: the rendered system text, a blank
/// line, then the user text (just the user text when there is no system
/// text). Token counts are zero: no model ran, nothing is billed.
pub fn echo(chat: &ChatRequest) -> Completion {
    let output = if chat.system.is_empty() {
        chat.user.clone()
    } else {
        format!("{}\n\n{}", chat.system, chat.user)
    };
    Completion {
        output,
        ..Completion::default()
    }
}

/// The provider's error message from an error body. All four providers put
/// it at `error.message`; anything else falls back to a short excerpt.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        // Some Google endpoints wrap the error object in an array.
        let error = match &value {
            Value::Array(items) => items.first().and_then(|v| v.get("error")),
            _ => value.get("error"),
        };
        if let Some(message) = error.and_then(|e| e.get("message")).and_then(Value::as_str) {
            return message.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty response body".to_owned();
    }
    let mut excerpt: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    excerpt
}

fn from_json<'a, T: Deserialize<'a>>(
    provider: Provider,
    body: &'a [u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::Malformed(format!(
            "{} response is not the expected JSON: {e}",
            provider.name()
        ))
    })
}

// OpenAI and DeepSeek (Chat Completions).

#[derive(Deserialize)]
struct OpenAiResponse {
    choices: Vec<OpenAiChoice>,
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct OpenAiChoice {
    message: OpenAiMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct OpenAiMessage {
    content: Option<String>,
    /// Set instead of `content` when the model refuses.
    refusal: Option<String>,
}

/// Chat Completions `usage`, in both final responses and stream chunks.
#[derive(Deserialize)]
pub(crate) struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<OpenAiPromptDetails>,
    /// DeepSeek's name for cached prompt tokens.
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OpenAiPromptDetails {
    cached_tokens: Option<u64>,
}

impl OpenAiUsage {
    /// `(input, output, cached input)` tokens.
    pub(crate) fn tokens(&self) -> (u64, u64, u64) {
        let cached = self.prompt_cache_hit_tokens.or_else(|| {
            self.prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
        });
        (
            self.prompt_tokens.unwrap_or(0),
            self.completion_tokens.unwrap_or(0),
            cached.unwrap_or(0),
        )
    }
}

fn parse_openai(provider: Provider, body: &[u8]) -> Result<Completion, ProviderError> {
    let response: OpenAiResponse = from_json(provider, body)?;
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(ProviderError::Malformed(format!(
            "{} response has no choices",
            provider.name()
        )));
    };
    let (input_tokens, output_tokens, cached_input_tokens) =
        response.usage.map_or((0, 0, 0), |u| u.tokens());
    Ok(Completion {
        output: choice
            .message
            .content
            .or(choice.message.refusal)
            .unwrap_or_default(),
        input_tokens,
        output_tokens,
        cached_input_tokens,
        finish_reason: choice.finish_reason,
    })
}

// Anthropic (Messages).

#[derive(Deserialize)]
struct AnthropicResponse {
    content: Vec<AnthropicBlock>,
    stop_reason: Option<String>,
    usage: AnthropicUsage,
}

#[derive(Deserialize)]
struct AnthropicBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

/// Messages `usage`, in responses and in `message_start` / `message_delta`
/// stream events.
#[derive(Deserialize)]
pub(crate) struct AnthropicUsage {
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) cache_read_input_tokens: Option<u64>,
    pub(crate) cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// All prompt tokens: Anthropic's `input_tokens` excludes cache reads
    /// and cache writes.
    pub(crate) fn total_input(&self) -> u64 {
        self.input_tokens
            .unwrap_or(0)
            .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
    }
}

fn parse_anthropic(body: &[u8]) -> Result<Completion, ProviderError> {
    let response: AnthropicResponse = from_json(Provider::Anthropic, body)?;
    let output = response
        .content
        .iter()
        .filter(|block| block.kind == "text")
        .filter_map(|block| block.text.as_deref())
        .collect();
    Ok(Completion {
        output,
        input_tokens: response.usage.total_input(),
        output_tokens: response.usage.output_tokens.unwrap_or(0),
        cached_input_tokens: response.usage.cache_read_input_tokens.unwrap_or(0),
        finish_reason: response.stop_reason,
    })
}

// Google (Gemini generateContent; each streamed chunk has the same shape).

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GoogleResponse {
    #[serde(default)]
    candidates: Vec<GoogleCandidate>,
    pub(crate) usage_metadata: Option<GoogleUsage>,
    /// Set instead of candidates when the prompt itself was blocked.
    prompt_feedback: Option<GooglePromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleCandidate {
    content: Option<GoogleContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct GoogleContent {
    #[serde(default)]
    parts: Vec<GooglePart>,
}

#[derive(Deserialize)]
struct GooglePart {
    text: Option<String>,
    /// Thought summaries (when requested) are not part of the answer.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GoogleUsage {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    /// Thinking tokens, billed as output but not in `candidatesTokenCount`.
    thoughts_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GooglePromptFeedback {
    block_reason: Option<String>,
}

impl GoogleUsage {
    /// `(input, output, cached input)` tokens.
    pub(crate) fn tokens(&self) -> (u64, u64, u64) {
        (
            self.prompt_token_count.unwrap_or(0),
            self.candidates_token_count
                .unwrap_or(0)
                .saturating_add(self.thoughts_token_count.unwrap_or(0)),
            self.cached_content_token_count.unwrap_or(0),
        )
    }
}

impl GoogleResponse {
    /// The answer text of the first candidate (Google returns one unless
    /// asked for more).
    pub(crate) fn text(&self) -> String {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|content| {
                content
                    .parts
                    .iter()
                    .filter(|part| !part.thought)
                    .filter_map(|part| part.text.as_deref())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Why generation ended: the candidate's `finishReason`, or the
    /// `blockReason` when the prompt was blocked and there is no candidate.
    pub(crate) fn finish_reason(&self) -> Option<String> {
        match self.candidates.first() {
            Some(candidate) => candidate.finish_reason.clone(),
            None => self.prompt_feedback.as_ref()?.block_reason.clone(),
        }
    }
}

fn parse_google(body: &[u8]) -> Result<Completion, ProviderError> {
    let response: GoogleResponse = from_json(Provider::Google, body)?;
    let finish_reason = response.finish_reason();
    if response.candidates.is_empty() && finish_reason.is_none() {
        return Err(ProviderError::Malformed(
            "google response has no candidates".to_owned(),
        ));
    }
    let (input_tokens, output_tokens, cached_input_tokens) = response
        .usage_metadata
        .as_ref()
        .map_or((0, 0, 0), GoogleUsage::tokens);
    Ok(Completion {
        output: response.text(),
        input_tokens,
        output_tokens,
        cached_input_tokens,
        finish_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(provider: Provider, body: &str) -> Completion {
        parse(provider, 200, body.as_bytes()).unwrap()
    }

    fn malformed(provider: Provider, status: u16, body: &[u8]) -> String {
        match parse(provider, status, body) {
            Err(ProviderError::Malformed(reason)) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    const OPENAI_OK: &str = r#"{
      "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
      "object": "chat.completion",
      "created": 1741570283,
      "model": "gpt-4o-2024-08-06",
      "choices": [
        {
          "index": 0,
          "message": {
            "role": "assistant",
            "content": "Hi Ada!",
            "refusal": null,
            "annotations": []
          },
          "logprobs": null,
          "finish_reason": "stop"
        }
      ],
      "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {
          "reasoning_tokens": 0,
          "audio_tokens": 0,
          "accepted_prediction_tokens": 0,
          "rejected_prediction_tokens": 0
        }
      },
      "service_tier": "default",
      "system_fingerprint": "fp_fc9f1d7035"
    }"#;

    #[test]
    fn parses_openai_response() {
        assert_eq!(
            ok(Provider::OpenAi, OPENAI_OK),
            Completion {
                output: "Hi Ada!".to_owned(),
                input_tokens: 1117,
                output_tokens: 46,
                cached_input_tokens: 1024,
                finish_reason: Some("stop".to_owned()),
            }
        );
    }

    #[test]
    fn openai_refusal_is_the_output() {
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,
            "refusal":"I can't help with that."},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":10,"completion_tokens":6,"total_tokens":16}}"#;
        let c = ok(Provider::OpenAi, body);
        assert_eq!(c.output, "I can't help with that.");
        assert_eq!(c.cached_input_tokens, 0);
    }

    #[test]
    fn parses_deepseek_response() {
        let body = r#"{
          "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
          "object": "chat.completion",
          "created": 1705651092,
          "model": "deepseek-chat",
          "choices": [
            {
              "index": 0,
              "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
              "logprobs": null,
              "finish_reason": "stop"
            }
          ],
          "usage": {
            "prompt_tokens": 16,
            "completion_tokens": 10,
            "total_tokens": 26,
            "prompt_tokens_details": {"cached_tokens": 0},
            "prompt_cache_hit_tokens": 12,
            "prompt_cache_miss_tokens": 4
          },
          "system_fingerprint": "fp_08f168e49b_prod0820_fp8_kvcache"
        }"#;
        assert_eq!(
            ok(Provider::DeepSeek, body),
            Completion {
                output: "Hello! How can I help you today?".to_owned(),
                input_tokens: 16,
                output_tokens: 10,
                cached_input_tokens: 12,
                finish_reason: Some("stop".to_owned()),
            }
        );
    }

    #[test]
    fn parses_anthropic_response() {
        let body = r#"{
          "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
          "type": "message",
          "role": "assistant",
          "model": "claude-sonnet-4-20250514",
          "content": [
            {"type": "text", "text": "Hi "},
            {"type": "thinking", "thinking": "not shown", "signature": "x"},
            {"type": "text", "text": "Ada!"}
          ],
          "stop_reason": "end_turn",
          "stop_sequence": null,
          "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 2000,
            "output_tokens": 6,
            "service_tier": "standard"
          }
        }"#;
        assert_eq!(
            ok(Provider::Anthropic, body),
            Completion {
                output: "Hi Ada!".to_owned(),
                input_tokens: 2112,
                output_tokens: 6,
                cached_input_tokens: 2000,
                finish_reason: Some("end_turn".to_owned()),
            }
        );
    }

    #[test]
    fn parses_google_response() {
        let body = r#"{
          "candidates": [
            {
              "content": {
                "parts": [{"text": "Hi "}, {"text": "(thinking)", "thought": true}, {"text": "Ada!"}],
                "role": "model"
              },
              "finishReason": "STOP",
              "avgLogprobs": -0.0123
            }
          ],
          "usageMetadata": {
            "promptTokenCount": 2100,
            "candidatesTokenCount": 4,
            "totalTokenCount": 2134,
            "cachedContentTokenCount": 2048,
            "thoughtsTokenCount": 30,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2100}]
          },
          "modelVersion": "gemini-2.5-pro",
          "responseId": "a1b2c3"
        }"#;
        assert_eq!(
            ok(Provider::Google, body),
            Completion {
                output: "Hi Ada!".to_owned(),
                input_tokens: 2100,
                output_tokens: 34,
                cached_input_tokens: 2048,
                finish_reason: Some("STOP".to_owned()),
            }
        );
    }

    #[test]
    fn google_blocked_prompt_is_an_empty_completion() {
        let body = r#"{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},
            "usageMetadata":{"promptTokenCount":8,"totalTokenCount":8}}"#;
        let c = ok(Provider::Google, body);
        assert_eq!(c.output, "");
        assert_eq!(c.finish_reason.as_deref(), Some("SAFETY"));
        assert_eq!(c.input_tokens, 8);
    }

    #[test]
    fn extracts_each_providers_error_message() {
        let cases = [
            (
                Provider::OpenAi,
                401,
                r#"{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
                "Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.",
            ),
            (
                Provider::DeepSeek,
                402,
                r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#,
                "Insufficient Balance",
            ),
            (
                Provider::Anthropic,
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#,
                "Overloaded",
            ),
            (
                Provider::Google,
                400,
                r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#,
                "API key not valid. Please pass a valid API key.",
            ),
            (
                Provider::Google,
                404,
                r#"[{"error":{"code":404,"message":"models/gemini-9 is not found","status":"NOT_FOUND"}}]"#,
                "models/gemini-9 is not found",
            ),
        ];
        for (provider, status, body, message) in cases {
            assert_eq!(
                parse(provider, status, body.as_bytes()),
                Err(ProviderError::Status {
                    status,
                    message: message.to_owned()
                }),
                "{provider:?}"
            );
        }
    }

    #[test]
    fn error_without_message_falls_back_to_a_body_excerpt() {
        let html = format!(
            "<html><body>502 Bad Gateway{}</body></html>",
            "x".repeat(500)
        );
        let Err(ProviderError::Status { status, message }) =
            parse(Provider::OpenAi, 502, html.as_bytes())
        else {
            panic!("expected Status");
        };
        assert_eq!(status, 502);
        assert!(message.starts_with("<html><body>502 Bad Gateway"));
        assert_eq!(message.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert!(message.ends_with('…'));

        let short = parse(Provider::Google, 503, b"  upstream connect error \n");
        assert_eq!(
            short,
            Err(ProviderError::Status {
                status: 503,
                message: "upstream connect error".to_owned()
            })
        );
        let empty = parse(Provider::Anthropic, 500, b"");
        assert_eq!(
            empty,
            Err(ProviderError::Status {
                status: 500,
                message: "empty response body".to_owned()
            })
        );
        // JSON, but `error.message` is not a string.
        let odd = parse(Provider::OpenAi, 400, br#"{"error":{"message":42}}"#);
        assert_eq!(
            odd,
            Err(ProviderError::Status {
                status: 400,
                message: r#"{"error":{"message":42}}"#.to_owned()
            })
        );
    }

    #[test]
    fn unexpected_success_bodies_are_malformed() {
        assert!(
            malformed(Provider::OpenAi, 200, b"not json")
                .contains("openai response is not the expected JSON")
        );
        assert!(malformed(Provider::OpenAi, 200, br#"{"choices":[]}"#).contains("no choices"));
        assert!(malformed(Provider::DeepSeek, 200, br#"{"usage":{}}"#).contains("choices"));
        assert!(
            malformed(Provider::Anthropic, 200, br#"{"content":"hi","usage":{}}"#)
                .contains("anthropic")
        );
        assert!(malformed(Provider::Google, 200, b"{}").contains("no candidates"));
        assert!(malformed(Provider::Google, 201, br#"{"candidates":7}"#).contains("google"));
        assert!(malformed(Provider::Echo, 200, b"{}").contains("locally"));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let bodies: [&[u8]; 8] = [
            b"",
            b"\xff\xfe\x00",
            b"null",
            b"[]",
            br#"{"choices":[{"message":null}]}"#,
            br#"{"usage":{"prompt_tokens":-1}}"#,
            br#"{"usageMetadata":{"promptTokenCount":18446744073709551615,"thoughtsTokenCount":18446744073709551615},"candidates":[{}]}"#,
            br#"{"content":[],"usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":9}}"#,
        ];
        for provider in [
            Provider::OpenAi,
            Provider::DeepSeek,
            Provider::Anthropic,
            Provider::Google,
            Provider::Echo,
        ] {
            for body in bodies {
                for status in [0, 200, 299, 300, 404, 500, 999] {
                    let _ = parse(provider, status, body);
                }
            }
        }
        // Overflowing counts saturate rather than wrap.
        let c = parse(Provider::Anthropic, 200, bodies[7]).unwrap();
        assert_eq!(c.input_tokens, u64::MAX);
    }

    #[test]
    fn echo_returns_the_rendered_texts() {
        let chat = ChatRequest {
            model: "echo".to_owned(),
            system: "Be brief.".to_owned(),
            user: "Hello".to_owned(),
            ..ChatRequest::default()
        };
        assert_eq!(
            echo(&chat),
            Completion {
                output: "Be brief.\n\nHello".to_owned(),
                ..Completion::default()
            }
        );
        let no_system = ChatRequest {
            system: String::new(),
            ..chat
        };
        assert_eq!(echo(&no_system).output, "Hello");
    }

    #[test]
    fn displays_errors() {
        let e = ProviderError::Status {
            status: 429,
            message: "Rate limit reached".to_owned(),
        };
        assert_eq!(
            e.to_string(),
            "provider answered HTTP 429: Rate limit reached"
        );
        assert_eq!(
            ProviderError::Malformed("x".to_owned()).to_string(),
            "malformed provider answer: x"
        );
    }
}
