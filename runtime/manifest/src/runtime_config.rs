//! `runtime-config.toml`: where key-value stores and SQLite databases live.
//!
//! Supported:
//!
//! ```toml
//! [sqlite_database.<label>]
//! type = "spin"
//! path = "data/app.db"
//!
//! [key_value_store.<label>]
//! type = "spin"
//! path = "data/kv.db"
//! ```
//!
//! Both maps always contain `default`: the SQLite database
//! `<state_dir>/sqlite_db.db` and the key-value store
//! `<state_dir>/sqlite_key_value.db` (Spin's defaults), unless the file
//! configures `default` itself.
//!
//! Relative `path`s resolve exactly as in Spin, which differs per kind:
//! a **SQLite** path against the **current working directory** (Spin passes
//! `current_dir()` as the local database directory), a **key-value** path
//! against the **directory of the runtime config file**. Spin uses an
//! in-memory store when `path` is omitted; here `path` is required.
//!
//! Every other type (`libsql`, `redis`, `azure_cosmos`, ...) or key
//! (`variables_provider`, `llm_compute`, `state_dir`, ...) is an error saying
//! the local runtime does not support it yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use toml::{Table, Value};

use crate::AppManifest;
use crate::manifest::{dotted, get_str};

/// The label every app gets without configuring it.
pub const DEFAULT_LABEL: &str = "default";
/// Spin's default SQLite database file name, inside the state directory.
pub const DEFAULT_SQLITE_DB_FILENAME: &str = "sqlite_db.db";
/// Spin's default key-value database file name, inside the state directory.
pub const DEFAULT_KEY_VALUE_DB_FILENAME: &str = "sqlite_key_value.db";

/// The resolved runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// By label; always contains `default`.
    pub sqlite_databases: BTreeMap<String, SqliteDatabaseConfig>,
    /// By label; always contains `default`.
    pub key_value_stores: BTreeMap<String, KeyValueStoreConfig>,
}

/// A SQLite database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteDatabaseConfig {
    /// `type = "spin"`: a local SQLite file (absolute path).
    Spin {
        /// The database file, absolute.
        path: PathBuf,
    },
}

/// A key-value store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueStoreConfig {
    /// `type = "spin"`: a local SQLite file (absolute path).
    Spin {
        /// The database file, absolute.
        path: PathBuf,
    },
}

impl RuntimeConfig {
    /// Loads the runtime config file (if any) over Spin's defaults in
    /// `state_dir` (made absolute against the current directory). Errors name
    /// the file.
    pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<RuntimeConfig> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let state_dir = cwd.join(state_dir);
        let Some(file) = file else {
            return Ok(Self::defaults(&state_dir));
        };
        let file = cwd.join(file);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| anyhow!("cannot read runtime config {}: {e}", file.display()))?;
        Self::parse(&text, &file, &state_dir, &cwd)
            .map_err(|e| anyhow!("invalid runtime config {}: {e:#}", file.display()))
    }

    fn defaults(state_dir: &Path) -> RuntimeConfig {
        RuntimeConfig {
            sqlite_databases: BTreeMap::from([(
                DEFAULT_LABEL.to_string(),
                SqliteDatabaseConfig::Spin {
                    path: state_dir.join(DEFAULT_SQLITE_DB_FILENAME),
                },
            )]),
            key_value_stores: BTreeMap::from([(
                DEFAULT_LABEL.to_string(),
                KeyValueStoreConfig::Spin {
                    path: state_dir.join(DEFAULT_KEY_VALUE_DB_FILENAME),
                },
            )]),
        }
    }

    /// `file`, `state_dir` and `cwd` are absolute.
    fn parse(text: &str, file: &Path, state_dir: &Path, cwd: &Path) -> Result<RuntimeConfig> {
        let file_dir = file
            .parent()
            .ok_or_else(|| anyhow!("runtime config path has no parent directory"))?;
        let root: Table = toml::from_str(text).map_err(|e| anyhow!("not valid TOML: {e}"))?;
        let mut config = Self::defaults(state_dir);
        for (key, value) in &root {
            match key.as_str() {
                "sqlite_database" => {
                    for (label, t) in labelled_tables(value, key)? {
                        let p = dotted(key, label);
                        let path = spin_path(t, &p, "SQLite database")?;
                        config.sqlite_databases.insert(
                            label.clone(),
                            SqliteDatabaseConfig::Spin {
                                path: cwd.join(path),
                            },
                        );
                    }
                }
                "key_value_store" => {
                    for (label, t) in labelled_tables(value, key)? {
                        let p = dotted(key, label);
                        let path = spin_path(t, &p, "key-value store")?;
                        config.key_value_stores.insert(
                            label.clone(),
                            KeyValueStoreConfig::Spin {
                                path: file_dir.join(path),
                            },
                        );
                    }
                }
                other => bail!(
                    "`{}` is not supported by the local runtime yet (supported: \
                     [sqlite_database.<label>] and [key_value_store.<label>] with type = \"spin\")",
                    dotted("", other)
                ),
            }
        }
        Ok(config)
    }

    /// Checks that every store and database label a component uses is
    /// configured (Spin refuses to start otherwise).
    pub fn check_manifest(&self, app: &AppManifest) -> Result<()> {
        for c in app.components.values() {
            for label in &c.key_value_stores {
                if !self.key_value_stores.contains_key(label) {
                    bail!(
                        "component `{}` uses key-value store {label:?}, which is not configured: \
                         add `[key_value_store.{label}]` with `type = \"spin\"` to the runtime \
                         config (only \"default\" exists without one)",
                        c.id
                    );
                }
            }
            for label in &c.sqlite_databases {
                if !self.sqlite_databases.contains_key(label) {
                    bail!(
                        "component `{}` uses SQLite database {label:?}, which is not configured: \
                         add `[sqlite_database.{label}]` with `type = \"spin\"` to the runtime \
                         config (only \"default\" exists without one)",
                        c.id
                    );
                }
            }
        }
        Ok(())
    }
}

fn labelled_tables<'a>(value: &'a Value, key: &str) -> Result<Vec<(&'a String, &'a Table)>> {
    let Value::Table(labels) = value else {
        bail!("`{key}` must be a table of `[{key}.<label>]` tables");
    };
    labels
        .iter()
        .map(|(label, v)| match v {
            Value::Table(t) => Ok((label, t)),
            _ => bail!("`{}` must be a table", dotted(key, label)),
        })
        .collect()
}

/// The `path` of a `type = "spin"` table, as written.
fn spin_path(t: &Table, p: &str, what: &str) -> Result<PathBuf> {
    match get_str(t, p, "type")? {
        None => bail!("`{p}` is missing `type` (the local runtime supports `type = \"spin\"`)"),
        Some(ty) if ty == "spin" => {}
        Some(ty) => bail!(
            "`{p}`: {what} type {ty:?} is not supported by the local runtime yet (only \"spin\")"
        ),
    }
    if let Some(key) = t.keys().find(|k| *k != "type" && *k != "path") {
        bail!(
            "unsupported key `{}`: the local runtime does not support it (a \"spin\" {what} takes \
             only `type` and `path`)",
            dotted(p, key)
        );
    }
    match get_str(t, p, "path")? {
        None => bail!(
            "`{p}` needs a `path`: the local runtime does not support in-memory stores (what Spin \
             uses when `path` is omitted)"
        ),
        Some(path) if path.is_empty() => bail!("`{}` must not be empty", dotted(p, "path")),
        Some(path) => Ok(PathBuf::from(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig> {
        RuntimeConfig::parse(
            text,
            Path::new("/etc/app/runtime-config.toml"),
            Path::new("/state/.spin"),
            Path::new("/cwd"),
        )
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    fn sqlite(c: &RuntimeConfig, label: &str) -> PathBuf {
        let SqliteDatabaseConfig::Spin { path } = &c.sqlite_databases[label];
        path.clone()
    }

    fn kv(c: &RuntimeConfig, label: &str) -> PathBuf {
        let KeyValueStoreConfig::Spin { path } = &c.key_value_stores[label];
        path.clone()
    }

    #[test]
    fn defaults_live_in_the_state_dir() {
        let state = tempfile::tempdir().unwrap();
        let c = RuntimeConfig::load(None, state.path()).unwrap();
        assert_eq!(c.sqlite_databases.len(), 1);
        assert_eq!(c.key_value_stores.len(), 1);
        assert_eq!(sqlite(&c, "default"), state.path().join("sqlite_db.db"));
        assert_eq!(kv(&c, "default"), state.path().join("sqlite_key_value.db"));
        // An empty file is the same.
        assert_eq!(
            parse("").unwrap(),
            RuntimeConfig::defaults(Path::new("/state/.spin"))
        );
    }

    #[test]
    fn relative_state_dir_is_made_absolute() {
        let c = RuntimeConfig::load(None, Path::new(".spin")).unwrap();
        let p = sqlite(&c, "default");
        assert!(p.is_absolute(), "{}", p.display());
        assert_eq!(
            p,
            std::env::current_dir().unwrap().join(".spin/sqlite_db.db")
        );
    }

    #[test]
    fn labels_and_path_resolution_follow_spin() {
        let c = parse(
            r#"
[sqlite_database.analytics]
type = "spin"
path = "data/analytics.db"

[sqlite_database.abs]
type = "spin"
path = "/var/db/abs.db"

[key_value_store.cache]
type = "spin"
path = "kv/cache.db"

[key_value_store.abs]
type = "spin"
path = "/var/kv.db"
"#,
        )
        .unwrap();
        // SQLite: relative to the current directory.
        assert_eq!(sqlite(&c, "analytics"), Path::new("/cwd/data/analytics.db"));
        assert_eq!(sqlite(&c, "abs"), Path::new("/var/db/abs.db"));
        // Key-value: relative to the runtime config file's directory.
        assert_eq!(kv(&c, "cache"), Path::new("/etc/app/kv/cache.db"));
        assert_eq!(kv(&c, "abs"), Path::new("/var/kv.db"));
        // Defaults are still there.
        assert_eq!(
            sqlite(&c, "default"),
            Path::new("/state/.spin/sqlite_db.db")
        );
        assert_eq!(
            kv(&c, "default"),
            Path::new("/state/.spin/sqlite_key_value.db")
        );
    }

    #[test]
    fn default_can_be_overridden() {
        let c = parse(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"my.db\"\n\
             [key_value_store.default]\ntype = \"spin\"\npath = \"my-kv.db\"\n",
        )
        .unwrap();
        assert_eq!(sqlite(&c, "default"), Path::new("/cwd/my.db"));
        assert_eq!(kv(&c, "default"), Path::new("/etc/app/my-kv.db"));
        assert_eq!(c.sqlite_databases.len(), 1);
    }

    #[test]
    fn unsupported_types_and_keys_are_errors() {
        for (text, needles) in [
            (
                "[sqlite_database.x]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"\n",
                &[
                    "`sqlite_database.x`",
                    "\"libsql\"",
                    "not supported by the local runtime yet",
                ][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://x\"\n",
                &["`key_value_store.x`", "\"redis\"", "not supported"][..],
            ),
            (
                "[key_value_store.x]\ntype = \"azure_cosmos\"\n",
                &["\"azure_cosmos\""][..],
            ),
            (
                "[[config_provider]]\ntype = \"vault\"\n",
                &[
                    "`config_provider`",
                    "not supported by the local runtime yet",
                ][..],
            ),
            (
                "[variables_provider]\ntype = \"env\"\n",
                &["`variables_provider`"][..],
            ),
            (
                "[llm_compute]\ntype = \"remote_http\"\n",
                &["`llm_compute`"][..],
            ),
            ("state_dir = \"x\"\n", &["`state_dir`"][..]),
            (
                "[sqlite_database.x]\ntype = \"spin\"\npath = \"a\"\nextra = 1\n",
                &["`sqlite_database.x.extra`", "does not support"][..],
            ),
            (
                "[sqlite_database.x]\npath = \"a\"\n",
                &["missing `type`"][..],
            ),
            (
                "[sqlite_database.x]\ntype = \"spin\"\n",
                &["needs a `path`", "in-memory"][..],
            ),
            (
                "[key_value_store.x]\ntype = \"spin\"\n",
                &["`key_value_store.x` needs a `path`"][..],
            ),
            (
                "[key_value_store.x]\ntype = \"spin\"\npath = \"\"\n",
                &["must not be empty"][..],
            ),
            (
                "[key_value_store.x]\ntype = 1\npath = \"a\"\n",
                &["must be a string"][..],
            ),
            ("sqlite_database = 1\n", &["must be a table"][..]),
            (
                "[sqlite_database]\nx = 1\n",
                &["`sqlite_database.x` must be a table"][..],
            ),
            ("not toml [", &["not valid TOML"][..]),
        ] {
            let e = err(text);
            for needle in needles {
                assert!(e.contains(needle), "{text}\n=> {e}");
            }
        }
    }

    #[test]
    fn load_names_the_file_and_resolves_kv_against_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime-config.toml");
        std::fs::write(
            &file,
            "[key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"\n",
        )
        .unwrap();
        let c = RuntimeConfig::load(Some(&file), &dir.path().join(".spin")).unwrap();
        assert_eq!(kv(&c, "cache"), dir.path().join("cache.db"));

        std::fs::write(&file, "[llm_compute]\ntype = \"spin\"\n").unwrap();
        let e = format!(
            "{:#}",
            RuntimeConfig::load(Some(&file), dir.path()).unwrap_err()
        );
        assert!(
            e.contains(&file.display().to_string()) && e.contains("llm_compute"),
            "{e}"
        );

        let missing = dir.path().join("missing.toml");
        let e = format!(
            "{:#}",
            RuntimeConfig::load(Some(&missing), dir.path()).unwrap_err()
        );
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    #[test]
    fn manifest_labels_must_be_configured() {
        let manifest = crate::manifest::parse_manifest(
            "spin_manifest_version = 2\n[application]\nname = \"a\"\n\
             [component.c]\nsource = \"c.wasm\"\nkey_value_stores = [\"default\", \"cache\"]\n\
             sqlite_databases = [\"default\"]\n\
             [component.d]\nsource = \"d.wasm\"\nsqlite_databases = [\"audit\"]\n",
            Path::new("/app/spin.toml"),
        )
        .unwrap();
        let defaults = parse("").unwrap();
        let e = format!("{:#}", defaults.check_manifest(&manifest).unwrap_err());
        assert!(
            e.contains("`c`") && e.contains("\"cache\"") && e.contains("[key_value_store.cache]"),
            "{e}"
        );

        let with_cache =
            parse("[key_value_store.cache]\ntype = \"spin\"\npath = \"c.db\"\n").unwrap();
        let e = format!("{:#}", with_cache.check_manifest(&manifest).unwrap_err());
        assert!(
            e.contains("`d`") && e.contains("[sqlite_database.audit]"),
            "{e}"
        );

        let all = parse(
            "[key_value_store.cache]\ntype = \"spin\"\npath = \"c.db\"\n\
             [sqlite_database.audit]\ntype = \"spin\"\npath = \"a.db\"\n",
        )
        .unwrap();
        all.check_manifest(&manifest).unwrap();
    }
}
