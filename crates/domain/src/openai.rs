//! The OpenAI-compatible face of the gateway, before any I/O:
//! `POST /api/v1/openai/v1/chat/completions` read into a [`GatewayRequest`]
//! (so it runs exactly like `POST /gateway/execute`), and the answers in
//! OpenAI's shapes (`chat.completion`, `chat.completion.chunk`, `model`
//! lists and `{"error": {...}}`).
//!
//! - `model: "prompt:<slug>"` (or `prompt:<slug>@development`) runs the
//!   managed prompt's version for that environment (production by default).
//!   Its own system and user texts are the conversation: `messages` only
//!   supply a variable. Variables come from the extra body field
//!   `prompthelm_variables` (a map; numbers and booleans are taken as their
//!   JSON text), and if the version declares exactly one required variable
//!   without a default that the map leaves out, the last `user` message's
//!   text fills it ([`fill_variable`]). Other messages are ignored.
//! - Any other model runs ad hoc: the `system` (and `developer`) messages
//!   joined by a blank line are the system text, the last `user` message the
//!   user text; earlier turns are not sent.
//! - `temperature`, `top_p`, `max_completion_tokens` (or `max_tokens`) and
//!   `stop` (a string or a list) override the version's; `stream` and
//!   `stream_options.include_usage` choose the answer; `user` is the sticky
//!   key of a running canary (the gateway's `userId`, same rules; OpenAI
//!   documents it as a stable end-user id); `n` other than 1 and
//!   `tools`/`functions` are refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::gateway::GatewayRequest;
use crate::validation::{FieldError, codes};
use crate::variables::VariableSpec;

/// What names a managed prompt in `model`.
pub const PROMPT_PREFIX: &str = "prompt:";
/// `owned_by` of every listed model.
pub const OWNER: &str = "prompthelm";

/// The body of `POST /chat/completions`, as far as the gateway reads it.
/// Unknown fields are ignored, as OpenAI-compatible servers do (clients
/// send options such as `seed` that have no meaning here).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Vec<Message>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub stop: Option<Stop>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub user: Option<String>,
    pub n: Option<u32>,
    #[serde(default, deserialize_with = "values_as_strings")]
    pub prompthelm_variables: BTreeMap<String, String>,
    pub tools: Option<Value>,
    pub functions: Option<Value>,
}

/// One chat message; only its role and text matter here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

/// A message's content: a string or a list of parts (text parts count).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// One content part; parts other than `text` contribute nothing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl Message {
    /// The message's text: the string, or its text parts joined.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(text)) => text.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

fn values_as_strings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect())
}

/// What `model` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// `prompt:<slug>[@<environment>]`.
    Prompt {
        slug: String,
        environment: Option<String>,
    },
    /// Anything else: a provider model, run ad hoc.
    Plain(String),
}

/// Reads `model`.
pub fn parse_model(model: &str) -> ModelRef {
    match model.strip_prefix(PROMPT_PREFIX) {
        None => ModelRef::Plain(model.to_owned()),
        Some(rest) => match rest.split_once('@') {
            Some((slug, environment)) => ModelRef::Prompt {
                slug: slug.to_owned(),
                environment: Some(environment.to_owned()),
            },
            None => ModelRef::Prompt {
                slug: rest.to_owned(),
                environment: None,
            },
        },
    }
}

/// A chat-completions request in the gateway's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub body: GatewayRequest,
    pub stream: bool,
    pub include_usage: bool,
    /// The last `user` message's text, for [`fill_variable`] (managed
    /// prompts only).
    pub last_user: Option<String>,
}

/// Maps the request; the errors name OpenAI's parameters.
pub fn to_gateway(req: ChatCompletionRequest) -> Result<Mapped, Vec<FieldError>> {
    let mut errors = Vec::new();
    if req.n.is_some_and(|n| n != 1) {
        errors.push(FieldError::new(
            "n",
            codes::OUT_OF_RANGE,
            "only n = 1 is supported",
        ));
    }
    for (field, value) in [("tools", &req.tools), ("functions", &req.functions)] {
        if value.is_some() {
            errors.push(FieldError::new(
                field,
                codes::UNKNOWN_VALUE,
                format!("{field} are not supported by PromptHelm's OpenAI-compatible endpoint"),
            ));
        }
    }
    let last_user = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(Message::text);
    let mut body = GatewayRequest {
        variables: req.prompthelm_variables,
        temperature: req.temperature,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        top_p: req.top_p,
        user_id: req.user,
        stop_sequences: req.stop.map(|stop| match stop {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }),
        ..GatewayRequest::default()
    };
    let mut fill = None;
    match req.model.as_deref().map(parse_model) {
        None => errors.push(FieldError::new(
            "model",
            codes::REQUIRED,
            "model is required: prompt:<slug> for a managed prompt, or a provider model",
        )),
        Some(ModelRef::Prompt { slug, environment }) => {
            if slug.is_empty() {
                errors.push(FieldError::new(
                    "model",
                    codes::REQUIRED,
                    "model prompt:<slug> names no slug",
                ));
            }
            body.prompt_slug = Some(slug);
            body.environment = environment;
            fill = last_user;
        }
        Some(ModelRef::Plain(model)) => {
            let system: Vec<String> = req
                .messages
                .iter()
                .filter(|m| m.role == "system" || m.role == "developer")
                .map(Message::text)
                .collect();
            if !system.is_empty() {
                body.system = Some(system.join("\n\n"));
            }
            body.user = last_user;
            body.model = Some(model);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Mapped {
        body,
        stream: req.stream.unwrap_or(false),
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
        last_user: fill,
    })
}

/// Gives `text` to the one variable the caller must supply and did not:
/// when exactly one required variable without a default is missing from
/// `variables`, it gets `text` and its name is returned. Otherwise nothing
/// changes (the render reports whatever is missing).
pub fn fill_variable(
    variables: &mut BTreeMap<String, String>,
    schema: &[VariableSpec],
    text: Option<&str>,
) -> Option<String> {
    let text = text?;
    let mut missing = schema
        .iter()
        .filter(|spec| !spec.is_omittable() && !variables.contains_key(&spec.name));
    let only = missing.next()?;
    if missing.next().is_some() {
        return None;
    }
    variables.insert(only.name.clone(), text.to_owned());
    Some(only.name.clone())
}

/// The OpenAI parameter a gateway field error is about.
pub fn param_for(field: &str) -> String {
    let head = field.split(['.', '[']).next().unwrap_or(field);
    match head {
        "maxTokens" => "max_completion_tokens".to_owned(),
        "topP" => "top_p".to_owned(),
        "stopSequences" => "stop".to_owned(),
        "variables" => format!(
            "prompthelm_variables{}",
            field.strip_prefix("variables").unwrap_or_default()
        ),
        "user" | "system" => "messages".to_owned(),
        "userId" => "user".to_owned(),
        "promptSlug" | "promptId" | "environment" => "model".to_owned(),
        _ => field.to_owned(),
    }
}

/// OpenAI's `finish_reason` for a provider's own reason.
pub fn finish_reason(provider_reason: Option<&str>) -> &'static str {
    match provider_reason {
        Some("length" | "max_tokens" | "MAX_TOKENS") => "length",
        Some("content_filter" | "SAFETY" | "RECITATION" | "refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's error `type` for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// `{"error": {message, type, param, code}}`; `code` is PromptHelm's error
/// code. `request_id` and PromptHelm's `details` ride along inside `error`
/// (OpenAI clients ignore fields they do not know).
pub fn error_body(
    status: u16,
    code: &str,
    message: &str,
    param: Option<&str>,
    request_id: &str,
    details: Option<&Value>,
) -> Value {
    let mut error = json!({
        "message": message,
        "type": error_type(status),
        "param": param,
        "code": code,
        "request_id": request_id,
    });
    if let Some(details) = details {
        error["details"] = details.clone();
    }
    json!({ "error": error })
}

/// `usage` of a completion.
pub fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// A `chat.completion` with one choice.
pub fn completion(
    id: &str,
    created: i64,
    model: &str,
    content: &str,
    finish_reason: &str,
    usage: Value,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": usage,
    })
}

/// A `chat.completion.chunk` with one choice.
pub fn chunk(
    id: &str,
    created: i64,
    model: &str,
    delta: Value,
    finish_reason: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
    })
}

/// The last chunk of a stream with `stream_options.include_usage`: no
/// choices, the usage.
pub fn usage_chunk(id: &str, created: i64, model: &str, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    })
}

/// One entry of `GET /models`.
pub fn model_entry(slug: &str, created: i64) -> Value {
    json!({
        "id": format!("{PROMPT_PREFIX}{slug}"),
        "object": "model",
        "created": created,
        "owned_by": OWNER,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::VariableKind;

    fn request(body: Value) -> ChatCompletionRequest {
        serde_json::from_value(body).unwrap()
    }

    fn spec(name: &str, required: bool, default: Option<&str>) -> VariableSpec {
        VariableSpec {
            name: name.to_owned(),
            kind: VariableKind::String,
            required,
            default: default.map(str::to_owned),
        }
    }

    #[test]
    fn models_name_prompts_and_environments() {
        assert_eq!(
            parse_model("prompt:support"),
            ModelRef::Prompt {
                slug: "support".into(),
                environment: None
            }
        );
        assert_eq!(
            parse_model("prompt:support@development"),
            ModelRef::Prompt {
                slug: "support".into(),
                environment: Some("development".into())
            }
        );
        assert_eq!(
            parse_model("gpt-4o-mini"),
            ModelRef::Plain("gpt-4o-mini".into())
        );
    }

    #[test]
    fn a_prompt_call_maps_parameters_and_keeps_the_last_user_message() {
        let mapped = to_gateway(request(json!({
            "model": "prompt:support@development",
            "messages": [
                {"role": "system", "content": "ignored"},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": [{"type": "text", "text": "why"}, {"type": "text", "text": "?"}]},
            ],
            "temperature": 0.5,
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "top_p": 0.9,
            "stop": "END",
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-1",
            "seed": 7,
            "prompthelm_variables": {"tone": "dry", "count": 3, "flag": true},
        })))
        .unwrap();
        let body = &mapped.body;
        assert_eq!(body.prompt_slug.as_deref(), Some("support"));
        assert_eq!(body.environment.as_deref(), Some("development"));
        assert_eq!(body.model, None);
        assert_eq!(body.system, None);
        assert_eq!(body.user, None);
        assert_eq!(body.user_id.as_deref(), Some("u-1"));
        assert_eq!(body.temperature, Some(0.5));
        assert_eq!(body.max_tokens, Some(20));
        assert_eq!(body.top_p, Some(0.9));
        assert_eq!(body.stop_sequences, Some(vec!["END".to_owned()]));
        assert_eq!(body.variables["tone"], "dry");
        assert_eq!(body.variables["count"], "3");
        assert_eq!(body.variables["flag"], "true");
        assert!(mapped.stream && mapped.include_usage);
        assert_eq!(mapped.last_user.as_deref(), Some("why?"));
    }

    #[test]
    fn a_plain_model_runs_ad_hoc() {
        let mapped = to_gateway(request(json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "A"},
                {"role": "developer", "content": "B"},
                {"role": "user", "content": "old"},
                {"role": "user", "content": "new"},
            ],
            "max_tokens": 5,
            "stop": ["x", "y"],
        })))
        .unwrap();
        assert_eq!(mapped.body.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(mapped.body.system.as_deref(), Some("A\n\nB"));
        assert_eq!(mapped.body.user.as_deref(), Some("new"));
        assert_eq!(mapped.body.max_tokens, Some(5));
        assert_eq!(
            mapped.body.stop_sequences,
            Some(vec!["x".to_owned(), "y".to_owned()])
        );
        assert_eq!(mapped.last_user, None);
        assert!(!mapped.stream);
    }

    #[test]
    fn unsupported_requests_are_refused_by_parameter() {
        let errors = to_gateway(request(json!({"n": 2, "tools": []}))).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["n", "tools", "model"]);
        let errors = to_gateway(request(json!({"model": "prompt:"}))).unwrap_err();
        assert_eq!(errors[0].field, "model");
    }

    #[test]
    fn the_last_user_message_fills_the_one_missing_required_variable() {
        let schema = [
            spec("question", true, None),
            spec("tone", true, Some("dry")),
            spec("note", false, None),
        ];
        let mut values = BTreeMap::new();
        assert_eq!(
            fill_variable(&mut values, &schema, Some("why?")).as_deref(),
            Some("question")
        );
        assert_eq!(values["question"], "why?");

        // Given explicitly: the message is not used.
        let mut values = BTreeMap::from([("question".to_owned(), "given".to_owned())]);
        assert_eq!(fill_variable(&mut values, &schema, Some("why?")), None);
        assert_eq!(values["question"], "given");

        // Two missing: ambiguous, nothing is filled.
        let two = [spec("a", true, None), spec("b", true, None)];
        let mut values = BTreeMap::new();
        assert_eq!(fill_variable(&mut values, &two, Some("x")), None);
        assert!(values.is_empty());
        // One of two given: the other is filled.
        let mut values = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        assert_eq!(
            fill_variable(&mut values, &two, Some("x")).as_deref(),
            Some("b")
        );
        // No user message.
        assert_eq!(fill_variable(&mut BTreeMap::new(), &schema, None), None);
    }

    #[test]
    fn params_errors_and_reasons_speak_openai() {
        assert_eq!(param_for("maxTokens"), "max_completion_tokens");
        assert_eq!(param_for("stopSequences[2]"), "stop");
        assert_eq!(param_for("variables.q"), "prompthelm_variables.q");
        assert_eq!(param_for("environment"), "model");
        assert_eq!(param_for("temperature"), "temperature");
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("MAX_TOKENS")), "length");
        assert_eq!(finish_reason(None), "stop");
        assert_eq!(error_type(401), "authentication_error");
        assert_eq!(error_type(422), "invalid_request_error");
        assert_eq!(error_type(502), "api_error");
        let body = error_body(404, "PROMPT_NOT_FOUND", "no", None, "req_1", None);
        assert_eq!(
            body,
            json!({"error": {"message": "no", "type": "not_found_error", "param": null,
                "code": "PROMPT_NOT_FOUND", "request_id": "req_1"}})
        );
    }

    #[test]
    fn answers_have_openai_shapes() {
        let c = completion("exe_1", 5, "gpt-4o-mini", "hi", "stop", usage(2, 3));
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["message"]["content"], "hi");
        assert_eq!(c["usage"]["total_tokens"], 5);
        let k = chunk("exe_1", 5, "m", json!({"content": "a"}), None);
        assert_eq!(k["object"], "chat.completion.chunk");
        assert_eq!(k["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(
            usage_chunk("exe_1", 5, "m", usage(1, 1))["choices"],
            json!([])
        );
        assert_eq!(model_entry("support", 9)["id"], "prompt:support");
    }
}
