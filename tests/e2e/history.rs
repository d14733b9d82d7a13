//! Past calls written straight into the runtime's SQLite file, for what a
//! test cannot wait for: calls hours or months old. They go through the
//! real schema, so the rollup trigger of `migrations/0004_rollups.sql`
//! rolls them up exactly as it does the gateway's own rows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prompthelm_domain::latency::bucket_index;

use crate::harness::Runtime;

/// One call to insert.
#[derive(Debug, Clone)]
pub struct PastCall {
    pub organization_id: String,
    pub prompt_id: Option<String>,
    pub version_id: Option<String>,
    pub created_at: i64,
    pub latency_ms: i64,
    /// `None` for a success.
    pub error_code: Option<&'static str>,
    pub cost_usd: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// Inserts `calls` in one transaction; returns their ids in order.
pub fn insert(rt: &Runtime, calls: &[PastCall]) -> Vec<String> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let tx = db.transaction().unwrap();
    let mut ids = Vec::new();
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, version_id, \
                 environment, model, provider, stream, status, error_code, http_status, \
                 latency_ms, input_tokens, output_tokens, cost_usd, cost_known, request_id, \
                 created_at, latency_bucket) \
                 VALUES (?, ?, 'tok_history', ?, ?, 'production', 'gpt-4o-mini', 'openai', 0, \
                 ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            )
            .unwrap();
        for call in calls {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let id = format!(
                "exe_{:032x}",
                (u128::from(std::process::id()) << 64) | u128::from(n)
            );
            stmt.execute(rusqlite::params![
                id,
                call.organization_id,
                call.prompt_id,
                call.version_id,
                if call.error_code.is_some() {
                    "error"
                } else {
                    "success"
                },
                call.error_code,
                if call.error_code.is_some() { 502 } else { 200 },
                call.latency_ms,
                call.input_tokens,
                call.output_tokens,
                call.cost_usd,
                format!("req_history_{n}"),
                call.created_at,
                bucket_index(u64::try_from(call.latency_ms).unwrap_or(0)),
            ])
            .unwrap();
            ids.push(id);
        }
    }
    tx.commit().unwrap();
    ids
}

/// A deterministic pseudo-random sequence (a 64-bit LCG), so generated
/// data is the same on every run.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `ms` as the API's timestamps (RFC 3339, UTC, milliseconds).
pub fn at(ms: i64) -> String {
    prompthelm_domain::time::rfc3339_millis(ms)
}
