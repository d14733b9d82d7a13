//! Starts the real `prompthelm` binary on a free loopback port with its own
//! temporary state dir, talks HTTP to it, and stops it when dropped.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;

/// First start in a fresh CI compiles the components in a debug host.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// The first start of each manifest, which fills the compile cache.
const COLD_START_TIMEOUT: Duration = Duration::from_secs(900);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn app_manifest() -> PathBuf {
    repo_root().join("spin.toml")
}

/// How many migration files the app has (`migrations/*.sql`), so a new
/// migration needs no edit in the tests that count them.
pub fn migration_file_count() -> usize {
    std::fs::read_dir(repo_root().join("migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
}

pub fn probe_manifest() -> PathBuf {
    repo_root().join("tests/fixtures/probe/spin.toml")
}

pub fn binary() -> &'static str {
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
        // A cold cache means compiling them all with the debug build's
        // Cranelift, minutes on 2 busy cores.
        for manifest in [app_manifest(), probe_manifest()] {
            let mut opts = Options::new(manifest.clone());
            opts.start_timeout = COLD_START_TIMEOUT;
            match Runtime::spawn(opts) {
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
    /// Set for a `spin up` (see [`Runtime::spin`]): the admin token it was
    /// given, and the process group it leads (Spin starts a child process).
    spin_token: Option<String>,
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
    /// Shell commands run before `prompthelm up` in the same shell, such as
    /// `ulimit -n 64;` (the runtime then runs through `sh -c ... exec`).
    pub shell_prefix: Option<String>,
    /// How long it may take to serve.
    pub start_timeout: Duration,
}

impl Options {
    pub fn new(manifest: PathBuf) -> Self {
        Self {
            manifest,
            args: Vec::new(),
            env: Vec::new(),
            state_dir: None,
            shell_prefix: None,
            start_timeout: START_TIMEOUT,
        }
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn shell_prefix(mut self, prefix: &str) -> Self {
        self.shell_prefix = Some(prefix.to_owned());
        self
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
        let mut cmd = match &opts.shell_prefix {
            None => Command::new(binary()),
            Some(prefix) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("{prefix} exec \"$0\" \"$@\""))
                    .arg(binary());
                sh
            }
        };
        cmd.arg("up").arg("--manifest").arg(&opts.manifest);
        // A free port, unless the test names its own.
        if !opts.args.iter().any(|a| a == "--listen") {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.arg("--state-dir").arg(&state_dir);
        // The suite's shared compile cache, unless the test names its own.
        if !opts.args.iter().any(|a| a == "--cache-dir") {
            cmd.arg("--cache-dir")
                .arg(repo_root().join("target/prompthelm-test-cache"));
        }
        cmd.args(&opts.args)
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

        let deadline = Instant::now() + opts.start_timeout;
        loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Runtime {
                    child,
                    base_url: url,
                    state_dir,
                    _temp: temp,
                    stderr,
                    spin_token: None,
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
                    "prompthelm did not start within {:?}:\n{}",
                    opts.start_timeout,
                    stderr.lock().unwrap()
                );
            }
        }
    }

    /// Everything the runtime wrote to stderr so far (under `spin up`:
    /// its stdout and stderr, then the components' logs in
    /// `<state>/logs/`).
    pub fn logs(&self) -> String {
        let mut logs = self.stderr.lock().unwrap().clone();
        if self.spin_token.is_some() {
            logs.push_str(&spin_component_logs(&self.state_dir));
        }
        logs
    }

    /// Waits until the logs contain `needle` (log lines are written after the
    /// response, so a client can see the response first).
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_within(needle, Duration::from_secs(10))
    }

    /// [`Runtime::wait_for_log`] with its own bound.
    pub fn wait_for_log_within(&self, needle: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
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
        if let Some(token) = &self.spin_token {
            return token.clone();
        }
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
            .args(["-KILL", "--", &self.signal_target()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// Every execution-log row in the state's database, oldest first, as
    /// column → value.
    pub fn execution_logs(&self) -> Vec<BTreeMap<String, serde_json::Value>> {
        let db = rusqlite::Connection::open(self.state_dir.join("sqlite_db.db")).unwrap();
        let mut stmt = db
            .prepare("SELECT * FROM execution_logs ORDER BY seq")
            .unwrap();
        let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        stmt.query_map([], |row| {
            Ok(names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let value = match row.get::<_, SqlValue>(i).unwrap() {
                        SqlValue::Null => serde_json::Value::Null,
                        SqlValue::Integer(n) => serde_json::json!(n),
                        SqlValue::Real(f) => serde_json::json!(f),
                        SqlValue::Text(t) => serde_json::json!(t),
                        SqlValue::Blob(_) => serde_json::json!("<blob>"),
                    };
                    (name.clone(), value)
                })
                .collect())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// Sends SIGTERM and returns at once (see [`Runtime::wait_for_exit`]).
    pub fn terminate_now(&self) {
        let status = Command::new("kill")
            .args(["-TERM", "--", &self.signal_target()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// The exit status once the process ended; panics after `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {within:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the runtime the way a supervisor would (SIGTERM) and waits.
    pub fn stop(mut self) -> String {
        let target = self.signal_target();
        terminate(&mut self.child, &target);
        self.logs()
    }

    /// What `kill` signals: the process, or under `spin up` its whole
    /// process group (`-<pgid>`: Spin's `trigger http` child too).
    fn signal_target(&self) -> String {
        match self.spin_token {
            Some(_) => format!("-{}", self.child.id()),
            None => self.child.id().to_string(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.spin_token.is_some() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &self.signal_target()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &mut Child, target: &str) {
    let _ = Command::new("kill").args(["-TERM", "--", target]).status();
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

// --- the real Spin CLI ------------------------------------------------------

/// The oldest Spin whose behaviour (instance reuse, routing) the suite
/// expects.
const SPIN_MIN_VERSION: (u64, u64) = (4, 1);

/// Which runtime serves the app: the project's own `prompthelm up`, or the
/// real Spin CLI's `spin up` on the same manifest and `.wasm` files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Prompthelm,
    Spin,
}

impl Flavor {
    /// `Flavor::Spin` when a Spin 4.1+ binary is found; else `None`, and
    /// the suite says once (on stderr, past the test harness's capture)
    /// that it skips the `spin up` runs.
    pub fn spin() -> Option<Flavor> {
        spin_binary().map(|_| Flavor::Spin)
    }

    /// Starts the app with `opts` under this runtime; panics if it fails.
    pub fn start(self, opts: Options) -> Runtime {
        match self {
            Flavor::Prompthelm => Runtime::start(opts).unwrap_or_else(|f| panic!("{}", f.stderr)),
            Flavor::Spin => Runtime::spin(opts),
        }
    }

    /// The app with no options.
    pub fn app(self) -> Runtime {
        self.start(Options::new(app_manifest()))
    }
}

/// The first Spin 4.1+ binary at `$SPIN_BIN`, on `PATH`, or at
/// `../shared/bin/spin` beside the checkout; looked up once.
pub fn spin_binary() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let on_path = std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("spin"))
                    .find(|p| p.is_file())
            });
            let candidates = [
                std::env::var_os("SPIN_BIN")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from),
                on_path,
                Some(repo_root().join("../shared/bin/spin")),
            ];
            let found = candidates
                .into_iter()
                .flatten()
                .find(|p| p.is_file() && spin_version_ok(p));
            if found.is_none() {
                use std::io::Write as _;
                // Written to the stderr stream itself: libtest captures
                // `eprintln!` of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "e2e: no Spin binary (SPIN_BIN, PATH, ../shared/bin/spin): skipping the spin up runs"
                );
            }
            found
        })
        .as_deref()
}

/// Whether `spin --version` (`spin 4.1.0-pre0 (…)`) is 4.1 or newer.
fn spin_version_ok(binary: &Path) -> bool {
    let Ok(out) = Command::new(binary).arg("--version").output() else {
        return false;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(version) = stdout.trim().strip_prefix("spin ") else {
        return false;
    };
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u64>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => out.status.success() && (major, minor) >= SPIN_MIN_VERSION,
        _ => false,
    }
}

/// What Spin's components wrote (`<state>/logs/*`), each file after a
/// header line naming it.
fn spin_component_logs(state_dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(state_dir.join("logs"))
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            format!("==> {} <==\n{text}", f.display())
        })
        .collect()
}

/// What `prompthelm up` prints on an empty state, made the way a Spin user
/// would: an `admin` API token of the default organization, minted with the
/// bootstrap token (which the audit log records as `system`, not as a
/// token).
fn mint_first_admin(rt: &Runtime, bootstrap: &str) -> String {
    let res = rt.request(
        "POST",
        "/api/v1/tokens",
        &[
            ("Authorization", &format!("Bearer {bootstrap}")),
            ("Content-Type", "application/json"),
        ],
        Some(r#"{"name": "first admin (minted with bootstrap_token)", "scopes": ["admin"]}"#),
    );
    assert_eq!(
        res.status, 201,
        "minting the first admin under spin up: {}",
        res.body
    );
    res.json()["token"]
        .as_str()
        .expect("the minted token's secret")
        .to_owned()
}

/// A fresh bootstrap token, `phk_` and 32 lowercase hex digits.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("phk_{hex}")
}

impl Runtime {
    /// `spin up --from <manifest> --listen 127.0.0.1:<port> --state-dir
    /// <state>` with `opts.env` (its `SPIN_VARIABLE_*` are Spin's too), on
    /// the components [`build_components`] built; ready once the gateway's
    /// health answers 200 (which brings the schema up to date). The admin
    /// token ([`Runtime::admin_token`]) is minted with
    /// `SPIN_VARIABLE_BOOTSTRAP_TOKEN` (the one in `opts.env`, or a fresh
    /// one), as `prompthelm up` mints one on an empty state. `opts.args` may
    /// only be `--runtime-config-file <file>`, which `spin up` takes too.
    /// Panics without a Spin binary: check [`Flavor::spin`] first.
    pub fn spin(opts: Options) -> Runtime {
        use std::os::unix::process::CommandExt as _;

        // `--runtime-config-file` means the same to both; no other flag does.
        let spin_args: Vec<&String> = match opts.args.as_slice() {
            [flag, _] if flag == "--runtime-config-file" => opts.args.iter().collect(),
            [] => Vec::new(),
            other => panic!("prompthelm up flags {other:?} have no spin up equivalent here"),
        };
        let binary = spin_binary().expect("no Spin binary: check Flavor::spin() first");
        build_components();
        let token = opts
            .env
            .iter()
            .find(|(k, _)| k == "SPIN_VARIABLE_BOOTSTRAP_TOKEN")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(random_token);
        let mut last_failure = String::new();
        // A free port can be taken by another test before Spin binds it:
        // then Spin exits at once, and another port is tried.
        for _ in 0..3 {
            let (temp, state_dir) = match &opts.state_dir {
                Some(dir) => (None, dir.clone()),
                None => {
                    let temp = tempfile::tempdir().unwrap();
                    let dir = temp.path().join("state");
                    (Some(temp), dir)
                }
            };
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("finding a free port")
                .port();
            let mut cmd = Command::new(binary);
            cmd.arg("up")
                .arg("--from")
                .arg(&opts.manifest)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--state-dir")
                .arg(&state_dir)
                .args(&spin_args)
                .envs(opts.env.iter().map(|(k, v)| (k, v)))
                .env("SPIN_VARIABLE_BOOTSTRAP_TOKEN", &token)
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("spawning spin up");
            let output = Arc::new(Mutex::new(String::new()));
            for pipe in [
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                Box::new(child.stderr.take().unwrap()),
            ] {
                let sink = output.clone();
                std::thread::spawn(move || {
                    let mut pipe = pipe;
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = pipe.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        sink.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                });
            }
            let rt = Runtime {
                child,
                base_url: format!("http://127.0.0.1:{port}"),
                state_dir,
                _temp: temp,
                stderr: output,
                spin_token: Some(token.clone()),
            };
            let health = rt.url("/api/v1/gateway/health");
            let deadline = Instant::now() + START_TIMEOUT;
            let mut rt = rt;
            loop {
                if try_send("GET", &health, &[], None).is_ok_and(|r| r.status == 200) {
                    rt.spin_token = Some(mint_first_admin(&rt, &token));
                    return rt;
                }
                if rt.child.try_wait().unwrap().is_some() {
                    std::thread::sleep(Duration::from_millis(100));
                    last_failure = rt.logs();
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "spin up did not become healthy within {START_TIMEOUT:?}:\n{}",
                    rt.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("spin up failed to start:\n{last_failure}");
    }
}
