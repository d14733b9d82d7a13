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
//!
//! [key_value_store.<label>]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//!
//! [sqlite_database.<label>]
//! type = "libsql"
//! url = "https://<db>-<org>.turso.io"   # or libsql://..., or http:// for a local sqld
//! token = "<auth token>"
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
//! A `redis` URL is `redis://` or `rediss://` (TLS) with a host, optional
//! `user:password@`, port and `/<db>` number, or `redis+unix:///path` /
//! `unix:///path`; it is checked here, the connection is made at start.
//!
//! Every other type (`azure_cosmos`, ...) or key
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
    /// `type = "libsql"`: a libSQL server (Turso, sqld), Spin's keys.
    Libsql {
        /// `libsql://`, `https://` or `http://` host, as written.
        url: String,
        /// The auth token (may be empty for a local server without auth).
        token: String,
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
    /// `type = "redis"`: a Redis (or Valkey) server, shared by every process
    /// configured with the same URL.
    Redis {
        /// The server URL as written (`redis://host:port[/db]`).
        url: String,
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
                        let db = if get_str(t, &p, "type")?.as_deref() == Some("libsql") {
                            libsql(t, &p)?
                        } else {
                            let path =
                                spin_path(t, &p, "SQLite database", "\"spin\" or \"libsql\"")?;
                            SqliteDatabaseConfig::Spin {
                                path: cwd.join(path),
                            }
                        };
                        config.sqlite_databases.insert(label.clone(), db);
                    }
                }
                "key_value_store" => {
                    for (label, t) in labelled_tables(value, key)? {
                        let p = dotted(key, label);
                        let store = if get_str(t, &p, "type")?.as_deref() == Some("redis") {
                            KeyValueStoreConfig::Redis {
                                url: redis_url(t, &p)?,
                            }
                        } else {
                            let path =
                                spin_path(t, &p, "key-value store", "\"spin\" or \"redis\"")?;
                            KeyValueStoreConfig::Spin {
                                path: file_dir.join(path),
                            }
                        };
                        config.key_value_stores.insert(label.clone(), store);
                    }
                }
                other => bail!(
                    "`{}` is not supported by the local runtime yet (supported: \
                     [sqlite_database.<label>] with type = \"spin\" or \"libsql\" and \
                     [key_value_store.<label>] with type = \"spin\" or \"redis\")",
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

/// A `type = "libsql"` SQLite table: Spin's `url` and `token`.
fn libsql(t: &Table, p: &str) -> Result<SqliteDatabaseConfig> {
    if let Some(key) = t
        .keys()
        .find(|k| !["type", "url", "token"].contains(&k.as_str()))
    {
        bail!(
            "unsupported key `{}`: a \"libsql\" database takes `type`, `url` and `token`",
            dotted(p, key)
        );
    }
    let url = match get_str(t, p, "url")? {
        None => bail!("`{p}` needs a `url` (e.g. url = \"https://<db>-<org>.turso.io\")"),
        Some(url) => url,
    };
    let scheme = url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("libsql" | "https" | "http")) {
        bail!("`{p}.url` = {url:?}: expected a libsql://, https:// or http:// URL");
    }
    let token = get_str(t, p, "token")?.unwrap_or_default();
    Ok(SqliteDatabaseConfig::Libsql { url, token })
}

/// The `url` of a `type = "redis"` key-value table, checked.
fn redis_url(t: &Table, p: &str) -> Result<String> {
    if let Some(key) = t.keys().find(|k| *k != "type" && *k != "url") {
        bail!(
            "unsupported key `{}`: a \"redis\" key-value store takes only `type` and `url` \
             (e.g. url = \"redis://127.0.0.1:6379\")",
            dotted(p, key)
        );
    }
    let url = match get_str(t, p, "url")? {
        None => bail!("`{p}` needs a `url` (e.g. url = \"redis://127.0.0.1:6379\")"),
        Some(url) => url,
    };
    check_redis_url(&url).map_err(|e| {
        anyhow!(
            "`{}` = {url:?} is not a Redis URL: {e} (expected \
             redis://[user:password@]host[:port][/db], rediss://... for TLS, or \
             redis+unix:///path/to/socket)",
            dotted(p, "url")
        )
    })?;
    Ok(url)
}

/// The shape checks the `redis` crate's URL parser makes, done here so a bad
/// URL is a config error naming the key rather than a failure at start.
fn check_redis_url(url: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("no scheme".into());
    };
    match scheme {
        "redis" | "rediss" | "valkey" | "valkeys" => {}
        "redis+unix" | "unix" | "valkey+unix" => {
            return if rest.starts_with('/') {
                Ok(())
            } else {
                Err("a unix socket URL needs an absolute path".into())
            };
        }
        other => return Err(format!("unknown scheme {other:?}")),
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err("unclosed IPv6 address".into());
        };
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, port)) => (h, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("bad port {port:?}"));
    }
    let db = path.split(['?', '#']).next().unwrap_or("");
    let db = db.trim_start_matches('/');
    if !db.is_empty() && db.parse::<i64>().is_err() {
        return Err(format!("bad database number {db:?}"));
    }
    Ok(())
}

/// The `path` of a `type = "spin"` table, as written.
fn spin_path(t: &Table, p: &str, what: &str, supported: &str) -> Result<PathBuf> {
    match get_str(t, p, "type")? {
        None => bail!("`{p}` is missing `type` (the local runtime supports `type = {supported}`)"),
        Some(ty) if ty == "spin" => {}
        Some(ty) => bail!(
            "`{p}`: {what} type {ty:?} is not supported by the local runtime yet (only {supported})"
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
        match &c.sqlite_databases[label] {
            SqliteDatabaseConfig::Spin { path } => path.clone(),
            other => panic!("{label}: {other:?}"),
        }
    }

    fn kv(c: &RuntimeConfig, label: &str) -> PathBuf {
        match &c.key_value_stores[label] {
            KeyValueStoreConfig::Spin { path } => path.clone(),
            other => panic!("{label} is not a spin store: {other:?}"),
        }
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
    fn libsql_databases_take_spins_url_and_token() {
        let c = parse(
            "[sqlite_database.default]\ntype = \"libsql\"\n\
             url = \"libsql://db-org.turso.io\"\ntoken = \"t0k\"\n\
             [sqlite_database.local]\ntype = \"libsql\"\nurl = \"http://127.0.0.1:8080\"\n",
        )
        .unwrap();
        assert_eq!(
            c.sqlite_databases["default"],
            SqliteDatabaseConfig::Libsql {
                url: "libsql://db-org.turso.io".into(),
                token: "t0k".into()
            }
        );
        assert_eq!(
            c.sqlite_databases["local"],
            SqliteDatabaseConfig::Libsql {
                url: "http://127.0.0.1:8080".into(),
                token: String::new()
            }
        );
        for (bad, says) in [
            ("url = \"ws://db\"", "expected a libsql://"),
            ("token = \"t\"", "needs a `url`"),
            ("url = \"https://db\"\npath = \"x\"", "unsupported key"),
        ] {
            let text = format!("[sqlite_database.default]\ntype = \"libsql\"\n{bad}\n");
            let e = format!("{:#}", parse(&text).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn redis_stores_parse() {
        let c = parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.b]\ntype = \"redis\"\nurl = \"rediss://u:p@cache.example:6380/2\"\n\
             [key_value_store.c]\ntype = \"redis\"\nurl = \"redis://[::1]\"\n\
             [key_value_store.d]\ntype = \"redis\"\nurl = \"redis+unix:///run/redis.sock\"\n",
        )
        .unwrap();
        assert_eq!(
            c.key_value_stores["default"],
            KeyValueStoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            c.key_value_stores["b"],
            KeyValueStoreConfig::Redis {
                url: "rediss://u:p@cache.example:6380/2".into()
            }
        );
        assert!(matches!(
            c.key_value_stores["c"],
            KeyValueStoreConfig::Redis { .. }
        ));
        assert!(matches!(
            c.key_value_stores["d"],
            KeyValueStoreConfig::Redis { .. }
        ));
        assert_eq!(
            sqlite(&c, "default"),
            Path::new("/state/.spin/sqlite_db.db")
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
                "[sqlite_database.x]\ntype = \"postgres\"\nurl = \"https://x\"\n",
                &[
                    "`sqlite_database.x`",
                    "\"postgres\"",
                    "not supported by the local runtime yet",
                ][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\n",
                &[
                    "`key_value_store.x` needs a `url`",
                    "redis://127.0.0.1:6379",
                ][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://x\"\npath = \"a\"\n",
                &[
                    "unsupported key `key_value_store.x.path`",
                    "only `type` and `url`",
                ][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"http://x\"\n",
                &[
                    "`key_value_store.x.url`",
                    "not a Redis URL",
                    "unknown scheme \"http\"",
                ][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"127.0.0.1:6379\"\n",
                &["not a Redis URL", "no scheme"][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://h:99999\"\n",
                &["bad port \"99999\""][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://:6379\"\n",
                &["no host"][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://h/abc\"\n",
                &["bad database number \"abc\""][..],
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = 6379\n",
                &["`key_value_store.x.url` must be a string"][..],
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
