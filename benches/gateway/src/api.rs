//! The requests the bench measures, and the prompt it sets up for them.

use std::io::{BufRead as _, BufReader};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use prompthelm_bench::children::PROVIDER_KEY;
use prompthelm_bench::envelope::describe_failure;
use serde_json::{Value, json};

use crate::load::{self, Outcome};

/// The bench's prompt; the state dir is fresh, so the slug is free.
pub const PROMPT_SLUG: &str = "bench-hello";
pub const MODEL: &str = "gpt-4o-mini";
/// What the prompt renders to with the bench's variable, so the direct call
/// asks the stub for the same completion the gateway does.
const RENDERED_USER: &str = "Say hello to x";

/// What a run loads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The stub provider without the gateway: the baseline.
    Direct,
    Execute,
    Stream,
    Resolve,
    /// The floor of the runtime: the probe fixture's echo, a component
    /// that reads the request and answers, with no host call.
    FloorEcho,
    /// The floor of a proxied call: the probe's `forward`, which sends the
    /// direct call's request to the stub through the host and answers
    /// what came back, with nothing else.
    FloorForward,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Direct => "direct to the stub: `POST /v1/chat/completions`",
            Target::Execute => "gateway: `POST /api/v1/gateway/execute`",
            Target::Stream => "gateway: `POST /api/v1/gateway/stream` (to the done frame)",
            Target::Resolve => "gateway: `GET /api/v1/gateway/resolve`",
            Target::FloorEcho => "floor: a component that answers at once (probe `echo`)",
            Target::FloorForward => {
                "floor: a component that forwards the direct request (probe `forward`)"
            }
        }
    }
}

/// Where the requests go and what they carry, built once.
pub struct Endpoints {
    stub_completions: String,
    direct_body: String,
    execute: String,
    stream: String,
    gateway_body: String,
    resolve: String,
    /// The probe fixture's endpoints, when the host serves the probe.
    floor_echo: String,
    floor_forward: String,
    /// `Bearer <admin token>`.
    gateway_auth: String,
    provider_auth: String,
}

impl Endpoints {
    pub fn new(stub_url: &str, host_url: &str, admin_token: &str) -> Endpoints {
        let gateway = format!("{host_url}/api/v1/gateway");
        Endpoints {
            stub_completions: format!("{stub_url}/v1/chat/completions"),
            direct_body:
                json!({"model": MODEL, "messages": [{"role": "user", "content": RENDERED_USER}]})
                    .to_string(),
            execute: format!("{gateway}/execute"),
            stream: format!("{gateway}/stream"),
            gateway_body: json!({"promptSlug": PROMPT_SLUG, "variables": {"name": "x"}})
                .to_string(),
            resolve: format!("{gateway}/resolve?promptSlug={PROMPT_SLUG}"),
            floor_echo: format!("{host_url}/probe/echo"),
            floor_forward: format!("{host_url}/probe/forward?url={stub_url}/v1/chat/completions"),
            gateway_auth: format!("Bearer {admin_token}"),
            provider_auth: format!("Bearer {PROVIDER_KEY}"),
        }
    }

    /// One measured request: its latency, or why it failed.
    pub fn call(&self, target: Target, agent: &ureq::Agent) -> Outcome {
        self.send(target, agent).map(|(latency, _)| latency)
    }

    /// One execute; answers its `Server-Timing` header.
    pub fn execute_server_timing(&self, agent: &ureq::Agent) -> Result<String, String> {
        let mut response = agent
            .post(&self.execute)
            .header("authorization", &self.gateway_auth)
            .content_type("application/json")
            .send(&self.gateway_body)
            .map_err(|e| format!("request failed: {e}"))?;
        let timing = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| "no Server-Timing header".to_owned())?;
        response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the body failed: {e}"))?;
        Ok(timing)
    }

    /// One request whose answer is checked for what a working endpoint
    /// returns, so a run never measures a fast error or a wrong path.
    pub fn check(&self, target: Target) -> Result<(), String> {
        let (_, body) = self.send(target, &load::agent())?;
        let answer: Value =
            serde_json::from_str(&body).map_err(|e| format!("answer is not JSON ({e}): {body}"))?;
        let ok = match target {
            Target::Direct => answer
                .pointer("/choices/0/message/content")
                .is_some_and(Value::is_string),
            Target::Execute => answer["output"].is_string() && answer["provider"] == "openai",
            Target::Stream => answer["type"] == "done" && answer["model"] == MODEL,
            Target::Resolve => answer.pointer("/version/model").is_some_and(|m| m == MODEL),
            Target::FloorEcho => answer["method"] == "POST",
            Target::FloorForward => answer
                .pointer("/choices/0/message/content")
                .is_some_and(Value::is_string),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("unexpected answer: {body}"))
        }
    }

    /// Sends one request. Returns the latency and the whole body, or for a
    /// stream the time to its done frame and that frame.
    fn send(&self, target: Target, agent: &ureq::Agent) -> Result<(Duration, String), String> {
        let started = Instant::now();
        let sent = match target {
            Target::Direct | Target::FloorForward => agent
                .post(if target == Target::Direct {
                    &self.stub_completions
                } else {
                    &self.floor_forward
                })
                .header("authorization", &self.provider_auth)
                .content_type("application/json")
                .send(&self.direct_body),
            Target::FloorEcho => agent
                .post(&self.floor_echo)
                .content_type("application/json")
                .send(&self.gateway_body),
            Target::Execute | Target::Stream => agent
                .post(if target == Target::Execute {
                    &self.execute
                } else {
                    &self.stream
                })
                .header("authorization", &self.gateway_auth)
                .content_type("application/json")
                .send(&self.gateway_body),
            Target::Resolve => agent
                .get(&self.resolve)
                .header("authorization", &self.gateway_auth)
                .call(),
        };
        let mut response = sent.map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        if status != 200 || target != Target::Stream {
            let body = response
                .body_mut()
                .read_to_string()
                .map_err(|e| format!("{status}, reading the body failed: {e}"))?;
            if status != 200 {
                return Err(describe_failure(status, &body));
            }
            return Ok((started.elapsed(), body));
        }
        let mut done = None;
        let reader = BufReader::new(response.body_mut().as_reader());
        // Reads on to the end after the done frame, so the connection goes
        // back to the pool.
        for line in reader.lines() {
            let line = line.map_err(|e| format!("reading the stream failed: {e}"))?;
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            if data.contains(r#""type":"done""#) {
                done = Some((started.elapsed(), data.to_owned()));
            } else if data.contains(r#""type":"error""#) {
                return Err(format!("stream error frame: {data}"));
            }
        }
        done.ok_or_else(|| "the stream ended without a done frame".to_owned())
    }
}

/// Creates the bench's prompt, saves a version that calls the stub's OpenAI
/// model with one `{{name}}` variable, and promotes it to production.
pub fn create_bench_prompt(host_url: &str, admin_token: &str) -> anyhow::Result<()> {
    let agent = load::agent();
    let auth = format!("Bearer {admin_token}");
    let post = |path: &str, body: Option<Value>, expected: u16| -> anyhow::Result<Value> {
        let url = format!("{host_url}/api/v1{path}");
        let request = agent.post(&url).header("authorization", &auth);
        let sent = match body {
            Some(body) => request
                .content_type("application/json")
                .send(body.to_string()),
            None => request.send_empty(),
        };
        let mut response = sent.with_context(|| format!("POST {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        if status != expected {
            bail!(
                "POST {url}: expected {expected}, got {}",
                describe_failure(status, &text)
            );
        }
        serde_json::from_str(&text)
            .with_context(|| format!("POST {url}: answer is not JSON: {text}"))
    };
    let id_of = |v: &Value| {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .context("answer without an id")
    };

    let prompt = post(
        "/prompts",
        Some(json!({"name": "Bench hello", "slug": PROMPT_SLUG})),
        201,
    )?;
    let prompt_id = id_of(&prompt)?;
    let version = post(
        &format!("/prompts/{prompt_id}/versions"),
        Some(json!({
            "user": "Say hello to {{name}}",
            "variables": [{"name": "name", "type": "string", "required": true}],
            "model": MODEL,
        })),
        201,
    )?;
    let version_id = id_of(&version)?;
    post(
        &format!("/prompts/{prompt_id}/versions/{version_id}/promote"),
        None,
        200,
    )?;
    Ok(())
}
