//! Public ids of stored things: a type prefix and 32 lowercase hex digits
//! drawn from the caller's random source, e.g. `prm_00112233445566778899aabbccddeeff`.
//!
//! The prefix tells a reader what an id names (a prompt, a version, ...) and
//! lets an endpoint turn a malformed id into a plain 404 without a lookup.

/// Prefix of organization ids.
pub const ORGANIZATION: &str = "org_";
/// Prefix of API token ids (not the token itself, which starts with `phk_`).
pub const TOKEN: &str = "tok_";
/// Prefix of prompt ids.
pub const PROMPT: &str = "prm_";
/// Prefix of prompt version ids.
pub const VERSION: &str = "ver_";
/// Prefix of audit entry ids.
pub const AUDIT: &str = "aud_";
/// Prefix of execution ids (the gateway's answers' `id`).
pub const EXECUTION: &str = "exe_";
/// Prefix of feedback ids.
pub const FEEDBACK: &str = "fbk_";
/// Prefix of signal ids.
pub const SIGNAL: &str = "sig_";
/// Prefix of webhook endpoint ids.
pub const WEBHOOK: &str = "whk_";
/// Prefix of webhook delivery ids (the `PromptHelm-Delivery` header).
pub const DELIVERY: &str = "whd_";
/// Prefix of event ids (one regression sent to several endpoints).
pub const EVENT: &str = "evt_";

/// The id of the organization that exists from the first migration on.
pub const DEFAULT_ORGANIZATION: &str = "org_default";

/// A new id: `prefix` followed by `random` as lowercase hex.
pub fn new_id(prefix: &str, random: [u8; 16]) -> String {
    format!("{prefix}{}", hex::encode(random))
}

/// Whether `s` could be an id with `prefix`: the prefix followed by 1 to 64
/// characters of `[a-z0-9_]` (ids minted here are 32 hex digits; the default
/// organization's is `org_default`).
pub fn looks_like(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        (1..=64).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_prefix_and_hex() {
        let id = new_id(PROMPT, [0xab; 16]);
        assert_eq!(id, format!("prm_{}", "ab".repeat(16)));
        assert!(looks_like(PROMPT, &id));
        assert!(!looks_like(VERSION, &id));
    }

    #[test]
    fn rejects_what_no_id_looks_like() {
        assert!(looks_like(ORGANIZATION, DEFAULT_ORGANIZATION));
        for bad in [
            "", "prm_", "prm", "PRM_abc", "prm_ABC", "prm_a/b", "prm_a b", "prm_..", "x_prm_a",
        ] {
            assert!(!looks_like(PROMPT, bad), "{bad}");
        }
        assert!(!looks_like(PROMPT, &format!("prm_{}", "a".repeat(65))));
        assert!(looks_like(PROMPT, &format!("prm_{}", "a".repeat(64))));
    }
}
