//! PromptHelm's data access, shared by the components: the queries of the
//! schema in `migrations/`, authentication, the audit log, and the
//! key-value cache of production resolves.
//!
//! Modules depend one way: `db` and `schema` at the bottom; `auth`, `audit`;
//! `prompts`; `canary` (a prompt's sticky canary); `versions` (which checks
//! prompts, and ends a running canary on promote); `prompt_detail` (both);
//! `resolved` (the database's answer for an environment); `cache` (the KV
//! copy of it); `watch` (the regression watch, over versions, rollups and
//! cache); `caller` (the request preamble over `db` and `auth`). No
//! module imports one that imports it back.
//!
//! Rules every function here keeps:
//! - Every query is scoped to the caller's organization; a row of another
//!   organization is indistinguishable from a missing one (404).
//! - SQL text is fixed in the code; every value is a bound parameter.
//! - Changes and their audit entries are written in one transaction
//!   ([`db::Db::transaction`]); the audit log and versions are never
//!   updated or deleted.
//! - Errors are [`ApiError`](prompthelm_component_kit::ApiError)s, ready to
//!   become the envelope.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod caller;
pub mod canary;
pub mod db;
pub mod executions;
pub mod feedback;
pub mod prompt_detail;
pub mod prompts;
pub mod rate_limit;
pub mod resolved;
pub mod rollups;
pub mod schema;
pub mod tokens;
pub mod versions;
pub mod watch;
pub mod webhooks;

/// When, and under which request, a change happens: stamped on the rows
/// and audit entries it writes.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub request_id: &'a str,
    /// Milliseconds since the Unix epoch.
    pub now: i64,
}

impl<'a> From<&'a prompthelm_component_kit::RequestContext> for Stamp<'a> {
    /// A change made by this request, at the time it arrived.
    fn from(ctx: &'a prompthelm_component_kit::RequestContext) -> Self {
        Stamp {
            request_id: ctx.request_id(),
            now: ctx.received_at_unix_millis(),
        }
    }
}
