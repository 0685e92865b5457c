//! `cargo xtask drift [CORPUS]`: the main job with the repository's policy (`drift.toml`).
//! Accounts for every corpus file, runs the IST path and the ATIF path on every item, prints
//! the drift table, and exits 0 (no unexpected drift), 1 (unexpected drift) or 2 (error).
//! With `GITHUB_STEP_SUMMARY` set, the Markdown report is appended there.

use std::path::PathBuf;
use std::process::ExitCode;

use atif_drift::frame::from_atif::Builder;
use atif_drift::trace::LoadOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Corpus directory.
    #[arg(default_value = "corpus")]
    corpus: PathBuf,
    /// The drift policy: a TOML file, `builtin` (the repository's drift.toml, embedded) or
    /// `none` (the same default as `atif-drift drift`).
    #[arg(long, value_name = "FILE|builtin|none", default_value = "builtin")]
    policy: std::ffi::OsString,
    /// Which ATIF builder(s) to compare with the IST path.
    #[arg(long, value_enum, default_value = "both")]
    builder: BuilderArg,
    /// Also write report.json, report.md, report.html and junit.xml here (written whole,
    /// checked before the run).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an --out directory that holds files drift does not write.
    #[arg(long, requires = "out")]
    force: bool,
    /// Run only partition K of N (for a CI matrix); merge with `atif-drift merge-reports`.
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
    /// Compare with this earlier JSON report: drift that grew fails (see `atif-drift drift`).
    #[arg(long, value_name = "REPORT")]
    baseline: Option<PathBuf>,
    /// Write this run's JSON report here, as a later run's baseline.
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    /// Print only the verdict.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print every output and pattern, the mooncake replay and the builders side by side.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum BuilderArg {
    Pr1751,
    Faithful,
    Both,
}

impl BuilderArg {
    /// The builders chosen, in report order.
    pub(crate) fn builders(self) -> Vec<Builder> {
        match self {
            BuilderArg::Pr1751 => vec![Builder::Pr1751],
            BuilderArg::Faithful => vec![Builder::Faithful],
            BuilderArg::Both => Builder::ALL.to_vec(),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cmd = atif_drift::app::DriftCommand {
        corpora: vec![args.corpus],
        policy: atif_drift::drift::policy::PolicySource::parse(&args.policy),
        sides: atif_drift::app::Sides::of_builders(&args.builder.builders()),
        format: atif_drift::app::ReportFormat::Table,
        verbosity: match (args.quiet, args.verbose) {
            (true, _) => atif_drift::report::terminal::Verbosity::Quiet,
            (_, true) => atif_drift::report::terminal::Verbosity::Verbose,
            _ => atif_drift::report::terminal::Verbosity::Normal,
        },
        out: args.out,
        force: args.force,
        partition: args.partition,
        baseline: args.baseline,
        write_baseline: args.write_baseline,
        step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        list_files: true,
        explain: false,
        load: LoadOptions::default(),
    };
    let code = atif_drift::app::drift(&cmd, &mut atif_drift::app::print_stdout, &mut |t| {
        eprint!("{t}")
    })?;
    Ok(ExitCode::from(code))
}
