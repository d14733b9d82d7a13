//! `prompthelm-bench`: what the gateway adds to an LLM call.
//!
//! It builds and starts the stub provider and `prompthelm up` on loopback,
//! sets up one promoted prompt through the API, then loads the stub directly
//! (the baseline) and the gateway's execute, stream and resolve endpoints,
//! each with a fixed number of requests and a time cap. It prints a Markdown
//! table of latency percentiles, throughput, CPU time per request and the
//! host's memory, and stops the processes it started.

mod api;
mod load;
mod procfs;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use prompthelm_bench::build;
use prompthelm_bench::children::{Host, Stub};

use crate::api::{Endpoints, Target};
use crate::load::Plan;
use crate::report::{Report, Row};

#[derive(Parser)]
#[command(
    name = "prompthelm-bench",
    about = "Measures the latency and cost the gateway adds to an LLM call, against the stub provider on loopback"
)]
struct Cli {
    /// Measured requests of each run at concurrency 1; runs at concurrency
    /// 16 make twice as many.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Unmeasured requests before each run.
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// A run starts no new request after this many seconds; the report
    /// marks a run the cap cut short.
    #[arg(long, default_value_t = 120)]
    time_cap_secs: u64,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The runs, in order: the baseline and the gateway alternate so each pair
/// sees the same machine state.
const RUNS: [(Target, usize); 7] = [
    (Target::Direct, 1),
    (Target::Execute, 1),
    (Target::Stream, 1),
    (Target::Resolve, 1),
    (Target::Direct, 16),
    (Target::Execute, 16),
    (Target::Resolve, 16),
];

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let paths = build::Paths::locate()?;
    build::native_binaries(&paths, &["prompthelm", "stub-provider"])?;
    build::components(&paths)?;

    let stub = Stub::start(&paths.stub_binary())?;
    let start_host = |state_dir: &Path| {
        Host::start(
            &paths.host_binary(),
            &paths.manifest(),
            state_dir,
            &paths.compile_cache(),
            &stub.base_url,
        )
    };
    // A first start fills the compile cache, so the measured host starts
    // as a restarted one does, without the compiler's memory.
    let warm_up_state = tempfile::tempdir().context("creating a state dir")?;
    drop(start_host(warm_up_state.path())?);
    // Declared before the host, so dropped after it: the state dir goes
    // once nothing uses it.
    let state = tempfile::tempdir().context("creating the state dir")?;
    let host = start_host(state.path())?;
    eprintln!(
        "bench: stub at {}, prompthelm at {}",
        stub.base_url, host.base_url
    );
    api::create_bench_prompt(&host.base_url, &host.admin_token)?;
    let endpoints = Endpoints::new(&stub.base_url, &host.base_url, &host.admin_token);

    let host_pid = host.process.pid();
    let stub_pid = stub.process.pid();
    let clock_ticks = procfs::clock_ticks_per_second();
    let ms_per_tick = 1000.0 / clock_ticks.unwrap_or(100) as f64;
    let host_rss_at_start_kib = procfs::rss_kib(host_pid)?;
    // The peak while serving, not while starting.
    let peak_rss_since_start = procfs::reset_peak_rss(host_pid)
        .inspect_err(|e| eprintln!("bench: the peak RSS includes the start: {e:#}"))
        .is_err();

    let mut rows = Vec::new();
    let mut unavailable: Vec<(Target, String)> = Vec::new();
    for (target, concurrency) in RUNS {
        if unavailable.iter().any(|(t, _)| *t == target) {
            continue;
        }
        if let Err(reason) = endpoints.check(target) {
            eprintln!("bench: skipping {}: {reason}", target.label());
            unavailable.push((target, reason));
            continue;
        }
        let plan = Plan {
            concurrency,
            warmup: cli.warmup,
            requests: if concurrency == 1 {
                cli.requests
            } else {
                2 * cli.requests
            },
            time_cap: Duration::from_secs(cli.time_cap_secs),
        };
        eprintln!(
            "bench: {} at concurrency {concurrency}: {} requests",
            target.label(),
            plan.requests
        );
        // CPU ticks of the host and the stub, at the start and the end.
        let (measured, before, after) = load::run(
            &plan,
            |agent| endpoints.call(target, agent),
            || -> anyhow::Result<(u64, u64)> {
                Ok((procfs::cpu_ticks(host_pid)?, procfs::cpu_ticks(stub_pid)?))
            },
        );
        let ((host_before, stub_before), (host_after, stub_after)) = (before?, after?);
        let ms_per_request =
            |ticks: u64| ticks as f64 * ms_per_tick / measured.completed.max(1) as f64;
        if let Some(e) = &measured.first_error {
            eprintln!(
                "bench: {} of the requests failed; the first: {e}",
                measured.errors
            );
        }
        rows.push(Row {
            target,
            concurrency,
            host_cpu_ms: ms_per_request(host_after - host_before),
            stub_cpu_ms: ms_per_request(stub_after - stub_before),
            measured,
        });
    }

    let report = Report {
        rows,
        unavailable,
        warmup: cli.warmup,
        clock_ticks,
        host_rss_at_start_kib,
        peak_rss_since_start,
        host_peak_rss_kib: procfs::peak_rss_kib(host_pid)?,
    };
    let markdown = report.markdown();
    print!("{markdown}");
    if let Some(out) = &cli.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(
        if report.unavailable.is_empty() && report.rows.iter().all(|r| r.measured.errors == 0) {
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "bench: incomplete: an endpoint was unavailable or requests failed (see the report)"
            );
            ExitCode::FAILURE
        },
    )
}
