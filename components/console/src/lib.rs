//! The `console` component: the web UI, served from assets embedded in the
//! component (`GET /` and `GET /assets/...`), and the API's OpenAPI
//! document (`GET /api/v1/openapi.json`, [`openapi`]); and, through the
//! catch-all route `/...`, the API's 404 envelope for every path no other
//! route serves (Spin would answer an empty 404 itself). The UI talks to the public API
//! (`/api/v1/...`) from the browser with the user's bearer token, so this
//! component needs no grant at all: no database, no store, no variables, no
//! outbound host.

mod assets;
mod openapi;

use http::{HeaderValue, header};
use prompthelm_component_kit::routes::route_key;
use prompthelm_component_kit::{
    JsonResponse, Method, REQUEST_ID_HEADER, RequestContext, RouteTable, StatusCode, route,
    set_content_length,
};
use spin_sdk::http::Request;

/// Everything the UI loads comes from this origin, and it has no inline
/// script or style, so the policy can forbid both.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; \
     img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Get,
    Head,
}

/// spin.toml's lowest-precedence route, the catch-all `/...`, has no row:
/// whatever reaches the component through it matched no other route, and
/// is a 404 whatever its method.
const ROUTES: RouteTable<Endpoint> = RouteTable(&[
    route(Method::GET, "/", Endpoint::Get),
    route(Method::HEAD, "/", Endpoint::Head),
    route(Method::GET, "/assets/...", Endpoint::Get),
    route(Method::HEAD, "/assets/...", Endpoint::Head),
    route(Method::GET, "/api/v1/openapi.json", Endpoint::Get),
    route(Method::HEAD, "/api/v1/openapi.json", Endpoint::Head),
]);

#[spin_sdk::http_service]
async fn handler(req: Request) -> JsonResponse {
    let ctx = RequestContext::from_request(&req);
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    answer(
        &ctx,
        req.method(),
        route_key(&req),
        req.uri().path(),
        if_none_match,
    )
}

/// [`answer`] for a request routed by its path.
#[cfg(test)]
fn serve(
    ctx: &RequestContext,
    method: &Method,
    path: &str,
    if_none_match: Option<&str>,
) -> JsonResponse {
    answer(ctx, method, path, path, if_none_match)
}

/// Routes the request (`key`, see [`route_key`]) and serves the asset at
/// `path`.
fn answer(
    ctx: &RequestContext,
    method: &Method,
    key: &str,
    path: &str,
    if_none_match: Option<&str>,
) -> JsonResponse {
    let head = match ROUTES.lookup(method, key, path) {
        Err(no_route) => return no_route.response(ctx),
        Ok(Endpoint::Get) => false,
        Ok(Endpoint::Head) => true,
    };
    let Some(asset) = assets::find(path).or_else(|| openapi::find(path)) else {
        return ctx.not_found(method, path);
    };
    // Asset names carry no content hash, so every response is revalidated
    // (`no-cache`); the ETag turns an unchanged asset into a bodiless 304.
    let etag = asset.etag();
    let (status, body) = if if_none_match.is_some_and(|tags| matches_etag(tags, &etag)) {
        (StatusCode::NOT_MODIFIED, String::new())
    } else if head {
        (StatusCode::OK, String::new())
    } else {
        (StatusCode::OK, asset.body.to_owned())
    };
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Both are visible ASCII: a hex digest in quotes, and an accepted or generated id.
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(id) = HeaderValue::from_str(ctx.request_id()) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    // A HEAD answer declares nothing: its length would be the GET body's,
    // which it does not carry.
    if !head {
        set_content_length(&mut resp);
    }
    resp
}

/// `If-None-Match` is a list of entity tags, or `*`.
fn matches_etag(header_value: &str, etag: &str) -> bool {
    header_value
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext::new(Some("req-1"), || [0; 16], 0)
    }

    #[test]
    fn index_has_html_type_csp_and_no_cache() {
        let resp = serve(&ctx(), &Method::GET, "/", None);
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["cache-control"], "no-cache");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(
            h["content-length"].to_str().unwrap(),
            resp.body().len().to_string()
        );
        assert_eq!(h["x-request-id"], "req-1");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "connect-src 'self'",
            "img-src 'self' data:",
            "style-src 'self'",
            "script-src 'self'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe"));
        assert!(resp.body().starts_with("<!doctype html>"));
    }

    #[test]
    fn assets_are_served_with_their_type() {
        let resp = serve(&ctx(), &Method::GET, "/assets/app.js", None);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert!(!resp.body().is_empty());
    }

    #[test]
    fn head_has_the_headers_and_no_body() {
        let resp = serve(&ctx(), &Method::HEAD, "/assets/app.css", None);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/css; charset=utf-8");
        assert!(resp.body().is_empty());
    }

    #[test]
    fn a_matching_etag_is_a_304() {
        let first = serve(&ctx(), &Method::GET, "/", None);
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let again = serve(&ctx(), &Method::GET, "/", Some(&format!("\"x\", W/{etag}")));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.body().is_empty());
        let other = serve(&ctx(), &Method::GET, "/", Some("\"x\""));
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[test]
    fn unknown_asset_is_the_404_envelope() {
        for path in [
            "/assets/nope.js",
            "/assets/",
            "/assets",
            "/assets/../index.html",
        ] {
            let resp = serve(&ctx(), &Method::GET, path, None);
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(resp.headers()["content-type"], "application/json");
            assert!(resp.body().contains("\"errorCode\":\"NOT_FOUND\""));
        }
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        let resp = serve(&ctx(), &Method::POST, "/", None);
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()["allow"], "GET, HEAD");
    }
}
