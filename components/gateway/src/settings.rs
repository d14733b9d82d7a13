//! The gateway's deployment settings, from Spin variables (spin.toml
//! `[variables]`; `SPIN_VARIABLE_<NAME>` or a secret store in production).

use prompthelm_component_kit::{ApiError, variables};
use prompthelm_domain::gateway::MAX_TIMEOUT_MS;
use prompthelm_store::auth::{PUBLIC_DEVELOPMENT_TOKEN_HASH_KEY, TOKEN_HASH_KEY_VARIABLE};

/// Gateway calls a token may start per minute; 0 means no limit.
pub async fn rate_limit_per_minute() -> Result<u32, ApiError> {
    variables::number("gateway_rate_limit_per_minute", 0..=u32::MAX).await
}

/// The provider-call budget of a request without `timeoutMs`.
pub async fn default_timeout_ms() -> Result<u64, ApiError> {
    variables::number("gateway_default_timeout_ms", 1..=MAX_TIMEOUT_MS).await
}

/// What an operator should change in this deployment's settings, for the
/// admin view of health. Today: `token_hash_key` left at the public
/// development default, which lets anyone who has a database copy test
/// guesses of tokens against their hashes.
pub async fn configuration_warnings() -> Vec<String> {
    let mut warnings = Vec::new();
    match variables::get(TOKEN_HASH_KEY_VARIABLE).await {
        Ok(key) if key == PUBLIC_DEVELOPMENT_TOKEN_HASH_KEY => warnings.push(format!(
            "{TOKEN_HASH_KEY_VARIABLE} is the public development default; set it to a long \
             random secret (SPIN_VARIABLE_TOKEN_HASH_KEY or a secret store)"
        )),
        Ok(_) => {}
        Err(e) => warnings.push(format!(
            "{TOKEN_HASH_KEY_VARIABLE} cannot be read: {}",
            e.message
        )),
    }
    warnings
}
