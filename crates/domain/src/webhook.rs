//! Webhooks (issue 17 §3, "notify"): what an endpoint may be, how a
//! delivery is signed, and when a failed one is tried again.
//!
//! - An endpoint's URL must be `http(s)` on the deployment's one allowed
//!   webhook origin (the `webhook_origin` variable, which spin.toml also
//!   grants as an outbound host): Spin refuses any other destination, so
//!   an endpoint it would refuse is refused at creation instead of failing
//!   every delivery.
//! - The signature is Stripe's scheme: `t=<unix seconds>,v1=<hex
//!   HMAC-SHA256(secret, "<t>.<raw body>")>`; the timestamp is signed with
//!   the body, so a receiver can refuse replays of old deliveries.
//! - A delivery is tried at most [`MAX_ATTEMPTS`] times automatically,
//!   after the backoff [`retry_delay_ms`] (10 s, 1 min, 5 min, 30 min, 2 h
//!   at the default base), then it is `failed`.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::validation::{FieldError, codes};

/// The event the regression watch sends when it reaches a regression
/// verdict (modes `notify` and `rollback`).
pub const EVENT_WATCH_REGRESSION: &str = "watch.regression";
/// Every event an endpoint may subscribe to.
pub const EVENTS: &[&str] = &[EVENT_WATCH_REGRESSION];

/// The prefix of signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "PromptHelm-Signature";
/// The header naming the event type.
pub const EVENT_HEADER: &str = "PromptHelm-Event";
/// The header naming the delivery (the same on every attempt).
pub const DELIVERY_HEADER: &str = "PromptHelm-Delivery";

/// Endpoints an organization may have: every regression is sent to each,
/// on the caller's path (see docs/API.md "Webhooks").
pub const MAX_WEBHOOKS: usize = 10;
/// Longest URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// Automatic attempts of one delivery before it is `failed`.
pub const MAX_ATTEMPTS: u32 = 6;
/// The delay after each failed attempt, in units of the backoff base
/// (10 s by default): 10 s, 1 min, 5 min, 30 min, 2 h.
const BACKOFF_STEPS: [i64; (MAX_ATTEMPTS - 1) as usize] = [1, 6, 30, 180, 720];
/// The default backoff base, in seconds (variable `webhook_retry_base_seconds`).
pub const DEFAULT_BACKOFF_BASE_SECS: u64 = 10;

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its first or next attempt.
    Pending,
    /// A 2xx answered an attempt.
    Delivered,
    /// Every automatic attempt failed (a manual retry may still send it).
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Pending, State::Delivered, State::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// The delay (ms) before the next attempt after attempt number `attempt`
/// (1-based) failed, or `None` when it was the last automatic one.
pub fn retry_delay_ms(attempt: u32, base_secs: u64) -> Option<i64> {
    let step = BACKOFF_STEPS.get(usize::try_from(attempt.checked_sub(1)?).ok()?)?;
    let base_ms = i64::try_from(base_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    Some(step.saturating_mul(base_ms))
}

/// Where a delivery stands after attempt number `attempt` ended at `now`:
/// delivered, due again after the backoff, or failed.
pub fn after_attempt(
    attempt: u32,
    succeeded: bool,
    now: i64,
    base_secs: u64,
) -> (State, Option<i64>) {
    if succeeded {
        return (State::Delivered, None);
    }
    match retry_delay_ms(attempt, base_secs) {
        Some(delay) => (State::Pending, Some(now.saturating_add(delay))),
        None => (State::Failed, None),
    }
}

/// Whether a receiver's status acknowledges a delivery: any 2xx.
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// A signing secret: `whsec_` and the 32 random bytes as 64 hex digits.
pub fn format_secret(random: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(random))
}

/// The `v1` signature: hex HMAC-SHA256 under `secret` (the whole
/// `whsec_…` string, as the receiver has it) of `"<t>.<body>"`.
pub fn signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `PromptHelm-Signature` value: `t=<unix seconds>,v1=<signature>`.
pub fn signature_header(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp_secs},v1={}",
        signature(secret, timestamp_secs, body)
    )
}

/// What a receiver does: whether `header` signs `body` under `secret`
/// with a timestamp at most `tolerance_secs` from `now_secs`. Compared in
/// constant time (`Mac::verify_slice`).
pub fn verify(header: &str, secret: &str, body: &[u8], now_secs: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now_secs - t).abs() > tolerance_secs {
        return false;
    }
    signatures.into_iter().any(|v| {
        let Ok(expected) = hex::decode(v) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// The body of `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

/// An endpoint, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// `scheme://host[:port]` of an http(s) URL, lowercased, the scheme's
/// default port left out (so `https://x:443` and `https://x` are one
/// origin); `None` for anything else.
pub fn origin(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// Whether the deployment allows webhook destinations at all: the
/// default `webhook_origin` is on `.invalid`, a name that never resolves
/// (RFC 6761), which the manifest needs because an allowed host cannot be
/// empty.
pub fn origin_configured(allowed_origin: &str) -> bool {
    origin(allowed_origin).is_some_and(|o| {
        let host = o
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        !(host == "invalid" || host.ends_with(".invalid"))
    })
}

/// Checks a new endpoint: `url` an http(s) URL without credentials or
/// fragment on `allowed_origin`; `events` known, each once (default
/// `["watch.regression"]`); `description` at most
/// [`MAX_DESCRIPTION_LEN`] characters. Every problem at once.
pub fn validate(input: WebhookInput, allowed_origin: &str) -> Result<NewWebhook, Vec<FieldError>> {
    let mut errors = Vec::new();
    let url = input.url.unwrap_or_default().trim().to_owned();
    if url.is_empty() {
        errors.push(FieldError::new("url", codes::REQUIRED, "url is required"));
    } else if url.len() > MAX_URL_LEN {
        errors.push(FieldError::new(
            "url",
            codes::TOO_LONG,
            format!("url may have at most {MAX_URL_LEN} bytes"),
        ));
    } else {
        match url::Url::parse(&url) {
            Err(e) => errors.push(FieldError::new(
                "url",
                codes::INVALID_FORMAT,
                format!("url is not a URL: {e}"),
            )),
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => errors.push(
                FieldError::new("url", codes::INVALID_FORMAT, "url must be http or https"),
            ),
            Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => errors
                .push(FieldError::new(
                    "url",
                    codes::INVALID_FORMAT,
                    "url may not carry credentials: verify deliveries by their signature",
                )),
            Ok(parsed) if parsed.fragment().is_some() => errors.push(FieldError::new(
                "url",
                codes::INVALID_FORMAT,
                "url may not have a #fragment",
            )),
            Ok(_) if !origin_configured(allowed_origin) => errors.push(FieldError::new(
                "url",
                codes::UNKNOWN_VALUE,
                "this deployment allows no webhook destination: set the variable \
                 webhook_origin (SPIN_VARIABLE_WEBHOOK_ORIGIN) to the receiver's \
                 scheme://host[:port]",
            )),
            Ok(_) if origin(&url) != origin(allowed_origin) => errors.push(FieldError::new(
                "url",
                codes::UNKNOWN_VALUE,
                format!(
                    "url must be on the webhook origin this deployment allows ({}): \
                     outbound calls go nowhere else",
                    origin(allowed_origin).unwrap_or_default()
                ),
            )),
            Ok(_) => {}
        }
    }
    let events = input
        .events
        .unwrap_or_else(|| vec![EVENT_WATCH_REGRESSION.to_owned()]);
    if events.is_empty() {
        errors.push(FieldError::new(
            "events",
            codes::REQUIRED,
            "events may not be empty (leave it out for watch.regression)",
        ));
    }
    for (i, event) in events.iter().enumerate() {
        if !EVENTS.contains(&event.as_str()) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                codes::UNKNOWN_VALUE,
                format!("unknown event {event:?}: one of {}", EVENTS.join(", ")),
            ));
        } else if events[..i].contains(event) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                codes::DUPLICATE,
                format!("event {event:?} is listed twice"),
            ));
        }
    }
    let description = input
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN)
    {
        errors.push(FieldError::new(
            "description",
            codes::TOO_LONG,
            format!("description may have at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    if errors.is_empty() {
        Ok(NewWebhook {
            url,
            events,
            description,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &str = "https://hooks.example.com";

    fn input(url: &str) -> WebhookInput {
        WebhookInput {
            url: Some(url.to_owned()),
            ..WebhookInput::default()
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac whsec_test
        let header = signature_header("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            header,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert!(verify(
            &header,
            "whsec_test",
            br#"{"a":1}"#,
            1_700_000_100,
            300
        ));
        // Another body, secret, or an old timestamp: refused.
        assert!(!verify(
            &header,
            "whsec_test",
            br#"{"a":2}"#,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            &header,
            "whsec_other",
            br#"{"a":1}"#,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            &header,
            "whsec_test",
            br#"{"a":1}"#,
            1_700_001_000,
            300
        ));
        assert!(!verify("v1=00", "whsec_test", b"", 0, 300));
    }

    #[test]
    fn backoff_follows_the_schedule_then_fails() {
        let delays: Vec<Option<i64>> = (1..=6).map(|n| retry_delay_ms(n, 10)).collect();
        assert_eq!(
            delays,
            [
                Some(10_000),
                Some(60_000),
                Some(300_000),
                Some(1_800_000),
                Some(7_200_000),
                None
            ]
        );
        assert_eq!(retry_delay_ms(0, 10), None);
        assert_eq!(retry_delay_ms(1, 1), Some(1_000));
        assert_eq!(
            after_attempt(1, false, 1_000, 1),
            (State::Pending, Some(2_000))
        );
        assert_eq!(after_attempt(2, true, 1_000, 1), (State::Delivered, None));
        assert_eq!(
            after_attempt(MAX_ATTEMPTS, false, 1_000, 1),
            (State::Failed, None)
        );
        // Manual retries past the last attempt stay failed.
        assert_eq!(after_attempt(9, false, 1_000, 1), (State::Failed, None));
    }

    #[test]
    fn only_2xx_is_success() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(199) && !is_success(301) && !is_success(500));
    }

    #[test]
    fn origins_are_normalized() {
        assert_eq!(
            origin("HTTPS://Hooks.Example.com:443/a?b").as_deref(),
            Some(ALLOWED)
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("ftp://x"), None);
        assert_eq!(origin("not a url"), None);
        assert!(origin_configured(ALLOWED));
        assert!(!origin_configured("https://webhooks.invalid"));
        assert!(!origin_configured(""));
    }

    #[test]
    fn a_good_endpoint_takes_defaults() {
        let hook = validate(input("https://hooks.example.com/prompthelm"), ALLOWED).unwrap();
        assert_eq!(hook.url, "https://hooks.example.com/prompthelm");
        assert_eq!(hook.events, [EVENT_WATCH_REGRESSION]);
        assert_eq!(hook.description, None);
    }

    #[test]
    fn bad_endpoints_name_every_problem() {
        let field = |url: &str| {
            let errors = validate(input(url), ALLOWED).unwrap_err();
            (errors[0].field.clone(), errors[0].code.clone())
        };
        assert_eq!(field(""), ("url".into(), codes::REQUIRED.into()));
        assert_eq!(field("nope"), ("url".into(), codes::INVALID_FORMAT.into()));
        assert_eq!(
            field("ftp://hooks.example.com/"),
            ("url".into(), codes::INVALID_FORMAT.into())
        );
        assert_eq!(
            field("https://u:p@hooks.example.com/"),
            ("url".into(), codes::INVALID_FORMAT.into())
        );
        assert_eq!(
            field("https://hooks.example.com/#x"),
            ("url".into(), codes::INVALID_FORMAT.into())
        );
        assert_eq!(
            field("https://evil.example.com/"),
            ("url".into(), codes::UNKNOWN_VALUE.into())
        );
        assert_eq!(
            field("http://hooks.example.com/"),
            ("url".into(), codes::UNKNOWN_VALUE.into())
        );
        assert_eq!(
            field(&format!(
                "https://hooks.example.com/{}",
                "a".repeat(MAX_URL_LEN)
            )),
            ("url".into(), codes::TOO_LONG.into())
        );
        let unconfigured = validate(
            input("https://webhooks.invalid/x"),
            "https://webhooks.invalid",
        )
        .unwrap_err();
        assert!(unconfigured[0].message.contains("webhook_origin"));

        let errors = validate(
            WebhookInput {
                url: None,
                events: Some(vec![
                    "watch.regression".into(),
                    "nope".into(),
                    "watch.regression".into(),
                ]),
                description: Some("d".repeat(MAX_DESCRIPTION_LEN + 1)),
            },
            ALLOWED,
        )
        .unwrap_err();
        let fields = crate::validation::fields_and_codes(&errors);
        assert_eq!(
            fields,
            [
                ("url", codes::REQUIRED),
                ("events[1]", codes::UNKNOWN_VALUE),
                ("events[2]", codes::DUPLICATE),
                ("description", codes::TOO_LONG),
            ]
        );
        let empty = validate(
            WebhookInput {
                events: Some(vec![]),
                ..input("https://hooks.example.com/")
            },
            ALLOWED,
        )
        .unwrap_err();
        assert_eq!(empty[0].field, "events");
    }

    #[test]
    fn secrets_have_their_prefix_and_64_hex() {
        let secret = format_secret([0xab; 32]);
        assert_eq!(secret.len(), SECRET_PREFIX.len() + 64);
        assert!(secret.starts_with("whsec_abab"));
    }
}
