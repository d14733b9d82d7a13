//! Prompt slugs: the URL-safe handle a prompt is addressed by
//! (`promptSlug` on the gateway, DESIGN.md §1–2).
//!
//! A slug is 1 to 64 characters of lowercase ASCII letters, digits and
//! single hyphens, e.g. `support-reply-v2`. It starts and ends with a letter
//! or digit and never contains `--`. Why so strict: a slug appears unescaped
//! in URLs, logs, KV keys and SDK calls, so one canonical spelling per name
//! avoids look-alikes (`Support` vs `support`, `a--b` vs `a-b`) and
//! percent-encoding surprises.

/// The longest slug accepted.
pub const MAX_SLUG_LEN: usize = 64;

/// The rule, as stated in every rejection message.
const RULE: &str = "a slug is 1 to 64 lowercase letters (a-z), digits and single hyphens, \
starting and ending with a letter or digit";

/// Checks `s` against the slug rule (see the module docs). The error message
/// says what is wrong and restates the rule.
pub fn validate_slug(s: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}: {RULE}"));
    if s.is_empty() {
        return fail("slug is empty");
    }
    if s.len() > MAX_SLUG_LEN {
        return fail("slug is longer than 64 characters");
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return fail(&format!("slug contains {c:?}"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return fail("slug starts or ends with a hyphen");
    }
    if s.contains("--") {
        return fail("slug contains a double hyphen");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_slugs() {
        for ok in ["a", "7", "support-reply", "v2-final-3", "0abc", "a-b-c-d"] {
            assert_eq!(validate_slug(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_slug(&"a".repeat(MAX_SLUG_LEN)), Ok(()));
    }

    #[test]
    fn rejects_empty_and_too_long() {
        assert!(validate_slug("").unwrap_err().contains("empty"));
        let long = "a".repeat(MAX_SLUG_LEN + 1);
        assert!(validate_slug(&long).unwrap_err().contains("longer than 64"));
    }

    #[test]
    fn rejects_uppercase_spaces_underscores_and_non_ascii() {
        for bad in ["Support", "a b", "a_b", "café", "a.b", "a/b", "a\n"] {
            let err = validate_slug(bad).unwrap_err();
            assert!(err.contains("contains"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_leading_trailing_and_double_hyphens() {
        assert!(validate_slug("-a").unwrap_err().contains("hyphen"));
        assert!(validate_slug("a-").unwrap_err().contains("hyphen"));
        assert!(validate_slug("-").unwrap_err().contains("hyphen"));
        assert!(validate_slug("a--b").unwrap_err().contains("double hyphen"));
    }

    #[test]
    fn message_states_the_rule() {
        let err = validate_slug("A").unwrap_err();
        assert!(err.contains("lowercase letters"), "{err}");
        assert!(err.contains("single hyphens"), "{err}");
    }
}
