//! Analytics rollups, the pure part (`docs/ROLLUPS.md` has the tables).
//!
//! Every execution adds one call to the rollup row of its (organization,
//! prompt, version, hour): counts, sums and a [`LatencySketch`]. The
//! database does that addition: the triggers of `migrations/0004_rollups.sql`
//! (hourly) and `0005_daily_rollups.sql` (daily) are the one implementation
//! production runs. [`delta`] is their Rust twin, kept only as the test
//! oracle (`tests/rollup_trigger.rs` checks the triggers against it); no
//! component or store code calls it. This module also defines how rows add
//! up ([`Measures::merge`]), the analytics window and its hour
//! or day buckets ([`Window`]), and what the analytics endpoint reports for
//! each bucket, each version and the whole window ([`summarize`]). Reading
//! rollups costs O(hours in the window × versions), whatever the number of
//! calls.
//!
//! Rows here carry no organization: every query already filters on the
//! caller's.

use std::collections::BTreeMap;
use std::fmt;

use crate::latency::LatencySketch;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The longest custom window (`window=custom&from=&to=`).
pub const MAX_CUSTOM_WINDOW_MS: i64 = 90 * DAY_MS;

/// The `prompt_key` of calls with no prompt (ad-hoc calls, and calls that
/// failed before their prompt resolved), and the `version_key` of calls
/// with no version. Not NULL, because NULLs never conflict in a primary
/// key, so an UPSERT would add a row per call instead of counting.
pub const UNATTRIBUTED: &str = "";

/// The first millisecond of the UTC hour `ms` falls in.
pub fn hour_start(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// What the rollups need of one finished execution (an `execution_logs`
/// row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution<'a> {
    pub prompt_id: Option<&'a str>,
    pub version_id: Option<&'a str>,
    /// When the call arrived (`execution_logs.created_at`).
    pub created_at: i64,
    pub success: bool,
    pub error_code: Option<&'a str>,
    pub latency_ms: i64,
    pub cost_usd: f64,
    pub cost_known: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
}

/// The additive part of a rollup row: everything in it adds up when rows
/// (hours, versions, the error rows) are combined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measures {
    pub calls: u64,
    pub successes: u64,
    pub latency_sum_ms: u64,
    pub cost_usd: f64,
    /// Calls whose model had no price: their cost counted as 0.
    pub cost_unknown_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub latency: LatencySketch,
    /// Failed calls by error code. Stored in their own table; a row read
    /// from it becomes `Measures` with only this map filled, and merges in
    /// like any other row.
    pub error_codes: BTreeMap<String, u64>,
    /// Feedback on these calls by feedback name (`feedback_rollups`,
    /// bucketed by the time of the call judged); read like error rows.
    pub feedback: BTreeMap<String, FeedbackMeasures>,
}

/// The feedback of one name on a set of calls: additive, so buckets and
/// versions merge like the other measures. A replaced score was taken out
/// and the new one added (`migrations/0006_feedback_and_minutes.sql`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FeedbackMeasures {
    /// Scores given (one per execution and source; a replaced one counts
    /// once).
    pub count: u64,
    /// Scores below 0.
    pub negative: u64,
    pub score_sum: f64,
}

impl FeedbackMeasures {
    /// What one score adds: [`FeedbackMeasures::merge`] of these equals a
    /// rollup row (the triggers' twin, for tests).
    pub fn of_score(score: f64) -> FeedbackMeasures {
        FeedbackMeasures {
            count: 1,
            negative: u64::from(score < 0.0),
            score_sum: score,
        }
    }

    pub fn merge(&mut self, other: &FeedbackMeasures) {
        self.count = self.count.saturating_add(other.count);
        self.negative = self.negative.saturating_add(other.negative);
        self.score_sum += other.score_sum;
    }

    pub fn summary(&self) -> FeedbackSummary {
        let per_score = |x: f64| (self.count > 0).then(|| x / self.count as f64);
        FeedbackSummary {
            count: self.count,
            negative: self.negative,
            negative_rate: per_score(self.negative as f64),
            mean_score: per_score(self.score_sum),
        }
    }
}

/// What the analytics endpoint reports of one feedback name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedbackSummary {
    pub count: u64,
    pub negative: u64,
    /// `negative / count`; `None` without scores.
    pub negative_rate: Option<f64>,
    pub mean_score: Option<f64>,
}

impl Measures {
    /// Adds `other` into `self`. Integer counts saturate instead of
    /// wrapping; the latency sketch merges exactly.
    pub fn merge(&mut self, other: &Measures) {
        self.calls = self.calls.saturating_add(other.calls);
        self.successes = self.successes.saturating_add(other.successes);
        self.latency_sum_ms = self.latency_sum_ms.saturating_add(other.latency_sum_ms);
        self.cost_usd += other.cost_usd;
        self.cost_unknown_calls = self
            .cost_unknown_calls
            .saturating_add(other.cost_unknown_calls);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.latency.merge(&other.latency);
        for (code, count) in &other.error_codes {
            let slot = self.error_codes.entry(code.clone()).or_default();
            *slot = slot.saturating_add(*count);
        }
        for (name, feedback) in &other.feedback {
            self.feedback
                .entry(name.clone())
                .or_default()
                .merge(feedback);
        }
    }

    /// What the analytics endpoint reports for these calls.
    pub fn summary(&self) -> Summary {
        let calls = self.calls;
        let per_call = |total: f64| (calls > 0).then(|| total / calls as f64);
        let mut error_codes: Vec<(String, u64)> = self
            .error_codes
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(code, count)| (code.clone(), *count))
            .collect();
        error_codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Summary {
            calls,
            successes: self.successes,
            errors: calls.saturating_sub(self.successes),
            success_rate: per_call(self.successes as f64),
            latency_p50_ms: self.latency.quantile(0.50),
            latency_p95_ms: self.latency.quantile(0.95),
            latency_p99_ms: self.latency.quantile(0.99),
            latency_mean_ms: per_call(self.latency_sum_ms as f64),
            cost_usd: self.cost_usd,
            cost_usd_per_call: per_call(self.cost_usd),
            cost_unknown_calls: self.cost_unknown_calls,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_input_tokens: self.cached_input_tokens,
            error_codes,
            // A name whose every score was in rows that no longer count
            // (none today) would show as zeros: left out instead.
            feedback: self
                .feedback
                .iter()
                .filter(|(_, f)| f.count > 0)
                .map(|(name, f)| (name.clone(), f.summary()))
                .collect(),
        }
    }
}

/// One rollup row: the calls of one prompt and version in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    /// The prompt id, or [`UNATTRIBUTED`].
    pub prompt_key: String,
    /// The version id, or [`UNATTRIBUTED`].
    pub version_key: String,
    /// The first millisecond of the row's hour (hourly rows) or UTC day
    /// (daily rows, which serve day buckets).
    pub start: i64,
    pub measures: Measures,
}

/// The row one execution adds. A negative latency (a clock step) counts as
/// 0 ms.
///
/// **Test oracle only.** Production adds calls in SQL, in the triggers of
/// `migrations/0004_rollups.sql` and `0005_daily_rollups.sql`;
/// `crates/domain/tests/rollup_trigger.rs` checks those triggers against
/// this function on random calls. A change to what a call adds is a new
/// migration (applied files are never edited) plus the same change here.
pub fn delta(e: &Execution<'_>) -> RollupRow {
    let latency_ms = u64::try_from(e.latency_ms).unwrap_or(0);
    let mut latency = LatencySketch::new();
    latency.record(latency_ms);
    let error_codes = match (e.success, e.error_code) {
        (false, Some(code)) => BTreeMap::from([(code.to_owned(), 1)]),
        _ => BTreeMap::new(),
    };
    RollupRow {
        prompt_key: e.prompt_id.unwrap_or(UNATTRIBUTED).to_owned(),
        version_key: e.version_id.unwrap_or(UNATTRIBUTED).to_owned(),
        start: hour_start(e.created_at),
        measures: Measures {
            calls: 1,
            successes: u64::from(e.success),
            latency_sum_ms: latency_ms,
            cost_usd: e.cost_usd,
            cost_unknown_calls: u64::from(!e.cost_known),
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            cached_input_tokens: e.cached_input_tokens,
            latency,
            error_codes,
            feedback: BTreeMap::new(),
        },
    }
}

/// The analytics of a set of calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub calls: u64,
    pub successes: u64,
    pub errors: u64,
    /// `successes / calls`; `None` without calls.
    pub success_rate: Option<f64>,
    /// Nearest-rank percentiles, within 1 % (see [`crate::latency`]);
    /// `None` without calls.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Exact, from the latency sum; `None` without calls.
    pub latency_mean_ms: Option<f64>,
    pub cost_usd: f64,
    pub cost_usd_per_call: Option<f64>,
    pub cost_unknown_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    /// Error codes with their counts, most frequent first (ties by code).
    pub error_codes: Vec<(String, u64)>,
    /// Feedback by name.
    pub feedback: BTreeMap<String, FeedbackSummary>,
}

/// The size of an analytics bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Kept for [`MINUTE_RETENTION_MS`] only.
    Minute,
    Hour,
    /// UTC days.
    Day,
}

/// How long minute rollups are kept: a window of minute buckets must start
/// within this much before now (`migrations/0006_feedback_and_minutes.sql`
/// deletes older minutes).
pub const MINUTE_RETENTION_MS: i64 = 2 * DAY_MS;

impl Granularity {
    pub fn millis(self) -> i64 {
        match self {
            Granularity::Minute => MINUTE_MS,
            Granularity::Hour => HOUR_MS,
            Granularity::Day => DAY_MS,
        }
    }

    /// The first millisecond of the bucket `ms` falls in.
    pub fn bucket_start(self, ms: i64) -> i64 {
        ms.div_euclid(self.millis()) * self.millis()
    }
}

/// Where the rollups of a granularity live (`migrations/0004_rollups.sql`
/// by hour, `0005_daily_rollups.sql` by day, `0006_feedback_and_minutes.sql`
/// by minute): day buckets read the daily tables, one row per day and
/// version instead of 24. Feedback and signal rollups keep every
/// granularity in one table, told apart by `bucket_ms` ([`Granularity::millis`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupTables {
    pub measures: &'static str,
    pub errors: &'static str,
    /// The column holding the row's first millisecond.
    pub start: &'static str,
}

impl Granularity {
    pub fn tables(self) -> RollupTables {
        match self {
            Granularity::Minute => RollupTables {
                measures: "execution_rollups_minute",
                errors: "execution_rollup_errors_minute",
                start: "minute_start",
            },
            Granularity::Hour => RollupTables {
                measures: "execution_rollups",
                errors: "execution_rollup_errors",
                start: "hour_start",
            },
            Granularity::Day => RollupTables {
                measures: "execution_rollups_daily",
                errors: "execution_rollup_errors_daily",
                start: "day_start",
            },
        }
    }
}

/// An analytics window: whole buckets, `[start, end)`, both on bucket
/// boundaries, so also on hour boundaries: the rollup query is
/// `hour_start >= start AND hour_start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: i64,
    end: i64,
    granularity: Granularity,
}

/// Why a window cannot be served: a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// `to` is not after `from`.
    Empty,
    /// A custom window longer than [`MAX_CUSTOM_WINDOW_MS`].
    TooLong,
    /// A time too far from the epoch to compute with.
    OutOfRange,
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::Empty => f.write_str("`to` must be after `from`"),
            WindowError::TooLong => write!(
                f,
                "a custom window may span at most {} days",
                MAX_CUSTOM_WINDOW_MS / DAY_MS
            ),
            WindowError::OutOfRange => f.write_str("the window is out of range"),
        }
    }
}

impl std::error::Error for WindowError {}

impl Window {
    /// The `span_ms` up to `now_ms` (`24h`, `7d`, `30d`), as whole buckets
    /// ending with the one `now_ms` is in, which is still filling: 24 hour
    /// buckets for 24h by hour, 7 day buckets for 7d by day. A span that is
    /// not a whole number of buckets is rounded up to one.
    pub fn last(now_ms: i64, span_ms: i64, granularity: Granularity) -> Result<Self, WindowError> {
        let size = granularity.millis();
        let buckets = (span_ms.max(1) - 1) / size + 1;
        let end = granularity
            .bucket_start(now_ms)
            .checked_add(size)
            .ok_or(WindowError::OutOfRange)?;
        let start = buckets
            .checked_mul(size)
            .and_then(|span| end.checked_sub(span))
            .ok_or(WindowError::OutOfRange)?;
        Ok(Window {
            start,
            end,
            granularity,
        })
    }

    /// `[from_ms, to_ms)` (`window=custom`), widened to whole buckets. At
    /// most [`MAX_CUSTOM_WINDOW_MS`] long as asked (before widening).
    pub fn custom(from_ms: i64, to_ms: i64, granularity: Granularity) -> Result<Self, WindowError> {
        if to_ms <= from_ms {
            return Err(WindowError::Empty);
        }
        if to_ms
            .checked_sub(from_ms)
            .is_none_or(|span| span > MAX_CUSTOM_WINDOW_MS)
        {
            return Err(WindowError::TooLong);
        }
        let start = granularity.bucket_start(from_ms);
        let end = granularity
            .bucket_start(to_ms - 1)
            .checked_add(granularity.millis())
            .ok_or(WindowError::OutOfRange)?;
        Ok(Window {
            start,
            end,
            granularity,
        })
    }

    /// The first millisecond in the window.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The first millisecond after the window.
    pub fn end(&self) -> i64 {
        self.end
    }

    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    pub fn bucket_count(&self) -> usize {
        ((self.end - self.start) / self.granularity.millis()) as usize
    }

    /// The start of each bucket, oldest first.
    pub fn bucket_starts(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.bucket_count() as i64).map(|i| self.start + i * self.granularity.millis())
    }

    /// The position of the bucket that holds `ms`, if the window does.
    pub fn bucket_of(&self, ms: i64) -> Option<usize> {
        (self.start..self.end)
            .contains(&ms)
            .then(|| ((ms - self.start) / self.granularity.millis()) as usize)
    }
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSummary {
    /// The first millisecond of the bucket.
    pub start: i64,
    pub summary: Summary,
}

/// One version's calls over the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSummary {
    /// The version id, or [`UNATTRIBUTED`].
    pub version_key: String,
    /// The start of the first and the last rollup row (hour, or day for
    /// daily rows) of the window with a call of this version.
    pub first_active: i64,
    pub last_active: i64,
    pub summary: Summary,
}

/// The analytics of one prompt over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Analytics {
    /// Every bucket of the window, oldest first, empty ones included (0
    /// calls, no percentiles), so a chart has no gaps to guess about.
    pub buckets: Vec<BucketSummary>,
    /// The whole window.
    pub total: Summary,
    /// Each version with calls in the window, in order of its first call
    /// (then by id).
    pub versions: Vec<VersionSummary>,
}

/// Folds the rollup rows of one prompt into its analytics over `window`:
/// hours merge into day buckets, everything into the total, and each
/// version's rows into its own summary. Rows may come in any order; rows
/// outside the window are ignored. Reads each row once, and keeps one
/// [`Measures`] per bucket and per version.
pub fn summarize<'a>(window: &Window, rows: impl IntoIterator<Item = &'a RollupRow>) -> Analytics {
    let mut buckets = vec![Measures::default(); window.bucket_count()];
    let mut total = Measures::default();
    let mut versions: BTreeMap<&str, (Measures, i64, i64)> = BTreeMap::new();
    for row in rows {
        let Some(bucket) = window.bucket_of(row.start) else {
            continue;
        };
        buckets[bucket].merge(&row.measures);
        total.merge(&row.measures);
        let (measures, first, last) = versions
            .entry(row.version_key.as_str())
            .or_insert_with(|| (Measures::default(), row.start, row.start));
        measures.merge(&row.measures);
        *first = (*first).min(row.start);
        *last = (*last).max(row.start);
    }
    let mut versions: Vec<VersionSummary> = versions
        .into_iter()
        .map(
            |(key, (measures, first_active, last_active))| VersionSummary {
                version_key: key.to_owned(),
                first_active,
                last_active,
                summary: measures.summary(),
            },
        )
        .collect();
    versions.sort_by(|a, b| {
        a.first_active
            .cmp(&b.first_active)
            .then_with(|| a.version_key.cmp(&b.version_key))
    });
    Analytics {
        buckets: window
            .bucket_starts()
            .zip(&buckets)
            .map(|(start, measures)| BucketSummary {
                start,
                summary: measures.summary(),
            })
            .collect(),
        total: total.summary(),
        versions,
    }
}

/// One signal rollup row (`signal_rollups`): the values of one signal name
/// of the prompt in one bucket (the bucket of the signal's own time).
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRow {
    pub name: String,
    /// The first millisecond of the row's bucket.
    pub start: i64,
    pub values: SignalPoint,
}

/// Values of one signal: how many, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SignalPoint {
    pub count: u64,
    pub sum: f64,
}

impl SignalPoint {
    pub fn merge(&mut self, other: &SignalPoint) {
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
    }

    /// `None` without values.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// One signal over the window: a point per bucket (empty ones included),
/// and the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSeries {
    pub name: String,
    pub total: SignalPoint,
    /// One per bucket of the window, oldest first.
    pub points: Vec<SignalPoint>,
}

/// Folds signal rollup rows into one series per name (by name), over the
/// window's buckets; rows outside the window are ignored. O(rows + buckets
/// × names).
pub fn signal_series<'a>(
    window: &Window,
    rows: impl IntoIterator<Item = &'a SignalRow>,
) -> Vec<SignalSeries> {
    let mut series: BTreeMap<&str, SignalSeries> = BTreeMap::new();
    for row in rows {
        let Some(bucket) = window.bucket_of(row.start) else {
            continue;
        };
        let entry = series
            .entry(row.name.as_str())
            .or_insert_with(|| SignalSeries {
                name: row.name.clone(),
                total: SignalPoint::default(),
                points: vec![SignalPoint::default(); window.bucket_count()],
            });
        entry.points[bucket].merge(&row.values);
        entry.total.merge(&row.values);
    }
    series.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::{RELATIVE_ACCURACY, nearest_rank};
    use proptest::prelude::*;

    /// 2025-11-24T10:00:00Z, an hour boundary.
    const T0: i64 = 1_763_978_400_000;

    fn call(
        created_at: i64,
        version: &'static str,
        latency_ms: i64,
        error: Option<&'static str>,
    ) -> Execution<'static> {
        Execution {
            prompt_id: Some("prm_1"),
            version_id: Some(version),
            created_at,
            success: error.is_none(),
            error_code: error,
            latency_ms,
            cost_usd: 0.002,
            cost_known: true,
            input_tokens: 100,
            output_tokens: 20,
            cached_input_tokens: 10,
        }
    }

    fn rows_of(calls: &[Execution<'_>]) -> Vec<RollupRow> {
        // What the UPSERT does: one row per (prompt, version, hour).
        let mut by_key: BTreeMap<(String, String, i64), RollupRow> = BTreeMap::new();
        for c in calls {
            let d = delta(c);
            by_key
                .entry((d.prompt_key.clone(), d.version_key.clone(), d.start))
                .and_modify(|row| row.measures.merge(&d.measures))
                .or_insert(d);
        }
        by_key.into_values().collect()
    }

    fn exact_quantile(latencies: &[i64], q: f64) -> f64 {
        let mut sorted = latencies.to_vec();
        sorted.sort_unstable();
        sorted[nearest_rank(q, sorted.len() as u64).unwrap() as usize - 1] as f64
    }

    fn assert_close(got: Option<f64>, want: f64) {
        let got = got.expect("a percentile");
        assert!(
            (got - want).abs() <= RELATIVE_ACCURACY * want + 1e-9,
            "got {got}, exact {want}"
        );
    }

    #[test]
    fn hours_are_utc_clock_hours() {
        assert_eq!(hour_start(T0), T0);
        assert_eq!(hour_start(T0 + HOUR_MS - 1), T0);
        assert_eq!(hour_start(T0 + HOUR_MS), T0 + HOUR_MS);
        assert_eq!(hour_start(-1), -HOUR_MS);
        assert_eq!(
            Granularity::Day.bucket_start(T0 + 5 * HOUR_MS),
            T0 - 10 * HOUR_MS
        );
    }

    #[test]
    fn delta_of_a_success() {
        let row = delta(&call(T0 + 1_234, "ver_1", 850, None));
        assert_eq!(row.prompt_key, "prm_1");
        assert_eq!(row.version_key, "ver_1");
        assert_eq!(row.start, T0);
        let m = &row.measures;
        assert_eq!((m.calls, m.successes, m.latency_sum_ms), (1, 1, 850));
        assert_eq!(
            (m.input_tokens, m.output_tokens, m.cached_input_tokens),
            (100, 20, 10)
        );
        assert_eq!((m.cost_usd, m.cost_unknown_calls), (0.002, 0));
        assert_eq!(m.latency.count(), 1);
        assert!(m.error_codes.is_empty());
    }

    #[test]
    fn delta_of_a_failure_and_of_an_ad_hoc_call() {
        let mut failed = call(T0, "ver_1", -5, Some("PROVIDER_TIMEOUT"));
        failed.cost_known = false;
        let row = delta(&failed);
        assert_eq!(row.measures.successes, 0);
        assert_eq!(
            row.measures.latency_sum_ms, 0,
            "a negative latency counts as 0"
        );
        assert_eq!(row.measures.cost_unknown_calls, 1);
        assert_eq!(
            row.measures.error_codes,
            BTreeMap::from([("PROVIDER_TIMEOUT".to_owned(), 1)])
        );

        let mut ad_hoc = call(T0, "x", 10, Some("RATE_LIMITED"));
        ad_hoc.prompt_id = None;
        ad_hoc.version_id = None;
        let row = delta(&ad_hoc);
        assert_eq!(row.prompt_key, UNATTRIBUTED);
        assert_eq!(row.version_key, UNATTRIBUTED);
    }

    #[test]
    fn last_windows_are_whole_buckets_ending_now() {
        let now = T0 + 30 * 60_000;
        let day = Window::last(now, DAY_MS, Granularity::Hour).unwrap();
        assert_eq!(day.bucket_count(), 24);
        assert_eq!(day.end(), T0 + HOUR_MS);
        assert_eq!(day.start(), T0 - 23 * HOUR_MS);
        assert_eq!(day.bucket_of(now), Some(23));
        assert_eq!(day.bucket_of(day.end()), None);
        assert_eq!(day.bucket_of(day.start() - 1), None);

        let week = Window::last(now, 7 * DAY_MS, Granularity::Day).unwrap();
        assert_eq!(week.bucket_count(), 7);
        assert_eq!(week.end() % DAY_MS, 0);
        assert!(week.bucket_of(now) == Some(6));
        let month = Window::last(now, 30 * DAY_MS, Granularity::Day).unwrap();
        assert_eq!(month.bucket_count(), 30);
        let starts: Vec<i64> = month.bucket_starts().collect();
        assert_eq!(starts.len(), 30);
        assert!(starts.windows(2).all(|w| w[1] - w[0] == DAY_MS));
        assert_eq!(
            Window::last(now, 90 * 60_000, Granularity::Hour)
                .unwrap()
                .bucket_count(),
            2
        );
        assert_eq!(
            Window::last(i64::MAX, DAY_MS, Granularity::Day),
            Err(WindowError::OutOfRange)
        );
    }

    #[test]
    fn custom_windows_widen_to_whole_buckets_and_are_capped() {
        let w = Window::custom(T0 + 5, T0 + 2 * HOUR_MS, Granularity::Hour).unwrap();
        assert_eq!(
            (w.start(), w.end(), w.bucket_count()),
            (T0, T0 + 2 * HOUR_MS, 2)
        );
        let w = Window::custom(T0 + 5, T0 + 2 * HOUR_MS + 1, Granularity::Hour).unwrap();
        assert_eq!(w.bucket_count(), 3);
        let w = Window::custom(T0, T0 + 1, Granularity::Day).unwrap();
        assert_eq!(w.bucket_count(), 1);
        assert_eq!(w.start() % DAY_MS, 0);

        assert_eq!(
            Window::custom(T0, T0, Granularity::Hour),
            Err(WindowError::Empty)
        );
        assert_eq!(
            Window::custom(T0, T0 - 1, Granularity::Hour),
            Err(WindowError::Empty)
        );
        assert!(Window::custom(T0, T0 + MAX_CUSTOM_WINDOW_MS, Granularity::Day).is_ok());
        assert_eq!(
            Window::custom(T0, T0 + MAX_CUSTOM_WINDOW_MS + 1, Granularity::Day),
            Err(WindowError::TooLong)
        );
        assert_eq!(
            Window::custom(i64::MIN, i64::MAX, Granularity::Hour),
            Err(WindowError::TooLong)
        );
        assert_eq!(
            Window::custom(i64::MAX - 10, i64::MAX, Granularity::Hour),
            Err(WindowError::OutOfRange)
        );
        assert_eq!(
            WindowError::TooLong.to_string(),
            "a custom window may span at most 90 days"
        );
    }

    #[test]
    fn the_seed_story_a_bad_version_and_its_rollback() {
        // Hour 0 and 1: ver_good, fast and fine. Hours 2-3: ver_bad, slow,
        // a third of it failing. Hour 4: rolled back to ver_good.
        let mut calls = Vec::new();
        for hour in 0..5 {
            for i in 0..60i64 {
                let at = T0 + hour * HOUR_MS + i * 60_000;
                if (2..4).contains(&hour) {
                    let error = (i % 3 == 0).then_some("PROVIDER_TIMEOUT");
                    calls.push(call(at, "ver_bad", 8_000 + i * 50, error));
                } else {
                    calls.push(call(at, "ver_good", 900 + i * 5, None));
                }
            }
        }
        let rows = rows_of(&calls);
        assert_eq!(rows.len(), 5);
        let window = Window::custom(T0, T0 + 5 * HOUR_MS, Granularity::Hour).unwrap();
        let a = summarize(&window, &rows);

        assert_eq!(a.buckets.len(), 5);
        let p95: Vec<f64> = a
            .buckets
            .iter()
            .map(|b| b.summary.latency_p95_ms.unwrap())
            .collect();
        assert!(
            p95[1] < 1_300.0 && p95[2] > 8_000.0 && p95[4] < 1_300.0,
            "{p95:?}"
        );
        let rate: Vec<f64> = a
            .buckets
            .iter()
            .map(|b| b.summary.success_rate.unwrap())
            .collect();
        assert_eq!(rate, vec![1.0, 1.0, 40.0 / 60.0, 40.0 / 60.0, 1.0]);
        assert_eq!(
            a.buckets[2].summary.error_codes,
            vec![("PROVIDER_TIMEOUT".to_owned(), 20)]
        );

        assert_eq!(a.total.calls, 300);
        assert_eq!(a.total.successes, 260);
        assert_eq!(a.total.errors, 40);
        assert_eq!(
            a.total.error_codes,
            vec![("PROVIDER_TIMEOUT".to_owned(), 40)]
        );
        assert_eq!(a.total.input_tokens, 30_000);
        assert!((a.total.cost_usd - 0.6).abs() < 1e-9);
        assert!((a.total.cost_usd_per_call.unwrap() - 0.002).abs() < 1e-12);

        let keys: Vec<&str> = a.versions.iter().map(|v| v.version_key.as_str()).collect();
        assert_eq!(keys, vec!["ver_good", "ver_bad"]);
        let good = &a.versions[0];
        assert_eq!(
            (good.first_active, good.last_active),
            (T0, T0 + 4 * HOUR_MS)
        );
        assert_eq!(good.summary.calls, 180);
        assert_eq!(good.summary.success_rate, Some(1.0));
        let bad = &a.versions[1];
        assert_eq!(
            (bad.first_active, bad.last_active),
            (T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS)
        );
        let bad_latencies: Vec<i64> = (0..60)
            .map(|i| 8_000 + i * 50)
            .chain((0..60).map(|i| 8_000 + i * 50))
            .collect();
        assert_close(
            bad.summary.latency_p50_ms,
            exact_quantile(&bad_latencies, 0.5),
        );
        assert_close(
            bad.summary.latency_p99_ms,
            exact_quantile(&bad_latencies, 0.99),
        );
    }

    #[test]
    fn empty_buckets_are_reported_with_no_percentiles() {
        let rows = rows_of(&[call(T0 + HOUR_MS, "ver_1", 500, None)]);
        let window = Window::custom(T0, T0 + 3 * HOUR_MS, Granularity::Hour).unwrap();
        let a = summarize(&window, &rows);
        let empty = &a.buckets[0].summary;
        assert_eq!(empty.calls, 0);
        assert_eq!(empty.success_rate, None);
        assert_eq!(empty.latency_p50_ms, None);
        assert_eq!(empty.latency_mean_ms, None);
        assert_eq!(empty.cost_usd_per_call, None);
        assert_eq!(a.buckets[1].summary.calls, 1);
        assert_eq!(a.buckets[1].summary.latency_mean_ms, Some(500.0));

        let nothing = summarize(&window, &[]);
        assert_eq!(nothing.total.calls, 0);
        assert!(nothing.versions.is_empty());
        assert_eq!(nothing.buckets.len(), 3);
    }

    #[test]
    fn rows_outside_the_window_are_ignored() {
        let rows = rows_of(&[
            call(T0 - 1, "ver_1", 1, None),
            call(T0, "ver_1", 2, None),
            call(T0 + HOUR_MS, "ver_1", 3, None),
        ]);
        let window = Window::custom(T0, T0 + HOUR_MS, Granularity::Hour).unwrap();
        let a = summarize(&window, &rows);
        assert_eq!(a.total.calls, 1);
        assert_eq!(a.total.latency_p50_ms, Some(2.0));
    }

    #[test]
    fn error_rows_merge_in_like_any_row() {
        // The error table's rows, read as rows with only error counts.
        let mut rows = rows_of(&[call(T0, "ver_1", 10, None)]);
        rows.push(RollupRow {
            prompt_key: "prm_1".into(),
            version_key: "ver_1".into(),
            start: T0,
            measures: Measures {
                error_codes: BTreeMap::from([
                    ("A".to_owned(), 2),
                    ("B".to_owned(), 5),
                    ("C".to_owned(), 2),
                ]),
                ..Measures::default()
            },
        });
        let window = Window::custom(T0, T0 + HOUR_MS, Granularity::Hour).unwrap();
        let a = summarize(&window, &rows);
        assert_eq!(a.total.calls, 1);
        assert_eq!(
            a.total.error_codes,
            vec![
                ("B".to_owned(), 5),
                ("A".to_owned(), 2),
                ("C".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn a_day_bucket_is_its_hours_merged() {
        let calls: Vec<Execution<'_>> = (0..48 * 10)
            .map(|i| {
                call(
                    T0 + i * 6 * 60_000,
                    if i % 3 == 0 { "v1" } else { "v2" },
                    100 + (i * 37) % 5_000,
                    None,
                )
            })
            .collect();
        let rows = rows_of(&calls);
        assert_eq!(rows.len(), 48 * 2);
        let window = Window::custom(T0, T0 + 48 * HOUR_MS, Granularity::Day).unwrap();
        let a = summarize(&window, &rows);
        for bucket in &a.buckets {
            let mut direct = LatencySketch::new();
            let mut latencies = Vec::new();
            for c in calls
                .iter()
                .filter(|c| Granularity::Day.bucket_start(c.created_at) == bucket.start)
            {
                direct.record(c.latency_ms as u64);
                latencies.push(c.latency_ms);
            }
            assert_eq!(bucket.summary.calls, latencies.len() as u64);
            assert_eq!(bucket.summary.latency_p95_ms, direct.quantile(0.95));
            assert_close(
                bucket.summary.latency_p95_ms,
                exact_quantile(&latencies, 0.95),
            );
        }
        assert_eq!(a.buckets.iter().map(|b| b.summary.calls).sum::<u64>(), 480);
    }

    proptest! {
        #[test]
        fn summaries_equal_a_direct_computation(
            raw in proptest::collection::vec(
                (0i64..72 * HOUR_MS, 0usize..3, 0i64..120_000, 0u8..4, 0u64..5_000), 1..200),
            by_day in any::<bool>(),
        ) {
            let versions = ["ver_a", "ver_b", "ver_c"];
            let codes = ["PROVIDER_TIMEOUT", "UPSTREAM_FAILURE"];
            let calls: Vec<Execution<'_>> = raw.iter().map(|&(at, v, latency, outcome, tokens)| Execution {
                prompt_id: Some("prm_1"),
                version_id: Some(versions[v]),
                created_at: T0 + at,
                success: outcome >= 2,
                error_code: (outcome < 2).then(|| codes[outcome as usize]),
                latency_ms: latency,
                cost_usd: tokens as f64 * 1e-6,
                cost_known: tokens % 7 != 0,
                input_tokens: tokens,
                output_tokens: tokens / 2,
                cached_input_tokens: tokens / 3,
            }).collect();
            let granularity = if by_day { Granularity::Day } else { Granularity::Hour };
            let window = Window::custom(T0, T0 + 72 * HOUR_MS, granularity).unwrap();
            // Rows in a scrambled order.
            let mut rows = rows_of(&calls);
            rows.reverse();
            let a = summarize(&window, &rows);

            prop_assert_eq!(a.total.calls, calls.len() as u64);
            prop_assert_eq!(a.total.successes, calls.iter().filter(|c| c.success).count() as u64);
            prop_assert_eq!(a.total.input_tokens, calls.iter().map(|c| c.input_tokens).sum::<u64>());
            prop_assert_eq!(a.total.cost_unknown_calls, calls.iter().filter(|c| !c.cost_known).count() as u64);
            let cost: f64 = calls.iter().map(|c| c.cost_usd).sum();
            prop_assert!((a.total.cost_usd - cost).abs() <= 1e-9);
            let errors: u64 = a.total.error_codes.iter().map(|(_, n)| n).sum();
            prop_assert_eq!(errors, a.total.errors);

            let all: Vec<i64> = calls.iter().map(|c| c.latency_ms).collect();
            let total = &a.total;
            for (q, got) in [(0.5, total.latency_p50_ms), (0.95, total.latency_p95_ms), (0.99, total.latency_p99_ms)] {
                let want = exact_quantile(&all, q);
                let got = got.unwrap();
                prop_assert!((got - want).abs() <= RELATIVE_ACCURACY * want + 1e-9);
            }
            for bucket in &a.buckets {
                let inside: Vec<i64> = calls.iter()
                    .filter(|c| granularity.bucket_start(c.created_at) == bucket.start)
                    .map(|c| c.latency_ms).collect();
                prop_assert_eq!(bucket.summary.calls, inside.len() as u64);
                if !inside.is_empty() {
                    let want = exact_quantile(&inside, 0.95);
                    let got = bucket.summary.latency_p95_ms.unwrap();
                    prop_assert!((got - want).abs() <= RELATIVE_ACCURACY * want + 1e-9);
                }
            }
            for version in &a.versions {
                let n = calls.iter().filter(|c| c.version_id == Some(version.version_key.as_str())).count();
                prop_assert_eq!(version.summary.calls, n as u64);
            }
            prop_assert_eq!(a.versions.iter().map(|v| v.summary.calls).sum::<u64>(), calls.len() as u64);
        }
    }
}
