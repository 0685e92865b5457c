//! `cargo xtask gen-bad-inputs [--check]`: write `tests/bad_inputs/` (every generated case
//! and `outcomes.json`, the documented handling of each) or, with `--check`, verify the
//! committed files are what the generator makes.

use std::path::PathBuf;
use std::process::ExitCode;

use atif_drift::gen::bad_inputs::{cases, outcomes_json};

#[derive(clap::Args)]
pub struct Args {
    /// Only compare with the committed files; exit 1 when they differ.
    #[arg(long)]
    check: bool,
    #[arg(long, default_value = "tests/bad_inputs")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cases = cases();
    let mut stale = Vec::new();
    for c in &cases {
        let path = args.dir.join(&c.name);
        if args.check {
            if std::fs::read(&path).ok().as_deref() != Some(&c.bytes[..]) {
                stale.push(c.name.clone());
            }
        } else {
            std::fs::create_dir_all(&args.dir)?;
            std::fs::write(&path, &c.bytes)?;
        }
    }
    let manifest = outcomes_json(&args.dir);
    let manifest_path = args.dir.join("outcomes.json");
    if args.check {
        if std::fs::read_to_string(&manifest_path).ok().as_deref() != Some(manifest.as_str()) {
            stale.push("outcomes.json".into());
        }
        if !stale.is_empty() {
            eprintln!(
                "stale bad inputs (run `cargo xtask gen-bad-inputs`): {}",
                stale.join(", ")
            );
            return Ok(ExitCode::from(1));
        }
        println!("{} bad inputs up to date", cases.len());
    } else {
        std::fs::write(manifest_path, manifest)?;
        println!("wrote {} bad inputs to {}", cases.len(), args.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
