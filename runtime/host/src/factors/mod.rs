//! Host capabilities ("factors", after Spin's runtime): one module per Spin
//! interface, each with its per-instance state and the WIT host trait impls.
//! Backends sit behind narrow traits so a production backend (libSQL, Redis)
//! can plug in later without touching the WIT glue.

pub mod key_value;
pub mod key_value_redis;
pub mod outbound_http;
pub mod sqlite;
pub mod sqlite_libsql;
pub mod variables;

/// Host bindings for the Spin interfaces in `wit/` (copied from spin-sdk 7).
///
/// Every interface error maps to its own generated type, so host functions
/// return `Result<T, Error>` and a backend failure never traps the guest.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "host",
        imports: { default: async | trappable },
        trappable_error_type: {
            "spin:sqlite/sqlite.error" => spin::sqlite::sqlite::Error,
            "spin:key-value/key-value.error" => spin::key_value::key_value::Error,
            "spin:variables/variables.error" => spin::variables::variables::Error,
        },
        with: {
            "spin:sqlite/sqlite.connection": crate::factors::sqlite::GuestConnection,
            "spin:key-value/key-value.store": crate::factors::key_value::GuestStore,
        },
    });
}
