//! Routing inside the component. The manifest mounts it on
//! `/api/v1/gateway/...` and `/api/v1/openai/...`; the full request path is
//! matched here, because these paths are the public wire contract the
//! client SDKs (PromptHelm's and OpenAI's) call.

use prompthelm_component_kit::Method;

/// Liveness and dependency report.
pub const HEALTH_PATH: &str = "/api/v1/gateway/health";
/// What a prompt resolves to, through the same cache the gateway uses.
pub const RESOLVE_PATH: &str = "/api/v1/gateway/resolve";

/// Run a prompt, one JSON answer (the SDKs' `execute`).
pub const EXECUTE_PATH: &str = "/api/v1/gateway/execute";
/// Run a prompt, Server-Sent Events (the SDKs' `stream`).
pub const STREAM_PATH: &str = "/api/v1/gateway/stream";

/// OpenAI-compatible chat completions (`base_url` = [`OPENAI_PREFIX`]
/// `v1`).
pub const OPENAI_CHAT_PATH: &str = "/api/v1/openai/v1/chat/completions";
/// OpenAI-compatible model list: the organization's prompts.
pub const OPENAI_MODELS_PATH: &str = "/api/v1/openai/v1/models";
/// Everything under it answers in OpenAI's error shape.
pub const OPENAI_PREFIX: &str = "/api/v1/openai/";

/// Methods allowed on [`HEALTH_PATH`] and [`RESOLVE_PATH`].
pub const GET_ONLY: &[Method] = &[Method::GET];
/// Methods allowed on [`EXECUTE_PATH`] and [`STREAM_PATH`].
pub const POST_ONLY: &[Method] = &[Method::POST];

/// What a request path resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/gateway/health`
    Health,
    /// `/api/v1/gateway/resolve`
    Resolve,
    /// `/api/v1/gateway/execute`
    Execute,
    /// `/api/v1/gateway/stream`
    Stream,
    /// `/api/v1/openai/v1/chat/completions`
    OpenAiChat,
    /// `/api/v1/openai/v1/models`
    OpenAiModels,
    /// Anything else under `/api/v1/openai/`: 404 in OpenAI's shape.
    OpenAiNotFound,
    /// Anything else under the component's routes: 404.
    NotFound,
}

/// Resolves the request's path (without query).
pub fn route(path: &str) -> Route {
    match path {
        HEALTH_PATH => Route::Health,
        RESOLVE_PATH => Route::Resolve,
        EXECUTE_PATH => Route::Execute,
        STREAM_PATH => Route::Stream,
        OPENAI_CHAT_PATH => Route::OpenAiChat,
        OPENAI_MODELS_PATH => Route::OpenAiModels,
        _ if path.starts_with(OPENAI_PREFIX) => Route::OpenAiNotFound,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_exact() {
        assert_eq!(route("/api/v1/gateway/health"), Route::Health);
        assert_eq!(route("/api/v1/gateway/health/"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/healthz"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/execute"), Route::Execute);
        assert_eq!(route("/api/v1/gateway/execute/"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/stream"), Route::Stream);
        assert_eq!(route("/api/v1/gateway/resolve"), Route::Resolve);
        assert_eq!(route("/api/v1/gateway/resolve/x"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/../gateway/health"), Route::NotFound);
    }

    #[test]
    fn openai_routes_are_exact() {
        assert_eq!(
            route("/api/v1/openai/v1/chat/completions"),
            Route::OpenAiChat
        );
        assert_eq!(route("/api/v1/openai/v1/models"), Route::OpenAiModels);
        assert_eq!(route("/api/v1/openai/v1/models/x"), Route::OpenAiNotFound);
        assert_eq!(
            route("/api/v1/openai/v1/completions"),
            Route::OpenAiNotFound
        );
        assert_eq!(route("/api/v1/openai"), Route::NotFound);
    }
}
