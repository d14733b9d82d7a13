//! Python venvs for the tests that drive the app with a Python tool (the
//! official SDK, Schemathesis): made once under `target/prompthelm-test-cache/`
//! with one pinned package, then reused. Without python3 (with venv and pip)
//! or PyPI the test fails; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::repo_root;

/// A venv `name` with `package==version` installed; `ready` tells whether a
/// venv's python has it working. Built aside and renamed into place, so a
/// half-made venv is never taken for a ready one. Call once per process
/// (e.g. from a `OnceLock`).
pub fn python_with(name: &str, package: &str, version: &str, ready: fn(&Path) -> bool) -> PathBuf {
    let cache = repo_root().join("target/prompthelm-test-cache");
    let venv = cache.join(name);
    let python = venv.join("bin/python");
    if ready(&python) {
        return python;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let tmp = cache.join(format!("{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&base).args(["-m", "venv"]).arg(&tmp),
        &format!(
            "creating a venv with `{base} -m venv` (the {package} test needs python3 with the \
             venv module and pip, e.g. apt-get install python3 python3-venv)"
        ),
    );
    run(
        Command::new(tmp.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            &format!("{package}=={version}"),
        ]),
        &format!("pip install {package}=={version} (needs PyPI)"),
    );
    assert!(
        ready(&tmp.join("bin/python")),
        "{package} {version} does not work after pip install in {}",
        tmp.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    if let Err(e) = std::fs::rename(&tmp, &venv) {
        // Another test process may have won the race.
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(ready(&python), "moving the venv to {}: {e}", venv.display());
    }
    assert!(ready(&python), "the venv at {} is broken", venv.display());
    python
}

/// Runs `cmd` to success, or fails the test with its output.
pub fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/<script>` with `python` and `env`, and returns the one JSON
/// object it prints (what the Python client observed), failing the test
/// with its output otherwise.
pub fn run_script(python: &Path, script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let script = crate::harness::repo_root().join("tests").join(script);
    let out = Command::new(python)
        .arg(&script)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON object ({e}):\n{stdout}",
            script.display()
        )
    })
}
