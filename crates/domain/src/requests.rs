//! The bodies of the control plane's create endpoints (other than versions,
//! see [`crate::validation::VersionDraft`]), with their rules. Like drafts,
//! they reject unknown fields and report every problem at once as
//! [`FieldError`]s.

use serde::Deserialize;

use crate::auth::{Scope, parse_scopes};
use crate::slug::validate_slug;
use crate::validation::{FieldError, codes, validate_prompt_name};

/// Longest prompt description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 2_000;
/// Longest token or organization name, in characters.
pub const MAX_LABEL_LEN: usize = 100;

/// `POST /api/v1/prompts`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPrompt {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub description: String,
}

impl NewPrompt {
    /// Name rules ([`validate_prompt_name`]), slug rules ([`validate_slug`],
    /// `REQUIRED` when empty, `INVALID_FORMAT` otherwise), description at
    /// most [`MAX_DESCRIPTION_LEN`] characters.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(e) = validate_prompt_name(&self.name) {
            errors.push(e);
        }
        if let Err(message) = validate_slug(&self.slug) {
            let code = if self.slug.is_empty() {
                codes::REQUIRED
            } else {
                codes::INVALID_FORMAT
            };
            errors.push(FieldError::new("slug", code, message));
        }
        if self.description.chars().nth(MAX_DESCRIPTION_LEN).is_some() {
            errors.push(FieldError::new(
                "description",
                codes::TOO_LONG,
                format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        finish(errors)
    }
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl NewToken {
    /// A label name ([`check_label`]) and a non-empty list of known scopes
    /// ([`parse_scopes`]); returns the scopes, deduplicated.
    pub fn validate(&self) -> Result<Vec<Scope>, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_label(&mut errors, "name", &self.name);
        let scopes = parse_scopes(&self.scopes).map_err(|e| errors.push(e)).ok();
        finish(errors)?;
        Ok(scopes.unwrap_or_default())
    }
}

/// `POST /api/v1/organizations`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewOrganization {
    #[serde(default)]
    pub name: String,
}

impl NewOrganization {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_label(&mut errors, "name", &self.name);
        finish(errors)
    }
}

/// A short one-line label: not blank (`REQUIRED`), at most
/// [`MAX_LABEL_LEN`] characters (`TOO_LONG`), no control characters
/// (`INVALID_FORMAT`).
fn check_label(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(
            field,
            codes::REQUIRED,
            format!("{field} is required"),
        ));
    } else if value.chars().nth(MAX_LABEL_LEN).is_some() {
        errors.push(FieldError::new(
            field,
            codes::TOO_LONG,
            format!("{field} is longer than {MAX_LABEL_LEN} characters"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            codes::INVALID_FORMAT,
            format!("{field} may not contain control characters such as newlines or tabs"),
        ));
    }
}

fn finish(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::validation::fields_and_codes as fields;

    #[test]
    fn new_prompt_reports_every_problem() {
        let ok = NewPrompt {
            name: "Support reply".into(),
            slug: "support-reply".into(),
            description: String::new(),
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = NewPrompt {
            name: " ".into(),
            slug: "Support Reply".into(),
            description: "x".repeat(MAX_DESCRIPTION_LEN + 1),
        };
        assert_eq!(
            fields(&bad.validate().unwrap_err()),
            [
                ("name", "REQUIRED"),
                ("slug", "INVALID_FORMAT"),
                ("description", "TOO_LONG")
            ]
        );
        let empty: NewPrompt = serde_json::from_str("{}").unwrap();
        assert_eq!(
            fields(&empty.validate().unwrap_err()),
            [("name", "REQUIRED"), ("slug", "REQUIRED")]
        );
        assert!(serde_json::from_str::<NewPrompt>(r#"{"name":"a","slug":"a","sulg":1}"#).is_err());
    }

    #[test]
    fn new_token_needs_a_name_and_known_scopes() {
        let ok = NewToken {
            name: "ci".into(),
            scopes: vec!["prompts:read".into(), "prompts:read".into()],
        };
        assert_eq!(ok.validate(), Ok(vec![Scope::PromptsRead]));
        let bad = NewToken {
            name: "a\nb".into(),
            scopes: vec!["root".into()],
        };
        assert_eq!(
            fields(&bad.validate().unwrap_err()),
            [("name", "INVALID_FORMAT"), ("scopes[0]", "UNKNOWN_VALUE")]
        );
        let none = NewToken::default();
        assert_eq!(
            fields(&none.validate().unwrap_err()),
            [("name", "REQUIRED"), ("scopes", "REQUIRED")]
        );
        let long = NewOrganization {
            name: "x".repeat(MAX_LABEL_LEN + 1),
        };
        assert_eq!(
            fields(&long.validate().unwrap_err()),
            [("name", "TOO_LONG")]
        );
        assert_eq!(
            NewOrganization {
                name: "Acme".into()
            }
            .validate(),
            Ok(())
        );
    }
}
