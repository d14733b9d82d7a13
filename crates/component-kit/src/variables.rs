//! Spin variables (spin.toml `[variables]`; `SPIN_VARIABLE_<NAME>` or a
//! secret store in production), with a failure as a 500 naming the
//! variable: a component asking for a variable it was not granted is a
//! manifest bug.

use crate::{ApiError, host_errors};

/// Reads one of the component's variables.
pub async fn get(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).await.map_err(|e| {
        ApiError::internal(format!(
            "variable {name} is not available to this component: {}",
            host_errors::variables(&e)
        ))
    })
}

/// Reads a variable holding a whole number in `range`.
pub async fn number<T>(name: &str, range: std::ops::RangeInclusive<T>) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let text = get(name).await?;
    match text.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ApiError::internal(format!(
            "variable {name} must be a whole number from {} to {}, not {text:?}",
            range.start(),
            range.end()
        ))),
    }
}
