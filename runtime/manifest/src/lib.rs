//! # prompthelm-manifest
//!
//! What the local Spin runtime needs to know before it starts any Wasm:
//! `spin.toml` ([`load_manifest`]), `runtime-config.toml`
//! ([`runtime_config::RuntimeConfig`]), HTTP routing and Spin's `spin-*`
//! request headers ([`routing`]), application variables and templates
//! ([`variables`]) and outbound allow-lists ([`outbound`]). Pure parsing and
//! logic; no wasmtime.
//!
//! Behaviour follows Spin's own code (`spinframework/spin`: `crates/manifest`,
//! `crates/routes`, `crates/trigger-http`, `crates/expressions`,
//! `crates/outbound-networking-config`, `crates/runtime-config`). Where the local
//! runtime does less than Spin, the input is rejected at startup with an error
//! that names the key; nothing is silently ignored.
//!
//! ## Supported `spin.toml` (manifest version 2)
//!
//! ```toml
//! spin_manifest_version = 2            # required, must be 2
//!
//! [application]
//! name = "app"                         # required
//! version = "0.1.0"                    # optional; also: description, authors
//! [application.trigger.http]
//! base = "/"                           # only "/"
//!
//! [variables]                          # names: lowercase, digits, single `_`
//! api_host = { default = "example.com" }
//! api_token = { required = true, secret = true }   # exactly one of default / required = true
//!                                                  # (`description` is accepted too)
//! [[trigger.http]]
//! route = "/api/..."                   # exact, `:name` segments, trailing `/...`
//! component = "gateway"                # a component id (no inline tables)
//!
//! [component.gateway]                  # id: kebab-case
//! source = "target/gateway.wasm"       # a local path, relative to spin.toml
//! description = "..."
//! allowed_outbound_hosts = ["https://{{ api_host }}"]
//! key_value_stores = ["default"]
//! sqlite_databases = ["default"]
//! [component.gateway.variables]
//! token = "Bearer {{ api_token }}"
//! [component.gateway.build]
//! command = "cargo build --release"    # one string
//! workdir = "components/gateway"       # optional, relative to spin.toml
//! watch = ["src/**/*.rs"]
//! ```
//!
//! ## Startup errors
//!
//! * any other key anywhere (`component.x.files`, `component.x.environment`,
//!   `component.x.ai_models`, `component.x.dependencies`, `component.x.tool`,
//!   `trigger.redis`, `trigger.http.executor`, ...), named by its full dotted key;
//! * URL/registry component sources, inline trigger components, private
//!   routes (`route = { private = true }`), an array `build.command`, a
//!   `base` other than `/`;
//! * a trigger naming an undeclared component; duplicate routes (also routes
//!   that differ only in spelling or parameter names: Spin would warn and let
//!   one win); malformed routes; routes under `/.well-known/spin/`;
//! * a `{{ name }}` template (component variables, `allowed_outbound_hosts`)
//!   naming an undeclared application variable; a malformed literal
//!   `allowed_outbound_hosts` entry;
//! * in the runtime config: any store type but `"spin"`, a missing `path`, any
//!   other key ([`runtime_config`]);
//! * at variable resolution: a required variable with no value, a
//!   `--variable` for an undeclared name ([`variables`]);
//! * in allow-lists: `self`, service chaining (`*.spin.internal`), lists
//!   ([`outbound`]).
//!
//! Secret variable values never appear in errors or `Debug` output.

mod ids;
mod manifest;
mod template;

pub mod outbound;
pub mod routing;
pub mod runtime_config;
pub mod variables;

pub use manifest::{
    AppManifest, BuildConfig, ComponentManifest, HttpTrigger, VariableDecl, load_manifest,
};
