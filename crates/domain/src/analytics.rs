//! `GET /api/v1/prompts/:id/analytics`, the pure part: the query's window
//! ([`parse_window`]) and the report served ([`Report`]), built from
//! [`rollup::summarize`](crate::rollup::summarize) (calls and their
//! feedback), [`rollup::signal_series`](crate::rollup::signal_series) (the
//! prompt's signals) and the promotions of the audit log.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::latency::RELATIVE_ACCURACY;
use crate::rollup::{
    Analytics, DAY_MS, FeedbackSummary, Granularity, HOUR_MS, MINUTE_RETENTION_MS, SignalPoint,
    SignalSeries, Summary, UNATTRIBUTED, Window,
};
use crate::time::rfc3339_millis;

/// Named windows up to this long (`1h`, `6h`) default to minute buckets,
/// so a promotion and a rollback minutes apart fall in different buckets.
pub const MINUTELY_UP_TO_MS: i64 = 6 * HOUR_MS;

/// Windows up to this long default to hour buckets; longer ones to days,
/// which read one daily rollup row per version and day instead of 24
/// hourly ones.
pub const HOURLY_UP_TO_MS: i64 = 2 * DAY_MS;

/// The window named by `window` (`1h`, `6h`, `24h`, `7d`, `30d` or
/// `custom`; default `24h`), with `from`/`to` (ms) for `custom` only and
/// `bucket` (`minute`, `hour` or `day`; default `minute` for 1h and 6h,
/// `hour` up to 2 days, else `day`). `now` is the request's time. Minute
/// buckets need a window of at most [`MINUTE_RETENTION_MS`] that starts
/// within it (older minutes are deleted), so `7d` and `30d` cannot have
/// them. Errors are 400 messages naming the parameter.
pub fn parse_window(
    window: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
    bucket: Option<&str>,
    now: i64,
) -> Result<(String, Window), String> {
    let kind = window.unwrap_or("24h");
    let span = match kind {
        "1h" => Some(HOUR_MS),
        "6h" => Some(6 * HOUR_MS),
        "24h" => Some(24 * HOUR_MS),
        "7d" => Some(7 * DAY_MS),
        "30d" => Some(30 * DAY_MS),
        "custom" => None,
        other => {
            return Err(format!(
                "window must be one of 1h, 6h, 24h, 7d, 30d, custom; not {other:?}"
            ));
        }
    };
    let granularity = |span_ms: i64| match bucket {
        None if span.is_some() && span_ms <= MINUTELY_UP_TO_MS => Ok(Granularity::Minute),
        None if span_ms <= HOURLY_UP_TO_MS => Ok(Granularity::Hour),
        None => Ok(Granularity::Day),
        Some("minute") => Ok(Granularity::Minute),
        Some("hour") => Ok(Granularity::Hour),
        Some("day") => Ok(Granularity::Day),
        Some(other) => Err(format!("bucket must be minute, hour or day; not {other:?}")),
    };
    let (asked, window) = match (span, from, to) {
        (Some(span), None, None) => (span, Window::last(now, span, granularity(span)?)),
        (Some(_), _, _) => {
            return Err(format!(
                "from and to are for window=custom only; window={kind} ends now"
            ));
        }
        (None, Some(from), Some(to)) => {
            let asked = to.saturating_sub(from);
            (asked, Window::custom(from, to, granularity(asked)?))
        }
        (None, _, _) => return Err("window=custom needs both from and to".to_owned()),
    };
    let window = window.map_err(|e| e.to_string())?;
    if window.granularity() == Granularity::Minute {
        let hours = MINUTE_RETENTION_MS / HOUR_MS;
        if asked > MINUTE_RETENTION_MS {
            return Err(format!(
                "bucket=minute covers windows of at most {hours} hours (minute rollups are \
                 kept that long); use bucket=hour or bucket=day for window={kind}"
            ));
        }
        let oldest = Granularity::Minute
            .bucket_start(now)
            .saturating_sub(MINUTE_RETENTION_MS);
        if window.start() < oldest {
            return Err(format!(
                "bucket=minute reaches back {hours} hours (minute rollups are kept that \
                 long): from must be at or after {}",
                rfc3339_millis(oldest)
            ));
        }
    }
    Ok((kind.to_owned(), window))
}

/// A promotion of the prompt, from its audit entry: a marker on the charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionMarker {
    pub at: String,
    pub audit_entry_id: String,
    pub actor: String,
    pub from_version_id: Option<String>,
    pub from_version: Option<String>,
    pub to_version_id: Option<String>,
    pub to_version: Option<String>,
    /// The promoted version had been production before: a rollback.
    pub revert: bool,
}

/// Figures of a set of calls, as served.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub calls: u64,
    pub successes: u64,
    pub errors: u64,
    /// `successes / calls`, 0 to 1; `null` without calls.
    pub success_rate: Option<f64>,
    /// Percentiles within [`RELATIVE_ACCURACY`] of the exact ones.
    pub p50_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    pub p99_latency_ms: Option<f64>,
    pub mean_latency_ms: Option<f64>,
    /// USD.
    pub cost_total: f64,
    pub cost_per_call: Option<f64>,
    /// Calls whose model has no price (counted as 0 in the cost).
    pub cost_unknown_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    /// Most frequent first.
    pub error_codes: Vec<ErrorCount>,
    /// Feedback on these calls by feedback name (`thumbs`, ...): only
    /// names with scores.
    pub feedback: BTreeMap<String, FeedbackFigures>,
}

/// The feedback of one name, as served.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackFigures {
    /// Scores given (a replaced score counts once, with its latest value).
    pub count: u64,
    /// Scores below 0.
    pub negative: u64,
    /// `negative / count`, 0 to 1.
    pub negative_rate: Option<f64>,
    pub mean_score: Option<f64>,
}

impl From<FeedbackSummary> for FeedbackFigures {
    fn from(f: FeedbackSummary) -> Self {
        FeedbackFigures {
            count: f.count,
            negative: f.negative,
            negative_rate: f.negative_rate,
            mean_score: f.mean_score,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCount {
    pub error_code: String,
    pub count: u64,
}

impl From<Summary> for Figures {
    fn from(s: Summary) -> Self {
        Figures {
            calls: s.calls,
            successes: s.successes,
            errors: s.errors,
            success_rate: s.success_rate,
            p50_latency_ms: s.latency_p50_ms,
            p95_latency_ms: s.latency_p95_ms,
            p99_latency_ms: s.latency_p99_ms,
            mean_latency_ms: s.latency_mean_ms,
            cost_total: s.cost_usd,
            cost_per_call: s.cost_usd_per_call,
            cost_unknown_calls: s.cost_unknown_calls,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cached_input_tokens: s.cached_input_tokens,
            error_codes: s
                .error_codes
                .into_iter()
                .map(|(error_code, count)| ErrorCount { error_code, count })
                .collect(),
            feedback: s
                .feedback
                .into_iter()
                .map(|(name, f)| (name, f.into()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// `1h`, `6h`, `24h`, `7d`, `30d` or `custom`.
    pub kind: String,
    /// Whole buckets: `from` is the first bucket's start, `to` the end of
    /// the last (the current bucket, still filling, for the named windows).
    pub from: String,
    pub to: String,
    /// `minute`, `hour` or `day` (UTC days).
    pub bucket: &'static str,
}

/// A signal's values in a bucket or the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalFigures {
    pub count: u64,
    pub sum: f64,
    /// `sum / count`; `null` without values.
    pub mean: Option<f64>,
}

impl From<SignalPoint> for SignalFigures {
    fn from(p: SignalPoint) -> Self {
        SignalFigures {
            count: p.count,
            sum: p.sum,
            mean: p.mean(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalBucket {
    pub start: String,
    pub end: String,
    #[serde(flatten)]
    pub figures: SignalFigures,
}

/// One signal of the prompt over the window, on the same buckets as the
/// calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalReport {
    pub name: String,
    pub total: SignalFigures,
    /// Every bucket of the window, oldest first, empty ones included.
    pub buckets: Vec<SignalBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketReport {
    pub start: String,
    pub end: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    /// `null` for calls that resolved no version (they failed first).
    pub version_id: Option<String>,
    /// The semver label, when the version is known.
    pub version: Option<String>,
    /// The start of the first and the last bucket with a call of this
    /// version.
    pub first_call_bucket: String,
    pub last_call_bucket: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The analytics answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub prompt_id: String,
    /// The `versionId` filter, if given.
    pub version_id: Option<String>,
    pub window: WindowReport,
    /// The bound on every percentile's relative error (0.01 = 1 %).
    pub latency_relative_accuracy: f64,
    pub totals: Figures,
    /// Every bucket of the window, oldest first, empty ones included.
    pub buckets: Vec<BucketReport>,
    /// In order of each version's first call in the window.
    pub versions: Vec<VersionReport>,
    /// Promotions of the prompt in the window, oldest first, at their
    /// exact time (not rounded to a bucket).
    pub promotions: Vec<PromotionMarker>,
    /// The prompt's signals with values in the window, by name.
    pub signals: Vec<SignalReport>,
}

impl Report {
    /// The report of `analytics` and `signals` over `window`; `labels`
    /// maps version ids to their semver.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        prompt_id: &str,
        version_id: Option<&str>,
        kind: String,
        window: &Window,
        analytics: Analytics,
        labels: &HashMap<String, String>,
        promotions: Vec<PromotionMarker>,
        signals: Vec<SignalSeries>,
    ) -> Report {
        let granularity = window.granularity();
        let size = granularity.millis();
        Report {
            prompt_id: prompt_id.to_owned(),
            version_id: version_id.map(str::to_owned),
            window: WindowReport {
                kind,
                from: rfc3339_millis(window.start()),
                to: rfc3339_millis(window.end()),
                bucket: match window.granularity() {
                    Granularity::Minute => "minute",
                    Granularity::Hour => "hour",
                    Granularity::Day => "day",
                },
            },
            latency_relative_accuracy: RELATIVE_ACCURACY,
            totals: analytics.total.into(),
            buckets: analytics
                .buckets
                .into_iter()
                .map(|b| BucketReport {
                    start: rfc3339_millis(b.start),
                    end: rfc3339_millis(b.start + size),
                    figures: b.summary.into(),
                })
                .collect(),
            versions: analytics
                .versions
                .into_iter()
                .map(|v| {
                    let id = (v.version_key != UNATTRIBUTED).then_some(v.version_key);
                    VersionReport {
                        version: id.as_ref().and_then(|id| labels.get(id).cloned()),
                        version_id: id,
                        first_call_bucket: rfc3339_millis(granularity.bucket_start(v.first_active)),
                        last_call_bucket: rfc3339_millis(granularity.bucket_start(v.last_active)),
                        figures: v.summary.into(),
                    }
                })
                .collect(),
            promotions,
            signals: signals
                .into_iter()
                .map(|series| SignalReport {
                    name: series.name,
                    total: series.total.into(),
                    buckets: window
                        .bucket_starts()
                        .zip(series.points)
                        .map(|(start, point)| SignalBucket {
                            start: rfc3339_millis(start),
                            end: rfc3339_millis(start + size),
                            figures: point.into(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::{Execution, delta, summarize};

    const NOW: i64 = 1_795_514_400_123; // 2026-11-24T10:00:00.123Z

    #[test]
    fn named_windows_end_with_the_current_bucket() {
        let (kind, w) = parse_window(None, None, None, None, NOW).unwrap();
        assert_eq!(kind, "24h");
        assert_eq!(w.granularity(), Granularity::Hour);
        assert_eq!(w.bucket_count(), 24);
        assert_eq!(w.end(), 1_795_514_400_000 + HOUR_MS);
        let (_, w) = parse_window(Some("7d"), None, None, None, NOW).unwrap();
        assert_eq!((w.granularity(), w.bucket_count()), (Granularity::Day, 7));
        let (_, w) = parse_window(Some("7d"), None, None, Some("hour"), NOW).unwrap();
        assert_eq!(
            (w.granularity(), w.bucket_count()),
            (Granularity::Hour, 168)
        );
        let (_, w) = parse_window(Some("30d"), None, None, None, NOW).unwrap();
        assert_eq!((w.granularity(), w.bucket_count()), (Granularity::Day, 30));
        let (_, w) = parse_window(Some("30d"), None, None, Some("hour"), NOW).unwrap();
        assert_eq!(w.bucket_count(), 720);
        let (_, w) = parse_window(Some("24h"), None, None, Some("day"), NOW).unwrap();
        assert_eq!(w.bucket_count(), 1);
    }

    #[test]
    fn custom_windows_need_both_ends_and_at_most_90_days() {
        let (kind, w) = parse_window(
            Some("custom"),
            Some(NOW - 3 * HOUR_MS),
            Some(NOW),
            None,
            NOW,
        )
        .unwrap();
        assert_eq!(kind, "custom");
        assert_eq!(w.bucket_count(), 4);
        let (_, w) = parse_window(Some("custom"), Some(0), Some(80 * DAY_MS), None, NOW).unwrap();
        assert_eq!(w.granularity(), Granularity::Day);
        for (window, from, to, bucket, needle) in [
            (Some("custom"), None, Some(NOW), None, "both from and to"),
            (Some("custom"), Some(NOW), None, None, "both from and to"),
            (Some("custom"), Some(0), Some(91 * DAY_MS), None, "90 days"),
            (Some("custom"), Some(NOW), Some(NOW), None, "after"),
            (Some("24h"), Some(0), None, None, "window=custom only"),
            (Some("1y"), None, None, None, "1h, 6h, 24h, 7d, 30d, custom"),
            (None, None, None, Some("second"), "minute, hour or day"),
        ] {
            let err = parse_window(window, from, to, bucket, NOW).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn report_names_versions_and_bounds() {
        let (kind, window) = parse_window(None, None, None, None, NOW).unwrap();
        let call = |version: Option<&'static str>, success: bool, latency_ms: i64| Execution {
            prompt_id: Some("prm_1"),
            version_id: version,
            created_at: NOW - 10,
            success,
            error_code: (!success).then_some("PROVIDER_TIMEOUT"),
            latency_ms,
            cost_usd: 0.5,
            cost_known: true,
            input_tokens: 3,
            output_tokens: 4,
            cached_input_tokens: 0,
        };
        let rows = [
            delta(&call(Some("ver_a"), true, 100)),
            delta(&call(Some("ver_a"), false, 300)),
            delta(&call(None, false, 5)),
        ];
        let labels = HashMap::from([("ver_a".to_owned(), "1.0.0".to_owned())]);
        let report = Report::new(
            "prm_1",
            None,
            kind,
            &window,
            summarize(&window, &rows),
            &labels,
            vec![],
            vec![],
        );
        assert_eq!(report.buckets.len(), 24);
        let last = report.buckets.last().unwrap();
        assert_eq!(last.start, "2026-11-24T10:00:00.000Z");
        assert_eq!(last.end, "2026-11-24T11:00:00.000Z");
        assert_eq!(report.totals.calls, 3);
        assert_eq!(report.totals.cost_total, 1.5);
        assert_eq!(
            report.totals.error_codes,
            [ErrorCount {
                error_code: "PROVIDER_TIMEOUT".into(),
                count: 2
            }]
        );
        let ids: Vec<_> = report
            .versions
            .iter()
            .map(|v| {
                (
                    v.version_id.as_deref(),
                    v.version.as_deref(),
                    v.figures.calls,
                )
            })
            .collect();
        assert_eq!(ids, [(None, None, 1), (Some("ver_a"), Some("1.0.0"), 2)]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["window"]["bucket"], "hour");
        assert_eq!(json["latencyRelativeAccuracy"], 0.01);
        let p50 = json["versions"][1]["p50LatencyMs"].as_f64().unwrap();
        assert!((p50 - 100.0).abs() <= 1.0, "{p50}");
        assert_eq!(json["versions"][1]["successRate"], 0.5);
        assert!(json["buckets"][0]["successRate"].is_null());
        assert_eq!(json["versions"][1]["feedback"], serde_json::json!({}));
        assert_eq!(json["signals"], serde_json::json!([]));
    }

    #[test]
    fn short_windows_have_minute_buckets_kept_48_hours() {
        use crate::rollup::MINUTE_MS;
        let (kind, w) = parse_window(Some("1h"), None, None, None, NOW).unwrap();
        assert_eq!(kind, "1h");
        assert_eq!(
            (w.granularity(), w.bucket_count()),
            (Granularity::Minute, 60)
        );
        // The current minute, still filling, is the last bucket.
        assert_eq!(w.end(), 1_795_514_400_000 + MINUTE_MS);
        let (_, w) = parse_window(Some("6h"), None, None, None, NOW).unwrap();
        assert_eq!(
            (w.granularity(), w.bucket_count()),
            (Granularity::Minute, 360)
        );
        let (_, w) = parse_window(Some("6h"), None, None, Some("hour"), NOW).unwrap();
        assert_eq!((w.granularity(), w.bucket_count()), (Granularity::Hour, 6));
        let (_, w) = parse_window(Some("1h"), None, None, Some("hour"), NOW).unwrap();
        assert_eq!(w.bucket_count(), 1);
        // 24h stays hourly unless minutes are asked for.
        let (_, w) = parse_window(None, None, None, Some("minute"), NOW).unwrap();
        assert_eq!(
            (w.granularity(), w.bucket_count()),
            (Granularity::Minute, 1440)
        );
        // Custom windows by minute: at most 48 hours, inside retention.
        let (_, w) = parse_window(
            Some("custom"),
            Some(NOW - 48 * HOUR_MS + MINUTE_MS),
            Some(NOW),
            Some("minute"),
            NOW,
        )
        .unwrap();
        assert_eq!(w.granularity(), Granularity::Minute);
        // Custom windows keep defaulting to hours.
        let (_, w) =
            parse_window(Some("custom"), Some(NOW - HOUR_MS), Some(NOW), None, NOW).unwrap();
        assert_eq!(w.granularity(), Granularity::Hour);
        for (window, from, to, needle) in [
            (Some("7d"), None, None, "at most 48 hours"),
            (Some("30d"), None, None, "at most 48 hours"),
            (
                Some("custom"),
                Some(NOW - 47 * HOUR_MS),
                Some(NOW + 2 * HOUR_MS),
                "at most 48 hours",
            ),
            (
                Some("custom"),
                Some(NOW - 50 * HOUR_MS),
                Some(NOW - 40 * HOUR_MS),
                "from must be at or after 2026-11-22T10:00:00.000Z",
            ),
        ] {
            let err = parse_window(window, from, to, Some("minute"), NOW).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn report_carries_feedback_per_version_and_bucket_and_signal_series() {
        use crate::rollup::{FeedbackMeasures, Measures, RollupRow, SignalRow, signal_series};
        let (kind, window) = parse_window(Some("1h"), None, None, None, NOW).unwrap();
        let feedback = |version: &str, start: i64, scores: &[f64]| {
            let mut m = FeedbackMeasures::default();
            for s in scores {
                m.merge(&FeedbackMeasures::of_score(*s));
            }
            RollupRow {
                prompt_key: "prm_1".into(),
                version_key: version.into(),
                start,
                measures: Measures {
                    feedback: BTreeMap::from([("thumbs".to_owned(), m)]),
                    ..Measures::default()
                },
            }
        };
        let minute = 1_795_514_400_000 - 5 * 60_000;
        let rows = [
            feedback("ver_a", minute, &[1.0, -1.0, -1.0]),
            feedback("ver_b", minute + 60_000, &[1.0]),
        ];
        let signals = [
            SignalRow {
                name: "tickets".into(),
                start: minute,
                values: SignalPoint { count: 2, sum: 5.0 },
            },
            SignalRow {
                name: "tickets".into(),
                start: minute + 120_000,
                values: SignalPoint { count: 1, sum: 1.0 },
            },
        ];
        let report = Report::new(
            "prm_1",
            None,
            kind,
            &window,
            summarize(&window, &rows),
            &HashMap::new(),
            vec![],
            signal_series(&window, &signals),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["window"]["bucket"], "minute");
        let a = &json["versions"][0];
        assert_eq!(a["versionId"], "ver_a");
        assert_eq!(a["feedback"]["thumbs"]["count"], 3);
        assert_eq!(a["feedback"]["thumbs"]["negative"], 2);
        let rate = a["feedback"]["thumbs"]["negativeRate"].as_f64().unwrap();
        assert!((rate - 2.0 / 3.0).abs() < 1e-12);
        let mean = a["feedback"]["thumbs"]["meanScore"].as_f64().unwrap();
        assert!((mean + 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(json["totals"]["feedback"]["thumbs"]["count"], 4);
        // Per bucket: the two versions' minutes apart.
        let bucket = |i: usize| &json["buckets"][i];
        assert_eq!(bucket(54)["feedback"]["thumbs"]["negative"], 2);
        assert_eq!(bucket(55)["feedback"]["thumbs"]["negativeRate"], 0.0);
        assert_eq!(bucket(56)["feedback"], serde_json::json!({}));
        let tickets = &json["signals"][0];
        assert_eq!(tickets["name"], "tickets");
        assert_eq!(
            tickets["total"],
            serde_json::json!({"count": 3, "sum": 6.0, "mean": 2.0})
        );
        assert_eq!(tickets["buckets"].as_array().unwrap().len(), 60);
        assert_eq!(tickets["buckets"][54]["sum"], 5.0);
        assert_eq!(tickets["buckets"][54]["start"], "2026-11-24T09:55:00.000Z");
        assert!(tickets["buckets"][55]["mean"].is_null());
        assert_eq!(tickets["buckets"][56]["count"], 1);
    }
}
