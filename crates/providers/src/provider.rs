//! Which provider serves a model, chosen from the model name alone.
//!
//! Why by name: callers send only a model name (`gpt-4o`, `claude-sonnet-4-…`),
//! and each provider's names have a stable, distinct prefix. A name no rule
//! matches is not guessed at: [`Provider::for_model`] returns `None` and the
//! gateway answers 422 `UNSUPPORTED_MODEL`.

/// An LLM provider the gateway can call, or the local `echo` model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI: `gpt-*`, `chatgpt-*` and the o-series (`o1*`, `o3*`, `o4*`, …).
    OpenAi,
    /// Anthropic: `claude-*`.
    Anthropic,
    /// Google Gemini API: `gemini-*`.
    Google,
    /// DeepSeek: `deepseek-*`.
    DeepSeek,
    /// The model named exactly `echo`: a dry run answered by the gateway
    /// itself, without any HTTP call. Its output is the rendered system text
    /// and user text (see [`crate::response::echo`]), so a prompt can be
    /// checked end to end without a provider key or cost.
    Echo,
}

impl Provider {
    /// The provider for `model`, or `None` when no rule matches. Names are
    /// matched case-sensitively, as the providers themselves do.
    pub fn for_model(model: &str) -> Option<Provider> {
        if model == "echo" {
            return Some(Provider::Echo);
        }
        if model.starts_with("gpt-") || model.starts_with("chatgpt-") || is_o_series(model) {
            return Some(Provider::OpenAi);
        }
        if model.starts_with("claude-") {
            return Some(Provider::Anthropic);
        }
        if model.starts_with("gemini-") {
            return Some(Provider::Google);
        }
        if model.starts_with("deepseek-") {
            return Some(Provider::DeepSeek);
        }
        None
    }

    /// The provider's name as stored in logs and shown in responses.
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Google => "google",
            Provider::DeepSeek => "deepseek",
            Provider::Echo => "echo",
        }
    }

    /// The prefix of the Spin variables configuring this provider:
    /// `<prefix>_base_url` and `<prefix>_api_key`. `None` for
    /// [`Provider::Echo`], which needs no configuration.
    pub fn variable_prefix(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi => Some("openai"),
            Provider::Anthropic => Some("anthropic"),
            Provider::Google => Some("google"),
            Provider::DeepSeek => Some("deepseek"),
            Provider::Echo => None,
        }
    }

    /// The public API's origin, the default of `<prefix>_origin`.
    /// `None` for [`Provider::Echo`].
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi => Some("https://api.openai.com"),
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::Google => Some("https://generativelanguage.googleapis.com"),
            Provider::DeepSeek => Some("https://api.deepseek.com"),
            Provider::Echo => None,
        }
    }

    /// The path put between a base URL that has none (a bare
    /// `scheme://host[:port]`) and the endpoint: the API version the request
    /// formats of this crate follow. A base URL with a path is used as is
    /// (see [`crate::request::build`]).
    pub fn default_base_path(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi | Provider::Anthropic => Some("/v1"),
            Provider::Google => Some("/v1beta"),
            Provider::DeepSeek => Some(""),
            Provider::Echo => None,
        }
    }
}

/// OpenAI's reasoning models are `o` followed by a digit: `o1`, `o3-mini`,
/// `o4-mini-2025-04-16`. Requiring the digit keeps names like `orca` out.
pub(crate) fn is_o_series(model: &str) -> bool {
    let mut bytes = model.bytes();
    bytes.next() == Some(b'o') && bytes.next().is_some_and(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_model_names_to_providers() {
        let cases = [
            ("gpt-4o", Provider::OpenAi),
            ("gpt-4o-mini-2024-07-18", Provider::OpenAi),
            ("gpt-4.1", Provider::OpenAi),
            ("chatgpt-4o-latest", Provider::OpenAi),
            ("o1", Provider::OpenAi),
            ("o1-preview", Provider::OpenAi),
            ("o3-mini", Provider::OpenAi),
            ("o4-mini-2025-04-16", Provider::OpenAi),
            ("claude-3-5-haiku-20241022", Provider::Anthropic),
            ("claude-sonnet-4-20250514", Provider::Anthropic),
            ("gemini-2.0-flash", Provider::Google),
            ("gemini-2.5-pro", Provider::Google),
            ("deepseek-chat", Provider::DeepSeek),
            ("deepseek-reasoner", Provider::DeepSeek),
            ("echo", Provider::Echo),
        ];
        for (model, provider) in cases {
            assert_eq!(Provider::for_model(model), Some(provider), "{model}");
        }
    }

    #[test]
    fn rejects_unknown_model_names() {
        for model in [
            "",
            "gpt",
            "gpt4",
            "o",
            "orca",
            "oX",
            "claude",
            "gemini",
            "deepseek",
            "echo2",
            "Echo",
            "GPT-4o",
            "llama-3",
            "mistral-large",
            " gpt-4o",
        ] {
            assert_eq!(Provider::for_model(model), None, "{model:?}");
        }
    }

    #[test]
    fn names_prefixes_and_base_urls() {
        assert_eq!(Provider::OpenAi.name(), "openai");
        assert_eq!(Provider::Anthropic.name(), "anthropic");
        assert_eq!(Provider::Google.name(), "google");
        assert_eq!(Provider::DeepSeek.name(), "deepseek");
        assert_eq!(Provider::Echo.name(), "echo");
        for p in [
            Provider::OpenAi,
            Provider::Anthropic,
            Provider::Google,
            Provider::DeepSeek,
        ] {
            assert_eq!(p.variable_prefix(), Some(p.name()));
            assert!(p.default_base_url().unwrap().starts_with("https://"));
        }
        assert_eq!(Provider::Echo.variable_prefix(), None);
        assert_eq!(Provider::Echo.default_base_url(), None);
        assert_eq!(Provider::OpenAi.default_base_path(), Some("/v1"));
        assert_eq!(Provider::DeepSeek.default_base_path(), Some(""));
        assert_eq!(Provider::Google.default_base_path(), Some("/v1beta"));
        assert_eq!(Provider::Echo.default_base_path(), None);
        assert_eq!(
            Provider::Google.default_base_url(),
            Some("https://generativelanguage.googleapis.com")
        );
    }
}
