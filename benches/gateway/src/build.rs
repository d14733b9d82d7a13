//! Builds what a bench runs: release binaries (`prompthelm`, the stub
//! provider) and the app's wasm components.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// Where the workspace and the built artifacts are.
pub struct Paths {
    pub workspace: PathBuf,
    /// The bench's own target dir (`<target>/<profile>/<bench binary>`),
    /// so the release binaries it builds sit beside it.
    target_dir: PathBuf,
}

impl Paths {
    pub fn locate() -> anyhow::Result<Paths> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .context("finding the workspace root")?;
        let exe = std::env::current_exe().context("finding the bench's own path")?;
        let target_dir = exe
            .parent()
            .and_then(Path::parent)
            .with_context(|| format!("{} is not in a cargo target dir", exe.display()))?
            .to_owned();
        Ok(Paths {
            workspace,
            target_dir,
        })
    }

    pub fn manifest(&self) -> PathBuf {
        self.workspace.join("spin.toml")
    }

    /// The probe test fixture's app: the bench's floor rows run on it.
    pub fn probe_manifest(&self) -> PathBuf {
        self.workspace.join("tests/fixtures/probe/spin.toml")
    }

    pub fn host_binary(&self) -> PathBuf {
        self.target_dir.join("release/prompthelm")
    }

    pub fn stub_binary(&self) -> PathBuf {
        self.target_dir.join("release/stub-provider")
    }

    /// The host's compiled-code cache, the bench's own.
    pub fn compile_cache(&self) -> PathBuf {
        self.target_dir.join("prompthelm-bench-cache")
    }
}

/// Builds the release binaries of `packages` (e.g. `prompthelm`,
/// `stub-provider`); cargo skips the work when they are current, so a stale
/// binary never gets measured.
pub fn native_binaries(paths: &Paths, packages: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release"])
        .args(packages.iter().flat_map(|p| ["-p", p]))
        .current_dir(&paths.workspace)
        .env("CARGO_TARGET_DIR", &paths.target_dir);
    let what = packages
        .iter()
        .map(|p| format!(" -p {p}"))
        .collect::<String>();
    run(cmd, &format!("cargo build --release{what}"))
}

/// Builds the components of the app and of the probe fixture with
/// `prompthelm build`, which runs each component's build command from its
/// manifest.
pub fn components(paths: &Paths) -> anyhow::Result<()> {
    for manifest in [paths.manifest(), paths.probe_manifest()] {
        let mut cmd = Command::new(paths.host_binary());
        cmd.arg("build")
            .arg("--manifest")
            .arg(&manifest)
            // The components' `source` paths (`target/wasm32-wasip2/release/…`)
            // point into the workspace's target dir, so their cargo builds must
            // write there, whatever CARGO_TARGET_DIR the bench itself runs with.
            .env("CARGO_TARGET_DIR", paths.workspace.join("target"));
        run(
            cmd,
            &format!("prompthelm build --manifest {}", manifest.display()),
        )?;
    }
    Ok(())
}

pub(crate) fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    eprintln!("bench: {what}");
    let status = cmd.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
