//! Response builders: JSON with `Content-Type` and `X-Request-Id`, and the
//! error envelope.
//!
//! [`JsonResponse`] is a plain `http::Response<String>`, which spin-sdk's
//! `IntoResponse` accepts, so handlers can return it directly and tests can
//! inspect it natively.

use http::{HeaderValue, Method, StatusCode, header};
use prompthelm_domain::{ErrorEnvelope, envelope::codes};
use serde::Serialize;

use crate::RequestContext;

/// Header carrying the request id, in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the helpers build: a complete, buffered response.
pub type JsonResponse = http::Response<String>;

impl RequestContext {
    /// A JSON response: `status`, `body` serialized, `Content-Type:
    /// application/json`, `X-Request-Id`. If `body` cannot be serialized
    /// (a bug), the answer is a 500 envelope instead.
    pub fn json<T: Serialize + ?Sized>(&self, status: StatusCode, body: &T) -> JsonResponse {
        match serde_json::to_string(body) {
            Ok(text) => self.raw_json(status, text),
            Err(e) => self.api_error(&crate::ApiError::internal(format!(
                "failed to serialize response: {e}"
            ))),
        }
    }

    /// An envelope for this request (its id and timestamp), to add details
    /// to before passing it to [`RequestContext::error_response`].
    pub fn envelope(
        &self,
        status: StatusCode,
        error_code: &str,
        message: impl Into<String>,
    ) -> ErrorEnvelope {
        ErrorEnvelope::new(
            status.as_u16(),
            error_code,
            message,
            self.timestamp(),
            self.request_id(),
        )
    }

    /// The error envelope as a response, with the status it names.
    pub fn error_response(&self, envelope: &ErrorEnvelope) -> JsonResponse {
        let status =
            StatusCode::from_u16(envelope.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.raw_json(status, envelope.to_json())
    }

    /// Shorthand for an envelope without details, as a response.
    pub fn error(
        &self,
        status: StatusCode,
        error_code: &str,
        message: impl Into<String>,
    ) -> JsonResponse {
        self.error_response(&self.envelope(status, error_code, message))
    }

    /// 404 `NOT_FOUND` for a path no route of this component serves.
    pub fn not_found(&self, method: &Method, path: &str) -> JsonResponse {
        self.error(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no route for {method} {path}"),
        )
    }

    /// 405 `METHOD_NOT_ALLOWED` with an `Allow` header listing `allowed`.
    pub fn method_not_allowed(
        &self,
        method: &Method,
        path: &str,
        allowed: &[Method],
    ) -> JsonResponse {
        with_allow(
            self.api_error(&crate::ApiError::method_not_allowed(method, path, allowed)),
            allowed,
        )
    }

    fn raw_json(&self, status: StatusCode, body: String) -> JsonResponse {
        let mut resp = http::Response::new(body);
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // API answers are per caller and may hold secrets (a minted token):
        // no cache may keep them, and no browser may sniff them as HTML.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Always valid: ids are visible ASCII (accepted or generated).
        if let Ok(id) = HeaderValue::from_str(self.request_id()) {
            headers.insert(REQUEST_ID_HEADER, id);
        }
        set_content_length(&mut resp);
        resp
    }
}

/// Adds the `Allow` header a 405 must carry, listing `allowed`; the body is
/// the caller's ([`crate::ApiError::method_not_allowed`] in any shape).
pub fn with_allow(mut resp: JsonResponse, allowed: &[Method]) -> JsonResponse {
    if let Ok(value) = HeaderValue::from_str(&allow_list(allowed)) {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    resp
}

pub(crate) fn allow_list(allowed: &[Method]) -> String {
    allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Declares the length of a body that is complete before sending. Without
/// it the host sends the body chunked, and Spin writes the closing chunk in
/// a second write that Nagle holds until the client's delayed ACK: about
/// 40 ms on every keep-alive response (ARCHITECTURE.md, "Where a request
/// goes"). Streams (SSE) stay chunked.
pub fn set_content_length(resp: &mut http::Response<String>) {
    let length = HeaderValue::from(resp.body().len());
    resp.headers_mut().insert(header::CONTENT_LENGTH, length);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn ctx() -> RequestContext {
        RequestContext::new(Some("req-1"), || [0; 16], 1_795_514_400_123)
    }

    fn body(resp: &JsonResponse) -> Value {
        serde_json::from_str(resp.body()).unwrap()
    }

    #[test]
    fn json_sets_status_content_type_and_request_id() {
        let resp = ctx().json(StatusCode::CREATED, &json!({"a": 1}));
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["x-request-id"], "req-1");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.body(), r#"{"a":1}"#);
        let err = ctx().error(StatusCode::NOT_FOUND, codes::NOT_FOUND, "nope");
        assert_eq!(err.headers()["cache-control"], "no-store");
        assert_eq!(err.headers()["x-content-type-options"], "nosniff");
        // Complete bodies declare their length (no chunked encoding).
        assert_eq!(resp.headers()["content-length"], "7");
        assert_eq!(
            err.headers()["content-length"].to_str().unwrap(),
            err.body().len().to_string()
        );
    }

    #[test]
    fn error_is_the_envelope_with_matching_request_id() {
        let resp = ctx().error(StatusCode::NOT_FOUND, codes::NOT_FOUND, "nope");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()["x-request-id"], "req-1");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(
            resp.body(),
            r#"{"statusCode":404,"errorCode":"NOT_FOUND","message":"nope","timestamp":"2026-11-24T10:00:00.123Z","requestId":"req-1"}"#
        );
    }

    #[test]
    fn envelope_with_details() {
        let c = ctx();
        let env = c
            .envelope(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::SERVICE_UNAVAILABLE,
                "down",
            )
            .with_details(json!({"x": true}));
        let resp = c.error_response(&env);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(&resp)["details"], json!({"x": true}));
        assert_eq!(body(&resp)["statusCode"], 503);
    }

    #[test]
    fn method_not_allowed_has_allow_header() {
        let resp = ctx().method_not_allowed(&Method::POST, "/x", &[Method::GET, Method::HEAD]);
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()["allow"], "GET, HEAD");
        assert_eq!(resp.headers()["x-request-id"], "req-1");
        let b = body(&resp);
        assert_eq!(b["errorCode"], "METHOD_NOT_ALLOWED");
        assert_eq!(b["statusCode"], 405);
        assert_eq!(
            b["message"],
            "method POST is not allowed on /x; allowed: GET, HEAD"
        );
    }

    #[test]
    fn not_found_names_method_and_path() {
        let resp = ctx().not_found(&Method::GET, "/api/v1/gateway/nope");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body(&resp)["message"],
            "no route for GET /api/v1/gateway/nope"
        );
    }

    #[test]
    fn unserializable_body_becomes_500_envelope() {
        let mut bad = std::collections::HashMap::new();
        bad.insert((1, 2), 3); // tuple keys are not valid JSON object keys
        let resp = ctx().json(StatusCode::OK, &bad);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(&resp)["errorCode"], "INTERNAL_ERROR");
    }
}
