//! The real Spin CLI, serving the same app as `prompthelm up`: found on
//! this machine when there is one, and started ready for the bench.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use prompthelm_domain::auth::format_token;

use crate::build;
use crate::children::{Host, Process, Stopping, as_deployed, call_stub};

/// The oldest Spin measured: the one whose instance reuse the local runtime
/// follows.
const MIN_VERSION: (u64, u64) = (4, 1);
/// Spin's default SQLite database, under `--state-dir`.
const DEFAULT_DB_FILE: &str = "sqlite_db.db";
const HEALTH_PATH: &str = "/api/v1/gateway/health";

/// A `spin` binary of Spin 4.1 or newer.
pub struct Spin {
    pub binary: PathBuf,
    /// What `spin --version` says after `spin `, e.g.
    /// `4.1.0-pre0 (94a8fc8a 2026-08-21)`.
    pub version: String,
}

impl Spin {
    /// The first Spin 4.1+ binary at `$SPIN_BIN`, on `PATH`, or at
    /// `../shared/bin/spin` beside the workspace, in that order; says on
    /// stderr which ones it passed over, and in one line when it found none.
    pub fn find(workspace: &Path) -> Option<Spin> {
        let candidates = [
            std::env::var_os("SPIN_BIN")
                .filter(|v| !v.is_empty())
                .map(|v| ("SPIN_BIN", PathBuf::from(v))),
            on_path("spin").map(|p| ("PATH", p)),
            Some(("../shared/bin/spin", workspace.join("../shared/bin/spin"))),
        ];
        Spin::first_supported(candidates.into_iter().flatten())
    }

    /// The first of `candidates` (where each was found, and its path) that
    /// is a Spin 4.1+ binary.
    fn first_supported(
        candidates: impl IntoIterator<Item = (&'static str, PathBuf)>,
    ) -> Option<Spin> {
        for (source, binary) in candidates {
            if !binary.is_file() {
                if source == "SPIN_BIN" {
                    eprintln!(
                        "bench: ignoring SPIN_BIN={}: no such file",
                        binary.display()
                    );
                }
                continue;
            }
            match version_of(&binary) {
                Ok(version) if supported(&version) => return Some(Spin { binary, version }),
                Ok(version) => eprintln!(
                    "bench: ignoring {} ({source}): Spin {version} is older than {}.{}",
                    binary.display(),
                    MIN_VERSION.0,
                    MIN_VERSION.1
                ),
                Err(e) => eprintln!("bench: ignoring {} ({source}): {e:#}", binary.display()),
            }
        }
        eprintln!(
            "bench: no Spin binary (SPIN_BIN, PATH, ../shared/bin/spin): skipping the spin up rows"
        );
        None
    }

    /// `spin up` of `manifest` on a free loopback port and an empty
    /// `state_dir`, calling `stub_url` as OpenAI, ready once its health
    /// check answers 200. Spin runs no migrations, so `prompthelm migrate`
    /// applies the schema first to the file Spin uses as its default
    /// database. The admin token is a fresh `bootstrap_token`.
    pub fn up(
        &self,
        prompthelm: &Path,
        manifest: &Path,
        state_dir: &Path,
        stub_url: &str,
    ) -> anyhow::Result<Host> {
        let mut migrate = Command::new(prompthelm);
        migrate
            .arg("migrate")
            .arg("--manifest")
            .arg(manifest)
            .arg("--state-dir")
            .arg(state_dir);
        build::run(
            migrate,
            &format!("prompthelm migrate --state-dir {}", state_dir.display()),
        )?;
        let db = state_dir.join(DEFAULT_DB_FILE);
        if !db.is_file() {
            bail!(
                "prompthelm migrate left no {DEFAULT_DB_FILE} in {}, where spin up looks for its default database",
                state_dir.display()
            );
        }

        let admin_token = format_token(random_bytes()?);
        let listen = format!("127.0.0.1:{}", free_port()?);
        let base_url = format!("http://{listen}");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("up")
            .arg("--from")
            .arg(manifest)
            .args(["--listen", &listen])
            .arg("--state-dir")
            .arg(state_dir)
            .env("SPIN_VARIABLE_BOOTSTRAP_TOKEN", &admin_token);
        call_stub(&mut cmd, stub_url);
        let process = serving(cmd, &format!("{base_url}{HEALTH_PATH}"))?;
        Ok(Host {
            process,
            base_url,
            admin_token,
        })
    }

    /// `spin up` of the probe fixture, allowed to call the stub, for the
    /// floor rows. The probe has no tokens: `admin_token` is empty.
    pub fn up_probe(
        &self,
        probe_manifest: &Path,
        state_dir: &Path,
        stub_url: &str,
    ) -> anyhow::Result<Host> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let base_url = format!("http://{listen}");
        let stub_host = stub_url
            .split_once("://")
            .map_or(stub_url, |(_, authority)| authority);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("up")
            .arg("--from")
            .arg(probe_manifest)
            .args(["--listen", &listen])
            .arg("--state-dir")
            .arg(state_dir)
            .env("SPIN_VARIABLE_STUB_HOST", stub_host);
        as_deployed(&mut cmd);
        let process = serving(cmd, &format!("{base_url}/probe/echo"))?;
        Ok(Host {
            process,
            base_url,
            admin_token: String::new(),
        })
    }
}

/// Spawns `spin up` and waits until `ready` answers 200.
fn serving(cmd: Command, ready: &str) -> anyhow::Result<Process> {
    let mut process = Process::spawn("spin up", cmd, Stopping::WithChildren)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    process.wait_for(
        |_, _| None,
        || {
            let status = agent.get(ready).call().ok()?.status();
            (status == 200).then_some(())
        },
    )?;
    Ok(process)
}

/// `name` in a folder of `PATH`, when it is a file there.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `spin --version` without its `spin ` prefix.
fn version_of(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().next().unwrap_or_default().trim();
    match line.strip_prefix("spin ") {
        Some(version) if output.status.success() => Ok(version.to_owned()),
        _ => bail!("`--version` answered {:?} ({})", line, output.status),
    }
}

/// Whether a `spin --version` (`4.1.0-pre0 (…)`) is [`MIN_VERSION`] or
/// newer; a pre-release of 4.1 counts as 4.1.
fn supported(version: &str) -> bool {
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u64>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= MIN_VERSION,
        _ => false,
    }
}

/// A port no one listens on now. Another process could take it before
/// Spin binds it; Spin would then exit and say so.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn random_bytes() -> anyhow::Result<[u8; 16]> {
    let mut bytes = [0; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_4_1_on_are_supported() {
        assert!(supported("4.1.0-pre0 (94a8fc8a 2026-08-21)"));
        assert!(supported("4.1.0"));
        assert!(supported("4.10.2"));
        assert!(supported("5.0.0"));
        assert!(!supported("4.0.1 (abc 2026-01-01)"));
        assert!(!supported("3.4.0"));
        assert!(!supported("unknown"));
    }

    #[test]
    fn the_first_spin_4_1_or_newer_is_taken() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let fake = |name: &str, version: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\necho 'spin {version}'\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let old = fake("old", "3.4.0 (abc 2025-01-01)");
        let new = fake("new", "4.1.0-pre0 (94a8fc8a 2026-08-21)");
        let missing = dir.path().join("missing");

        let found = Spin::first_supported([
            ("SPIN_BIN", missing.clone()),
            ("PATH", old.clone()),
            ("../shared/bin/spin", new.clone()),
        ])
        .expect("the 4.1 one");
        assert_eq!(found.binary, new);
        assert_eq!(found.version, "4.1.0-pre0 (94a8fc8a 2026-08-21)");
        assert!(Spin::first_supported([("SPIN_BIN", missing), ("PATH", old)]).is_none());
    }
}
