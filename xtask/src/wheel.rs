//! `cargo xtask wheel [--test] [--python PY]`: build the Python wheel (`src/python/`, maturin's
//! `bin` bindings: the release binary and the `atif_drift` package) into `target/wheels/`;
//! with `--test`, install it into a fresh venv (`target/python/test-venv`) with pytest and
//! run `tests/python/` there (CI does). maturin and pytest come from PyPI into venvs under
//! `target/python/`; nothing is installed system-wide.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{ensure, Context};

#[derive(clap::Args)]
pub struct Args {
    /// Install the wheel into a fresh venv and run tests/python/ with pytest.
    #[arg(long)]
    test: bool,
    /// The Python to make the venvs with (3.11 or later).
    #[arg(long, default_value = "python3")]
    python: String,
}

fn status(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let st = cmd.status().with_context(|| format!("running {shown}"))?;
    ensure!(st.success(), "{shown} failed ({st})");
    Ok(())
}

/// A venv at `dir` (made fresh when `fresh`) with `packages` installed; its bin directory.
fn venv(python: &str, dir: &Path, fresh: bool, packages: &[&str]) -> anyhow::Result<PathBuf> {
    if fresh && dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    if !dir.join("bin/python").exists() {
        status(Command::new(python).args(["-m", "venv"]).arg(dir))?;
    }
    let bin = dir.join("bin");
    status(
        Command::new(bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages),
    )?;
    Ok(bin)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository")
        .to_path_buf();
    let target = root.join("target");
    let build = venv(
        &args.python,
        &target.join("python/build-venv"),
        false,
        &["maturin>=1.5,<2"],
    )?;
    let wheels = target.join("wheels");
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels)?;
    }
    status(
        Command::new(build.join("maturin"))
            .current_dir(root.join("src/python"))
            .args(["build", "--release", "--quiet", "-o"])
            .arg(&wheels),
    )?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .context("maturin wrote no wheel")?;
    let size = std::fs::metadata(&wheel)?.len();
    println!(
        "wheel: {} ({:.1} MB)",
        wheel.display(),
        size as f64 / 1_000_000.0
    );
    if !args.test {
        return Ok(ExitCode::SUCCESS);
    }
    let wheel_arg = wheel.to_string_lossy().into_owned();
    let test = venv(
        &args.python,
        &target.join("python/test-venv"),
        true,
        &[&wheel_arg, "pytest"],
    )?;
    // Run from outside the repository: the package must come from the installed wheel.
    status(
        Command::new(test.join("python"))
            .current_dir(&target)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(root.join("tests/python")),
    )?;
    Ok(ExitCode::SUCCESS)
}
