//! Starts the real `prompthelm` binary on a free loopback port with its own
//! temporary state dir, talks HTTP to it, and stops it when dropped.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// First start in a fresh CI compiles the components in a debug host.
const START_TIMEOUT: Duration = Duration::from_secs(300);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn app_manifest() -> PathBuf {
    repo_root().join("spin.toml")
}

pub fn probe_manifest() -> PathBuf {
    repo_root().join("tests/fixtures/probe/spin.toml")
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_prompthelm")
}

/// Builds the app's and the probe's components once per test process, through
/// the runtime's own `build` command (so that command is exercised too).
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        for manifest in [app_manifest(), probe_manifest()] {
            let out = Command::new(binary())
                .arg("build")
                .arg("--manifest")
                .arg(&manifest)
                .output()
                .expect("running prompthelm build");
            assert!(
                out.status.success(),
                "prompthelm build -f {} failed:\n{}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // One start per manifest fills the shared compiled-code cache, so
        // the tests that start first (one per test thread) do not all
        // compile every component at once.
        for manifest in [app_manifest(), probe_manifest()] {
            match Runtime::spawn(Options::new(manifest.clone())) {
                Ok(rt) => {
                    rt.stop();
                }
                Err(f) => panic!("warming up {}:\n{}", manifest.display(), f.stderr),
            }
        }
    });
}

/// A running `prompthelm up`.
pub struct Runtime {
    child: Child,
    pub base_url: String,
    pub state_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    stderr: Arc<Mutex<String>>,
}

/// What a failed start left behind.
#[derive(Debug)]
pub struct StartFailure {
    pub stderr: String,
}

pub struct Options {
    pub manifest: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Reuse a state dir (e.g. to restart on the same data).
    pub state_dir: Option<PathBuf>,
}

impl Options {
    pub fn new(manifest: PathBuf) -> Self {
        Self {
            manifest,
            args: Vec::new(),
            env: Vec::new(),
            state_dir: None,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_owned());
        self
    }
}

impl Runtime {
    pub fn app() -> Runtime {
        Self::start(Options::new(app_manifest())).unwrap_or_else(|f| panic!("{}", f.stderr))
    }

    pub fn probe(opts: Options) -> Runtime {
        Self::start(opts).unwrap_or_else(|f| panic!("{}", f.stderr))
    }

    pub fn start(opts: Options) -> Result<Runtime, StartFailure> {
        build_components();
        Self::spawn(opts)
    }

    /// Starts `prompthelm up` on components already built.
    fn spawn(opts: Options) -> Result<Runtime, StartFailure> {
        let (temp, state_dir) = match opts.state_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().unwrap();
                let dir = temp.path().join("state");
                (Some(temp), dir)
            }
        };
        let mut cmd = Command::new(binary());
        cmd.arg("up")
            .arg("--manifest")
            .arg(&opts.manifest)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--cache-dir")
            .arg(repo_root().join("target/prompthelm-test-cache"))
            .args(&opts.args)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning prompthelm up");

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
        let (tx, rx) = mpsc::channel();
        let out_pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Serving ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Runtime {
                    child,
                    base_url: url,
                    state_dir,
                    _temp: temp,
                    stderr,
                });
            }
            if let Some(_status) = child.try_wait().unwrap() {
                // Let the reader thread drain what the process wrote last.
                std::thread::sleep(Duration::from_millis(100));
                return Err(StartFailure {
                    stderr: stderr.lock().unwrap().clone(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "prompthelm did not start within {START_TIMEOUT:?}:\n{}",
                    stderr.lock().unwrap()
                );
            }
        }
    }

    /// Everything the runtime wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the logs contain `needle` (log lines are written after the
    /// response, so a client can see the response first).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The admin token `up` printed because the state was empty. (stderr
    /// is read by another thread, in chunks, so the token may arrive after
    /// "Serving", and in pieces.)
    pub fn admin_token(&self) -> String {
        const NEEDLE: &str = "PROMPTHELM_API_KEY=";
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if let Some(at) = logs.find(NEEDLE) {
                let rest = &logs[at + NEEDLE.len()..];
                if let Some(token) = rest.split_whitespace().next()
                    && rest.len() > token.len()
                {
                    return token.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "no admin token in the logs:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        send(method, &self.url(path), headers, body)
    }

    /// Kills the process at once (SIGKILL: no shutdown code runs), as a
    /// crash or an OOM kill would; usable while other threads share it.
    pub fn kill_now(&self) {
        let status = Command::new("kill")
            .arg("-KILL")
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// Stops the runtime the way a supervisor would (SIGTERM) and waits.
    pub fn stop(mut self) -> String {
        terminate(&mut self.child);
        self.logs()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts the API's error envelope and returns it.
    pub fn assert_envelope(&self, status: u16, error_code: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        let v = self.json();
        assert_eq!(v["statusCode"], status, "{v}");
        assert_eq!(v["errorCode"], error_code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(
            v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{v}"
        );
        let id = v["requestId"].as_str().expect("requestId");
        assert_eq!(self.header("x-request-id"), Some(id), "X-Request-Id header");
        v
    }
}

pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    exchange(method, url, headers, body, false).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Like [`send`], but a transport failure (refused, reset, a body cut
/// short: a killed server) is an `Err` instead of a panic.
pub fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, String> {
    exchange(method, url, headers, body, true)
}

/// `whole_body`: a body that cannot be read to its end is an error (else
/// whatever was read, as tests of cut responses want).
fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    whole_body: bool,
) -> Result<Reply, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = agent
        .run(req.body(body.unwrap_or("").to_owned()).unwrap())
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = match res.into_body().read_to_string() {
        Ok(body) => body,
        Err(e) if whole_body => return Err(format!("reading the body: {e}")),
        Err(_) => String::new(),
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}
