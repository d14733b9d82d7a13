//! API tokens and their scopes (DESIGN.md §2).
//!
//! A token is `phk_` followed by 32 lowercase hex digits (16 random bytes
//! that the caller draws: this crate has no random source). The plaintext is
//! shown once, when minted; only [`hash_token`] of it is ever stored, so a
//! leaked database or KV store yields no usable tokens. The hash is keyed
//! (HMAC-SHA256 with a server secret) so that even a leaked hash table cannot
//! be checked against guesses without the key. Tokens have enough entropy
//! (128 bits) that no slow password hash is needed.
//!
//! Requests present a token as `Authorization: Bearer phk_...`; each endpoint
//! needs one [`Scope`], and [`Scope::Admin`] grants all of them.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::validation::{FieldError, codes};

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "phk_";

/// The length of a token: the prefix and 32 hex digits.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 32;

/// Formats a new token from 16 random bytes: `phk_` + 32 lowercase hex.
pub fn format_token(random: [u8; 16]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(random))
}

/// Whether `s` has the shape of a token: `phk_` followed by exactly 32
/// lowercase hex digits. Checking this before hashing turns garbage into a
/// cheap 401 and keeps arbitrary input out of lookups.
pub fn is_token_format(s: &str) -> bool {
    s.len() == TOKEN_LEN
        && s.strip_prefix(TOKEN_PREFIX).is_some_and(|hex| {
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The stored form of a token: HMAC-SHA256 of `token` under `key`, as 64
/// lowercase hex digits. Deterministic, so a presented token is found by
/// looking up its hash; `key` is the server's secret (a Spin variable).
pub fn hash_token(key: &[u8], token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The token of an `Authorization` header value: the text after a
/// case-insensitive `Bearer ` scheme, with surrounding whitespace trimmed.
/// `None` when the scheme is another one or the token is empty. The token
/// is not checked here; see [`is_token_format`].
pub fn parse_bearer(header: &str) -> Option<&str> {
    const SCHEME: &str = "bearer ";
    let header = header.trim();
    let scheme = header.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = header[SCHEME.len()..].trim();
    (!token.is_empty()).then_some(token)
}

/// A permission a token can hold. Serialized as its wire name, e.g.
/// `"prompts:read"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// `gateway:execute`: run prompts through the gateway.
    #[serde(rename = "gateway:execute")]
    GatewayExecute,
    /// `prompts:read`: read prompts, versions and comparisons.
    #[serde(rename = "prompts:read")]
    PromptsRead,
    /// `prompts:write`: create prompts, save versions, promote.
    #[serde(rename = "prompts:write")]
    PromptsWrite,
    /// `analytics:read`: read analytics and execution logs.
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    /// `audit:read`: read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// `feedback:write`: send feedback on executions and product signals
    /// of prompts (a backend forwarding its users' thumbs, a ticketing
    /// system), without any other power.
    #[serde(rename = "feedback:write")]
    FeedbackWrite,
    /// `admin`: everything, including managing tokens.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in documentation order.
    pub const ALL: [Scope; 7] = [
        Scope::GatewayExecute,
        Scope::PromptsRead,
        Scope::PromptsWrite,
        Scope::AnalyticsRead,
        Scope::AuditRead,
        Scope::FeedbackWrite,
        Scope::Admin,
    ];

    /// The wire name, e.g. `prompts:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::GatewayExecute => "gateway:execute",
            Scope::PromptsRead => "prompts:read",
            Scope::PromptsWrite => "prompts:write",
            Scope::AnalyticsRead => "analytics:read",
            Scope::AuditRead => "audit:read",
            Scope::FeedbackWrite => "feedback:write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    /// Parses a wire name, exactly (case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}; known scopes: {}", known_scopes()))
    }
}

fn known_scopes() -> String {
    Scope::ALL.map(Scope::as_str).join(", ")
}

/// Whether a token holding `held` may do what needs `needed`: it holds
/// `needed` itself or [`Scope::Admin`]. No other scope implies another
/// (`prompts:write` does not grant `prompts:read`), so a token does exactly
/// what its list says.
pub fn grants(held: &[Scope], needed: Scope) -> bool {
    held.iter().any(|&s| s == needed || s == Scope::Admin)
}

/// Parses the `scopes` of a token request. The list must not be empty
/// (`REQUIRED` on `scopes`: a token that can do nothing is a mistake), every
/// entry must be a known scope (`UNKNOWN_VALUE` on `scopes[i]`, naming it and
/// the known ones), and duplicates are collapsed, keeping the first
/// occurrence's position.
pub fn parse_scopes(list: &[String]) -> Result<Vec<Scope>, FieldError> {
    if list.is_empty() {
        return Err(FieldError::new(
            "scopes",
            codes::REQUIRED,
            format!("give at least one scope; known scopes: {}", known_scopes()),
        ));
    }
    let mut scopes = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let scope = s.parse::<Scope>().map_err(|message| {
            FieldError::new(format!("scopes[{i}]"), codes::UNKNOWN_VALUE, message)
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn formats_tokens_as_prefix_and_lowercase_hex() {
        let token = format_token([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        assert_eq!(token, "phk_00112233445566778899aabbccddeeff");
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(is_token_format(&token));
        assert!(is_token_format(&format_token([0xAB; 16])));
    }

    #[test]
    fn rejects_malformed_tokens() {
        let good = "phk_00112233445566778899aabbccddeeff";
        for bad in [
            "",
            "phk_",
            "phk_00112233445566778899AABBCCDDEEFF",
            "phk_00112233445566778899aabbccddeef",
            "phk_00112233445566778899aabbccddeeff0",
            "PHK_00112233445566778899aabbccddeeff",
            "pk__00112233445566778899aabbccddeeff",
            "phk_00112233445566778899aabbccddeefg",
            " phk_00112233445566778899aabbccddeef",
            "phk_00112233445566778899aabbccddeeé",
        ] {
            assert!(!is_token_format(bad), "{bad}");
        }
        assert!(is_token_format(good));
    }

    #[test]
    fn hash_is_hmac_sha256_lowercase_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            hash_token(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hash_depends_on_key_and_token_and_never_contains_it() {
        let token = "phk_00112233445566778899aabbccddeeff";
        let h = hash_token(b"key-1", token);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(h, hash_token(b"key-1", token));
        assert_ne!(h, hash_token(b"key-2", token));
        assert_ne!(
            h,
            hash_token(b"key-1", "phk_00112233445566778899aabbccddeefe")
        );
        assert!(!h.contains("00112233445566778899"));
        assert_eq!(hash_token(b"", "").len(), 64);
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(parse_bearer("Bearer phk_abc"), Some("phk_abc"));
        assert_eq!(parse_bearer("bearer phk_abc"), Some("phk_abc"));
        assert_eq!(parse_bearer("BEARER phk_abc"), Some("phk_abc"));
        assert_eq!(parse_bearer("  Bearer   phk_abc  "), Some("phk_abc"));
    }

    #[test]
    fn rejects_other_schemes_and_empty_tokens() {
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Basic dXNlcjpwYXNz",
            "phk_abc",
            "Bearerphk_abc",
            "Token phk_abc",
            "Beärer x",
        ] {
            assert_eq!(parse_bearer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scope_wire_names_round_trip() {
        let names = [
            "gateway:execute",
            "prompts:read",
            "prompts:write",
            "analytics:read",
            "audit:read",
            "feedback:write",
            "admin",
        ];
        assert_eq!(names.len(), Scope::ALL.len());
        for (scope, name) in Scope::ALL.into_iter().zip(names) {
            assert_eq!(scope.as_str(), name);
            assert_eq!(scope.to_string(), name);
            assert_eq!(name.parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_string(&scope).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<Scope>(&format!("\"{name}\"")).unwrap(),
                scope
            );
        }
        assert!("Admin".parse::<Scope>().is_err());
        assert!(
            "prompts:delete"
                .parse::<Scope>()
                .unwrap_err()
                .contains("prompts:delete")
        );
        assert!(serde_json::from_str::<Scope>(r#""GatewayExecute""#).is_err());
    }

    #[test]
    fn admin_grants_everything_and_others_only_themselves() {
        for needed in Scope::ALL {
            assert!(grants(&[Scope::Admin], needed));
            assert!(grants(&[needed], needed));
            assert!(!grants(&[], needed));
        }
        assert!(!grants(&[Scope::PromptsWrite], Scope::PromptsRead));
        // Feedback writers read nothing, and no reader may write feedback.
        assert!(!grants(&[Scope::FeedbackWrite], Scope::AnalyticsRead));
        assert!(!grants(&[Scope::AnalyticsRead], Scope::FeedbackWrite));
        assert!(grants(&[Scope::Admin], Scope::FeedbackWrite));
        assert!(!grants(
            &[Scope::PromptsRead, Scope::AuditRead],
            Scope::Admin
        ));
        assert!(grants(
            &[Scope::PromptsRead, Scope::AuditRead],
            Scope::AuditRead
        ));
    }

    #[test]
    fn parse_scopes_collapses_duplicates_in_first_order() {
        let parsed = parse_scopes(&strings(&["prompts:read", "admin", "prompts:read"])).unwrap();
        assert_eq!(parsed, [Scope::PromptsRead, Scope::Admin]);
    }

    #[test]
    fn parse_scopes_rejects_empty_and_unknown() {
        let empty = parse_scopes(&[]).unwrap_err();
        assert_eq!(
            (empty.field.as_str(), empty.code.as_str()),
            ("scopes", codes::REQUIRED)
        );
        let unknown = parse_scopes(&strings(&["admin", "root"])).unwrap_err();
        assert_eq!(unknown.field, "scopes[1]");
        assert_eq!(unknown.code, codes::UNKNOWN_VALUE);
        assert!(unknown.message.contains("\"root\""), "{}", unknown.message);
        assert!(
            unknown.message.contains("gateway:execute"),
            "{}",
            unknown.message
        );
    }
}
