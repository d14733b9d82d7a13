//! Routing inside the component. The manifest mounts it on
//! `/api/v1/gateway/...`; the full request path is matched here, because
//! these paths are the public wire contract the client SDKs call.

use prompthelm_component_kit::Method;

/// Liveness and dependency report.
pub const HEALTH_PATH: &str = "/api/v1/gateway/health";
/// What a prompt resolves to, through the same cache the gateway uses.
pub const RESOLVE_PATH: &str = "/api/v1/gateway/resolve";

/// Run a prompt, one JSON answer (the SDKs' `execute`).
pub const EXECUTE_PATH: &str = "/api/v1/gateway/execute";
/// Run a prompt, Server-Sent Events (the SDKs' `stream`).
pub const STREAM_PATH: &str = "/api/v1/gateway/stream";

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
}
