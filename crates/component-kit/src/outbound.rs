//! Outbound HTTP helpers shared by the gateway's provider calls and the
//! store's webhook deliveries.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures::future::{Either, select};

/// Runs `work` for at most `limit`: its output, or `None` when the limit
/// passed first (the work is dropped, which cancels a pending send).
pub async fn within<F: Future>(limit: Duration, work: F) -> Option<F::Output> {
    let work = pin!(work);
    let timer = pin!(spin_sdk::time::sleep(limit));
    match select(work, timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Whether a `wasi:http` send failed because the destination is not in the
/// component's `allowed_outbound_hosts` (the host's `HttpRequestDenied`).
pub fn is_denied(error: &impl std::fmt::Debug) -> bool {
    format!("{error:?}").contains("HttpRequestDenied")
}
