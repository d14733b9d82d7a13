//! PromptHelm's domain logic.
//!
//! Invariant: this crate does no I/O. It does not read clocks, random
//! sources, the network, files or the environment; callers pass those values
//! in. That keeps it testable natively and fast, and lets both the Spin
//! components (wasm32-wasip2) and the local runtime host (native) share it.
//! Dependencies are small, pure crates that build for both targets: serde,
//! `similar` (line diffs), `hmac` + `sha2` (token hashes), `hex`, `time` (timestamp parsing),
//! `sqlparser` (the execution-log filter language), `url` (webhook URLs).

pub mod analytics;
pub mod auth;
pub mod canary;
pub mod compare;
pub mod envelope;
pub mod feedback;
pub mod gateway;
pub mod ids;
pub mod latency;
pub mod log_filter;
pub mod openai;
pub mod pagination;
pub mod rate_limit;
pub mod request_id;
pub mod requests;
pub mod rollup;
pub mod semver;
pub mod slug;
pub mod template;
pub mod time;
pub mod validation;
pub mod variables;
pub mod watch;
pub mod webhook;

pub use envelope::ErrorEnvelope;
