//! The gateway's deployment settings, from Spin variables (spin.toml
//! `[variables]`; `SPIN_VARIABLE_<NAME>` or a secret store in production).

use prompthelm_component_kit::{ApiError, variables};
use prompthelm_domain::gateway::MAX_TIMEOUT_MS;

/// Gateway calls a token may start per minute; 0 means no limit.
pub async fn rate_limit_per_minute() -> Result<u32, ApiError> {
    variables::number("gateway_rate_limit_per_minute", 0..=u32::MAX).await
}

/// The provider-call budget of a request without `timeoutMs`.
pub async fn default_timeout_ms() -> Result<u64, ApiError> {
    variables::number("gateway_default_timeout_ms", 1..=MAX_TIMEOUT_MS).await
}
