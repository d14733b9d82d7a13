//! The provider step: which provider serves the rendered model, and the
//! request it will be sent (or none, for the local `echo` model), with the
//! secrets to scrub from everything stored or returned and the call's
//! deadline.

use prompthelm_component_kit::{ApiError, StatusCode, codes};
use prompthelm_domain::gateway::RenderedCall;
use prompthelm_providers::compatible::{self, KEYS_VARIABLE, PROVIDERS_VARIABLE};
use prompthelm_providers::request::build;
use prompthelm_providers::{ChatRequest, Provider, transcript};
use serde_json::json;

use crate::call::{Call, Pricing};
use crate::dialect::Mode;
use crate::upstream::{self, CallDeadline};

/// What the provider will be asked, ready to send.
pub struct Prepared {
    /// The wire format (a configured provider speaks OpenAI's).
    pub provider: Provider,
    /// The provider's name in answers and logs: the built-in one's, or a
    /// configured provider's (`groq`).
    pub provider_name: String,
    /// The model as the caller named it (`groq/llama-…`); `chat.model` is
    /// what the provider is sent.
    pub model: String,
    pub chat: ChatRequest,
    /// The provider's HTTP request; `None` for the local `echo` model.
    pub request: Option<http::Request<Vec<u8>>>,
    pub deadline: CallDeadline,
    /// One answer or a stream.
    pub mode: Mode,
    /// Values scrubbed from everything stored or returned: the provider key
    /// and the caller's own token.
    pub secrets: Vec<String>,
}

impl Prepared {
    pub fn secret_refs(&self) -> Vec<&str> {
        refs(&self.secrets)
    }

    /// What the log stores as the `echo` model's response.
    pub fn echo_record(&self, output: &str) -> String {
        transcript::finish(&json!({"output": output}), &self.secret_refs())
    }
}

/// Picks the provider and builds its request; records the model, provider
/// and request body in the call's log row.
pub async fn prepare(
    call: &mut Call,
    rendered: RenderedCall,
    mode: Mode,
    caller_token: Option<String>,
    timeout_ms: u64,
) -> Result<Prepared, ApiError> {
    call.log.model = Some(rendered.model.clone());
    let route = choose(&rendered.model).await?;
    call.log.provider = Some(route.name.clone());
    if let Some(configured) = &route.configured {
        call.pricing = Pricing::Configured(configured.price);
    }
    let provider = route.provider;
    let chat = ChatRequest {
        model: route.model,
        system: rendered.system,
        user: rendered.user,
        temperature: rendered.temperature,
        max_tokens: rendered.max_tokens,
        top_p: rendered.top_p,
        stop_sequences: rendered.stop_sequences,
        stream: mode == Mode::Stream,
    };
    let mut secrets: Vec<String> = caller_token.into_iter().collect();

    let request = if provider == Provider::Echo {
        let record = json!({"model": chat.model, "system": chat.system, "user": chat.user});
        call.log.request_body = Some(transcript::finish(&record, &refs(&secrets)));
        None
    } else {
        let config = match route.configured {
            Some(configured) => configured.config,
            None => upstream::config(provider).await?,
        };
        secrets.push(config.api_key.clone());
        let request = build(provider, &chat, &config.base_url, &config.api_key)
            .map_err(|e| upstream::not_configured(format!("{}: {e}", provider.name())))?;
        call.log.request_body = Some(transcript::finish(
            &transcript::request_record(&request),
            &refs(&secrets),
        ));
        Some(request)
    };
    Ok(Prepared {
        provider,
        provider_name: route.name,
        model: call.log.model.clone().unwrap_or_default(),
        chat,
        request,
        deadline: CallDeadline::after_ms(timeout_ms),
        mode,
        secrets,
    })
}

/// Which provider serves a model, and how it is reached.
struct Route {
    provider: Provider,
    name: String,
    /// The model name the provider is sent.
    model: String,
    /// A configured provider's settings (read with the route).
    configured: Option<Configured>,
}

/// How a configured OpenAI-compatible provider is reached and priced.
struct Configured {
    /// Its base URL and key.
    config: upstream::ProviderConfig,
    /// Its price for the model (`None`: not listed).
    price: Option<prompthelm_providers::Price>,
}

/// A built-in provider by the model's name, else a configured
/// OpenAI-compatible one by its `<name>/` prefix (its variables are read
/// only then, so built-in models pay nothing for them).
async fn choose(model: &str) -> Result<Route, ApiError> {
    if let Some(provider) = Provider::for_model(model) {
        return Ok(Route {
            provider,
            name: provider.name().to_owned(),
            model: model.to_owned(),
            configured: None,
        });
    }
    let unsupported = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::UNSUPPORTED_MODEL,
            format!(
                "no provider serves model {model:?}: use gpt-*, o1/o3/o4-*, chatgpt-*, claude-*, \
                 gemini-*, deepseek-*, echo, or <provider>/<model> for a provider listed in \
                 {PROVIDERS_VARIABLE}"
            ),
        )
    };
    if !model.contains('/') {
        return Err(unsupported());
    }
    let listed = prompthelm_component_kit::variables::get(PROVIDERS_VARIABLE).await?;
    let providers = compatible::parse_providers(&listed).map_err(upstream::not_configured)?;
    let (configured, wire_model) = compatible::route(&providers, model).ok_or_else(unsupported)?;
    let keys = prompthelm_component_kit::variables::get(KEYS_VARIABLE).await?;
    let keys = compatible::parse_keys(&keys).map_err(upstream::not_configured)?;
    let api_key = keys
        .get(&configured.name)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            upstream::not_configured(format!(
                "the {} provider has no API key: add \"{}\" to the secret variable {KEYS_VARIABLE}",
                configured.name, configured.name
            ))
        })?;
    Ok(Route {
        provider: Provider::OpenAi,
        name: configured.name.clone(),
        model: wire_model.to_owned(),
        configured: Some(Configured {
            config: upstream::ProviderConfig {
                base_url: configured.base_url.trim_end_matches('/').to_owned(),
                api_key: api_key.clone(),
            },
            price: configured.price(wire_model),
        }),
    })
}

fn refs(secrets: &[String]) -> Vec<&str> {
    secrets.iter().map(String::as_str).collect()
}
