//! Spin variables (spin.toml `[variables]`; `SPIN_VARIABLE_<NAME>` or a
//! secret store in production), with a failure as a 500 naming the
//! variable: a component asking for a variable it was not granted is a
//! manifest bug.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::{ApiError, host_errors};

thread_local! {
    /// The variables this instance has read. A variable's value is the
    /// same for every request of the app (it is the deployment's setting,
    /// not the caller's), so a reused instance reads each one from the host
    /// once: the gateway reads about seven per call, each a host call. A
    /// value changed in a secret store reaches new instances, which Spin
    /// and `prompthelm up` start after at most 128 requests or 1 s idle
    /// (`--max-instance-reuse-count`, `--idle-instance-timeout`). Failures
    /// are not kept: they are read again.
    static READ: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Reads one of the component's variables.
pub async fn get(name: &str) -> Result<String, ApiError> {
    if let Some(value) = READ.with_borrow(|read| read.get(name).cloned()) {
        return Ok(value);
    }
    let value = spin_sdk::variables::get(name).await.map_err(|e| {
        ApiError::internal(format!(
            "variable {name} is not available to this component: {}",
            host_errors::variables(&e)
        ))
    })?;
    READ.with_borrow_mut(|read| read.insert(name.to_owned(), value.clone()));
    Ok(value)
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
