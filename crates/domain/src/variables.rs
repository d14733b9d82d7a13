//! The declared variable schema of a prompt version (DESIGN.md §1).
//!
//! A version declares its variables as `[{name, type, required, default}]`.
//! Values always travel as strings on the wire (`"variables": {"n": "3"}`),
//! so the declared type says which strings are acceptable, not how they are
//! encoded: see [`check_value`].
//!
//! The schema also decides version numbering: a save that breaks it bumps
//! the major version ([`is_breaking`], used by [`crate::semver::next_version`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// One declared variable of a prompt version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableSpec {
    /// The name used in `{{name}}` placeholders.
    pub name: String,
    /// The declared type; on the wire this is the `type` field.
    #[serde(rename = "type")]
    pub kind: VariableKind,
    /// Whether a caller must supply a value (unless there is a default).
    #[serde(default)]
    pub required: bool,
    /// The value used when the caller supplies none.
    ///
    /// Stored and served as a string like every value. On input a JSON
    /// number, boolean, object or array is accepted too and kept as its JSON
    /// text (`3` → `"3"`, `{"a":1}` → `"{\"a\":1}"`), because writing
    /// `"default": 0.5` for a number variable is what people do.
    #[serde(default, deserialize_with = "default_as_string")]
    pub default: Option<String>,
}

impl VariableSpec {
    /// Whether a caller may leave this variable out: it is optional, or it
    /// has a default to fall back on.
    pub fn is_omittable(&self) -> bool {
        !self.required || self.default.is_some()
    }
}

/// The type a variable is declared with. Serialized lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableKind {
    /// Any string.
    String,
    /// A finite number, e.g. `3`, `-0.5`, `1e3`.
    Number,
    /// Exactly `true` or `false`.
    Boolean,
    /// Any JSON text, e.g. `{"a":1}`, `[1,2]`, `"x"`, `null`.
    Json,
}

impl VariableKind {
    /// The wire name: `string`, `number`, `boolean` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            VariableKind::String => "string",
            VariableKind::Number => "number",
            VariableKind::Boolean => "boolean",
            VariableKind::Json => "json",
        }
    }
}

impl fmt::Display for VariableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks that the string `value` is acceptable for a variable of type `kind`:
///
/// - `string`: anything;
/// - `number`: parses as a finite `f64` (so `inf` and `NaN` are rejected,
///   and so is surrounding whitespace);
/// - `boolean`: exactly `true` or `false` (lowercase, as in JSON);
/// - `json`: parses as JSON.
///
/// The error message says what was expected; it does not repeat the value,
/// which may be long or sensitive.
pub fn check_value(kind: VariableKind, value: &str) -> Result<(), String> {
    let (ok, expected) = match kind {
        VariableKind::String => (true, ""),
        VariableKind::Number => (
            value.parse::<f64>().is_ok_and(f64::is_finite),
            "expected a finite number, e.g. 3 or -0.5",
        ),
        VariableKind::Boolean => (
            value == "true" || value == "false",
            "expected true or false",
        ),
        VariableKind::Json => (
            serde_json::from_str::<serde_json::Value>(value).is_ok(),
            "expected valid JSON text",
        ),
    };
    if ok { Ok(()) } else { Err(expected.to_owned()) }
}

/// Whether moving from schema `old` to schema `new` breaks callers, which
/// makes the save a major version bump. Breaking when:
///
/// 1. a variable is removed (DESIGN.md §1): callers still sending it were
///    relying on it being used;
/// 2. a new variable cannot be omitted, i.e. it is required without a
///    default (DESIGN.md §1): existing calls now fail;
/// 3. *(our decision)* an existing variable that could be omitted can no
///    longer be, i.e. it becomes required without a default (this includes
///    a required variable losing its default): existing calls that left it
///    out now fail, the same harm as rule 2;
/// 4. *(our decision)* a variable's type changes: values that were valid
///    (`"abc"` for a string) may now be rejected (as a number), and even when
///    they are still accepted they mean something else to the prompt.
///
/// Everything else is compatible: adding an optional variable or one with a
/// default, making a variable optional, adding or changing a default.
/// Variables are matched by name; order does not matter.
pub fn is_breaking(old: &[VariableSpec], new: &[VariableSpec]) -> bool {
    let find = |specs: &'_ [VariableSpec], name: &str| -> Option<usize> {
        specs.iter().position(|s| s.name == name)
    };
    let removed_or_changed = old.iter().any(|o| match find(new, &o.name) {
        None => true,
        Some(i) => {
            let n = &new[i];
            n.kind != o.kind || (o.is_omittable() && !n.is_omittable())
        }
    });
    let added_mandatory = new
        .iter()
        .any(|n| find(old, &n.name).is_none() && !n.is_omittable());
    removed_or_changed || added_mandatory
}

/// Accepts `null`, a string, or any other JSON value (kept as its JSON text)
/// for [`VariableSpec::default`].
fn default_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

#[cfg(test)]
pub(crate) fn spec(
    name: &str,
    kind: VariableKind,
    required: bool,
    default: Option<&str>,
) -> VariableSpec {
    VariableSpec {
        name: name.to_owned(),
        kind,
        required,
        default: default.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::VariableKind::{Boolean, Json, Number, String as Str};
    use super::*;

    #[test]
    fn spec_serializes_camel_case_with_type_field() {
        let s = spec("city", Str, true, None);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"name":"city","type":"string","required":true,"default":null}"#
        );
        let back: VariableSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn spec_defaults_required_false_and_no_default() {
        let s: VariableSpec = serde_json::from_str(r#"{"name":"n","type":"number"}"#).unwrap();
        assert_eq!(s, spec("n", Number, false, None));
    }

    #[test]
    fn spec_default_accepts_non_string_json_as_text() {
        let parse = |json: &str| serde_json::from_str::<VariableSpec>(json).unwrap().default;
        assert_eq!(
            parse(r#"{"name":"n","type":"number","default":0.5}"#).as_deref(),
            Some("0.5")
        );
        assert_eq!(
            parse(r#"{"name":"b","type":"boolean","default":true}"#).as_deref(),
            Some("true")
        );
        assert_eq!(
            parse(r#"{"name":"j","type":"json","default":{"a":[1,2]}}"#).as_deref(),
            Some(r#"{"a":[1,2]}"#)
        );
        assert_eq!(
            parse(r#"{"name":"s","type":"string","default":"hi"}"#).as_deref(),
            Some("hi")
        );
        assert_eq!(
            parse(r#"{"name":"s","type":"string","default":null}"#),
            None
        );
    }

    #[test]
    fn kind_serializes_lowercase_and_rejects_unknown() {
        for (k, s) in [
            (Str, "string"),
            (Number, "number"),
            (Boolean, "boolean"),
            (Json, "json"),
        ] {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{s}\""));
            assert_eq!(k.as_str(), s);
            assert_eq!(k.to_string(), s);
        }
        assert!(serde_json::from_str::<VariableKind>(r#""String""#).is_err());
        assert!(serde_json::from_str::<VariableKind>(r#""int""#).is_err());
    }

    #[test]
    fn check_value_string_accepts_anything() {
        assert_eq!(check_value(Str, ""), Ok(()));
        assert_eq!(check_value(Str, "{{ not json"), Ok(()));
    }

    #[test]
    fn check_value_number() {
        for ok in ["0", "-3", "2.5", "1e3", "-0.0001", ".5"] {
            assert_eq!(check_value(Number, ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "abc", "inf", "-inf", "NaN", "infinity", " 1", "1 ", "1,5", "0x10", "1e999",
        ] {
            assert!(check_value(Number, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn check_value_boolean() {
        assert_eq!(check_value(Boolean, "true"), Ok(()));
        assert_eq!(check_value(Boolean, "false"), Ok(()));
        for bad in ["True", "FALSE", "1", "0", "yes", "", " true"] {
            assert!(check_value(Boolean, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn check_value_json() {
        for ok in [r#"{"a":1}"#, "[1,2]", "\"x\"", "null", "3", " true "] {
            assert_eq!(check_value(Json, ok), Ok(()), "{ok}");
        }
        for bad in ["", "{", "{'a':1}", "x", "[1,]"] {
            assert!(check_value(Json, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identical_or_empty_schemas_are_not_breaking() {
        let s = vec![
            spec("a", Str, true, None),
            spec("b", Number, false, Some("1")),
        ];
        assert!(!is_breaking(&s, &s));
        assert!(!is_breaking(&[], &[]));
        let reordered = vec![s[1].clone(), s[0].clone()];
        assert!(!is_breaking(&s, &reordered));
    }

    #[test]
    fn removing_a_variable_is_breaking() {
        let old = vec![spec("a", Str, false, None), spec("b", Str, false, None)];
        let new = vec![spec("a", Str, false, None)];
        assert!(is_breaking(&old, &new));
    }

    #[test]
    fn adding_required_without_default_is_breaking() {
        let old = vec![spec("a", Str, false, None)];
        let new = vec![spec("a", Str, false, None), spec("b", Str, true, None)];
        assert!(is_breaking(&old, &new));
        assert!(is_breaking(&[], &[spec("b", Str, true, None)]));
    }

    #[test]
    fn adding_optional_or_defaulted_is_compatible() {
        let old = vec![spec("a", Str, true, None)];
        let optional = vec![old[0].clone(), spec("b", Str, false, None)];
        let defaulted = vec![old[0].clone(), spec("b", Str, true, Some("x"))];
        assert!(!is_breaking(&old, &optional));
        assert!(!is_breaking(&old, &defaulted));
    }

    #[test]
    fn optional_becoming_required_without_default_is_breaking() {
        let old = vec![spec("a", Str, false, None)];
        assert!(is_breaking(&old, &[spec("a", Str, true, None)]));
        assert!(!is_breaking(&old, &[spec("a", Str, true, Some("x"))]));
    }

    #[test]
    fn required_losing_its_default_is_breaking() {
        let old = vec![spec("a", Str, true, Some("x"))];
        assert!(is_breaking(&old, &[spec("a", Str, true, None)]));
    }

    #[test]
    fn relaxing_or_changing_defaults_is_compatible() {
        let old = vec![spec("a", Str, true, None)];
        assert!(!is_breaking(&old, &[spec("a", Str, false, None)]));
        assert!(!is_breaking(&old, &[spec("a", Str, true, Some("y"))]));
        let defaulted = vec![spec("a", Str, false, Some("x"))];
        assert!(!is_breaking(
            &defaulted,
            &[spec("a", Str, false, Some("y"))]
        ));
        assert!(!is_breaking(&defaulted, &[spec("a", Str, false, None)]));
    }

    #[test]
    fn type_change_is_breaking() {
        let old = vec![spec("a", Str, false, None)];
        assert!(is_breaking(&old, &[spec("a", Number, false, None)]));
        assert!(is_breaking(
            &[spec("j", Json, true, None)],
            &[spec("j", Str, true, None)]
        ));
    }
}
