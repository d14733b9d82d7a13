//! `spin.toml` (manifest version 2): parsing and validation.
//!
//! The TOML is walked by hand rather than through serde so that every key we
//! do not implement is reported with its full dotted path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use toml::{Table, Value};

use crate::ids::{check_component_id, check_label, check_variable_name};
use crate::{outbound, routing, template};

/// A parsed and validated `spin.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppManifest {
    /// The `spin.toml` file, absolute.
    pub path: PathBuf,
    /// Its directory, absolute; component sources and build workdirs resolve against it.
    pub dir: PathBuf,
    /// `application.name`.
    pub name: String,
    /// `application.version` (`None` when absent or empty).
    pub version: Option<String>,
    /// `[variables]`: the application variables.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]`, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]`, by id.
    pub components: BTreeMap<String, ComponentManifest>,
}

/// An application variable declaration: `name = { default = "x" }` or
/// `name = { required = true }`, optionally with `secret = true`.
///
/// `Debug` redacts the default of a secret variable.
#[derive(Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// The value used when neither `--variable` nor the environment sets one.
    pub default: Option<String>,
    /// A value must be supplied at startup.
    pub required: bool,
    /// The value is sensitive: it never appears in errors or `Debug` output.
    pub secret: bool,
}

impl fmt::Debug for VariableDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default: Option<&dyn fmt::Debug> = match &self.default {
            None => None,
            Some(_) if self.secret => Some(&"<redacted>"),
            Some(d) => Some(d),
        };
        f.debug_struct("VariableDecl")
            .field("default", &default)
            .field("required", &self.required)
            .field("secret", &self.secret)
            .finish()
    }
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route as written, e.g. `/api/:id/...`.
    pub route: String,
    /// The id of the component that handles it.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentManifest {
    /// The component id (the `<id>` in `[component.<id>]`).
    pub id: String,
    /// The Wasm file, absolute (resolved against the manifest directory).
    pub source: PathBuf,
    /// Raw entries; they may hold `{{ variable }}` templates. Literal entries
    /// have already been validated with [`outbound::AllowedHosts::parse`].
    pub allowed_outbound_hosts: Vec<String>,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    pub sqlite_databases: Vec<String>,
    /// Component variables: name -> raw template.
    pub variables: BTreeMap<String, String>,
    /// `[component.<id>.build]`.
    pub build: Option<BuildConfig>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// The build command (a single string; Spin's array form is rejected).
    pub command: String,
    /// Absolute; defaults to the manifest directory.
    pub workdir: PathBuf,
    /// Paths or globs, relative to `workdir`, as written.
    pub watch: Vec<String>,
}

/// Reads, parses and validates a `spin.toml`.
///
/// Every error names the manifest path. See the crate documentation for what
/// is supported.
pub fn load_manifest(path: &Path) -> Result<AppManifest> {
    let path = std::path::absolute(path)
        .with_context(|| format!("cannot resolve manifest path {}", path.display()))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow!("cannot read Spin manifest {}: {e}", path.display()))?;
    parse_manifest(&text, &path)
        .map_err(|e| anyhow!("invalid Spin manifest {}: {e:#}", path.display()))
}

/// Parses manifest text; `path` must be absolute. Errors do not name the path
/// (the caller adds it).
pub(crate) fn parse_manifest(text: &str, path: &Path) -> Result<AppManifest> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("manifest path has no parent directory"))?
        .to_path_buf();
    let root: Table = toml::from_str(text).map_err(|e| anyhow!("not valid TOML: {e}"))?;

    match root.get("spin_manifest_version") {
        Some(Value::Integer(2)) => {}
        Some(other) => bail!("`spin_manifest_version` must be 2, found {other}"),
        None if root.contains_key("spin_version") => bail!(
            "this is a version 1 manifest (`spin_version`); the local runtime supports only \
             `spin_manifest_version = 2`"
        ),
        None => bail!("missing `spin_manifest_version = 2`"),
    }
    check_keys(
        &root,
        "",
        &[
            "spin_manifest_version",
            "application",
            "variables",
            "trigger",
            "component",
        ],
    )?;

    let (name, version) = parse_application(&root)?;
    let variables = parse_variables(&root)?;
    let http_triggers = parse_triggers(&root)?;

    let mut components = BTreeMap::new();
    if let Some(table) = get_table(&root, "", "component")? {
        for (id, value) in table {
            let key = dotted("component", id);
            check_component_id(id).map_err(|e| anyhow!("invalid component id `{key}`: {e}"))?;
            let Value::Table(t) = value else {
                bail!("`{key}` must be a table");
            };
            let component = parse_component(id, t, &key, &dir, &variables)
                .with_context(|| format!("in [{key}]"))?;
            components.insert(id.clone(), component);
        }
    }

    for t in &http_triggers {
        if !components.contains_key(&t.component) {
            let declared: Vec<&str> = components.keys().map(String::as_str).collect();
            bail!(
                "the trigger for route {:?} refers to component `{}`, which is not declared \
                 (declared components: {})",
                t.route,
                t.component,
                list_or_none(&declared)
            );
        }
    }
    // Route syntax, duplicates and reserved routes are checked where they are used.
    routing::Router::new(&http_triggers)?;

    Ok(AppManifest {
        path: path.to_path_buf(),
        dir,
        name,
        version,
        variables,
        http_triggers,
        components,
    })
}

fn parse_application(root: &Table) -> Result<(String, Option<String>)> {
    let app = get_table(root, "", "application")?
        .ok_or_else(|| anyhow!("missing `[application]` table"))?;
    let p = "application";
    check_keys(
        app,
        p,
        &["name", "version", "description", "authors", "trigger"],
    )?;
    let name = get_str(app, p, "name")?.ok_or_else(|| anyhow!("missing `application.name`"))?;
    let version = get_str(app, p, "version")?.filter(|v| !v.is_empty());
    get_str(app, p, "description")?;
    get_str_list(app, p, "authors")?;
    if let Some(trigger) = get_table(app, p, "trigger")? {
        let p = "application.trigger";
        check_keys(trigger, p, &["http"])?;
        if let Some(http) = get_table(trigger, p, "http")? {
            let p = "application.trigger.http";
            check_keys(http, p, &["base"])?;
            if let Some(base) = get_str(http, p, "base")?
                && base != "/"
            {
                bail!(
                    "`application.trigger.http.base = {base:?}` is not supported by the local \
                     runtime: only \"/\""
                );
            }
        }
    }
    Ok((name, version))
}

fn parse_variables(root: &Table) -> Result<BTreeMap<String, VariableDecl>> {
    let mut variables = BTreeMap::new();
    let Some(table) = get_table(root, "", "variables")? else {
        return Ok(variables);
    };
    for (name, value) in table {
        let key = dotted("variables", name);
        check_variable_name(name).map_err(|e| anyhow!("invalid variable name `{key}`: {e}"))?;
        let Value::Table(t) = value else {
            bail!("`{key}` must be a table: `{{ default = \"...\" }}` or `{{ required = true }}`");
        };
        check_keys(t, &key, &["default", "required", "secret", "description"])?;
        let default = get_str(t, &key, "default")?;
        let required = get_bool(t, &key, "required")?.unwrap_or(false);
        let secret = get_bool(t, &key, "secret")?.unwrap_or(false);
        get_str(t, &key, "description")?;
        match (required, &default) {
            (true, Some(_)) => bail!(
                "variable `{name}` has both `default` and `required = true`; give exactly one"
            ),
            (false, None) => {
                bail!("variable `{name}` needs either a `default` or `required = true`")
            }
            _ => {}
        }
        variables.insert(
            name.clone(),
            VariableDecl {
                default,
                required,
                secret,
            },
        );
    }
    Ok(variables)
}

fn parse_triggers(root: &Table) -> Result<Vec<HttpTrigger>> {
    let mut triggers = Vec::new();
    let Some(table) = get_table(root, "", "trigger")? else {
        return Ok(triggers);
    };
    for (kind, value) in table {
        if kind != "http" {
            bail!(
                "unsupported key `{}`: the local runtime does not support it (only HTTP triggers, \
                 `[[trigger.http]]`)",
                dotted("trigger", kind)
            );
        }
        let Value::Array(items) = value else {
            bail!("`trigger.http` must be an array of tables: write `[[trigger.http]]`");
        };
        for (i, item) in items.iter().enumerate() {
            let trigger = parse_http_trigger(item)
                .with_context(|| format!("in [[trigger.http]] #{}", i + 1))?;
            triggers.push(trigger);
        }
    }
    Ok(triggers)
}

fn parse_http_trigger(item: &Value) -> Result<HttpTrigger> {
    let p = "trigger.http";
    let Value::Table(t) = item else {
        bail!("each `trigger.http` entry must be a table: write `[[trigger.http]]`");
    };
    check_keys(t, p, &["route", "component"])?;
    let route = match t.get("route") {
        None => bail!("missing `trigger.http.route`"),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Table(_)) => bail!(
            "`trigger.http.route` as a table (private endpoints, `route = {{ private = true }}`) \
             is not supported by the local runtime; use a route string"
        ),
        Some(other) => bail!(
            "`trigger.http.route` must be a string, not {}",
            other.type_str()
        ),
    };
    let component = match t.get("component") {
        None => bail!("missing `trigger.http.component`"),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Table(_)) => bail!(
            "an inline component table in `trigger.http.component` is not supported by the local \
             runtime; declare `[component.<id>]` and write `component = \"<id>\"`"
        ),
        Some(other) => bail!(
            "`trigger.http.component` must be a component id string, not {}",
            other.type_str()
        ),
    };
    Ok(HttpTrigger { route, component })
}

fn parse_component(
    id: &str,
    t: &Table,
    p: &str,
    dir: &Path,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentManifest> {
    check_keys(
        t,
        p,
        &[
            "source",
            "description",
            "allowed_outbound_hosts",
            "key_value_stores",
            "sqlite_databases",
            "variables",
            "build",
        ],
    )?;
    let source_key = dotted(p, "source");
    let source = match t.get("source") {
        None => bail!("missing `{source_key}`"),
        Some(Value::String(s)) if s.is_empty() => bail!("`{source_key}` must not be empty"),
        Some(Value::String(s)) => dir.join(s),
        Some(Value::Table(_)) => bail!(
            "`{source_key}` must be a local file path; URL and registry sources are not supported \
             by the local runtime"
        ),
        Some(other) => bail!("`{source_key}` must be a string, not {}", other.type_str()),
    };
    get_str(t, p, "description")?;

    let allowed_outbound_hosts = get_str_list(t, p, "allowed_outbound_hosts")?;
    let hosts_key = dotted(p, "allowed_outbound_hosts");
    for entry in &allowed_outbound_hosts {
        let names = check_template(entry, &hosts_key, variables)?;
        if names.is_empty() {
            outbound::AllowedHosts::parse(std::slice::from_ref(entry))
                .with_context(|| format!("invalid entry in `{hosts_key}`"))?;
        }
    }

    let key_value_stores = get_labels(t, p, "key_value_stores")?;
    let sqlite_databases = get_labels(t, p, "sqlite_databases")?;

    let mut component_variables = BTreeMap::new();
    if let Some(vars) = get_table(t, p, "variables")? {
        let vp = dotted(p, "variables");
        for (name, value) in vars {
            let key = dotted(&vp, name);
            check_variable_name(name).map_err(|e| anyhow!("invalid variable name `{key}`: {e}"))?;
            let Value::String(tmpl) = value else {
                bail!("`{key}` must be a string, not {}", value.type_str());
            };
            check_template(tmpl, &key, variables)?;
            component_variables.insert(name.clone(), tmpl.clone());
        }
    }

    let build = match get_table(t, p, "build")? {
        None => None,
        Some(b) => Some(parse_build(b, &dotted(p, "build"), dir)?),
    };

    Ok(ComponentManifest {
        id: id.to_string(),
        source,
        allowed_outbound_hosts,
        key_value_stores,
        sqlite_databases,
        variables: component_variables,
        build,
    })
}

fn parse_build(b: &Table, p: &str, dir: &Path) -> Result<BuildConfig> {
    check_keys(b, p, &["command", "workdir", "watch"])?;
    let command_key = dotted(p, "command");
    let command = match b.get("command") {
        None => bail!("missing `{command_key}`"),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(_)) => bail!(
            "`{command_key}` as an array of commands is not supported by the local runtime; \
             use a single command string (e.g. join them with `&&`)"
        ),
        Some(other) => bail!("`{command_key}` must be a string, not {}", other.type_str()),
    };
    let workdir = match get_str(b, p, "workdir")? {
        Some(w) => dir.join(w),
        None => dir.to_path_buf(),
    };
    let watch = get_str_list(b, p, "watch")?;
    Ok(BuildConfig {
        command,
        workdir,
        watch,
    })
}

/// Checks a template's syntax and that each `{{ name }}` is a declared
/// application variable; returns the names.
fn check_template<'t>(
    tmpl: &'t str,
    key: &str,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<Vec<&'t str>> {
    let names = template::names(tmpl).map_err(|e| anyhow!("`{key}` = {tmpl:?}: {e}"))?;
    for name in &names {
        if !variables.contains_key(*name) {
            bail!(
                "`{key}` = {tmpl:?} refers to `{{{{ {name} }}}}`, but no application variable \
                 `{name}` is declared in [variables]"
            );
        }
    }
    Ok(names)
}

fn get_labels(t: &Table, p: &str, key: &str) -> Result<Vec<String>> {
    let labels = get_str_list(t, p, key)?;
    for label in &labels {
        check_label(label)
            .map_err(|e| anyhow!("invalid label {label:?} in `{}`: {e}", dotted(p, key)))?;
    }
    Ok(labels)
}

// ---- small TOML helpers -------------------------------------------------

/// `prefix.key`, quoting the key when it is not a bare TOML key.
pub(crate) fn dotted(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// Errors on the first key of `table` not in `allowed`, naming its full dotted path.
pub(crate) fn check_keys(table: &Table, prefix: &str, allowed: &[&str]) -> Result<()> {
    if let Some(key) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
        let full = dotted(prefix, key);
        let hint = match key.as_str() {
            "allowed_http_hosts" => " (it is deprecated in Spin; use `allowed_outbound_hosts`)",
            _ => "",
        };
        bail!(
            "unsupported key `{full}`: the local runtime does not support it{hint} \
             (supported here: {})",
            allowed.join(", ")
        );
    }
    Ok(())
}

pub(crate) fn get_table<'a>(t: &'a Table, p: &str, key: &str) -> Result<Option<&'a Table>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Table(inner)) => Ok(Some(inner)),
        Some(other) => bail!(
            "`{}` must be a table, not {}",
            dotted(p, key),
            other.type_str()
        ),
    }
}

pub(crate) fn get_str(t: &Table, p: &str, key: &str) -> Result<Option<String>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!(
            "`{}` must be a string, not {}",
            dotted(p, key),
            other.type_str()
        ),
    }
}

fn get_bool(t: &Table, p: &str, key: &str) -> Result<Option<bool>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(other) => bail!(
            "`{}` must be a boolean, not {}",
            dotted(p, key),
            other.type_str()
        ),
    }
}

fn get_str_list(t: &Table, p: &str, key: &str) -> Result<Vec<String>> {
    match t.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => bail!(
                    "`{}` must be an array of strings; found {}",
                    dotted(p, key),
                    other.type_str()
                ),
            })
            .collect(),
        Some(other) => bail!(
            "`{}` must be an array of strings, not {}",
            dotted(p, key),
            other.type_str()
        ),
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"
spin_manifest_version = 2

[application]
name = "app"
"#;

    fn parse(body: &str) -> Result<AppManifest> {
        parse_manifest(&format!("{HEADER}{body}"), Path::new("/app/spin.toml"))
    }

    fn err(body: &str) -> String {
        format!("{:#}", parse(body).expect_err("expected an error"))
    }

    const FULL: &str = r#"
spin_manifest_version = 2

[application]
name = "prompthelm"
version = "0.1.0"
description = "demo"
authors = ["someone"]

[application.trigger.http]
base = "/"

[variables]
api_host = { default = "api.example.com" }
api_token = { required = true, secret = true }
log_level = { default = "info", description = "logging" }

[[trigger.http]]
route = "/api/..."
component = "gateway"

[[trigger.http]]
route = "/health"
component = "gateway"

[component.gateway]
source = "target/wasm32-wasip2/release/gateway.wasm"
description = "the gateway"
allowed_outbound_hosts = ["https://{{ api_host }}", "http://127.0.0.1:8080"]
key_value_stores = ["default"]
sqlite_databases = ["default", "audit-log"]

[component.gateway.variables]
token = "Bearer {{ api_token }}"
host = "{{api_host}}"
plain = "x"

[component.gateway.build]
command = "cargo build --target wasm32-wasip2 --release"
workdir = "components/gateway"
watch = ["src/**/*.rs", "Cargo.toml"]

[component.unused]
source = "/abs/unused.wasm"
"#;

    #[test]
    fn full_manifest_parses() {
        let m = parse_manifest(FULL, Path::new("/work/app/spin.toml")).unwrap();
        assert_eq!(m.path, Path::new("/work/app/spin.toml"));
        assert_eq!(m.dir, Path::new("/work/app"));
        assert_eq!(m.name, "prompthelm");
        assert_eq!(m.version.as_deref(), Some("0.1.0"));
        assert_eq!(
            m.variables["api_host"],
            VariableDecl {
                default: Some("api.example.com".into()),
                required: false,
                secret: false
            }
        );
        assert_eq!(
            m.variables["api_token"],
            VariableDecl {
                default: None,
                required: true,
                secret: true
            }
        );
        assert_eq!(
            m.http_triggers,
            vec![
                HttpTrigger {
                    route: "/api/...".into(),
                    component: "gateway".into()
                },
                HttpTrigger {
                    route: "/health".into(),
                    component: "gateway".into()
                },
            ]
        );
        let g = &m.components["gateway"];
        assert_eq!(g.id, "gateway");
        assert_eq!(
            g.source,
            Path::new("/work/app/target/wasm32-wasip2/release/gateway.wasm")
        );
        assert_eq!(
            g.allowed_outbound_hosts,
            vec!["https://{{ api_host }}", "http://127.0.0.1:8080"]
        );
        assert_eq!(g.key_value_stores, vec!["default"]);
        assert_eq!(g.sqlite_databases, vec!["default", "audit-log"]);
        assert_eq!(g.variables["token"], "Bearer {{ api_token }}");
        assert_eq!(g.variables.len(), 3);
        let b = g.build.as_ref().unwrap();
        assert_eq!(b.command, "cargo build --target wasm32-wasip2 --release");
        assert_eq!(b.workdir, Path::new("/work/app/components/gateway"));
        assert_eq!(b.watch, vec!["src/**/*.rs", "Cargo.toml"]);
        let u = &m.components["unused"];
        assert_eq!(u.source, Path::new("/abs/unused.wasm"));
        assert!(u.build.is_none() && u.variables.is_empty() && u.key_value_stores.is_empty());
    }

    #[test]
    fn load_manifest_from_file_resolves_paths_and_names_path_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spin.toml");
        std::fs::write(
            &path,
            format!(
                "{HEADER}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n\
                 [component.c]\nsource = \"c.wasm\"\n[component.c.build]\ncommand = \"make\"\n"
            ),
        )
        .unwrap();
        let m = load_manifest(&path).unwrap();
        assert!(m.path.is_absolute() && m.dir.is_absolute());
        assert_eq!(m.dir, dir.path());
        assert_eq!(m.components["c"].source, dir.path().join("c.wasm"));
        assert_eq!(
            m.components["c"].build.as_ref().unwrap().workdir,
            dir.path()
        );

        std::fs::write(
            &path,
            format!("{HEADER}[component.c]\nsource = \"c.wasm\"\nfiles = []\n"),
        )
        .unwrap();
        let e = format!("{:#}", load_manifest(&path).unwrap_err());
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("`component.c.files`"), "{e}");

        let missing = dir.path().join("nope.toml");
        let e = format!("{:#}", load_manifest(&missing).unwrap_err());
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    #[test]
    fn minimal_manifest_without_triggers_or_version() {
        let m = parse("").unwrap();
        assert_eq!(m.name, "app");
        assert_eq!(m.version, None);
        assert!(m.http_triggers.is_empty() && m.components.is_empty() && m.variables.is_empty());
    }

    #[test]
    fn manifest_version_must_be_2() {
        let e = format!(
            "{:#}",
            parse_manifest("[application]\nname = \"a\"\n", Path::new("/a/spin.toml")).unwrap_err()
        );
        assert!(e.contains("spin_manifest_version"), "{e}");
        let e = format!(
            "{:#}",
            parse_manifest(
                "spin_manifest_version = 1\n[application]\nname = \"a\"\n",
                Path::new("/a/spin.toml")
            )
            .unwrap_err()
        );
        assert!(e.contains("must be 2"), "{e}");
        let e = format!(
            "{:#}",
            parse_manifest(
                "spin_version = \"1\"\nname = \"a\"\n",
                Path::new("/a/spin.toml")
            )
            .unwrap_err()
        );
        assert!(e.contains("version 1 manifest"), "{e}");
        let e = format!(
            "{:#}",
            parse_manifest("spin_manifest_version = 2\n", Path::new("/a/spin.toml")).unwrap_err()
        );
        assert!(e.contains("[application]"), "{e}");
        let e = format!(
            "{:#}",
            parse_manifest(
                "spin_manifest_version = 2\n[application]\n",
                Path::new("/a/spin.toml")
            )
            .unwrap_err()
        );
        assert!(e.contains("application.name"), "{e}");
    }

    #[test]
    fn invalid_toml_is_an_error() {
        assert!(err("[component.x\n").contains("not valid TOML"));
    }

    #[test]
    fn unsupported_keys_are_named_in_full() {
        let comp = "[component.c]\nsource = \"c.wasm\"\n";
        for (body, key) in [
            (format!("{comp}files = [\"a\"]\n"), "`component.c.files`"),
            (
                format!("{comp}environment = {{ A = \"b\" }}\n"),
                "`component.c.environment`",
            ),
            (
                format!("{comp}ai_models = [\"llama2-chat\"]\n"),
                "`component.c.ai_models`",
            ),
            (
                format!("{comp}[component.c.dependencies]\n\"a:b/c\" = \"1.0\"\n"),
                "`component.c.dependencies`",
            ),
            (
                format!("{comp}exclude_files = []\n"),
                "`component.c.exclude_files`",
            ),
            (
                format!("{comp}[component.c.tool.x]\na = 1\n"),
                "`component.c.tool`",
            ),
            (
                format!("{comp}allowed_http_hosts = [\"x.com\"]\n"),
                "`component.c.allowed_http_hosts`",
            ),
            (
                format!("{comp}[component.c.build]\ncommand = \"x\"\nfoo = 1\n"),
                "`component.c.build.foo`",
            ),
            (
                "[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n".to_string(),
                "`trigger.redis`",
            ),
            (
                format!(
                    "{comp}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\nexecutor = {{ type = \"wagi\" }}\n"
                ),
                "`trigger.http.executor`",
            ),
            (
                format!("{comp}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\nid = \"t\"\n"),
                "`trigger.http.id`",
            ),
            (
                "[application.tool.x]\na = 1\n".to_string(),
                "`application.tool`",
            ),
            (
                "[application.trigger.redis]\naddress = \"x\"\n".to_string(),
                "`application.trigger.redis`",
            ),
            (
                "[application.trigger.http]\nfoo = 1\n".to_string(),
                "`application.trigger.http.foo`",
            ),
            (
                "[variables]\nx = { default = \"a\", other = 1 }\n".to_string(),
                "`variables.x.other`",
            ),
            ("other = 1\n".to_string(), "`application.other`"),
        ] {
            let e = err(&body);
            assert!(e.contains(key), "{body}\n=> {e}");
            if key.starts_with('`') {
                assert!(e.contains("local runtime does not support"), "{e}");
            }
        }
        // A root-level key.
        let e = format!(
            "{:#}",
            parse_manifest(&format!("other = 1\n{HEADER}"), Path::new("/app/spin.toml"))
                .unwrap_err()
        );
        assert!(e.contains("unsupported key `other`"), "{e}");
        // A hint for the deprecated key, and a quoted weird key.
        assert!(
            err(&format!("{comp}allowed_http_hosts = []\n")).contains("allowed_outbound_hosts")
        );
        assert!(err(&format!("{comp}\"we.ird\" = 1\n")).contains("`component.c.\"we.ird\"`"));
    }

    #[test]
    fn only_base_slash_is_accepted() {
        parse("[application.trigger.http]\nbase = \"/\"\n").unwrap();
        let e = err("[application.trigger.http]\nbase = \"/api\"\n");
        assert!(e.contains("base") && e.contains("/api"), "{e}");
    }

    #[test]
    fn variable_declarations() {
        let m = parse(
            "[variables]\na = { default = \"x\" }\nb = { required = true }\n\
             c = { default = \"\", secret = true }\nd = { required = false, default = \"y\" }\n",
        )
        .unwrap();
        assert_eq!(m.variables.len(), 4);
        assert!(m.variables["c"].secret && m.variables["c"].default.as_deref() == Some(""));
        assert!(!m.variables["d"].required);

        assert!(
            err("[variables]\na = { default = \"x\", required = true }\n").contains("exactly one")
        );
        assert!(err("[variables]\na = {}\n").contains("either a `default` or `required = true`"));
        assert!(err("[variables]\na = { required = false }\n").contains("either"));
        assert!(err("[variables]\na = { secret = true }\n").contains("either"));
        assert!(err("[variables]\na = \"x\"\n").contains("must be a table"));
        assert!(
            err("[variables]\na = { default = 1 }\n")
                .contains("`variables.a.default` must be a string")
        );
        assert!(err("[variables]\na = { required = \"yes\" }\n").contains("must be a boolean"));
        for bad in ["Api", "api__key", "_api", "api_", "1api", "api-key"] {
            let e = err(&format!("[variables]\n\"{bad}\" = {{ default = \"x\" }}\n"));
            assert!(e.contains("invalid variable name"), "{bad}: {e}");
        }
    }

    #[test]
    fn secret_defaults_are_redacted_in_debug() {
        let m = parse("[variables]\ntoken = { default = \"hunter2\", secret = true }\nplain = { default = \"visible\" }\n").unwrap();
        let dbg = format!("{m:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(
            dbg.contains("<redacted>") && dbg.contains("visible"),
            "{dbg}"
        );
    }

    #[test]
    fn triggers_must_name_declared_components() {
        let e = err(
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"missing\"\n[component.c]\nsource = \"c.wasm\"\n",
        );
        assert!(
            e.contains("`missing`") && e.contains("declared components: c"),
            "{e}"
        );
        assert!(
            err("[[trigger.http]]\nroute = \"/\"\n").contains("missing `trigger.http.component`")
        );
        assert!(
            err("[[trigger.http]]\ncomponent = \"c\"\n").contains("missing `trigger.http.route`")
        );
        let e = err("[[trigger.http]]\nroute = \"/\"\ncomponent = { source = \"x.wasm\" }\n");
        assert!(e.contains("inline component"), "{e}");
        let e = err(
            "[component.c]\nsource = \"c.wasm\"\n[[trigger.http]]\nroute = { private = true }\ncomponent = \"c\"\n",
        );
        assert!(e.contains("private"), "{e}");
        assert!(err("[trigger]\nhttp = 1\n").contains("[[trigger.http]]"));
        // The error says which trigger.
        let e = err(
            "[component.c]\nsource = \"c.wasm\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[[trigger.http]]\nroute = \"/b\"\ncomponent = \"c\"\nexecutor = 1\n",
        );
        assert!(e.contains("#2"), "{e}");
    }

    #[test]
    fn unreferenced_components_are_fine() {
        let m = parse("[component.lonely]\nsource = \"l.wasm\"\n").unwrap();
        assert!(m.components.contains_key("lonely"));
    }

    #[test]
    fn duplicate_and_invalid_routes_are_errors() {
        let comps = "[component.a]\nsource = \"a.wasm\"\n[component.b]\nsource = \"b.wasm\"\n";
        let e = err(&format!(
            "{comps}[[trigger.http]]\nroute = \"/x\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"b\"\n"
        ));
        assert!(e.contains("duplicate") && e.contains("/x"), "{e}");
        let e = err(&format!(
            "{comps}[[trigger.http]]\nroute = \"/x/:a/y\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = \"/x/:b/y\"\ncomponent = \"b\"\n"
        ));
        assert!(e.contains("same requests"), "{e}");
        let e = err(&format!(
            "{comps}[[trigger.http]]\nroute = \"/a/*/b\"\ncomponent = \"a\"\n"
        ));
        assert!(e.contains("wildcard"), "{e}");
    }

    #[test]
    fn component_ids_and_sources() {
        assert!(err("[component.my_comp]\nsource = \"a.wasm\"\n").contains("invalid component id"));
        let e =
            err("[component.c]\nsource = { url = \"https://x/c.wasm\", digest = \"sha256:0\" }\n");
        assert!(
            e.contains("`component.c.source`") && e.contains("local file path"),
            "{e}"
        );
        assert!(
            err("[component.c]\ndescription = \"x\"\n").contains("missing `component.c.source`")
        );
        assert!(err("[component.c]\nsource = \"\"\n").contains("must not be empty"));
        assert!(err("[component.c]\nsource = 1\n").contains("must be a string"));
        assert!(err("[component]\nc = 1\n").contains("`component.c` must be a table"));
    }

    #[test]
    fn store_labels_are_validated() {
        let e = err("[component.c]\nsource = \"c.wasm\"\nkey_value_stores = [\"b@d\"]\n");
        assert!(
            e.contains("b@d") && e.contains("kebab-case or snake_case"),
            "{e}"
        );
        let e = err("[component.c]\nsource = \"c.wasm\"\nsqlite_databases = \"default\"\n");
        assert!(e.contains("array of strings"), "{e}");
        let e = err("[component.c]\nsource = \"c.wasm\"\nsqlite_databases = [1]\n");
        assert!(e.contains("array of strings"), "{e}");
    }

    #[test]
    fn templates_must_name_declared_variables() {
        let vars = "[variables]\nhost = { default = \"example.com\" }\n";
        parse(&format!(
            "{vars}[component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"https://{{{{ host }}}}\"]\n\
             [component.c.variables]\nurl = \"https://{{{{host}}}}/x\"\n"
        ))
        .unwrap();
        let e = err(&format!(
            "{vars}[component.c]\nsource = \"c.wasm\"\n[component.c.variables]\nurl = \"{{{{ nope }}}}\"\n"
        ));
        assert!(
            e.contains("`component.c.variables.url`") && e.contains("nope"),
            "{e}"
        );
        let e = err(&format!(
            "{vars}[component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"https://{{{{ nope }}}}\"]\n"
        ));
        assert!(
            e.contains("allowed_outbound_hosts") && e.contains("nope"),
            "{e}"
        );
        let e = err(&format!(
            "{vars}[component.c]\nsource = \"c.wasm\"\n[component.c.variables]\nurl = \"{{{{ host\"\n"
        ));
        assert!(e.contains("unmatched"), "{e}");
        let e = err("[component.c]\nsource = \"c.wasm\"\n[component.c.variables]\nBad = \"x\"\n");
        assert!(e.contains("invalid variable name"), "{e}");
        let e = err("[component.c]\nsource = \"c.wasm\"\n[component.c.variables]\nx = 1\n");
        assert!(e.contains("must be a string"), "{e}");
    }

    #[test]
    fn literal_allowed_hosts_are_validated_at_load() {
        let e =
            err("[component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"example.com\"]\n");
        assert!(e.contains("scheme"), "{e}");
        let e = err(
            "[component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"https://example.com/path\"]\n",
        );
        assert!(e.contains("path"), "{e}");
    }

    #[test]
    fn build_command_forms() {
        let e = err(
            "[component.c]\nsource = \"c.wasm\"\n[component.c.build]\ncommand = [\"a\", \"b\"]\n",
        );
        assert!(e.contains("array of commands"), "{e}");
        let e = err("[component.c]\nsource = \"c.wasm\"\n[component.c.build]\nworkdir = \"x\"\n");
        assert!(e.contains("missing `component.c.build.command`"), "{e}");
    }

    #[test]
    fn dotted_quotes_non_bare_keys() {
        assert_eq!(dotted("", "a"), "a");
        assert_eq!(dotted("a", "b-c_d"), "a.b-c_d");
        assert_eq!(dotted("a", "b.c"), "a.\"b.c\"");
        assert_eq!(dotted("a", ""), "a.\"\"");
    }
}
