//! Per-token rate limiting in fixed one-minute windows: the arithmetic. The
//! count itself lives in the database (`gateway_rate_windows`), incremented
//! atomically by the store, so every instance and host agrees on it.

/// The length of a window.
pub const WINDOW_MS: i64 = 60_000;

/// The first millisecond of the window `now_ms` falls in.
pub fn window_start(now_ms: i64) -> i64 {
    now_ms.div_euclid(WINDOW_MS) * WINDOW_MS
}

/// The verdict for one call, and the numbers the response headers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Calls per window.
    pub limit: u32,
    /// Calls left in this window after this one.
    pub remaining: u32,
    /// Whole seconds until the window ends (at least 1): the `Retry-After`.
    pub retry_after_secs: u64,
}

/// Decides the `calls`-th call (counting this one) of the window that
/// contains `now_ms`, under `limit` calls per window.
pub fn decide(calls: i64, limit: u32, now_ms: i64) -> Decision {
    let left_ms = window_start(now_ms) + WINDOW_MS - now_ms;
    Decision {
        allowed: calls <= i64::from(limit),
        limit,
        remaining: u32::try_from((i64::from(limit) - calls).max(0)).unwrap_or(0),
        retry_after_secs: u64::try_from((left_ms + 999) / 1000).unwrap_or(1).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_clock_minutes() {
        assert_eq!(window_start(0), 0);
        assert_eq!(window_start(59_999), 0);
        assert_eq!(window_start(60_000), 60_000);
        assert_eq!(window_start(1_764_000_123_456), 1_764_000_120_000);
    }

    #[test]
    fn the_limit_th_call_passes_and_the_next_waits_for_the_window_end() {
        let now = 1_764_000_120_000 + 45_500;
        assert_eq!(
            decide(3, 3, now),
            Decision {
                allowed: true,
                limit: 3,
                remaining: 0,
                retry_after_secs: 15
            }
        );
        let refused = decide(4, 3, now);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(decide(1, 3, now).remaining, 2);
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        assert_eq!(decide(9, 1, 60_000 - 1).retry_after_secs, 1);
        assert_eq!(decide(9, 1, 60_000).retry_after_secs, 60);
    }
}
