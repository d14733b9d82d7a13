//! `{{variable}}` templates: the system and user text of a prompt version.
//!
//! A placeholder is `{{`, optional ASCII whitespace, a name matching
//! `[A-Za-z_][A-Za-z0-9_]*`, optional ASCII whitespace, `}}`: so `{{city}}`,
//! `{{ city }}` and `{{city }}` all mean the variable `city`. Anything else in
//! braces is ordinary text and is left exactly as written: `{{ 1x }}`,
//! `{{a.b}}`, `{{}}`, a JSON example like `{"a": {"b": 1}}`. There is no
//! escaping syntax and no logic (no sections, filters or partials): prompts
//! are text for a model, and everything that is not clearly a placeholder
//! must survive untouched.
//!
//! Braces around a placeholder stay literal: `{{{x}}}` renders as `{` + the
//! value of `x` + `}`.
//!
//! Scanning is a single left-to-right pass, linear in the length of the text.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::{FieldError, codes};
use crate::variables::{VariableSpec, check_value};

/// One piece of a scanned template.
enum Segment<'a> {
    /// Text copied as is.
    Literal(&'a str),
    /// A placeholder: its variable name and its exact source text.
    Placeholder { name: &'a str, raw: &'a str },
}

/// Splits `text` into literal text and placeholders.
fn scan(text: &str) -> Vec<Segment<'_>> {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{'
            && bytes[i + 1] == b'{'
            && let Some((name, end)) = placeholder_at(text, i)
        {
            if literal_start < i {
                segments.push(Segment::Literal(&text[literal_start..i]));
            }
            segments.push(Segment::Placeholder {
                name,
                raw: &text[i..end],
            });
            i = end;
            literal_start = end;
        } else {
            i += 1;
        }
    }
    if literal_start < text.len() {
        segments.push(Segment::Literal(&text[literal_start..]));
    }
    segments
}

/// If a placeholder starts at byte `start` (where `{{` is), returns its name
/// and the byte index just past its closing `}}`. Only whitespace and name
/// characters are scanned, so the work per `{{` is bounded by the run of
/// such characters after it, and the whole scan stays linear.
fn placeholder_at(text: &str, start: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut i = start + 2;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let name_start = i;
    if i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
        i += 1;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
    } else {
        return None;
    }
    let name_end = i;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if bytes.get(i) == Some(&b'}') && bytes.get(i + 1) == Some(&b'}') {
        Some((&text[name_start..name_end], i + 2))
    } else {
        None
    }
}

/// Whether `name` is a well-formed variable name: `[A-Za-z_][A-Za-z0-9_]*`.
/// Only such names can appear in placeholders.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The distinct variable names used in `text`, in order of first appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for segment in scan(text) {
        if let Segment::Placeholder { name, .. } = segment
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_owned());
        }
    }
    names
}

/// Replaces every placeholder whose name is in `values` by its value.
/// Placeholders without a value are left exactly as written. Values are
/// inserted verbatim and not rendered again, so a value containing `{{x}}`
/// stays `{{x}}` (no injection through variables).
pub fn render(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    for segment in scan(text) {
        match segment {
            Segment::Literal(s) => out.push_str(s),
            Segment::Placeholder { name, raw } => match values.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(raw),
            },
        }
    }
    out
}

/// How many bytes [`render`] would produce, computed without producing
/// them, so a template that repeats a long value many times can be refused
/// before it costs memory.
pub fn rendered_len(text: &str, values: &BTreeMap<String, String>) -> usize {
    scan(text).into_iter().fold(0usize, |total, segment| {
        total.saturating_add(match segment {
            Segment::Literal(s) => s.len(),
            Segment::Placeholder { name, raw } => values.get(name).map_or(raw.len(), String::len),
        })
    })
}

/// Why the values given for a call do not satisfy the version's schema.
/// The gateway answers it with `GATEWAY_MISSING_VARIABLES` (missing) or a
/// validation error (invalid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveError {
    /// Required variables with neither a value nor a default, in schema order.
    pub missing: Vec<String>,
    /// Given values that do not match their declared type; `field` is
    /// `variables.<name>`, `code` is `TYPE_MISMATCH`.
    pub invalid: Vec<FieldError>,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing required variables: {}",
                self.missing.join(", ")
            ));
        }
        for e in &self.invalid {
            parts.push(format!("{}: {}", e.field, e.message));
        }
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ResolveError {}

/// The values to render a version with: the caller's `given` values checked
/// against the declared `schema`, with defaults filled in.
///
/// For each declared variable, in schema order:
/// - a given value must match the declared type ([`check_value`]);
/// - otherwise its default is used (defaults are checked when the version is
///   saved, see [`crate::validation::validate_draft`]);
/// - otherwise, if it is required, it is missing;
/// - otherwise (optional, no default) it renders as the empty string, so the
///   model never sees a raw `{{name}}` for a variable the caller may omit.
///
/// Given values for names the schema does not declare are not checked and
/// never cause an error; they are passed through as given, so a caller that
/// overrides the version's text with its own placeholders can fill them.
///
/// All problems are reported together: every missing name and every invalid
/// value.
pub fn resolve_values(
    schema: &[VariableSpec],
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ResolveError> {
    let mut values = given.clone();
    let mut missing = Vec::new();
    let mut invalid = Vec::new();
    for spec in schema {
        match given.get(&spec.name) {
            Some(value) => {
                if let Err(expected) = check_value(spec.kind, value) {
                    invalid.push(FieldError::new(
                        format!("variables.{}", spec.name),
                        codes::TYPE_MISMATCH,
                        format!(
                            "variable {} is declared {}: {expected}",
                            spec.name, spec.kind
                        ),
                    ));
                }
            }
            None => match (&spec.default, spec.required) {
                (Some(default), _) => {
                    values.insert(spec.name.clone(), default.clone());
                }
                (None, true) => missing.push(spec.name.clone()),
                (None, false) => {
                    values.insert(spec.name.clone(), String::new());
                }
            },
        }
    }
    if missing.is_empty() && invalid.is_empty() {
        Ok(values)
    } else {
        Err(ResolveError { missing, invalid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::VariableKind::{Boolean, Json, Number, String as Str};
    use crate::variables::spec;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn finds_placeholders_with_and_without_spaces() {
        assert_eq!(
            placeholders("Hi {{name}}, from {{ city }}!"),
            ["name", "city"]
        );
        assert_eq!(placeholders("{{\tx\n}} {{y }} {{  z}}"), ["x", "y", "z"]);
        assert_eq!(placeholders("{{_a1}} {{B_2}}"), ["_a1", "B_2"]);
    }

    #[test]
    fn placeholders_are_distinct_in_first_appearance_order() {
        assert_eq!(
            placeholders("{{b}} {{a}} {{ b }} {{c}} {{a}}"),
            ["b", "a", "c"]
        );
        assert!(placeholders("no placeholders here").is_empty());
        assert!(placeholders("").is_empty());
    }

    #[test]
    fn other_braces_are_not_placeholders() {
        for text in [
            "{{}}",
            "{{ }}",
            "{{1x}}",
            "{{a.b}}",
            "{{a-b}}",
            "{{a b}}",
            "{name}",
            "{{name}",
            "{name}}",
            "{{ name",
            r#"{"a": {"b": 1}}"#,
            "{{é}}",
            "{{",
            "}}",
        ] {
            assert!(placeholders(text).is_empty(), "{text}");
            assert_eq!(render(text, &map(&[("name", "X"), ("a", "X")])), text);
        }
    }

    #[test]
    fn nested_and_triple_braces() {
        assert_eq!(placeholders("{{{x}}}"), ["x"]);
        assert_eq!(render("{{{x}}}", &map(&[("x", "1")])), "{1}");
        assert_eq!(placeholders("{{ a {{b}} }}"), ["b"]);
        assert_eq!(render("{{ a {{b}} }}", &map(&[("b", "2")])), "{{ a 2 }}");
    }

    #[test]
    fn renders_known_and_leaves_unknown() {
        let values = map(&[("name", "Ada"), ("city", "Zürich")]);
        assert_eq!(
            render("Hi {{name}} in {{ city }}; {{unknown}} stays.", &values),
            "Hi Ada in Zürich; {{unknown}} stays."
        );
        assert_eq!(render("{{name}}{{name}}", &values), "AdaAda");
        assert_eq!(render("", &values), "");
    }

    #[test]
    fn render_keeps_unicode_and_does_not_rerender_values() {
        let values = map(&[("a", "{{b}}"), ("b", "B")]);
        assert_eq!(render("ü{{a}}ß{{ b }}€", &values), "ü{{b}}ßB€");
    }

    #[test]
    fn scanning_hostile_input_is_linear_and_literal() {
        // Would take quadratic time with a naive search for "}}" per "{{".
        let text = "{{".repeat(50_000) + &"a".repeat(50_000);
        assert!(placeholders(&text).is_empty());
        assert_eq!(render(&text, &map(&[("a", "x")])), text);
    }

    #[test]
    fn valid_names() {
        for ok in ["a", "_", "_x", "A1", "snake_case_2"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "a.b", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn resolve_applies_defaults_and_empties_optional() {
        let schema = vec![
            spec("name", Str, true, None),
            spec("tone", Str, true, Some("friendly")),
            spec("n", Number, false, Some("3")),
            spec("note", Str, false, None),
        ];
        let out = resolve_values(&schema, &map(&[("name", "Ada")])).unwrap();
        assert_eq!(
            out,
            map(&[
                ("name", "Ada"),
                ("tone", "friendly"),
                ("n", "3"),
                ("note", "")
            ])
        );
        let given = map(&[("name", "Ada"), ("tone", "dry"), ("n", "7"), ("note", "hi")]);
        assert_eq!(resolve_values(&schema, &given).unwrap(), given);
    }

    #[test]
    fn resolve_names_every_missing_required_variable() {
        let schema = vec![
            spec("a", Str, true, None),
            spec("b", Str, false, None),
            spec("c", Number, true, None),
        ];
        let err = resolve_values(&schema, &map(&[])).unwrap_err();
        assert_eq!(err.missing, ["a", "c"]);
        assert!(err.invalid.is_empty());
        assert_eq!(err.to_string(), "missing required variables: a, c");
    }

    #[test]
    fn resolve_reports_type_mismatches_with_missing() {
        let schema = vec![
            spec("n", Number, true, None),
            spec("flag", Boolean, false, None),
            spec("j", Json, false, None),
            spec("gone", Str, true, None),
        ];
        let given = map(&[("n", "abc"), ("flag", "yes"), ("j", "{}")]);
        let err = resolve_values(&schema, &given).unwrap_err();
        assert_eq!(err.missing, ["gone"]);
        let fields: Vec<&str> = err.invalid.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["variables.n", "variables.flag"]);
        assert!(err.invalid.iter().all(|e| e.code == "TYPE_MISMATCH"));
        assert!(
            err.invalid[0].message.contains("number"),
            "{}",
            err.invalid[0].message
        );
    }

    #[test]
    fn resolve_ignores_undeclared_variables_but_passes_them_through() {
        let schema = vec![spec("a", Number, true, None)];
        let out = resolve_values(&schema, &map(&[("a", "1"), ("extra", "not checked")])).unwrap();
        assert_eq!(out, map(&[("a", "1"), ("extra", "not checked")]));
        assert_eq!(resolve_values(&[], &map(&[])).unwrap(), map(&[]));
    }

    #[test]
    fn resolve_error_serializes_camel_case() {
        let err = ResolveError {
            missing: vec!["a".into()],
            invalid: vec![FieldError::new("variables.n", "TYPE_MISMATCH", "m")],
        };
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"missing":["a"],"invalid":[{"field":"variables.n","code":"TYPE_MISMATCH","message":"m"}]}"#
        );
    }
}
