//! insta snapshots of every corpus item's drift report (one per item × builder), kept in
//! `snapshots/`: a change in what either path says shows up in `cargo insta review`.
//! Each snapshot lists, per output, the drifting path patterns with their value counts and
//! the policy's reason — everything the report derives, nothing wall-clock.

use std::path::PathBuf;

use atif_drift::frame::from_atif::Builder;
use atif_drift::job;
use atif_drift::trace::LoadOptions;

#[test]
fn drift_report_per_item_and_builder() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let policy = atif_drift::job::load_policy(&root.join("drift.toml")).unwrap();
    let items = job::discover(&root.join("corpus"), &LoadOptions::default()).unwrap();
    assert!(items.len() >= 5);
    for item in &items {
        for builder in [Builder::Pr1751, Builder::Faithful] {
            let r = job::run_item(item, builder, &policy, &LoadOptions::default());
            let mut text = String::new();
            for o in &r.outputs {
                text.push_str(&format!(
                    "{}: {} of {} values differ\n",
                    o.file, o.differing, o.compared
                ));
                for p in &o.patterns {
                    let why = p.expected.as_deref().unwrap_or("NOT EXPECTED");
                    text.push_str(&format!("  {} ×{} — {}\n", p.pattern, p.values, why));
                }
            }
            if let Some(e) = &r.error {
                text.push_str(&format!("error: {e}\n"));
            }
            let name = format!(
                "drift__{}__{}",
                item.name.replace('/', "__"),
                serde_json::to_value(builder).unwrap().as_str().unwrap()
            );
            insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
                insta::assert_snapshot!(name, text);
            });
        }
    }
}

/// The mooncake rows of the oracle sample from IST (cl100k_base, Dynamo's defaults): a change
/// to the tokenizer, the block hashing or the call order shows here.
#[test]
fn mooncake_rows_of_the_sample() {
    use atif_drift::mooncake as mc;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (sessions, _) = mc::sessions_of_file(
        &root.join("corpus/sample/all_requests_profiler_traces.json"),
        &atif_drift::trace::LoadOptions::default(),
    )
    .unwrap();
    let rows = mc::rows(&sessions, &mc::Tokenizer::cl100k(), &mc::Options::default()).unwrap();
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("mooncake__sample", mc::to_jsonl(&rows.rows));
    });
}
