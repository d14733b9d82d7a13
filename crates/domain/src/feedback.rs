//! Feedback on executions and product signals of prompts (issue 17 §1),
//! the pure part: what a client may send, checked, with every problem
//! named at once as [`FieldError`]s (422), like version drafts.
//!
//! - Feedback: `POST /executions/:id/feedback` with [`FeedbackInput`], or
//!   up to [`MAX_BATCH_ITEMS`] at once in `POST /feedback`
//!   ([`validate_batch`]). One score per (execution, name, source): a
//!   second one replaces the first.
//! - Signals: `POST /prompts/:id/signals` with [`SignalInput`]: a named
//!   value at a time, not tied to one call.
//!
//! How they are rolled up and reported is in [`crate::rollup`]
//! (`FeedbackMeasures`, `SignalRow`) and [`crate::analytics`].

use serde::Deserialize;

use crate::validation::{FieldError, codes};

/// The feedback name when none is given: a thumbs up (1), neutral (0) or
/// down (-1).
pub const DEFAULT_NAME: &str = "thumbs";
/// The source when none is given.
pub const DEFAULT_SOURCE: &str = "user";
/// Longest name or source, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Longest comment, in bytes of UTF-8.
pub const MAX_COMMENT_BYTES: usize = 4096;
/// Largest metadata object, in bytes of its JSON.
pub const MAX_METADATA_BYTES: usize = 8192;
/// Most items of one batch.
pub const MAX_BATCH_ITEMS: usize = 100;
/// The largest score or signal value, either sign: far beyond any rating
/// or count, and small enough that sums stay exact to many digits.
pub const MAX_ABS_VALUE: f64 = 1e12;
/// How far in the future a signal's time may be (clock skew of the
/// sender), in milliseconds.
pub const MAX_SIGNAL_FUTURE_MS: i64 = 5 * 60_000;

/// The body of `POST /executions/:id/feedback`, and each batch item's
/// fields but `executionId`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeedbackInput {
    /// Default [`DEFAULT_NAME`].
    pub name: Option<String>,
    pub score: Option<f64>,
    /// Default [`DEFAULT_SOURCE`].
    pub source: Option<String>,
    pub comment: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// The body of `POST /feedback`: the items, each checked on its own so a
/// problem names its index.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    pub items: Vec<serde_json::Value>,
}

/// Checked feedback, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub name: String,
    pub source: String,
    pub score: f64,
    pub comment: Option<String>,
    /// The metadata object as JSON text.
    pub metadata: Option<String>,
}

/// A checked batch item.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub execution_id: String,
    pub feedback: Feedback,
}

/// Whether `name` is a feedback or signal name (or a source): 1 to
/// [`MAX_NAME_LEN`] characters of `[a-z0-9_.:-]`, starting with a letter or
/// digit. Lowercase only, so `Thumbs` and `thumbs` are not two series.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

fn check_name(field: String, name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::new(field, codes::REQUIRED, "must not be empty"));
    } else if name.chars().count() > MAX_NAME_LEN {
        errors.push(FieldError::new(
            field,
            codes::TOO_LONG,
            format!("at most {MAX_NAME_LEN} characters"),
        ));
    } else if !is_valid_name(name) {
        errors.push(FieldError::new(
            field,
            codes::INVALID_FORMAT,
            "lowercase letters, digits, `_`, `.`, `:` and `-`, starting with a letter or digit",
        ));
    }
}

fn check_value(field: String, value: Option<f64>, errors: &mut Vec<FieldError>) -> f64 {
    match value {
        None => {
            errors.push(FieldError::new(field, codes::REQUIRED, "give a number"));
            0.0
        }
        Some(v) if !v.is_finite() || v.abs() > MAX_ABS_VALUE => {
            errors.push(FieldError::new(
                field,
                codes::OUT_OF_RANGE,
                format!("must be a number from -{MAX_ABS_VALUE:e} to {MAX_ABS_VALUE:e}"),
            ));
            0.0
        }
        Some(v) => v,
    }
}

/// Checks feedback; fields are named under `prefix` (`""` for the single
/// form, `items[3].` in a batch).
///
/// - `name` (default `thumbs`) and `source` (default `user`): see
///   [`is_valid_name`].
/// - `score`: required, a number within ±[`MAX_ABS_VALUE`]; for `thumbs`,
///   -1, 0 or 1.
/// - `comment`: at most [`MAX_COMMENT_BYTES`] bytes.
/// - `metadata`: a JSON object of at most [`MAX_METADATA_BYTES`] bytes.
pub fn validate_feedback(input: FeedbackInput, prefix: &str) -> Result<Feedback, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = input.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
    check_name(format!("{prefix}name"), &name, &mut errors);
    let source = input.source.unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
    check_name(format!("{prefix}source"), &source, &mut errors);
    let score = check_value(format!("{prefix}score"), input.score, &mut errors);
    if name == DEFAULT_NAME && input.score.is_some() && ![-1.0, 0.0, 1.0].contains(&score) {
        errors.push(FieldError::new(
            format!("{prefix}score"),
            codes::OUT_OF_RANGE,
            "a thumbs score is -1 (down), 0 (neutral) or 1 (up)",
        ));
    }
    if let Some(comment) = &input.comment
        && comment.len() > MAX_COMMENT_BYTES
    {
        errors.push(FieldError::new(
            format!("{prefix}comment"),
            codes::TOO_LONG,
            format!("at most {MAX_COMMENT_BYTES} bytes"),
        ));
    }
    let metadata = match &input.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(value @ serde_json::Value::Object(_)) => {
            let text = value.to_string();
            if text.len() > MAX_METADATA_BYTES {
                errors.push(FieldError::new(
                    format!("{prefix}metadata"),
                    codes::TOO_LONG,
                    format!("at most {MAX_METADATA_BYTES} bytes of JSON"),
                ));
            }
            Some(text)
        }
        Some(_) => {
            errors.push(FieldError::new(
                format!("{prefix}metadata"),
                codes::INVALID_FORMAT,
                "must be a JSON object",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Feedback {
        name,
        source,
        score,
        comment: input.comment,
        metadata,
    })
}

/// Checks every item of a batch, collecting every problem of every item
/// (fields named `items[i].…`): all or nothing. 1 to
/// [`MAX_BATCH_ITEMS`] items (`items`: `REQUIRED` / `TOO_MANY`).
pub fn validate_batch(items: Vec<serde_json::Value>) -> Result<Vec<BatchItem>, Vec<FieldError>> {
    if items.is_empty() {
        return Err(vec![FieldError::new(
            "items",
            codes::REQUIRED,
            "give at least one item",
        )]);
    }
    if items.len() > MAX_BATCH_ITEMS {
        return Err(vec![FieldError::new(
            "items",
            codes::TOO_MANY,
            format!(
                "at most {MAX_BATCH_ITEMS} items per batch; this one has {}",
                items.len()
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut checked = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("items[{i}].");
        let serde_json::Value::Object(mut object) = item else {
            errors.push(FieldError::new(
                format!("items[{i}]"),
                codes::INVALID_FORMAT,
                "an item is a JSON object",
            ));
            continue;
        };
        let execution_id = match object.remove("executionId") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => Some(id),
            None | Some(serde_json::Value::Null) => {
                errors.push(FieldError::new(
                    format!("{prefix}executionId"),
                    codes::REQUIRED,
                    "the `id` of an execute or stream answer",
                ));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(
                    format!("{prefix}executionId"),
                    codes::INVALID_FORMAT,
                    "a non-empty string: the `id` of an execute or stream answer",
                ));
                None
            }
        };
        // The rest is the single form's body, unknown fields refused.
        let input: FeedbackInput = match serde_json::from_value(serde_json::Value::Object(object)) {
            Ok(input) => input,
            Err(e) => {
                errors.push(FieldError::new(
                    format!("items[{i}]"),
                    codes::INVALID_FORMAT,
                    format!("not a feedback item: {e}"),
                ));
                continue;
            }
        };
        match (validate_feedback(input, &prefix), execution_id) {
            (Ok(feedback), Some(execution_id)) => checked.push(BatchItem {
                execution_id,
                feedback,
            }),
            (Ok(_), None) => {}
            (Err(more), _) => errors.extend(more),
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(errors)
    }
}

/// The body of `POST /prompts/:id/signals`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignalInput {
    pub name: Option<String>,
    pub value: Option<f64>,
    /// RFC 3339; default: now.
    pub at: Option<String>,
}

/// A checked signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

/// Checks a signal sent at `now` (ms): `name` required (see
/// [`is_valid_name`]), `value` a number within ±[`MAX_ABS_VALUE`], `at`
/// RFC 3339 (default `now`), not before 1970 and at most
/// [`MAX_SIGNAL_FUTURE_MS`] after `now`.
pub fn validate_signal(input: SignalInput, now: i64) -> Result<Signal, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = input.name.unwrap_or_default();
    check_name("name".to_owned(), &name, &mut errors);
    let value = check_value("value".to_owned(), input.value, &mut errors);
    let at = match input.at.as_deref() {
        None => now,
        Some(text) => match parse_rfc3339(text) {
            Some(at) if at < 0 => {
                errors.push(FieldError::new(
                    "at",
                    codes::OUT_OF_RANGE,
                    "must not be before 1970",
                ));
                now
            }
            Some(at) if at > now.saturating_add(MAX_SIGNAL_FUTURE_MS) => {
                errors.push(FieldError::new(
                    "at",
                    codes::OUT_OF_RANGE,
                    format!(
                        "is more than {} minutes in the future",
                        MAX_SIGNAL_FUTURE_MS / 60_000
                    ),
                ));
                now
            }
            Some(at) => at,
            None => {
                errors.push(FieldError::new(
                    "at",
                    codes::INVALID_FORMAT,
                    "an RFC 3339 time, e.g. 2026-11-24T10:00:00Z",
                ));
                now
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Signal { name, value, at })
}

/// RFC 3339 (any offset) to milliseconds; `None` if it is not one.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: serde_json::Value) -> FeedbackInput {
        serde_json::from_value(value).expect("a feedback body")
    }

    fn problems(result: Result<impl std::fmt::Debug, Vec<FieldError>>) -> Vec<(String, String)> {
        result
            .expect_err("refused")
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_owned(), code.to_owned())
    }

    #[test]
    fn defaults_are_a_users_thumbs() {
        let f = validate_feedback(fields(json!({"score": -1})), "").unwrap();
        assert_eq!(
            f,
            Feedback {
                name: "thumbs".into(),
                source: "user".into(),
                score: -1.0,
                comment: None,
                metadata: None,
            }
        );
        let f = validate_feedback(
            fields(
                json!({"name": "csat", "score": 4.5, "source": "support-bot",
                "comment": "ok", "metadata": {"ticket": 12}}),
            ),
            "",
        )
        .unwrap();
        assert_eq!((f.name.as_str(), f.score), ("csat", 4.5));
        assert_eq!(f.metadata.as_deref(), Some(r#"{"ticket":12}"#));
        assert_eq!(f.comment.as_deref(), Some("ok"));
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let long = "x".repeat(MAX_COMMENT_BYTES + 1);
        let big = json!({"k": "v".repeat(MAX_METADATA_BYTES)});
        assert_eq!(
            problems(validate_feedback(
                fields(
                    json!({"name": "Thumbs Up", "source": "", "comment": long, "metadata": big})
                ),
                "",
            )),
            [
                pair("name", "INVALID_FORMAT"),
                pair("source", "REQUIRED"),
                pair("score", "REQUIRED"),
                pair("comment", "TOO_LONG"),
                pair("metadata", "TOO_LONG"),
            ]
        );
        assert_eq!(
            problems(validate_feedback(
                fields(json!({"score": 2, "metadata": [1], "name": "a".repeat(65)})),
                "items[4].",
            )),
            [
                pair("items[4].name", "TOO_LONG"),
                pair("items[4].metadata", "INVALID_FORMAT"),
            ]
        );
        // Thumbs are -1, 0 or 1; other names take any bounded number.
        assert_eq!(
            problems(validate_feedback(fields(json!({"score": 0.5})), "")),
            [pair("score", "OUT_OF_RANGE")]
        );
        assert_eq!(
            problems(validate_feedback(
                fields(json!({"name": "csat", "score": 1e13})),
                ""
            )),
            [pair("score", "OUT_OF_RANGE")]
        );
        assert!(validate_feedback(fields(json!({"name": "csat", "score": -1e12})), "").is_ok());
        // A comment at the limit is fine; the limit counts bytes.
        let at_limit = "é".repeat(MAX_COMMENT_BYTES / 2);
        assert!(validate_feedback(fields(json!({"score": 1, "comment": at_limit})), "").is_ok());
        assert!(serde_json::from_value::<FeedbackInput>(json!({"score": 1, "x": 1})).is_err());
        assert!(serde_json::from_value::<FeedbackInput>(json!({"score": "1"})).is_err());
    }

    #[test]
    fn names() {
        for good in ["thumbs", "csat", "a", "ticket.count", "x:y-z_1", "9lives"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "Thumbs", "_x", "-x", "a b", "é", "a/b", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(is_valid_name(&"a".repeat(64)));
    }

    #[test]
    fn a_batch_names_each_bad_item_and_keeps_nothing() {
        let items = vec![
            json!({"executionId": "exe_1", "score": 1}),
            json!({"score": -1, "executionId": null}),
            json!({"executionId": "exe_3", "score": "high"}),
            json!({"executionId": "exe_4", "score": 1, "colour": "red"}),
            json!("not an object"),
            json!({"executionId": "exe_6", "name": "csat", "score": 7, "source": "crm"}),
        ];
        let errors = problems(validate_batch(items));
        assert_eq!(
            errors,
            [
                pair("items[1].executionId", "REQUIRED"),
                pair("items[2]", "INVALID_FORMAT"),
                pair("items[3]", "INVALID_FORMAT"),
                pair("items[4]", "INVALID_FORMAT"),
            ]
        );
        let ok = validate_batch(vec![
            json!({"executionId": "exe_1", "score": 1}),
            json!({"executionId": "exe_6", "name": "csat", "score": 7, "source": "crm"}),
        ])
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].execution_id, "exe_6");
        assert_eq!(ok[1].feedback.source, "crm");
        assert_eq!(
            problems(validate_batch(vec![])),
            [pair("items", "REQUIRED")]
        );
        let too_many = vec![json!({"executionId": "exe_1", "score": 1}); MAX_BATCH_ITEMS + 1];
        assert_eq!(
            problems(validate_batch(too_many)),
            [pair("items", "TOO_MANY")]
        );
        let full = vec![json!({"executionId": "exe_1", "score": 1}); MAX_BATCH_ITEMS];
        assert_eq!(validate_batch(full).unwrap().len(), MAX_BATCH_ITEMS);
    }

    #[test]
    fn signals() {
        const NOW: i64 = 1_795_514_400_123; // 2026-11-24T10:00:00.123Z
        let input = |v: serde_json::Value| serde_json::from_value::<SignalInput>(v).unwrap();
        let s = validate_signal(input(json!({"name": "tickets", "value": 3})), NOW).unwrap();
        assert_eq!(
            s,
            Signal {
                name: "tickets".into(),
                value: 3.0,
                at: NOW
            }
        );
        let s = validate_signal(
            input(json!({"name": "tickets", "value": 3, "at": "2026-11-24T11:00:00+01:00"})),
            NOW,
        )
        .unwrap();
        assert_eq!(s.at, NOW - 123);
        // Up to five minutes ahead (clock skew), not more.
        let ahead = validate_signal(
            input(json!({"name": "t", "value": 1, "at": "2026-11-24T10:05:00Z"})),
            NOW,
        );
        assert!(ahead.is_ok());
        assert_eq!(
            problems(validate_signal(
                input(json!({"name": "t", "value": 1, "at": "2026-11-24T10:05:01Z"})),
                NOW
            )),
            [pair("at", "OUT_OF_RANGE")]
        );
        assert_eq!(
            problems(validate_signal(
                input(json!({"value": 1e300, "at": "yesterday"})),
                NOW
            )),
            [
                pair("name", "REQUIRED"),
                pair("value", "OUT_OF_RANGE"),
                pair("at", "INVALID_FORMAT"),
            ]
        );
        assert_eq!(
            problems(validate_signal(
                input(json!({"name": "t", "value": 1, "at": "1969-12-31T23:59:59Z"})),
                NOW
            )),
            [pair("at", "OUT_OF_RANGE")]
        );
        // A bare date is not RFC 3339.
        assert_eq!(
            problems(validate_signal(
                input(json!({"name": "t", "value": 1, "at": "2026-11-24"})),
                NOW
            )),
            [pair("at", "INVALID_FORMAT")]
        );
        assert!(
            serde_json::from_value::<SignalInput>(json!({"name": "t", "value": 1, "x": 0}))
                .is_err()
        );
    }
}
