//! The control plane end to end: prompts, versions, promote, compare,
//! tokens and the audit log, on the real components.

use serde_json::{Value, json};

use crate::api::{Client, id, version_body};
use crate::harness::{Flavor, Options, Runtime, app_manifest};

const GOOD_SYSTEM: &str = "You are a support agent.\nAnswer in JSON.";
const BAD_SYSTEM: &str = "You are a support agent.\nAnswer in JSON, be creative.";

fn promotes(api: &Client, prompt_id: &str) -> Vec<Value> {
    api.list_all(&format!(
        "/api/v1/audit?action=prompt.promote&promptId={prompt_id}"
    ))
}

fn resolve(api: &Client, query: &str) -> Value {
    let res = api.get(&format!("/api/v1/gateway/resolve?{query}"));
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()
}

/// `../shared/seed/rolling-back-a-prompt.txt`, through the API.
#[test]
fn seed_walkthrough_rollback_is_an_audited_revert_and_loses_nothing() {
    seed_walkthrough(&Runtime::app());
}

#[test]
fn seed_walkthrough_under_spin() {
    if let Some(spin) = Flavor::spin() {
        seed_walkthrough(&spin.app());
    }
}

fn seed_walkthrough(rt: &Runtime) {
    let api = Client::admin(rt);
    let prompt = api.create_prompt("support-reply");
    let pid = id(&prompt);
    let good = api.save_version(&pid, &version_body(GOOD_SYSTEM, 0.2, &[], "baseline"));
    let gid = id(&good);
    assert_eq!(good["version"], "1.0.0");
    let first = api.promote(&pid, &gid);
    assert_eq!(first["changed"], true);
    assert_eq!(first["revert"], false);
    assert_eq!(first["previousVersionId"], Value::Null);

    // The bad promotion: higher temperature and a stop sequence that cuts JSON.
    let bad = api.save_version(
        &pid,
        &version_body(BAD_SYSTEM, 0.8, &["}"], "more creative"),
    );
    let bid = id(&bad);
    assert_eq!(bad["version"], "1.1.0");
    let promoted = api.promote(&pid, &bid);
    assert_eq!(promoted["previousVersionId"], gid.as_str());
    assert_eq!(promoted["revert"], false);
    assert_eq!(
        resolve(&api, "promptSlug=support-reply")["version"]["id"],
        bid.as_str()
    );

    // Step 2: the versions tab: chronological, production marked, last promotions.
    let versions = api.list_all(&format!("/api/v1/prompts/{pid}/versions"));
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["id"], gid.as_str());
    assert_eq!(versions[1]["isProduction"], true);
    assert!(versions[0]["lastPromotedAt"].is_string());

    // Step 3: promote the previous version back: the exact call of the seed.
    let res = rt.request(
        "POST",
        &format!("/api/v1/prompts/{pid}/versions/{gid}/promote"),
        &[("Authorization", &format!("Bearer {}", api.token))],
        None,
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let rollback = res.json();
    assert_eq!(rollback["changed"], true);
    assert_eq!(rollback["revert"], true);
    assert_eq!(rollback["previousVersionId"], bid.as_str());
    assert_eq!(rollback["versionId"], gid.as_str());
    let audit_id = rollback["auditEntryId"].as_str().unwrap();

    // The audit log says it was a revert, newest first.
    let entries = promotes(&api, &pid);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["id"], audit_id);
    assert_eq!(entries[0]["details"]["revert"], true);
    assert_eq!(entries[0]["details"]["previousVersionId"], bid.as_str());
    assert_eq!(entries[0]["actorType"], "api_token");
    assert_eq!(entries[1]["details"]["revert"], false);
    assert_eq!(entries[2]["details"]["revert"], false);

    // The next gateway resolve is the restored version, from the cache.
    let resolved = resolve(&api, &format!("promptId={pid}"));
    assert_eq!(resolved["version"]["id"], gid.as_str());
    assert_eq!(resolved["cache"], "hit");

    // Step 5: compare names the temperature and the stop sequence.
    let cmp = api.get(&format!(
        "/api/v1/prompts/{pid}/compare?from={bid}&to={gid}"
    ));
    assert_eq!(cmp.status, 200, "{}", cmp.body);
    let cmp = cmp.json();
    let params: Vec<&str> = cmp["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["temperature", "stopSequences"]);
    assert_eq!(cmp["parameters"][0]["from"], 0.8);
    assert_eq!(cmp["parameters"][0]["to"], 0.2);
    assert_eq!(cmp["system"]["changed"], true);
    assert_eq!(cmp["user"]["changed"], false);

    // No version is ever lost; the bad one can be re-promoted later.
    let versions = api.list_all(&format!("/api/v1/prompts/{pid}/versions"));
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["id"], bid.as_str());
    assert_eq!(versions[1]["isProduction"], false);
    assert_eq!(versions[0]["isProduction"], true);
    let again = api.promote(&pid, &bid);
    assert_eq!(again["revert"], true);

    // Promoting what is already production is a no-op that says so.
    let noop = api.promote(&pid, &bid);
    assert_eq!(noop["changed"], false);
    assert_eq!(noop["auditEntryId"], Value::Null);
    assert_eq!(promotes(&api, &pid).len(), 4);
}

#[test]
fn version_numbers_follow_the_variable_schema() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("numbering"));
    let var =
        |name: &str, required: bool| json!({"name": name, "type": "string", "required": required});
    let save = |vars: Vec<Value>| {
        api.save_version(
            &pid,
            &json!({"user": "hi", "variables": vars, "model": "echo"}),
        )
    };
    assert_eq!(save(vec![var("a", true)])["version"], "1.0.0");
    assert_eq!(
        save(vec![var("a", true), var("b", false)])["version"],
        "1.1.0"
    );
    assert_eq!(
        save(vec![var("a", true), var("b", false), var("c", true)])["version"],
        "2.0.0"
    );
    let last = save(vec![var("a", true), var("c", true)]);
    assert_eq!(last["version"], "3.0.0");
    assert_eq!(last["isDevelopment"], true);

    let detail = api.get(&format!("/api/v1/prompts/{pid}")).json();
    assert_eq!(detail["developmentVersion"]["id"], last["id"]);
    assert_eq!(detail["productionVersion"], Value::Null);
    let versions = api.list_all(&format!("/api/v1/prompts/{pid}/versions"));
    let numbers: Vec<&str> = versions
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["1.0.0", "1.1.0", "2.0.0", "3.0.0"]);
    let dev = resolve(&api, &format!("promptId={pid}&environment=development"));
    assert_eq!(dev["version"]["version"], "3.0.0");
    assert_eq!(dev["cache"], "bypass");
    let none = api.get(&format!("/api/v1/gateway/resolve?promptId={pid}"));
    none.assert_envelope(409, "NO_VERSION_IN_ENVIRONMENT");
}

#[test]
fn invalid_input_gets_every_problem_and_stores_nothing() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("validated"));
    let path = format!("/api/v1/prompts/{pid}/versions");
    let res = api.post(
        &path,
        &json!({
            "system": "Hi {{name}}",
            "user": "{{ topic }}",
            "variables": [{"name": "9lives", "type": "string"}, {"name": "topic", "type": "number", "default": "many"}],
            "model": "",
            "temperature": 3,
            "topP": 0,
            "stopSequences": [""],
        }),
    );
    let env = res.assert_envelope(422, "VALIDATION_ERROR");
    let problems: Vec<(String, String)> = env["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("system", "UNDECLARED_VARIABLE"),
        ("variables[0].name", "INVALID_FORMAT"),
        ("variables[1].default", "TYPE_MISMATCH"),
        ("model", "REQUIRED"),
        ("temperature", "OUT_OF_RANGE"),
        ("topP", "OUT_OF_RANGE"),
        ("stopSequences[0]", "REQUIRED"),
    ] {
        assert!(
            problems
                .iter()
                .any(|(f, c)| (f.as_str(), c.as_str()) == expected),
            "{expected:?} missing from {problems:?}"
        );
    }

    for (body, needle) in [
        ("{", "not valid"),
        ("", "empty"),
        (
            r#"{"user": "x", "model": "echo", "temprature": 1}"#,
            "unknown field",
        ),
        (
            r#"{"user": "x", "model": "echo", "temperature": "hot"}"#,
            "invalid type",
        ),
    ] {
        let res = rt.request(
            "POST",
            &path,
            &[("Authorization", &format!("Bearer {}", api.token))],
            Some(body),
        );
        let env = res.assert_envelope(400, "VALIDATION_ERROR");
        assert!(env["message"].as_str().unwrap().contains(needle), "{env}");
    }
    let bad_prompt = api.post(
        "/api/v1/prompts",
        &json!({"name": "", "slug": "Not A Slug"}),
    );
    let env = bad_prompt.assert_envelope(422, "VALIDATION_ERROR");
    assert_eq!(
        env["details"]["errors"].as_array().unwrap().len(),
        2,
        "{env}"
    );

    // Nothing half-written: no version, no audit entry for one.
    assert!(api.list_all(&path).is_empty());
    assert!(
        api.list_all("/api/v1/audit?action=prompt.version.create")
            .is_empty()
    );
    assert_eq!(api.list_all("/api/v1/prompts").len(), 1);
}

#[test]
fn slugs_are_unique_per_organization_and_unknown_things_are_404() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("taken"));
    api.post(
        "/api/v1/prompts",
        &json!({"name": "Again", "slug": "taken"}),
    )
    .assert_envelope(409, "SLUG_TAKEN");

    let other = api.post("/api/v1/organizations", &json!({"name": "Other Co"}));
    assert_eq!(other.status, 201, "{}", other.body);
    let other = api.with_token(other.json()["token"]["token"].as_str().unwrap());
    other.create_prompt("taken");

    api.get("/api/v1/prompts/prm_00000000000000000000000000000000")
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    // A prompt id that looks like an action is still just an id.
    api.get("/api/v1/prompts/archive")
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    api.get(&format!("/api/v1/prompts/{pid}/versions/ver_0000"))
        .assert_envelope(404, "VERSION_NOT_FOUND");
    api.call(
        "POST",
        &format!("/api/v1/prompts/{pid}/versions/nope/promote"),
        None,
    )
    .assert_envelope(404, "VERSION_NOT_FOUND");
    api.get(&format!("/api/v1/prompts/{pid}/compare?from=a"))
        .assert_envelope(400, "VALIDATION_ERROR");
    api.get("/api/v1/prompts?limt=1")
        .assert_envelope(400, "VALIDATION_ERROR");
    api.get("/api/v1/prompts?cursor=zzz")
        .assert_envelope(400, "VALIDATION_ERROR");
    api.get("/api/v1/audit?from=yesterday")
        .assert_envelope(400, "VALIDATION_ERROR");
    api.call("PUT", "/api/v1/prompts", None)
        .assert_envelope(405, "METHOD_NOT_ALLOWED");
    // A version of another prompt is not this prompt's version.
    let other_pid = id(&api.create_prompt("second"));
    let vid = id(&api.save_version(&other_pid, &version_body(GOOD_SYSTEM, 0.2, &[], "x")));
    api.call(
        "POST",
        &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
        None,
    )
    .assert_envelope(404, "VERSION_NOT_FOUND");
}

#[test]
fn archived_prompts_stay_readable_and_cannot_change_or_resolve() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("to-archive"));
    let vid = id(&api.save_version(&pid, &version_body(GOOD_SYSTEM, 0.2, &[], "v1")));
    api.promote(&pid, &vid);
    assert_eq!(resolve(&api, "promptSlug=to-archive")["cache"], "hit");

    let res = api.call("POST", &format!("/api/v1/prompts/{pid}/archive"), None);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["archived"], true);
    assert_eq!(
        api.get(&format!("/api/v1/prompts/{pid}")).json()["archived"],
        true
    );
    assert!(api.list_all("/api/v1/prompts").is_empty());
    assert_eq!(
        api.list_all("/api/v1/prompts?includeArchived=true").len(),
        1
    );
    api.get("/api/v1/gateway/resolve?promptSlug=to-archive")
        .assert_envelope(409, "PROMPT_ARCHIVED");
    api.post(
        &format!("/api/v1/prompts/{pid}/versions"),
        &version_body(GOOD_SYSTEM, 0.3, &[], "v2"),
    )
    .assert_envelope(409, "PROMPT_ARCHIVED");
    api.call(
        "POST",
        &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
        None,
    )
    .assert_envelope(409, "PROMPT_ARCHIVED");

    let res = api.call("POST", &format!("/api/v1/prompts/{pid}/unarchive"), None);
    assert_eq!(res.json()["archived"], false);
    assert_eq!(
        resolve(&api, "promptSlug=to-archive")["version"]["id"],
        vid.as_str()
    );
    let actions: Vec<String> = api
        .list_all(&format!("/api/v1/audit?promptId={pid}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "prompt.unarchive",
            "prompt.archive",
            "prompt.promote",
            "prompt.version.create",
            "prompt.create"
        ]
    );
}

#[test]
fn tokens_show_their_secret_once_and_revocation_is_immediate() {
    let rt = Runtime::app();
    let admin = Client::admin(&rt);
    let res = admin.post(
        "/api/v1/tokens",
        &json!({"name": "ci", "scopes": ["prompts:read", "prompts:read"]}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let minted = res.json();
    let secret = minted["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("phk_") && secret.len() == 36, "{secret}");
    assert_eq!(minted["scopes"], json!(["prompts:read"]));
    assert_eq!(minted["prefix"], &secret[..8]);

    let listed = admin.list_all("/api/v1/tokens");
    assert_eq!(listed.len(), 2);
    let listed_text = serde_json::to_string(&listed).unwrap();
    assert!(!listed_text.contains(&secret[4..]), "{listed_text}");
    assert!(listed.iter().all(|t| t.get("token").is_none()));

    let ci = admin.with_token(&secret);
    let me = ci.get("/api/v1/tokens/current").json();
    assert_eq!(me["id"], minted["id"]);
    assert_eq!(me["organization"]["id"], "org_default");
    assert_eq!(ci.get("/api/v1/prompts").status, 200);
    ci.get("/api/v1/tokens").assert_envelope(403, "FORBIDDEN");

    let tid = id(&minted);
    let revoked = admin.delete(&format!("/api/v1/tokens/{tid}"));
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.json()["revoked"], true);
    let env = ci
        .get("/api/v1/prompts")
        .assert_envelope(401, "UNAUTHORIZED");
    assert!(
        env["message"].as_str().unwrap().contains("revoked"),
        "{env}"
    );
    // Revoking again changes nothing.
    assert_eq!(admin.delete(&format!("/api/v1/tokens/{tid}")).status, 200);
    let actions: Vec<String> = admin
        .list_all("/api/v1/audit")
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["token.revoke", "token.create", "token.create"]);
    // The first entry is the runtime minting the first admin token, through
    // the app with the bootstrap token it lent the app for its first run.
    let first = &admin.list_all("/api/v1/audit?actorType=system")[0];
    assert_eq!(first["actor"], "bootstrap");
    assert_eq!(first["action"], "token.create");
    assert_eq!(
        first["details"]["name"],
        "first admin (created by prompthelm up)"
    );
}

#[test]
fn bootstrap_token_variable_is_an_admin_and_suppresses_the_first_token() {
    let bootstrap = "phk_0123456789abcdef0123456789abcdef";
    let rt = Runtime::probe(
        Options::new(app_manifest()).env("SPIN_VARIABLE_BOOTSTRAP_TOKEN", bootstrap),
    );
    // The routes are listed after where the token would be printed.
    let logs = rt.wait_for_log("Available routes:");
    assert!(!logs.contains("PROMPTHELM_API_KEY="), "{logs}");
    let api = Client {
        rt: &rt,
        token: bootstrap.to_owned(),
    };
    // Before any token exists, a 401 says how to get the first one (what a
    // fresh `spin up` needs), and names no secret.
    let stranger = api.with_token("phk_ffffffffffffffffffffffffffffffff");
    let refused = stranger
        .get("/api/v1/prompts")
        .assert_envelope(401, "UNAUTHORIZED");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("no API tokens yet") && message.contains("bootstrap_token"),
        "{message}"
    );
    assert!(!message.contains(bootstrap), "{message}");
    let me = api.get("/api/v1/tokens/current").json();
    assert_eq!(me["actorType"], "system");
    assert_eq!(me["scopes"], json!(["admin"]));
    let (_, secret) = api.mint("first", &["admin"]);
    let minted_by = api.list_all("/api/v1/audit?action=token.create");
    assert_eq!(minted_by[0]["actor"], "bootstrap");
    assert_eq!(minted_by[0]["actorType"], "system");
    assert_eq!(api.with_token(&secret).get("/api/v1/prompts").status, 200);
    // Once one exists, an unknown token is just that.
    let refused = stranger
        .get("/api/v1/prompts")
        .assert_envelope(401, "UNAUTHORIZED");
    assert_eq!(refused["message"], "unknown token");
}

#[test]
fn the_first_admin_token_is_created_once_and_survives_restarts() {
    let temp = tempfile::tempdir().unwrap();
    let kept = temp.path().join("state");
    let rt = Runtime::probe(Options::new(app_manifest()).state_dir(&kept));
    let token = rt.admin_token();
    rt.stop();
    let again = Runtime::probe(Options::new(app_manifest()).state_dir(&kept));
    assert!(
        !again.logs().contains("PROMPTHELM_API_KEY="),
        "{}",
        again.logs()
    );
    let api = Client { rt: &again, token };
    assert_eq!(api.get("/api/v1/tokens/current").status, 200);
}

#[test]
fn audit_entries_and_versions_cannot_be_changed_even_in_the_database() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("immutable"));
    api.save_version(&pid, &version_body(GOOD_SYSTEM, 0.2, &[], "v1"));
    let db = rusqlite::Connection::open(rt.state_dir.join("sqlite_db.db")).unwrap();
    for sql in [
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "UPDATE prompt_versions SET temperature = 1.5",
        "DELETE FROM prompt_versions",
    ] {
        let err = db.execute(sql, []).unwrap_err().to_string();
        assert!(
            err.contains("append-only")
                || err.contains("immutable")
                || err.contains("never deleted"),
            "{sql}: {err}"
        );
    }
}

#[test]
fn organizations_are_isolated() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    let pid = id(&api.create_prompt("private"));
    let vid = id(&api.save_version(&pid, &version_body(GOOD_SYSTEM, 0.2, &[], "v1")));
    let created = api
        .post("/api/v1/organizations", &json!({"name": "Tenant B"}))
        .json();
    let other = api.with_token(created["token"]["token"].as_str().unwrap());
    assert_eq!(
        other.get("/api/v1/organizations/current").json()["id"],
        created["organization"]["id"]
    );
    assert!(other.list_all("/api/v1/prompts").is_empty());
    other
        .get(&format!("/api/v1/prompts/{pid}"))
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    other
        .call(
            "POST",
            &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
            None,
        )
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    other
        .get("/api/v1/gateway/resolve?promptSlug=private")
        .assert_envelope(404, "PROMPT_NOT_FOUND");
    other
        .post("/api/v1/organizations", &json!({"name": "C"}))
        .assert_envelope(403, "FORBIDDEN");
    // Its audit log is empty (its creation is audited where the operator
    // acted); its token list has only its own first token.
    assert!(other.list_all("/api/v1/audit").is_empty());
    assert!(!api.list_all("/api/v1/audit").is_empty());
    assert_eq!(other.list_all("/api/v1/tokens").len(), 1);
}

#[test]
fn lists_paginate_with_cursors_that_stay_stable() {
    let rt = Runtime::app();
    let api = Client::admin(&rt);
    for i in 0..5 {
        api.create_prompt(&format!("p{i}"));
    }
    let first = api.get("/api/v1/prompts?limit=2").json();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    // A prompt created meanwhile does not shift the pages not yet read.
    api.create_prompt("late");
    let slugs: Vec<String> = api
        .list_all("/api/v1/prompts")
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slugs, ["p0", "p1", "p2", "p3", "p4", "late"]);
    let second = api
        .get(&format!("/api/v1/prompts?limit=2&cursor={cursor}"))
        .json();
    assert_eq!(second["data"][0]["slug"], "p2");
    let searched = api.list_all("/api/v1/prompts?q=P3");
    assert_eq!(searched.len(), 1);
    api.get("/api/v1/prompts?limit=201")
        .assert_envelope(400, "VALIDATION_ERROR");
    // Audit is newest first.
    let audit = api.list_all("/api/v1/audit?action=prompt.create");
    assert_eq!(audit[0]["details"]["slug"], "late");
    assert_eq!(audit.len(), 6);
}
