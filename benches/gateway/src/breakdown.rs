//! One execute call, phase by phase: the medians of the gateway's own
//! `Server-Timing` phases (auth, body, resolve, render, provider, log,
//! total) over sequential calls, next to the client's round trip.

use std::time::Instant;

use crate::api::Endpoints;
use crate::load;
use crate::servers::Runtime;

/// Medians of each phase over `calls` sequential executes.
pub struct Breakdown {
    pub runtime: Runtime,
    pub calls: usize,
    /// Phase name and median milliseconds, in the order the gateway sends.
    pub phases: Vec<(String, f64)>,
    /// The client's median round trip, milliseconds.
    pub round_trip: f64,
}

pub fn measure(runtime: Runtime, endpoints: &Endpoints, calls: usize) -> Result<Breakdown, String> {
    let agent = load::agent();
    let mut names: Vec<String> = Vec::new();
    let mut samples: Vec<Vec<f64>> = Vec::new();
    let mut trips = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let timing = endpoints.execute_server_timing(&agent)?;
        trips.push(started.elapsed().as_secs_f64() * 1000.0);
        for part in timing.split(", ") {
            let (name, dur) = part
                .split_once(";dur=")
                .ok_or_else(|| format!("Server-Timing entry {part:?}"))?;
            let dur: f64 = dur
                .parse()
                .map_err(|_| format!("Server-Timing duration {part:?}"))?;
            let at = match names.iter().position(|n| n == name) {
                Some(at) => at,
                None => {
                    names.push(name.to_owned());
                    samples.push(Vec::with_capacity(calls));
                    names.len() - 1
                }
            };
            samples[at].push(dur);
        }
    }
    Ok(Breakdown {
        runtime,
        calls,
        phases: names
            .into_iter()
            .zip(samples.iter_mut().map(|s| median(s)))
            .collect(),
        round_trip: median(&mut trips),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The Markdown section: one column per runtime.
pub fn markdown(breakdowns: &[Breakdown]) -> String {
    let Some(first) = breakdowns.first() else {
        return String::new();
    };
    let mut out = format!(
        "\nOne `execute` call, phase by phase: medians of the gateway's `Server-Timing` over {} \
         sequential calls (ms; `total` is the guest's whole handler, the round trip is the \
         client's):\n\n| phase |",
        first.calls
    );
    for b in breakdowns {
        out.push_str(&format!(" {} |", b.runtime.name()));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(breakdowns.len()));
    out.push('\n');
    for (i, (name, _)) in first.phases.iter().enumerate() {
        out.push_str(&format!("| {name} |"));
        for b in breakdowns {
            match b.phases.get(i) {
                Some((_, ms)) => out.push_str(&format!(" {ms:.3} |")),
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out.push_str("| client round trip |");
    for b in breakdowns {
        out.push_str(&format!(" {:.3} |", b.round_trip));
    }
    out.push('\n');
    out
}
