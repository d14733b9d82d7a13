//! Named OpenAI-compatible providers, configured without code: Groq,
//! OpenRouter, Together, a local vLLM, each with its own base URL, key and
//! prices, next to the built-in providers.
//!
//! A deployment lists them in the `openai_compatible_providers` variable
//! (JSON) and their keys in the secret `openai_compatible_api_keys` (a JSON
//! object, name to key):
//!
//! ```json
//! [{"name": "groq", "baseUrl": "https://api.groq.com/openai/v1",
//!   "prices": {"llama-3.3-70b-versatile": {"input": 0.59, "output": 0.79}}}]
//! ```
//!
//! A model named `<name>/<model>` (`groq/llama-3.3-70b-versatile`) is sent
//! to that provider in OpenAI's chat-completions format as `<model>`, the
//! convention of LiteLLM and Portkey. Prices are USD per million tokens
//! (`cachedInput` defaults to `input`); a model without one is logged with
//! an unknown cost. Built-in names and `echo` cannot be reused.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::pricing::Price;

/// The variable listing the providers (JSON array).
pub const PROVIDERS_VARIABLE: &str = "openai_compatible_providers";
/// The secret variable with their keys (JSON object, name to key).
pub const KEYS_VARIABLE: &str = "openai_compatible_api_keys";

/// Names a configured provider may not take.
const RESERVED: [&str; 5] = ["openai", "anthropic", "google", "deepseek", "echo"];

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompatibleProvider {
    pub name: String,
    /// Everything before `/chat/completions`, path included.
    pub base_url: String,
    #[serde(default)]
    prices: BTreeMap<String, ListedPrice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListedPrice {
    input: f64,
    output: f64,
    cached_input: Option<f64>,
}

impl CompatibleProvider {
    /// The price of `model` (the part after `<name>/`), if listed.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.prices.get(model).map(|p| Price {
            input: p.input,
            output: p.output,
            cached_input: p.cached_input.unwrap_or(p.input),
        })
    }
}

/// Reads and checks the providers variable. Errors say what to fix.
pub fn parse_providers(json: &str) -> Result<Vec<CompatibleProvider>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let providers: Vec<CompatibleProvider> = serde_json::from_str(json).map_err(|e| {
        format!(
            "{PROVIDERS_VARIABLE} is not a JSON list of \
             {{\"name\", \"baseUrl\", \"prices\"?}} objects: {e}"
        )
    })?;
    for (i, p) in providers.iter().enumerate() {
        let name_ok = !p.name.is_empty()
            && p.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "{PROVIDERS_VARIABLE}: name {:?} must be lowercase letters, digits and '-'",
                p.name
            ));
        }
        if RESERVED.contains(&p.name.as_str()) {
            return Err(format!(
                "{PROVIDERS_VARIABLE}: {:?} is a built-in provider's name",
                p.name
            ));
        }
        if providers[..i].iter().any(|q| q.name == p.name) {
            return Err(format!(
                "{PROVIDERS_VARIABLE}: {:?} is listed twice",
                p.name
            ));
        }
        if !(p.base_url.starts_with("https://") || p.base_url.starts_with("http://")) {
            return Err(format!(
                "{PROVIDERS_VARIABLE}: {:?} has base URL {:?}, not an http(s) URL",
                p.name, p.base_url
            ));
        }
        let negative = p
            .prices
            .values()
            .any(|x| x.input < 0.0 || x.output < 0.0 || x.cached_input.is_some_and(|c| c < 0.0));
        if negative {
            return Err(format!(
                "{PROVIDERS_VARIABLE}: {:?} has a negative price",
                p.name
            ));
        }
    }
    Ok(providers)
}

/// Reads the keys variable.
pub fn parse_keys(json: &str) -> Result<BTreeMap<String, String>, String> {
    if json.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    // The error never quotes the input: it holds secrets.
    serde_json::from_str(json)
        .map_err(|_| format!("{KEYS_VARIABLE} is not a JSON object of provider name to API key"))
}

/// The configured provider a `<name>/<model>` model names, and `<model>`.
pub fn route<'p, 'm>(
    providers: &'p [CompatibleProvider],
    model: &'m str,
) -> Option<(&'p CompatibleProvider, &'m str)> {
    let (name, rest) = model.split_once('/')?;
    if rest.is_empty() {
        return None;
    }
    providers.iter().find(|p| p.name == name).map(|p| (p, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROQ: &str = r#"[{"name": "groq", "baseUrl": "https://api.groq.com/openai/v1",
        "prices": {"llama-3.3-70b-versatile": {"input": 0.59, "output": 0.79}}},
        {"name": "openrouter", "baseUrl": "https://openrouter.ai/api/v1"}]"#;

    #[test]
    fn routes_name_slash_model_with_slashes_in_the_model() {
        let providers = parse_providers(GROQ).unwrap();
        let (p, model) = route(&providers, "groq/llama-3.3-70b-versatile").unwrap();
        assert_eq!(
            (p.name.as_str(), model),
            ("groq", "llama-3.3-70b-versatile")
        );
        let (p, model) = route(&providers, "openrouter/meta-llama/llama-3-70b").unwrap();
        assert_eq!(
            (p.name.as_str(), model),
            ("openrouter", "meta-llama/llama-3-70b")
        );
        assert!(route(&providers, "together/x").is_none());
        assert!(route(&providers, "groq/").is_none());
        assert!(route(&providers, "gpt-4o").is_none());
    }

    #[test]
    fn prices_default_the_cached_rate_to_the_input_rate() {
        let providers = parse_providers(GROQ).unwrap();
        let price = providers[0].price("llama-3.3-70b-versatile").unwrap();
        assert_eq!(
            (price.input, price.output, price.cached_input),
            (0.59, 0.79, 0.59)
        );
        assert!(providers[0].price("other").is_none());
        assert!(providers[1].price("anything").is_none());
    }

    #[test]
    fn bad_configurations_say_what_to_fix() {
        assert_eq!(parse_providers("  ").unwrap(), []);
        for (json, says) in [
            ("{}", "JSON list"),
            (r#"[{"name": "Groq", "baseUrl": "https://x"}]"#, "lowercase"),
            (
                r#"[{"name": "openai", "baseUrl": "https://x"}]"#,
                "built-in",
            ),
            (
                r#"[{"name": "a", "baseUrl": "https://x"}, {"name": "a", "baseUrl": "https://y"}]"#,
                "twice",
            ),
            (r#"[{"name": "a", "baseUrl": "ftp://x"}]"#, "http(s)"),
            (
                r#"[{"name": "a", "baseUrl": "https://x", "prices": {"m": {"input": -1, "output": 1}}}]"#,
                "negative",
            ),
            (
                r#"[{"name": "a", "baseUrl": "https://x", "key": "k"}]"#,
                "unknown field",
            ),
        ] {
            let e = parse_providers(json).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
        assert_eq!(parse_keys(r#"{"groq": "gsk_1"}"#).unwrap()["groq"], "gsk_1");
        let e = parse_keys(r#"{"groq": "gsk_secret""#).unwrap_err();
        assert!(!e.contains("gsk_secret"), "{e}");
    }
}
