//! The generated bad-input corpus (`tests/bad_inputs/`, made by `cargo xtask gen-bad-inputs`):
//! every case is still what the generator makes, loads to exactly its documented outcome
//! (`outcomes.json`: a clear error naming the file, or tolerated), and nothing panics —
//! not the loader, `validate`, the converter, nor any profiler path on the tolerated ones.

use atif_drift::atof::dedupe::Mode;
use atif_drift::atof::export::{export, ExportOptions};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use atif_drift::config::ProfilerConfig;
use atif_drift::frame::from_atif::Builder;
use atif_drift::gen::bad_inputs::{cases, outcome, outcomes_json};
use atif_drift::pipeline::{profile, ProfilePath};
use atif_drift::trace::{load_file, LoadOptions, Trace};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs")
}

#[test]
fn corpus_is_what_the_generator_makes() {
    let cases = cases();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    for c in &cases {
        let on_disk = std::fs::read(dir().join(&c.name)).unwrap_or_default();
        assert!(
            on_disk == c.bytes,
            "{} is stale: run `cargo xtask gen-bad-inputs`",
            c.name
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir().join("outcomes.json")).unwrap(),
        outcomes_json(&dir())
    );
}

#[test]
fn every_case_has_its_documented_outcome_and_nothing_panics() {
    let cfg = ProfilerConfig::all_on();
    let outcomes: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("outcomes.json")).unwrap())
            .unwrap();
    for c in cases() {
        let path = dir().join(&c.name);
        let expected = outcomes[&c.name].as_str().unwrap();
        let run = catch_unwind(AssertUnwindSafe(|| {
            assert_eq!(outcome(&path, &c.bytes), expected, "{}", c.name);
            match load_file(&path, &LoadOptions::default()) {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with(&path.display().to_string()),
                        "{}: error does not name the file: {msg}",
                        c.name
                    );
                }
                Ok(trace) => {
                    let _ = atif_drift::validate::validate_file(&path, &LoadOptions::default());
                    if let Trace::Ist(_) = &trace {
                        profile(&trace, ProfilePath::Ist, &cfg, true)
                            .unwrap_or_else(|e| panic!("{}: IST path: {e}", c.name));
                    }
                    // The newer paths: ATOF → ATIF with both dedupe rules, mooncake rows.
                    if let Trace::Atof(events) = &trace {
                        for mode in [Mode::Relay, Mode::Strict] {
                            let _ = export(
                                events,
                                &ExportOptions {
                                    mode,
                                    ..ExportOptions::default()
                                },
                            );
                        }
                    }
                    if let Ok((sessions, _)) =
                        atif_drift::mooncake::sessions_of_file(&path, &LoadOptions::default())
                    {
                        let _ = atif_drift::mooncake::rows(
                            &sessions,
                            &atif_drift::mooncake::Tokenizer::cl100k(),
                            &Default::default(),
                        );
                    }
                    for b in [Builder::Pr1751, Builder::Faithful] {
                        // A trace NAT's converter rejects (a timestamp beyond year 9999) is an error here too.
                        if let Err(e) = profile(&trace, ProfilePath::Atif(b), &cfg, true) {
                            assert!(
                                e.to_string().contains("outside the range")
                                    || matches!(trace, Trace::Atof(_)),
                                "{}: {e}",
                                c.name
                            );
                        }
                    }
                }
            }
        }));
        if let Err(p) = run {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{}: {}", c.name, msg.unwrap_or_default());
        }
    }
}

#[test]
fn a_corpus_run_accounts_for_every_bad_input() {
    let entries = atif_drift::corpus::walk(&dir(), &LoadOptions::default()).unwrap();
    assert_eq!(
        entries.len(),
        cases().len() + 1,
        "every case and outcomes.json"
    );
    assert!(entries.iter().filter(|e| e.is_failed()).count() >= 150);
}
