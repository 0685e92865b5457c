//! Trace models (IST, ATIF, ATOF), format detection and corpus walking.

pub mod atif;
pub mod ist;
pub mod list_reader;
pub mod load;
pub mod raw;

pub use atif::{AtifTrace, Trajectory};
pub use ist::{IntermediateStep, IstTrace};
pub use load::{load_file, LoadOptions, Trace};

/// The IST trace of bundled corpus item `item` (unit tests).
#[cfg(test)]
pub(crate) fn corpus_ist(item: &str) -> IstTrace {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(item)
        .join("all_requests_profiler_traces.json");
    match load_file(&path, &LoadOptions::default()) {
        Ok(Trace::Ist(t)) => t,
        other => panic!("{}: not an IST trace: {other:?}", path.display()),
    }
}
