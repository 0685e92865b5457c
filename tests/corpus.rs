//! The bundled corpus: every file is accounted for and none fails to load; each item has
//! its IST trace and NAT's ATIF for it.

use std::path::Path;

use atif_drift::corpus::{walk, FileStatus};
use atif_drift::trace::LoadOptions;

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
    assert_eq!(loaded("all_requests_profiler_traces.json", "ist"), 5);
    assert_eq!(loaded("nat_atif.json", "atif-list"), 5);
    assert_eq!(loaded("workflow_output_atif.json", "atif-eval-output"), 4);
}
