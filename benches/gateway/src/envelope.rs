//! Error answers, told in one line for a bench's messages.

use serde_json::Value;

/// `404 NOT_FOUND: <message>` from the error envelope, or the raw body.
pub fn describe_failure(status: u16, body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(envelope) if envelope["errorCode"].is_string() => format!(
            "{status} {}: {}",
            envelope["errorCode"].as_str().unwrap_or_default(),
            envelope["message"].as_str().unwrap_or_default()
        ),
        _ => format!("{status}: {}", body.chars().take(300).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_status_and_the_error_code() {
        let envelope = r#"{"statusCode":404,"errorCode":"NOT_FOUND","message":"No route","requestId":"req_1"}"#;
        assert_eq!(describe_failure(404, envelope), "404 NOT_FOUND: No route");
        assert_eq!(describe_failure(502, "Bad Gateway"), "502: Bad Gateway");
    }
}
