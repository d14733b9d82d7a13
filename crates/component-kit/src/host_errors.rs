//! Human-readable text for the errors of Spin's host interfaces, for error
//! messages and health reports (e.g. `io error: file is not a database`).
//!
//! wit-bindgen's `Display` for these types is just their `Debug`
//! (`Io("…")`), which is not something to put in front of a user.

use spin_sdk::{key_value, sqlite, variables};

/// Describes a `spin:sqlite` error.
pub fn sqlite(e: &sqlite::Error) -> String {
    match e {
        sqlite::Error::NoSuchDatabase => "no such database".into(),
        sqlite::Error::AccessDenied => "access denied".into(),
        sqlite::Error::InvalidConnection => "invalid connection".into(),
        sqlite::Error::DatabaseFull => "database full".into(),
        sqlite::Error::Io(msg) => format!("io error: {msg}"),
    }
}

/// Describes a `spin:key-value` error.
pub fn key_value(e: &key_value::Error) -> String {
    match e {
        key_value::Error::StoreTableFull => "store table full".into(),
        key_value::Error::NoSuchStore => "no such store".into(),
        key_value::Error::AccessDenied => "access denied".into(),
        key_value::Error::Other(msg) => format!("error: {msg}"),
    }
}

/// Describes a `spin:variables` error.
pub fn variables(e: &variables::Error) -> String {
    match e {
        variables::Error::InvalidName(msg) => format!("invalid variable name: {msg}"),
        variables::Error::Undefined(msg) => format!("undefined variable: {msg}"),
        variables::Error::Provider(msg) => format!("variables provider error: {msg}"),
        variables::Error::Other(msg) => format!("variables error: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors() {
        assert_eq!(
            sqlite(&sqlite::Error::Io("file is not a database".into())),
            "io error: file is not a database"
        );
        assert_eq!(sqlite(&sqlite::Error::AccessDenied), "access denied");
        assert_eq!(sqlite(&sqlite::Error::NoSuchDatabase), "no such database");
    }

    #[test]
    fn key_value_errors() {
        assert_eq!(key_value(&key_value::Error::NoSuchStore), "no such store");
        assert_eq!(
            key_value(&key_value::Error::Other("boom".into())),
            "error: boom"
        );
    }

    #[test]
    fn variables_errors() {
        assert_eq!(
            variables(&variables::Error::Undefined("x".into())),
            "undefined variable: x"
        );
    }
}
