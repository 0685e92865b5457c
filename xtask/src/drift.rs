//! `cargo xtask drift [CORPUS]`: the main job with the repository's policy (`drift.toml`).
//! Accounts for every corpus file, runs the IST path and the ATIF path on every item, prints
//! the drift table, and exits 0 (no unexpected drift), 1 (unexpected drift) or 2 (error).
//! With `GITHUB_STEP_SUMMARY` set, the Markdown report is appended there.

use std::path::PathBuf;
use std::process::ExitCode;

use atif_drift::corpus::FileStatus;
use atif_drift::drift::{self, policy::Policy};
use atif_drift::frame::from_atif::Builder;
use atif_drift::report;
use atif_drift::trace::LoadOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Corpus directory.
    #[arg(default_value = "corpus")]
    corpus: PathBuf,
    /// The drift policy.
    #[arg(long, default_value = "drift.toml")]
    policy: PathBuf,
    /// Which ATIF builder(s) to compare with the IST path.
    #[arg(long, value_enum, default_value = "both")]
    builder: BuilderArg,
    /// Also write report.json and report.md here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only partition K of N (for a CI matrix); merge with `atif-drift merge-reports`.
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BuilderArg {
    Pr1751,
    Faithful,
    Both,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = Policy::from_file(&args.policy)?;
    let builders: &[Builder] = match args.builder {
        BuilderArg::Pr1751 => &[Builder::Pr1751],
        BuilderArg::Faithful => &[Builder::Faithful],
        BuilderArg::Both => &[Builder::Pr1751, Builder::Faithful],
    };
    let opts = LoadOptions::default();
    let part = args
        .partition
        .as_deref()
        .map(drift::parse_partition)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (entries, r) = report::drift::job_with_progress(
        std::slice::from_ref(&args.corpus),
        builders,
        &policy,
        &opts,
        part,
    )?;
    let t = report::inventory::totals(&entries);
    println!(
        "{} files: {} loaded, {} skipped, {} failed",
        entries.len(),
        t.loaded,
        t.skipped,
        t.failed
    );
    for e in &entries {
        if let FileStatus::Failed { error } = &e.status {
            println!("FAILED {}: {error}", e.path.display());
        }
    }
    print!("{}", report::drift::table(&r));
    print!("{}", report::drift::details(&r, 40));
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), report::drift::json(&r))?;
        std::fs::write(dir.join("report.md"), report::drift::markdown(&r))?;
    }
    if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(summary)?;
        f.write_all(report::drift::markdown(&r).as_bytes())?;
    }
    Ok(ExitCode::from(drift::exit_code(&entries, &r)))
}
