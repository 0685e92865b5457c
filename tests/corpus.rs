//! The bundled corpus: every file is accounted for and none fails to load; each item has
//! its IST trace and NAT's ATIF for it.

use std::path::Path;

use atif_drift::corpus::{walk, FileStatus};
use atif_drift::trace::LoadOptions;

mod common;

#[test]
fn every_corpus_file_is_accounted_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let on_disk = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    let entries = walk(&root, &LoadOptions::default()).unwrap();
    assert_eq!(entries.len(), on_disk);
    let failed: Vec<_> = entries.iter().filter(|e| e.is_failed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for e in &entries {
        if let FileStatus::Skipped { reason } = &e.status {
            assert!(
                !reason.is_empty(),
                "{}: skipped without a reason",
                e.path.display()
            );
        }
    }
    let loaded = |name: &str, kind: &str| {
        entries
            .iter()
            .filter(|e| {
                e.path.ends_with(name)
                    && matches!(e.status, FileStatus::Loaded { kind: k, .. } if k == kind)
            })
            .count()
    };
    // 5 runs with NAT's converter ATIF, 1 in nat eval's layout (no nat_atif.json), 1 with
    // every analysis on (no ATIF, no config) and 3 generated ones (corpus/generated,
    // `atif-drift gen --seed 1 --count 3`).
    assert_eq!(loaded("all_requests_profiler_traces.json", "ist"), 10);
    assert_eq!(loaded("atof_events.json", "atof"), 3);
    assert_eq!(loaded("nat_atif.json", "atif-list"), 5);
    assert_eq!(loaded("workflow_output_atif.json", "atif-eval-output"), 5);
}

/// Read → write keeps every field: the IST traces and NAT's converter ATIF of every item
/// come back equal as JSON.
#[test]
fn models_round_trip_without_loss() {
    use atif_drift::trace::{load_file, Trace};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut items: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("nat_atif.json").exists())
        .collect();
    assert_eq!(items.len(), 5);
    items.sort();
    for item in items {
        for name in ["all_requests_profiler_traces.json", "nat_atif.json"] {
            let path = item.join(name);
            let original: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let back = match load_file(&path, &LoadOptions::default()).unwrap() {
                Trace::Ist(t) => serde_json::to_value(&t.requests).unwrap(),
                Trace::Atif(a) => {
                    serde_json::to_value(a.trajectories().collect::<Vec<_>>()).unwrap()
                }
                Trace::Atof(_) => unreachable!(),
            };
            assert!(
                back == original,
                "{}: round trip changed the data",
                path.display()
            );
        }
    }
}

/// The generated section of the corpus is what `atif-drift gen --seed 1 --count 3` writes
/// today (regenerate it with that command when the generator changes).
#[test]
fn generated_corpus_items_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/generated");
    let scratch = common::scratch("gen");
    let tmp = scratch.path();
    for seed in 1..=3u64 {
        let dir = tmp.join(format!("seed-{seed}"));
        atif_drift::gen::run::write_case(&atif_drift::gen::run::generate(seed), &dir).unwrap();
        for f in [
            "all_requests_profiler_traces.json",
            "atof_events.json",
            "run.json",
        ] {
            let committed = std::fs::read(root.join(format!("seed-{seed}")).join(f)).unwrap();
            let fresh = std::fs::read(dir.join(f)).unwrap();
            assert!(
                committed == fresh,
                "corpus/generated/seed-{seed}/{f} is stale: run `cargo run -- gen --seed 1 --count 3 -o corpus/generated`"
            );
        }
    }
}
