//! A gateway call before any I/O: the wire body of `POST /gateway/execute`
//! and `/gateway/stream` (DESIGN.md §2), its validation, and the rendered
//! call it becomes once the prompt's version is known.
//!
//! The request's own fields override the version's (`system`, `user`,
//! `model` and every sampling parameter). Without a saved prompt the call is
//! ad hoc: its `user` text and `model` are the whole prompt.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canary;
use crate::compare::VersionContent;
use crate::template::{self, ResolveError};
use crate::validation::{
    FieldError, MAX_TEXT_LEN, check_len, check_model, check_parameters, codes,
};

/// The budget for the provider call when the request sets none; the
/// deployment can change it (variable `gateway_default_timeout_ms`).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest `timeoutMs` a call may ask for. The local runtime's request
/// timeout is longer, so the gateway always answers first.
pub const MAX_TIMEOUT_MS: u64 = 120_000;

/// Which pointer of a prompt a call follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Development,
}

impl Environment {
    /// Parses the wire name, `production` or `development`.
    pub fn parse(s: &str) -> Option<Environment> {
        match s {
            "production" => Some(Environment::Production),
            "development" => Some(Environment::Development),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Development => "development",
        }
    }
}

/// The body of a gateway call, exactly as the SDKs send it. Unknown fields
/// are refused, so `max_tokens` instead of `maxTokens` fails loudly.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayRequest {
    pub prompt_slug: Option<String>,
    pub prompt_id: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    pub system: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub stop_sequences: Option<Vec<String>>,
    pub environment: Option<String>,
    pub timeout_ms: Option<u64>,
    /// The sticky key of a running canary (`canary::split_key`): the same
    /// user, the same version. Ignored when no canary runs.
    pub user_id: Option<String>,
}

/// What a valid request asks to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A saved prompt, by slug or id, in an environment.
    Saved {
        prompt: PromptName,
        environment: Environment,
    },
    /// No saved prompt: the request's own `user` (and `system`) text.
    AdHoc,
}

/// How the caller named a saved prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptName {
    Slug(String),
    Id(String),
}

/// A valid request's target and its provider-call budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    pub target: Target,
    pub timeout_ms: u64,
}

/// Checks every field rule at once (422 with each problem) and says what to
/// run. `default_timeout_ms` applies when the request sets no `timeoutMs`.
pub fn validate(
    req: &GatewayRequest,
    default_timeout_ms: u64,
) -> Result<CallPlan, Vec<FieldError>> {
    let mut errors = Vec::new();
    let names_a_prompt = req.prompt_slug.is_some() || req.prompt_id.is_some();
    let prompt = match (&req.prompt_slug, &req.prompt_id) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "promptId",
                codes::DUPLICATE,
                "give promptSlug or promptId, not both",
            ));
            None
        }
        (Some(slug), None) => Some(PromptName::Slug(slug.clone())),
        (None, Some(id)) => Some(PromptName::Id(id.clone())),
        (None, None) => None,
    };
    for (field, value) in [
        ("promptSlug", &req.prompt_slug),
        ("promptId", &req.prompt_id),
    ] {
        if value.as_deref() == Some("") {
            errors.push(FieldError::new(
                field,
                codes::REQUIRED,
                format!("{field} is empty"),
            ));
        }
    }
    let environment = match req.environment.as_deref() {
        None => Environment::Production,
        Some(name) => match Environment::parse(name) {
            Some(environment) => {
                if !names_a_prompt {
                    errors.push(FieldError::new(
                        "environment",
                        codes::UNKNOWN_VALUE,
                        "environment applies only to a saved prompt (promptSlug or promptId)",
                    ));
                }
                environment
            }
            None => {
                errors.push(FieldError::new(
                    "environment",
                    codes::UNKNOWN_VALUE,
                    format!("environment must be production or development, not {name:?}"),
                ));
                Environment::Production
            }
        },
    };
    if !names_a_prompt {
        if req.user.as_deref().is_none_or(str::is_empty) {
            errors.push(FieldError::new(
                "user",
                codes::REQUIRED,
                "give promptSlug or promptId, or the user text of an ad-hoc call",
            ));
        }
        if req.model.is_none() {
            errors.push(FieldError::new(
                "model",
                codes::REQUIRED,
                "an ad-hoc call (no promptSlug or promptId) needs a model",
            ));
        }
    }
    for (field, text) in [("system", &req.system), ("user", &req.user)] {
        if let Some(text) = text {
            check_len(&mut errors, field, text, MAX_TEXT_LEN);
        }
    }
    for (name, value) in &req.variables {
        check_len(
            &mut errors,
            &format!("variables.{name}"),
            value,
            MAX_TEXT_LEN,
        );
    }
    if let Some(user_id) = &req.user_id {
        canary::check_user_id(&mut errors, "userId", user_id);
    }
    match req.model.as_deref() {
        Some("") => errors.push(FieldError::new("model", codes::REQUIRED, "model is empty")),
        Some(model) => check_model(&mut errors, model),
        None => {}
    }
    check_parameters(
        &mut errors,
        req.temperature,
        req.max_tokens,
        req.top_p,
        req.stop_sequences.as_deref().unwrap_or_default(),
    );
    let timeout_ms = req.timeout_ms.unwrap_or(default_timeout_ms);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        errors.push(FieldError::new(
            "timeoutMs",
            codes::OUT_OF_RANGE,
            format!("timeoutMs must be between 1 and {MAX_TIMEOUT_MS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let target = match prompt {
        Some(prompt) => Target::Saved {
            prompt,
            environment,
        },
        None => Target::AdHoc,
    };
    Ok(CallPlan { target, timeout_ms })
}

/// One provider call, rendered: what the provider is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedCall {
    pub model: String,
    pub system: String,
    pub user: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub stop_sequences: Vec<String>,
}

/// Renders a validated request against its version (`None` for an ad-hoc
/// call): request fields override the version's, variables are checked
/// against the version's schema with defaults applied
/// ([`template::resolve_values`]), and every placeholder left in the final
/// texts without a value counts as missing, so the model never sees a raw
/// `{{name}}` (e.g. from an overriding `user` text the schema does not know).
/// The most bytes the rendered system and user texts of one call may add up
/// to. 1 MiB is about 250,000 tokens, beyond most models' context windows;
/// the cap stops a template bomb (`{{q}}` repeated, with a long `q`) from
/// costing memory, bandwidth and provider money.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

/// Why a call could not be rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderError {
    /// The variables do not satisfy the schema or the texts' placeholders.
    Variables(ResolveError),
    /// The rendered texts would be larger than [`MAX_RENDERED_BYTES`].
    TooLarge { bytes: usize },
}

impl From<ResolveError> for RenderError {
    fn from(e: ResolveError) -> Self {
        RenderError::Variables(e)
    }
}

pub fn render(
    req: &GatewayRequest,
    version: Option<&VersionContent>,
) -> Result<RenderedCall, RenderError> {
    let schema = version.map(|v| v.variables.as_slice()).unwrap_or_default();
    let values = template::resolve_values(schema, &req.variables)?;
    let pick = |given: &Option<String>, saved: Option<&String>| -> String {
        given.clone().or_else(|| saved.cloned()).unwrap_or_default()
    };
    let system = pick(&req.system, version.map(|v| &v.system));
    let user = pick(&req.user, version.map(|v| &v.user));
    let mut missing: Vec<String> = Vec::new();
    for text in [&system, &user] {
        for name in template::placeholders(text) {
            if !values.contains_key(&name) && !missing.contains(&name) {
                missing.push(name);
            }
        }
    }
    if !missing.is_empty() {
        return Err(ResolveError {
            missing,
            invalid: Vec::new(),
        }
        .into());
    }
    let bytes = template::rendered_len(&system, &values)
        .saturating_add(template::rendered_len(&user, &values));
    if bytes > MAX_RENDERED_BYTES {
        return Err(RenderError::TooLarge { bytes });
    }
    Ok(RenderedCall {
        model: pick(&req.model, version.map(|v| &v.model)),
        system: template::render(&system, &values),
        user: template::render(&user, &values),
        temperature: req.temperature.or(version.and_then(|v| v.temperature)),
        max_tokens: req.max_tokens.or(version.and_then(|v| v.max_tokens)),
        top_p: req.top_p.or(version.and_then(|v| v.top_p)),
        stop_sequences: req
            .stop_sequences
            .clone()
            .or_else(|| version.map(|v| v.stop_sequences.clone()))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::VariableKind::{Number, String as Str};
    use crate::variables::spec;

    fn req(json: &str) -> GatewayRequest {
        serde_json::from_str(json).unwrap()
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn version() -> VersionContent {
        VersionContent {
            system: "You are {{ tone }}.".into(),
            user: "Summarize {{text}} in {{words}} words".into(),
            variables: vec![
                spec("tone", Str, false, Some("terse")),
                spec("text", Str, true, None),
                spec("words", Number, false, Some("50")),
            ],
            model: "gpt-4o-mini".into(),
            temperature: Some(0.2),
            max_tokens: Some(100),
            top_p: None,
            stop_sequences: vec!["END".into()],
        }
    }

    #[test]
    fn the_sdk_body_parses_and_unknown_fields_are_refused() {
        let r = req(
            r#"{"promptSlug":"s","variables":{"a":"1"},"system":"x","user":"y","model":"gpt-4o",
                "temperature":0.5,"maxTokens":10,"topP":0.9,"stopSequences":["a"],
                "environment":"development","timeoutMs":500,"userId":"u-1"}"#,
        );
        assert_eq!(r.user_id.as_deref(), Some("u-1"));
        assert_eq!(r.max_tokens, Some(10));
        assert_eq!(r.timeout_ms, Some(500));
        let err = serde_json::from_str::<GatewayRequest>(r#"{"max_tokens":1}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `max_tokens`"),
            "{err}"
        );
        let err = serde_json::from_str::<GatewayRequest>(r#"{"variables":{"a":1}}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    #[test]
    fn a_saved_prompt_defaults_to_production_and_the_default_timeout() {
        let plan = validate(&req(r#"{"promptSlug":"s"}"#), 30_000).unwrap();
        assert_eq!(
            plan,
            CallPlan {
                target: Target::Saved {
                    prompt: PromptName::Slug("s".into()),
                    environment: Environment::Production
                },
                timeout_ms: 30_000
            }
        );
        let plan = validate(
            &req(r#"{"promptId":"prm_1","environment":"development","timeoutMs":5}"#),
            30_000,
        )
        .unwrap();
        assert_eq!(
            plan.target,
            Target::Saved {
                prompt: PromptName::Id("prm_1".into()),
                environment: Environment::Development
            }
        );
        assert_eq!(plan.timeout_ms, 5);
    }

    #[test]
    fn ad_hoc_calls_need_user_text_and_a_model() {
        assert_eq!(
            validate(&req(r#"{"user":"hi","model":"echo"}"#), 1)
                .unwrap()
                .target,
            Target::AdHoc
        );
        let errors = validate(&req(r#"{"system":"only system"}"#), 1).unwrap_err();
        assert_eq!(fields(&errors), ["user", "model"]);
        let errors = validate(
            &req(r#"{"user":"hi","model":"echo","environment":"production"}"#),
            1,
        )
        .unwrap_err();
        assert_eq!(fields(&errors), ["environment"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = validate(
            &req(
                r#"{"promptSlug":"s","promptId":"p","environment":"staging","model":"bad model",
                "temperature":3,"maxTokens":0,"topP":0,"stopSequences":[""],"timeoutMs":0,
                "userId":""}"#,
            ),
            1,
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "promptId",
                "environment",
                "userId",
                "model",
                "temperature",
                "maxTokens",
                "topP",
                "stopSequences[0]",
                "timeoutMs"
            ]
        );
        let errors = validate(&req(r#"{"promptSlug":"s","timeoutMs":120001}"#), 1).unwrap_err();
        assert_eq!(errors[0].code, codes::OUT_OF_RANGE);
    }

    #[test]
    fn render_fills_variables_and_defaults_and_keeps_version_parameters() {
        let call = render(
            &req(r#"{"variables":{"text":"the memo"}}"#),
            Some(&version()),
        )
        .unwrap();
        assert_eq!(call.system, "You are terse.");
        assert_eq!(call.user, "Summarize the memo in 50 words");
        assert_eq!(call.model, "gpt-4o-mini");
        assert_eq!(call.temperature, Some(0.2));
        assert_eq!(call.max_tokens, Some(100));
        assert_eq!(call.stop_sequences, ["END"]);
    }

    #[test]
    fn request_fields_override_the_version() {
        let call = render(
            &req(
                r#"{"variables":{"text":"t"},"model":"claude-3-5-haiku","temperature":0.9,
                "topP":0.5,"stopSequences":[],"system":"Be {{tone}}!","maxTokens":7}"#,
            ),
            Some(&version()),
        )
        .unwrap();
        assert_eq!(call.model, "claude-3-5-haiku");
        assert_eq!(call.system, "Be terse!");
        assert_eq!(call.temperature, Some(0.9));
        assert_eq!(call.top_p, Some(0.5));
        assert_eq!(call.max_tokens, Some(7));
        assert!(call.stop_sequences.is_empty());
    }

    fn variables_error(e: RenderError) -> ResolveError {
        match e {
            RenderError::Variables(e) => e,
            other => panic!("not a variables error: {other:?}"),
        }
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let err = render(&req(r#"{"variables":{"words":"many"}}"#), Some(&version())).unwrap_err();
        let err = variables_error(err);
        assert_eq!(err.missing, ["text"]);
        assert_eq!(err.invalid[0].field, "variables.words");
        // A placeholder the schema does not declare, from an overriding text.
        let err = render(
            &req(r#"{"variables":{"text":"t"},"user":"{{ extra }} {{text}}"}"#),
            Some(&version()),
        )
        .unwrap_err();
        assert_eq!(variables_error(err).missing, ["extra"]);
    }

    #[test]
    fn a_template_bomb_is_refused_before_it_is_rendered() {
        // 20,000 placeholders × a 1,000-character value: 20 MB if rendered.
        let body = serde_json::json!({
            "user": "{{q}}".repeat(20_000),
            "model": "echo",
            "variables": {"q": "x".repeat(1_000)},
        });
        let err = render(&serde_json::from_value(body).unwrap(), None).unwrap_err();
        assert_eq!(
            err,
            RenderError::TooLarge {
                bytes: 20_000 * 1_000
            }
        );
        // Exactly at the cap is fine; one byte more is not.
        let at_cap = |n: usize| {
            let body = serde_json::json!({
                "system": "ab",
                "user": "{{q}}",
                "model": "echo",
                "variables": {"q": "x".repeat(n)},
            });
            render(&serde_json::from_value(body).unwrap(), None)
        };
        assert!(at_cap(MAX_RENDERED_BYTES - 2).is_ok());
        assert_eq!(
            at_cap(MAX_RENDERED_BYTES - 1).unwrap_err(),
            RenderError::TooLarge {
                bytes: MAX_RENDERED_BYTES + 1
            }
        );
    }

    #[test]
    fn ad_hoc_calls_render_their_own_text() {
        let call = render(
            &req(r#"{"user":"Hello {{ who }}","system":"sys","model":"echo","variables":{"who":"you"}}"#),
            None,
        )
        .unwrap();
        assert_eq!(
            (
                call.system.as_str(),
                call.user.as_str(),
                call.model.as_str()
            ),
            ("sys", "Hello you", "echo")
        );
        let err = render(&req(r#"{"user":"Hello {{who}}","model":"echo"}"#), None).unwrap_err();
        assert_eq!(variables_error(err).missing, ["who"]);
    }

    #[test]
    fn values_are_not_rendered_again() {
        let call = render(
            &req(r#"{"user":"{{a}}","model":"echo","variables":{"a":"{{b}}","b":"x"}}"#),
            None,
        )
        .unwrap();
        assert_eq!(call.user, "{{b}}");
    }
}
