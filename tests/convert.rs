//! IST → ATIF conformance: our converter against NAT 1.9.0's, on every corpus item.
//!
//! Expected results are files NAT wrote: `nat_atif.json` (NAT's
//! `IntermediateStepToATIFConverter` run by `shared/oracle/convert_to_atif.py`) and
//! `workflow_output_atif.json` (written by `nat eval` itself during the real run).

use std::path::{Path, PathBuf};

use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::differences::normalize_eval_export;
use atif_drift::trace::{load_file, LoadOptions, Trace};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn items() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        // NAT's converter output is nat_atif.json: items without one (nat eval's layout)
        // have nothing to compare with.
        .filter(|p| p.join("all_requests_profiler_traces.json").exists())
        .filter(|p| p.join("nat_atif.json").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "corpus items: {v:?}");
    v
}

fn convert(item: &Path) -> Value {
    let Trace::Ist(ist) = load_file(
        &item.join("all_requests_profiler_traces.json"),
        &LoadOptions::default(),
    )
    .unwrap() else {
        panic!("not IST")
    };
    serde_json::to_value(ist_to_atif(&ist, &ConvertOptions::default()).unwrap()).unwrap()
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// First differing JSON path, for a readable failure.
fn first_diff(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_diff(u, v, format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    _ => return Some(format!("{path}.{k}: only on one side")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_diff(u, v, format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {} != {}", trunc(a), trunc(b))),
    }
}

fn trunc(v: &Value) -> String {
    v.to_string().chars().take(120).collect()
}

#[test]
fn equals_nat_converter_output_on_every_corpus_item() {
    for item in items() {
        let ours = convert(&item);
        let nat = read(&item.join("nat_atif.json"));
        assert!(
            ours == nat,
            "{}: {:?}",
            item.display(),
            first_diff(&ours, &nat, String::new())
        );
        // Key order too (NAT's pydantic field order), so diffs of our files read like NAT's.
        assert_eq!(
            ours.to_string(),
            nat.to_string(),
            "{}: key order",
            item.display()
        );
    }
}

#[test]
fn equals_nat_eval_export_apart_from_listed_differences() {
    for item in items() {
        let eval = item.join("workflow_output_atif.json");
        if !eval.exists() {
            continue;
        }
        let mut ours = convert(&item);
        let mut nat: Value = read(&eval);
        nat = Value::Array(
            nat.as_array()
                .unwrap()
                .iter()
                .map(|i| i["trajectory"].clone())
                .collect(),
        );
        normalize_eval_export(&mut ours);
        normalize_eval_export(&mut nat);
        assert!(
            ours == nat,
            "{}: {:?}",
            item.display(),
            first_diff(&ours, &nat, String::new())
        );
    }
}
