//! The OpenAPI 3.1 description of the whole API (`docs/openapi.json`),
//! served at `GET /api/v1/openapi.json` without authentication, so tools
//! (Schemathesis in `tests/e2e/schemathesis.rs`, client generators) can read
//! it from a running instance. It is embedded like the UI's assets and gets
//! the same `ETag` revalidation.
//!
//! The tests below keep it from drifting: every route in `spin.toml` is a
//! path of the document and every path of the document is served by a
//! route. The one exception is the catch-all `/...` (the 404 envelope for
//! every path nothing else serves): it is no API path, so docs/API.md
//! describes it, and the drift checks leave it out (it would otherwise
//! "serve" every documented path and make the second check vacuous).

use crate::assets::Asset;

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

static DOCUMENT: Asset = Asset {
    path: PATH,
    content_type: "application/json",
    body: include_str!("../../../docs/openapi.json"),
};

/// The document, if `path` names it.
pub fn find(path: &str) -> Option<&'static Asset> {
    (path == PATH).then_some(&DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompthelm_component_kit::serde_json::{self, Value};
    use std::collections::BTreeSet;

    /// spin.toml's catch-all route (see the module's documentation).
    const CATCH_ALL: &str = "/...";

    /// The `route`s of spin.toml's `[[trigger.http]]` tables but the
    /// catch-all.
    fn manifest_routes() -> Vec<String> {
        let mut routes = all_manifest_routes();
        routes.retain(|r| r != CATCH_ALL);
        routes
    }

    /// The `route`s of spin.toml's `[[trigger.http]]` tables, read line by
    /// line (the manifest keeps one `route = "..."` per trigger).
    fn all_manifest_routes() -> Vec<String> {
        let manifest = include_str!("../../../spin.toml");
        let mut routes = Vec::new();
        let mut in_trigger = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_trigger = line == "[[trigger.http]]";
            } else if in_trigger && let Some(value) = line.strip_prefix("route = ") {
                routes.push(value.trim_matches('"').to_owned());
            }
        }
        assert!(
            routes.len() > 10,
            "too few routes read from spin.toml: {routes:?}"
        );
        routes
    }

    fn document() -> Value {
        serde_json::from_str(DOCUMENT.body).expect("docs/openapi.json is not valid JSON")
    }

    fn document_paths() -> BTreeSet<String> {
        document()["paths"]
            .as_object()
            .expect("the document has paths")
            .keys()
            .cloned()
            .collect()
    }

    /// A Spin route as an OpenAPI path template: `:name` becomes `{name}`.
    /// A trailing wildcard (`/...`) stays, to be matched by prefix.
    fn template(route: &str) -> String {
        route
            .split('/')
            .map(|seg| match seg.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => seg.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether a document path is served by the Spin route: segment by
    /// segment, `:param` and `{param}` match any one segment; a trailing
    /// `/...` matches one or more segments.
    fn served_by(path: &str, route: &str) -> bool {
        let p: Vec<&str> = path.split('/').collect();
        let r: Vec<&str> = route.split('/').collect();
        if r.last() == Some(&"...") {
            let prefix = &r[..r.len() - 1];
            return p.len() > prefix.len()
                && prefix.iter().zip(&p).all(|(r, p)| segment_matches(r, p));
        }
        p.len() == r.len() && r.iter().zip(&p).all(|(r, p)| segment_matches(r, p))
    }

    fn segment_matches(route: &str, path: &str) -> bool {
        route.starts_with(':') || route == path
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["info"]["title"].is_string());
        assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
        // Every operation has an id and at least one response.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path} has no operationId"
                );
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
            }
        }
    }

    #[test]
    fn every_route_in_spin_toml_is_documented() {
        let paths = document_paths();
        for route in manifest_routes() {
            let covered = if route.ends_with("/...") {
                paths.iter().any(|p| served_by(p, &route))
            } else {
                paths.contains(&template(&route))
            };
            assert!(
                covered,
                "spin.toml route {route} has no path in docs/openapi.json (expected {})",
                template(&route)
            );
        }
    }

    #[test]
    fn every_documented_path_is_routed_by_spin_toml() {
        let routes = manifest_routes();
        for path in document_paths() {
            assert!(
                routes.iter().any(|r| served_by(&path, r)),
                "docs/openapi.json documents {path}, which no spin.toml route serves"
            );
        }
    }

    #[test]
    fn the_catch_all_is_the_one_undocumented_route_and_api_md_describes_it() {
        let all = all_manifest_routes();
        assert_eq!(all.iter().filter(|r| *r == CATCH_ALL).count(), 1);
        assert_eq!(all.len(), manifest_routes().len() + 1);
        assert!(!document_paths().contains(CATCH_ALL));
        let api_md = include_str!("../../../docs/API.md");
        assert!(
            api_md.contains("`/...`"),
            "docs/API.md does not describe the catch-all route `/...`"
        );
    }

    #[test]
    fn the_document_is_served_here() {
        assert_eq!(manifest_routes().iter().filter(|r| *r == PATH).count(), 1);
        assert!(find(PATH).is_some());
        assert!(find("/api/v1/openapi.yaml").is_none());
    }

    #[test]
    fn route_matching() {
        assert!(served_by("/api/v1/gateway/execute", "/api/v1/gateway/..."));
        assert!(!served_by("/api/v1/gateway", "/api/v1/gateway/..."));
        assert!(served_by("/api/v1/tokens/current", "/api/v1/tokens/:id"));
        assert!(served_by(
            "/api/v1/prompts/{id}/versions/{vid}",
            "/api/v1/prompts/:id/versions/:vid"
        ));
        assert!(!served_by(
            "/api/v1/prompts/{id}/versions",
            "/api/v1/prompts/:id"
        ));
        assert_eq!(
            template("/api/v1/prompts/:id/versions/:vid"),
            "/api/v1/prompts/{id}/versions/{vid}"
        );
        assert_eq!(template("/"), "/");
    }
}
