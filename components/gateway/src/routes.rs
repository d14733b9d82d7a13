//! Routing inside the component. The manifest mounts it on
//! `/api/v1/gateway/...`; the full request path is matched here, because
//! these paths are the public wire contract the client SDKs call.

use prompthelm_component_kit::Method;

/// The one path served for now.
pub const HEALTH_PATH: &str = "/api/v1/gateway/health";

/// Methods allowed on [`HEALTH_PATH`].
pub const HEALTH_METHODS: &[Method] = &[Method::GET];

/// What a request path resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/gateway/health`
    Health,
    /// Anything else under the component's routes: 404.
    NotFound,
}

/// Resolves the request's path (without query).
pub fn route(path: &str) -> Route {
    match path {
        HEALTH_PATH => Route::Health,
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
        assert_eq!(route("/api/v1/gateway/../gateway/health"), Route::NotFound);
    }

    #[test]
    fn only_get_is_allowed_on_health() {
        assert_eq!(HEALTH_METHODS, &[Method::GET]);
    }
}
