//! Application variables and `{{ name }}` templates.
//!
//! A variable's value comes from, in order: `--variable name=value` overrides,
//! then the environment variable `SPIN_VARIABLE_<NAME>` (name uppercased; an
//! empty value counts, as in Spin), then the manifest `default`. Spin's other
//! sources (its legacy `SPIN_CONFIG_` prefix, `.env` files, Vault/Azure
//! providers) are not read.
//!
//! Secret values never appear in errors or `Debug` output.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::template::{self, Part};
use crate::{ComponentManifest, VariableDecl};

/// The environment variable Spin reads for an application variable.
pub fn env_var_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    value: Option<String>,
    secret: bool,
    /// The value is the manifest's non-empty `default`: for a secret, a
    /// value anyone who reads the manifest knows.
    public_default: bool,
}

/// Resolved application variables.
#[derive(Clone, PartialEq, Eq)]
pub struct Variables {
    entries: BTreeMap<String, Entry>,
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(&'a Entry);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match &self.0.value {
                    None => f.write_str("<unset>"),
                    Some(_) if self.0.secret => f.write_str("<redacted>"),
                    Some(v) => fmt::Debug::fmt(v, f),
                }
            }
        }
        f.debug_map()
            .entries(self.entries.iter().map(|(k, e)| (k, Shown(e))))
            .finish()
    }
}

impl Variables {
    /// Precedence: `overrides` (from `--variable k=v`; the last one for a name
    /// wins) > env `SPIN_VARIABLE_<NAME uppercased>` > manifest default.
    ///
    /// Errors: an override for an undeclared variable; a required variable
    /// with no value (all such are listed, with how to set them).
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        overrides: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Variables> {
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in overrides {
            if !decls.contains_key(name) {
                let declared: Vec<&str> = decls.keys().map(String::as_str).collect();
                bail!(
                    "--variable {name}=...: no application variable `{name}` is declared in the \
                     manifest's [variables] (declared: {})",
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.join(", ")
                    }
                );
            }
            given.insert(name, value);
        }

        let mut entries = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            let value = match given.get(name.as_str()) {
                Some(v) => Some(v.to_string()),
                None => env(&env_var_name(name)).or_else(|| decl.default.clone()),
            };
            if value.is_none() && decl.required {
                missing.push(name.as_str());
            }
            let public_default =
                value.as_deref().is_some_and(|v| !v.is_empty()) && value == decl.default;
            entries.insert(
                name.clone(),
                Entry {
                    value,
                    secret: decl.secret,
                    public_default,
                },
            );
        }
        if !missing.is_empty() {
            let how: Vec<String> = missing
                .iter()
                .map(|n| format!("`{n}` (--variable {n}=<value> or {})", env_var_name(n)))
                .collect();
            bail!(
                "required application variable{} not set: {}",
                if missing.len() == 1 { " is" } else { "s are" },
                how.join(", ")
            );
        }
        Ok(Variables { entries })
    }

    /// The value of a declared variable (`None` if undeclared or unset).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name)?.value.as_deref()
    }

    /// Whether the manifest declares the variable.
    pub fn is_declared(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether the variable is declared `secret = true`.
    pub fn is_secret(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|e| e.secret)
    }

    /// Secret variables left at the manifest's own non-empty default: fine
    /// for a laptop, a mistake in a deployment, so `up` warns about each.
    pub fn secrets_at_public_default(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(_, e)| e.secret && e.public_default)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Renders `{{ name }}` / `{{name}}` templates. An unknown name, a declared
    /// variable with no value, or malformed braces is an error (which never
    /// includes a value).
    pub fn render(&self, template: &str) -> Result<String> {
        let parts = template::parse(template).map_err(|e| anyhow!("template {template:?}: {e}"))?;
        let mut out = String::new();
        for part in parts {
            match part {
                Part::Lit(lit) => out.push_str(lit),
                Part::Expr(name) => {
                    let Some(entry) = self.entries.get(name) else {
                        bail!(
                            "template {template:?} refers to unknown application variable `{name}`"
                        );
                    };
                    let Some(value) = &entry.value else {
                        bail!(
                            "template {template:?} refers to application variable `{name}`, which \
                             has no value (set it with --variable {name}=<value> or {})",
                            env_var_name(name)
                        );
                    };
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }
}

/// Renders each of the component's variables (so a component sees only what
/// its manifest lists).
pub fn component_variables(
    component: &ComponentManifest,
    vars: &Variables,
) -> Result<BTreeMap<String, String>> {
    component
        .variables
        .iter()
        .map(|(name, tmpl)| {
            let value = vars.render(tmpl).with_context(|| {
                format!(
                    "component `{}`: cannot render variable `{name}`",
                    component.id
                )
            })?;
            Ok((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn decl(default: Option<&str>, required: bool, secret: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_string),
            required,
            secret,
        }
    }

    fn decls() -> BTreeMap<String, VariableDecl> {
        BTreeMap::from([
            (
                "api_host".to_string(),
                decl(Some("api.example.com"), false, false),
            ),
            ("api_token".to_string(), decl(None, true, true)),
            ("log_level".to_string(), decl(Some("info"), false, false)),
        ])
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn ov(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn precedence_override_env_default() {
        let env = |k: &str| match k {
            "SPIN_VARIABLE_API_HOST" => Some("env-host".to_string()),
            "SPIN_VARIABLE_API_TOKEN" => Some("env-token".to_string()),
            "SPIN_VARIABLE_LOG_LEVEL" => Some("debug".to_string()),
            _ => None,
        };
        let v = Variables::resolve(&decls(), &ov(&[("api_host", "cli-host")]), &env).unwrap();
        assert_eq!(v.get("api_host"), Some("cli-host"));
        assert_eq!(v.get("api_token"), Some("env-token"));
        assert_eq!(v.get("log_level"), Some("debug"));

        let v = Variables::resolve(&decls(), &ov(&[("api_token", "t")]), &no_env).unwrap();
        assert_eq!(v.get("api_host"), Some("api.example.com"));
        assert_eq!(v.get("log_level"), Some("info"));
        assert_eq!(v.get("nope"), None);
    }

    #[test]
    fn last_override_wins_and_empty_env_counts() {
        let env = |k: &str| (k == "SPIN_VARIABLE_LOG_LEVEL").then(String::new);
        let v = Variables::resolve(
            &decls(),
            &ov(&[("api_token", "a"), ("api_token", "b")]),
            &env,
        )
        .unwrap();
        assert_eq!(v.get("api_token"), Some("b"));
        assert_eq!(v.get("log_level"), Some(""));
    }

    #[test]
    fn missing_required_variables_are_listed_with_how_to_set_them() {
        let mut d = decls();
        d.insert("db_password".into(), decl(None, true, true));
        let e = format!("{:#}", Variables::resolve(&d, &[], &no_env).unwrap_err());
        assert!(
            e.contains("`api_token`") && e.contains("`db_password`"),
            "{e}"
        );
        assert!(e.contains("--variable api_token=<value>"), "{e}");
        assert!(e.contains("SPIN_VARIABLE_API_TOKEN"), "{e}");
        assert!(e.contains("SPIN_VARIABLE_DB_PASSWORD"), "{e}");
    }

    #[test]
    fn overriding_an_undeclared_variable_is_an_error() {
        let e = format!(
            "{:#}",
            Variables::resolve(
                &decls(),
                &ov(&[("api_token", "x"), ("typo", "secret-ish")]),
                &no_env
            )
            .unwrap_err()
        );
        assert!(e.contains("`typo`") && e.contains("api_host"), "{e}");
        assert!(!e.contains("secret-ish"), "{e}");
    }

    #[test]
    fn secrets() {
        let v = Variables::resolve(&decls(), &ov(&[("api_token", "hunter2")]), &no_env).unwrap();
        assert!(v.is_secret("api_token"));
        assert!(!v.is_secret("api_host"));
        assert!(!v.is_secret("undeclared"));
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(
            dbg.contains("<redacted>") && dbg.contains("api.example.com"),
            "{dbg}"
        );
        // Rendering errors never carry values.
        let e = format!("{:#}", v.render("{{ api_token }} {{ nope }}").unwrap_err());
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn secrets_left_at_their_public_default_are_named() {
        let mut d = decls();
        d.insert("signing_key".into(), decl(Some("dev-key"), false, true));
        d.insert("empty_secret".into(), decl(Some(""), false, true));
        let v = Variables::resolve(&d, &ov(&[("api_token", "x")]), &no_env).unwrap();
        assert_eq!(v.secrets_at_public_default(), ["signing_key"]);
        let v = Variables::resolve(
            &d,
            &ov(&[("api_token", "x"), ("signing_key", "s3cret")]),
            &no_env,
        )
        .unwrap();
        assert!(v.secrets_at_public_default().is_empty());
    }

    #[test]
    fn render_templates() {
        let v = Variables::resolve(&decls(), &ov(&[("api_token", "t0k")]), &no_env).unwrap();
        assert_eq!(v.render("plain").unwrap(), "plain");
        assert_eq!(v.render("").unwrap(), "");
        assert_eq!(
            v.render("https://{{ api_host }}/x?t={{api_token}}")
                .unwrap(),
            "https://api.example.com/x?t=t0k"
        );
        assert_eq!(
            v.render("{{api_host}}{{ log_level }}").unwrap(),
            "api.example.cominfo"
        );
        assert_eq!(v.render("a }} b").unwrap(), "a }} b");
        let e = format!("{:#}", v.render("{{ nope }}").unwrap_err());
        assert!(e.contains("unknown application variable `nope`"), "{e}");
        let e = format!("{:#}", v.render("{{ api_host").unwrap_err());
        assert!(e.contains("unmatched"), "{e}");
    }

    #[test]
    fn declared_variable_without_value_fails_to_render() {
        // Not producible from a valid manifest, but `resolve` accepts any decls.
        let d = BTreeMap::from([("odd".to_string(), decl(None, false, false))]);
        let v = Variables::resolve(&d, &[], &no_env).unwrap();
        assert_eq!(v.get("odd"), None);
        let e = format!("{:#}", v.render("{{ odd }}").unwrap_err());
        assert!(
            e.contains("no value") && e.contains("SPIN_VARIABLE_ODD"),
            "{e}"
        );
        assert!(format!("{v:?}").contains("<unset>"));
    }

    #[test]
    fn component_sees_only_its_variables() {
        let v = Variables::resolve(&decls(), &ov(&[("api_token", "t0k")]), &no_env).unwrap();
        let component = ComponentManifest {
            id: "gateway".into(),
            source: PathBuf::from("/x.wasm"),
            allowed_outbound_hosts: vec![],
            key_value_stores: vec![],
            sqlite_databases: vec![],
            variables: BTreeMap::from([
                ("auth".to_string(), "Bearer {{ api_token }}".to_string()),
                ("fixed".to_string(), "42".to_string()),
            ]),
            build: None,
        };
        let rendered = component_variables(&component, &v).unwrap();
        assert_eq!(
            rendered,
            BTreeMap::from([
                ("auth".to_string(), "Bearer t0k".to_string()),
                ("fixed".to_string(), "42".to_string()),
            ])
        );
        let mut bad = component.clone();
        bad.variables.insert("x".into(), "{{ missing }}".into());
        let e = format!("{:#}", component_variables(&bad, &v).unwrap_err());
        assert!(
            e.contains("`gateway`") && e.contains("`x`") && e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn env_var_names() {
        assert_eq!(env_var_name("api_key"), "SPIN_VARIABLE_API_KEY");
    }
}
