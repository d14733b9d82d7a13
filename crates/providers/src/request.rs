//! The HTTP request each provider expects for one chat completion.
//!
//! Every provider gets the same input, [`ChatRequest`]: one system text and
//! one user text, as rendered from a prompt version, plus sampling options.
//! [`build`] maps it onto the provider's real API, omitting options that are
//! unset so the provider's own defaults apply. [`redacted_headers`] is for
//! storing what was sent without storing secrets.

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use serde_json::{Map, Value, json};

use crate::provider::{Provider, is_o_series};

/// Anthropic requires `max_tokens`; this is used when the caller sets none.
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 1024;

/// The `anthropic-version` header value the request and response formats
/// in this crate follow.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// One chat completion, independent of the provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's model name, e.g. `gpt-4o-mini`.
    pub model: String,
    /// The system text; empty means no system message is sent.
    pub system: String,
    /// The user text.
    pub user: String,
    /// Sampling temperature; `None` leaves the provider default.
    pub temperature: Option<f64>,
    /// Most tokens to generate; `None` leaves the provider default
    /// (except Anthropic, which requires one: [`ANTHROPIC_DEFAULT_MAX_TOKENS`]).
    pub max_tokens: Option<u32>,
    /// Nucleus sampling; `None` leaves the provider default.
    pub top_p: Option<f64>,
    /// Sequences that end generation; empty sends none.
    pub stop_sequences: Vec<String>,
    /// Ask for a Server-Sent Events stream instead of one JSON body.
    pub stream: bool,
}

/// Why no request could be built. Messages never include the API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// [`Provider::Echo`] is answered locally, not over HTTP.
    LocalModel,
    /// The base URL, joined with the API path, is not an absolute
    /// `http(s)://host/...` URL.
    InvalidBaseUrl(String),
    /// The API key contains characters not allowed in an HTTP header.
    InvalidApiKey,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::LocalModel => f.write_str("the echo model is answered locally"),
            BuildError::InvalidBaseUrl(url) => write!(f, "invalid provider base URL {url:?}"),
            BuildError::InvalidApiKey => {
                f.write_str("the provider API key contains characters not allowed in a header")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds `provider`'s real request for `chat`.
///
/// `base_url` is everything before the provider's endpoint (trailing `/`s
/// are ignored), as in the providers' own SDKs: `https://api.openai.com/v1`,
/// `https://openrouter.ai/api/v1`, `http://127.0.0.1:11434/v1`. A base
/// without a path (`https://api.openai.com`) gets the provider's
/// [`Provider::default_base_path`] (`/v1`; Google `/v1beta`; DeepSeek none),
/// so bare origins keep working.
///
/// Endpoints (after the base): OpenAI and DeepSeek `POST /chat/completions`,
/// Anthropic `POST /messages`, Google `POST /models/{model}:generateContent`
/// (or `:streamGenerateContent?alt=sse` when streaming).
pub fn build(
    provider: Provider,
    chat: &ChatRequest,
    base_url: &str,
    api_key: &str,
) -> Result<Request<Vec<u8>>, BuildError> {
    let base = base_url.trim_end_matches('/');
    let (path, (key_header, key_value), body) = match provider {
        Provider::Echo => return Err(BuildError::LocalModel),
        Provider::OpenAi => (
            "/chat/completions".to_owned(),
            (AUTHORIZATION, format!("Bearer {api_key}")),
            openai_body(chat, openai_max_tokens_field(&chat.model)),
        ),
        Provider::DeepSeek => (
            "/chat/completions".to_owned(),
            (AUTHORIZATION, format!("Bearer {api_key}")),
            openai_body(chat, "max_tokens"),
        ),
        Provider::Anthropic => (
            "/messages".to_owned(),
            (HeaderName::from_static("x-api-key"), api_key.to_owned()),
            anthropic_body(chat),
        ),
        Provider::Google => (
            google_path(chat),
            (
                HeaderName::from_static("x-goog-api-key"),
                api_key.to_owned(),
            ),
            google_body(chat),
        ),
    };

    let version = if has_path(base) {
        ""
    } else {
        provider.default_base_path().unwrap_or("")
    };
    let url = format!("{base}{version}{path}");
    let uri: Uri = url
        .parse()
        .map_err(|_| BuildError::InvalidBaseUrl(base_url.to_owned()))?;
    let is_http = matches!(uri.scheme_str(), Some("http" | "https"));
    if !is_http || uri.authority().is_none() {
        return Err(BuildError::InvalidBaseUrl(base_url.to_owned()));
    }

    let mut secret = HeaderValue::from_str(&key_value).map_err(|_| BuildError::InvalidApiKey)?;
    // Keeps the key out of `Debug` output of the request.
    secret.set_sensitive(true);

    let mut request = Request::new(body.to_string().into_bytes());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(key_header, secret);
    if provider == Provider::Anthropic {
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
    }
    Ok(request)
}

/// Headers whose values are credentials; [`redacted_headers`] hides them.
const SECRET_HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "cookie",
    "set-cookie",
];

/// The headers as `(name, value)` pairs for storing in logs, with the values
/// of credential headers (authorization, x-api-key, x-goog-api-key,
/// api-key, cookie and their proxy/response forms) replaced by `[REDACTED]`.
/// Names are lowercase; values that are not UTF-8 are converted lossily.
pub fn redacted_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                "[REDACTED]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// OpenAI's reasoning models (o-series, gpt-5) reject `max_tokens` and take
/// `max_completion_tokens`; the older chat models document `max_tokens`.
fn openai_max_tokens_field(model: &str) -> &'static str {
    if is_o_series(model) || model.starts_with("gpt-5") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

/// The Chat Completions body shared by OpenAI and DeepSeek.
fn openai_body(chat: &ChatRequest, max_tokens_field: &str) -> Value {
    let mut messages = Vec::new();
    if !chat.system.is_empty() {
        messages.push(json!({"role": "system", "content": chat.system}));
    }
    messages.push(json!({"role": "user", "content": chat.user}));

    let mut body = Map::new();
    body.insert("model".into(), json!(chat.model));
    body.insert("messages".into(), Value::Array(messages));
    insert_some(&mut body, "temperature", chat.temperature);
    insert_some(&mut body, max_tokens_field, chat.max_tokens);
    insert_some(&mut body, "top_p", chat.top_p);
    if !chat.stop_sequences.is_empty() {
        body.insert("stop".into(), json!(chat.stop_sequences));
    }
    if chat.stream {
        body.insert("stream".into(), json!(true));
        // Without this the stream carries no token counts to bill.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

fn anthropic_body(chat: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(chat.model));
    if !chat.system.is_empty() {
        body.insert("system".into(), json!(chat.system));
    }
    body.insert(
        "messages".into(),
        json!([{"role": "user", "content": chat.user}]),
    );
    body.insert(
        "max_tokens".into(),
        json!(chat.max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS)),
    );
    insert_some(&mut body, "temperature", chat.temperature);
    insert_some(&mut body, "top_p", chat.top_p);
    if !chat.stop_sequences.is_empty() {
        body.insert("stop_sequences".into(), json!(chat.stop_sequences));
    }
    if chat.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// Whether `base` (trailing `/`s already trimmed) has a path after its
/// `scheme://authority`.
fn has_path(base: &str) -> bool {
    base.split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'))
}

fn google_path(chat: &ChatRequest) -> String {
    // The model is a path segment: escape it so a crafted name cannot reach
    // another endpoint with our key.
    let model = percent_encode_segment(&chat.model);
    if chat.stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    }
}

fn google_body(chat: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        json!([{"role": "user", "parts": [{"text": chat.user}]}]),
    );
    if !chat.system.is_empty() {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": chat.system}]}),
        );
    }
    let mut config = Map::new();
    insert_some(&mut config, "temperature", chat.temperature);
    insert_some(&mut config, "maxOutputTokens", chat.max_tokens);
    insert_some(&mut config, "topP", chat.top_p);
    if !chat.stop_sequences.is_empty() {
        config.insert("stopSequences".into(), json!(chat.stop_sequences));
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

fn insert_some<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value.into());
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(model: &str) -> ChatRequest {
        ChatRequest {
            model: model.to_owned(),
            system: "You are terse.".to_owned(),
            user: "Say hi to Ada.".to_owned(),
            ..ChatRequest::default()
        }
    }

    fn full(model: &str) -> ChatRequest {
        ChatRequest {
            temperature: Some(0.2),
            max_tokens: Some(256),
            top_p: Some(0.9),
            stop_sequences: vec!["END".to_owned()],
            stream: true,
            ..chat(model)
        }
    }

    fn body(request: &Request<Vec<u8>>) -> Value {
        serde_json::from_slice(request.body()).unwrap()
    }

    fn header<'a>(request: &'a Request<Vec<u8>>, name: &str) -> &'a str {
        request.headers()[name].to_str().unwrap()
    }

    #[test]
    fn openai_minimal_request() {
        let r = build(
            Provider::OpenAi,
            &chat("gpt-4o"),
            "https://api.openai.com/",
            "sk-1",
        )
        .unwrap();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.uri(), "https://api.openai.com/v1/chat/completions");
        assert_eq!(header(&r, "authorization"), "Bearer sk-1");
        assert_eq!(header(&r, "content-type"), "application/json");
        assert_eq!(r.headers().len(), 2);
        assert_eq!(
            body(&r),
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Say hi to Ada."}
                ]
            })
        );
    }

    #[test]
    fn openai_full_streaming_request() {
        let r = build(
            Provider::OpenAi,
            &full("gpt-4o-mini"),
            "https://api.openai.com",
            "k",
        )
        .unwrap();
        assert_eq!(
            body(&r),
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Say hi to Ada."}
                ],
                "temperature": 0.2,
                "max_tokens": 256,
                "top_p": 0.9,
                "stop": ["END"],
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn openai_reasoning_models_use_max_completion_tokens() {
        for model in ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5-mini"] {
            let chat = ChatRequest {
                max_tokens: Some(100),
                ..chat(model)
            };
            let b = body(&build(Provider::OpenAi, &chat, "https://api.openai.com", "k").unwrap());
            assert_eq!(b["max_completion_tokens"], 100, "{model}");
            assert!(b.get("max_tokens").is_none(), "{model}");
        }
    }

    #[test]
    fn empty_system_text_sends_no_system_message() {
        let chat = ChatRequest {
            system: String::new(),
            ..chat("gpt-4o")
        };
        let b = body(&build(Provider::OpenAi, &chat, "https://api.openai.com", "k").unwrap());
        assert_eq!(
            b["messages"],
            json!([{"role": "user", "content": "Say hi to Ada."}])
        );

        let b = body(&build(Provider::Anthropic, &chat, "https://api.anthropic.com", "k").unwrap());
        assert!(b.get("system").is_none());

        let b = body(&build(Provider::Google, &chat, "https://g.example", "k").unwrap());
        assert!(b.get("systemInstruction").is_none());
    }

    #[test]
    fn deepseek_request() {
        let r = build(
            Provider::DeepSeek,
            &full("deepseek-chat"),
            "https://api.deepseek.com",
            "ds",
        )
        .unwrap();
        assert_eq!(r.uri(), "https://api.deepseek.com/chat/completions");
        assert_eq!(header(&r, "authorization"), "Bearer ds");
        assert_eq!(
            body(&r),
            json!({
                "model": "deepseek-chat",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Say hi to Ada."}
                ],
                "temperature": 0.2,
                "max_tokens": 256,
                "top_p": 0.9,
                "stop": ["END"],
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn anthropic_minimal_request_defaults_max_tokens() {
        let r = build(
            Provider::Anthropic,
            &chat("claude-3-5-haiku-20241022"),
            "https://api.anthropic.com",
            "ak",
        )
        .unwrap();
        assert_eq!(r.uri(), "https://api.anthropic.com/v1/messages");
        assert_eq!(header(&r, "x-api-key"), "ak");
        assert_eq!(header(&r, "anthropic-version"), "2023-06-01");
        assert_eq!(header(&r, "content-type"), "application/json");
        assert!(r.headers().get("authorization").is_none());
        assert_eq!(
            body(&r),
            json!({
                "model": "claude-3-5-haiku-20241022",
                "system": "You are terse.",
                "messages": [{"role": "user", "content": "Say hi to Ada."}],
                "max_tokens": 1024
            })
        );
    }

    #[test]
    fn anthropic_full_request() {
        let r = build(
            Provider::Anthropic,
            &full("claude-sonnet-4-20250514"),
            "https://api.anthropic.com",
            "ak",
        )
        .unwrap();
        assert_eq!(
            body(&r),
            json!({
                "model": "claude-sonnet-4-20250514",
                "system": "You are terse.",
                "messages": [{"role": "user", "content": "Say hi to Ada."}],
                "max_tokens": 256,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop_sequences": ["END"],
                "stream": true
            })
        );
    }

    #[test]
    fn google_minimal_request() {
        let r = build(
            Provider::Google,
            &chat("gemini-2.0-flash"),
            "https://generativelanguage.googleapis.com",
            "gk",
        )
        .unwrap();
        assert_eq!(
            r.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
        );
        assert_eq!(header(&r, "x-goog-api-key"), "gk");
        assert_eq!(header(&r, "content-type"), "application/json");
        assert_eq!(
            body(&r),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Say hi to Ada."}]}],
                "systemInstruction": {"parts": [{"text": "You are terse."}]}
            })
        );
    }

    #[test]
    fn google_full_streaming_request() {
        let r = build(
            Provider::Google,
            &full("gemini-2.5-pro"),
            "https://generativelanguage.googleapis.com/",
            "gk",
        )
        .unwrap();
        assert_eq!(
            r.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            body(&r),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Say hi to Ada."}]}],
                "systemInstruction": {"parts": [{"text": "You are terse."}]},
                "generationConfig": {
                    "temperature": 0.2,
                    "maxOutputTokens": 256,
                    "topP": 0.9,
                    "stopSequences": ["END"]
                }
            })
        );
    }

    #[test]
    fn google_model_cannot_escape_its_path_segment() {
        let r = build(
            Provider::Google,
            &chat("gemini-x/../../v1/files?a=b#c"),
            "https://g.example",
            "k",
        )
        .unwrap();
        assert_eq!(
            r.uri(),
            "https://g.example/v1beta/models/gemini-x%2F..%2F..%2Fv1%2Ffiles%3Fa%3Db%23c:generateContent"
        );
    }

    #[test]
    fn keeps_a_base_path_and_trims_one_or_more_trailing_slashes() {
        let r = build(
            Provider::OpenAi,
            &chat("gpt-4o"),
            "http://localhost:8080/proxy//",
            "k",
        )
        .unwrap();
        assert_eq!(r.uri(), "http://localhost:8080/proxy/chat/completions");
    }

    #[test]
    fn joins_a_base_path_with_the_endpoint_without_doubling_the_version() {
        let cases = [
            (
                Provider::OpenAi,
                "gpt-4o",
                "https://api.openai.com/v1",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                Provider::OpenAi,
                "gpt-4o",
                "https://api.openai.com/v1/",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                Provider::OpenAi,
                "gpt-4o",
                "https://openrouter.ai/api/v1",
                "https://openrouter.ai/api/v1/chat/completions",
            ),
            (
                Provider::OpenAi,
                "gpt-4o",
                "https://api.groq.com/openai/v1",
                "https://api.groq.com/openai/v1/chat/completions",
            ),
            (
                Provider::OpenAi,
                "gpt-4o",
                "http://127.0.0.1:11434/v1",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            (
                Provider::OpenAi,
                "gpt-4o",
                "http://127.0.0.1:11434",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            (
                Provider::OpenAi,
                "gpt-4o",
                "http://127.0.0.1:11434/",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            (
                Provider::DeepSeek,
                "deepseek-chat",
                "https://api.deepseek.com",
                "https://api.deepseek.com/chat/completions",
            ),
            (
                Provider::DeepSeek,
                "deepseek-chat",
                "https://api.deepseek.com/v1",
                "https://api.deepseek.com/v1/chat/completions",
            ),
            (
                Provider::Anthropic,
                "claude-x",
                "https://api.anthropic.com",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                Provider::Anthropic,
                "claude-x",
                "https://gw.example/anthropic/v1",
                "https://gw.example/anthropic/v1/messages",
            ),
            (
                Provider::Google,
                "gemini-2.0-flash",
                "https://g.example",
                "https://g.example/v1beta/models/gemini-2.0-flash:generateContent",
            ),
            (
                Provider::Google,
                "gemini-2.0-flash",
                "https://g.example/google/v1beta",
                "https://g.example/google/v1beta/models/gemini-2.0-flash:generateContent",
            ),
        ];
        for (provider, model, base, want) in cases {
            let r = build(provider, &chat(model), base, "k").unwrap();
            assert_eq!(r.uri(), want, "{base}");
        }
    }

    #[test]
    fn rejects_bad_base_urls_keys_and_echo() {
        for base in [
            "",
            "api.openai.com",
            "ftp://x.example",
            "https://exa mple.com",
            "/v1",
        ] {
            assert_eq!(
                build(Provider::OpenAi, &chat("gpt-4o"), base, "k").unwrap_err(),
                BuildError::InvalidBaseUrl(base.to_owned()),
                "{base:?}"
            );
        }
        let err = build(
            Provider::Anthropic,
            &chat("claude-x"),
            "https://a.example",
            "k\r\nx: y",
        )
        .unwrap_err();
        assert_eq!(err, BuildError::InvalidApiKey);
        assert!(!err.to_string().contains("k\r\n"));
        assert_eq!(
            build(Provider::Echo, &chat("echo"), "https://a.example", "k").unwrap_err(),
            BuildError::LocalModel
        );
    }

    #[test]
    fn api_key_is_hidden_from_debug_output() {
        let r = build(
            Provider::OpenAi,
            &chat("gpt-4o"),
            "https://api.openai.com",
            "sk-secret",
        )
        .unwrap();
        assert!(!format!("{r:?}").contains("sk-secret"));
    }

    #[test]
    fn redacts_credential_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        headers.insert("x-api-key", HeaderValue::from_static("ak"));
        headers.insert("X-Goog-Api-Key", HeaderValue::from_static("gk"));
        headers.insert("api-key", HeaderValue::from_static("azure"));
        headers.insert("cookie", HeaderValue::from_static("session=1"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        headers.insert("x-bytes", HeaderValue::from_bytes(b"caf\xe9").unwrap());

        let mut got = redacted_headers(&headers);
        got.sort();
        let r = "[REDACTED]".to_owned();
        let want = vec![
            ("anthropic-version".to_owned(), "2023-06-01".to_owned()),
            ("api-key".to_owned(), r.clone()),
            ("authorization".to_owned(), r.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("cookie".to_owned(), r.clone()),
            ("x-api-key".to_owned(), r.clone()),
            ("x-bytes".to_owned(), "caf\u{fffd}".to_owned()),
            ("x-goog-api-key".to_owned(), r),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn redacts_built_requests() {
        for (provider, model) in [
            (Provider::OpenAi, "gpt-4o"),
            (Provider::DeepSeek, "deepseek-chat"),
            (Provider::Anthropic, "claude-opus-4"),
            (Provider::Google, "gemini-2.0-flash"),
        ] {
            let r = build(provider, &chat(model), "https://x.example", "secret-key").unwrap();
            let logged = format!("{:?}", redacted_headers(r.headers()));
            assert!(!logged.contains("secret-key"), "{logged}");
            assert!(logged.contains("[REDACTED]"), "{logged}");
        }
    }
}
