//! The error envelope: the one JSON shape every PromptHelm error takes on the
//! wire (DESIGN.md §2).
//!
//! ```json
//! {"statusCode":404,"errorCode":"NOT_FOUND","message":"...","timestamp":"2026-11-24T10:00:00.123Z","requestId":"req_..."}
//! ```
//!
//! `details` is added only when there is something to say. The same request
//! id is sent in the `X-Request-Id` response header; adding that header is
//! the caller's job (see `prompthelm-component-kit`, or the runtime host for
//! the envelope it builds when a guest traps).

use serde::{Deserialize, Serialize};

/// Error codes used in [`ErrorEnvelope::error_code`].
///
/// Public client SDKs switch on these strings: never rename one.
pub mod codes {
    /// Something failed on our side (a bug, or a guest that trapped): 500.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    /// The database schema is behind this build and could not be brought
    /// up to date (the message says why): 503.
    pub const SCHEMA_NOT_READY: &str = "SCHEMA_NOT_READY";
    /// A dependency (database, key-value store) is not answering: 503.
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    /// No such route or resource: 404.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The route exists but not for this method: 405 (with `Allow`).
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// No token, a malformed, unknown or revoked one: 401.
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    /// A valid token without the scope the endpoint needs: 403.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// The request body or query is malformed (400) or breaks a field rule
    /// (422, with the list of problems in `details.errors`).
    pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    /// The request body is larger than any endpoint reads: 413.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// No prompt with this id (or slug) in the caller's organization: 404.
    pub const PROMPT_NOT_FOUND: &str = "PROMPT_NOT_FOUND";
    /// No version with this id in this prompt: 404.
    pub const VERSION_NOT_FOUND: &str = "VERSION_NOT_FOUND";
    /// No token with this id in the caller's organization: 404.
    pub const TOKEN_NOT_FOUND: &str = "TOKEN_NOT_FOUND";
    /// The organization already has a prompt with this slug: 409.
    pub const SLUG_TAKEN: &str = "SLUG_TAKEN";
    /// The prompt is archived, so it takes no new versions or promotions
    /// (and the gateway does not execute it): 409.
    pub const PROMPT_ARCHIVED: &str = "PROMPT_ARCHIVED";
    /// A promote's `expectedCurrentVersionId` is not what production points
    /// at (someone else promoted meanwhile); nothing was changed: 409.
    pub const PRECONDITION_FAILED: &str = "PRECONDITION_FAILED";
    /// The prompt's requested environment points at no version yet (never
    /// promoted, or never saved for development): 409.
    pub const NO_VERSION_IN_ENVIRONMENT: &str = "NO_VERSION_IN_ENVIRONMENT";
    /// Required prompt variables without a value or default: 422.
    pub const GATEWAY_MISSING_VARIABLES: &str = "GATEWAY_MISSING_VARIABLES";
    /// The rendered system and user texts would exceed the gateway's cap
    /// (`gateway::MAX_RENDERED_BYTES`): 422, logged like any failed call.
    pub const RENDERED_PROMPT_TOO_LARGE: &str = "RENDERED_PROMPT_TOO_LARGE";
    /// No provider serves the requested model: 422.
    pub const UNSUPPORTED_MODEL: &str = "UNSUPPORTED_MODEL";
    /// The token started too many gateway calls this minute: 429.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The provider answered an error status: 502.
    pub const UPSTREAM_FAILURE: &str = "UPSTREAM_FAILURE";
    /// The provider could not be reached: 502.
    pub const UPSTREAM_UNREACHABLE: &str = "UPSTREAM_UNREACHABLE";
    /// The provider's body is not in its documented format: 502.
    pub const UPSTREAM_MALFORMED: &str = "UPSTREAM_MALFORMED";
    /// The provider's body or stream ended before completion: 502.
    pub const UPSTREAM_TRUNCATED: &str = "UPSTREAM_TRUNCATED";
    /// The provider's API key is not configured: 503.
    pub const PROVIDER_NOT_CONFIGURED: &str = "PROVIDER_NOT_CONFIGURED";
    /// The provider did not finish within the call's timeout: 504.
    pub const PROVIDER_TIMEOUT: &str = "PROVIDER_TIMEOUT";
    /// The execution-log filter expression (`q`) is not in the filter
    /// language: 400, the message naming the problem.
    pub const INVALID_FILTER: &str = "INVALID_FILTER";
    /// The prompt has no running canary (`DELETE /prompts/:id/canary`): 404.
    pub const CANARY_NOT_FOUND: &str = "CANARY_NOT_FOUND";
    /// A canary's candidate is the production version already: 409.
    pub const CANARY_IS_PRODUCTION: &str = "CANARY_IS_PRODUCTION";
    /// No execution log with this id in the caller's organization: 404.
    pub const EXECUTION_LOG_NOT_FOUND: &str = "EXECUTION_LOG_NOT_FOUND";
    /// No webhook endpoint with this id in the caller's organization: 404.
    pub const WEBHOOK_NOT_FOUND: &str = "WEBHOOK_NOT_FOUND";
    /// No delivery with this id for this webhook endpoint: 404.
    pub const DELIVERY_NOT_FOUND: &str = "DELIVERY_NOT_FOUND";
    /// The organization has as many webhook endpoints as allowed: 409.
    pub const TOO_MANY_WEBHOOKS: &str = "TOO_MANY_WEBHOOKS";
    /// An attempt of this delivery is in flight; retry after it: 409.
    pub const DELIVERY_IN_FLIGHT: &str = "DELIVERY_IN_FLIGHT";
}

/// The wire error envelope. Field order and names are part of the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    /// The HTTP status code of the response carrying this envelope.
    pub status_code: u16,
    /// A stable, machine-readable code, e.g. [`codes::NOT_FOUND`].
    pub error_code: String,
    /// A human-readable explanation. Never contains secrets.
    pub message: String,
    /// When the error was produced, RFC 3339 UTC with milliseconds
    /// (see [`crate::time::rfc3339_millis`]).
    pub timestamp: String,
    /// The request id, the same as the `X-Request-Id` response header.
    pub request_id: String,
    /// Optional structured context; omitted from the JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorEnvelope {
    /// Builds an envelope without details.
    pub fn new(
        status_code: u16,
        error_code: impl Into<String>,
        message: impl Into<String>,
        timestamp: impl Into<String>,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            status_code,
            error_code: error_code.into(),
            message: message.into(),
            timestamp: timestamp.into(),
            request_id: request_id.into(),
            details: None,
        }
    }

    /// Returns the envelope with `details` set.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The envelope as a compact JSON string.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, integers and a `serde_json::Value` cannot
        // fail (there are no maps with non-string keys involved).
        serde_json::to_string(self).expect("an ErrorEnvelope always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ErrorEnvelope {
        ErrorEnvelope::new(
            404,
            codes::NOT_FOUND,
            "no route for GET /api/v1/nope",
            "2026-11-24T10:00:00.123Z",
            "req_00112233445566778899aabbccddeeff",
        )
    }

    #[test]
    fn serializes_exact_wire_shape_without_details() {
        assert_eq!(
            sample().to_json(),
            r#"{"statusCode":404,"errorCode":"NOT_FOUND","message":"no route for GET /api/v1/nope","timestamp":"2026-11-24T10:00:00.123Z","requestId":"req_00112233445566778899aabbccddeeff"}"#
        );
    }

    #[test]
    fn details_appear_only_when_set() {
        let json = sample()
            .with_details(serde_json::json!({"sqlite": {"status": "error"}}))
            .to_json();
        assert!(
            json.ends_with(r#","details":{"sqlite":{"status":"error"}}}"#),
            "{json}"
        );
    }

    #[test]
    fn round_trips_through_serde() {
        let env = sample().with_details(serde_json::json!([1, 2]));
        let back: ErrorEnvelope = serde_json::from_str(&env.to_json()).unwrap();
        assert_eq!(back, env);
        let no_details: ErrorEnvelope = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(no_details.details, None);
    }

    #[test]
    fn codes_are_screaming_snake_case_of_their_names() {
        assert_eq!(codes::INTERNAL_ERROR, "INTERNAL_ERROR");
        assert_eq!(codes::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
        assert_eq!(codes::NOT_FOUND, "NOT_FOUND");
        assert_eq!(codes::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    }
}
