//! The thin adapter layer shared by PromptHelm's Spin components.
//!
//! Why this crate exists: the wire contract of responses (DESIGN.md §2) has
//! to be identical in every component. Every response carries an
//! `X-Request-Id` (the caller's when acceptable, else a fresh `req_…` id),
//! JSON bodies are `application/json`, and every error is the
//! [`ErrorEnvelope`] with that same request id. Writing that once here, on
//! top of the pure rules in `prompthelm-domain`, means a component cannot get
//! it subtly wrong.
//!
//! Usage in a component (ARCHITECTURE.md, "How to add an endpoint"):
//!
//! ```ignore
//! #[derive(Clone, Copy)]
//! enum Endpoint { Hello }
//!
//! const ROUTES: RouteTable<Endpoint> =
//!     RouteTable(&[route(Method::GET, "/api/v1/hello", Endpoint::Hello)]);
//!
//! #[spin_sdk::http_service]
//! async fn handler(req: spin_sdk::http::Request) -> JsonResponse {
//!     let ctx = RequestContext::from_request(&req);
//!     match ROUTES.find(&req) {
//!         Err(no_route) => no_route.response(&ctx), // 404, or 405 with Allow
//!         Ok(Endpoint::Hello) => ctx.json(StatusCode::OK, &serde_json::json!({"hello": "world"})),
//!     }
//! }
//! ```
//!
//! Host access is limited to [`RequestContext::from_request`] /
//! [`RequestContext::from_headers`] (clock and random source); everything
//! else is pure and tested natively.

mod api_error;
mod context;
pub mod host_errors;
pub mod outbound;
pub mod request;
mod response;
pub mod routes;
pub mod variables;

pub use api_error::ApiError;
pub use context::{RequestContext, now_unix_millis, secure_random_bytes};
pub use http::{Method, StatusCode};
pub use prompthelm_domain::ErrorEnvelope;
pub use prompthelm_domain::envelope::codes;
pub use response::{JsonResponse, REQUEST_ID_HEADER, set_content_length, with_allow};
pub use routes::{NoRoute, Route, RouteTable, route};
/// For components that handle JSON beyond the helpers here (and their
/// tests), without a dependency of their own.
pub use serde_json;
