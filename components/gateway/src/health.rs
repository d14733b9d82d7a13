//! The health report of `GET /api/v1/gateway/health`: pure decisions.
//!
//! The handler runs two checks against the host (the `default` SQLite
//! database and the `default` key-value store) and passes their outcomes to
//! [`evaluate`], which decides the status and builds the body:
//!
//! - both ok: 200 with [`HealthBody`], `status: "ok"`;
//! - the key-value store failed: 200, `status: "degraded"` (the gateway
//!   serves from the database without its cache);
//! - the database failed: 503 with the error envelope,
//!   `SERVICE_UNAVAILABLE`.
//!
//! Both checks only read. What the answer says depends on who asks
//! ([`Audience`]): without an admin token only the verdict; with one, every
//! check's numbers and errors and the configuration warnings.

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

/// The overall verdict of a 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Overall {
    /// Every dependency answered.
    Ok,
    /// The key-value store failed: the gateway serves on from the database
    /// (the cache is only an accelerator), just slower. Still a 200, so an
    /// orchestrator does not restart replicas that can serve.
    Degraded,
}

/// Who asks, and so how much the answer says.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    /// No admin token: the verdict only, nothing about versions, schema,
    /// timings or errors.
    Public,
    /// An admin token: every check with its numbers and errors, and the
    /// deployment's configuration warnings.
    Admin { warnings: Vec<String> },
}

/// The 200 body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    /// `"ok"` or `"degraded"`.
    pub status: Overall,
    /// [`SERVICE`].
    pub service: &'static str,
    /// [`VERSION`]; admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    /// Per-dependency results; admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
    /// Configuration an operator should fix; admins only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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

/// Decides the answer from the two check outcomes. Only the database is
/// required: without it nothing works.
pub fn evaluate(
    sqlite: CheckOutcome<i64>,
    key_value: CheckOutcome<()>,
    audience: Audience,
    timestamp: &str,
    request_id: &str,
) -> Health {
    let sqlite_failed = sqlite.result.is_err();
    let overall = if key_value.result.is_ok() {
        Overall::Ok
    } else {
        Overall::Degraded
    };
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
    let warnings = match audience {
        Audience::Public => None,
        Audience::Admin { warnings } => Some(warnings),
    };
    if !sqlite_failed {
        return Health::Healthy(HealthBody {
            status: overall,
            service: SERVICE,
            version: warnings.is_some().then_some(VERSION),
            warnings: warnings.clone().unwrap_or_default(),
            checks: warnings.map(|_| checks),
            timestamp: timestamp.to_owned(),
            request_id: request_id.to_owned(),
        });
    }
    let envelope = |message: String| {
        ErrorEnvelope::new(
            StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            codes::SERVICE_UNAVAILABLE,
            message,
            timestamp,
            request_id,
        )
    };
    Health::Unhealthy(match warnings {
        None => envelope("health check failed: the database is not available".to_owned()),
        Some(_) => envelope(format!("health check failed: {}", failures.join("; ")))
            .with_details(serde_json::to_value(&checks).unwrap_or(serde_json::Value::Null)),
    })
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

/// The key the key-value check reads. Health is read-only: a probe every
/// few seconds from a load balancer must not write to the store.
pub const KV_PROBE_KEY: &str = "health:probe";

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

    fn failed<T>(error: &str) -> CheckOutcome<T> {
        CheckOutcome {
            latency_ms: 5,
            result: Err(error.to_owned()),
        }
    }

    fn admin() -> Audience {
        Audience::Admin {
            warnings: vec!["token_hash_key is the public default".into()],
        }
    }

    #[test]
    fn admins_get_the_documented_shape_with_checks_and_warnings() {
        let Health::Healthy(body) = evaluate(ok_sqlite(), ok_kv(), admin(), TS, RID) else {
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
                "warnings": ["token_hash_key is the public default"],
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
    fn the_public_gets_the_verdict_only() {
        let Health::Healthy(body) = evaluate(ok_sqlite(), ok_kv(), Audience::Public, TS, RID)
        else {
            panic!("expected healthy");
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"status": "ok", "service": "prompthelm", "timestamp": TS, "requestId": RID})
        );
        let Health::Unhealthy(env) = evaluate(
            failed("io error: /secret/path"),
            ok_kv(),
            Audience::Public,
            TS,
            RID,
        ) else {
            panic!("expected unhealthy");
        };
        assert_eq!(
            env.message,
            "health check failed: the database is not available"
        );
        assert_eq!(env.details, None);
    }

    #[test]
    fn sqlite_failure_is_503_with_details_for_admins() {
        let Health::Unhealthy(env) = evaluate(
            failed("io error: file is not a database"),
            ok_kv(),
            admin(),
            TS,
            RID,
        ) else {
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
        let Health::Unhealthy(env) = evaluate(
            failed("access denied"),
            failed("no such store"),
            admin(),
            TS,
            RID,
        ) else {
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
    fn a_failed_key_value_store_degrades_but_serves() {
        let Health::Healthy(body) = evaluate(ok_sqlite(), failed("down"), admin(), TS, RID) else {
            panic!("the gateway serves without its cache");
        };
        assert_eq!(body.status, Overall::Degraded);
        let checks = body.checks.unwrap();
        assert_eq!(checks.key_value.error.as_deref(), Some("down"));
        assert_eq!(checks.sqlite.schema_version, Some(1));
        let Health::Healthy(public) =
            evaluate(ok_sqlite(), failed("down"), Audience::Public, TS, RID)
        else {
            panic!("expected healthy");
        };
        assert_eq!(public.status, Overall::Degraded);
        assert!(public.checks.is_none());
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
}
