//! The Markdown report: the machine, one row per run, what the gateway adds,
//! and how `spin up` compares with `prompthelm up`.

use std::fmt::Write as _;

use prompthelm_bench::machine::machine;

use crate::api::Target;
use crate::load::Measured;
use crate::servers::Runtime;

/// One finished run.
pub struct Row {
    pub target: Target,
    /// What served the gateway; `None` for the direct baseline.
    pub runtime: Option<Runtime>,
    pub concurrency: usize,
    pub measured: Measured,
    /// CPU milliseconds per request of the runtime (`None` for the
    /// baseline) and of the stub.
    pub host_cpu_ms: Option<f64>,
    pub stub_cpu_ms: f64,
}

/// A row's path, e.g. `gateway: … (spin up)`.
pub fn label(target: Target, runtime: Option<Runtime>) -> String {
    match runtime {
        Some(runtime) => format!("{} ({})", target.label(), runtime.name()),
        None => target.label().to_owned(),
    }
}

/// What a runtime's processes used.
pub struct Memory {
    pub runtime: Runtime,
    /// How many processes it is (`spin up` serves from a child process).
    pub processes: usize,
    pub rss_at_start_kib: u64,
    pub peak_rss_kib: u64,
    /// The peak was reset after start, so it is the peak of the runs.
    pub peak_rss_reset: bool,
}

pub struct Report {
    pub rows: Vec<Row>,
    /// What was not measured (a path that failed its check, a runtime that
    /// did not start), with the reason.
    pub unavailable: Vec<(String, String)>,
    pub memory: Vec<Memory>,
    /// The Spin measured under `spin up`: its binary and version.
    pub spin: Option<String>,
    pub warmup: u64,
    /// `None`: sysconf could not tell, 100 was assumed.
    pub clock_ticks: Option<u64>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "Machine: {}\n", machine());
        if let Some(spin) = &self.spin {
            let _ = writeln!(md, "`spin up`: {spin}\n");
        }
        md.push_str(
            "| path | concurrency | requests | errors | p50 ms | p99 ms | req/s | host CPU ms/req | stub CPU ms/req |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let m = &row.measured;
            let _ = writeln!(
                md,
                "| {} | {} | {}{} | {} | {:.2} | {:.2} | {:.0} | {} | {:.3} |",
                label(row.target, row.runtime),
                row.concurrency,
                m.completed,
                if m.capped { " (time cap)" } else { "" },
                m.errors,
                m.percentile_ms(0.5),
                m.percentile_ms(0.99),
                m.per_second(),
                row.host_cpu_ms
                    .map_or_else(|| "–".to_owned(), |ms| format!("{ms:.3}")),
                row.stub_cpu_ms,
            );
        }

        self.differences(
            &mut md,
            "Added by the gateway (execute minus direct, each percentile taken on its own run):",
            |gateway| gateway.target == Target::Execute,
            |gateway, direct| {
                direct.target == Target::Direct && direct.concurrency == gateway.concurrency
            },
        );
        self.differences(
            &mut md,
            "The gateway's own work: execute minus the floor, a component that forwards the \
             same request to the stub and does nothing else (under the same runtime):",
            |gateway| gateway.target == Target::Execute,
            |gateway, floor| {
                floor.target == Target::FloorForward
                    && floor.runtime == gateway.runtime
                    && floor.concurrency == gateway.concurrency
            },
        );
        self.differences(
            &mut md,
            "`spin up` minus `prompthelm up` (the same path and concurrency):",
            |spin| spin.runtime == Some(Runtime::Spin),
            |spin, local| {
                local.runtime == Some(Runtime::Prompthelm)
                    && local.target == spin.target
                    && local.concurrency == spin.concurrency
            },
        );

        md.push('\n');
        for memory in &self.memory {
            let _ = writeln!(
                md,
                "`{}` memory{}: {:.1} MiB resident after start (compile cache warm), \
                 {:.1} MiB peak resident (VmHWM) {}.",
                memory.runtime.name(),
                if memory.processes > 1 {
                    format!(" (its {} processes, summed)", memory.processes)
                } else {
                    String::new()
                },
                memory.rss_at_start_kib as f64 / 1024.0,
                memory.peak_rss_kib as f64 / 1024.0,
                if memory.peak_rss_reset {
                    "during the runs"
                } else {
                    "since start"
                },
            );
        }
        let ticks = match self.clock_ticks {
            Some(t) => format!("{t} clock ticks per second (sysconf)"),
            None => "100 clock ticks per second (assumed: sysconf could not tell)".to_owned(),
        };
        let _ = writeln!(
            md,
            "Each run follows {} unmeasured warm-up requests; CPU time is utime + stime from /proc at {ticks}, \
             of the runtime that served the row (for `spin up`, with its trigger process). \
             The client, the runtimes and the stub share the machine's cores.",
            self.warmup,
        );
        for (what, reason) in &self.unavailable {
            let _ = writeln!(md, "\nNot measured: {what}: {reason}");
        }
        md
    }

    /// A table of `row` minus its `base`, for each row `which` picks that
    /// has one, at p50 and p99.
    fn differences(
        &self,
        md: &mut String,
        title: &str,
        which: impl Fn(&Row) -> bool,
        base: impl Fn(&Row, &Row) -> bool,
    ) {
        let pairs: Vec<_> = self
            .rows
            .iter()
            .filter(|row| which(row))
            .filter_map(|row| Some((row, self.rows.iter().find(|b| base(row, b))?)))
            .collect();
        if pairs.is_empty() {
            return;
        }
        let _ = write!(
            md,
            "\n{title}\n\n| path | concurrency | p50 ms | p99 ms |\n|---|---:|---:|---:|\n"
        );
        for (row, base) in pairs {
            let diff = |q| row.measured.percentile_ms(q) - base.measured.percentile_ms(q);
            let _ = writeln!(
                md,
                "| {} | {} | {:+.2} | {:+.2} |",
                label(row.target, row.runtime),
                row.concurrency,
                diff(0.5),
                diff(0.99)
            );
        }
    }
}
