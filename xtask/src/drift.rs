//! `cargo xtask drift CORPUS`: the main job on a corpus.
//!
//! Until the drift engine lands this loads the corpus and accounts for every file
//! (loaded, skipped with a reason, failed with the error). Exit 2 if any file failed.

use std::path::PathBuf;
use std::process::ExitCode;

use atif_drift::corpus;
use atif_drift::report::inventory;
use atif_drift::trace::LoadOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Corpus directory.
    #[arg(default_value = "corpus")]
    corpus: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let entries = corpus::walk(&args.corpus, &LoadOptions::default())?;
    print!("{}", inventory::table(&entries, None));
    Ok(if entries.iter().any(corpus::FileEntry::is_failed) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
