//! The Markdown report: query time per number of logged calls, then the
//! details, the data, and any problem found.

use std::fmt::Write as _;

use prompthelm_bench::machine::{load_average, machine};

use crate::check::DbStats;
use crate::generate::Generated;
use crate::queries::{Measured, QUERIES};

/// One number of logged calls.
pub struct Run {
    pub calls: u64,
    /// `None`: not generated (the time cap).
    pub generated: Option<Generated>,
    pub stats: Option<DbStats>,
    /// `/proc/loadavg` as the queries began.
    pub load_average: Option<String>,
    pub measured: Vec<Measured>,
    /// What each measured query read or returned, in `measured`'s order.
    pub details: Vec<String>,
    pub problems: Vec<String>,
}

impl Run {
    pub fn skipped(calls: u64, why: &str) -> Run {
        Run {
            calls,
            generated: None,
            stats: None,
            load_average: None,
            measured: Vec::new(),
            details: Vec::new(),
            problems: vec![format!("not run: {why}")],
        }
    }

    /// Ran to the end, every request answered 200, and every check held.
    pub fn complete(&self) -> bool {
        self.problems.is_empty()
            && self.measured.len() == QUERIES.len()
            && self.measured.iter().all(|m| m.errors == 0 && !m.capped)
    }
}

pub struct Report {
    pub runs: Vec<Run>,
    pub requests: u64,
    pub warmup: u64,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "Machine: {}; load average at the end {} (1, 5, 15 min).\n",
            machine(),
            load_average()
        );
        let _ = writeln!(
            md,
            "Query time, ms, p50 / p95 of {} sequential requests over HTTP on 127.0.0.1 \
             (one keep-alive connection, after {} unmeasured ones), by logged calls:\n",
            self.requests, self.warmup
        );
        md.push_str("| query |");
        for run in &self.runs {
            let _ = write!(md, " {} calls |", short(run.calls));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(self.runs.len()));
        md.push('\n');
        for query in QUERIES {
            let _ = write!(md, "| {} |", query.label());
            for run in &self.runs {
                let cell = run.measured.iter().find(|m| m.query == query).map_or_else(
                    || "not run".to_owned(),
                    |m| match (m.percentile_ms(0.5), m.percentile_ms(0.95)) {
                        (Some(p50), Some(p95)) => format!(
                            "{p50:.1} / {p95:.1}{}",
                            if m.capped { " (time cap)" } else { "" }
                        ),
                        _ if m.capped => "not run (time cap)".to_owned(),
                        _ => "failed".to_owned(),
                    },
                );
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }

        md.push_str(
            "\n| logged calls | of the prompt | generated in s | rows/s | DB file MB \
             | rollup rows | rollup error rows | load average as the queries began |\n\
             |---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for run in &self.runs {
            let (Some(generated), Some(stats)) = (&run.generated, &run.stats) else {
                let _ = writeln!(md, "| {} | not run | | | | | | |", run.calls);
                continue;
            };
            let secs = generated.elapsed.as_secs_f64();
            let _ = writeln!(
                md,
                "| {} | {} | {secs:.1} | {:.0} | {:.1} | {} | {} | {} |",
                generated.calls,
                generated.prompt_calls,
                generated.calls as f64 / secs,
                stats.file_bytes as f64 / (1024.0 * 1024.0),
                stats.rollup_rows,
                stats.rollup_error_rows,
                run.load_average.as_deref().unwrap_or(""),
            );
        }

        md.push_str(
            "\n| logged calls | query | timed | max ms | read → returned | answer KB |\n\
             |---:|---|---:|---:|---|---:|\n",
        );
        for run in &self.runs {
            for (i, m) in run.measured.iter().enumerate() {
                let _ = writeln!(
                    md,
                    "| {} | {} | {}{} | {} | {} | {:.1} |",
                    short(run.calls),
                    m.query.label(),
                    m.samples_ms.len(),
                    if m.errors > 0 {
                        format!(" ({} failed)", m.errors)
                    } else {
                        String::new()
                    },
                    m.samples_ms
                        .last()
                        .map_or_else(String::new, |ms| format!("{ms:.1}")),
                    run.details.get(i).map_or("", String::as_str),
                    m.answer_bytes as f64 / 1024.0,
                );
            }
        }

        md.push_str(
            "\nEach number of calls gets a fresh state: the prompt, 3 versions and 4 promotions \
             (one a rollback) through the API, then the calls written straight into \
             `execution_logs` with the host stopped (one transaction; the rollup triggers fill the hourly and \
             daily rollup tables), then the host restarted and queried. The calls are spread \
             over the last 30 days: 96 % through the prompt, across its versions in every hour, \
             4 % ad hoc; log-normal latencies (median 1 s), 5 % errors. `24h` defaults to hour \
             buckets (hourly rollups), `7d` and `30d` to day buckets (daily rollups). Rollup rows are those of the prompt in the window \
             (measures plus error counts). \"Natively\": the component's two rollup SELECTs, \
             then the same rows decoded, summarized and serialized with `prompthelm-domain`, in \
             this process on the same file (median of 5); the rest of the HTTP time is the \
             host, wasm and the component's other statements.\n\n\
             Checked against the database once per number of calls (SQL, host stopped): each \
             window's `totals.calls` and `totals.errors`, its buckets and their sum, the \
             promotion markers, the `30d` p50/p95/p99 within 1 % of the exact ones, and the \
             logs pages (size, newest first, filter). A mismatch is listed below and fails \
             the run.\n",
        );
        let problems: Vec<_> = self
            .runs
            .iter()
            .flat_map(|run| run.problems.iter().map(move |p| (run.calls, p)))
            .chain(self.runs.iter().flat_map(|run| {
                run.measured.iter().filter_map(move |m| {
                    m.first_error
                        .as_ref()
                        .map(|e| (run.calls, e))
                        .filter(|_| m.errors > 0)
                })
            }))
            .collect();
        if !problems.is_empty() {
            md.push_str("\nProblems:\n\n");
            for (calls, problem) in problems {
                let _ = writeln!(md, "- {} calls: {problem}", short(calls));
            }
        }
        md
    }
}

/// 10000 → `10k`, 1000000 → `1M`; other numbers as they are.
fn short(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_counts_are_short() {
        assert_eq!(short(10_000), "10k");
        assert_eq!(short(100_000), "100k");
        assert_eq!(short(1_000_000), "1M");
        assert_eq!(short(2_500_000), "2500k");
        assert_eq!(short(1234), "1234");
    }
}
