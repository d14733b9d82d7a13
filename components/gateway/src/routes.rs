//! Routing inside the component. The manifest mounts it on
//! `/api/v1/gateway/...`; the full request path is matched here, because
//! these paths are the public wire contract the client SDKs call.

use prompthelm_component_kit::Method;

/// Liveness and dependency report.
pub const HEALTH_PATH: &str = "/api/v1/gateway/health";
/// What a prompt resolves to, through the same cache the gateway uses.
pub const RESOLVE_PATH: &str = "/api/v1/gateway/resolve";

/// Methods allowed on [`HEALTH_PATH`] and [`RESOLVE_PATH`].
pub const GET_ONLY: &[Method] = &[Method::GET];

/// What a request path resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/gateway/health`
    Health,
    /// `/api/v1/gateway/resolve`
    Resolve,
    /// Anything else under the component's routes: 404.
    NotFound,
}

/// Resolves the request's path (without query).
pub fn route(path: &str) -> Route {
    match path {
        HEALTH_PATH => Route::Health,
        RESOLVE_PATH => Route::Resolve,
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
        assert_eq!(route("/api/v1/gateway/execute"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/resolve"), Route::Resolve);
        assert_eq!(route("/api/v1/gateway/resolve/x"), Route::NotFound);
        assert_eq!(route("/api/v1/gateway/../gateway/health"), Route::NotFound);
    }
}
