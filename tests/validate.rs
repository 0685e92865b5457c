//! `validate` against the golden ATIF fixtures (all accepted by Harbor 0.25.0's reference
//! validator) and against malformed cases, each of which must be rejected naming its JSON
//! path. `tests/data/validate/make_cases.py` regenerates the cases and records Harbor's
//! own verdict next to each one.

use std::path::{Path, PathBuf};
use std::process::Command;

use atif_drift::trace::LoadOptions;
use atif_drift::validate::{validate_file, Severity};
use serde_json::Value;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/validate")
        .join(p)
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("cases.json"))
        .collect();
    v.sort();
    v
}

#[test]
fn golden_fixtures_are_valid() {
    let files = json_files(&data("valid"));
    assert!(files.len() >= 25, "{} fixtures", files.len());
    for f in files {
        let r = validate_file(&f, &LoadOptions::default()).unwrap();
        let errors: Vec<_> = r
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
}

#[test]
fn malformed_cases_are_rejected_naming_the_path() {
    let cases: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(data("invalid/cases.json")).unwrap())
            .unwrap();
    assert!(cases.len() >= 20, "only {} malformed cases", cases.len());
    let files = json_files(&data("invalid"));
    assert_eq!(
        files.len(),
        cases.len(),
        "every case file has an expectation and vice versa"
    );
    for (name, expect) in &cases {
        let f = data(&format!("invalid/{name}.json"));
        let r = validate_file(&f, &LoadOptions::default()).unwrap();
        let want = expect["path"].as_str().unwrap();
        assert!(!r.is_valid(), "{name}: accepted");
        assert!(
            r.problems
                .iter()
                .any(|p| p.severity == Severity::Error && p.path == want),
            "{name}: no error at {want}: {:#?}",
            r.problems
        );
    }
}

#[test]
fn corpus_atif_is_valid() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for item in [
        "react_calculator",
        "tool_calling_parallel",
        "nested_trip_planner",
        "router_multi_llm",
    ] {
        for f in ["nat_atif.json", "workflow_output_atif.json"] {
            let r = validate_file(&corpus.join(item).join(f), &LoadOptions::default()).unwrap();
            assert!(
                r.is_valid(),
                "{item}/{f}: {:?}",
                r.problems.iter().take(5).collect::<Vec<_>>()
            );
            assert!(r.trajectories >= 8);
        }
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atif-drift"))
}

#[test]
fn cli_exit_codes() {
    let ok = bin()
        .arg("validate")
        .arg(data("valid/exmp02_atif.json"))
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let bad = bin()
        .arg("validate")
        .arg(data("invalid/08_step_ids_not_sequential.json"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("steps[2].step_id") && out.contains("INVALID"),
        "{out}"
    );

    let dir = tempdir("validate-unreadable");
    let trunc = dir.join("truncated.json");
    std::fs::write(&trunc, "{\"schema_version\": \"ATIF-v1.7\", \"agent\": {").unwrap();
    let unreadable = bin().arg("validate").arg(&trunc).output().unwrap();
    assert_eq!(unreadable.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unreadable.stderr);
    assert!(err.contains("truncated.json:1:"), "{err}");

    // exmp01 has no LLM-backed step: a warning, fatal only with --deny-warnings.
    let warn = bin()
        .args(["validate", "--deny-warnings"])
        .arg(data("valid/exmp01_atif.json"))
        .output()
        .unwrap();
    assert_eq!(warn.status.code(), Some(1));
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("atif-drift-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
