//! End-to-end tests: the real `prompthelm` binary serving real `.wasm`
//! components over HTTP on loopback, each test with its own state dir.

mod harness;

mod health;
mod host_interfaces;
mod request_failures;
mod routing;
mod startup;
