//! Validation of what clients submit: a new prompt version ([`VersionDraft`])
//! and a prompt name.
//!
//! Validation reports every problem at once, each as a [`FieldError`] with a
//! stable `field` path in the wire's camelCase (`temperature`,
//! `variables[2].name`, `stopSequences[0]`) and a stable `code` from
//! [`codes`], so a client can point at the offending input and fix
//! everything in one round trip. Components answer them as a
//! `VALIDATION_ERROR` envelope with the list in `details`.

use serde::{Deserialize, Serialize};

use crate::template::{is_valid_name, placeholders};
use crate::variables::{VariableSpec, check_value};

/// The `code` values of [`FieldError`]. Clients switch on these strings:
/// never rename one.
pub mod codes {
    /// A value is missing or empty (blank, for names).
    pub const REQUIRED: &str = "REQUIRED";
    /// A number is outside its allowed range.
    pub const OUT_OF_RANGE: &str = "OUT_OF_RANGE";
    /// A string has characters or a shape it may not have.
    pub const INVALID_FORMAT: &str = "INVALID_FORMAT";
    /// A string is longer than allowed.
    pub const TOO_LONG: &str = "TOO_LONG";
    /// A list has more items than allowed.
    pub const TOO_MANY: &str = "TOO_MANY";
    /// A name is declared more than once.
    pub const DUPLICATE: &str = "DUPLICATE";
    /// A `{{placeholder}}` uses a variable the version does not declare.
    pub const UNDECLARED_VARIABLE: &str = "UNDECLARED_VARIABLE";
    /// A value does not match its variable's declared type.
    pub const TYPE_MISMATCH: &str = "TYPE_MISMATCH";
    /// A value is not one of the known ones (e.g. an unknown token scope).
    pub const UNKNOWN_VALUE: &str = "UNKNOWN_VALUE";
}

/// Allowed temperature: 0 to 2, inclusive (the widest range providers take).
pub const TEMPERATURE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=2.0;
/// Allowed `maxTokens`: 1 to 1,000,000, inclusive.
pub const MAX_TOKENS_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;
/// Longest model name, in characters.
pub const MAX_MODEL_LEN: usize = 128;
/// Longest system or user text, in characters.
pub const MAX_TEXT_LEN: usize = 100_000;
/// Longest commit message, in characters.
pub const MAX_MESSAGE_LEN: usize = 1_000;
/// Most stop sequences per version.
pub const MAX_STOP_SEQUENCES: usize = 16;
/// Longest stop sequence, in characters.
pub const MAX_STOP_SEQUENCE_LEN: usize = 256;
/// Most variables per version.
pub const MAX_VARIABLES: usize = 64;
/// Longest variable name, in characters.
pub const MAX_VARIABLE_NAME_LEN: usize = 64;
/// Longest prompt name, in characters.
pub const MAX_PROMPT_NAME_LEN: usize = 200;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// Where: a camelCase path into the request body, e.g. `variables[2].name`.
    pub field: String,
    /// What, for machines: one of [`codes`].
    pub code: String,
    /// What, for people. Never contains secrets.
    pub message: String,
}

/// Each error's (field, code), in order: what the tests compare.
#[cfg(test)]
pub(crate) fn fields_and_codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
    errors
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect()
}

impl FieldError {
    /// Builds a field error.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The body of `POST /api/v1/prompts/:id/versions`: a new version to save.
///
/// Unknown fields are rejected, so a typo (`maxToken`) fails loudly instead of
/// silently saving a default. `model` defaults to empty when absent so that
/// its absence is reported by [`validate_draft`] together with every other
/// problem, rather than as a lone deserialization error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionDraft {
    /// The system text (a template).
    #[serde(default)]
    pub system: String,
    /// The user template.
    #[serde(default)]
    pub user: String,
    /// The declared variables.
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    /// The model, e.g. `gpt-4o-mini` or `openai/gpt-4o`.
    #[serde(default)]
    pub model: String,
    /// Sampling temperature, 0 to 2.
    pub temperature: Option<f64>,
    /// Most tokens to generate, 1 to 1,000,000.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling mass, greater than 0 and at most 1.
    pub top_p: Option<f64>,
    /// Sequences that end generation.
    #[serde(default)]
    pub stop_sequences: Vec<String>,
    /// The commit message.
    #[serde(default)]
    pub message: String,
}

/// Checks a draft against every rule below and returns all violations, in
/// the order of the fields (system, user, variables, model, temperature,
/// maxTokens, topP, stopSequences, message). Lengths count characters
/// (Unicode scalar values), not bytes.
///
/// - `system`, `user`: not both empty or whitespace-only (`REQUIRED`, on
///   `user`); each at most 100,000 characters (`TOO_LONG`); every placeholder
///   in them names a declared variable (`UNDECLARED_VARIABLE`, one per name,
///   on the field where it first appears). Declaring a variable no template
///   uses is allowed.
/// - `variables`: at most 64 (`TOO_MANY`); each name non-empty (`REQUIRED`),
///   at most 64 characters (`TOO_LONG`), of the form `[A-Za-z_][A-Za-z0-9_]*`
///   (`INVALID_FORMAT`) and unique (`DUPLICATE`, on each repeat); a default
///   matches the declared type (`TYPE_MISMATCH`, on `variables[i].default`).
/// - `model`: non-empty (`REQUIRED`), at most 128 characters (`TOO_LONG`) of
///   `[A-Za-z0-9._:/-]` (`INVALID_FORMAT`).
/// - `temperature`: 0 to 2; `topP`: greater than 0, at most 1; `maxTokens`:
///   1 to 1,000,000 (`OUT_OF_RANGE`).
/// - `stopSequences`: at most 16 (`TOO_MANY`); each 1 to 256 characters
///   (`REQUIRED` when empty, `TOO_LONG`).
/// - `message`: at most 1,000 characters (`TOO_LONG`).
pub fn validate_draft(d: &VersionDraft) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();

    // system and user
    if d.system.trim().is_empty() && d.user.trim().is_empty() {
        errors.push(FieldError::new(
            "user",
            codes::REQUIRED,
            "system and user text are both empty: give at least one",
        ));
    }
    let mut reported: Vec<String> = Vec::new();
    for (field, text) in [("system", &d.system), ("user", &d.user)] {
        check_len(&mut errors, field, text, MAX_TEXT_LEN);
        for name in placeholders(text) {
            if d.variables.iter().all(|v| v.name != name) && !reported.contains(&name) {
                errors.push(FieldError::new(
                    field,
                    codes::UNDECLARED_VARIABLE,
                    format!("placeholder {{{{{name}}}}} uses variable {name}, which is not declared in variables"),
                ));
                reported.push(name);
            }
        }
    }

    // variables
    if d.variables.len() > MAX_VARIABLES {
        errors.push(FieldError::new(
            "variables",
            codes::TOO_MANY,
            format!(
                "{} variables declared; at most {MAX_VARIABLES} are allowed",
                d.variables.len()
            ),
        ));
    }
    for (i, v) in d.variables.iter().enumerate() {
        let field = format!("variables[{i}].name");
        if v.name.is_empty() {
            errors.push(FieldError::new(
                &field,
                codes::REQUIRED,
                "a variable needs a name",
            ));
        } else {
            check_len(&mut errors, &field, &v.name, MAX_VARIABLE_NAME_LEN);
            if !is_valid_name(&v.name) {
                errors.push(FieldError::new(
                    &field,
                    codes::INVALID_FORMAT,
                    "a variable name is a letter or underscore followed by letters, digits or underscores",
                ));
            }
            if d.variables[..i]
                .iter()
                .any(|earlier| earlier.name == v.name)
            {
                errors.push(FieldError::new(
                    &field,
                    codes::DUPLICATE,
                    format!("variable {} is declared more than once", v.name),
                ));
            }
        }
        if let Some(default) = &v.default
            && let Err(expected) = check_value(v.kind, default)
        {
            errors.push(FieldError::new(
                format!("variables[{i}].default"),
                codes::TYPE_MISMATCH,
                format!("the default does not match type {}: {expected}", v.kind),
            ));
        }
    }

    // model
    if d.model.is_empty() {
        errors.push(FieldError::new(
            "model",
            codes::REQUIRED,
            "a model is required",
        ));
    } else {
        check_model(&mut errors, &d.model);
    }
    check_parameters(
        &mut errors,
        d.temperature,
        d.max_tokens,
        d.top_p,
        &d.stop_sequences,
    );

    // message
    check_len(&mut errors, "message", &d.message, MAX_MESSAGE_LEN);

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks a prompt's display name (field `name`): not blank (`REQUIRED`), at
/// most 200 characters (`TOO_LONG`), and no control characters such as
/// newlines or tabs (`INVALID_FORMAT`; our decision, since the name is shown
/// in one line in lists, logs and the audit trail). Returns the first
/// problem found in that order.
pub fn validate_prompt_name(name: &str) -> Result<(), FieldError> {
    let mut errors = Vec::new();
    if name.trim().is_empty() {
        errors.push(FieldError::new(
            "name",
            codes::REQUIRED,
            "a prompt needs a name",
        ));
    }
    check_len(&mut errors, "name", name, MAX_PROMPT_NAME_LEN);
    if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            codes::INVALID_FORMAT,
            "a prompt name may not contain control characters such as newlines or tabs",
        ));
    }
    errors.into_iter().next().map_or(Ok(()), Err)
}

/// Checks a non-empty model name: length and characters (field `model`).
pub fn check_model(errors: &mut Vec<FieldError>, model: &str) {
    check_len(errors, "model", model, MAX_MODEL_LEN);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-');
    if !model.chars().all(allowed) {
        errors.push(FieldError::new(
            "model",
            codes::INVALID_FORMAT,
            "a model name may contain only letters, digits and . _ : / -",
        ));
    }
}

/// Checks sampling parameters against the same rules wherever they are given
/// (a saved version, or a gateway call's overrides).
pub fn check_parameters(
    errors: &mut Vec<FieldError>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    top_p: Option<f64>,
    stop_sequences: &[String],
) {
    if let Some(t) = temperature
        && !TEMPERATURE_RANGE.contains(&t)
    {
        errors.push(FieldError::new(
            "temperature",
            codes::OUT_OF_RANGE,
            "temperature must be between 0 and 2",
        ));
    }
    if let Some(m) = max_tokens
        && !MAX_TOKENS_RANGE.contains(&m)
    {
        errors.push(FieldError::new(
            "maxTokens",
            codes::OUT_OF_RANGE,
            "maxTokens must be between 1 and 1000000",
        ));
    }
    if let Some(p) = top_p
        && !(p > 0.0 && p <= 1.0)
    {
        errors.push(FieldError::new(
            "topP",
            codes::OUT_OF_RANGE,
            "topP must be greater than 0 and at most 1",
        ));
    }
    if stop_sequences.len() > MAX_STOP_SEQUENCES {
        errors.push(FieldError::new(
            "stopSequences",
            codes::TOO_MANY,
            format!(
                "{} stop sequences given; at most {MAX_STOP_SEQUENCES} are allowed",
                stop_sequences.len()
            ),
        ));
    }
    for (i, s) in stop_sequences.iter().enumerate() {
        let field = format!("stopSequences[{i}]");
        if s.is_empty() {
            errors.push(FieldError::new(
                field,
                codes::REQUIRED,
                "a stop sequence may not be empty",
            ));
        } else {
            check_len(errors, &field, s, MAX_STOP_SEQUENCE_LEN);
        }
    }
}

/// Pushes `TOO_LONG` on `field` when `text` has more than `max` characters.
pub fn check_len(errors: &mut Vec<FieldError>, field: &str, text: &str, max: usize) {
    // Counting stops one past the limit, so huge inputs cost no more than that.
    if text.chars().nth(max).is_some() {
        errors.push(FieldError::new(
            field,
            codes::TOO_LONG,
            format!("{field} is longer than {max} characters"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::VariableKind::{Boolean, Json, Number, String as Str};
    use crate::variables::spec;

    fn valid() -> VersionDraft {
        VersionDraft {
            system: "You are a {{tone}} assistant.".into(),
            user: "Answer: {{ question }}".into(),
            variables: vec![
                spec("tone", Str, false, Some("friendly")),
                spec("question", Str, true, None),
            ],
            model: "gpt-4o-mini".into(),
            temperature: Some(0.2),
            max_tokens: Some(512),
            top_p: Some(1.0),
            stop_sequences: vec!["\n\nUser:".into()],
            message: "first draft".into(),
        }
    }

    /// The (field, code) pairs of the draft's errors.
    fn problems(d: &VersionDraft) -> Vec<(String, String)> {
        match validate_draft(d) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn one(field: &str, code: &str) -> Vec<(String, String)> {
        vec![(field.to_owned(), code.to_owned())]
    }

    #[test]
    fn a_valid_draft_passes() {
        assert_eq!(validate_draft(&valid()), Ok(()));
    }

    #[test]
    fn draft_deserializes_camel_case_with_defaults() {
        let d: VersionDraft = serde_json::from_str(
            r#"{"user":"Hi {{name}}","variables":[{"name":"name","type":"string","required":true}],
                "model":"m","temperature":0.7,"maxTokens":100,"topP":0.9,"stopSequences":["X"]}"#,
        )
        .unwrap();
        assert_eq!(d.system, "");
        assert_eq!(d.max_tokens, Some(100));
        assert_eq!(d.top_p, Some(0.9));
        assert_eq!(d.stop_sequences, ["X"]);
        assert_eq!(d.message, "");
        assert_eq!(validate_draft(&d), Ok(()));
    }

    #[test]
    fn draft_rejects_unknown_fields_and_allows_missing_model() {
        let err = serde_json::from_str::<VersionDraft>(r#"{"user":"x","model":"m","maxToken":5}"#)
            .unwrap_err();
        assert!(err.to_string().contains("maxToken"), "{err}");
        let d: VersionDraft = serde_json::from_str(r#"{"user":"x"}"#).unwrap();
        assert_eq!(problems(&d), one("model", codes::REQUIRED));
    }

    #[test]
    fn temperature_range_is_inclusive_0_to_2() {
        for ok in [0.0, 1.0, 2.0] {
            let d = VersionDraft {
                temperature: Some(ok),
                ..valid()
            };
            assert_eq!(problems(&d), [], "{ok}");
        }
        for bad in [-0.1, 2.01, f64::NAN, f64::INFINITY] {
            let d = VersionDraft {
                temperature: Some(bad),
                ..valid()
            };
            assert_eq!(
                problems(&d),
                one("temperature", codes::OUT_OF_RANGE),
                "{bad}"
            );
        }
        assert_eq!(
            problems(&VersionDraft {
                temperature: None,
                ..valid()
            }),
            []
        );
    }

    #[test]
    fn top_p_excludes_0_and_includes_1() {
        for ok in [0.0001, 0.5, 1.0] {
            assert_eq!(
                problems(&VersionDraft {
                    top_p: Some(ok),
                    ..valid()
                }),
                [],
                "{ok}"
            );
        }
        for bad in [0.0, -0.5, 1.0001, f64::NAN] {
            let d = VersionDraft {
                top_p: Some(bad),
                ..valid()
            };
            assert_eq!(problems(&d), one("topP", codes::OUT_OF_RANGE), "{bad}");
        }
    }

    #[test]
    fn max_tokens_range() {
        for ok in [1, 1_000_000] {
            assert_eq!(
                problems(&VersionDraft {
                    max_tokens: Some(ok),
                    ..valid()
                }),
                []
            );
        }
        for bad in [0, 1_000_001, u32::MAX] {
            let d = VersionDraft {
                max_tokens: Some(bad),
                ..valid()
            };
            assert_eq!(problems(&d), one("maxTokens", codes::OUT_OF_RANGE), "{bad}");
        }
    }

    #[test]
    fn model_rules() {
        for ok in [
            "gpt-4o",
            "openai/gpt-4o-mini",
            "claude-3.5:latest",
            "a_b",
            &"m".repeat(128),
        ] {
            let d = VersionDraft {
                model: ok.into(),
                ..valid()
            };
            assert_eq!(problems(&d), [], "{ok}");
        }
        assert_eq!(
            problems(&VersionDraft {
                model: String::new(),
                ..valid()
            }),
            one("model", codes::REQUIRED)
        );
        assert_eq!(
            problems(&VersionDraft {
                model: "m".repeat(129),
                ..valid()
            }),
            one("model", codes::TOO_LONG)
        );
        for bad in ["gpt 4", " gpt", "gpt\n", "modèle", "a;b", "a?b"] {
            let d = VersionDraft {
                model: bad.into(),
                ..valid()
            };
            assert_eq!(problems(&d), one("model", codes::INVALID_FORMAT), "{bad}");
        }
    }

    #[test]
    fn system_and_user_not_both_empty() {
        let d = VersionDraft {
            system: String::new(),
            user: " \n ".into(),
            variables: vec![],
            ..valid()
        };
        assert_eq!(problems(&d), one("user", codes::REQUIRED));
        let only_system = VersionDraft {
            user: String::new(),
            system: "S".into(),
            ..valid()
        };
        assert_eq!(problems(&only_system), []);
        let only_user = VersionDraft {
            system: String::new(),
            user: "U".into(),
            ..valid()
        };
        assert_eq!(problems(&only_user), []);
    }

    #[test]
    fn text_lengths_count_characters() {
        let at_limit = VersionDraft {
            system: "é".repeat(MAX_TEXT_LEN),
            ..valid()
        };
        assert_eq!(problems(&at_limit), []);
        let d = VersionDraft {
            system: "a".repeat(MAX_TEXT_LEN + 1),
            user: "b".repeat(MAX_TEXT_LEN + 1),
            variables: vec![],
            ..valid()
        };
        assert_eq!(
            problems(&d),
            [
                ("system".to_owned(), codes::TOO_LONG.to_owned()),
                ("user".to_owned(), codes::TOO_LONG.to_owned())
            ]
        );
        let msg = VersionDraft {
            message: "m".repeat(MAX_MESSAGE_LEN + 1),
            ..valid()
        };
        assert_eq!(problems(&msg), one("message", codes::TOO_LONG));
        let msg_ok = VersionDraft {
            message: "m".repeat(MAX_MESSAGE_LEN),
            ..valid()
        };
        assert_eq!(problems(&msg_ok), []);
    }

    #[test]
    fn stop_sequence_rules() {
        let too_many = VersionDraft {
            stop_sequences: vec!["x".into(); 17],
            ..valid()
        };
        assert_eq!(problems(&too_many), one("stopSequences", codes::TOO_MANY));
        let max = VersionDraft {
            stop_sequences: vec!["x".into(); 16],
            ..valid()
        };
        assert_eq!(problems(&max), []);
        let d = VersionDraft {
            stop_sequences: vec!["ok".into(), String::new(), "s".repeat(257), "s".repeat(256)],
            ..valid()
        };
        assert_eq!(
            problems(&d),
            [
                ("stopSequences[1]".to_owned(), codes::REQUIRED.to_owned()),
                ("stopSequences[2]".to_owned(), codes::TOO_LONG.to_owned())
            ]
        );
    }

    #[test]
    fn variable_name_rules() {
        let d = VersionDraft {
            system: String::new(),
            user: "x".into(),
            variables: vec![
                spec("ok", Str, false, None),
                spec("", Str, false, None),
                spec("1bad", Str, false, None),
                spec(&"v".repeat(65), Str, false, None),
                spec("ok", Number, false, None),
                spec("has space", Str, false, None),
            ],
            ..valid()
        };
        let expected: Vec<(String, String)> = [
            ("variables[1].name", codes::REQUIRED),
            ("variables[2].name", codes::INVALID_FORMAT),
            ("variables[3].name", codes::TOO_LONG),
            ("variables[4].name", codes::DUPLICATE),
            ("variables[5].name", codes::INVALID_FORMAT),
        ]
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
        assert_eq!(problems(&d), expected);
        let at_limit = VersionDraft {
            user: "x".into(),
            variables: vec![spec(&"v".repeat(64), Str, false, None)],
            system: String::new(),
            ..valid()
        };
        assert_eq!(problems(&at_limit), []);
    }

    #[test]
    fn at_most_64_variables() {
        let vars = |n: usize| {
            (0..n)
                .map(|i| spec(&format!("v{i}"), Str, false, None))
                .collect()
        };
        let ok = VersionDraft {
            system: String::new(),
            user: "x".into(),
            variables: vars(64),
            ..valid()
        };
        assert_eq!(problems(&ok), []);
        let d = VersionDraft {
            variables: vars(65),
            ..ok
        };
        assert_eq!(problems(&d), one("variables", codes::TOO_MANY));
    }

    #[test]
    fn defaults_must_match_declared_type() {
        let d = VersionDraft {
            system: String::new(),
            user: "x".into(),
            variables: vec![
                spec("n", Number, false, Some("abc")),
                spec("b", Boolean, false, Some("true")),
                spec("j", Json, false, Some("{nope")),
                spec("s", Str, false, Some("")),
                spec("b2", Boolean, true, Some("yes")),
            ],
            ..valid()
        };
        let expected: Vec<(String, String)> = [
            "variables[0].default",
            "variables[2].default",
            "variables[4].default",
        ]
        .iter()
        .map(|f| ((*f).to_owned(), codes::TYPE_MISMATCH.to_owned()))
        .collect();
        assert_eq!(problems(&d), expected);
    }

    #[test]
    fn every_placeholder_must_be_declared_once_reported() {
        let d = VersionDraft {
            system: "{{tone}} {{persona}}".into(),
            user: "{{question}} {{ persona }} {{lang}} {{ not a placeholder }}".into(),
            ..valid()
        };
        let errors = validate_draft(&d).unwrap_err();
        let got = fields_and_codes(&errors);
        assert_eq!(
            got,
            [
                ("system", codes::UNDECLARED_VARIABLE),
                ("user", codes::UNDECLARED_VARIABLE)
            ]
        );
        assert!(
            errors[0].message.contains("{{persona}}"),
            "{}",
            errors[0].message
        );
        assert!(errors[1].message.contains("lang"), "{}", errors[1].message);
    }

    #[test]
    fn reports_all_problems_in_field_order() {
        let d = VersionDraft {
            system: String::new(),
            user: "{{x}}".into(),
            variables: vec![spec("bad-name", Str, false, None)],
            model: String::new(),
            temperature: Some(3.0),
            max_tokens: Some(0),
            top_p: Some(0.0),
            stop_sequences: vec![String::new()],
            message: "m".repeat(1001),
        };
        let fields: Vec<String> = problems(&d).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "user",
                "variables[0].name",
                "model",
                "temperature",
                "maxTokens",
                "topP",
                "stopSequences[0]",
                "message"
            ]
        );
    }

    #[test]
    fn field_error_serializes_camel_case() {
        let e = FieldError::new("variables[2].name", codes::DUPLICATE, "dup");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"field":"variables[2].name","code":"DUPLICATE","message":"dup"}"#
        );
    }

    #[test]
    fn prompt_name_rules() {
        assert_eq!(validate_prompt_name("Support reply"), Ok(()));
        assert_eq!(validate_prompt_name(&"n".repeat(200)), Ok(()));
        assert_eq!(validate_prompt_name(&"é".repeat(200)), Ok(()));
        let code = |n: &str| validate_prompt_name(n).unwrap_err().code;
        assert_eq!(code(""), codes::REQUIRED);
        assert_eq!(code("   "), codes::REQUIRED);
        assert_eq!(code(&"n".repeat(201)), codes::TOO_LONG);
        assert_eq!(code("two\nlines"), codes::INVALID_FORMAT);
        assert_eq!(code("tab\there"), codes::INVALID_FORMAT);
        assert_eq!(validate_prompt_name("x\n").unwrap_err().field, "name");
    }
}
