//! `prompthelm-analytics-bench`: how long analytics take as the execution
//! log grows (issue 5: it should stay flat at 10k, 100k and 1M calls).
//!
//! For each number of calls it starts the release `prompthelm up` on a
//! fresh state dir, sets up a prompt with versions and promotions through
//! the API, stops the host, generates the calls into the state's SQLite
//! file (the schema's trigger rolls them up), restarts the host and times
//! the analytics endpoint over loopback HTTP, with the execution-log list
//! for comparison. It checks the answers against the database, prints a
//! Markdown table, and stops the processes it started.

mod api;
mod check;
mod generate;
mod queries;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Parser;
use prompthelm_bench::build::{self, Paths};
use prompthelm_bench::children::Host;
use prompthelm_bench::machine::load_average;
use prompthelm_domain::auth::format_token;

use crate::api::Api;
use crate::queries::QUERIES;
use crate::report::{Report, Run};

/// The `default` database in a state dir (Spin's default runtime config,
/// `prompthelm_manifest::runtime_config::DEFAULT_SQLITE_DB_FILENAME`).
const DB_FILE: &str = "sqlite_db.db";

#[derive(Parser)]
#[command(
    name = "prompthelm-analytics-bench",
    about = "Measures analytics query time at growing numbers of logged calls, on the real host over loopback"
)]
struct Cli {
    /// Numbers of logged calls, each measured on its own fresh state.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    calls: Vec<u64>,
    /// Measured requests of each query.
    #[arg(long, default_value_t = 30)]
    requests: u64,
    /// Unmeasured requests of each query before its measured ones.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Past this many seconds (counted after the build), nothing new is
    /// generated or requested; the report marks what the cap cut.
    #[arg(long, default_value_t = 600)]
    time_cap_secs: u64,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if cli.calls.is_empty() || cli.requests == 0 {
        bail!("--calls and --requests must not be empty or 0");
    }
    let paths = Paths::locate()?;
    build::native_binaries(&paths, &["prompthelm"])?;
    build::components(&paths)?;
    let deadline = Instant::now() + Duration::from_secs(cli.time_cap_secs);
    // The host's `bootstrap_token`: an admin that needs no minting and
    // survives the restart.
    let token = format_token(rand::random());

    let mut runs = Vec::new();
    for &calls in &cli.calls {
        if Instant::now() > deadline {
            runs.push(Run::skipped(calls, "the time cap passed before it began"));
            continue;
        }
        runs.push(run(&paths, &token, calls, &cli, deadline)?);
    }

    let report = Report {
        runs,
        requests: cli.requests,
        warmup: cli.warmup,
    };
    let markdown = report.markdown();
    print!("{markdown}");
    if let Some(out) = &cli.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(if report.runs.iter().all(Run::complete) {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "bench: incomplete: a check failed, a request failed or the time cap cut a run (see the report)"
        );
        ExitCode::FAILURE
    })
}

/// One number of calls, on its own state dir.
fn run(
    paths: &Paths,
    token: &str,
    calls: u64,
    cli: &Cli,
    deadline: Instant,
) -> anyhow::Result<Run> {
    let state = tempfile::tempdir().context("creating a state dir")?;
    let start_host = || {
        Host::start_with_bootstrap_token(
            &paths.host_binary(),
            &paths.manifest(),
            state.path(),
            &paths.compile_cache(),
            token,
        )
    };
    let host = start_host()?;
    eprintln!("bench: {calls} calls: prompthelm at {}", host.base_url);
    let setup = api::set_up(&Api::new(&host.base_url, token))?;
    // Stopped (killed and reaped) before the generator opens the file, so
    // only one writer ever touches it.
    drop(host);

    let db_path = state.path().join(DB_FILE);
    if !db_path.is_file() {
        bail!("the host left no database at {}", db_path.display());
    }
    let plan = generate::Plan {
        setup: &setup,
        calls,
        now_ms: unix_millis(),
        // The same calls for the same number on every run.
        seed: calls,
        deadline,
    };
    eprintln!("bench: generating {calls} calls");
    let Some(generated) = generate::generate(&db_path, &plan)? else {
        return Ok(Run::skipped(calls, "the time cap stopped the generation"));
    };
    eprintln!(
        "bench: generated {calls} calls in {:.1} s",
        generated.elapsed.as_secs_f64()
    );

    let host = start_host()?;
    let api = Api::new(&host.base_url, token);
    let load_average = load_average();
    let plan = queries::Plan {
        warmup: cli.warmup,
        requests: cli.requests,
        deadline,
    };
    let mut measured = Vec::new();
    for query in QUERIES {
        eprintln!("bench: {calls} calls: {}", query.label());
        measured.push(queries::measure(&api, &setup.prompt_id, query, &plan));
    }
    drop(host);

    let (stats, details, problems) = read_back(&db_path, &setup, &generated, &measured)?;
    for problem in &problems {
        eprintln!("bench: {calls} calls: check failed: {problem}");
    }
    Ok(Run {
        calls,
        generated: Some(generated),
        stats: Some(stats),
        load_average: Some(load_average),
        measured,
        details,
        problems,
    })
}

/// The database's figures and the checks of the answers, with the host
/// stopped.
fn read_back(
    db_path: &Path,
    setup: &api::Setup,
    generated: &generate::Generated,
    measured: &[queries::Measured],
) -> anyhow::Result<(check::DbStats, Vec<String>, Vec<String>)> {
    let conn = check::open(db_path)?;
    let stats = check::stats(&conn, db_path)?;
    let (details, problems) = check::answers(&conn, setup, generated, &stats, measured)?;
    Ok((stats, details, problems))
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
