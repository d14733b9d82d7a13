//! Logged calls, generated straight into the state dir's SQLite file while
//! no host runs on it. The schema's trigger (`migrations/0004_rollups.sql`)
//! rolls each row up as the gateway's own INSERT does, so the rollups the
//! analytics endpoint reads are the ones real traffic would leave.
//!
//! The calls, from a seeded generator so every run writes the same ones:
//! spread evenly over the last 30 days, oldest first (as `seq` grows in a
//! real log); 96 % of them through the bench's prompt, across all its
//! versions in every hour (the most rollup rows per hour), the rest ad hoc
//! (no prompt). Latencies are log-normal with a median of 1 s; 5 % fail,
//! with the gateway's codes and their typical latencies. Rows carry no
//! request or response bodies, which no measured query reads.

use std::f64::consts::TAU;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prompthelm_domain::latency::bucket_index;
use prompthelm_domain::rollup::DAY_MS;
use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use rusqlite::{Connection, params};

use crate::api::{MODEL, Setup, VersionRef};

/// How far back the calls go.
pub const SPAN_MS: i64 = 30 * DAY_MS;
/// Rows between two looks at the clock (the time cap) and the progress line.
const CHECK_EVERY: u64 = 8192;

/// What to generate.
pub struct Plan<'a> {
    pub setup: &'a Setup,
    pub calls: u64,
    /// The calls end here (ms since the epoch).
    pub now_ms: i64,
    pub seed: u64,
    /// Past this, generation stops and rolls back.
    pub deadline: Instant,
}

/// What was generated.
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    pub calls: u64,
    /// Those through the bench's prompt.
    pub prompt_calls: u64,
    /// Inserting and committing, checkpoint included.
    pub elapsed: Duration,
}

/// Writes the plan's calls in one transaction with one prepared statement.
/// `None` when the deadline came first (nothing is written then).
pub fn generate(db_path: &Path, plan: &Plan<'_>) -> anyhow::Result<Option<Generated>> {
    let started = Instant::now();
    let mut conn =
        Connection::open(db_path).with_context(|| format!("opening {}", db_path.display()))?;
    // The host's settings (WAL is stored in the file), plus a page cache
    // big enough that the random `id` index of 1M rows stays in memory
    // during the one long transaction.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -256 * 1024)?;
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let start_ms = plan.now_ms - SPAN_MS;
    let step_ms = SPAN_MS as f64 / plan.calls.max(1) as f64;
    let mut prompt_calls = 0;

    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, version_id, \
             version, environment, model, provider, stream, status, error_code, http_status, \
             latency_ms, provider_latency_ms, input_tokens, output_tokens, cached_input_tokens, \
             cost_usd, cost_known, request_id, user_agent, created_at, latency_bucket) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        for i in 0..plan.calls {
            if i % CHECK_EVERY == 0 && i > 0 {
                if Instant::now() > plan.deadline {
                    // Dropping the transaction rolls it back.
                    return Ok(None);
                }
                if i % (CHECK_EVERY * 16) == 0 {
                    eprintln!("bench: generated {i} of {} calls", plan.calls);
                }
            }
            // One call per step of the span, at a random point of its step:
            // even spread, and created_at grows with seq.
            let created_at = start_ms + ((i as f64 + rng.random::<f64>()) * step_ms) as i64;
            let call = Call::draw(&mut rng, &plan.setup.versions);
            prompt_calls += u64::from(call.version.is_some());
            insert.execute(params![
                format!("exe_{:032x}", rng.random::<u128>()),
                plan.setup.organization_id,
                "bootstrap",
                call.version.map(|_| plan.setup.prompt_id.as_str()),
                call.version.map(|v| v.id.as_str()),
                call.version.map(|v| v.label.as_str()),
                call.environment,
                call.model,
                call.model.map(|_| "openai"),
                call.stream,
                if call.error.is_some() {
                    "error"
                } else {
                    "success"
                },
                call.error.map(|(code, _)| code),
                call.error.map_or(200, |(_, status)| status),
                call.latency_ms,
                call.provider_latency_ms,
                call.input_tokens,
                call.output_tokens,
                call.cached_input_tokens,
                call.cost_usd,
                call.cost_known,
                format!("req_{:032x}", rng.random::<u128>()),
                "prompthelm-analytics-bench",
                created_at,
                // What the gateway binds (`store::executions::insert`), and
                // what the trigger files the call's latency under.
                bucket_index(call.latency_ms as u64),
            ])?;
        }
    }
    tx.commit()?;
    // Moves the WAL into the database file, so its size is the data's and
    // the host starts on an empty WAL, as after a quiet night.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(Some(Generated {
        calls: plan.calls,
        prompt_calls,
        elapsed: started.elapsed(),
    }))
}

/// USD per million tokens.
struct Price {
    input: f64,
    cached_input: f64,
    output: f64,
}

const GPT_4O_MINI: Price = Price {
    input: 0.15,
    cached_input: 0.075,
    output: 0.60,
};
const GPT_4O: Price = Price {
    input: 2.50,
    cached_input: 1.25,
    output: 10.0,
};

/// An ad-hoc call's model that the price table does not know, so a few
/// calls count as `costUnknownCalls`.
const UNPRICED_MODEL: &str = "gpt-4o-2099-preview";

/// One generated call: the columns that vary.
struct Call<'a> {
    /// `None`: an ad-hoc call, without prompt or version.
    version: Option<&'a VersionRef>,
    environment: Option<&'static str>,
    model: Option<&'static str>,
    stream: bool,
    /// Error code and HTTP status.
    error: Option<(&'static str, u16)>,
    latency_ms: i64,
    provider_latency_ms: Option<i64>,
    input_tokens: i64,
    output_tokens: i64,
    cached_input_tokens: i64,
    cost_usd: f64,
    cost_known: bool,
}

impl<'a> Call<'a> {
    fn draw(rng: &mut SmallRng, versions: &'a [VersionRef]) -> Call<'a> {
        let ad_hoc = rng.random_bool(0.04);
        let failed = rng.random_bool(0.05);
        let stream = rng.random_bool(0.3);
        if ad_hoc && failed {
            // Refused before anything resolved: no model, no provider.
            return Call {
                version: None,
                environment: None,
                model: None,
                stream,
                error: Some(("RATE_LIMITED", 429)),
                latency_ms: rng.random_range(1..=6),
                provider_latency_ms: None,
                input_tokens: 0,
                output_tokens: 0,
                cached_input_tokens: 0,
                cost_usd: 0.0,
                cost_known: true,
            };
        }
        let (version, environment) = if ad_hoc {
            (None, None)
        } else if rng.random_bool(0.15) {
            // Development runs the newest save.
            (versions.last(), Some("development"))
        } else {
            (Some(pick_version(rng, versions)), Some("production"))
        };
        let (model, price) = match (version, rng.random_bool(0.1)) {
            (Some(_), _) => (MODEL, Some(GPT_4O_MINI)),
            (None, false) => ("gpt-4o", Some(GPT_4O)),
            (None, true) => (UNPRICED_MODEL, None),
        };
        let mut call = Call {
            version,
            environment,
            model: Some(model),
            stream,
            error: None,
            latency_ms: 0,
            provider_latency_ms: None,
            input_tokens: 0,
            output_tokens: 0,
            cached_input_tokens: 0,
            cost_usd: 0.0,
            cost_known: price.is_some() || failed,
        };
        if failed {
            let (code, status, latency_ms, provider_ms) = match rng.random_range(0..10) {
                0..5 => {
                    let ms = log_normal(rng, 800.0, 0.8);
                    ("UPSTREAM_FAILURE", 502, ms + 3, Some(ms))
                }
                5..8 => {
                    // The default provider budget, 30 s.
                    let ms = 30_000 + rng.random_range(0..40);
                    ("PROVIDER_TIMEOUT", 504, ms + 2, Some(ms))
                }
                _ => (
                    "UPSTREAM_UNREACHABLE",
                    502,
                    log_normal(rng, 20.0, 0.5),
                    None,
                ),
            };
            call.error = Some((code, status));
            call.latency_ms = latency_ms;
            call.provider_latency_ms = provider_ms;
            return call;
        }
        let provider_ms = log_normal(rng, 1000.0, 0.6);
        call.provider_latency_ms = Some(provider_ms);
        call.latency_ms = provider_ms + rng.random_range(2..10);
        call.input_tokens = log_normal(rng, 600.0, 0.5);
        call.output_tokens = log_normal(rng, 200.0, 0.7);
        if rng.random_bool(0.25) {
            call.cached_input_tokens = call.input_tokens / 2;
        }
        if let Some(price) = price {
            let uncached = call.input_tokens - call.cached_input_tokens;
            call.cost_usd = (uncached as f64 * price.input
                + call.cached_input_tokens as f64 * price.cached_input
                + call.output_tokens as f64 * price.output)
                / 1e6;
        }
        call
    }
}

/// Newer versions get more traffic: weights 1, 2, 4, … oldest first.
fn pick_version<'a>(rng: &mut SmallRng, versions: &'a [VersionRef]) -> &'a VersionRef {
    let total = (1u32 << versions.len()) - 1;
    let mut ticket = rng.random_range(0..total);
    for (i, version) in versions.iter().enumerate() {
        let weight = 1 << i;
        if ticket < weight {
            return version;
        }
        ticket -= weight;
    }
    versions.last().expect("the setup saves versions")
}

/// A log-normal draw with this median and shape σ, in whole units, at
/// least 1 and at most ten minutes' worth (Box–Muller for the normal).
fn log_normal(rng: &mut SmallRng, median: f64, sigma: f64) -> i64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos();
    (median * (sigma * z).exp()).round().clamp(1.0, 600_000.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(n: usize) -> Vec<VersionRef> {
        (0..n)
            .map(|i| VersionRef {
                id: format!("ver_{i}"),
                label: format!("1.{i}.0"),
            })
            .collect()
    }

    #[test]
    fn log_normal_draws_have_the_median_asked() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut draws: Vec<i64> = (0..20_001)
            .map(|_| log_normal(&mut rng, 1000.0, 0.6))
            .collect();
        draws.sort_unstable();
        let median = draws[draws.len() / 2];
        assert!((950..=1050).contains(&median), "{median}");
    }

    #[test]
    fn newer_versions_get_more_calls() {
        let versions = versions(3);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 3];
        for _ in 0..7000 {
            let v = pick_version(&mut rng, &versions);
            counts[versions.iter().position(|x| x.id == v.id).unwrap()] += 1;
        }
        assert!(counts[0] < counts[1] && counts[1] < counts[2], "{counts:?}");
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn about_five_percent_of_calls_fail_and_four_percent_are_ad_hoc() {
        let versions = versions(3);
        let mut rng = SmallRng::seed_from_u64(7);
        let (mut failed, mut ad_hoc) = (0, 0);
        for _ in 0..20_000 {
            let call = Call::draw(&mut rng, &versions);
            failed += u32::from(call.error.is_some());
            ad_hoc += u32::from(call.version.is_none());
            assert!(call.latency_ms >= 1);
            if call.error.is_none() {
                assert!(call.provider_latency_ms.is_some() && call.output_tokens >= 1);
            }
        }
        assert!((800..1200).contains(&failed), "{failed}");
        assert!((600..1000).contains(&ad_hoc), "{ad_hoc}");
    }
}
