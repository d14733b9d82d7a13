//! The health report of `GET /api/v1/gateway/health`: pure decisions.
//!
//! The handler runs two checks against the host (the `default` SQLite
//! database and the `default` key-value store) and passes their outcomes to
//! [`evaluate`], which decides the status and builds the body:
//!
//! - both ok: 200 with [`HealthBody`];
//! - either failed: 503 with the error envelope, `SERVICE_UNAVAILABLE`, a
//!   message naming each failed check and why, and `details` holding the same
//!   `checks` object as the 200 body.

use prompthelm_component_kit::{ErrorEnvelope, StatusCode, codes};
use serde::Serialize;
use spin_sdk::sqlite::Value;

/// The service name reported by the health endpoint.
pub const SERVICE: &str = "prompthelm";

/// This component's version (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A real query: the schema version from the migrations table the runtime
/// maintains. Fails if the database is not one of ours.
pub const SCHEMA_VERSION_QUERY: &str = "SELECT MAX(version) FROM _prompthelm_migrations";

/// What one check produced, and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome<T> {
    /// Wall time of the check, in milliseconds.
    pub latency_ms: u64,
    /// The check's value, or why it failed (human-readable).
    pub result: Result<T, String>,
}

/// `"ok"` or `"error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The dependency answered correctly.
    Ok,
    /// It did not; see `error`.
    Error,
}

/// One entry of `checks`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// Whether the check passed.
    pub status: CheckStatus,
    /// SQLite only: the highest applied migration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the check took.
    pub latency_ms: u64,
}

/// The `checks` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checks {
    /// The `default` SQLite database.
    pub sqlite: CheckReport,
    /// The `default` key-value store.
    pub key_value: CheckReport,
}

/// The 200 body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    /// Always `"ok"`.
    pub status: CheckStatus,
    /// [`SERVICE`].
    pub service: &'static str,
    /// [`VERSION`].
    pub version: &'static str,
    /// Per-dependency results.
    pub checks: Checks,
    /// When the request arrived.
    pub timestamp: String,
    /// The request id (also in `X-Request-Id`).
    pub request_id: String,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// 200 with this body.
    Healthy(HealthBody),
    /// 503 with this envelope.
    Unhealthy(ErrorEnvelope),
}

/// Decides the answer from the two check outcomes.
pub fn evaluate(
    sqlite: CheckOutcome<i64>,
    key_value: CheckOutcome<()>,
    timestamp: &str,
    request_id: &str,
) -> Health {
    let mut failures = Vec::new();
    if let Err(e) = &sqlite.result {
        failures.push(format!("sqlite: {e}"));
    }
    if let Err(e) = &key_value.result {
        failures.push(format!("keyValue: {e}"));
    }
    let checks = Checks {
        sqlite: report(sqlite.latency_ms, sqlite.result.map(Some)),
        key_value: report(key_value.latency_ms, key_value.result.map(|()| None)),
    };
    if failures.is_empty() {
        return Health::Healthy(HealthBody {
            status: CheckStatus::Ok,
            service: SERVICE,
            version: VERSION,
            checks,
            timestamp: timestamp.to_owned(),
            request_id: request_id.to_owned(),
        });
    }
    let details = serde_json::to_value(&checks).unwrap_or(serde_json::Value::Null);
    Health::Unhealthy(
        ErrorEnvelope::new(
            StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            codes::SERVICE_UNAVAILABLE,
            format!("health check failed: {}", failures.join("; ")),
            timestamp,
            request_id,
        )
        .with_details(details),
    )
}

fn report(latency_ms: u64, result: Result<Option<i64>, String>) -> CheckReport {
    match result {
        Ok(schema_version) => CheckReport {
            status: CheckStatus::Ok,
            schema_version,
            error: None,
            latency_ms,
        },
        Err(error) => CheckReport {
            status: CheckStatus::Error,
            schema_version: None,
            error: Some(error),
            latency_ms,
        },
    }
}

/// Reads the schema version from the first column of the first row of
/// [`SCHEMA_VERSION_QUERY`]. `MAX` over an empty table is NULL: no
/// migration applied means the gateway cannot work, so that is a failure.
pub fn schema_version(value: Option<&Value>) -> Result<i64, String> {
    match value {
        Some(Value::Integer(v)) => Ok(*v),
        Some(Value::Text(t)) => t
            .trim()
            .parse()
            .map_err(|_| format!("unexpected schema version {t:?}")),
        None | Some(Value::Null) => Err("no migrations applied".to_owned()),
        Some(other) => Err(format!("unexpected schema version {other:?}")),
    }
}

/// The key the key-value check writes, reads back and deletes; unique per
/// request so concurrent health checks do not interfere.
pub fn kv_probe_key(request_id: &str) -> String {
    format!("health:probe:{request_id}")
}

/// Whether the value read back is the one written.
pub fn kv_read_back_matches(written: &[u8], read: Option<&[u8]>) -> Result<(), String> {
    match read {
        Some(read) if read == written => Ok(()),
        Some(_) => Err("value read back differs from the value written".to_owned()),
        None => Err("value written was not found on read-back".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TS: &str = "2026-11-24T10:00:00.123Z";
    const RID: &str = "req_00112233445566778899aabbccddeeff";

    fn ok_sqlite() -> CheckOutcome<i64> {
        CheckOutcome {
            latency_ms: 3,
            result: Ok(1),
        }
    }

    fn ok_kv() -> CheckOutcome<()> {
        CheckOutcome {
            latency_ms: 2,
            result: Ok(()),
        }
    }

    #[test]
    fn healthy_body_has_the_documented_shape() {
        let Health::Healthy(body) = evaluate(ok_sqlite(), ok_kv(), TS, RID) else {
            panic!("expected healthy");
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({
                "status": "ok",
                "service": "prompthelm",
                "version": env!("CARGO_PKG_VERSION"),
                "checks": {
                    "sqlite": {"status": "ok", "schemaVersion": 1, "latencyMs": 3},
                    "keyValue": {"status": "ok", "latencyMs": 2}
                },
                "timestamp": TS,
                "requestId": RID
            })
        );
        // Key order on the wire follows the spec.
        assert!(
            serde_json::to_string(&body)
                .unwrap()
                .starts_with(r#"{"status":"ok","service":"prompthelm","version":"#)
        );
    }

    #[test]
    fn sqlite_failure_is_503_with_details() {
        let sqlite = CheckOutcome {
            latency_ms: 5,
            result: Err("io error: file is not a database".to_owned()),
        };
        let Health::Unhealthy(env) = evaluate(sqlite, ok_kv(), TS, RID) else {
            panic!("expected unhealthy");
        };
        assert_eq!(env.status_code, 503);
        assert_eq!(env.error_code, "SERVICE_UNAVAILABLE");
        assert_eq!(
            env.message,
            "health check failed: sqlite: io error: file is not a database"
        );
        assert_eq!(env.timestamp, TS);
        assert_eq!(env.request_id, RID);
        assert_eq!(
            env.details,
            Some(json!({
                "sqlite": {"status": "error", "error": "io error: file is not a database", "latencyMs": 5},
                "keyValue": {"status": "ok", "latencyMs": 2}
            }))
        );
    }

    #[test]
    fn both_failures_are_named() {
        let sqlite = CheckOutcome {
            latency_ms: 0,
            result: Err("access denied".to_owned()),
        };
        let kv = CheckOutcome {
            latency_ms: 1,
            result: Err("no such store".to_owned()),
        };
        let Health::Unhealthy(env) = evaluate(sqlite, kv, TS, RID) else {
            panic!("expected unhealthy");
        };
        assert_eq!(
            env.message,
            "health check failed: sqlite: access denied; keyValue: no such store"
        );
        let details = env.details.unwrap();
        assert_eq!(details["sqlite"]["status"], "error");
        assert_eq!(details["keyValue"]["error"], "no such store");
    }

    #[test]
    fn kv_failure_alone() {
        let kv = CheckOutcome {
            latency_ms: 1,
            result: Err("access denied".to_owned()),
        };
        let Health::Unhealthy(env) = evaluate(ok_sqlite(), kv, TS, RID) else {
            panic!("expected unhealthy");
        };
        assert_eq!(env.message, "health check failed: keyValue: access denied");
        assert_eq!(env.details.unwrap()["sqlite"]["schemaVersion"], 1);
    }

    #[test]
    fn schema_version_from_query_value() {
        assert_eq!(schema_version(Some(&Value::Integer(7))), Ok(7));
        assert_eq!(schema_version(Some(&Value::Text(" 3".into()))), Ok(3));
        assert_eq!(
            schema_version(Some(&Value::Null)),
            Err("no migrations applied".into())
        );
        assert_eq!(schema_version(None), Err("no migrations applied".into()));
        assert!(schema_version(Some(&Value::Real(1.5))).is_err());
        assert!(schema_version(Some(&Value::Text("x".into()))).is_err());
    }

    #[test]
    fn kv_probe_key_and_read_back() {
        assert_eq!(kv_probe_key("req_1"), "health:probe:req_1");
        assert_eq!(kv_read_back_matches(b"a", Some(b"a")), Ok(()));
        assert!(kv_read_back_matches(b"a", Some(b"b")).is_err());
        assert!(kv_read_back_matches(b"a", None).is_err());
    }
}
