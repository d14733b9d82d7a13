//! `prompthelm build`: runs each component's `[component.<id>.build]`
//! command, as `spin build` does.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use prompthelm_manifest::AppManifest;

/// The Rust target Spin components are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

pub fn build_all(manifest: &AppManifest) -> anyhow::Result<()> {
    // Without the target, cargo fails deep inside the first crate with
    // "can't find crate for `core`"; say what to do instead.
    if let Some(build) = manifest
        .components
        .values()
        .filter_map(|c| c.build.as_ref())
        .find(|b| b.command.contains(WASM_TARGET))
    {
        check_wasm_target(&build.workdir)?;
    }
    for (id, component) in &manifest.components {
        let Some(build) = &component.build else {
            eprintln!("Component `{id}` has no build command; skipping");
            continue;
        };
        eprintln!("Building component `{id}`: {}", build.command);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&build.workdir)
            .status()
            .with_context(|| format!("component `{id}`: starting `{}`", build.command))?;
        if !status.success() {
            bail!(
                "component `{id}`: build command `{}` failed ({status})",
                build.command
            );
        }
    }
    Ok(())
}

/// Fails with the one command that fixes it when the toolchain that builds
/// in `workdir` (its rust-toolchain.toml applies) lacks [`WASM_TARGET`].
fn check_wasm_target(workdir: &Path) -> anyhow::Result<()> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workdir)
        .output()
        .context("running `rustc --print sysroot` (is Rust installed? see rustup.rs)")?;
    if !out.status.success() {
        bail!(
            "`rustc --print sysroot` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !target_installed(Path::new(&sysroot)) {
        bail!(
            "the Rust target {WASM_TARGET} is not installed for the toolchain in {sysroot}; \
             run `rustup target add {WASM_TARGET}`"
        );
    }
    Ok(())
}

fn target_installed(sysroot: &Path) -> bool {
    sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_found_in_a_sysroot_that_has_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!target_installed(dir.path()));
        std::fs::create_dir_all(dir.path().join("lib/rustlib/wasm32-wasip2")).unwrap();
        assert!(target_installed(dir.path()));
        // This checkout's pinned toolchain has it (rust-toolchain.toml).
        check_wasm_target(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    }
}
