//! `prompthelm-bench`: what the gateway adds to an LLM call.
//!
//! It builds and starts the stub provider and `prompthelm up` on loopback,
//! and the real `spin up` of the same app when a Spin 4.1+ binary is found,
//! sets up one promoted prompt through the API of each, then loads the stub
//! directly (the baseline) and the gateway's execute, stream and resolve
//! endpoints under each runtime, each with a fixed number of requests and a
//! time cap. It prints a Markdown table of latency percentiles, throughput,
//! CPU time per request and each runtime's memory, and stops the processes
//! it started.

mod api;
mod breakdown;
mod load;
mod procfs;
mod report;
mod servers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use prompthelm_bench::build;
use prompthelm_bench::children::{Host, Stub};
use prompthelm_bench::spin::Spin;

use crate::api::Target;
use crate::load::Plan;
use crate::report::{Memory, Report, Row};
use crate::servers::{Runtime, Server};

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
    /// Measure `prompthelm up` only, even when a Spin binary is found (a
    /// quicker A/B of a change to the local runtime).
    #[arg(long)]
    no_spin: bool,
}

/// Sequential executes whose `Server-Timing` phases give the breakdown.
const BREAKDOWN_CALLS: usize = 500;

/// The runs, in order: the baseline and the gateway alternate so each pair
/// sees the same machine state. A gateway run is made under each runtime.
/// The floor rows run on the probe fixture under each runtime.
const RUNS: [(Target, usize); 9] = [
    (Target::Direct, 1),
    (Target::FloorEcho, 1),
    (Target::FloorForward, 1),
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
    eprintln!("bench: stub at {}", stub.base_url);
    let mut unavailable = Vec::new();
    let mut servers = vec![Server::start(
        Runtime::Prompthelm,
        |state_dir| {
            Host::start(
                &paths.host_binary(),
                &paths.manifest(),
                state_dir,
                &paths.compile_cache(),
                &stub.base_url,
            )
        },
        &stub.base_url,
    )?];
    let mut probes = vec![Server::start_probe(
        Runtime::Prompthelm,
        |state_dir| {
            Host::start_probe(
                &paths.host_binary(),
                &paths.probe_manifest(),
                state_dir,
                &paths.compile_cache(),
                &stub.base_url,
            )
        },
        &stub.base_url,
    )?];
    let spin = if cli.no_spin {
        eprintln!("bench: --no-spin: skipping the spin up rows");
        None
    } else {
        Spin::find(&paths.workspace)
    };
    if let Some(spin) = &spin {
        let started = Server::start(
            Runtime::Spin,
            |state_dir| {
                spin.up(
                    &paths.host_binary(),
                    &paths.manifest(),
                    state_dir,
                    &stub.base_url,
                )
            },
            &stub.base_url,
        );
        match started {
            Ok(server) => servers.push(server),
            Err(e) => {
                eprintln!("bench: spin up did not start: {e:#}");
                unavailable.push(("`spin up`".to_owned(), format!("{e:#}")));
            }
        }
        let started = Server::start_probe(
            Runtime::Spin,
            |state_dir| spin.up_probe(&paths.probe_manifest(), state_dir, &stub.base_url),
            &stub.base_url,
        );
        match started {
            Ok(server) => probes.push(server),
            Err(e) => {
                eprintln!("bench: spin up of the probe did not start: {e:#}");
                unavailable.push(("`spin up` of the probe".to_owned(), format!("{e:#}")));
            }
        }
    }

    let stub_pid = stub.process.pid();
    let clock_ticks = procfs::clock_ticks_per_second();
    let ms_per_tick = 1000.0 / clock_ticks.unwrap_or(100) as f64;
    let mut rows = Vec::new();
    let mut failed_checks: Vec<(Target, Option<Runtime>)> = Vec::new();
    for (target, concurrency) in RUNS {
        // The baseline once; each gateway path under each runtime, one
        // after the other, so they see the same machine state.
        let under: Vec<Option<&Server>> = match target {
            Target::Direct => vec![None],
            Target::FloorEcho | Target::FloorForward => probes.iter().map(Some).collect(),
            _ => servers.iter().map(Some).collect(),
        };
        for server in under {
            let runtime = server.map(|s| s.runtime);
            if failed_checks.contains(&(target, runtime)) {
                continue;
            }
            let endpoints = &server.unwrap_or(&servers[0]).endpoints;
            let what = report::label(target, runtime);
            if let Err(reason) = endpoints.check(target) {
                eprintln!("bench: skipping {what}: {reason}");
                failed_checks.push((target, runtime));
                unavailable.push((what, reason));
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
                "bench: {what} at concurrency {concurrency}: {} requests",
                plan.requests
            );
            // CPU ticks of the runtime and the stub, at the start and the end.
            let (measured, before, after) = load::run(
                &plan,
                |agent| endpoints.call(target, agent),
                || -> anyhow::Result<(Option<u64>, u64)> {
                    let host = server.map(Server::cpu_ticks).transpose()?;
                    Ok((host, procfs::cpu_ticks(stub_pid)?))
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
                runtime,
                concurrency,
                host_cpu_ms: host_after
                    .zip(host_before)
                    .map(|(after, before)| ms_per_request(after - before)),
                stub_cpu_ms: ms_per_request(stub_after - stub_before),
                measured,
            });
        }
    }

    // One call, phase by phase, under each runtime.
    let mut breakdowns = Vec::new();
    for server in &servers {
        match breakdown::measure(server.runtime, &server.endpoints, BREAKDOWN_CALLS) {
            Ok(b) => breakdowns.push(b),
            Err(e) => {
                let what = format!("the phase breakdown ({})", server.runtime.name());
                eprintln!("bench: {what} failed: {e}");
                unavailable.push((what, e));
            }
        }
    }

    let memory = servers
        .iter()
        .map(|server| {
            Ok(Memory {
                runtime: server.runtime,
                processes: server.pids.len(),
                rss_at_start_kib: server.rss_at_start_kib,
                peak_rss_kib: server.peak_rss_kib()?,
                peak_rss_reset: server.peak_rss_reset,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let report = Report {
        rows,
        unavailable,
        memory,
        spin: spin.map(|s| format!("Spin {} ({})", s.version, s.binary.display())),
        warmup: cli.warmup,
        clock_ticks,
    };
    let markdown = report.markdown() + &breakdown::markdown(&breakdowns);
    print!("{markdown}");
    if let Some(out) = &cli.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(
        if report.unavailable.is_empty() && report.rows.iter().all(|r| r.measured.errors == 0) {
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "bench: incomplete: a runtime or an endpoint was unavailable or requests failed (see the report)"
            );
            ExitCode::FAILURE
        },
    )
}
