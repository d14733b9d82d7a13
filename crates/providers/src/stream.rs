//! Interpreting each provider's streamed events as text deltas, usage and
//! completion.
//!
//! [`crate::sse::SseParser`] splits the body into events;
//! [`StreamDecoder`] knows what each provider's events mean:
//!
//! - OpenAI and DeepSeek send Chat Completions chunks
//!   (`choices[0].delta.content`), a last chunk with `usage` (because
//!   [`crate::request::build`] asks for `include_usage`), then `[DONE]`.
//! - Anthropic sends typed events: `message_start` (input usage),
//!   `content_block_delta` (text), `message_delta` (output usage),
//!   `message_stop`; `ping` is a keep-alive and `error` reports a failure.
//! - Google sends `GenerateContentResponse` chunks and no end marker: the
//!   stream is complete when the body ends cleanly.
//!
//! So the end of the body matters: the caller must call
//! [`StreamDecoder::finish`] once the body ends at an event boundary. It
//! yields [`StreamEvent::Done`] for Google, and for the others an error if
//! their terminal event never came (the stream was cut).
//!
//! ```
//! use prompthelm_providers::{Provider, SseParser, StreamDecoder, StreamEvent};
//!
//! let body: &[&[u8]] = &[b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\nda", b"ta: [DONE]\n\n"];
//! let mut sse = SseParser::new();
//! let mut decoder = StreamDecoder::new(Provider::OpenAi);
//! let mut events = Vec::new();
//! for chunk in body {
//!     for event in sse.push(chunk) {
//!         events.extend(decoder.decode(&event).unwrap());
//!     }
//! }
//! assert!(!sse.finish(), "the body ended mid-event: treat as truncated");
//! events.extend(decoder.finish().unwrap());
//! assert_eq!(events, [StreamEvent::Delta("Hi".into()), StreamEvent::Done]);
//! ```

use serde::Deserialize;
use serde_json::Value;

use crate::provider::Provider;
use crate::response::{AnthropicUsage, GoogleResponse, OpenAiUsage, ProviderError};
use crate::sse::SseEvent;

/// What one streamed event means to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The next piece of generated text (never empty).
    Delta(String),
    /// Token totals so far, normalized as in [`crate::response::Completion`];
    /// a later `Usage` replaces an earlier one.
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
    },
    /// The provider finished the answer.
    Done,
    /// The provider reported a failure mid-stream; nothing follows.
    Error(String),
}

/// The message of "stream ended before completion" errors.
pub const TRUNCATED: &str = "stream ended before completion";

/// Decodes one provider's stream; see the module docs.
#[derive(Debug)]
pub struct StreamDecoder {
    provider: Provider,
    /// `Done` or `Error` was produced: later events are ignored.
    ended: bool,
    /// Anthropic: `(input, cached input)` from `message_start`, needed again
    /// when `message_delta` brings the output count.
    anthropic_input: (u64, u64),
    /// Google: the latest `usageMetadata`, reported at the end.
    google_usage: Option<StreamEvent>,
}

impl StreamDecoder {
    /// A decoder for `provider`'s stream format.
    pub fn new(provider: Provider) -> Self {
        StreamDecoder {
            provider,
            ended: false,
            anthropic_input: (0, 0),
            google_usage: None,
        }
    }

    /// Interprets one SSE event. Events the gateway does not need (role
    /// chunks, pings, tool or thinking deltas, unknown event types) give no
    /// [`StreamEvent`]; data that is not the provider's JSON is
    /// [`ProviderError::Malformed`].
    pub fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.ended {
            return Ok(Vec::new());
        }
        let events = match self.provider {
            Provider::OpenAi | Provider::DeepSeek => self.decode_openai(event)?,
            Provider::Anthropic => self.decode_anthropic(event)?,
            Provider::Google => self.decode_google(event)?,
            Provider::Echo => return Err(echo_error()),
        };
        if events
            .iter()
            .any(|e| matches!(e, StreamEvent::Done | StreamEvent::Error(_)))
        {
            self.ended = true;
        }
        Ok(events)
    }

    /// Call when the body ended at an event boundary (see
    /// [`crate::sse::SseParser::finish`]). For Google this is the normal
    /// end: it returns the last usage seen, then [`StreamEvent::Done`]. For
    /// the other providers, ending without their terminal event is an error
    /// ([`TRUNCATED`]). Returns nothing once `Done` or `Error` was produced.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.ended {
            return Ok(Vec::new());
        }
        match self.provider {
            Provider::Google => {
                self.ended = true;
                Ok(self
                    .google_usage
                    .take()
                    .into_iter()
                    .chain([StreamEvent::Done])
                    .collect())
            }
            Provider::Echo => Err(echo_error()),
            _ => Err(ProviderError::Malformed(TRUNCATED.to_owned())),
        }
    }

    fn decode_openai(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        if event.data.trim() == "[DONE]" {
            return Ok(vec![StreamEvent::Done]);
        }
        let value = self.json(event)?;
        if let Some(message) = error_in(&value) {
            return Ok(vec![StreamEvent::Error(message)]);
        }
        let chunk: OpenAiChunk = self.typed(value)?;
        let mut events = Vec::new();
        let text = chunk
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.delta)
            .and_then(|d| d.content)
            .unwrap_or_default();
        if !text.is_empty() {
            events.push(StreamEvent::Delta(text));
        }
        if let Some(usage) = chunk.usage {
            events.push(usage_event(usage.tokens()));
        }
        Ok(events)
    }

    fn decode_anthropic(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let value = self.json(event)?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default()
            .to_owned();
        if kind == "error" {
            let message = error_in(&value).unwrap_or_else(|| "unknown error".to_owned());
            return Ok(vec![StreamEvent::Error(message)]);
        }
        let parsed: AnthropicEvent = self.typed(value)?;
        let events = match kind.as_str() {
            "message_start" => {
                let usage = parsed.message.and_then(|m| m.usage);
                let Some(usage) = usage else {
                    return Ok(Vec::new());
                };
                self.anthropic_input = (
                    usage.total_input(),
                    usage.cache_read_input_tokens.unwrap_or(0),
                );
                vec![self.anthropic_usage(usage.output_tokens.unwrap_or(0))]
            }
            "content_block_delta" => match parsed.delta {
                Some(AnthropicDelta {
                    kind: Some(kind),
                    text: Some(text),
                }) if kind == "text_delta" && !text.is_empty() => vec![StreamEvent::Delta(text)],
                _ => Vec::new(),
            },
            "message_delta" => match parsed.usage {
                Some(usage) => {
                    // Newer API versions repeat input counts here; prefer them.
                    if usage.input_tokens.is_some() {
                        self.anthropic_input = (
                            usage.total_input(),
                            usage.cache_read_input_tokens.unwrap_or(0),
                        );
                    }
                    vec![self.anthropic_usage(usage.output_tokens.unwrap_or(0))]
                }
                None => Vec::new(),
            },
            "message_stop" => vec![StreamEvent::Done],
            _ => Vec::new(),
        };
        Ok(events)
    }

    fn anthropic_usage(&self, output_tokens: u64) -> StreamEvent {
        let (input, cached) = self.anthropic_input;
        usage_event((input, output_tokens, cached))
    }

    fn decode_google(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let value = self.json(event)?;
        if let Some(message) = error_in(&value) {
            return Ok(vec![StreamEvent::Error(message)]);
        }
        let chunk: GoogleResponse = self.typed(value)?;
        if let Some(usage) = &chunk.usage_metadata {
            self.google_usage = Some(usage_event(usage.tokens()));
        }
        let text = chunk.text();
        Ok(if text.is_empty() {
            Vec::new()
        } else {
            vec![StreamEvent::Delta(text)]
        })
    }

    fn json(&self, event: &SseEvent) -> Result<Value, ProviderError> {
        serde_json::from_str(&event.data).map_err(|e| self.malformed(e))
    }

    fn typed<T: for<'de> Deserialize<'de>>(&self, value: Value) -> Result<T, ProviderError> {
        serde_json::from_value(value).map_err(|e| self.malformed(e))
    }

    fn malformed(&self, error: serde_json::Error) -> ProviderError {
        ProviderError::Malformed(format!(
            "{} stream event is not the expected JSON: {error}",
            self.provider.name()
        ))
    }
}

fn usage_event((input_tokens, output_tokens, cached_input_tokens): (u64, u64, u64)) -> StreamEvent {
    StreamEvent::Usage {
        input_tokens,
        output_tokens,
        cached_input_tokens,
    }
}

/// `error.message` when the event is an error object (all providers use it).
fn error_in(value: &Value) -> Option<String> {
    let error = value.get("error").filter(|e| !e.is_null())?;
    Some(
        error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned(),
    )
}

fn echo_error() -> ProviderError {
    ProviderError::Malformed("the echo model is answered locally, not streamed".to_owned())
}

#[derive(Deserialize)]
struct OpenAiChunk {
    #[serde(default)]
    choices: Vec<OpenAiChunkChoice>,
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct OpenAiChunkChoice {
    delta: Option<OpenAiDelta>,
}

#[derive(Deserialize)]
struct OpenAiDelta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicEvent {
    message: Option<AnthropicMessageStart>,
    delta: Option<AnthropicDelta>,
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct AnthropicMessageStart {
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct AnthropicDelta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    /// What a caller assembles from a whole stream.
    #[derive(Debug, Default, PartialEq)]
    struct Outcome {
        text: String,
        usage: Option<(u64, u64, u64)>,
        done: bool,
        error: Option<String>,
    }

    /// Runs `body`, cut in two at `split`, through parser and decoder the
    /// way the gateway will.
    fn run(provider: Provider, body: &[u8], split: usize) -> Result<Outcome, ProviderError> {
        let mut sse = SseParser::new();
        let mut decoder = StreamDecoder::new(provider);
        let mut events = Vec::new();
        for chunk in [&body[..split], &body[split..]] {
            for event in sse.push(chunk) {
                events.extend(decoder.decode(&event)?);
            }
        }
        if sse.finish() {
            return Err(ProviderError::Malformed("ended mid-event".to_owned()));
        }
        events.extend(decoder.finish()?);

        let mut outcome = Outcome::default();
        for event in events {
            assert!(
                !outcome.done && outcome.error.is_none(),
                "event after the end: {event:?}"
            );
            match event {
                StreamEvent::Delta(text) => outcome.text.push_str(&text),
                StreamEvent::Usage {
                    input_tokens,
                    output_tokens,
                    cached_input_tokens,
                } => outcome.usage = Some((input_tokens, output_tokens, cached_input_tokens)),
                StreamEvent::Done => outcome.done = true,
                StreamEvent::Error(message) => outcome.error = Some(message),
            }
        }
        Ok(outcome)
    }

    /// The outcome, checked to be the same at every split point.
    fn run_all_splits(provider: Provider, body: &str) -> Result<Outcome, ProviderError> {
        let body = body.as_bytes();
        let whole = run(provider, body, body.len());
        for split in 0..body.len() {
            assert_eq!(run(provider, body, split), whole, "split at {split}");
        }
        whole
    }

    fn done(text: &str, usage: (u64, u64, u64)) -> Outcome {
        Outcome {
            text: text.to_owned(),
            usage: Some(usage),
            done: true,
            error: None,
        }
    }

    fn truncated() -> Result<Outcome, ProviderError> {
        Err(ProviderError::Malformed(TRUNCATED.to_owned()))
    }

    const OPENAI: &str = r#"data: {"id":"chatcmpl-BX1","object":"chat.completion.chunk","created":1746000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_dbaca60df0","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BX1","object":"chat.completion.chunk","created":1746000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_dbaca60df0","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BX1","object":"chat.completion.chunk","created":1746000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_dbaca60df0","choices":[{"index":0,"delta":{"content":" Ada — ¡hola!"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BX1","object":"chat.completion.chunk","created":1746000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_dbaca60df0","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-BX1","object":"chat.completion.chunk","created":1746000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_dbaca60df0","choices":[],"usage":{"prompt_tokens":1290,"completion_tokens":7,"total_tokens":1297,"prompt_tokens_details":{"cached_tokens":1152,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}

data: [DONE]

"#;

    #[test]
    fn openai_stream_end_to_end() {
        assert_eq!(
            run_all_splits(Provider::OpenAi, OPENAI),
            Ok(done("Hi Ada — ¡hola!", (1290, 7, 1152)))
        );
    }

    #[test]
    fn openai_stream_without_done_is_truncated() {
        let cut = OPENAI.replace("data: [DONE]\n\n", "");
        assert_eq!(run(Provider::OpenAi, cut.as_bytes(), 0), truncated());
    }

    #[test]
    fn openai_stream_error_chunk() {
        let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n\
            data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}\n\n";
        assert_eq!(
            run(Provider::OpenAi, body.as_bytes(), 0),
            Ok(Outcome {
                text: "Hi".to_owned(),
                error: Some("The server had an error while processing your request.".to_owned()),
                ..Outcome::default()
            })
        );
    }

    const DEEPSEEK: &str = ": keep-alive

data: {\"id\":\"1f6c0a5e\",\"object\":\"chat.completion.chunk\",\"created\":1737000000,\"model\":\"deepseek-chat\",\"system_fingerprint\":\"fp_3a5770e1b4\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}

data: {\"id\":\"1f6c0a5e\",\"object\":\"chat.completion.chunk\",\"created\":1737000000,\"model\":\"deepseek-chat\",\"system_fingerprint\":\"fp_3a5770e1b4\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"你好\"},\"logprobs\":null,\"finish_reason\":null}]}

data: {\"id\":\"1f6c0a5e\",\"object\":\"chat.completion.chunk\",\"created\":1737000000,\"model\":\"deepseek-chat\",\"system_fingerprint\":\"fp_3a5770e1b4\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\", Ada\"},\"logprobs\":null,\"finish_reason\":null}]}

data: {\"id\":\"1f6c0a5e\",\"object\":\"chat.completion.chunk\",\"created\":1737000000,\"model\":\"deepseek-chat\",\"system_fingerprint\":\"fp_3a5770e1b4\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":4,\"total_tokens\":24,\"prompt_tokens_details\":{\"cached_tokens\":0},\"prompt_cache_hit_tokens\":16,\"prompt_cache_miss_tokens\":4}}

data: [DONE]

";

    #[test]
    fn deepseek_stream_end_to_end() {
        assert_eq!(
            run_all_splits(Provider::DeepSeek, DEEPSEEK),
            Ok(done("你好, Ada", (20, 4, 16)))
        );
    }

    const ANTHROPIC: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", Ada! 👋"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}

"#;

    #[test]
    fn anthropic_stream_end_to_end() {
        assert_eq!(
            run_all_splits(Provider::Anthropic, ANTHROPIC),
            Ok(done("Hello, Ada! 👋", (25 + 2048, 15, 2048)))
        );
    }

    #[test]
    fn anthropic_reports_input_usage_as_soon_as_it_starts() {
        let mut decoder = StreamDecoder::new(Provider::Anthropic);
        let start = SseParser::new().push(ANTHROPIC.as_bytes()).remove(0);
        assert_eq!(
            decoder.decode(&start),
            Ok(vec![StreamEvent::Usage {
                input_tokens: 2073,
                output_tokens: 1,
                cached_input_tokens: 2048
            }])
        );
    }

    #[test]
    fn anthropic_stream_without_message_stop_is_truncated() {
        let cut = ANTHROPIC.replace(
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            "",
        );
        assert_eq!(run(Provider::Anthropic, cut.as_bytes(), 0), truncated());
    }

    #[test]
    fn anthropic_error_event() {
        let body = "event: message_start\n\
            data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n\
            event: error\n\
            data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        assert_eq!(
            run(Provider::Anthropic, body.as_bytes(), 0),
            Ok(Outcome {
                usage: Some((9, 1, 0)),
                error: Some("Overloaded".to_owned()),
                ..Outcome::default()
            })
        );
    }

    #[test]
    fn anthropic_message_delta_with_cumulative_input_counts() {
        let body = "event: message_start\n\
            data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n\
            event: message_delta\n\
            data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":3}}\n\n\
            event: message_stop\n\
            data: {\"type\":\"message_stop\"}\n\n";
        assert_eq!(
            run(Provider::Anthropic, body.as_bytes(), 0),
            Ok(done("", (15, 3, 5)))
        );
    }

    const GOOGLE: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 1100,\"totalTokenCount\": 1100,\"cachedContentTokenCount\": 1024},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"n8JuaK3\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" Ada, ça va?\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 1100,\"totalTokenCount\": 1100,\"cachedContentTokenCount\": 1024},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"n8JuaK3\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\\n\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 1100,\"candidatesTokenCount\": 8,\"totalTokenCount\": 1108,\"cachedContentTokenCount\": 1024,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 1100}],\"candidatesTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 8}]},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"n8JuaK3\"}\r\n\r\n";

    #[test]
    fn google_stream_end_to_end() {
        assert_eq!(
            run_all_splits(Provider::Google, GOOGLE),
            Ok(done("Hi Ada, ça va?\n", (1100, 8, 1024)))
        );
    }

    #[test]
    fn google_stream_cut_mid_event_is_detected_by_the_parser() {
        let cut = &GOOGLE.as_bytes()[..GOOGLE.len() - 3];
        assert_eq!(
            run(Provider::Google, cut, 0),
            Err(ProviderError::Malformed("ended mid-event".to_owned()))
        );
    }

    #[test]
    fn google_error_chunk() {
        let body = "data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded. Please try again later.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n";
        assert_eq!(
            run(Provider::Google, body.as_bytes(), 0),
            Ok(Outcome {
                error: Some("The model is overloaded. Please try again later.".to_owned()),
                ..Outcome::default()
            })
        );
    }

    #[test]
    fn empty_google_stream_is_done_without_usage() {
        assert_eq!(
            run(Provider::Google, b"", 0),
            Ok(Outcome {
                done: true,
                ..Outcome::default()
            })
        );
    }

    #[test]
    fn non_json_data_is_malformed() {
        for provider in [
            Provider::OpenAi,
            Provider::DeepSeek,
            Provider::Anthropic,
            Provider::Google,
        ] {
            let mut decoder = StreamDecoder::new(provider);
            let event = SseEvent {
                event: None,
                data: "{oops".to_owned(),
            };
            let Err(ProviderError::Malformed(reason)) = decoder.decode(&event) else {
                panic!("{provider:?}: expected Malformed");
            };
            assert!(reason.starts_with(provider.name()), "{reason}");
        }
        // JSON of the wrong shape.
        let mut decoder = StreamDecoder::new(Provider::OpenAi);
        let event = SseEvent {
            event: None,
            data: r#"{"choices":"many"}"#.to_owned(),
        };
        assert!(matches!(
            decoder.decode(&event),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn null_error_field_is_not_an_error() {
        let mut decoder = StreamDecoder::new(Provider::OpenAi);
        let event = SseEvent {
            event: None,
            data: r#"{"choices":[{"delta":{"content":"ok"}}],"error":null}"#.to_owned(),
        };
        assert_eq!(
            decoder.decode(&event),
            Ok(vec![StreamEvent::Delta("ok".to_owned())])
        );
    }

    #[test]
    fn events_after_the_end_are_ignored() {
        let mut decoder = StreamDecoder::new(Provider::OpenAi);
        let done = SseEvent {
            event: None,
            data: "[DONE]".to_owned(),
        };
        assert_eq!(decoder.decode(&done), Ok(vec![StreamEvent::Done]));
        let late = SseEvent {
            event: None,
            data: "garbage".to_owned(),
        };
        assert_eq!(decoder.decode(&late), Ok(vec![]));
        assert_eq!(decoder.finish(), Ok(vec![]));
    }

    #[test]
    fn echo_is_not_streamed_from_a_provider() {
        let mut decoder = StreamDecoder::new(Provider::Echo);
        assert!(decoder.decode(&SseEvent::default()).is_err());
        assert!(decoder.finish().is_err());
    }
}
