//! `prompthelm`: PromptHelm's local Spin runtime. It reads the same spin.toml
//! and runs the same .wasm components as `spin up`, on wasmtime.

mod app;
mod bootstrap;
mod builder;
mod engine;
mod factors;
mod instance;
mod migrate;
mod os;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::app::{App, StateOptions, UpOptions};

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
    /// Set an application variable: `--variable name=value` (repeatable).
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Run the build commands first.
    #[arg(long)]
    build: bool,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listen = args.listen;
        let opts = UpOptions {
            state: args.state.into(),
            variables: args.variables,
            cache_dir,
            request_timeout: Duration::from_secs(args.request_timeout_secs),
        };
        let app = App::load(&opts)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("State in {}", app.state_dir.display());
        if let Some(token) = &app.first_admin_token {
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
        Arc::new(app.server).serve(listener).await
    })
}
