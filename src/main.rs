use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::trace::{load_file, LoadOptions, Trace};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "atif-drift", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Convert {
        input: PathBuf,
        #[arg(long, default_value = "atif")]
        to: String,
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Convert { input, to: _, output } => {
            let t = load_file(&input, &LoadOptions::default())?;
            let Trace::Ist(ist) = t else { bail!("not IST") };
            let trajs = ist_to_atif(&ist, &ConvertOptions::default()).map_err(|(n, e)| anyhow::anyhow!("request {n}: {e}"))?;
            std::fs::write(&output, serde_json::to_string_pretty(&trajs)?).context("write")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
