//! Identifier rules, transcribed from Spin so that a manifest accepted here is
//! accepted by `spin up` and vice versa.

/// Spin's `Id<DELIM, LOWER>` rule (crate `spin-serde`, `id.rs`), used for
/// component ids (`KebabId`) and store/database labels (kebab or snake).
///
/// An id is one or more words separated by `delim`. Each word is non-empty,
/// starts with an ASCII letter (later words may also start with a digit), then
/// holds ASCII alphanumerics (or `:`), and is either all lowercase or all
/// uppercase (all lowercase when `lower`).
pub(crate) fn check_id(id: &str, delim: char, lower: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    let wrong = match delim {
        '_' => Some('-'),
        '-' => Some('_'),
        _ => None,
    };
    if let Some(wrong) = wrong
        && id.contains(wrong)
    {
        return Err(format!(
            "words must be separated with {delim:?}, not {wrong:?}"
        ));
    }
    for (i, word) in id.split(delim).enumerate() {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !(first.is_ascii_alphabetic() || (i > 0 && first.is_ascii_digit())) {
            return Err(format!(
                "{delim:?}-separated words must start with an ASCII letter or digit; got {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for ch in chars {
            if ch.is_ascii_digit() || ch == ':' {
                continue;
            }
            if !ch.is_ascii_alphanumeric() {
                return Err(format!(
                    "{delim:?}-separated words may only contain alphanumeric ASCII; got {ch:?}"
                ));
            }
            if ch.is_ascii_uppercase() != upper {
                return Err(format!(
                    "{delim:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
        if lower && upper {
            return Err("must be all lowercase".into());
        }
    }
    Ok(())
}

/// Component ids: Spin's `KebabId`.
pub(crate) fn check_component_id(id: &str) -> Result<(), String> {
    check_id(id, '-', false)
}

/// Key-value store and SQLite database labels: kebab-case or snake_case
/// (Spin's `kebab_or_snake_case`).
pub(crate) fn check_label(label: &str) -> Result<(), String> {
    if check_id(label, '-', false).is_ok() || check_id(label, '_', false).is_ok() {
        Ok(())
    } else {
        Err("expected kebab-case or snake_case".into())
    }
}

/// Variable names (application and component): Spin's `Key::validate`
/// (crate `spin-expressions`): lowercase ASCII letters, digits and single
/// underscores; starts with a letter, ends with a letter or digit.
pub(crate) fn check_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "invalid character {bad:?}; variable names may contain only lowercase letters, digits and underscores"
        ));
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return Err("must start with a lowercase ASCII letter".into());
    }
    if !name.as_bytes()[name.len() - 1].is_ascii_alphanumeric() {
        return Err("must end with a lowercase ASCII letter or digit".into());
    }
    if name.contains("__") {
        return Err("must not contain consecutive underscores".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_spin() {
        for good in ["a", "abc", "a1b2c3", "a_1", "a_1_b_3", "api_key"] {
            check_variable_name(good).expect(good);
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y", "Ab"] {
            check_variable_name(bad).expect_err(bad);
        }
    }

    #[test]
    fn component_ids_are_kebab() {
        for good in ["api", "api-v1", "a-1", "HTTP-api", "gateway"] {
            check_component_id(good).expect(good);
        }
        for bad in ["", "api_v1", "-api", "api-", "a--b", "1api", "aPi", "a.b"] {
            check_component_id(bad).expect_err(bad);
        }
    }

    #[test]
    fn labels_are_kebab_or_snake() {
        for good in ["default", "snake_case", "kebab-case", "a1"] {
            check_label(good).expect(good);
        }
        for bad in ["", "b@dlabel", "camelCase", "mixed-and_both", "_x"] {
            check_label(bad).expect_err(bad);
        }
    }
}
