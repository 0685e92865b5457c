//! `cargo xtask …`: project tasks. Dispatch only; each task lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The allocator the `atif-drift` binary uses, so `cargo xtask bench` measures what users run.
atif_drift::use_jemalloc!();

mod bad_inputs;
mod bench;
mod drift;
mod fuzz;
mod mutants;
mod mutate;
mod wheel;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "atif-drift project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the drift job over a corpus (today: load and account for every file).
    Drift(drift::Args),
    /// Time drift and profile on replicated inputs, or every profiler stage on one input (a debug build runs the release one: `cargo xtask bench` does).
    Bench(bench::Args),
    /// Write the generated bad-input corpus (tests/bad_inputs/), or check it with --check.
    GenBadInputs(bad_inputs::Args),
    /// Run the cargo-fuzz targets for a bounded time each (not part of CI).
    Fuzz(fuzz::Args),
    /// Record Harbor's verdicts on seeded ATIF mutants (tests/data/validate/mutants.json).
    Mutants(mutants::Args),
    /// Measure the drift gate's sensitivity: every exporter fault of gen::faults applied to
    /// every corpus item's ATIF, run through the gate; catch rate per fault × builder,
    /// survivors, false alarms.
    Mutate(mutate::Args),
    /// Write a corpus item's requests replicated N times (shifted times, fresh ids) as NAT
    /// writes its trace file: the bench's input, kept for a look or a comparison.
    Replicate(bench::ReplicateArgs),
    /// Build the Python wheel (maturin, `src/python/`) into target/wheels/; with --test,
    /// install it into a fresh venv and run tests/python/ with pytest.
    Wheel(wheel::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Drift(a) => drift::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::GenBadInputs(a) => bad_inputs::run(a),
        Cmd::Fuzz(a) => fuzz::run(a),
        Cmd::Mutants(a) => mutants::run(a),
        Cmd::Replicate(a) => bench::replicate(a),
        Cmd::Mutate(a) => mutate::run(a),
        Cmd::Wheel(a) => wheel::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
