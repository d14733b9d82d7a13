//! The runtimes that serve the app for a bench: `prompthelm up`, and the
//! real `spin up` when a Spin binary is found, each started the same way
//! and measured the same way.

use std::path::Path;

use anyhow::Context as _;
use prompthelm_bench::children::Host;
use tempfile::TempDir;

use crate::api::{self, Endpoints};
use crate::procfs;

/// What serves the app.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Prompthelm,
    Spin,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Prompthelm => "prompthelm up",
            Runtime::Spin => "spin up",
        }
    }
}

/// A runtime serving the app with the bench's prompt, and what it used
/// before the runs.
pub struct Server {
    pub runtime: Runtime,
    pub endpoints: Endpoints,
    /// The runtime's processes: `spin up` serves from a child process.
    pub pids: Vec<u32>,
    pub rss_at_start_kib: u64,
    /// The peak was reset after start, so it is the peak of the runs.
    pub peak_rss_reset: bool,
    _host: Host,
    // Declared after the host, so dropped after it: the state dir goes once
    // nothing uses it.
    _state: TempDir,
}

impl Server {
    /// Starts `runtime` with `start` on a fresh state dir, and creates the
    /// bench's prompt. A first start on a throwaway state dir fills the
    /// compile cache, so the measured one starts as a restarted one does,
    /// without the compiler's memory.
    pub fn start(
        runtime: Runtime,
        start: impl Fn(&Path) -> anyhow::Result<Host>,
        stub_url: &str,
    ) -> anyhow::Result<Server> {
        Server::launch(runtime, start, stub_url, true)
    }

    /// `runtime` serving the probe fixture instead of the app, for the
    /// floor rows: nothing to set up.
    pub fn start_probe(
        runtime: Runtime,
        start: impl Fn(&Path) -> anyhow::Result<Host>,
        stub_url: &str,
    ) -> anyhow::Result<Server> {
        Server::launch(runtime, start, stub_url, false)
    }

    fn launch(
        runtime: Runtime,
        start: impl Fn(&Path) -> anyhow::Result<Host>,
        stub_url: &str,
        create_bench_prompt: bool,
    ) -> anyhow::Result<Server> {
        let warm_up_state = tempfile::tempdir().context("creating a state dir")?;
        drop(start(warm_up_state.path())?);
        let state = tempfile::tempdir().context("creating the state dir")?;
        let host = start(state.path())?;
        eprintln!("bench: {} at {}", runtime.name(), host.base_url);
        if create_bench_prompt {
            api::create_bench_prompt(&host.base_url, &host.admin_token)?;
        }
        let endpoints = Endpoints::new(stub_url, &host.base_url, &host.admin_token);

        let pids = procfs::process_tree(host.process.pid());
        let rss_at_start_kib = procfs::sum(&pids, procfs::rss_kib)?;
        // The peak while serving, not while starting.
        let peak_rss_reset = pids
            .iter()
            .try_for_each(|&pid| procfs::reset_peak_rss(pid))
            .inspect_err(|e| {
                eprintln!(
                    "bench: the peak RSS of {} includes the start: {e:#}",
                    runtime.name()
                )
            })
            .is_ok();
        Ok(Server {
            runtime,
            endpoints,
            pids,
            rss_at_start_kib,
            peak_rss_reset,
            _host: host,
            _state: state,
        })
    }

    /// CPU time its processes have used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        procfs::sum(&self.pids, procfs::cpu_ticks)
    }

    /// The peak resident set size of its processes, summed, in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        procfs::sum(&self.pids, procfs::peak_rss_kib)
    }
}
