//! The per-request context: request id and the time the request arrived.

use prompthelm_domain::{request_id, time};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::response::REQUEST_ID_HEADER;

/// What every handler needs to answer a request on the wire contract: its
/// request id and a timestamp. Build one at the top of the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    request_id: String,
    received_at_unix_millis: i64,
    timestamp: String,
}

impl RequestContext {
    /// Builds the context for an incoming request: honours its
    /// `X-Request-Id` when acceptable (see
    /// [`prompthelm_domain::request_id::accept_incoming`]), else generates
    /// one from the host's random source; reads the wall clock.
    pub fn from_request<B>(req: &http::Request<B>) -> Self {
        Self::from_headers(req.headers())
    }

    /// Like [`RequestContext::from_request`], from the headers alone.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let incoming = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
        Self::new(incoming, secure_random_bytes, now_unix_millis())
    }

    /// The pure constructor: `incoming` is the raw `X-Request-Id` header if
    /// any, `random` is only called when a new id must be generated,
    /// `unix_millis` is "now".
    pub fn new(
        incoming: Option<&str>,
        random: impl FnOnce() -> [u8; 16],
        unix_millis: i64,
    ) -> Self {
        let request_id = incoming
            .and_then(request_id::accept_incoming)
            .unwrap_or_else(|| request_id::generate(random()));
        Self {
            request_id,
            received_at_unix_millis: unix_millis,
            timestamp: time::rfc3339_millis(unix_millis),
        }
    }

    /// The request id, as sent back in `X-Request-Id`.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// When the request arrived, RFC 3339 UTC with milliseconds. Used as the
    /// `timestamp` of envelopes and reports built for this request.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// When the request arrived, in milliseconds since the Unix epoch.
    pub fn received_at_unix_millis(&self) -> i64 {
        self.received_at_unix_millis
    }
}

/// The wall clock in milliseconds since the Unix epoch (negative before it).
/// In a wasm32-wasip2 component, `SystemTime` is `wasi:clocks/wall-clock`.
pub fn now_unix_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// 16 bytes from the host's cryptographically secure random source: what
/// token secrets (`phk_…`), row ids and generated request ids are made of.
///
/// In the component (wasm32) this is WASI `wasi:random/random@0.3.0`
/// `get-random-u64`, which every WASI host must back with a CSPRNG, through
/// the `wasip3` bindings spin-sdk already re-exports: no extra crate, and an
/// interface every WASI 0.3 host (wasmtime-wasi's p3 linker, Spin 4.1+)
/// provides.
#[cfg(target_arch = "wasm32")]
pub fn secure_random_bytes() -> [u8; 16] {
    use spin_sdk::wasip3::random::random::get_random_u64;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&get_random_u64().to_le_bytes());
    out[8..].copy_from_slice(&get_random_u64().to_le_bytes());
    out
}

/// Off wasm there is no WASI import: this build only serves native unit
/// tests, and uses std's per-process random hash keys mixed with a counter
/// and the clock: unique, but NOT cryptographic. Nothing native mints a
/// real secret (components always run as wasm32).
#[cfg(not(target_arch = "wasm32"))]
pub fn secure_random_bytes() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let state = RandomState::new();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&state.hash_one((n, nanos, 0u8)).to_le_bytes());
    out[8..].copy_from_slice(&state.hash_one((n, nanos, 1u8)).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_an_acceptable_incoming_id_without_drawing_randomness() {
        let ctx = RequestContext::new(Some("abc-123"), || panic!("random must not be drawn"), 0);
        assert_eq!(ctx.request_id(), "abc-123");
        assert_eq!(ctx.timestamp(), "1970-01-01T00:00:00.000Z");
        assert_eq!(ctx.received_at_unix_millis(), 0);
    }

    #[test]
    fn generates_when_missing_or_unacceptable() {
        let ctx = RequestContext::new(None, || [0xab; 16], 1_795_514_400_123);
        assert_eq!(ctx.request_id(), format!("req_{}", "ab".repeat(16)));
        assert_eq!(ctx.timestamp(), "2026-11-24T10:00:00.123Z");
        let ctx = RequestContext::new(Some("has space"), || [0; 16], 0);
        assert_eq!(ctx.request_id(), format!("req_{}", "0".repeat(32)));
    }

    #[test]
    fn from_headers_reads_x_request_id_case_insensitively() {
        let req = http::Request::builder()
            .header("X-Request-Id", "caller-id")
            .body(())
            .unwrap();
        assert_eq!(RequestContext::from_request(&req).request_id(), "caller-id");
    }

    #[test]
    fn from_headers_generates_distinct_ids_natively() {
        let a = RequestContext::from_headers(&http::HeaderMap::new());
        let b = RequestContext::from_headers(&http::HeaderMap::new());
        assert!(a.request_id().starts_with("req_"));
        assert_eq!(a.request_id().len(), 36);
        assert_ne!(a.request_id(), b.request_id());
    }

    #[test]
    fn clock_is_after_2024() {
        assert!(now_unix_millis() > 1_704_067_200_000);
    }
}
