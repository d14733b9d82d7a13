//! A client of the control-plane API for tests: requests with a bearer
//! token and JSON bodies, plus the few calls most tests make (create a
//! prompt, save a version, promote, mint a token), each asserting success.

use serde_json::{Value, json};

use crate::harness::{Reply, Runtime};

pub struct Client<'a> {
    pub rt: &'a Runtime,
    pub token: String,
}

impl<'a> Client<'a> {
    /// The first admin token of a fresh runtime.
    pub fn admin(rt: &'a Runtime) -> Client<'a> {
        Client {
            rt,
            token: rt.admin_token(),
        }
    }

    pub fn with_token(&self, token: &str) -> Client<'a> {
        Client {
            rt: self.rt,
            token: token.to_owned(),
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let body = body.map(Value::to_string);
        self.rt.request(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_deref(),
        )
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None)
    }

    /// Creates a prompt; returns its JSON.
    pub fn create_prompt(&self, slug: &str) -> Value {
        let res = self.post(
            "/api/v1/prompts",
            &json!({"name": format!("Prompt {slug}"), "slug": slug}),
        );
        assert_eq!(res.status, 201, "{}", res.body);
        res.json()
    }

    /// Saves a version; returns its JSON.
    pub fn save_version(&self, prompt_id: &str, body: &Value) -> Value {
        let res = self.post(&format!("/api/v1/prompts/{prompt_id}/versions"), body);
        assert_eq!(res.status, 201, "{}", res.body);
        res.json()
    }

    /// Promotes a version; returns the promotion.
    pub fn promote(&self, prompt_id: &str, version_id: &str) -> Value {
        let res = self.call(
            "POST",
            &format!("/api/v1/prompts/{prompt_id}/versions/{version_id}/promote"),
            None,
        );
        assert_eq!(res.status, 200, "{}", res.body);
        res.json()
    }

    /// A gateway execute of a saved prompt (`by` is `promptSlug` or
    /// `promptId`) on the local `echo` model, with the `question` variable
    /// of [`version_body`].
    pub fn execute_echo(&self, by: &str, value: &str) -> Reply {
        self.post(
            "/api/v1/gateway/execute",
            &json!({by: value, "model": "echo", "variables": {"question": "where?"}}),
        )
    }

    /// The version id that served an [`Client::execute_echo`] (asserting
    /// it succeeded).
    pub fn served(&self, by: &str, value: &str) -> String {
        let res = self.execute_echo(by, value);
        assert_eq!(res.status, 200, "{}", res.body);
        res.json()["versionId"].as_str().unwrap().to_owned()
    }

    /// `GET /api/v1/gateway/resolve?<query>` (asserting it succeeded).
    pub fn resolve(&self, query: &str) -> Value {
        let res = self.get(&format!("/api/v1/gateway/resolve?{query}"));
        assert_eq!(res.status, 200, "{}", res.body);
        res.json()
    }

    /// Mints a token with `scopes`; returns (id, secret).
    pub fn mint(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let res = self.post("/api/v1/tokens", &json!({"name": name, "scopes": scopes}));
        assert_eq!(res.status, 201, "{}", res.body);
        let v = res.json();
        (
            v["id"].as_str().unwrap().to_owned(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Every row of a paginated list, following `nextCursor`.
    pub fn list_all(&self, path: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=2&cursor={c}"),
                None => format!("{path}{sep}limit=2"),
            };
            let res = self.get(&url);
            assert_eq!(res.status, 200, "{}", res.body);
            let page = res.json();
            rows.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return rows,
            }
        }
    }
}

/// A version body in the shape of the seed walkthrough's prompt.
pub fn version_body(system: &str, temperature: f64, stop: &[&str], message: &str) -> Value {
    json!({
        "system": system,
        "user": "Customer asks: {{question}}",
        "variables": [{"name": "question", "type": "string", "required": true}],
        "model": "gpt-4o-mini",
        "temperature": temperature,
        "maxTokens": 400,
        "stopSequences": stop,
        "message": message,
    })
}

/// The `field` of each problem in a 422 envelope, in order.
pub fn error_fields(envelope: &Value) -> Vec<&str> {
    envelope["details"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no details.errors in {envelope}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// `s` percent-encoded for a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
