//! Helpers shared by the integration tests: the corpus items and their inputs.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

use atif_drift::config::ProfilerConfig;
use atif_drift::trace::ist::IstTrace;
use atif_drift::trace::{load_file, LoadOptions, Trace};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test, `atif-drift-<name>-<random>` under the system's temporary
/// directory, removed when dropped: when the test ends, passed or failed (bind it to a named
/// variable, not `_`, or it is removed at once).
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("atif-drift-{name}-"))
        .tempdir()
        .unwrap()
}

/// Corpus item directories holding `file`, sorted.
pub fn items_with(file: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(file).exists())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "corpus items with {file}: {v:?}");
    v
}

/// An IST trace file, which must load as IST.
pub fn load_ist(path: &Path) -> IstTrace {
    match load_file(path, &LoadOptions::default()).unwrap() {
        Trace::Ist(t) => t,
        other => panic!("{}: {} is not IST", path.display(), other.kind()),
    }
}

/// The item's own NAT configuration, or every analysis on (the oracle sample's).
pub fn config(item: &Path) -> ProfilerConfig {
    let yml = item.join("config.yml");
    if yml.exists() {
        ProfilerConfig::from_workflow_yaml(&yml).unwrap()
    } else {
        ProfilerConfig::all_on()
    }
}

/// Assert `ours` equals NAT's `nat` to a relative 1e-9, showing the first five differences
/// under `what` (the file compared).
pub fn assert_matches_nat(ours: &serde_json::Value, nat: &serde_json::Value, what: &str) {
    let d = atif_drift::drift::value_diff::diff(
        ours,
        nat,
        atif_drift::drift::value_diff::Tolerance {
            abs: 0.0,
            rel: 1e-9,
        },
    );
    assert!(d.is_empty(), "{what}: {:#?}", &d[..d.len().min(5)]);
}

/// (prompt, completion, cached) tokens summed over the spans dedupe kept, with their merged
/// metrics.
pub fn kept_totals(
    spans: &[atif_drift::atof::LlmSpan],
    d: &atif_drift::atof::dedupe::Dedupe,
) -> (u64, u64, u64) {
    let mut t = (0, 0, 0);
    for s in spans.iter().filter(|s| !d.suppressed.contains(&s.uuid)) {
        if let Some(m) = d.merged_metrics(s) {
            t.0 += m.prompt_tokens.unwrap_or(0);
            t.1 += m.completion_tokens.unwrap_or(0);
            t.2 += m.cached_tokens.unwrap_or(0);
        }
    }
    t
}
