//! Comparing two prompt versions (DESIGN.md §1, "Compare"):
//! `GET /api/v1/prompts/:id/compare?from=:vid&to=:vid`.
//!
//! The result has three panes: a line diff of the system and user text, the
//! changes to the variable schema, and the parameter changes as their own
//! list, because a parameter change (temperature 0.2 → 0.8) is exactly the
//! kind of regression a text diff hides.

use serde::{Deserialize, Serialize};

use crate::validation::VersionDraft;
use crate::variables::VariableSpec;

/// What of a version takes part in a comparison: its content, without ids,
/// author, message or timestamps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionContent {
    /// The system text.
    pub system: String,
    /// The user template.
    pub user: String,
    /// The declared variables.
    pub variables: Vec<VariableSpec>,
    /// The model.
    pub model: String,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling mass.
    pub top_p: Option<f64>,
    /// Sequences that end generation.
    pub stop_sequences: Vec<String>,
}

impl From<&VersionDraft> for VersionContent {
    fn from(d: &VersionDraft) -> Self {
        VersionContent {
            system: d.system.clone(),
            user: d.user.clone(),
            variables: d.variables.clone(),
            model: d.model.clone(),
            temperature: d.temperature,
            max_tokens: d.max_tokens,
            top_p: d.top_p,
            stop_sequences: d.stop_sequences.clone(),
        }
    }
}

/// The differences between two versions. Serialized camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Line diff of the system text.
    pub system: TextDiff,
    /// Line diff of the user template.
    pub user: TextDiff,
    /// Variables added, removed or changed.
    pub variables: Vec<VariableChange>,
    /// Parameters that differ, in a fixed order: model, temperature,
    /// maxTokens, topP, stopSequences.
    pub parameters: Vec<ParameterChange>,
}

impl Comparison {
    /// Whether the two versions differ in anything compared.
    pub fn has_changes(&self) -> bool {
        self.system.changed
            || self.user.changed
            || !self.variables.is_empty()
            || !self.parameters.is_empty()
    }
}

/// A line diff of one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextDiff {
    /// Whether the texts differ at all (also true for a change in the final
    /// newline only).
    pub changed: bool,
    /// Every line of both texts, equal ones included, in diff order: a
    /// changed line appears as its delete followed by the insert.
    pub lines: Vec<DiffLine>,
}

/// One line of a [`TextDiff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffLine {
    /// Whether the line is in both texts, only the new one or only the old one.
    pub op: DiffOp,
    /// The line without its line ending (`\n` or `\r\n`).
    pub text: String,
    /// The 1-based line number in the old text; `None` for inserts.
    pub old_line: Option<usize>,
    /// The 1-based line number in the new text; `None` for deletes.
    pub new_line: Option<usize>,
}

/// The kind of a [`DiffLine`]: `equal`, `insert` or `delete` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffOp {
    /// In both texts.
    Equal,
    /// Only in the new text.
    Insert,
    /// Only in the old text.
    Delete,
}

/// One variable that differs between the versions, matched by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableChange {
    /// The variable's name.
    pub name: String,
    /// Added, removed or changed.
    pub change: VariableChangeKind,
    /// The declaration in the old version; `None` when added.
    pub from: Option<VariableSpec>,
    /// The declaration in the new version; `None` when removed.
    pub to: Option<VariableSpec>,
}

/// The kind of a [`VariableChange`]: `added`, `removed` or `changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableChangeKind {
    /// Declared only in the new version.
    Added,
    /// Declared only in the old version.
    Removed,
    /// Declared in both, with a different type, `required` or default.
    Changed,
}

/// One parameter that differs, with its old and new value as JSON (`null`
/// when unset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterChange {
    /// Which parameter.
    pub name: Parameter,
    /// The old value.
    pub from: serde_json::Value,
    /// The new value.
    pub to: serde_json::Value,
}

/// The parameters compared, named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Parameter {
    /// `model`.
    Model,
    /// `temperature`.
    Temperature,
    /// `maxTokens`.
    MaxTokens,
    /// `topP`.
    TopP,
    /// `stopSequences`.
    StopSequences,
}

/// Compares version `from` (the old one) with version `to` (the new one).
///
/// Text is diffed by lines with `similar` (Myers, with its built-in bounds on
/// pathological inputs, so large texts stay fast). Variables are matched by
/// name: removed and changed ones in the order of `from`, then added ones in
/// the order of `to`. Parameters are compared by value and listed only when
/// they differ; `stopSequences` is compared as an ordered list.
pub fn compare(from: &VersionContent, to: &VersionContent) -> Comparison {
    Comparison {
        system: diff_text(&from.system, &to.system),
        user: diff_text(&from.user, &to.user),
        variables: diff_variables(&from.variables, &to.variables),
        parameters: diff_parameters(from, to),
    }
}

/// A line diff of `old` and `new`.
fn diff_text(old: &str, new: &str) -> TextDiff {
    let diff = similar::TextDiff::from_lines(old, new);
    let lines = diff
        .iter_all_changes()
        .map(|change| {
            let text = change.value();
            let text = text.strip_suffix('\n').unwrap_or(text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            DiffLine {
                op: match change.tag() {
                    similar::ChangeTag::Equal => DiffOp::Equal,
                    similar::ChangeTag::Insert => DiffOp::Insert,
                    similar::ChangeTag::Delete => DiffOp::Delete,
                },
                text: text.to_owned(),
                old_line: change.old_index().map(|i| i + 1),
                new_line: change.new_index().map(|i| i + 1),
            }
        })
        .collect();
    TextDiff {
        changed: old != new,
        lines,
    }
}

fn diff_variables(old: &[VariableSpec], new: &[VariableSpec]) -> Vec<VariableChange> {
    let mut changes = Vec::new();
    for o in old {
        match new.iter().find(|n| n.name == o.name) {
            None => changes.push(VariableChange {
                name: o.name.clone(),
                change: VariableChangeKind::Removed,
                from: Some(o.clone()),
                to: None,
            }),
            Some(n) if n != o => changes.push(VariableChange {
                name: o.name.clone(),
                change: VariableChangeKind::Changed,
                from: Some(o.clone()),
                to: Some(n.clone()),
            }),
            Some(_) => {}
        }
    }
    for n in new {
        if old.iter().all(|o| o.name != n.name) {
            changes.push(VariableChange {
                name: n.name.clone(),
                change: VariableChangeKind::Added,
                from: None,
                to: Some(n.clone()),
            });
        }
    }
    changes
}

fn diff_parameters(from: &VersionContent, to: &VersionContent) -> Vec<ParameterChange> {
    use serde_json::json;
    let pairs = [
        (Parameter::Model, json!(from.model), json!(to.model)),
        (
            Parameter::Temperature,
            json!(from.temperature),
            json!(to.temperature),
        ),
        (
            Parameter::MaxTokens,
            json!(from.max_tokens),
            json!(to.max_tokens),
        ),
        (Parameter::TopP, json!(from.top_p), json!(to.top_p)),
        (
            Parameter::StopSequences,
            json!(from.stop_sequences),
            json!(to.stop_sequences),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(name, from, to)| ParameterChange { name, from, to })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::VariableKind::{Number, String as Str};
    use crate::variables::spec;
    use serde_json::json;

    fn base() -> VersionContent {
        VersionContent {
            system: "You are helpful.\nBe brief.\n".into(),
            user: "Question: {{q}}".into(),
            variables: vec![spec("q", Str, true, None)],
            model: "gpt-4o-mini".into(),
            temperature: Some(0.2),
            max_tokens: Some(256),
            top_p: None,
            stop_sequences: vec!["END".into()],
        }
    }

    fn line(op: DiffOp, text: &str, old: Option<usize>, new: Option<usize>) -> DiffLine {
        DiffLine {
            op,
            text: text.into(),
            old_line: old,
            new_line: new,
        }
    }

    #[test]
    fn identical_versions_have_no_changes() {
        let c = compare(&base(), &base());
        assert!(!c.has_changes());
        assert!(!c.system.changed);
        assert_eq!(
            c.system.lines,
            [
                line(DiffOp::Equal, "You are helpful.", Some(1), Some(1)),
                line(DiffOp::Equal, "Be brief.", Some(2), Some(2)),
            ]
        );
        assert!(c.variables.is_empty() && c.parameters.is_empty());
    }

    #[test]
    fn parameter_change_shows_even_when_texts_are_identical() {
        let to = VersionContent {
            temperature: Some(0.8),
            ..base()
        };
        let c = compare(&base(), &to);
        assert!(!c.system.changed && !c.user.changed && c.variables.is_empty());
        assert_eq!(
            c.parameters,
            [ParameterChange {
                name: Parameter::Temperature,
                from: json!(0.2),
                to: json!(0.8),
            }]
        );
        assert!(c.has_changes());
    }

    #[test]
    fn parameters_in_fixed_order_with_nulls_for_unset() {
        let to = VersionContent {
            model: "gpt-4o".into(),
            temperature: None,
            max_tokens: Some(1024),
            top_p: Some(0.9),
            stop_sequences: vec!["END".into(), "STOP".into()],
            ..base()
        };
        let c = compare(&base(), &to);
        let names: Vec<Parameter> = c.parameters.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                Parameter::Model,
                Parameter::Temperature,
                Parameter::MaxTokens,
                Parameter::TopP,
                Parameter::StopSequences
            ]
        );
        assert_eq!(c.parameters[1].to, json!(null));
        assert_eq!(c.parameters[3].from, json!(null));
        assert_eq!(c.parameters[4].to, json!(["END", "STOP"]));
    }

    #[test]
    fn line_diff_numbers_lines_from_one() {
        let from = VersionContent {
            system: "a\nb\nc\n".into(),
            ..base()
        };
        let to = VersionContent {
            system: "a\nB\nc\nd\n".into(),
            ..base()
        };
        let c = compare(&from, &to);
        assert!(c.system.changed);
        assert!(!c.user.changed);
        assert_eq!(
            c.system.lines,
            [
                line(DiffOp::Equal, "a", Some(1), Some(1)),
                line(DiffOp::Delete, "b", Some(2), None),
                line(DiffOp::Insert, "B", None, Some(2)),
                line(DiffOp::Equal, "c", Some(3), Some(3)),
                line(DiffOp::Insert, "d", None, Some(4)),
            ]
        );
    }

    #[test]
    fn line_endings_are_stripped_and_empty_texts_work() {
        let from = VersionContent {
            user: "x\r\ny".into(),
            ..base()
        };
        let to = VersionContent {
            user: String::new(),
            ..base()
        };
        let c = compare(&from, &to);
        assert_eq!(
            c.user.lines,
            [
                line(DiffOp::Delete, "x", Some(1), None),
                line(DiffOp::Delete, "y", Some(2), None),
            ]
        );
        let empty = VersionContent {
            user: String::new(),
            ..base()
        };
        let c = compare(&empty, &empty);
        assert!(!c.user.changed && c.user.lines.is_empty());
    }

    #[test]
    fn final_newline_change_counts_as_changed() {
        let from = VersionContent {
            user: "x".into(),
            ..base()
        };
        let to = VersionContent {
            user: "x\n".into(),
            ..base()
        };
        assert!(compare(&from, &to).user.changed);
    }

    #[test]
    fn variable_changes_removed_changed_then_added() {
        let from = VersionContent {
            variables: vec![
                spec("keep", Str, true, None),
                spec("gone", Str, false, None),
                spec("n", Str, false, None),
            ],
            ..base()
        };
        let to = VersionContent {
            variables: vec![
                spec("new", Str, false, Some("x")),
                spec("n", Number, false, None),
                spec("keep", Str, true, None),
            ],
            ..base()
        };
        let c = compare(&from, &to);
        let summary: Vec<(&str, VariableChangeKind)> = c
            .variables
            .iter()
            .map(|v| (v.name.as_str(), v.change))
            .collect();
        assert_eq!(
            summary,
            [
                ("gone", VariableChangeKind::Removed),
                ("n", VariableChangeKind::Changed),
                ("new", VariableChangeKind::Added),
            ]
        );
        assert_eq!(c.variables[0].to, None);
        assert_eq!(c.variables[1].to.as_ref().unwrap().kind, Number);
        assert_eq!(c.variables[2].from, None);
    }

    #[test]
    fn serializes_camel_case_wire_shape() {
        let from = VersionContent {
            user: "a".into(),
            ..base()
        };
        let to = VersionContent {
            user: "b".into(),
            stop_sequences: vec![],
            ..base()
        };
        let v = serde_json::to_value(compare(&from, &to)).unwrap();
        assert_eq!(
            v["user"]["lines"][0],
            json!({"op": "delete", "text": "a", "oldLine": 1, "newLine": null})
        );
        assert_eq!(
            v["parameters"],
            json!([{"name": "stopSequences", "from": ["END"], "to": []}])
        );
        let change = VariableChange {
            name: "q".into(),
            change: VariableChangeKind::Added,
            from: None,
            to: Some(spec("q", Str, true, None)),
        };
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            json!({"name": "q", "change": "added", "from": null,
                   "to": {"name": "q", "type": "string", "required": true, "default": null}})
        );
        let content = serde_json::to_value(base()).unwrap();
        assert!(content.get("maxTokens").is_some() && content.get("stopSequences").is_some());
    }

    #[test]
    fn version_content_from_draft() {
        let d = VersionDraft {
            user: "u".into(),
            model: "m".into(),
            top_p: Some(0.5),
            message: "not part of content".into(),
            ..VersionDraft::default()
        };
        let c = VersionContent::from(&d);
        assert_eq!(c.user, "u");
        assert_eq!(c.top_p, Some(0.5));
    }

    #[test]
    fn large_disjoint_texts_diff_quickly() {
        // Pathological for a plain Myers diff: no line in common.
        let old: String = (0..20_000).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..20_000).map(|i| format!("new {i}\n")).collect();
        let from = VersionContent {
            system: old,
            ..base()
        };
        let to = VersionContent {
            system: new,
            ..base()
        };
        let c = compare(&from, &to);
        assert_eq!(c.system.lines.len(), 40_000);
    }
}
