//! Turning a spin.toml (+ runtime config, variables, state dir) into a ready
//! server: every check that can fail happens here, before the port opens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use prompthelm_manifest::outbound::component_allowed_hosts;
use prompthelm_manifest::routing::Router;
use prompthelm_manifest::runtime_config::{
    KeyValueStoreConfig, RuntimeConfig, SqliteDatabaseConfig,
};
use prompthelm_manifest::variables::{Variables, component_variables};
use prompthelm_manifest::{AppManifest, load_manifest};

use crate::factors::key_value::{KeyValueBackend, SqliteKeyValue};
use crate::factors::key_value_redis::RedisKeyValue;
use crate::factors::sqlite::{FileDatabase, SqliteBackend};
use crate::factors::sqlite_libsql::LibsqlDatabase;
use crate::first_run::FirstRun;
use crate::instance::{Backends, Capabilities, ComponentServer, InstanceMemory};
use crate::limits::{Limits, MemoryBudget, instances_per_component};
use crate::server::{Server, slots_per_component};
use crate::{engine, migrate};

/// Where the app's state lives and how it is configured: what `up` and
/// `migrate` share.
pub struct StateOptions {
    pub manifest: PathBuf,
    pub state_dir: Option<PathBuf>,
    pub runtime_config_file: Option<PathBuf>,
}

impl StateOptions {
    /// Spin's default: `.spin/` beside spin.toml.
    pub fn state_dir(&self, manifest: &AppManifest) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"))
    }

    pub fn runtime_config(&self, manifest: &AppManifest) -> anyhow::Result<RuntimeConfig> {
        RuntimeConfig::load(
            self.runtime_config_file.as_deref(),
            &self.state_dir(manifest),
        )
    }
}

pub struct UpOptions {
    pub state: StateOptions,
    pub variables: Vec<(String, String)>,
    pub cache_dir: Option<PathBuf>,
    pub request_timeout: Duration,
    pub limits: Limits,
    /// Apply migrations/ at start, and make sure the app has an admin
    /// token ([`crate::first_run`]) (`up` without `--no-migrate`).
    pub migrate: bool,
    /// This load follows a first run ([`crate::first_run`]), whose private
    /// app may have written: the `default` database's WAL is checkpointed
    /// into its file first, so the serving app starts from the file alone
    /// as on any later start, and the startup warnings and the limits line
    /// are not repeated.
    pub after_first_run: bool,
}

/// The app, loaded and checked, ready to serve.
pub struct App {
    pub manifest: AppManifest,
    pub server: Server,
    pub state_dir: PathBuf,
    /// The first-run step to take once serving ([`crate::first_run`]).
    pub first_run: Option<FirstRun>,
}

impl App {
    pub fn load(opts: &UpOptions) -> anyhow::Result<App> {
        let manifest = load_manifest(&opts.state.manifest)?;
        let env = |name: &str| std::env::var(name).ok();
        let mut variables = Variables::resolve(&manifest.variables, &opts.variables, &env)?;
        let mut first_run = if opts.migrate {
            FirstRun::plan(&variables)
        } else {
            None
        };
        if let Some(first_run) = &first_run {
            let mut overrides = opts.variables.clone();
            overrides.push(first_run.variable());
            variables = Variables::resolve(&manifest.variables, &overrides, &env)?;
        }
        for name in variables
            .secrets_at_public_default()
            .into_iter()
            .filter(|_| !opts.after_first_run)
        {
            eprintln!(
                "warning: the secret variable `{name}` has the public default from the manifest; \
                 set your own value ({} or a secret store) in any deployment",
                prompthelm_manifest::variables::env_var_name(name)
            );
        }
        let runtime_config = opts.state.runtime_config(&manifest)?;
        let state_dir = opts.state.state_dir(&manifest);
        let router = Router::new(&manifest.http_triggers)?;

        // Only components that serve a route are loaded, as in Spin.
        let served: BTreeSet<&str> = manifest
            .http_triggers
            .iter()
            .map(|t| t.component.as_str())
            .collect();
        for id in &served {
            check_source(&manifest, id)?;
        }
        runtime_config.check_manifest(&manifest)?;

        let databases = open_databases(&runtime_config)?;
        if opts.migrate {
            migrate::apply_to_default(&manifest, &databases)?;
        }
        if let Some(Database::File(db)) = databases.get("default")
            && opts.after_first_run
        {
            db.open_connection()
                .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
                .context("checkpointing the default database after the first run")?;
        }

        if let (Some(first_run), Some(Database::File(db))) =
            (&mut first_run, databases.get("default"))
        {
            first_run.watch(Arc::downgrade(db));
        }
        // The first run's private app takes a fresh instance per request,
        // so none outlives its request holding the database.
        let mut reuse = opts.limits.reuse;
        if first_run.is_some() {
            reuse.max_requests = 1;
        }
        let backends = Arc::new(Backends {
            databases: Arc::new(
                databases
                    .iter()
                    .map(|(label, db)| (label.clone(), db.backend()))
                    .collect(),
            ),
            stores: Arc::new(open_stores(&runtime_config)?),
        });
        // The shared outbound HTTP client and its TLS roots, built once.
        crate::factors::outbound_http::init();

        // The pool holds every component's instance places, which its
        // in-flight slots bound.
        let limits = &opts.limits;
        let slots = slots_per_component(&router, served.iter().copied(), limits);
        let instances: usize = slots
            .values()
            .map(|&(ordinary, reserve)| instances_per_component(ordinary, reserve))
            .sum();
        let pool = engine::Pool {
            instances: u32::try_from(instances).context("too many instances")?,
            instance_memory: limits.instance_memory_bytes,
        };
        let memory = InstanceMemory {
            per_instance: limits.instance_memory_bytes,
            budget: MemoryBudget::new(limits.memory_budget_bytes),
        };
        if !opts.after_first_run {
            eprintln!(
                "Limits: {} component(s) x {} in-flight requests (+{} reserved for health \
             checks) = at most {instances} instances of up to {} MiB each, {} MiB for all of \
             them; an instance serves up to {} requests, {} at once, and is kept {:?} idle",
                slots.len(),
                limits.max_inflight_per_component,
                slots.values().map(|(_, r)| r).sum::<usize>(),
                limits.instance_memory_bytes >> 20,
                limits.memory_budget_bytes >> 20,
                limits.reuse.max_requests,
                limits.reuse.max_concurrent,
                limits.reuse.idle_timeout,
            );
        }
        let engine = engine::build(&pool)?;
        let linker = engine::linker(&engine)?;
        if let Some(dir) = &opts.cache_dir {
            engine::prune_cache(dir)?;
        }
        let mut components = BTreeMap::new();
        for id in served {
            let component = &manifest.components[id];
            let capabilities = Capabilities {
                sqlite_databases: Arc::new(component.sqlite_databases.iter().cloned().collect()),
                key_value_stores: Arc::new(component.key_value_stores.iter().cloned().collect()),
                variables: Arc::new(
                    component_variables(component, &variables)
                        .with_context(|| format!("component `{id}`: variables"))?,
                ),
                outbound_hosts: Arc::new(component_allowed_hosts(component, &variables)?),
            };
            let pre = engine::prepare(
                &engine,
                &linker,
                opts.cache_dir.as_deref(),
                id,
                &component.source,
            )?;
            let (ordinary, reserve) = slots[id];
            components.insert(
                id.to_owned(),
                ComponentServer::new(
                    id,
                    engine.clone(),
                    pre,
                    capabilities,
                    backends.clone(),
                    opts.request_timeout,
                    memory.clone(),
                    reuse,
                    instances_per_component(ordinary, reserve),
                ),
            );
        }

        Ok(App {
            server: Server::new(router, components, opts.limits.clone()),
            manifest,
            state_dir,
            first_run,
        })
    }
}

/// A missing `.wasm` is the most common first-run mistake: say what to do.
fn check_source(manifest: &AppManifest, id: &str) -> anyhow::Result<()> {
    let source = &manifest.components[id].source;
    if !source.is_file() {
        bail!(
            "component `{id}`: {} does not exist; build the app first \
             (`prompthelm build` or `prompthelm up --build`)",
            source.display()
        );
    }
    Ok(())
}

/// A database of the runtime config, opened.
pub enum Database {
    File(Arc<FileDatabase>),
    Libsql(Arc<LibsqlDatabase>),
}

impl Database {
    pub fn backend(&self) -> Arc<dyn SqliteBackend> {
        match self {
            Database::File(db) => db.clone(),
            Database::Libsql(db) => db.clone(),
        }
    }
}

pub fn open_databases(config: &RuntimeConfig) -> anyhow::Result<BTreeMap<String, Database>> {
    config
        .sqlite_databases
        .iter()
        .map(|(label, db)| {
            let db = match db {
                SqliteDatabaseConfig::Spin { path } => {
                    FileDatabase::create(path).map(|db| Database::File(Arc::new(db)))
                }
                SqliteDatabaseConfig::Libsql { url, token } => {
                    LibsqlDatabase::new(url, token).map(|db| Database::Libsql(Arc::new(db)))
                }
            };
            let db = db.with_context(|| format!("sqlite database `{label}`"))?;
            Ok((label.clone(), db))
        })
        .collect()
}

fn open_stores(
    config: &RuntimeConfig,
) -> anyhow::Result<BTreeMap<String, Arc<dyn KeyValueBackend>>> {
    config
        .key_value_stores
        .iter()
        .map(|(label, store)| {
            let store: anyhow::Result<Arc<dyn KeyValueBackend>> = match store {
                KeyValueStoreConfig::Spin { path } => {
                    SqliteKeyValue::open(label, path).map(|s| Arc::new(s) as _)
                }
                KeyValueStoreConfig::Redis { url } => {
                    RedisKeyValue::open(label, url).map(|s| Arc::new(s) as _)
                }
            };
            let store = store.with_context(|| format!("key-value store `{label}`"))?;
            Ok((label.clone(), store))
        })
        .collect()
}

/// Where compiled components are cached between runs.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|d| d.join("prompthelm").join("wasmtime"))
}
