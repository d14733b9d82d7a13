//! The processes the bench starts: the stub provider, `prompthelm up` and
//! `spin up` (see [`crate::spin`]). Each is killed when its guard is
//! dropped, so a failed or panicking run leaves nothing listening.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The host compiles the components at its first start when the compile
/// cache is cold.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// Lines of output shown when a process fails to start.
const OUTPUT_TAIL: usize = 40;
/// How often [`Process::wait_for`] asks whether the process is ready.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Which output pipe a line came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pipe {
    Stdout,
    Stderr,
}

struct Line {
    pipe: Pipe,
    text: String,
}

/// How a process is stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopping {
    /// The process alone: SIGKILL, on drop and when the bench dies.
    Alone,
    /// A process that runs children of its own (`spin up` serves from a
    /// `spin trigger http` child, which outlives a killed parent). It gets
    /// a process group of its own, killed whole on drop. When the bench dies
    /// without dropping it, it gets SIGTERM, on which it stops its children.
    WithChildren,
}

/// A running child process, killed on drop.
pub struct Process {
    name: &'static str,
    child: Child,
    stopping: Stopping,
    lines: Receiver<Line>,
}

impl Process {
    /// Spawns `cmd` with both output streams read line by line on their own
    /// threads. They keep reading after startup even when nobody listens:
    /// the programs log requests, and a full pipe would stall them.
    pub(crate) fn spawn(
        name: &'static str,
        mut cmd: Command,
        stopping: Stopping,
    ) -> anyhow::Result<Process> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (own_group, death_signal) = match stopping {
            Stopping::Alone => (false, libc::SIGKILL),
            Stopping::WithChildren => (true, libc::SIGTERM),
        };
        // SAFETY: setpgid and prctl are async-signal-safe and touch only the
        // child. prctl makes the kernel signal the child if the bench dies
        // without running its destructors (SIGKILL, abort). The bench spawns
        // from its main thread, whose exit is the process's exit.
        unsafe {
            cmd.pre_exec(move || {
                if own_group && libc::setpgid(0, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let (tx, lines) = mpsc::channel();
        forward_lines(
            child.stdout.take().expect("piped"),
            Pipe::Stdout,
            tx.clone(),
        );
        forward_lines(child.stderr.take().expect("piped"), Pipe::Stderr, tx);
        Ok(Process {
            name,
            child,
            stopping,
            lines,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads output lines until `take` has what it needs.
    fn read_until<T>(&mut self, take: impl FnMut(Pipe, &str) -> Option<T>) -> anyhow::Result<T> {
        self.wait_for(take, || None)
    }

    /// Waits until `take` finds what it needs in an output line, or `poll`
    /// (asked every [`POLL_INTERVAL`]) says the process is ready. Fails
    /// with the last output lines when the process exits first, or at the
    /// timeout.
    pub(crate) fn wait_for<T>(
        &mut self,
        mut take: impl FnMut(Pipe, &str) -> Option<T>,
        mut poll: impl FnMut() -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut tail = VecDeque::with_capacity(OUTPUT_TAIL);
        let mut keep = |line: &Line| {
            if tail.len() == OUTPUT_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.text.clone());
        };
        let mut polled = Instant::now();
        loop {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    keep(&line);
                    if let Some(found) = take(line.pipe, &line.text) {
                        return Ok(found);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Both streams closed: the process is gone or going.
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
            }
            if polled.elapsed() >= POLL_INTERVAL {
                polled = Instant::now();
                if let Some(found) = poll() {
                    return Ok(found);
                }
            }
            if let Some(status) = self.child.try_wait()? {
                // What it wrote last explains why it stopped.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
                    keep(&line);
                }
                let tail = Vec::from(tail).join("\n");
                bail!(
                    "{} exited ({status}) before it was ready:\n{tail}",
                    self.name
                );
            }
            if Instant::now() > deadline {
                let tail = Vec::from(tail).join("\n");
                bail!(
                    "{} was not ready within {START_TIMEOUT:?}:\n{tail}",
                    self.name
                );
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.stopping == Stopping::WithChildren {
            // The group's id is the leader's pid (setpgid(0, 0) at spawn).
            // SAFETY: kill only sends a signal.
            unsafe {
                libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(output: impl Read + Send + 'static, pipe: Pipe, tx: Sender<Line>) {
    std::thread::spawn(move || {
        let mut listening = true;
        for text in BufReader::new(output).lines().map_while(Result::ok) {
            if listening && tx.send(Line { pipe, text }).is_err() {
                listening = false;
            }
        }
    });
}

/// The stub provider, listening on a free loopback port.
pub struct Stub {
    pub process: Process,
    pub base_url: String,
}

impl Stub {
    pub fn start(binary: &Path) -> anyhow::Result<Stub> {
        let mut cmd = Command::new(binary);
        cmd.args(["--listen", "127.0.0.1:0"]);
        let mut process = Process::spawn("stub-provider", cmd, Stopping::Alone)?;
        let base_url = process.read_until(|pipe, text| {
            (pipe == Pipe::Stdout)
                .then(|| text.strip_prefix("Listening "))
                .flatten()
                .map(|url| url.trim().to_owned())
        })?;
        Ok(Stub { process, base_url })
    }
}

/// `prompthelm up` on a free loopback port, with an admin token: the first
/// one it printed for its empty state, or the bootstrap token it was given.
pub struct Host {
    pub process: Process,
    pub base_url: String,
    pub admin_token: String,
}

/// The key the stub expects, passed to the gateway as the OpenAI key.
pub const PROVIDER_KEY: &str = "sk-bench";

impl Host {
    /// The host for an empty `state_dir`, calling `stub_url` as OpenAI; the
    /// admin token is the one it prints.
    pub fn start(
        binary: &Path,
        manifest: &Path,
        state_dir: &Path,
        compile_cache: &Path,
        stub_url: &str,
    ) -> anyhow::Result<Host> {
        let mut cmd = up_command(binary, manifest, state_dir, compile_cache);
        call_stub(&mut cmd, stub_url);
        Host::serve(cmd, None)
    }

    /// The host with `token` (`phk_` + 32 hex) as its `bootstrap_token`, an
    /// admin of the default organization. It prints no token of its own,
    /// and the same token works again when it restarts on the same state.
    pub fn start_with_bootstrap_token(
        binary: &Path,
        manifest: &Path,
        state_dir: &Path,
        compile_cache: &Path,
        token: &str,
    ) -> anyhow::Result<Host> {
        let mut cmd = up_command(binary, manifest, state_dir, compile_cache);
        cmd.arg("--variable")
            .arg(format!("bootstrap_token={token}"));
        Host::serve(cmd, Some(token))
    }

    /// The host serving the probe fixture (`tests/fixtures/probe`), allowed
    /// to call the stub. The probe has no tokens: `admin_token` is empty.
    pub fn start_probe(
        binary: &Path,
        probe_manifest: &Path,
        state_dir: &Path,
        compile_cache: &Path,
        stub_url: &str,
    ) -> anyhow::Result<Host> {
        let mut cmd = up_command(binary, probe_manifest, state_dir, compile_cache);
        let stub_host = stub_url
            .split_once("://")
            .map_or(stub_url, |(_, authority)| authority);
        as_deployed(&mut cmd);
        cmd.env("SPIN_VARIABLE_STUB_HOST", stub_host);
        Host::serve(cmd, Some(""))
    }

    /// Spawns `cmd` and waits until it serves, and printed its admin token
    /// unless `known_token` is given.
    fn serve(cmd: Command, known_token: Option<&str>) -> anyhow::Result<Host> {
        let mut process = Process::spawn("prompthelm up", cmd, Stopping::Alone)?;
        // The token line (stderr) and the "Serving" line (stdout) come in
        // either order, each whole because the streams are read by line.
        let (mut base_url, mut admin_token) = (None, known_token.map(str::to_owned));
        process.read_until(|pipe, text| {
            match pipe {
                Pipe::Stdout => {
                    if let Some(url) = text.strip_prefix("Serving ") {
                        base_url = Some(url.trim().to_owned());
                    }
                }
                Pipe::Stderr => {
                    if let Some((_, token)) = text.split_once("PROMPTHELM_API_KEY=") {
                        admin_token = Some(token.trim().to_owned());
                    }
                }
            }
            (base_url.is_some() && admin_token.is_some()).then_some(())
        })?;
        Ok(Host {
            process,
            base_url: base_url.expect("read above"),
            admin_token: admin_token.expect("read above"),
        })
    }
}

/// Points the app's OpenAI provider at the stub, and turns the gateway's
/// rate limit off: the bench makes thousands of calls a minute with one
/// token. Both `prompthelm up` and `spin up` read `SPIN_VARIABLE_<NAME>`.
pub(crate) fn call_stub(cmd: &mut Command, stub_url: &str) {
    as_deployed(cmd);
    cmd.env("SPIN_VARIABLE_OPENAI_BASE_URL", stub_url)
        .env("SPIN_VARIABLE_OPENAI_ORIGIN", stub_url)
        .env("SPIN_VARIABLE_OPENAI_API_KEY", PROVIDER_KEY)
        .env("SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE", "0");
}

/// The runtimes run without `RUST_BACKTRACE`, as deployed: with it, every
/// error value wasmtime builds internally (one per finished request)
/// captures a backtrace, a few percent of the CPU per call.
pub(crate) fn as_deployed(cmd: &mut Command) {
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
}

/// `prompthelm up` of `manifest` on a free loopback port.
fn up_command(binary: &Path, manifest: &Path, state_dir: &Path, compile_cache: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("up")
        .arg("--manifest")
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--cache-dir")
        .arg(compile_cache);
    cmd
}
