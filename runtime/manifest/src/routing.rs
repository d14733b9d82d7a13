//! HTTP routing with Spin's rules (`spin-routes`, `crates/routes/src/lib.rs`)
//! and Spin's per-request `spin-*` headers (`crates/trigger-http/src/headers.rs`).
//!
//! # Route syntax
//!
//! * exact: `/a/b` (one trailing slash in the route is ignored: `/a/` is `/a`;
//!   a request path's trailing slashes are ignored too: `/a/b/` matches `/a/b`);
//! * named segments: `/a/:id` (a `:name` captures one path segment; it may be
//!   followed by `.`, e.g. `/files/:name.json`);
//! * trailing wildcard: `/a/...` (Spin also accepts `/a/*`); it matches `/a`,
//!   `/a/` and anything below `/a/`.
//!
//! # Precedence
//!
//! Matching is done by the `routefinder` crate, exactly as Spin does it. Routes
//! are ordered by comparing their segments left to right; at the first segment
//! where they differ, **exact text beats a `:param`, which beats the wildcard**.
//! If one route's segments are a prefix of the other's (`/a` vs `/a/...`), the
//! shorter one wins, which is how an exact route beats a wildcard on its own
//! prefix. The first route in that order that matches the path is used. So:
//!
//! * `/api/users` beats `/api/:id` beats `/api/...` beats `/...`;
//! * `/one/two/...` beats `/one/...` for `/one/two/x` (longest prefix wins);
//! * `/a/b/:x` beats `/a/:y/c` for `/a/b/c` (the earlier exact segment decides,
//!   not the number of exact segments);
//! * `/a/:id` beats `/a/...` for `/a/1`, but only `/a/...` matches `/a/1/2`.
//!
//! Routes that would match exactly the same requests (`/x` twice, `/x` and
//! `/x/`, `/a/:id` and `/a/:name`) are a startup error here; Spin only logs
//! them and lets one win. Routes under `/.well-known/spin/` are an error too:
//! Spin answers those paths itself, so such a route is never reached.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use routefinder::{RouteSpec, Segment};

use crate::HttpTrigger;

/// Paths Spin handles itself (`health`, `info`); no component route may live here.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

#[derive(Debug, Clone)]
struct Handler {
    component_id: String,
    raw_route: String,
    based_route: String,
    wildcard: bool,
}

/// The application's HTTP router.
#[derive(Clone)]
pub struct Router {
    inner: Arc<routefinder::Router<Handler>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.routes()).finish()
    }
}

/// A matched request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component that handles the request.
    pub component_id: String,
    /// The route as written in the manifest, e.g. `/api/v1/prompts/:id/...`
    /// (the `spin-raw-component-route` header).
    pub route: String,
    /// The route combined with the base `/`, i.e. with one trailing slash
    /// removed; `""` for the route `/` (the `spin-matched-route` header).
    pub matched_route: String,
    /// The route without a trailing `/...` (the `spin-component-route` header).
    pub component_route: String,
    /// The part of the path matched by a trailing wildcard, with its leading
    /// slash and any trailing slash of the request path; `""` for exact routes
    /// (the `spin-path-info` header). For route `/foo/...`: `/foo` -> `""`,
    /// `/foo/` -> `"/"`, `/foo/a/b` -> `"/a/b"`, `/foo/a/` -> `"/a/"`.
    pub path_info: String,
    /// Named `:segment` captures, in route order (the `spin-path-match-<name>`
    /// headers). Spin does not expose the trailing wildcard here; it is `path_info`.
    pub params: Vec<(String, String)>,
    /// The route ends in a wildcard (`/...` or `/*`).
    pub wildcard: bool,
}

/// A route as registered, for startup listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The component that handles the route.
    pub component_id: String,
    /// The route as written in the manifest.
    pub route: String,
    /// The route without its trailing wildcard, `/` for the root (what Spin
    /// prints in "Available Routes", followed by ` (wildcard)` when `wildcard`).
    pub path: String,
    /// The route ends in a wildcard.
    pub wildcard: bool,
}

/// A route's matching behaviour: its segments with parameter names erased.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Slash,
    Dot,
    Exact(String),
    Param,
    Wildcard,
}

impl Router {
    /// Builds the router. Errors (naming the route and component) on malformed
    /// routes, routes that duplicate another, and routes under
    /// [`WELL_KNOWN_PREFIX`].
    pub fn new(triggers: &[HttpTrigger]) -> Result<Router> {
        let mut rf = routefinder::Router::new();
        let mut seen: Vec<(Vec<Shape>, &HttpTrigger)> = Vec::new();
        for t in triggers {
            let what = || format!("route {:?} (component `{}`)", t.route, t.component);
            let based_route = sanitize_with_base("/", &t.route);
            let (spec_source, wildcard) = if let Some(prefix) = based_route.strip_suffix("/...") {
                (format!("{prefix}/*"), true)
            } else {
                (based_route.clone(), based_route.ends_with("/*"))
            };
            if spec_source.contains("...") {
                bail!(
                    "invalid {}: `...` is only allowed at the end of a route, as `/...`",
                    what()
                );
            }
            if based_route.starts_with(WELL_KNOWN_PREFIX) {
                bail!(
                    "invalid {}: routes under {WELL_KNOWN_PREFIX} are reserved by Spin and would \
                     never be reached",
                    what()
                );
            }
            let spec: RouteSpec = spec_source
                .parse()
                .map_err(|e: String| anyhow!("invalid {}: {e}", what()))?;
            let shape =
                check_segments(spec.segments()).map_err(|e| anyhow!("invalid {}: {e}", what()))?;
            if let Some((_, other)) = seen.iter().find(|(s, _)| *s == shape) {
                if other.route == t.route {
                    bail!(
                        "duplicate route {:?}: used by component `{}` and component `{}`",
                        t.route,
                        other.component,
                        t.component
                    );
                }
                bail!(
                    "duplicate routes: {:?} (component `{}`) and {:?} (component `{}`) match exactly \
                     the same requests",
                    other.route,
                    other.component,
                    t.route,
                    t.component
                );
            }
            seen.push((shape, t));
            rf.add(
                spec,
                Handler {
                    component_id: t.component.clone(),
                    raw_route: t.route.clone(),
                    based_route,
                    wildcard,
                },
            )
            .map_err(|e| anyhow!("invalid {}: {e}", what()))?;
        }
        Ok(Router {
            inner: Arc::new(rf),
        })
    }

    /// Matches a request path (the URI path as received, without the query
    /// string; not percent-decoded, as in Spin). `None` means 404.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let m = self.inner.best_match(path)?;
        let h = m.handler();
        let captures = m.captures();
        let params = captures
            .params()
            .iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect();
        // Spin has always kept trailing slashes in the path info; routefinder drops them.
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(w) => match (w.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{w}"),
                (false, true) => format!("/{w}/"),
            },
        };
        Some(RouteMatch {
            component_id: h.component_id.clone(),
            route: h.raw_route.clone(),
            matched_route: h.based_route.clone(),
            component_route: h
                .raw_route
                .strip_suffix("/...")
                .unwrap_or(&h.raw_route)
                .to_string(),
            path_info,
            params,
            wildcard: h.wildcard,
        })
    }

    /// The routes in precedence order (highest first).
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.inner
            .iter()
            .map(|(_, h)| {
                let path = if h.wildcard {
                    h.based_route
                        .strip_suffix("/...")
                        .or_else(|| h.based_route.strip_suffix("/*"))
                        .unwrap_or(&h.based_route)
                } else {
                    &h.based_route
                };
                RouteInfo {
                    component_id: h.component_id.clone(),
                    route: h.raw_route.clone(),
                    path: if path.is_empty() { "/" } else { path }.to_string(),
                    wildcard: h.wildcard,
                }
            })
            .collect()
    }
}

/// Validates what routefinder accepts but cannot use (it panics at match time
/// on a mid-route wildcard), and parameter names that would not make valid
/// header names. Returns the route's shape.
fn check_segments(segments: &[Segment]) -> Result<Vec<Shape>, String> {
    let mut names: BTreeMap<&str, ()> = BTreeMap::new();
    let mut shape = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        shape.push(match seg {
            Segment::Slash => Shape::Slash,
            Segment::Dot => Shape::Dot,
            Segment::Exact(s) => Shape::Exact(s.to_string()),
            Segment::Wildcard if i + 1 == segments.len() => Shape::Wildcard,
            Segment::Wildcard => {
                return Err("a wildcard is only allowed at the end of a route (`/...`)".into());
            }
            Segment::Param(name) => {
                let name: &str = name;
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "parameter name {name:?} may only contain ASCII letters, digits, `_` and `-`"
                    ));
                }
                if names.insert(name, ()).is_some() {
                    return Err(format!("parameter `:{name}` appears twice"));
                }
                Shape::Param
            }
        });
    }
    Ok(shape)
}

/// Spin's `sanitize_with_base`: make the route absolute, then strip one
/// trailing slash from both base and route and concatenate.
fn sanitize_with_base(base: &str, route: &str) -> String {
    let route = if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    };
    let strip = |s: &str| s.strip_suffix('/').unwrap_or(s).to_string();
    format!("{}{}", strip(base), strip(&route))
}

/// The `spin-full-url` value as Spin builds it: `{scheme}://{host}{path_and_query}`,
/// where `host` is the request's `Host` header (`localhost` when absent) and
/// `scheme` is the server's (`http` here).
pub fn full_url(scheme: &str, host: Option<&str>, path_and_query: &str) -> String {
    format!("{scheme}://{}{path_and_query}", host.unwrap_or("localhost"))
}

/// Spin's request headers for a matched request, as (name, value) pairs, in
/// the form and order Spin sends them:
///
/// | header | value |
/// |---|---|
/// | `spin-path-info` | [`RouteMatch::path_info`] |
/// | `spin-full-url` | `full_url` (see [`full_url`]) |
/// | `spin-matched-route` | [`RouteMatch::matched_route`] |
/// | `spin-base-path` | `/` |
/// | `spin-raw-component-route` | [`RouteMatch::route`] |
/// | `spin-component-route` | [`RouteMatch::component_route`] |
/// | `spin-client-addr` | `client_addr` (`ip:port`) |
/// | `spin-path-match-<name>` | each named parameter; the name is lowercased with `_` turned into `-` |
///
/// Spin sets these over the incoming request headers (replacing, not
/// appending, any client-sent header of the same name); the host should do
/// the same.
pub fn spin_headers(m: &RouteMatch, full_url: &str, client_addr: &str) -> Vec<(String, String)> {
    let mut headers = vec![
        ("spin-path-info".to_string(), m.path_info.clone()),
        ("spin-full-url".to_string(), full_url.to_string()),
        ("spin-matched-route".to_string(), m.matched_route.clone()),
        ("spin-base-path".to_string(), "/".to_string()),
        ("spin-raw-component-route".to_string(), m.route.clone()),
        (
            "spin-component-route".to_string(),
            m.component_route.clone(),
        ),
        ("spin-client-addr".to_string(), client_addr.to_string()),
    ];
    for (name, value) in &m.params {
        // Spin: format!("SPIN_PATH_MATCH_{}", name.to_ascii_uppercase()), then `_` -> `-`, lowercase.
        let header = format!(
            "spin-path-match-{}",
            name.replace('_', "-").to_ascii_lowercase()
        );
        headers.push((header, value.clone()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new(&triggers(routes)).unwrap()
    }

    fn triggers(routes: &[(&str, &str)]) -> Vec<HttpTrigger> {
        routes
            .iter()
            .map(|(component, route)| HttpTrigger {
                route: route.to_string(),
                component: component.to_string(),
            })
            .collect()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component_id)
    }

    fn new_err(routes: &[(&str, &str)]) -> String {
        format!("{:#}", Router::new(&triggers(routes)).unwrap_err())
    }

    #[test]
    fn exact_routes() {
        let r = router(&[("foo", "/foo"), ("foobar", "/foo/bar"), ("root", "/")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/bar").as_deref(), Some("foobar"));
        assert_eq!(component(&r, "/").as_deref(), Some("root"));
        assert_eq!(component(&r, "/foo/baz"), None);
        assert_eq!(component(&r, "/foobar"), None);
        assert_eq!(component(&r, "/fo"), None);
    }

    #[test]
    fn wildcard_matches_everything_below_and_the_prefix_itself() {
        let r = router(&[("all", "/...")]);
        for p in ["/", "/foo/bar", "/abc/", "/this/should/be/captured"] {
            assert_eq!(component(&r, p).as_deref(), Some("all"), "{p}");
        }
        let r = router(&[("api", "/api/...")]);
        for p in ["/api", "/api/", "/api/x", "/api/x/y/"] {
            assert_eq!(component(&r, p).as_deref(), Some("api"), "{p}");
        }
        for p in ["/", "/apix", "/ap", "/other/api"] {
            assert_eq!(component(&r, p), None, "{p}");
        }
    }

    #[test]
    fn exact_beats_wildcard_regardless_of_order() {
        for routes in [
            [("one_exact", "/one"), ("wildcard", "/...")],
            [("wildcard", "/..."), ("one_exact", "/one")],
        ] {
            let r = router(&routes);
            assert_eq!(component(&r, "/one").as_deref(), Some("one_exact"));
            assert_eq!(component(&r, "/one/").as_deref(), Some("one_exact"));
            assert_eq!(component(&r, "/one/two").as_deref(), Some("wildcard"));
            assert_eq!(component(&r, "/").as_deref(), Some("wildcard"));
        }
        let r = router(&[("w", "/api/..."), ("e", "/api")]);
        assert_eq!(component(&r, "/api").as_deref(), Some("e"));
        assert_eq!(component(&r, "/api/x").as_deref(), Some("w"));
    }

    #[test]
    fn longest_wildcard_prefix_wins_regardless_of_order() {
        let a = [
            ("one", "/one/..."),
            ("onetwo", "/one/two/..."),
            ("onetwothree", "/one/two/three/..."),
        ];
        let mut b = a;
        b.reverse();
        for routes in [a, b] {
            let r = router(&routes);
            assert_eq!(
                component(&r, "/one/two/three/four").as_deref(),
                Some("onetwothree")
            );
            assert_eq!(
                component(&r, "/one/two/three").as_deref(),
                Some("onetwothree")
            );
            assert_eq!(component(&r, "/one/two/thr").as_deref(), Some("onetwo"));
            assert_eq!(component(&r, "/one/two").as_deref(), Some("onetwo"));
            assert_eq!(component(&r, "/one/x").as_deref(), Some("one"));
            assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        }
    }

    #[test]
    fn exact_beats_param_beats_wildcard() {
        let routes = [
            ("wild", "/api/..."),
            ("param", "/api/:id"),
            ("exact", "/api/users"),
            ("root", "/..."),
        ];
        let mut rev = routes;
        rev.reverse();
        for routes in [routes, rev] {
            let r = router(&routes);
            assert_eq!(component(&r, "/api/users").as_deref(), Some("exact"));
            assert_eq!(component(&r, "/api/42").as_deref(), Some("param"));
            assert_eq!(component(&r, "/api/42/").as_deref(), Some("param"));
            assert_eq!(component(&r, "/api/42/x").as_deref(), Some("wild"));
            assert_eq!(component(&r, "/api/users/x").as_deref(), Some("wild"));
            assert_eq!(component(&r, "/api").as_deref(), Some("wild"));
            assert_eq!(component(&r, "/other").as_deref(), Some("root"));
        }
    }

    #[test]
    fn first_differing_segment_decides() {
        // Exact text in an earlier segment wins even against a route with more exact segments.
        let r = router(&[("late", "/:a/b/c"), ("early", "/a/:b/:c")]);
        assert_eq!(component(&r, "/a/b/c").as_deref(), Some("early"));
        let r = router(&[("y", "/a/:y/c"), ("x", "/a/b/:x")]);
        assert_eq!(component(&r, "/a/b/c").as_deref(), Some("x"));
        // A param route with a wildcard tail loses to a longer exact prefix.
        let r = router(&[("p", "/v1/:id/..."), ("e", "/v1/prompts/...")]);
        assert_eq!(component(&r, "/v1/prompts/1").as_deref(), Some("e"));
        assert_eq!(component(&r, "/v1/other/1").as_deref(), Some("p"));
        // Param beats wildcard at the same position.
        let r = router(&[("w", "/v1/..."), ("p", "/v1/:id/...")]);
        assert_eq!(component(&r, "/v1/x/y").as_deref(), Some("p"));
        assert_eq!(component(&r, "/v1/x").as_deref(), Some("p"));
        assert_eq!(component(&r, "/v1").as_deref(), Some("w"));
    }

    #[test]
    fn routes_are_listed_in_precedence_order() {
        let r = router(&[("w", "/..."), ("p", "/:id"), ("e", "/hello"), ("root", "/")]);
        let order: Vec<String> = r.routes().into_iter().map(|i| i.component_id).collect();
        assert_eq!(order, vec!["root", "e", "p", "w"]);
        let w = r
            .routes()
            .into_iter()
            .find(|i| i.component_id == "w")
            .unwrap();
        assert_eq!((w.path.as_str(), w.wildcard), ("/", true));
        let root = r
            .routes()
            .into_iter()
            .find(|i| i.component_id == "root")
            .unwrap();
        assert_eq!((root.path.as_str(), root.wildcard), ("/", false));
        let r = router(&[("x", "/x/...")]);
        assert_eq!(r.routes()[0].path, "/x");
        assert!(format!("{r:?}").contains("/x/..."));
    }

    #[test]
    fn named_params_are_captured_in_order() {
        let r = router(&[("c", "/1/:two/3"), ("d", "/u/:user_id/p/:prompt-id/...")]);
        let m = r.route("/1/2/3").unwrap();
        assert_eq!(m.params, vec![("two".to_string(), "2".to_string())]);
        assert_eq!(m.path_info, "");
        let m = r.route("/u/alice/p/7/rest/of").unwrap();
        assert_eq!(
            m.params,
            vec![
                ("user_id".to_string(), "alice".to_string()),
                ("prompt-id".to_string(), "7".to_string())
            ]
        );
        assert_eq!(m.path_info, "/rest/of");
        // As in Spin (routefinder 0.5), a param does match an empty segment
        // between two slashes, but not a missing one.
        let m = r.route("/1//3").unwrap();
        assert_eq!(m.params, vec![("two".to_string(), String::new())]);
        assert_eq!(component(&r, "/1/3"), None);
        // Param followed by a dot.
        let r = router(&[("f", "/files/:name.json")]);
        let m = r.route("/files/report.json").unwrap();
        assert_eq!(m.params, vec![("name".to_string(), "report".to_string())]);
        assert_eq!(component(&r, "/files/report.txt"), None);
    }

    #[test]
    fn path_info_follows_spin() {
        let r = router(&[("c", "/test/...")]);
        assert_eq!(r.route("/test").unwrap().path_info, "");
        assert_eq!(r.route("/test/").unwrap().path_info, "/");
        assert_eq!(r.route("/test/hello").unwrap().path_info, "/hello");
        assert_eq!(r.route("/test/hello/").unwrap().path_info, "/hello/");
        let r = router(&[("c", "/...")]);
        assert_eq!(r.route("/1/2/3").unwrap().path_info, "/1/2/3");
        assert_eq!(r.route("/").unwrap().path_info, "/");
        let r = router(&[("c", "/1/...")]);
        assert_eq!(r.route("/1/2/3").unwrap().path_info, "/2/3");
        // Exact routes have no path info, even with a trailing slash.
        let r = router(&[("c", "/exact")]);
        assert_eq!(r.route("/exact/").unwrap().path_info, "");
        // Spin's `/*` form is a wildcard too.
        let r = router(&[("c", "/star/*")]);
        let m = r.route("/star/a/b").unwrap();
        assert!(m.wildcard);
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.component_route, "/star/*");
    }

    #[test]
    fn route_forms_are_normalised_like_spin() {
        let r = router(&[("c", "no-slash")]);
        let m = r.route("/no-slash").unwrap();
        assert_eq!(m.route, "no-slash");
        assert_eq!(m.matched_route, "/no-slash");
        let r = router(&[("c", "/trailing/")]);
        let m = r.route("/trailing").unwrap();
        assert_eq!(m.route, "/trailing/");
        assert_eq!(m.matched_route, "/trailing");
        assert_eq!(m.component_route, "/trailing/");
        let r = router(&[("c", "/")]);
        let m = r.route("/").unwrap();
        assert_eq!(m.matched_route, "");
        assert_eq!(m.component_route, "/");
    }

    #[test]
    fn duplicates_are_errors() {
        let e = new_err(&[("a", "/x"), ("b", "/x")]);
        assert!(
            e.contains("duplicate route \"/x\"") && e.contains("`a`") && e.contains("`b`"),
            "{e}"
        );
        let e = new_err(&[("a", "/x"), ("b", "/x/")]);
        assert!(e.contains("same requests"), "{e}");
        let e = new_err(&[("a", "/x/:id"), ("b", "/x/:name")]);
        assert!(e.contains("same requests"), "{e}");
        let e = new_err(&[("a", "/x/..."), ("b", "/x/*")]);
        assert!(e.contains("same requests"), "{e}");
        let e = new_err(&[("a", "/..."), ("a", "/...")]);
        assert!(e.contains("duplicate route"), "{e}");
        // Different shapes are fine.
        router(&[("a", "/x"), ("b", "/x/..."), ("c", "/x/:id"), ("d", "/y")]);
    }

    #[test]
    fn malformed_routes_are_errors() {
        for (route, needle) in [
            ("/a/*/b", "wildcard"),
            ("/a/.../b", "`...`"),
            ("/a/:", "params must be named"),
            ("/a/*x", "wildcard"),
            ("/a/:id/:id", "appears twice"),
            ("/a/:i+d", "parameter name"),
            ("/.well-known/spin/health", "reserved"),
            ("/.well-known/spin/...", "reserved"),
        ] {
            let e = new_err(&[("c", route)]);
            assert!(e.contains(needle) && e.contains(route), "{route}: {e}");
        }
        // Not reserved: only routes under the prefix.
        router(&[("c", "/.well-known/spin")]);
        router(&[("c", "/.well-known/spindle/...")]);
    }

    #[test]
    fn empty_router_matches_nothing() {
        let r = router(&[]);
        assert_eq!(r.route("/"), None);
        assert!(r.routes().is_empty());
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn headers_for_wildcard_route() {
        // Spin's own test: route /foo/..., request https://fermyon.dev/foo/bar?key1=value1&key2=value2
        let r = router(&[("DUMMY", "/foo/...")]);
        let m = r.route("/foo/bar").unwrap();
        let url = full_url(
            "https",
            Some("fermyon.dev"),
            "/foo/bar?key1=value1&key2=value2",
        );
        let h = spin_headers(&m, &url, "127.0.0.1:8777");
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "spin-path-info",
                "spin-full-url",
                "spin-matched-route",
                "spin-base-path",
                "spin-raw-component-route",
                "spin-component-route",
                "spin-client-addr",
            ]
        );
        assert_eq!(
            header(&h, "spin-full-url"),
            Some("https://fermyon.dev/foo/bar?key1=value1&key2=value2")
        );
        assert_eq!(header(&h, "spin-path-info"), Some("/bar"));
        assert_eq!(header(&h, "spin-matched-route"), Some("/foo/..."));
        assert_eq!(header(&h, "spin-base-path"), Some("/"));
        assert_eq!(header(&h, "spin-raw-component-route"), Some("/foo/..."));
        assert_eq!(header(&h, "spin-component-route"), Some("/foo"));
        assert_eq!(header(&h, "spin-client-addr"), Some("127.0.0.1:8777"));
    }

    #[test]
    fn headers_with_named_wildcards() {
        // Spin's own test: route /foo/:userid/..., path /foo/42/bar
        let r = router(&[("DUMMY", "/foo/:userid/...")]);
        let m = r.route("/foo/42/bar").unwrap();
        let h = spin_headers(&m, "https://fermyon.dev/foo/42/bar", "127.0.0.1:8777");
        assert_eq!(header(&h, "spin-path-info"), Some("/bar"));
        assert_eq!(header(&h, "spin-matched-route"), Some("/foo/:userid/..."));
        assert_eq!(
            header(&h, "spin-raw-component-route"),
            Some("/foo/:userid/...")
        );
        assert_eq!(header(&h, "spin-component-route"), Some("/foo/:userid"));
        assert_eq!(header(&h, "spin-path-match-userid"), Some("42"));
        assert_eq!(h.len(), 8);
    }

    #[test]
    fn headers_for_exact_route() {
        let r = router(&[("c", "/api/prompts/:prompt_id/")]);
        let m = r.route("/api/prompts/p1/").unwrap();
        let h = spin_headers(&m, "http://localhost:3000/api/prompts/p1/", "[::1]:5000");
        assert_eq!(header(&h, "spin-path-info"), Some(""));
        assert_eq!(
            header(&h, "spin-matched-route"),
            Some("/api/prompts/:prompt_id")
        );
        assert_eq!(
            header(&h, "spin-raw-component-route"),
            Some("/api/prompts/:prompt_id/")
        );
        assert_eq!(
            header(&h, "spin-component-route"),
            Some("/api/prompts/:prompt_id/")
        );
        assert_eq!(header(&h, "spin-path-match-prompt-id"), Some("p1"));
        assert_eq!(header(&h, "spin-client-addr"), Some("[::1]:5000"));
        assert_eq!(header(&h, "spin-path-match-prompt_id"), None);
    }

    #[test]
    fn headers_for_root_routes() {
        let r = router(&[("c", "/")]);
        let h = spin_headers(&r.route("/").unwrap(), "http://localhost/", "1.2.3.4:5");
        assert_eq!(header(&h, "spin-matched-route"), Some(""));
        assert_eq!(header(&h, "spin-raw-component-route"), Some("/"));
        assert_eq!(header(&h, "spin-component-route"), Some("/"));
        assert_eq!(header(&h, "spin-path-info"), Some(""));

        let r = router(&[("c", "/...")]);
        let h = spin_headers(
            &r.route("/a/b").unwrap(),
            "http://localhost/a/b",
            "1.2.3.4:5",
        );
        assert_eq!(header(&h, "spin-matched-route"), Some("/..."));
        assert_eq!(header(&h, "spin-raw-component-route"), Some("/..."));
        assert_eq!(header(&h, "spin-component-route"), Some(""));
        assert_eq!(header(&h, "spin-path-info"), Some("/a/b"));
    }

    #[test]
    fn full_url_defaults_host_to_localhost() {
        assert_eq!(full_url("http", None, "/a?b=c"), "http://localhost/a?b=c");
        assert_eq!(
            full_url("http", Some("127.0.0.1:3000"), "/"),
            "http://127.0.0.1:3000/"
        );
    }
}
