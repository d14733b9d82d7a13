//! `prompthelm build`: runs each component's `[component.<id>.build]`
//! command, as `spin build` does.

use std::process::Command;

use anyhow::{Context as _, bail};
use prompthelm_manifest::AppManifest;

pub fn build_all(manifest: &AppManifest) -> anyhow::Result<()> {
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
