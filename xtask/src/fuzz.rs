//! `cargo xtask fuzz [--target NAME] [--seconds N]`: run the cargo-fuzz targets in `fuzz/`
//! (loaders; validator; converter + both profiler paths; the list reader's two splits) for a
//! bounded time each, seeded with `tests/bad_inputs/`, the corpus ATIF and the NAT ATOF
//! examples. Not part of CI.
//!
//! cargo-fuzz needs nightly compiler flags; the machine's stable toolchain accepts them with
//! `RUSTC_BOOTSTRAP=1`, which this task sets. Installs cargo-fuzz when missing. A crash
//! leaves its input in `fuzz/artifacts/<target>/`: turn it into a case of
//! `atif_drift::gen::bad_inputs` (and so of `tests/bad_inputs/`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// One target (load, validate, convert, list_reader); default: all.
    #[arg(long)]
    target: Option<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
}

const TARGETS: &[&str] = &["load", "validate", "convert", "list_reader"];

fn seed(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let sources = [
        PathBuf::from("tests/bad_inputs"),
        PathBuf::from("tests/data/validate/valid"),
        PathBuf::from("../shared/fixtures/atif/nat/atof_to_atif"),
    ];
    for src in sources.iter().filter(|s| s.is_dir()) {
        for e in std::fs::read_dir(src)? {
            let p = e?.path();
            let small = p.metadata().map(|m| m.len() < 64 * 1024).unwrap_or(false);
            if p.is_file() && small {
                let name = format!(
                    "{}-{}",
                    src.file_name().unwrap_or_default().to_string_lossy(),
                    p.file_name().unwrap_or_default().to_string_lossy()
                );
                std::fs::copy(&p, dir.join(name))?;
            }
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        let st = Command::new("cargo")
            .args(["install", "cargo-fuzz", "--locked"])
            .status()?;
        anyhow::ensure!(st.success(), "could not install cargo-fuzz");
    }
    let targets: Vec<&str> = match &args.target {
        Some(t) => {
            anyhow::ensure!(
                TARGETS.contains(&t.as_str()),
                "unknown target {t:?} (known: {})",
                TARGETS.join(", ")
            );
            vec![t.as_str()]
        }
        None => TARGETS.to_vec(),
    };
    let mut failed = Vec::new();
    for t in targets {
        let corpus = PathBuf::from("fuzz/corpus").join(t);
        seed(&corpus)?;
        eprintln!("fuzzing {t} for {} s …", args.seconds);
        let st = Command::new("cargo")
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", t])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .status()?;
        if !st.success() {
            failed.push(t);
        }
    }
    if failed.is_empty() {
        println!("no crash");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "crashes in: {} (inputs under fuzz/artifacts/)",
            failed.join(", ")
        );
        Ok(ExitCode::from(1))
    }
}
