//! The stub LLM provider (`tests/fixtures/stub-provider`) for gateway tests.
//!
//! - [`StubProvider::start`] builds the stub once per test process (it is
//!   another package, so cargo does not build it for this test), starts it
//!   on a free loopback port and kills it when dropped. It reads the stub's
//!   request log and releases answers held by the `[[stub:hold]]` directive.
//! - [`StubOptions`] points an app runtime's four providers at a stub, with
//!   fake keys ([`OPENAI_KEY`], ...) that redaction tests can search for.
//! - [`open_stream`] reads a streaming response event by event, as it
//!   arrives.
//!
//! Fault directives go in the prompt's user text, e.g. a variable value
//! `Ada [[stub:status=500]]`; the stub's `directives.rs` lists them.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::Client;
use crate::harness::{Options, Reply, app_manifest, repo_root, send};

/// Provider keys the app runtime gets; distinctive so a test can search any
/// text (logs, stored bodies, responses) for them.
pub const OPENAI_KEY: &str = "sk-e2e-openai-key-3f9a1c0ffee";
pub const ANTHROPIC_KEY: &str = "sk-ant-e2e-anthropic-key-7b2d4c0ffee";
pub const GOOGLE_KEY: &str = "e2e-google-key-5e8f6c0ffee";
pub const DEEPSEEK_KEY: &str = "sk-e2e-deepseek-key-9c1b8c0ffee";
pub const PROVIDER_KEYS: [&str; 4] = [OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY, DEEPSEEK_KEY];

/// The stub answers every prompt with this prefix and the last user text.
pub const REPLY_PREFIX: &str = "stub reply to: ";

/// The stub's reply to a prompt whose last user message is `user`.
pub fn reply_to(user: &str) -> String {
    format!("{REPLY_PREFIX}{user}")
}

/// Builds `stub-provider` once per test process, into the target dir (and
/// profile) this test binary was built in, and returns the binary's path.
pub fn stub_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // `<target>/<profile dir>/prompthelm`.
        let runtime = Path::new(env!("CARGO_BIN_EXE_prompthelm"));
        let profile_dir = runtime.parent().expect("the runtime's folder");
        let target_dir = profile_dir.parent().expect("the target folder");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root())
            .args([
                "build",
                "--package",
                "stub-provider",
                "--bin",
                "stub-provider",
            ])
            .arg("--target-dir")
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(other) => {
                cmd.args(["--profile", other]);
            }
            None => panic!("unexpected runtime path {}", runtime.display()),
        }
        let out = cmd.output().expect("running cargo build -p stub-provider");
        assert!(
            out.status.success(),
            "cargo build -p stub-provider failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join(format!("stub-provider{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "no stub binary at {}", bin.display());
        bin
    })
}

/// A running stub provider, killed when dropped.
pub struct StubProvider {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash, as the base URL variables
    /// want it.
    pub base_url: String,
    stderr: Arc<Mutex<String>>,
}

impl StubProvider {
    pub fn start() -> StubProvider {
        let mut child = Command::new(stub_binary())
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting stub-provider");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "stub-provider printed no address ({e}):\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let base_url = line
            .trim()
            .strip_prefix("Listening ")
            .unwrap_or_else(|| panic!("unexpected first line of stub-provider: {line:?}"))
            .to_owned();
        StubProvider {
            child,
            base_url,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// What the stub wrote to stderr so far: one line per request.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Every request the stub received, oldest first, as
    /// `{method, path, headers: [[name, value], ...], body}` (header names
    /// lowercase, body as text).
    pub fn requests(&self) -> Vec<Value> {
        let r = send("GET", &self.url("/_stub/requests"), &[], None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json().as_array().expect("a list of requests").clone()
    }

    /// Empties the request log; returns how many requests it held.
    pub fn clear(&self) -> u64 {
        let r = send("DELETE", &self.url("/_stub/requests"), &[], None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["cleared"].as_u64().expect("cleared")
    }

    /// Lets every answer held by `[[stub:hold]]` go on; returns how many
    /// were held. It releases every held request that reached the stub
    /// before this call, even one that has not got to its waiting point.
    pub fn release(&self) -> u64 {
        let r = send("POST", &self.url("/_stub/release"), &[], None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["released"].as_u64().expect("released")
    }

    /// Options for `Runtime::start`: the app manifest, with every provider
    /// pointed at this stub.
    pub fn app_options(&self) -> Options {
        Options::new(app_manifest()).providers(self)
    }
}

impl Drop for StubProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gateway settings for the runtime's [`Options`].
pub trait StubOptions {
    /// Points all four providers' base URLs at `stub` and sets their keys to
    /// [`OPENAI_KEY`], [`ANTHROPIC_KEY`], [`GOOGLE_KEY`], [`DEEPSEEK_KEY`].
    fn providers(self, stub: &StubProvider) -> Self;
    /// `gateway_rate_limit_per_minute` (0 turns the limit off).
    fn rate_limit_per_minute(self, calls: u32) -> Self;
}

impl StubOptions for Options {
    fn providers(self, stub: &StubProvider) -> Self {
        [
            ("OPENAI", OPENAI_KEY),
            ("ANTHROPIC", ANTHROPIC_KEY),
            ("GOOGLE", GOOGLE_KEY),
            ("DEEPSEEK", DEEPSEEK_KEY),
        ]
        .into_iter()
        .fold(self, |opts, (provider, key)| {
            opts.env(
                &format!("SPIN_VARIABLE_{provider}_BASE_URL"),
                &stub.base_url,
            )
            .env(&format!("SPIN_VARIABLE_{provider}_ORIGIN"), &stub.base_url)
            .env(&format!("SPIN_VARIABLE_{provider}_API_KEY"), key)
        })
    }

    fn rate_limit_per_minute(self, calls: u32) -> Self {
        self.env(
            "SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE",
            &calls.to_string(),
        )
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub name: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }
}

/// A response whose body is read as it arrives.
pub struct StreamResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<Box<dyn Read + Send>>,
}

/// Sends a request and hands back the response with its body unread: for
/// `text/event-stream` answers, read events with
/// [`StreamResponse::next_event`] as the server sends them.
pub fn open_stream(url: &str, headers: &[(&str, &str)], body: &str) -> StreamResponse {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut req = http::Request::builder().method("POST").uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = agent
        .run(req.body(body.to_owned()).unwrap())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    StreamResponse {
        status: res.status().as_u16(),
        headers: res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        reader: BufReader::new(Box::new(res.into_body().into_reader())),
    }
}

/// `POST /api/v1/gateway/stream` with the client's token and `body`.
pub fn gateway_stream(client: &Client, body: &Value) -> StreamResponse {
    let auth = format!("Bearer {}", client.token);
    open_stream(
        &client.rt.url("/api/v1/gateway/stream"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
        ],
        &body.to_string(),
    )
}

impl StreamResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next event as soon as its blank line arrives; `None` at a clean
    /// end; the read error of a broken connection.
    pub fn next_event(&mut self) -> std::io::Result<Option<SseEvent>> {
        let mut name = None;
        let mut data: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                // A last event without its blank line still counts.
                return Ok((name.is_some() || !data.is_empty()).then(|| SseEvent {
                    name,
                    data: data.join("\n"),
                }));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if name.is_some() || !data.is_empty() {
                    return Ok(Some(SseEvent {
                        name,
                        data: data.join("\n"),
                    }));
                }
            } else if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
            // Comments (`:`) and other fields are skipped, as clients do.
        }
    }

    /// Every event up to a clean end; panics if the stream breaks.
    pub fn all(mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        loop {
            match self.next_event() {
                Ok(Some(e)) => out.push(e),
                Ok(None) => return out,
                Err(e) => panic!("the stream broke ({e}) after {out:?}"),
            }
        }
    }

    /// The rest of the body as a whole reply (for error answers).
    pub fn into_reply(mut self) -> Reply {
        let mut body = String::new();
        self.reader
            .read_to_string(&mut body)
            .unwrap_or_else(|e| panic!("reading the body: {e}"));
        Reply {
            status: self.status,
            headers: self.headers,
            body,
        }
    }
}

/// The harness itself: the stub answers, records, holds and releases.
#[test]
fn the_stub_provider_answers_records_and_releases() {
    let stub = StubProvider::start();
    let auth = format!("Bearer {OPENAI_KEY}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let chat = |user: &str, stream: bool| {
        json!({"model": "gpt-4o-mini", "stream": stream,
               "messages": [{"role": "user", "content": user}]})
        .to_string()
    };

    let r = send(
        "POST",
        &stub.url("/v1/chat/completions"),
        &headers,
        Some(&chat("hello there", false)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        reply_to("hello there")
    );

    // A held stream: the first text arrives, the rest waits for release.
    let user = "one two [[stub:hold]]";
    let mut s = open_stream(
        &stub.url("/v1/chat/completions"),
        &headers,
        &chat(user, true),
    );
    assert_eq!(s.status, 200);
    assert!(
        s.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    let text = |e: &SseEvent| -> String {
        if e.data == "[DONE]" {
            return String::new();
        }
        let v = e.json();
        v["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let mut got = String::new();
    while got.is_empty() {
        let e = s.next_event().unwrap().expect("a first text event");
        got.push_str(&text(&e));
    }
    assert_eq!(got, "stub ");
    assert_eq!(stub.release(), 1);
    let rest = s.all();
    got.extend(rest.iter().map(text));
    assert_eq!(got, reply_to(user));
    assert_eq!(rest.last().unwrap().data, "[DONE]");

    let log = stub.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    for r in &log {
        assert_eq!(r["method"], "POST");
        assert_eq!(r["path"], "/v1/chat/completions");
        assert!(
            r["headers"]
                .as_array()
                .unwrap()
                .contains(&json!(["authorization", auth])),
            "{r}"
        );
    }
    assert_eq!(log[0]["body"], chat("hello there", false));
    assert!(stub.logs().contains("POST /v1/chat/completions 200"));
    assert_eq!(stub.clear(), 2);
    assert!(stub.requests().is_empty());

    // Runtime options point every provider at the stub, with the fake keys.
    let opts = stub.app_options().rate_limit_per_minute(7);
    let env = |k: &str| {
        opts.env
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    for p in ["OPENAI", "ANTHROPIC", "GOOGLE", "DEEPSEEK"] {
        for variable in ["BASE_URL", "ORIGIN"] {
            assert_eq!(
                env(&format!("SPIN_VARIABLE_{p}_{variable}")),
                Some(stub.base_url.as_str())
            );
        }
    }
    assert_eq!(env("SPIN_VARIABLE_GOOGLE_API_KEY"), Some(GOOGLE_KEY));
    assert_eq!(
        env("SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE"),
        Some("7")
    );
    assert_eq!(PROVIDER_KEYS.len(), 4);
}
