//! The authorization matrix: every endpoint × {no token, malformed token,
//! unknown token, revoked token, another organization's token, a token
//! without the scope} answers the right status in the envelope, and none of
//! those requests changes anything.

use serde_json::{Value, json};

use crate::api::{Client, id, version_body};
use crate::harness::{Options, Runtime, app_manifest};

/// What a token of another organization gets from an endpoint.
#[derive(Clone, Copy, Debug)]
enum OtherOrg {
    /// The endpoint names a resource of ours: it does not exist for them.
    NotFound(&'static str),
    /// Organization creation: only the default organization's admins.
    Forbidden,
}

struct Endpoint {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// The scope it needs; `None` for endpoints any valid token may call.
    scope: Option<&'static str>,
    /// `None` for endpoints where another organization's token simply acts
    /// in its own organization (lists, creation, "current").
    other_org: Option<OtherOrg>,
}

fn endpoint(method: &'static str, path: String, scope: Option<&'static str>) -> Endpoint {
    Endpoint {
        method,
        path,
        body: None,
        scope,
        other_org: None,
    }
}

#[test]
fn every_endpoint_refuses_bad_tokens_and_missing_scopes() {
    let hooks = "http://127.0.0.1:9";
    let rt =
        Runtime::start(Options::new(app_manifest()).env("SPIN_VARIABLE_WEBHOOK_ORIGIN", hooks))
            .unwrap_or_else(|f| panic!("{}", f.stderr));
    let admin = Client::admin(&rt);
    let pid = id(&admin.create_prompt("guarded"));
    let created = admin.post("/api/v1/webhooks", &json!({"url": format!("{hooks}/a")}));
    assert_eq!(created.status, 201, "{}", created.body);
    let hook = id(&created.json());
    let v1 = id(&admin.save_version(&pid, &version_body("a", 0.2, &[], "v1")));
    let v2 = id(&admin.save_version(&pid, &version_body("b", 0.4, &[], "v2")));
    admin.promote(&pid, &v1);
    let (victim_token_id, _) = admin.mint("victim", &["prompts:read"]);
    let (revoked_id, revoked) = admin.mint("revoked", &["admin"]);
    assert_eq!(
        admin.delete(&format!("/api/v1/tokens/{revoked_id}")).status,
        200
    );
    let other_org = admin
        .post("/api/v1/organizations", &json!({"name": "Elsewhere"}))
        .json();
    let other_admin = other_org["token"]["token"].as_str().unwrap().to_owned();
    let execution = id(&admin
        .post(
            "/api/v1/gateway/execute",
            &json!({"promptId": pid, "model": "echo", "variables": {"question": "q"}}),
        )
        .json());

    let nf = |code| Some(OtherOrg::NotFound(code));
    let p = "PROMPT_NOT_FOUND";
    let endpoints = vec![
        endpoint("GET", "/api/v1/prompts".into(), Some("prompts:read")),
        Endpoint {
            body: Some(json!({"name": "New", "slug": "new-one"})),
            ..endpoint("POST", "/api/v1/prompts".into(), Some("prompts:write"))
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}"),
                Some("prompts:read"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "POST",
                format!("/api/v1/prompts/{pid}/archive"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "POST",
                format!("/api/v1/prompts/{pid}/unarchive"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/versions"),
                Some("prompts:read"),
            )
        },
        Endpoint {
            body: Some(version_body("c", 0.5, &[], "v3")),
            other_org: nf(p),
            ..endpoint(
                "POST",
                format!("/api/v1/prompts/{pid}/versions"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/versions/{v2}"),
                Some("prompts:read"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "POST",
                format!("/api/v1/prompts/{pid}/versions/{v2}/promote"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            // v1: by the time the admin makes this call (the last loop),
            // the row above has promoted v2.
            body: Some(json!({"versionId": v1, "percent": 30})),
            other_org: nf(p),
            ..endpoint(
                "POST",
                format!("/api/v1/prompts/{pid}/canary"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/canary"),
                Some("prompts:read"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "DELETE",
                format!("/api/v1/prompts/{pid}/canary?outcome=promote"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/watch"),
                Some("prompts:read"),
            )
        },
        Endpoint {
            body: Some(json!({"mode": "notify"})),
            other_org: nf(p),
            ..endpoint(
                "PUT",
                format!("/api/v1/prompts/{pid}/watch"),
                Some("prompts:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/compare?from={v1}&to={v2}"),
                Some("prompts:read"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/gateway/resolve?promptId={pid}"),
                Some("gateway:execute"),
            )
        },
        Endpoint {
            body: Some(json!({"promptId": pid, "model": "echo", "variables": {"question": "q"}})),
            other_org: nf(p),
            ..endpoint(
                "POST",
                "/api/v1/gateway/execute".into(),
                Some("gateway:execute"),
            )
        },
        Endpoint {
            body: Some(json!({"promptId": pid, "model": "echo", "variables": {"question": "q"}})),
            other_org: nf(p),
            ..endpoint(
                "POST",
                "/api/v1/gateway/stream".into(),
                Some("gateway:execute"),
            )
        },
        endpoint("GET", "/api/v1/audit".into(), Some("audit:read")),
        endpoint(
            "GET",
            format!("/api/v1/execution-logs?promptId={pid}"),
            Some("analytics:read"),
        ),
        Endpoint {
            other_org: nf("EXECUTION_LOG_NOT_FOUND"),
            ..endpoint(
                "GET",
                format!("/api/v1/execution-logs/{execution}"),
                Some("analytics:read"),
            )
        },
        endpoint("POST", "/api/v1/execution-logs/purge".into(), Some("admin")),
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/analytics?window=7d"),
                Some("analytics:read"),
            )
        },
        Endpoint {
            body: Some(json!({"score": 1})),
            other_org: nf("EXECUTION_LOG_NOT_FOUND"),
            ..endpoint(
                "POST",
                format!("/api/v1/executions/{execution}/feedback"),
                Some("feedback:write"),
            )
        },
        Endpoint {
            body: Some(json!({"items": [{"executionId": execution, "score": -1}]})),
            other_org: nf("EXECUTION_LOG_NOT_FOUND"),
            ..endpoint("POST", "/api/v1/feedback".into(), Some("feedback:write"))
        },
        Endpoint {
            body: Some(json!({"name": "tickets", "value": 2})),
            other_org: nf(p),
            ..endpoint(
                "POST",
                format!("/api/v1/prompts/{pid}/signals"),
                Some("feedback:write"),
            )
        },
        Endpoint {
            other_org: nf(p),
            ..endpoint(
                "GET",
                format!("/api/v1/prompts/{pid}/signals"),
                Some("analytics:read"),
            )
        },
        endpoint("GET", "/api/v1/webhooks".into(), Some("admin")),
        Endpoint {
            body: Some(json!({"url": format!("{hooks}/b")})),
            ..endpoint("POST", "/api/v1/webhooks".into(), Some("admin"))
        },
        Endpoint {
            other_org: nf("WEBHOOK_NOT_FOUND"),
            ..endpoint("GET", format!("/api/v1/webhooks/{hook}"), Some("admin"))
        },
        Endpoint {
            other_org: nf("WEBHOOK_NOT_FOUND"),
            ..endpoint(
                "GET",
                format!("/api/v1/webhooks/{hook}/deliveries"),
                Some("admin"),
            )
        },
        // After the reads of the same endpoint: the last loop deletes it.
        Endpoint {
            other_org: nf("WEBHOOK_NOT_FOUND"),
            ..endpoint("DELETE", format!("/api/v1/webhooks/{hook}"), Some("admin"))
        },
        endpoint("GET", "/api/v1/tokens".into(), Some("admin")),
        Endpoint {
            body: Some(json!({"name": "x", "scopes": ["prompts:read"]})),
            ..endpoint("POST", "/api/v1/tokens".into(), Some("admin"))
        },
        Endpoint {
            other_org: nf("TOKEN_NOT_FOUND"),
            ..endpoint(
                "GET",
                format!("/api/v1/tokens/{victim_token_id}"),
                Some("admin"),
            )
        },
        Endpoint {
            other_org: nf("TOKEN_NOT_FOUND"),
            ..endpoint(
                "DELETE",
                format!("/api/v1/tokens/{victim_token_id}"),
                Some("admin"),
            )
        },
        Endpoint {
            body: Some(json!({"name": "Sneaky"})),
            other_org: Some(OtherOrg::Forbidden),
            ..endpoint("POST", "/api/v1/organizations".into(), Some("admin"))
        },
        endpoint("GET", "/api/v1/tokens/current".into(), None),
        endpoint("GET", "/api/v1/organizations/current".into(), None),
    ];

    // One token per scope that holds every scope but the needed one (and
    // not admin), so a 403 can only come from that scope.
    let all = [
        "gateway:execute",
        "prompts:read",
        "prompts:write",
        "analytics:read",
        "audit:read",
        "feedback:write",
    ];
    let mut lacking = std::collections::BTreeMap::new();
    for needed in all.iter().chain(&["admin"]) {
        let scopes: Vec<&str> = all.iter().copied().filter(|s| s != needed).collect();
        lacking.insert(*needed, admin.mint(&format!("lacks {needed}"), &scopes).1);
    }
    let audit_before = admin.list_all("/api/v1/audit").len();

    let unknown = "phk_ffffffffffffffffffffffffffffffff".to_owned();
    for e in &endpoints {
        let call = |auth: Option<String>| {
            let body = e.body.as_ref().map(Value::to_string);
            let mut headers = vec![("Content-Type", "application/json".to_owned())];
            if let Some(a) = auth {
                headers.push(("Authorization", a));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            rt.request(e.method, &e.path, &headers, body.as_deref())
        };
        let what = format!("{} {}", e.method, e.path);
        for (case, auth) in [
            ("no token", None),
            ("basic auth", Some("Basic YWRtaW46YWRtaW4=".to_owned())),
            ("malformed", Some("Bearer phk_123".to_owned())),
            (
                "uppercase",
                Some(format!("Bearer {}", admin.token.to_uppercase())),
            ),
            ("unknown", Some(format!("Bearer {unknown}"))),
            ("revoked", Some(format!("Bearer {revoked}"))),
        ] {
            let res = call(auth);
            assert_eq!(res.status, 401, "{what} with {case}: {}", res.body);
            res.assert_envelope(401, "UNAUTHORIZED");
        }
        if let Some(scope) = e.scope {
            let res = call(Some(format!("Bearer {}", lacking[scope])));
            assert_eq!(res.status, 403, "{what} without {scope}: {}", res.body);
            let env = res.assert_envelope(403, "FORBIDDEN");
            assert!(env["message"].as_str().unwrap().contains(scope), "{env}");
        }
        match e.other_org {
            Some(OtherOrg::NotFound(code)) => {
                let res = call(Some(format!("Bearer {other_admin}")));
                assert_eq!(
                    res.status, 404,
                    "{what} from another organization: {}",
                    res.body
                );
                res.assert_envelope(404, code);
            }
            Some(OtherOrg::Forbidden) => {
                call(Some(format!("Bearer {other_admin}"))).assert_envelope(403, "FORBIDDEN");
            }
            None => {}
        }
    }

    // None of it changed anything here.
    assert_eq!(admin.list_all("/api/v1/audit").len(), audit_before);
    let prompt = admin.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(prompt["archived"], false);
    assert_eq!(prompt["productionVersionId"], v1.as_str());
    assert_eq!(
        admin
            .list_all(&format!("/api/v1/prompts/{pid}/versions"))
            .len(),
        2
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/tokens/{victim_token_id}"))
            .json()["revoked"],
        false
    );
    // Refused calls are not executions: nothing was logged for this
    // organization but the setup's call (the other organization's 404s are
    // its own calls).
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    let logged: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM execution_logs WHERE organization_id = 'org_default'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(logged, 1);
    for table in ["execution_feedback", "prompt_signals"] {
        let rows: i64 = db
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    // And the right token does get through everywhere (the matrix is not
    // passing because every call fails).
    for e in &endpoints {
        let res = admin.call(e.method, &e.path, e.body.as_ref());
        assert!(
            res.status < 300,
            "{} {} as admin: {}",
            e.method,
            e.path,
            res.body
        );
    }
}
