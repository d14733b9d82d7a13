//! The provider step: which provider serves the rendered model, and the
//! request it will be sent (or none, for the local `echo` model), with the
//! secrets to scrub from everything stored or returned and the call's
//! deadline.

use prompthelm_component_kit::{ApiError, StatusCode, codes};
use prompthelm_domain::gateway::RenderedCall;
use prompthelm_providers::request::build;
use prompthelm_providers::{ChatRequest, Provider, transcript};
use serde_json::json;

use crate::call::Call;
use crate::dialect::Mode;
use crate::upstream::{self, CallDeadline};

/// What the provider will be asked, ready to send.
pub struct Prepared {
    pub provider: Provider,
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
    let provider = Provider::for_model(&rendered.model).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::UNSUPPORTED_MODEL,
            format!(
                "no provider serves model {:?}: use gpt-*, o1/o3/o4-*, chatgpt-*, claude-*, \
                 gemini-*, deepseek-* or echo",
                rendered.model
            ),
        )
    })?;
    call.log.provider = Some(provider.name());
    let chat = ChatRequest {
        model: rendered.model,
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
        let config = upstream::config(provider).await?;
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
        chat,
        request,
        deadline: CallDeadline::after_ms(timeout_ms),
        mode,
        secrets,
    })
}

fn refs(secrets: &[String]) -> Vec<&str> {
    secrets.iter().map(String::as_str).collect()
}
