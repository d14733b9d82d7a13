//! [`ApiError`]: an error a handler returns, already decided as to status,
//! code and message, so that `?` can carry it up to the one place that turns
//! it into the envelope ([`RequestContext::api_error`]).

use http::StatusCode;
use prompthelm_domain::envelope::codes;
use prompthelm_domain::validation::FieldError;

use crate::{JsonResponse, RequestContext};

/// An error on its way to becoming an envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Adds `details` to the envelope.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }

    /// 404 with a resource's own code (`PROMPT_NOT_FOUND`, ...).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 405 `METHOD_NOT_ALLOWED` naming the methods `path` takes; answer it
    /// through [`crate::with_allow`] so the `Allow` header says the same.
    pub fn method_not_allowed(method: &http::Method, path: &str, allowed: &[http::Method]) -> Self {
        let allow = crate::response::allow_list(allowed);
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {path}; allowed: {allow}"),
        )
    }

    /// 409 with its own code (`SLUG_TAKEN`, ...).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 400 `VALIDATION_ERROR`: the body or query could not be read at all
    /// (malformed JSON, a wrong type, an unknown parameter) or a query
    /// value is out of its range. Named for the code it sends; field
    /// problems of a readable body are [`ApiError::invalid_fields`] (422).
    pub fn validation_error(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::VALIDATION_ERROR, message)
    }

    /// 422 `VALIDATION_ERROR` listing every field problem in
    /// `details.errors`; the message names the first one and the count.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [] => "the request is invalid".to_owned(),
            [only] => format!("{}: {}", only.field, only.message),
            [first, rest @ ..] => format!(
                "{}: {} (and {} more problem{})",
                first.field,
                first.message,
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::VALIDATION_ERROR,
            message,
        )
        .with_details(serde_json::json!({ "errors": errors }))
    }

    /// 500 `INTERNAL_ERROR`: something on our side is wrong (a bug).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_ERROR,
            message,
        )
    }

    /// 503 `SERVICE_UNAVAILABLE`: a dependency is not answering.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVICE_UNAVAILABLE,
            message,
        )
    }
}

impl From<spin_sdk::sqlite::Error> for ApiError {
    /// A database error. "Locked" and "busy" mean contention that outlasted
    /// the busy timeout, so the client may retry (503); anything else is a
    /// query or schema the code got wrong (500).
    fn from(e: spin_sdk::sqlite::Error) -> Self {
        let text = crate::host_errors::sqlite(&e);
        if text.contains("locked") || text.contains("busy") {
            Self::unavailable("the database is busy; retry")
        } else {
            // The text stays in the server log (see `api_error`), never in
            // the body: it can quote the schema or a row's values.
            Self::internal(format!("database error: {text}"))
        }
    }
}

impl From<spin_sdk::key_value::Error> for ApiError {
    fn from(e: spin_sdk::key_value::Error) -> Self {
        Self::unavailable(format!(
            "key-value store error: {}",
            crate::host_errors::key_value(&e)
        ))
    }
}

impl RequestContext {
    /// The envelope for `error`, as a response.
    ///
    /// A 500 is a bug on our side, and its message may quote a database
    /// error, a query or a row's values: the caller gets a generic message
    /// with the request id, and the message goes to stderr (the component's
    /// log under Spin) with the same request id.
    pub fn api_error(&self, error: &ApiError) -> JsonResponse {
        if error.status == StatusCode::INTERNAL_SERVER_ERROR {
            eprintln!(
                "request {}: {} {}: {}",
                self.request_id(),
                error.status.as_u16(),
                error.code,
                error.message
            );
            return self.error(
                error.status,
                error.code,
                format!(
                    "internal error; the server log has the details under request id {}",
                    self.request_id()
                ),
            );
        }
        let mut envelope = self.envelope(error.status, error.code, error.message.clone());
        if let Some(details) = &error.details {
            envelope = envelope.with_details(details.clone());
        }
        self.error_response(&envelope)
    }

    /// `result` as a response: the value as JSON with `status`, or the error
    /// as its envelope.
    pub fn respond<T: serde::Serialize>(
        &self,
        status: StatusCode,
        result: Result<T, ApiError>,
    ) -> JsonResponse {
        match result {
            Ok(body) => self.json(status, &body),
            Err(e) => self.api_error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ctx() -> RequestContext {
        RequestContext::new(Some("req-1"), || [0; 16], 0)
    }

    #[test]
    fn field_errors_become_a_422_listing_each() {
        let err = ApiError::invalid_fields(vec![
            FieldError::new("temperature", "OUT_OF_RANGE", "temperature must be 0 to 2"),
            FieldError::new("model", "REQUIRED", "a model is required"),
        ]);
        let resp = ctx().api_error(&err);
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = serde_json::from_str(resp.body()).unwrap();
        assert_eq!(body["errorCode"], "VALIDATION_ERROR");
        assert_eq!(
            body["message"],
            "temperature: temperature must be 0 to 2 (and 1 more problem)"
        );
        assert_eq!(body["details"]["errors"][1]["field"], "model");
        assert_eq!(body["requestId"], "req-1");
        assert_eq!(resp.headers()["x-request-id"], "req-1");
    }

    #[test]
    fn database_contention_is_retryable_and_other_errors_are_ours() {
        let busy = ApiError::from(spin_sdk::sqlite::Error::Io("database is locked".into()));
        assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!busy.message.contains("io error"), "{}", busy.message);
        let bug = ApiError::from(spin_sdk::sqlite::Error::Io("no such column: x".into()));
        assert_eq!(bug.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(bug.message.contains("no such column"));
    }

    #[test]
    fn a_500_body_says_nothing_but_the_request_id() {
        let secret = "UNIQUE constraint failed: api_tokens.token_hash 'phk_0123'";
        let err = ApiError::internal(format!("database error: {secret}"))
            .with_details(serde_json::json!({"row": secret}));
        let resp = ctx().api_error(&err);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!resp.body().contains("UNIQUE"), "{}", resp.body());
        assert!(!resp.body().contains("phk_"), "{}", resp.body());
        let body: Value = serde_json::from_str(resp.body()).unwrap();
        assert_eq!(body["errorCode"], "INTERNAL_ERROR");
        assert_eq!(body["requestId"], "req-1");
        assert!(body["message"].as_str().unwrap().contains("req-1"));
        assert!(body.get("details").is_none());
        // Other statuses keep their message and details.
        let resp = ctx().api_error(&ApiError::validation_error("limit must be 1 to 200"));
        assert!(resp.body().contains("limit must be 1 to 200"));
    }

    #[test]
    fn respond_serializes_or_envelopes() {
        let ok = ctx().respond(
            StatusCode::CREATED,
            Ok::<_, ApiError>(serde_json::json!({"a": 1})),
        );
        assert_eq!(ok.status(), StatusCode::CREATED);
        assert_eq!(ok.body(), r#"{"a":1}"#);
        let err = ctx().respond::<()>(StatusCode::OK, Err(ApiError::unauthorized("no token")));
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert!(err.body().contains(r#""errorCode":"UNAUTHORIZED""#));
    }
}
