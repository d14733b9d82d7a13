//! The Markdown report: the machine, one row per run, what the gateway adds.

use std::fmt::Write as _;

use prompthelm_bench::machine::machine;

use crate::api::Target;
use crate::load::Measured;

/// One finished run.
pub struct Row {
    pub target: Target,
    pub concurrency: usize,
    pub measured: Measured,
    /// CPU milliseconds per request of `prompthelm` and of the stub.
    pub host_cpu_ms: f64,
    pub stub_cpu_ms: f64,
}

pub struct Report {
    pub rows: Vec<Row>,
    /// Targets that failed their check, with the reason; they were not run.
    pub unavailable: Vec<(Target, String)>,
    pub warmup: u64,
    /// `None`: sysconf could not tell, 100 was assumed.
    pub clock_ticks: Option<u64>,
    pub host_rss_at_start_kib: u64,
    /// The peak could not be reset after start, so it includes the start.
    pub peak_rss_since_start: bool,
    pub host_peak_rss_kib: u64,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "Machine: {}\n", machine());
        md.push_str(
            "| path | concurrency | requests | errors | p50 ms | p99 ms | req/s | prompthelm CPU ms/req | stub CPU ms/req |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let m = &row.measured;
            let _ = writeln!(
                md,
                "| {} | {} | {}{} | {} | {:.2} | {:.2} | {:.0} | {:.3} | {:.3} |",
                row.target.label(),
                row.concurrency,
                m.completed,
                if m.capped { " (time cap)" } else { "" },
                m.errors,
                m.percentile_ms(0.5),
                m.percentile_ms(0.99),
                m.per_second(),
                row.host_cpu_ms,
                row.stub_cpu_ms,
            );
        }

        let added: Vec<_> =
            self.rows
                .iter()
                .filter(|r| r.target == Target::Execute)
                .filter_map(|gateway| {
                    let direct = self.rows.iter().find(|r| {
                        r.target == Target::Direct && r.concurrency == gateway.concurrency
                    })?;
                    Some((gateway, direct))
                })
                .collect();
        if !added.is_empty() {
            md.push_str(
                "\nAdded by the gateway (execute minus direct, each percentile taken on its own run):\n\n\
                 | concurrency | p50 ms | p99 ms |\n|---:|---:|---:|\n",
            );
            for (gateway, direct) in added {
                let diff = |q| gateway.measured.percentile_ms(q) - direct.measured.percentile_ms(q);
                let _ = writeln!(
                    md,
                    "| {} | {:+.2} | {:+.2} |",
                    gateway.concurrency,
                    diff(0.5),
                    diff(0.99)
                );
            }
        }

        let _ = writeln!(
            md,
            "\n`prompthelm` memory: {:.1} MiB resident after start (compile cache warm), \
             {:.1} MiB peak resident (VmHWM) {}.",
            self.host_rss_at_start_kib as f64 / 1024.0,
            self.host_peak_rss_kib as f64 / 1024.0,
            if self.peak_rss_since_start {
                "since start"
            } else {
                "during the runs"
            },
        );
        let ticks = match self.clock_ticks {
            Some(t) => format!("{t} clock ticks per second (sysconf)"),
            None => "100 clock ticks per second (assumed: sysconf could not tell)".to_owned(),
        };
        let _ = writeln!(
            md,
            "Each run follows {} unmeasured warm-up requests; CPU time is utime + stime from /proc at {ticks}. \
             The client, `prompthelm` and the stub share the machine's cores.",
            self.warmup,
        );
        for (target, reason) in &self.unavailable {
            let _ = writeln!(md, "\nNot measured: {}: {reason}", target.label());
        }
        md
    }
}
