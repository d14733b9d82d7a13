//! Routing inside the component. The manifest mounts it on
//! `/api/v1/gateway/...` and `/api/v1/openai/...`; the full request path is
//! matched here, because these paths are the public wire contract the
//! client SDKs (PromptHelm's and OpenAI's) call.

use prompthelm_component_kit::{Method, RouteTable, route};

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

/// What serves each path the component answers (it is mounted on
/// wildcards, so the table lists exact paths: `/health/` is a 404).
pub const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::GET, HEALTH_PATH, Endpoint::Health),
    route(Method::GET, RESOLVE_PATH, Endpoint::Resolve),
    route(Method::POST, EXECUTE_PATH, Endpoint::Execute),
    route(Method::POST, STREAM_PATH, Endpoint::Stream),
    route(Method::POST, OPENAI_CHAT_PATH, Endpoint::OpenAiChat),
    route(Method::GET, OPENAI_MODELS_PATH, Endpoint::OpenAiModels),
]);

/// The component's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /api/v1/gateway/health`
    Health,
    /// `GET /api/v1/gateway/resolve`
    Resolve,
    /// `POST /api/v1/gateway/execute`
    Execute,
    /// `POST /api/v1/gateway/stream`
    Stream,
    /// `POST /api/v1/openai/v1/chat/completions`
    OpenAiChat,
    /// `GET /api/v1/openai/v1/models`
    OpenAiModels,
}

/// Whether errors on `path` (a 404 or 405 included) answer in OpenAI's
/// shape: everything under [`OPENAI_PREFIX`].
pub fn speaks_openai(path: &str) -> bool {
    path.starts_with(OPENAI_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The endpoint serving `path` with whichever method it takes; `Err`
    /// says which 404 shape a path without one gets.
    fn route(path: &str) -> Result<Endpoint, &'static str> {
        for method in [Method::GET, Method::POST] {
            if let Ok(endpoint) = ROUTES.lookup(&method, path, path) {
                return Ok(endpoint);
            }
        }
        Err(if speaks_openai(path) {
            "openai 404"
        } else {
            "404"
        })
    }

    #[test]
    fn health_is_exact() {
        assert_eq!(route("/api/v1/gateway/health"), Ok(Endpoint::Health));
        assert_eq!(route("/api/v1/gateway/health/"), Err("404"));
        assert_eq!(route("/api/v1/gateway/healthz"), Err("404"));
        assert_eq!(route("/api/v1/gateway/"), Err("404"));
        assert_eq!(route("/api/v1/gateway/execute"), Ok(Endpoint::Execute));
        assert_eq!(route("/api/v1/gateway/execute/"), Err("404"));
        assert_eq!(route("/api/v1/gateway/stream"), Ok(Endpoint::Stream));
        assert_eq!(route("/api/v1/gateway/resolve"), Ok(Endpoint::Resolve));
        assert_eq!(route("/api/v1/gateway/resolve/x"), Err("404"));
        assert_eq!(route("/api/v1/gateway/../gateway/health"), Err("404"));
    }

    #[test]
    fn openai_routes_are_exact() {
        assert_eq!(
            route("/api/v1/openai/v1/chat/completions"),
            Ok(Endpoint::OpenAiChat)
        );
        assert_eq!(
            route("/api/v1/openai/v1/models"),
            Ok(Endpoint::OpenAiModels)
        );
        assert_eq!(route("/api/v1/openai/v1/models/x"), Err("openai 404"));
        assert_eq!(route("/api/v1/openai/v1/completions"), Err("openai 404"));
        assert_eq!(route("/api/v1/openai"), Err("404"));
    }

    #[test]
    fn each_path_takes_one_method() {
        let no = ROUTES
            .lookup(&Method::GET, EXECUTE_PATH, EXECUTE_PATH)
            .unwrap_err();
        assert_eq!(no.allow, [Method::POST]);
        let no = ROUTES
            .lookup(&Method::POST, HEALTH_PATH, HEALTH_PATH)
            .unwrap_err();
        assert_eq!(no.allow, [Method::GET]);
    }
}
