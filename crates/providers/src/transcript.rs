//! What the execution log stores of a provider exchange: the request sent
//! and the response received (or a stream's raw events), as JSON text with
//! secrets removed and a size cap.
//!
//! Secrets are removed twice over: credential headers are replaced by
//! `[REDACTED]` ([`crate::request::redacted_headers`]), and then every
//! secret value the caller names (the provider keys) is scrubbed from the
//! whole text, wherever a provider or a template might have echoed it.

use http::Request;
use serde_json::{Value, json};

use crate::request::redacted_headers;

/// The most bytes of one stored body; the rest is replaced by a marker.
pub const BODY_CAP: usize = 64 * 1024;

/// What replaces a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// A request as stored: method, URL, redacted headers and body.
pub fn request_record(request: &Request<Vec<u8>>) -> Value {
    json!({
        "method": request.method().as_str(),
        "url": request.uri().to_string(),
        "headers": redacted_headers(request.headers()),
        "body": body_value(request.body()),
    })
}

/// A buffered response as stored: status and body.
pub fn response_record(status: u16, body: &[u8]) -> Value {
    json!({"status": status, "body": body_value(body)})
}

/// A streamed response as stored: status and the raw event text received.
pub fn stream_record(status: u16, transcript: &[u8]) -> Value {
    json!({"status": status, "stream": String::from_utf8_lossy(transcript)})
}

/// JSON bodies are kept as JSON, anything else as (lossy) text.
fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The text to store for `record`: serialized, every non-empty `secret`
/// replaced by [`REDACTED`], then capped at [`BODY_CAP`] bytes with a
/// `…[truncated N bytes]` marker.
pub fn finish(record: &Value, secrets: &[&str]) -> String {
    cap(scrub(&record.to_string(), secrets))
}

/// `text` with every non-empty `secret` replaced by [`REDACTED`].
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret) {
            text = text.replace(secret, REDACTED);
        }
    }
    text
}

/// [`scrub`] for text that arrives in pieces (a stream's deltas): a secret
/// split across two pieces is still replaced, because the tail of each
/// piece that could be the start of a secret is held back until the next
/// piece (or [`StreamScrubber::finish`]) shows what follows.
pub struct StreamScrubber {
    secrets: Vec<String>,
    pending: String,
}

impl StreamScrubber {
    pub fn new(secrets: &[&str]) -> StreamScrubber {
        StreamScrubber {
            secrets: secrets
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| (*s).to_owned())
                .collect(),
            pending: String::new(),
        }
    }

    /// Takes the next piece; returns the text that is safe to send now
    /// (possibly empty).
    pub fn push(&mut self, piece: &str) -> String {
        self.pending.push_str(piece);
        let refs: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let scrubbed = scrub(&self.pending, &refs);
        let keep = self.held_back(&scrubbed);
        self.pending = scrubbed[keep..].to_owned();
        scrubbed[..keep].to_owned()
    }

    /// The rest, at the end of the stream.
    pub fn finish(self) -> String {
        self.pending
    }

    /// Where the longest tail of `text` that is a proper prefix of some
    /// secret starts (`text.len()` when there is none).
    fn held_back(&self, text: &str) -> usize {
        let longest = self
            .secrets
            .iter()
            .flat_map(|secret| {
                (1..secret.len().min(text.len() + 1))
                    .rev()
                    .find(|&n| text.as_bytes().ends_with(&secret.as_bytes()[..n]))
            })
            .max()
            .unwrap_or(0);
        let mut start = text.len() - longest;
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        start
    }
}

/// Cuts `text` to at most [`BODY_CAP`] bytes (at a character boundary) and
/// says how much was dropped.
pub fn cap(mut text: String) -> String {
    if text.len() <= BODY_CAP {
        return text;
    }
    let mut end = BODY_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let dropped = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("…[truncated {dropped} bytes]"));
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stream_scrubber_replaces_secrets_split_across_pieces() {
        let key = "sk-test-0123456789";
        let text = format!("header: Bearer {key} and again {key}!");
        // Every way of cutting the text in three still hides the key.
        for a in 0..text.len() {
            for b in a..text.len() {
                let mut scrubber = StreamScrubber::new(&[key, ""]);
                let mut out = scrubber.push(&text[..a]);
                out += &scrubber.push(&text[a..b]);
                out += &scrubber.push(&text[b..]);
                out += &scrubber.finish();
                assert_eq!(out, "header: Bearer [REDACTED] and again [REDACTED]!");
            }
        }
        // Text that only looks like a key's start is sent once it is clear.
        let mut scrubber = StreamScrubber::new(&[key]);
        assert_eq!(scrubber.push("an sk-"), "an ");
        assert_eq!(scrubber.push("ip"), "sk-ip");
        assert_eq!(scrubber.finish(), "");
    }

    use super::*;
    use crate::request::build;
    use crate::{ChatRequest, Provider};

    #[test]
    fn requests_are_stored_without_their_keys() {
        for provider in [
            Provider::OpenAi,
            Provider::Anthropic,
            Provider::Google,
            Provider::DeepSeek,
        ] {
            let chat = ChatRequest {
                model: "m".into(),
                user: "hi".into(),
                ..ChatRequest::default()
            };
            let request = build(provider, &chat, "http://127.0.0.1:9", "sk-secret-123").unwrap();
            let stored = finish(&request_record(&request), &["sk-secret-123"]);
            assert!(!stored.contains("sk-secret-123"), "{provider:?}: {stored}");
            assert!(stored.contains(REDACTED), "{stored}");
            let value: Value = serde_json::from_str(&stored).unwrap();
            assert_eq!(value["method"], "POST");
            assert!(value["body"].to_string().contains("\"hi\""), "{stored}");
        }
    }

    #[test]
    fn secrets_echoed_anywhere_are_scrubbed() {
        let stored = finish(
            &response_record(401, br#"{"error":{"message":"bad key sk-secret-123"}}"#),
            &["", "sk-secret-123"],
        );
        assert_eq!(
            stored,
            r#"{"body":{"error":{"message":"bad key [REDACTED]"}},"status":401}"#
        );
        let stored = finish(&stream_record(200, b"data: not json\n\n"), &[]);
        assert_eq!(stored, r#"{"status":200,"stream":"data: not json\n\n"}"#);
    }

    #[test]
    fn long_bodies_are_capped_with_a_marker() {
        let long = "é".repeat(BODY_CAP);
        let capped = cap(long.clone());
        assert!(capped.len() < BODY_CAP + 40);
        assert!(capped.ends_with(&format!("…[truncated {} bytes]", long.len() - BODY_CAP)));
        assert_eq!(cap("short".into()), "short");
    }
}
