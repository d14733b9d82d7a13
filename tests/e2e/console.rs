//! The web console in a real browser: `tests/console/walkthrough.mjs` drives
//! Debian's headless Chromium (through the pinned `playwright-core`) through
//! the seed walkthrough, "Rolling back a prompt", against the real app with
//! the stub provider behind the gateway.
//!
//! This file seeds what the script starts from (a production version with a
//! few calls, and a slow version saved but not promoted: the UI promotes
//! it), runs the script with its output streamed, and fails if it fails.
//! The script seeds its regression-watch prompts itself (through the API)
//! and drives their failing traffic over HTTP: watch=rollback set in the
//! console, the automatic revert seen in the Versions tab and the audit log;
//! watch=notify, the banner's Roll back clicked.
//! Screenshots of every step land in `target/console-artifacts/`.
//!
//! Needs `/usr/bin/chromium` (`apt-get install chromium`; or `CHROMIUM` set to
//! another binary), and `node` 20 with `npm`: `npm ci` installs
//! `tests/console/node_modules` once. Without them the test fails; it never
//! skips.

use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Client, id, version_body};
use crate::harness::{Runtime, repo_root};
use crate::stub::{StubOptions, StubProvider};

/// The whole walkthrough waits on events, each capped at 30 s; this only
/// stops a wedged browser from hanging the suite.
const WALKTHROUGH_CAP: Duration = Duration::from_secs(600);
/// Successful calls of the good version before the UI promotes the bad one.
const GOOD_CALLS: usize = 4;

fn console_dir() -> PathBuf {
    repo_root().join("tests/console")
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "the console test needs Debian's Chromium at {}: run `apt-get install -y \
         --no-install-recommends chromium` (or set CHROMIUM to a Chromium binary)",
        path.display()
    );
    path
}

/// The `version` of `node_modules/<package>` in `package-lock.json`, and the
/// one installed.
fn locked_and_installed(dir: &Path, package: &str) -> (Option<String>, Option<String>) {
    let read = |p: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    let version = |v: Option<Value>, pointer: &str| {
        v.and_then(|v| v.pointer(pointer)?.as_str().map(str::to_owned))
    };
    let key = format!("node_modules/{package}").replace('/', "~1");
    (
        version(
            read(dir.join("package-lock.json")),
            &format!("/packages/{key}/version"),
        ),
        version(
            read(dir.join("node_modules").join(package).join("package.json")),
            "/version",
        ),
    )
}

/// `npm ci` in tests/console, unless `node_modules` already holds the locked
/// `playwright-core`.
fn install_playwright() {
    let dir = console_dir();
    let (locked, installed) = locked_and_installed(&dir, "playwright-core");
    let locked = locked.expect("tests/console/package-lock.json locks no playwright-core");
    if installed.as_deref() == Some(locked.as_str()) {
        return;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the console test needs `node` (20 or newer) and `npm` on PATH: {node:?}"
    );
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running `npm ci` in {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "`npm ci` in {} failed (needs the npm registry):\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, installed) = locked_and_installed(&dir, "playwright-core");
    assert_eq!(
        installed.as_deref(),
        Some(locked.as_str()),
        "npm ci did not install playwright-core {locked}"
    );
}

/// Copies `from` line by line to this process's stderr (not captured by the
/// test harness, so the steps show as they run) and into `sink`.
fn tee(from: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = writeln!(std::io::stderr().lock(), "[console] {line}");
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn the_console_walks_through_rolling_back_a_prompt_in_chromium() {
    let chromium = chromium();
    install_playwright();

    let stub = StubProvider::start();
    // No gateway rate limit: the watch scenarios drive a few hundred calls.
    let rt = Runtime::probe(stub.app_options().rate_limit_per_minute(0));
    let admin = Client::admin(&rt);

    // The seed: "Support reply", its good version in production with a few
    // calls, and the bad one saved (so development) but not promoted.
    let res = admin.post(
        "/api/v1/prompts",
        &json!({"name": "Support reply", "slug": "support-reply"}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let pid = id(&res.json());
    let good = id(&admin.save_version(
        &pid,
        &version_body("You are a helpful support agent.", 0.2, &[], "baseline"),
    ));
    admin.promote(&pid, &good);
    for i in 0..GOOD_CALLS {
        let res = admin.post(
            "/api/v1/gateway/execute",
            &json!({"promptSlug": "support-reply", "variables": {"question": format!("good {i}")}}),
        );
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["versionId"], good.as_str(), "{}", res.body);
    }
    let mut bad_body = version_body("You are a creative support agent.", 0.9, &[], "be creative");
    bad_body["user"] = json!("[[stub:delay=1500]] Customer asks: {{question}}");
    let bad = id(&admin.save_version(&pid, &bad_body));

    let artifacts = repo_root().join("target/console-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    let script = console_dir().join("walkthrough.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(console_dir())
        .env("BASE_URL", &rt.base_url)
        .env("TOKEN", &admin.token)
        .env("ARTIFACT_DIR", &artifacts)
        .env("PROMPT_ID", &pid)
        .env("GOOD_VERSION_ID", &good)
        .env("BAD_VERSION_ID", &bad)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running node {}: {e}", script.display()));
    let output = Arc::new(Mutex::new(String::new()));
    let readers = [
        tee(child.stdout.take().unwrap(), output.clone()),
        tee(child.stderr.take().unwrap(), output.clone()),
    ];
    let deadline = Instant::now() + WALKTHROUGH_CAP;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for r in readers {
        let _ = r.join();
    }
    let output = output.lock().unwrap().clone();
    let outcome = match status {
        Some(s) if s.success() => return,
        Some(s) => format!("failed ({s})"),
        None => format!("did not finish within {WALKTHROUGH_CAP:?} and was killed"),
    };
    panic!(
        "the console walkthrough {outcome}; screenshots in {}\n--- its output:\n{output}\n\
         --- the runtime's last log lines:\n{}",
        artifacts.display(),
        tail(&rt.logs(), 40)
    );
}
