//! The gateway's deployment settings, from Spin variables (spin.toml
//! `[variables]`; `SPIN_VARIABLE_<NAME>` or a secret store in production).

use prompthelm_component_kit::{ApiError, host_errors};
use prompthelm_domain::gateway::MAX_TIMEOUT_MS;

/// Reads one of the component's variables.
pub async fn variable(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).await.map_err(|e| {
        ApiError::internal(format!(
            "variable {name} could not be read: {}",
            host_errors::variables(&e)
        ))
    })
}

/// Gateway calls a token may start per minute; 0 means no limit.
pub async fn rate_limit_per_minute() -> Result<u32, ApiError> {
    let text = variable("gateway_rate_limit_per_minute").await?;
    text.trim().parse().map_err(|_| {
        ApiError::internal(format!(
            "variable gateway_rate_limit_per_minute must be a whole number, not {text:?}"
        ))
    })
}

/// The provider-call budget of a request without `timeoutMs`.
pub async fn default_timeout_ms() -> Result<u64, ApiError> {
    let text = variable("gateway_default_timeout_ms").await?;
    match text.trim().parse() {
        Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(ms),
        _ => Err(ApiError::internal(format!(
            "variable gateway_default_timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, not {text:?}"
        ))),
    }
}
