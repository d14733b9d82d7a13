//! The regression watch (issue 17 §3): a prompt's policy, its validation,
//! and the verdict comparing a candidate version with the baseline it
//! replaced (or splits production with).
//!
//! The tests are deliberately conservative, so a handful of unlucky calls
//! never moves production:
//! - success rate and negative-feedback rate: a one-sided test on the
//!   difference of two proportions with Newcombe's hybrid score interval
//!   (from two Wilson intervals at `alpha`): the candidate regressed when
//!   the lower bound of (candidate rate − baseline rate) exceeds the
//!   allowed increase. Wilson intervals stay sound at 0 % and 100 %, where
//!   a Wald test divides by a zero variance.
//! - p95 latency (from the latency sketches) and cost per call: a ratio
//!   plus (for latency) an absolute margin.
//! - product signals the user marked "lower is better" (`signals`): a
//!   one-sided Welch t-test that the candidate's mean exceeds the allowed
//!   ratio of the baseline's ([`compare_signal`]).
//!
//! Every call metric needs `minCalls` on both arms before it can regress,
//! every signal `minSignalValues`.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::feedback::{MAX_NAME_LEN, is_valid_name};
use crate::rollup::Measures;
use crate::validation::{FieldError, codes};

/// What the watch does with a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not evaluated at all (the gateway pays nothing for it).
    Off,
    /// Evaluated and shown (GET /watch, the console's banner); nothing moves.
    Notify,
    /// Evaluated; a regression ends the canary (outcome `revert`) or
    /// re-promotes the previous version.
    Rollback,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Notify => "notify",
            Mode::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Off, Mode::Notify, Mode::Rollback]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// How often one prompt is evaluated at most, across replicas (the claim
/// in `store::watch`).
pub const EVALUATE_EVERY_MS: i64 = 5_000;

/// The actor name of the watch's audit entries (actor type `system`): the
/// bootstrap token also audits as `system`, so the name tells them apart.
pub const ACTOR_NAME: &str = "regression-watch";

/// A prompt's watch policy, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub mode: Mode,
    /// Calls (or scores, for feedback) each arm needs before a metric can
    /// regress.
    pub min_calls: u64,
    /// The one-sided significance level of the proportion tests.
    pub alpha: f64,
    /// The error-rate increase (absolute, 0 to 1) tolerated.
    pub max_error_rate_increase: f64,
    /// The candidate's p95 may be at most this times the baseline's …
    pub p95_ratio: f64,
    /// … unless it is less than this many milliseconds slower.
    pub p95_min_increase_ms: u64,
    /// The candidate's cost per call may be at most this times the
    /// baseline's.
    pub cost_ratio: f64,
    /// The negative-feedback-rate increase (absolute, 0 to 1) tolerated.
    pub max_negative_feedback_increase: f64,
    /// How far back the comparison reaches, and how long after a promote
    /// the watch keeps evaluating it.
    pub window_minutes: u32,
    /// Product signals (`POST /prompts/:id/signals`) where lower is better.
    /// Policies stored before signals were watched have none.
    #[serde(default)]
    pub signals: Vec<SignalWatch>,
    /// Values each arm needs before a signal can regress.
    #[serde(default = "default_min_signal_values")]
    pub min_signal_values: u64,
}

/// A product signal the watch compares: lower is better, and the
/// candidate's mean may be at most `max_increase_ratio` times the
/// baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalWatch {
    pub name: String,
    pub max_increase_ratio: f64,
}

/// Signals a policy may watch.
pub const MAX_WATCHED_SIGNALS: usize = 10;

/// The allowed ratio of a watched signal when the request names none.
pub const DEFAULT_SIGNAL_RATIO: f64 = 1.2;

fn default_min_signal_values() -> u64 {
    5
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Mode::Off,
            min_calls: 20,
            alpha: 0.01,
            max_error_rate_increase: 0.05,
            p95_ratio: 1.5,
            p95_min_increase_ms: 100,
            cost_ratio: 1.5,
            max_negative_feedback_increase: 0.10,
            window_minutes: 10,
            signals: Vec::new(),
            min_signal_values: default_min_signal_values(),
        }
    }
}

impl Policy {
    pub fn window_ms(&self) -> i64 {
        i64::from(self.window_minutes) * 60_000
    }
}

/// The body of `PUT /prompts/:id/watch`: `mode` is required, every
/// threshold left out takes its default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRequest {
    pub mode: Option<String>,
    pub min_calls: Option<u64>,
    pub alpha: Option<f64>,
    pub max_error_rate_increase: Option<f64>,
    pub p95_ratio: Option<f64>,
    pub p95_min_increase_ms: Option<u64>,
    pub cost_ratio: Option<f64>,
    pub max_negative_feedback_increase: Option<f64>,
    pub window_minutes: Option<u32>,
    pub signals: Option<Vec<SignalWatchRequest>>,
    pub min_signal_values: Option<u64>,
}

/// One entry of the request's `signals`: `name` is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignalWatchRequest {
    pub name: Option<String>,
    pub max_increase_ratio: Option<f64>,
}

impl PolicyRequest {
    /// The policy, or every problem at once.
    pub fn validate(&self) -> Result<Policy, Vec<FieldError>> {
        let mut errors = Vec::new();
        let defaults = Policy::default();
        let mode = match self.mode.as_deref() {
            None => {
                errors.push(FieldError::new(
                    "mode",
                    codes::REQUIRED,
                    "mode is required: off, notify or rollback",
                ));
                Mode::Off
            }
            Some(name) => Mode::parse(name).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "mode",
                    codes::INVALID_FORMAT,
                    format!("mode must be off, notify or rollback, not {name:?}"),
                ));
                Mode::Off
            }),
        };
        let mut range = |field: &str, value: f64, low: f64, high: f64, what: &str| {
            if !(low..=high).contains(&value) {
                errors.push(FieldError::new(
                    field,
                    codes::OUT_OF_RANGE,
                    format!("{field} must be {what}"),
                ));
            }
        };
        let policy = Policy {
            mode,
            min_calls: self.min_calls.unwrap_or(defaults.min_calls),
            alpha: self.alpha.unwrap_or(defaults.alpha),
            max_error_rate_increase: self
                .max_error_rate_increase
                .unwrap_or(defaults.max_error_rate_increase),
            p95_ratio: self.p95_ratio.unwrap_or(defaults.p95_ratio),
            p95_min_increase_ms: self
                .p95_min_increase_ms
                .unwrap_or(defaults.p95_min_increase_ms),
            cost_ratio: self.cost_ratio.unwrap_or(defaults.cost_ratio),
            max_negative_feedback_increase: self
                .max_negative_feedback_increase
                .unwrap_or(defaults.max_negative_feedback_increase),
            window_minutes: self.window_minutes.unwrap_or(defaults.window_minutes),
            signals: Vec::new(),
            min_signal_values: self.min_signal_values.unwrap_or(defaults.min_signal_values),
        };
        let signals = self.signals.as_deref().unwrap_or_default();
        // Fewer than 10 calls per arm is exactly the "ten unlucky calls"
        // the watch must not act on.
        range(
            "minCalls",
            policy.min_calls as f64,
            10.0,
            100_000.0,
            "from 10 to 100000",
        );
        range("alpha", policy.alpha, 0.000_1, 0.2, "from 0.0001 to 0.2");
        range(
            "maxErrorRateIncrease",
            policy.max_error_rate_increase,
            0.0,
            1.0,
            "from 0 to 1",
        );
        range("p95Ratio", policy.p95_ratio, 1.0, 100.0, "from 1 to 100");
        range(
            "p95MinIncreaseMs",
            policy.p95_min_increase_ms as f64,
            0.0,
            600_000.0,
            "from 0 to 600000",
        );
        range("costRatio", policy.cost_ratio, 1.0, 100.0, "from 1 to 100");
        range(
            "maxNegativeFeedbackIncrease",
            policy.max_negative_feedback_increase,
            0.0,
            1.0,
            "from 0 to 1",
        );
        // Minute rollups are kept 48 hours; a day is plenty for a watch.
        range(
            "windowMinutes",
            f64::from(policy.window_minutes),
            1.0,
            1440.0,
            "from 1 to 1440",
        );
        range(
            "minSignalValues",
            policy.min_signal_values as f64,
            3.0,
            100_000.0,
            "from 3 to 100000",
        );
        let mut policy = policy;
        policy.signals = validate_signals(signals, &mut errors);
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }
}

/// Checks the watched signals: at most [`MAX_WATCHED_SIGNALS`], each a
/// valid signal name, once, with a ratio from 1 to 100.
fn validate_signals(
    signals: &[SignalWatchRequest],
    errors: &mut Vec<FieldError>,
) -> Vec<SignalWatch> {
    if signals.len() > MAX_WATCHED_SIGNALS {
        errors.push(FieldError::new(
            "signals",
            codes::OUT_OF_RANGE,
            format!("at most {MAX_WATCHED_SIGNALS} signals can be watched"),
        ));
    }
    let mut out: Vec<SignalWatch> = Vec::with_capacity(signals.len());
    for (i, signal) in signals.iter().enumerate() {
        let field = |name: &str| format!("signals[{i}].{name}");
        let name = signal.name.clone().unwrap_or_default();
        if signal.name.is_none() {
            errors.push(FieldError::new(
                field("name"),
                codes::REQUIRED,
                "the name of a signal sent with POST /prompts/:id/signals",
            ));
        } else if !is_valid_name(&name) {
            errors.push(FieldError::new(
                field("name"),
                codes::INVALID_FORMAT,
                format!(
                    "a signal name: 1 to {MAX_NAME_LEN} lowercase letters, digits, '_', '.', ':' or '-'"
                ),
            ));
        } else if out.iter().any(|s| s.name == name) {
            errors.push(FieldError::new(
                field("name"),
                codes::DUPLICATE,
                format!("signal {name:?} is listed twice"),
            ));
        }
        let ratio = signal.max_increase_ratio.unwrap_or(DEFAULT_SIGNAL_RATIO);
        if !(1.0..=100.0).contains(&ratio) {
            errors.push(FieldError::new(
                field("maxIncreaseRatio"),
                codes::OUT_OF_RANGE,
                "maxIncreaseRatio must be from 1 to 100",
            ));
        }
        out.push(SignalWatch {
            name,
            max_increase_ratio: ratio,
        });
    }
    out
}

/// The metrics compared, as named in verdicts and audit evidence.
pub mod metrics {
    pub const SUCCESS_RATE: &str = "successRate";
    pub const P95_LATENCY_MS: &str = "p95LatencyMs";
    pub const COST_PER_CALL: &str = "costPerCall";
    pub const NEGATIVE_FEEDBACK_RATE: &str = "negativeFeedbackRate";

    /// A watched signal's metric: `signal.<name>`.
    pub fn signal(name: &str) -> String {
        format!("signal.{name}")
    }
}

/// One metric of a verdict: the two arms' values and sample sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricVerdict {
    pub metric: String,
    /// `null` when the arm has no sample for it.
    pub baseline: Option<f64>,
    pub observed: Option<f64>,
    pub baseline_calls: u64,
    pub observed_calls: u64,
    /// Whether both arms had `minCalls` (else it cannot regress).
    pub enough_data: bool,
    pub regressed: bool,
}

/// Compares the candidate's calls with the baseline's, every metric.
pub fn compare(policy: &Policy, baseline: &Measures, candidate: &Measures) -> Vec<MetricVerdict> {
    let z = z_upper(policy.alpha);
    let enough = |b: u64, c: u64| b >= policy.min_calls && c >= policy.min_calls;
    let mut out = Vec::with_capacity(4);

    // Success rate, tested as the error rate's increase.
    let (b_err, c_err) = (
        baseline.calls.saturating_sub(baseline.successes),
        candidate.calls.saturating_sub(candidate.successes),
    );
    let ok = enough(baseline.calls, candidate.calls);
    out.push(MetricVerdict {
        metric: metrics::SUCCESS_RATE.to_owned(),
        baseline: rate(baseline.successes, baseline.calls),
        observed: rate(candidate.successes, candidate.calls),
        baseline_calls: baseline.calls,
        observed_calls: candidate.calls,
        enough_data: ok,
        regressed: ok
            && increase_lower_bound(b_err, baseline.calls, c_err, candidate.calls, z)
                > policy.max_error_rate_increase,
    });

    // p95 latency, from the sketches.
    let (bn, cn) = (baseline.latency.count(), candidate.latency.count());
    let (bp, cp) = (
        baseline.latency.quantile(0.95),
        candidate.latency.quantile(0.95),
    );
    let ok = enough(bn, cn);
    out.push(MetricVerdict {
        metric: metrics::P95_LATENCY_MS.to_owned(),
        baseline: bp,
        observed: cp,
        baseline_calls: bn,
        observed_calls: cn,
        enough_data: ok,
        regressed: ok
            && match (bp, cp) {
                (Some(b), Some(c)) => {
                    c > b * policy.p95_ratio && c - b >= policy.p95_min_increase_ms as f64
                }
                _ => false,
            },
    });

    // Cost per call (unpriced calls count 0, as in analytics).
    let (bc, cc) = (
        per_call(baseline.cost_usd, baseline.calls),
        per_call(candidate.cost_usd, candidate.calls),
    );
    let ok = enough(baseline.calls, candidate.calls);
    out.push(MetricVerdict {
        metric: metrics::COST_PER_CALL.to_owned(),
        baseline: bc,
        observed: cc,
        baseline_calls: baseline.calls,
        observed_calls: candidate.calls,
        enough_data: ok,
        // A free baseline has no ratio to exceed.
        regressed: ok
            && matches!((bc, cc), (Some(b), Some(c)) if b > 0.0 && c > b * policy.cost_ratio),
    });

    // Negative feedback, over every feedback name.
    let fold = |m: &Measures| {
        m.feedback.values().fold((0u64, 0u64), |(n, neg), f| {
            (n.saturating_add(f.count), neg.saturating_add(f.negative))
        })
    };
    let ((bf, bneg), (cf, cneg)) = (fold(baseline), fold(candidate));
    let ok = enough(bf, cf);
    out.push(MetricVerdict {
        metric: metrics::NEGATIVE_FEEDBACK_RATE.to_owned(),
        baseline: rate(bneg, bf),
        observed: rate(cneg, cf),
        baseline_calls: bf,
        observed_calls: cf,
        enough_data: ok,
        regressed: ok
            && increase_lower_bound(bneg, bf, cneg, cf, z) > policy.max_negative_feedback_increase,
    });
    out
}

fn rate(hits: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| hits as f64 / n as f64)
}

fn per_call(total: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| total / n as f64)
}

/// The Wilson score interval of `hits / n` at `z`.
fn wilson(hits: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = hits as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    (
        ((centre - spread) / denominator).max(0.0),
        ((centre + spread) / denominator).min(1.0),
    )
}

/// The lower confidence bound of (candidate rate − baseline rate),
/// Newcombe's hybrid score method (his method 10).
fn increase_lower_bound(b_hits: u64, b_n: u64, c_hits: u64, c_n: u64, z: f64) -> f64 {
    let (pb, pc) = (
        rate(b_hits, b_n).unwrap_or(0.0),
        rate(c_hits, c_n).unwrap_or(0.0),
    );
    let (_, ub) = wilson(b_hits, b_n, z);
    let (lc, _) = wilson(c_hits, c_n, z);
    (pc - pb) - ((pc - lc).powi(2) + (ub - pb).powi(2)).sqrt()
}

/// Compares a watched signal's values in the candidate's window with those
/// in the baseline's (lower is better): regressed when the one-sided
/// Welch lower bound of (candidate mean − ratio × baseline mean) at
/// `alpha` is above 0, once both arms have `minSignalValues`. A baseline
/// mean at or below 0 has no ratio: any significant increase counts.
pub fn compare_signal(
    policy: &Policy,
    signal: &SignalWatch,
    baseline: &[f64],
    candidate: &[f64],
) -> MetricVerdict {
    let (b, c) = (Sample::of(baseline), Sample::of(candidate));
    let enough_data = b.n >= policy.min_signal_values && c.n >= policy.min_signal_values;
    let regressed = enough_data && {
        let ratio = if b.mean > 0.0 {
            signal.max_increase_ratio
        } else {
            1.0
        };
        let difference = c.mean - ratio * b.mean;
        let (vb, vc) = (
            ratio * ratio * b.variance / b.n as f64,
            c.variance / c.n as f64,
        );
        let se = (vb + vc).sqrt();
        if se == 0.0 {
            difference > 0.0
        } else {
            // Welch–Satterthwaite degrees of freedom.
            let df = (vb + vc).powi(2) / (vb * vb / (b.n - 1) as f64 + vc * vc / (c.n - 1) as f64);
            difference - t_upper(policy.alpha, df) * se > 0.0
        }
    };
    MetricVerdict {
        metric: metrics::signal(&signal.name),
        baseline: (b.n > 0).then_some(b.mean),
        observed: (c.n > 0).then_some(c.mean),
        baseline_calls: b.n,
        observed_calls: c.n,
        enough_data,
        regressed,
    }
}

/// Count, mean and (unbiased) variance of a sample.
struct Sample {
    n: u64,
    mean: f64,
    variance: f64,
}

impl Sample {
    fn of(values: &[f64]) -> Sample {
        let n = values.len();
        let mean = if n == 0 {
            0.0
        } else {
            values.iter().sum::<f64>() / n as f64
        };
        let variance = if n < 2 {
            0.0
        } else {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        };
        Sample {
            n: n as u64,
            mean,
            variance,
        }
    }
}

/// The standard normal's upper `alpha` quantile.
fn z_upper(alpha: f64) -> f64 {
    let normal = Normal::standard();
    normal.inverse_cdf(1.0 - alpha.clamp(1e-12, 0.5))
}

/// Student's t upper `alpha` quantile with `df` degrees of freedom.
fn t_upper(alpha: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(1.0 - alpha.clamp(1e-12, 0.5)),
        // Degrees of freedom that are not finite and positive: the normal.
        Err(_) => z_upper(alpha),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(calls: u64, failures: u64, latency_ms: u64) -> Measures {
        let mut m = Measures {
            calls,
            successes: calls - failures,
            cost_usd: calls as f64 * 0.001,
            ..Measures::default()
        };
        m.latency.record_n(latency_ms, calls);
        m
    }

    fn regressed(verdicts: &[MetricVerdict]) -> Vec<&str> {
        verdicts
            .iter()
            .filter(|v| v.regressed)
            .map(|v| v.metric.as_str())
            .collect()
    }

    #[test]
    fn the_normal_quantile_is_close() {
        assert!((z_upper(0.01) - 2.3263).abs() < 1e-3);
        assert!((z_upper(0.05) - 1.6449).abs() < 1e-3);
        assert!((z_upper(0.5)).abs() < 1e-3);
    }

    #[test]
    fn ten_unlucky_calls_do_not_regress() {
        let verdicts = compare(&Policy::default(), &arm(200, 2, 100), &arm(10, 4, 100));
        assert!(regressed(&verdicts).is_empty(), "{verdicts:?}");
        assert!(!verdicts[0].enough_data);
        assert_eq!(verdicts[0].observed_calls, 10);
    }

    #[test]
    fn a_failing_candidate_regresses_on_success_rate() {
        let verdicts = compare(&Policy::default(), &arm(200, 0, 100), &arm(30, 30, 100));
        assert_eq!(
            regressed(&verdicts),
            [metrics::SUCCESS_RATE],
            "{verdicts:?}"
        );
        let success = &verdicts[0];
        assert_eq!((success.baseline, success.observed), (Some(1.0), Some(0.0)));
        assert_eq!((success.baseline_calls, success.observed_calls), (200, 30));
    }

    #[test]
    fn just_enough_failing_calls_regress() {
        // 20 of 20 failing is beyond any noise at alpha 0.01.
        let verdicts = compare(&Policy::default(), &arm(20, 0, 100), &arm(20, 20, 100));
        assert_eq!(regressed(&verdicts), [metrics::SUCCESS_RATE]);
    }

    #[test]
    fn a_healthy_candidate_with_noise_does_not_regress() {
        let policy = Policy::default();
        for (b_fail, c_fail) in [(4, 1), (4, 3), (0, 2), (10, 5)] {
            let verdicts = compare(&policy, &arm(200, b_fail, 120), &arm(40, c_fail, 140));
            assert!(
                regressed(&verdicts).is_empty(),
                "{b_fail}/{c_fail}: {verdicts:?}"
            );
        }
    }

    #[test]
    fn a_slow_candidate_regresses_on_p95_only_past_the_margin() {
        let policy = Policy::default();
        let slow = compare(&policy, &arm(100, 0, 200), &arm(100, 0, 900));
        assert_eq!(regressed(&slow), [metrics::P95_LATENCY_MS]);
        // Twice as slow but only 20 ms: under the absolute margin.
        let fast = compare(&policy, &arm(100, 0, 20), &arm(100, 0, 40));
        assert!(regressed(&fast).is_empty(), "{fast:?}");
    }

    #[test]
    fn a_dearer_candidate_regresses_on_cost() {
        let mut dear = arm(100, 0, 100);
        dear.cost_usd *= 3.0;
        let verdicts = compare(&Policy::default(), &arm(100, 0, 100), &dear);
        assert_eq!(regressed(&verdicts), [metrics::COST_PER_CALL]);
    }

    #[test]
    fn negative_feedback_regresses_with_enough_scores() {
        use crate::rollup::FeedbackMeasures;
        let scored = |n: u64, negative: u64| {
            let mut m = arm(100, 0, 100);
            m.feedback.insert(
                "thumbs".into(),
                FeedbackMeasures {
                    count: n,
                    negative,
                    score_sum: 0.0,
                },
            );
            m
        };
        let policy = Policy::default();
        let bad = compare(&policy, &scored(100, 5), &scored(50, 40));
        assert_eq!(regressed(&bad), [metrics::NEGATIVE_FEEDBACK_RATE]);
        let few = compare(&policy, &scored(100, 5), &scored(5, 5));
        assert!(regressed(&few).is_empty(), "{few:?}");
    }

    #[test]
    fn requests_take_defaults_and_report_every_problem() {
        let policy = PolicyRequest {
            mode: Some("rollback".into()),
            ..PolicyRequest::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            policy,
            Policy {
                mode: Mode::Rollback,
                ..Policy::default()
            }
        );
        let errors = PolicyRequest {
            mode: Some("loud".into()),
            min_calls: Some(3),
            alpha: Some(0.9),
            p95_ratio: Some(0.5),
            window_minutes: Some(0),
            ..PolicyRequest::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["mode", "minCalls", "alpha", "p95Ratio", "windowMinutes"]
        );
        let missing = PolicyRequest::default().validate().unwrap_err();
        assert_eq!(missing[0].code, codes::REQUIRED);
    }

    #[test]
    fn the_t_quantile_is_close() {
        // Tables: t(0.99; 4) = 3.747, t(0.99; 30) = 2.457.
        assert!((t_upper(0.01, 4.0) - 3.747).abs() < 1e-3);
        assert!((t_upper(0.01, 30.0) - 2.457).abs() < 1e-3);
        assert!((t_upper(0.01, f64::NAN) - z_upper(0.01)).abs() < 1e-9);
    }

    fn tickets() -> SignalWatch {
        SignalWatch {
            name: "support_tickets".into(),
            max_increase_ratio: 1.2,
        }
    }

    #[test]
    fn a_signal_that_doubled_regresses() {
        let policy = Policy::default();
        let before = [10.0, 12.0, 9.0, 11.0, 10.0, 13.0, 9.0, 11.0];
        let after = [22.0, 25.0, 19.0, 24.0, 21.0, 23.0];
        let verdict = compare_signal(&policy, &tickets(), &before, &after);
        assert_eq!(verdict.metric, "signal.support_tickets");
        assert!(verdict.enough_data && verdict.regressed, "{verdict:?}");
        assert_eq!((verdict.baseline_calls, verdict.observed_calls), (8, 6));
        assert_eq!(verdict.baseline, Some(10.625));
    }

    #[test]
    fn a_noisy_signal_within_its_ratio_does_not_regress() {
        let policy = Policy::default();
        let before = [10.0, 12.0, 9.0, 11.0, 10.0, 13.0, 9.0, 11.0];
        // 15 % higher on average, within the 1.2 ratio.
        let after = [12.0, 14.0, 10.0, 13.0, 12.0];
        let verdict = compare_signal(&policy, &tickets(), &before, &after);
        assert!(verdict.enough_data && !verdict.regressed, "{verdict:?}");
        // 60 % higher but wildly noisy: not significant at alpha 0.01.
        let noisy = [1.0, 40.0, 2.0, 30.0, 12.0];
        let verdict = compare_signal(&policy, &tickets(), &before, &noisy);
        assert!(!verdict.regressed, "{verdict:?}");
    }

    #[test]
    fn a_signal_needs_enough_values_on_both_arms() {
        let policy = Policy::default();
        let verdict = compare_signal(&policy, &tickets(), &[1.0; 10], &[50.0; 4]);
        assert!(!verdict.enough_data && !verdict.regressed, "{verdict:?}");
        // Constant values: no variance, the means decide.
        let verdict = compare_signal(&policy, &tickets(), &[1.0; 10], &[50.0; 5]);
        assert!(verdict.regressed, "{verdict:?}");
        // A zero baseline has no ratio: a clear increase counts.
        let verdict = compare_signal(&policy, &tickets(), &[0.0; 6], &[3.0, 4.0, 3.0, 5.0, 4.0]);
        assert!(verdict.regressed, "{verdict:?}");
    }

    #[test]
    fn watched_signals_are_validated() {
        let request = |signals: serde_json::Value| -> PolicyRequest {
            serde_json::from_value(serde_json::json!({"mode": "notify", "signals": signals}))
                .unwrap()
        };
        let policy = request(serde_json::json!([{"name": "support_tickets"}]))
            .validate()
            .unwrap();
        assert_eq!(policy.signals, [tickets()]);
        let errors = request(serde_json::json!([
            {"name": "Bad Name"},
            {"maxIncreaseRatio": 2},
            {"name": "a", "maxIncreaseRatio": 0.5},
            {"name": "a"}
        ]))
        .validate()
        .unwrap_err();
        let fields = crate::validation::fields_and_codes(&errors);
        assert_eq!(
            fields,
            [
                ("signals[0].name", codes::INVALID_FORMAT),
                ("signals[1].name", codes::REQUIRED),
                ("signals[2].maxIncreaseRatio", codes::OUT_OF_RANGE),
                ("signals[3].name", codes::DUPLICATE),
            ]
        );
        let many: Vec<_> = (0..11)
            .map(|i| serde_json::json!({"name": format!("s{i}")}))
            .collect();
        let errors = request(serde_json::Value::Array(many))
            .validate()
            .unwrap_err();
        assert_eq!(errors[0].field, "signals");
    }

    #[test]
    fn a_policy_stored_before_signals_reads_with_defaults() {
        let mut stored = serde_json::to_value(Policy::default()).unwrap();
        let object = stored.as_object_mut().unwrap();
        object.remove("signals");
        object.remove("minSignalValues");
        let policy: Policy = serde_json::from_value(stored).unwrap();
        assert_eq!(policy, Policy::default());
    }

    #[test]
    fn a_nan_threshold_is_refused() {
        let errors = PolicyRequest {
            mode: Some("notify".into()),
            cost_ratio: Some(f64::NAN),
            ..PolicyRequest::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(errors[0].field, "costRatio");
    }
}
