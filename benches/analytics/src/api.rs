//! The HTTP side: a bearer-token client for the host on loopback, and the
//! prompt, versions and promotions the bench sets up through the API.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use prompthelm_bench::envelope::describe_failure;
use serde_json::{Value, json};

/// The bench's prompt; each state dir is fresh, so the slug is free.
const PROMPT_SLUG: &str = "analytics-bench";
/// The model of every version; the generator prices its calls as this one.
pub const MODEL: &str = "gpt-4o-mini";

/// A client of one running host, authenticated with one token.
pub struct Api {
    agent: ureq::Agent,
    base_url: String,
    auth: String,
}

/// One answer: status, body, and the time from sending to the whole body.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

impl Answer {
    /// The body as JSON, or an error naming the request and the answer.
    pub fn json(&self, what: &str, expected: u16) -> anyhow::Result<Value> {
        if self.status != expected {
            bail!(
                "{what}: expected {expected}, got {}",
                describe_failure(self.status, &self.body)
            );
        }
        serde_json::from_str(&self.body)
            .with_context(|| format!("{what}: the answer is not JSON: {}", self.body))
    }
}

impl Api {
    pub fn new(base_url: &str, token: &str) -> Api {
        Api {
            // One keep-alive connection, reused by every request, as a
            // dashboard's client would.
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
            base_url: base_url.to_owned(),
            auth: format!("Bearer {token}"),
        }
    }

    /// `GET /api/v1{path}` with `query` percent-encoded.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let url = format!("{}/api/v1{path}", self.base_url);
        let started = Instant::now();
        let mut response = self
            .agent
            .get(&url)
            .header("authorization", &self.auth)
            .query_pairs(query.iter().copied())
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("GET {url}: reading the body"))?;
        Ok(Answer {
            status,
            body,
            elapsed: started.elapsed(),
        })
    }

    /// `POST /api/v1{path}` with a JSON body, or none.
    fn post(&self, path: &str, body: Option<Value>, expected: u16) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base_url);
        let request = self.agent.post(&url).header("authorization", &self.auth);
        let started = Instant::now();
        let sent = match body {
            Some(body) => request
                .content_type("application/json")
                .send(body.to_string()),
            None => request.send_empty(),
        };
        let mut response = sent.with_context(|| format!("POST {url}"))?;
        let answer = Answer {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string()?,
            elapsed: started.elapsed(),
        };
        answer.json(&format!("POST {url}"), expected)
    }
}

/// A saved version of the bench's prompt.
#[derive(Debug, Clone)]
pub struct VersionRef {
    pub id: String,
    /// Its semver, as the log rows carry it.
    pub label: String,
}

/// What the API set up, which the generated calls refer to.
#[derive(Debug, Clone)]
pub struct Setup {
    pub organization_id: String,
    pub prompt_id: String,
    /// Oldest first; the last one is the development version.
    pub versions: Vec<VersionRef>,
    /// `prompt.promote` audit entries written (the analytics markers).
    pub promotions: usize,
}

/// Creates the prompt, saves three versions, promotes each in turn and
/// then rolls production back to the second, so the audit log holds four
/// promotions, one of them a revert.
pub fn set_up(api: &Api) -> anyhow::Result<Setup> {
    let organization = api
        .get("/organizations/current", &[])?
        .json("GET /organizations/current", 200)?;
    let organization_id = string(&organization, "id")?;
    let prompt = api.post(
        "/prompts",
        Some(json!({"name": "Analytics bench", "slug": PROMPT_SLUG})),
        201,
    )?;
    let prompt_id = string(&prompt, "id")?;

    let mut versions = Vec::new();
    for (n, temperature) in [0.2, 0.5, 0.7].into_iter().enumerate() {
        let saved = api.post(
            &format!("/prompts/{prompt_id}/versions"),
            Some(json!({
                "system": format!("You are a support assistant (revision {}).", n + 1),
                "user": "Answer the customer {{name}}: {{question}}",
                "variables": [
                    {"name": "name", "type": "string", "required": true},
                    {"name": "question", "type": "string", "required": true},
                ],
                "model": MODEL,
                "temperature": temperature,
                "message": format!("revision {}", n + 1),
            })),
            201,
        )?;
        versions.push(VersionRef {
            id: string(&saved, "id")?,
            label: string(&saved, "version")?,
        });
    }
    let mut promotions = 0;
    for version in versions.iter().chain([&versions[1]]) {
        api.post(
            &format!("/prompts/{prompt_id}/versions/{}/promote", version.id),
            None,
            200,
        )?;
        promotions += 1;
    }
    Ok(Setup {
        organization_id,
        prompt_id,
        versions,
        promotions,
    })
}

fn string(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("answer without a string {key:?}: {v}"))
}
