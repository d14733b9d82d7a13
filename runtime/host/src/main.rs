//! `prompthelm`: PromptHelm's local Spin runtime. It reads the same spin.toml
//! and runs the same .wasm components as `spin up`, on wasmtime.

mod app;
mod builder;
mod engine;
mod factors;
mod first_run;
mod instance;
mod limits;
mod migrate;
mod os;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::app::{App, StateOptions, UpOptions};
use crate::limits::{InstanceReuse, Limits, MAX_INSTANCE_MEMORY_MIB};

#[derive(Parser)]
#[command(
    name = "prompthelm",
    version,
    about = "Run PromptHelm's Spin app locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of `Up` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the app (like `spin up`).
    Up(UpArgs),
    /// Run every component's build command (like `spin build`).
    Build {
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Apply pending migrations to the `default` database and exit.
    Migrate(StateArgs),
}

#[derive(Args)]
struct StateArgs {
    /// The app manifest.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    /// Where databases and stores live [default: .spin beside the manifest].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Spin runtime config (sqlite databases, key-value stores).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
}

#[derive(Args)]
struct UpArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Event-loop threads, each accepting connections of its own on the
    /// port (`SO_REUSEPORT`) and running them to the end [default: the
    /// number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Set an application variable: `--variable name=value` (repeatable).
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Run the build commands first.
    #[arg(long)]
    build: bool,
    /// Leave the database as it is, as `spin up` does: no migrations and no
    /// first admin token at start (the app brings its schema up to date
    /// itself; the `bootstrap_token` variable is the way in).
    #[arg(long)]
    no_migrate: bool,
    /// Longest a request may take, in seconds, streamed body included.
    /// Above the gateway's longest provider budget (`timeoutMs` ≤ 120 s), so
    /// the gateway always answers a slow provider itself.
    #[arg(long, default_value_t = 150)]
    request_timeout_secs: u64,
    /// Cache compiled components here [default: ~/.cache/prompthelm/wasmtime].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not cache compiled components.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Open connections at once; beyond it a new connection gets `503
    /// OVERLOADED` and is closed. Keep it below the file-descriptor limit
    /// (`ulimit -n`).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Seconds a client has to send a complete request head, from the moment
    /// the connection is ready for one (accepted, or the last response sent).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit with no request in flight and
    /// no bytes before it is closed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_secs: u64,
    /// Largest request line plus headers, in bytes (`431` beyond it).
    #[arg(long, default_value_t = 32 << 10, value_parser = clap::value_parser!(u64).range(1024..=(256 << 10)))]
    max_header_bytes: u64,
    /// Longest request target (path and query), in bytes (`414` beyond it).
    #[arg(long, default_value_t = 8 << 10, value_parser = clap::value_parser!(u64).range(256..=(60 << 10)))]
    max_uri_bytes: u64,
    /// Largest request body, in bytes (`413` beyond it): a memory backstop
    /// above the components' own 1 MiB limit, so that a body the API
    /// refuses still reaches the component, which answers and (for gateway
    /// calls) logs it.
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_request_body_bytes: u64,
    /// Requests in flight at once per component; beyond it: `503
    /// OVERLOADED` with `Retry-After`. Also the most instances the component
    /// may have alive (plus its health reserve).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_inflight_per_component: u64,
    /// A request path that is a health check (repeatable). Its component
    /// gets `--health-reserve` extra instances that only these paths use.
    #[arg(long = "health-path", default_values_t = [String::from("/api/v1/gateway/health")])]
    health_paths: Vec<String>,
    /// Instances reserved for the health paths of a component.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    health_reserve: u64,
    /// The `Retry-After` of a `503 OVERLOADED`, in seconds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    retry_after_secs: u64,
    /// Linear memory one instance may grow to, in MiB.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(16..=MAX_INSTANCE_MEMORY_MIB))]
    instance_memory_mib: u64,
    /// Linear memory of all instances together, in MiB [default: half the
    /// memory of the machine or its cgroup].
    #[arg(long, value_parser = clap::value_parser!(u64).range(16..))]
    memory_budget_mib: Option<u64>,
    /// After SIGTERM/SIGINT, seconds in-flight requests may take to finish
    /// before the process exits anyway.
    #[arg(long, default_value_t = 10)]
    shutdown_grace_secs: u64,
    /// Requests one instance serves in all before it is dropped, as in Spin
    /// 4 (`spin up --max-instance-reuse-count`). 1: a fresh instance per
    /// request.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    max_instance_reuse_count: u64,
    /// Requests one instance serves at once, as in Spin 4 (`spin up
    /// --max-instance-concurrent-reuse-count`).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    max_instance_concurrent_reuse_count: u64,
    /// How long an instance with nothing to do is kept for the next request,
    /// as in Spin 4 (`spin up --idle-instance-timeout`): seconds, or a number
    /// with `s`, `ms`, `us` or `ns`.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    idle_instance_timeout: Duration,
}

impl UpArgs {
    fn limits(&self) -> anyhow::Result<Limits> {
        let budget_mib = self
            .memory_budget_mib
            .unwrap_or_else(limits::default_memory_budget_mib);
        if budget_mib < self.instance_memory_mib {
            anyhow::bail!(
                "--memory-budget-mib {budget_mib} is smaller than one instance's memory \
                 (--instance-memory-mib {})",
                self.instance_memory_mib
            );
        }
        Ok(Limits {
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_header_bytes: self.max_header_bytes as usize,
            max_uri_bytes: self.max_uri_bytes as usize,
            max_request_body_bytes: self.max_request_body_bytes as usize,
            max_inflight_per_component: self.max_inflight_per_component as usize,
            health_paths: self.health_paths.clone(),
            health_reserve: self.health_reserve as usize,
            retry_after: Duration::from_secs(self.retry_after_secs),
            instance_memory_bytes: (self.instance_memory_mib << 20) as usize,
            memory_budget_bytes: (budget_mib << 20) as usize,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            reuse: InstanceReuse {
                max_requests: self.max_instance_reuse_count as usize,
                max_concurrent: self.max_instance_concurrent_reuse_count as usize,
                idle_timeout: self.idle_instance_timeout,
            },
        })
    }
}

impl From<StateArgs> for StateOptions {
    fn from(a: StateArgs) -> Self {
        StateOptions {
            manifest: a.manifest,
            state_dir: a.state_dir,
            runtime_config_file: a.runtime_config_file,
        }
    }
}

fn parse_variable(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

/// Spin's duration syntax: `2` (seconds), `2s`, `500ms`, `10us`, `10μs`,
/// `100ns`. (Spin also takes a range, `1..8s`, to pick at random per
/// instance; the local runtime takes one value.)
fn parse_duration(s: &str) -> Result<Duration, String> {
    let error = || format!("expected a number with `s`, `ms`, `us` or `ns`, got {s:?}");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    type Unit = fn(u64) -> Duration;
    let units: [(&str, Unit); 5] = [
        ("ms", Duration::from_millis),
        ("us", Duration::from_micros),
        ("μs", Duration::from_micros),
        ("ns", Duration::from_nanos),
        ("s", Duration::from_secs),
    ];
    for (suffix, unit) in units {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse().map(unit).map_err(|_| error());
        }
    }
    Err(error())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build { manifest } => {
            builder::build_all(&prompthelm_manifest::load_manifest(&manifest)?)
        }
        Command::Migrate(state) => {
            let state = StateOptions::from(state);
            let manifest = prompthelm_manifest::load_manifest(&state.manifest)?;
            let databases = app::open_databases(&state.runtime_config(&manifest)?)?;
            migrate::apply_to_default(&manifest, &databases)
        }
        Command::Up(args) => up(args),
    }
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    if args.build {
        builder::build_all(&prompthelm_manifest::load_manifest(&args.state.manifest)?)?;
    }
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(app::default_cache_dir)
    };
    let limits = args.limits()?;
    let threads = match args.threads {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    // Startup, signals and the first run; requests run on the event loops
    // `serve` starts.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let listen = args.listen;
        let mut opts = UpOptions {
            state: args.state.into(),
            variables: args.variables,
            cache_dir,
            request_timeout: Duration::from_secs(args.request_timeout_secs),
            limits,
            migrate: !args.no_migrate,
            after_first_run: false,
        };
        let mut app = App::load(&opts)?;
        let mut first_admin_token = None;
        if let Some(first_run) = app.first_run.take() {
            first_admin_token = first_run.run(app.server).await;
            // The app that serves is loaded afresh: it never knew the
            // token lent for the first run, and its database connections
            // start cold.
            opts.migrate = false;
            opts.after_first_run = true;
            app = App::load(&opts)?;
        }
        let listeners = server::bind_listeners(listen, threads)?;
        let addr = listeners[0].local_addr()?;
        eprintln!("State in {}", app.state_dir.display());
        if let Some(token) = first_admin_token {
            eprintln!(
                "No API token existed, so an admin token for the default organization was created.\n\
                 It is shown only this once; keep it:\n\n    PROMPTHELM_API_KEY={token}\n"
            );
        }
        eprintln!("Available routes:");
        for trigger in &app.manifest.http_triggers {
            eprintln!("  {}: http://{addr}{}", trigger.component, trigger.route);
        }
        // On stdout, last, so a supervisor (or the test harness) can wait for it.
        println!("Serving http://{addr}");
        Arc::new(app.server)
            .serve(listeners, server::shutdown_signal(), true)
            .await
    });
    // Whatever is still running (a request past the shutdown grace, a
    // blocking SQLite call) is not waited for beyond this.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_spin_reads_them() {
        assert_eq!(parse_duration("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("7μs"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("9ns"), Ok(Duration::from_nanos(9)));
        for bad in ["", "s", "1m", "1.5s", "-1s", "1..8s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reuse_defaults_are_spins() {
        let cli = Cli::parse_from(["prompthelm", "up"]);
        let Command::Up(args) = cli.command else {
            panic!("not up")
        };
        assert_eq!(
            args.limits().unwrap().reuse,
            InstanceReuse {
                max_requests: 128,
                max_concurrent: 16,
                idle_timeout: Duration::from_secs(1),
            }
        );
        assert_eq!(args.limits().unwrap().reuse, InstanceReuse::default());
    }
}
