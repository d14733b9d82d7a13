//! The one way a component picks the code for a request: a [`RouteTable`]
//! of method + route pattern → endpoint, where the endpoint is the
//! component's own enum of handlers (one `match` arm each).
//!
//! What a pattern is matched against ([`route_key`]): the spin.toml route
//! Spin matched (its `spin-matched-route` header, e.g.
//! `/api/v1/prompts/:id/archive`), so a table names its routes exactly as
//! spin.toml does and Spin's own rules (trailing slashes, precedence) have
//! already decided. A component mounted on a trailing wildcard
//! (`/api/v1/gateway/...`) is matched on the request's path instead, and
//! lists the exact paths it serves.
//!
//! Patterns use Spin's syntax: literal segments, `:name` for one segment,
//! a trailing `/...` for anything below. The first pattern that matches
//! decides (list specific patterns first); the request's method must be one
//! of that pattern's rows, else 405 with `Allow`. No pattern: 404. Both are
//! the error envelope ([`NoRoute::response`]).

use http::Method;

use crate::{ApiError, JsonResponse, RequestContext, codes, with_allow};

/// One row of a table: `method` on `pattern` is served by `endpoint`.
#[derive(Debug, Clone)]
pub struct Route<E> {
    pub method: Method,
    pub pattern: &'static str,
    pub endpoint: E,
}

/// A row, for a `const` table.
pub const fn route<E>(method: Method, pattern: &'static str, endpoint: E) -> Route<E> {
    Route {
        method,
        pattern,
        endpoint,
    }
}

/// A component's routes, in the order they are tried:
/// `const ROUTES: RouteTable<Endpoint> = RouteTable(&[route(...), ...]);`
#[derive(Debug)]
pub struct RouteTable<E: 'static>(pub &'static [Route<E>]);

/// Why no endpoint serves a request: the envelope to answer with, and the
/// methods the path does take (empty for a 404).
#[derive(Debug, Clone, PartialEq)]
pub struct NoRoute {
    pub error: ApiError,
    pub allow: Vec<Method>,
}

impl NoRoute {
    /// The envelope, with the `Allow` header on a 405.
    pub fn response(&self, ctx: &RequestContext) -> JsonResponse {
        self.with_allow(ctx.api_error(&self.error))
    }

    /// Adds the `Allow` header (on a 405) to a response in another shape
    /// (the gateway's OpenAI-compatible errors).
    pub fn with_allow(&self, response: JsonResponse) -> JsonResponse {
        if self.allow.is_empty() {
            response
        } else {
            with_allow(response, &self.allow)
        }
    }
}

impl<E: Copy> RouteTable<E> {
    /// The endpoint for `req`, or the 404 / 405 to answer.
    pub fn find<B>(&self, req: &http::Request<B>) -> Result<E, NoRoute> {
        self.lookup(req.method(), route_key(req), req.uri().path())
    }

    /// The pure half of [`RouteTable::find`]: `key` is what patterns are
    /// matched against ([`route_key`]); `path` is named in error messages.
    pub fn lookup(&self, method: &Method, key: &str, path: &str) -> Result<E, NoRoute> {
        let Some(pattern) = self.0.iter().map(|r| r.pattern).find(|p| matches(p, key)) else {
            return Err(NoRoute {
                error: ApiError::not_found(
                    codes::NOT_FOUND,
                    format!("no route for {method} {path}"),
                ),
                allow: Vec::new(),
            });
        };
        let rows = || self.0.iter().filter(move |r| r.pattern == pattern);
        if let Some(row) = rows().find(|r| r.method == *method) {
            return Ok(row.endpoint);
        }
        let allow: Vec<Method> = rows().map(|r| r.method.clone()).collect();
        Err(NoRoute {
            error: ApiError::method_not_allowed(method, path, &allow),
            allow,
        })
    }
}

/// What a request is routed by: the spin.toml route Spin matched
/// (`spin-matched-route`), or the request's path when that route ends in a
/// wildcard, is the root (`""`) or is not given.
pub fn route_key<B>(req: &http::Request<B>) -> &str {
    match crate::request::matched_route(req) {
        Some(route) if !route.is_empty() && !route.ends_with("/...") => route,
        _ => req.uri().path(),
    }
}

/// Whether `pattern` (Spin's syntax) matches `key` (a path, or a matched
/// route, whose `:name` segments match the pattern's like any other text).
fn matches(pattern: &str, key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let key: Vec<&str> = key.split('/').collect();
    let segment = |(p, k): (&&str, &&str)| p == k || (p.starts_with(':') && !k.is_empty());
    match pattern.split_last() {
        Some((&"...", prefix)) => key.len() >= prefix.len() && prefix.iter().zip(&key).all(segment),
        _ => pattern.len() == key.len() && pattern.iter().zip(&key).all(segment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum E {
        List,
        Create,
        Current,
        Get,
        Revoke,
        Asset,
    }

    const TABLE: RouteTable<E> = RouteTable(&[
        route(Method::GET, "/api/v1/tokens", E::List),
        route(Method::POST, "/api/v1/tokens", E::Create),
        route(Method::GET, "/api/v1/tokens/current", E::Current),
        route(Method::GET, "/api/v1/tokens/:id", E::Get),
        route(Method::DELETE, "/api/v1/tokens/:id", E::Revoke),
        route(Method::GET, "/assets/...", E::Asset),
    ]);

    fn find(method: Method, key: &str) -> Result<E, NoRoute> {
        TABLE.lookup(&method, key, key)
    }

    #[test]
    fn method_and_pattern_pick_the_endpoint() {
        assert_eq!(find(Method::GET, "/api/v1/tokens"), Ok(E::List));
        assert_eq!(find(Method::POST, "/api/v1/tokens"), Ok(E::Create));
        // A matched route and a path of it route alike.
        assert_eq!(find(Method::GET, "/api/v1/tokens/:id"), Ok(E::Get));
        assert_eq!(find(Method::GET, "/api/v1/tokens/tok_1"), Ok(E::Get));
        assert_eq!(find(Method::DELETE, "/api/v1/tokens/tok_1"), Ok(E::Revoke));
        assert_eq!(find(Method::GET, "/api/v1/tokens/current"), Ok(E::Current));
        assert_eq!(find(Method::GET, "/assets/app.js"), Ok(E::Asset));
        assert_eq!(find(Method::GET, "/assets/a/b.css"), Ok(E::Asset));
    }

    #[test]
    fn an_unknown_path_is_a_404_envelope() {
        for key in [
            "/api/v1/tokens/",
            "/api/v1/tokens/a/b",
            "/api/v1/token",
            "/api/v1/tokens/../tokens",
            "/assetsx",
        ] {
            let no = find(Method::GET, key).unwrap_err();
            assert_eq!(no.error.status, StatusCode::NOT_FOUND, "{key}");
            assert_eq!(no.error.code, "NOT_FOUND");
            assert_eq!(no.error.message, format!("no route for GET {key}"));
            assert!(no.allow.is_empty());
        }
    }

    #[test]
    fn a_known_path_with_another_method_is_a_405_with_allow() {
        let no = TABLE
            .lookup(&Method::PUT, "/api/v1/tokens", "/api/v1/tokens/")
            .unwrap_err();
        assert_eq!(no.error.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            no.error.message,
            "method PUT is not allowed on /api/v1/tokens/; allowed: GET, POST"
        );
        assert_eq!(no.allow, [Method::GET, Method::POST]);
        // The first matching pattern decides: `current` is GET only.
        let no = find(Method::DELETE, "/api/v1/tokens/current").unwrap_err();
        assert_eq!(no.allow, [Method::GET]);
        let ctx = RequestContext::new(Some("req-1"), || [0; 16], 0);
        let resp = no.response(&ctx);
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()["allow"], "GET");
        assert_eq!(resp.headers()["x-request-id"], "req-1");
        assert!(resp.body().contains(r#""errorCode":"METHOD_NOT_ALLOWED""#));
        let resp = find(Method::GET, "/nope").unwrap_err().response(&ctx);
        assert!(resp.headers().get("allow").is_none());
    }

    #[test]
    fn the_key_is_the_matched_route_unless_it_is_a_wildcard() {
        let req = |route: Option<&str>, path: &str| {
            let mut b = http::Request::builder().uri(path);
            if let Some(route) = route {
                b = b.header("spin-matched-route", route);
            }
            b.body(()).unwrap()
        };
        let r = req(Some("/api/v1/tokens/:id"), "/api/v1/tokens/tok_1");
        assert_eq!(route_key(&r), "/api/v1/tokens/:id");
        let r = req(Some("/api/v1/gateway/..."), "/api/v1/gateway/health");
        assert_eq!(route_key(&r), "/api/v1/gateway/health");
        let r = req(Some(""), "/");
        assert_eq!(route_key(&r), "/");
        let r = req(None, "/x");
        assert_eq!(route_key(&r), "/x");
        // Spin ignores a trailing slash of the path; the matched route says so.
        let r = req(Some("/api/v1/tokens"), "/api/v1/tokens/");
        assert_eq!(TABLE.find(&r), Ok(E::List));
    }
}
