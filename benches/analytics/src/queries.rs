//! The measured queries: what each asks, and timing it over real HTTP.

use std::time::Instant;

use prompthelm_domain::latency::nearest_rank;
use serde_json::Value;

use crate::api::Api;

/// One measured request shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `GET /prompts/:id/analytics?window=…[&bucket=…]`.
    Analytics {
        window: &'static str,
        bucket: Option<&'static str>,
    },
    /// `GET /execution-logs?promptId=…&limit=50[&q=…]`.
    Logs { filter: Option<&'static str> },
}

/// The logs filter measured: the slow failures.
pub const SLOW_ERRORS: &str = "status = 'error' AND latencyMs > 2000";
/// The logs page size measured.
pub const LOGS_LIMIT: usize = 50;

/// In report order: the analytics windows (their default buckets, then 7
/// and 30 days by hour, the most buckets), then the logs list, for comparison.
pub const QUERIES: [Query; 7] = [
    Query::Analytics {
        window: "24h",
        bucket: None,
    },
    Query::Analytics {
        window: "7d",
        bucket: None,
    },
    Query::Analytics {
        window: "30d",
        bucket: None,
    },
    Query::Analytics {
        window: "7d",
        bucket: Some("hour"),
    },
    Query::Analytics {
        window: "30d",
        bucket: Some("hour"),
    },
    Query::Logs { filter: None },
    Query::Logs {
        filter: Some(SLOW_ERRORS),
    },
];

impl Query {
    pub fn label(self) -> String {
        match self {
            Query::Analytics { window, bucket } => format!(
                "analytics `window={window}`{}",
                bucket.map(|b| format!(" `bucket={b}`")).unwrap_or_default()
            ),
            Query::Logs { filter: None } => format!("logs `promptId` `limit={LOGS_LIMIT}`"),
            Query::Logs { filter: Some(q) } => {
                format!("logs `promptId` `limit={LOGS_LIMIT}` `q={q}`")
            }
        }
    }

    /// Path (under `/api/v1`) and query parameters.
    fn request(self, prompt_id: &str) -> (String, Vec<(&'static str, String)>) {
        match self {
            Query::Analytics { window, bucket } => {
                let mut query = vec![("window", window.to_owned())];
                query.extend(bucket.map(|b| ("bucket", b.to_owned())));
                (format!("/prompts/{prompt_id}/analytics"), query)
            }
            Query::Logs { filter } => {
                let mut query = vec![
                    ("promptId", prompt_id.to_owned()),
                    ("limit", LOGS_LIMIT.to_string()),
                ];
                query.extend(filter.map(|q| ("q", q.to_owned())));
                ("/execution-logs".to_owned(), query)
            }
        }
    }
}

/// How many requests, and when to stop regardless.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub warmup: u64,
    pub requests: u64,
    pub deadline: Instant,
}

/// A query's timings and one of its answers.
#[derive(Debug)]
pub struct Measured {
    pub query: Query,
    /// Latencies of the successful timed requests, ms, ascending.
    pub samples_ms: Vec<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The deadline stopped the timed requests early.
    pub capped: bool,
    /// The first answer (untimed), parsed, for the checks; `None` when it
    /// failed (then nothing was timed).
    pub answer: Option<Value>,
    pub answer_bytes: usize,
}

impl Measured {
    /// The nearest-rank `q`-quantile, ms.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        let rank = nearest_rank(q, self.samples_ms.len() as u64)?;
        self.samples_ms.get(rank as usize - 1).copied()
    }
}

/// One untimed request whose answer is kept, then `plan.warmup` unmeasured
/// and `plan.requests` measured ones, one after another on one connection.
pub fn measure(api: &Api, prompt_id: &str, query: Query, plan: &Plan) -> Measured {
    let (path, params) = query.request(prompt_id);
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut measured = Measured {
        query,
        samples_ms: Vec::new(),
        errors: 0,
        first_error: None,
        capped: false,
        answer: None,
        answer_bytes: 0,
    };
    if Instant::now() > plan.deadline {
        measured.capped = true;
        return measured;
    }
    let what = format!("GET /api/v1{path} {params:?}");
    match api
        .get(&path, &params)
        .and_then(|a| Ok((a.json(&what, 200)?, a.body.len())))
    {
        Ok((answer, bytes)) => {
            measured.answer = Some(answer);
            measured.answer_bytes = bytes;
        }
        Err(e) => {
            // A failing endpoint is reported, not timed: a fast error would
            // pass for a fast query.
            measured.errors = 1;
            measured.first_error = Some(format!("{e:#}"));
            return measured;
        }
    }
    for _ in 0..plan.warmup {
        let _ = api.get(&path, &params);
    }
    for _ in 0..plan.requests {
        if Instant::now() > plan.deadline {
            measured.capped = true;
            break;
        }
        match api.get(&path, &params) {
            Ok(answer) if answer.status == 200 => measured
                .samples_ms
                .push(answer.elapsed.as_secs_f64() * 1000.0),
            Ok(answer) => {
                measured.errors += 1;
                measured.first_error.get_or_insert_with(|| {
                    prompthelm_bench::envelope::describe_failure(answer.status, &answer.body)
                });
            }
            Err(e) => {
                measured.errors += 1;
                measured.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    measured.samples_ms.sort_by(f64::total_cmp);
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let measured = Measured {
            query: QUERIES[0],
            samples_ms: (1..=30).map(f64::from).collect(),
            errors: 0,
            first_error: None,
            capped: false,
            answer: None,
            answer_bytes: 0,
        };
        assert_eq!(measured.percentile_ms(0.5), Some(15.0));
        assert_eq!(measured.percentile_ms(0.95), Some(29.0));
        let empty = Measured {
            samples_ms: Vec::new(),
            ..measured
        };
        assert_eq!(empty.percentile_ms(0.5), None);
    }

    #[test]
    fn logs_queries_carry_the_filter_as_a_parameter() {
        let (path, query) = QUERIES[6].request("prm_1");
        assert_eq!(path, "/execution-logs");
        assert!(query.contains(&("q", SLOW_ERRORS.to_owned())));
        let (path, query) = QUERIES[4].request("prm_1");
        assert_eq!(path, "/prompts/prm_1/analytics");
        assert_eq!(
            query,
            [("window", "30d".to_owned()), ("bucket", "hour".to_owned())]
        );
    }
}
