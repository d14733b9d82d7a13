//! End-to-end tests: the real `prompthelm` binary serving real `.wasm`
//! components over HTTP on loopback, each test with its own state dir.

mod api;
mod harness;
mod history;
mod redis;
mod stub;
mod timeline;
mod venv;

mod analytics;
mod authz;
mod cache_promise;
mod canary;
mod compatible_providers;
mod consistency;
mod console;
mod control_plane;
mod crash;
mod feedback;
mod gateway;
mod gateway_faults;
mod logs;
mod openai_compat;
mod provider_expect;
mod provider_paths;

mod health;
mod host_interfaces;
mod host_pools;
mod libsql;
mod replicas;
mod request_failures;
mod reuse_safety;
mod routing;
mod runtime_limits;
mod schema;
mod schemathesis;
mod sdk_contract;
mod spin_parity;
mod startup;
mod watch;
mod webhooks;
