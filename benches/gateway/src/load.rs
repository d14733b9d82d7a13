//! The load loop: a fixed number of requests spread over a fixed number of
//! workers, each with its own keep-alive connection, and a time cap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// One request's latency, or why it failed.
pub type Outcome = Result<Duration, String>;

/// How to load one endpoint.
pub struct Plan {
    pub concurrency: usize,
    /// Unmeasured requests first: connections, caches, the allocator pool.
    pub warmup: u64,
    pub requests: u64,
    /// Workers start no new request after this long.
    pub time_cap: Duration,
}

pub struct Measured {
    /// Latencies of the successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Requests made, successful or not.
    pub completed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// The time cap stopped the run before all requests were made.
    pub capped: bool,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs `plan`, calling `request` with each worker's own HTTP agent.
/// Returns what was measured and what `sample` (e.g. CPU time) gave right
/// before the measured requests started and right after they ended.
pub fn run<S>(
    plan: &Plan,
    request: impl Fn(&ureq::Agent) -> Outcome + Sync,
    mut sample: impl FnMut() -> S,
) -> (Measured, S, S) {
    let warmup_left = AtomicU64::new(plan.warmup);
    let measured_left = AtomicU64::new(plan.requests);
    // Workers and this thread meet here so the clock starts after every
    // worker has warmed up.
    let start_line = Barrier::new(plan.concurrency + 1);
    let first_error = Mutex::new(None);

    let (histograms, elapsed, before, after) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..plan.concurrency)
            .map(|_| {
                scope.spawn(|| {
                    let agent = agent();
                    while take(&warmup_left) {
                        let _ = request(&agent);
                    }
                    start_line.wait();
                    let deadline = Instant::now() + plan.time_cap;
                    let mut latency_us = histogram();
                    let mut errors = 0u64;
                    while Instant::now() < deadline && take(&measured_left) {
                        match request(&agent) {
                            Ok(latency) => latency_us.saturating_record(latency.as_micros() as u64),
                            Err(e) => {
                                errors += 1;
                                first_error.lock().unwrap().get_or_insert(e);
                            }
                        }
                    }
                    (latency_us, errors)
                })
            })
            .collect();
        start_line.wait();
        let before = sample();
        let started = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        let elapsed = started.elapsed();
        (results, elapsed, before, sample())
    });

    let mut latency_us = histogram();
    let mut errors = 0;
    for (h, e) in histograms {
        latency_us.add(h).expect("histograms share their bounds");
        errors += e;
    }
    let left = measured_left.load(Ordering::Relaxed);
    let measured = Measured {
        completed: plan.requests - left,
        latency_us,
        errors,
        first_error: first_error.into_inner().unwrap(),
        elapsed,
        capped: left > 0,
    };
    (measured, before, after)
}

/// Claims one request from `left`; false when none are left.
fn take(left: &AtomicU64) -> bool {
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// 1 µs to 60 s at three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// One keep-alive connection per worker: the agent pools it between calls.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}
