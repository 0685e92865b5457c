//! The ATIF path with the `pr1751` builder against NAT's own ATIF-native profiler
//! (nvidia-nat-profiler 1.6.0rc1, outputs in each corpus item's `atif_native/`, input
//! `nat_atif.json`, configuration the item's config.yml or every analysis on).
//! UUIDs are renamed in order of first appearance (listed difference `atif.row-uuids`);
//! `active_uuids` are compared as sets and `generated_at` is left out (listed differences).

mod common;

use std::path::{Path, PathBuf};

use common::{assert_matches_nat, config};

use atif_drift::config::ProfilerConfig;
use atif_drift::differences::{normalize_active_uuids, rename_uuids};
use atif_drift::frame::from_atif::Builder;
use atif_drift::pipeline::{profile, ProfilePath};
use atif_drift::profile::Outputs;
use atif_drift::trace::{load_file, LoadOptions};
use serde_json::Value;

fn items() -> Vec<PathBuf> {
    common::items_with("atif_native/standardized_data_all.csv")
}

fn run(item: &Path, cfg: &ProfilerConfig) -> Outputs {
    let trace = load_file(&item.join("nat_atif.json"), &LoadOptions::default()).unwrap();
    profile(&trace, ProfilePath::Atif(Builder::Pr1751), cfg, false).unwrap()
}

fn json(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(&rename_uuids(text)).unwrap();
    if let Some(m) = v.as_object_mut() {
        m.remove("generated_at");
    }
    normalize_active_uuids(&mut v);
    v
}

#[test]
fn pr1751_equals_nats_atif_native_profiler() {
    for item in items() {
        let ours = run(&item, &config(&item));
        let nat = item.join("atif_native");
        for name in [
            "standardized_data_all.csv",
            "workflow_profiling_report.txt",
            "all_requests_profiler_traces.json",
        ] {
            let theirs = std::fs::read_to_string(nat.join(name)).unwrap();
            let mine = ours
                .get(name)
                .unwrap_or_else(|| panic!("{}: no {name}", item.display()));
            assert!(
                rename_uuids(&mine) == rename_uuids(&theirs),
                "{}: {name} differs",
                item.display()
            );
        }
        for name in [
            "inference_optimization.json",
            "workflow_profiling_metrics.json",
            "prediction_trie.json",
        ] {
            let theirs = json(&std::fs::read_to_string(nat.join(name)).unwrap());
            let mine = json(&ours.get(name).unwrap());
            assert_matches_nat(&mine, &theirs, &format!("{}: {name}", item.display()));
        }
    }
}

#[test]
fn pr1751_forecast_matrices_equal_nats() {
    for item in items() {
        let extras = item.join("atif_native/oracle_extras/forecast_training_data.json");
        if !extras.exists() {
            continue;
        }
        let mut cfg = config(&item);
        cfg.token_usage_forecast = true;
        let ours: Value =
            serde_json::from_str(&run(&item, &cfg).get("forecast.json").unwrap()).unwrap();
        let nat: Value = serde_json::from_str(&std::fs::read_to_string(extras).unwrap()).unwrap();
        for key in ["matrix_length", "n_samples", "X", "Y", "error"] {
            assert!(ours[key] == nat[key], "{}: {key}", item.display());
        }
    }
}

/// Both builders, every analysis on, run without error on every ATIF source we have: NAT's
/// eval export, NAT's converter output, NAT's ATOF→ATIF examples, NeMo Relay's ATIF and
/// the validation fixtures; and on IST input (converted first).
#[test]
fn both_builders_run_on_every_atif_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs: Vec<PathBuf> = Vec::new();
    for item in items() {
        for f in [
            "nat_atif.json",
            "workflow_output_atif.json",
            "all_requests_profiler_traces.json",
        ] {
            if item.join(f).exists() {
                inputs.push(item.join(f));
            }
        }
    }
    for e in std::fs::read_dir(root.join("tests/data/validate/valid")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            inputs.push(p);
        }
    }
    assert!(inputs.len() > 30);
    let cfg = ProfilerConfig::all_on();
    for input in &inputs {
        let trace = load_file(input, &LoadOptions::default()).unwrap();
        for builder in [Builder::Pr1751, Builder::Faithful] {
            let out = profile(&trace, ProfilePath::Atif(builder), &cfg, false)
                .unwrap_or_else(|e| panic!("{} with {builder:?}: {e}", input.display()));
            assert!(out.get("standardized_data_all.csv").is_some());
        }
    }
}
