//! The sticky canary, before any I/O: a prompt's production traffic split
//! between the production version and one candidate (issue 17 §2).
//!
//! - The start/update body `{"versionId", "percent", "stickyBy"}` and its
//!   validation ([`CanaryRequest::validate`]).
//! - The split ([`is_canary`]): a call is on the canary arm iff the bucket
//!   of its key, the first 8 bytes of SHA-256(`prompt_id` "\n" key) as a
//!   big-endian u64 mod 10,000, is below `percent` × 100. Deterministic, so
//!   the same user gets the same arm on every replica, after restarts, and
//!   as the percent only grows (a user on the canary at 10 % stays on it at
//!   30 %). Keying by prompt id as well decorrelates prompts: one user is
//!   not on every canary at once.
//! - Which key a call splits by ([`split_key`]): with `stickyBy: user` the
//!   body's `userId`, else the `X-PromptHelm-User-Id` header, else the
//!   request id (per request); with `stickyBy: request` always the request
//!   id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::validation::{FieldError, codes};

/// The header SDKs that cannot add body fields use for the sticky key.
pub const USER_ID_HEADER: &str = "x-prompthelm-user-id";
/// Longest `userId` (body or header), in characters.
pub const MAX_USER_ID_CHARS: usize = 256;
/// The split's resolution: 10,000 buckets, so `percent` × 100 of them are
/// the canary's.
pub const BUCKETS: u64 = 10_000;

/// What makes a caller's arm sticky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StickyBy {
    /// The caller's `userId` (or header): the same user, the same arm.
    User,
    /// Each request on its own.
    Request,
}

impl StickyBy {
    pub fn as_str(self) -> &'static str {
        match self {
            StickyBy::User => "user",
            StickyBy::Request => "request",
        }
    }

    pub fn parse(s: &str) -> Option<StickyBy> {
        match s {
            "user" => Some(StickyBy::User),
            "request" => Some(StickyBy::Request),
            _ => None,
        }
    }
}

/// The body of `POST /api/v1/prompts/:id/canary`. Types are loose here so a
/// wrong value is a field error (422) naming the field, not a parse error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryRequest {
    pub version_id: Option<String>,
    pub percent: Option<serde_json::Value>,
    pub sticky_by: Option<String>,
}

/// A valid start/update: `sticky_by` is `None` when the body left it out
/// (a start then takes `user`, an update keeps the running one's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanarySettings {
    pub version_id: String,
    pub percent: u8,
    pub sticky_by: Option<StickyBy>,
}

impl CanaryRequest {
    /// Every problem at once: `versionId` required and non-empty, `percent`
    /// an integer 0..=100, `stickyBy` `user` or `request`.
    pub fn validate(&self) -> Result<CanarySettings, Vec<FieldError>> {
        let mut errors = Vec::new();
        let version_id = match self.version_id.as_deref() {
            None | Some("") => {
                errors.push(FieldError::new(
                    "versionId",
                    codes::REQUIRED,
                    "versionId (the candidate version) is required",
                ));
                String::new()
            }
            Some(id) => id.to_owned(),
        };
        let percent = match &self.percent {
            None => {
                errors.push(FieldError::new(
                    "percent",
                    codes::REQUIRED,
                    "percent (0 to 100) is required",
                ));
                0
            }
            Some(value) => match value.as_u64().and_then(|n| u8::try_from(n).ok()) {
                Some(n) if n <= 100 => n,
                _ => {
                    errors.push(FieldError::new(
                        "percent",
                        codes::OUT_OF_RANGE,
                        "percent must be an integer from 0 to 100",
                    ));
                    0
                }
            },
        };
        let sticky_by = match self.sticky_by.as_deref() {
            None => None,
            Some(name) => match StickyBy::parse(name) {
                Some(sticky_by) => Some(sticky_by),
                None => {
                    errors.push(FieldError::new(
                        "stickyBy",
                        codes::UNKNOWN_VALUE,
                        format!("stickyBy must be user or request, not {name:?}"),
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CanarySettings {
            version_id,
            percent,
            sticky_by,
        })
    }
}

/// Pushes a field error unless `user_id` is 1 to [`MAX_USER_ID_CHARS`]
/// characters.
pub fn check_user_id(errors: &mut Vec<FieldError>, field: &str, user_id: &str) {
    if user_id.is_empty() {
        errors.push(FieldError::new(
            field,
            codes::REQUIRED,
            format!("{field} is empty"),
        ));
    } else if user_id.chars().nth(MAX_USER_ID_CHARS).is_some() {
        errors.push(FieldError::new(
            field,
            codes::TOO_LONG,
            format!("{field} is longer than {MAX_USER_ID_CHARS} characters"),
        ));
    }
}

/// The key a call splits by. `body_user_id` wins over `header_user_id`
/// when both are given (the body is the more specific of the two); with
/// neither, or with `stickyBy: request`, each request is on its own.
pub fn split_key<'a>(
    sticky_by: StickyBy,
    body_user_id: Option<&'a str>,
    header_user_id: Option<&'a str>,
    request_id: &'a str,
) -> &'a str {
    match sticky_by {
        StickyBy::User => body_user_id.or(header_user_id).unwrap_or(request_id),
        StickyBy::Request => request_id,
    }
}

/// The key's bucket for this prompt, in `0..BUCKETS`.
pub fn bucket(prompt_id: &str, key: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(prompt_id.as_bytes());
    hash.update(b"\n");
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// Whether the call keyed `key` is on the canary arm at `percent`: 0 never,
/// 100 always (without hashing), else by [`bucket`].
pub fn is_canary(prompt_id: &str, key: &str, percent: u8) -> bool {
    match percent {
        0 => false,
        100.. => true,
        p => bucket(prompt_id, key) < u64::from(p) * 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> CanaryRequest {
        serde_json::from_str(json).unwrap()
    }

    use crate::validation::fields_and_codes as fields;

    #[test]
    fn a_body_validates_with_sticky_by_optional() {
        assert_eq!(
            req(r#"{"versionId":"ver_1","percent":30}"#).validate(),
            Ok(CanarySettings {
                version_id: "ver_1".into(),
                percent: 30,
                sticky_by: None
            })
        );
        let s = req(r#"{"versionId":"ver_1","percent":100,"stickyBy":"request"}"#)
            .validate()
            .unwrap();
        assert_eq!((s.percent, s.sticky_by), (100, Some(StickyBy::Request)));
        assert_eq!(
            req(r#"{"versionId":"v","percent":0}"#)
                .validate()
                .unwrap()
                .percent,
            0
        );
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let errors = req(r#"{"percent":101,"stickyBy":"session"}"#)
            .validate()
            .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("versionId", codes::REQUIRED),
                ("percent", codes::OUT_OF_RANGE),
                ("stickyBy", codes::UNKNOWN_VALUE)
            ]
        );
        for bad in ["-1", "30.5", "\"30\"", "true", "256", "1e2"] {
            let errors = req(&format!(r#"{{"versionId":"v","percent":{bad}}}"#))
                .validate()
                .unwrap_err();
            assert_eq!(fields(&errors), [("percent", codes::OUT_OF_RANGE)], "{bad}");
        }
        let errors = req(r#"{"versionId":""}"#).validate().unwrap_err();
        assert_eq!(
            fields(&errors),
            [("versionId", codes::REQUIRED), ("percent", codes::REQUIRED)]
        );
        assert!(serde_json::from_str::<CanaryRequest>(r#"{"sticky_by":"user"}"#).is_err());
    }

    #[test]
    fn user_ids_are_1_to_256_characters() {
        let check = |id: &str| {
            let mut errors = Vec::new();
            check_user_id(&mut errors, "userId", id);
            errors.into_iter().map(|e| e.code).collect::<Vec<_>>()
        };
        assert!(check("u").is_empty());
        assert!(check(&"é".repeat(256)).is_empty(), "characters, not bytes");
        assert_eq!(check(""), [codes::REQUIRED]);
        assert_eq!(check(&"a".repeat(257)), [codes::TOO_LONG]);
    }

    #[test]
    fn the_key_is_the_body_then_the_header_then_the_request() {
        use StickyBy::{Request, User};
        assert_eq!(split_key(User, Some("b"), Some("h"), "req"), "b");
        assert_eq!(split_key(User, None, Some("h"), "req"), "h");
        assert_eq!(split_key(User, None, None, "req"), "req");
        assert_eq!(split_key(Request, Some("b"), Some("h"), "req"), "req");
    }

    #[test]
    fn the_bucket_is_the_documented_hash() {
        // SHA-256("prm_1\nalice"), first 8 bytes big-endian, mod 10,000;
        // pinned so a change to the split (which would move users between
        // arms on a deploy) fails here; 6034 is what Python's hashlib gives.
        let digest = Sha256::digest(b"prm_1\nalice");
        let expected = u64::from_be_bytes(digest[..8].try_into().unwrap()) % BUCKETS;
        assert_eq!(bucket("prm_1", "alice"), expected);
        assert_eq!(bucket("prm_1", "alice"), 6_034);
        assert_ne!(bucket("prm_2", "alice"), bucket("prm_1", "alice"));
    }

    #[test]
    fn the_same_key_always_gets_the_same_arm() {
        for user in 0..200 {
            let key = format!("user-{user}");
            let first = is_canary("prm_x", &key, 30);
            assert!((0..20).all(|_| is_canary("prm_x", &key, 30) == first));
            // Growing the canary keeps its users on it.
            if first {
                assert!(is_canary("prm_x", &key, 31) && is_canary("prm_x", &key, 100));
            }
        }
    }

    #[test]
    fn ten_percent_is_nine_to_eleven_percent_of_10000_keys() {
        let on = (0..10_000)
            .filter(|i| is_canary("prm_split", &format!("user-{i}"), 10))
            .count();
        assert!((900..=1_100).contains(&on), "{on} of 10000 on the canary");
    }

    #[test]
    fn zero_is_never_and_100_is_always() {
        for i in 0..2_000 {
            let key = format!("k{i}");
            assert!(!is_canary("prm_1", &key, 0));
            assert!(is_canary("prm_1", &key, 100));
        }
        assert!(!is_canary("prm_1", "", 0));
        assert!(is_canary("prm_1", "", 100));
    }
}
