//! What the PromptHelm benches share (this package's `prompthelm-bench` and
//! `benches/analytics`): building the release host and the components,
//! starting `prompthelm up` (and the real `spin up`) on loopback, error
//! answers in one line, and the machine line of a report.

pub mod build;
pub mod children;
pub mod envelope;
pub mod machine;
pub mod spin;
