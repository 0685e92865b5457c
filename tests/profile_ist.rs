//! The IST path against the files NAT 1.9.0 wrote, on every corpus item, with the
//! configuration NAT ran with (the item's config.yml; every analysis on for the sample):
//! `standardized_data_all.csv` byte for byte; `inference_optimization.json` equal as JSON
//! (integers and strings exact, floats within 1e-9 relative) — and today byte for byte too.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_matches_nat, config, load_ist};

use atif_drift::config::ProfilerConfig;
use atif_drift::frame::{csv::to_csv, csv::CsvOptions, from_ist, nova};
use atif_drift::trace::{load_file, LoadOptions, Trace};

fn items() -> Vec<PathBuf> {
    common::items_with("standardized_data_all.csv")
}

#[test]
fn csv_is_byte_identical_to_nat() {
    for item in items() {
        let ist = load_ist(&item.join("all_requests_profiler_traces.json"));
        let mut frame = from_ist::frame(&ist);
        frame.nova = Some(nova::compute(&frame));
        let ours = to_csv(&frame, CsvOptions::default());
        let nat = std::fs::read_to_string(item.join("standardized_data_all.csv")).unwrap();
        if ours != nat {
            let (o, n): (Vec<_>, Vec<_>) = (ours.lines().collect(), nat.lines().collect());
            let i = o
                .iter()
                .zip(&n)
                .position(|(a, b)| a != b)
                .unwrap_or(o.len().min(n.len()));
            panic!(
                "{}: first difference at line {}:\n ours: {:?}\n  nat: {:?}\n(lines: {} vs {})",
                item.display(),
                i + 1,
                o.get(i),
                n.get(i),
                o.len(),
                n.len()
            );
        }
    }
}

#[test]
fn csv_exclude_io_text_matches_nat() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Trace::Ist(ist) = load_file(
        &root.join("corpus/sample/all_requests_profiler_traces.json"),
        &LoadOptions::default(),
    )
    .unwrap() else {
        panic!()
    };
    let mut frame = from_ist::frame(&ist);
    frame.nova = Some(nova::compute(&frame));
    let ours = to_csv(
        &frame,
        CsvOptions {
            exclude_io_text: true,
        },
    );
    let nat = std::fs::read_to_string(
        root.join("tests/data/profile/sample_csv_exclude_io_text/standardized_data_all.csv"),
    )
    .unwrap();
    assert!(ours == nat, "csv_exclude_io_text output differs from NAT's");
}

#[test]
fn empty_trace_writes_a_single_newline_like_nat() {
    let frame = from_ist::frame(&Default::default());
    assert_eq!(to_csv(&frame, CsvOptions::default()), "\n");
}

/// The CLI with each real run's own config.yml reproduces NAT's CSV file.
#[test]
fn cli_profile_with_workflow_config_writes_nats_csv() {
    for item in items()
        .into_iter()
        .filter(|p| p.join("config.yml").exists())
    {
        let scratch = common::scratch("profile");
        let out = scratch.path().join(item.file_name().unwrap());
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_atif-drift"))
            .arg("profile")
            .arg(item.join("all_requests_profiler_traces.json"))
            .args(["--path", "ist", "--config"])
            .arg(item.join("config.yml"))
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let ours = std::fs::read(out.join("standardized_data_all.csv")).unwrap();
        let nat = std::fs::read(item.join("standardized_data_all.csv")).unwrap();
        assert!(ours == nat, "{}: CSV differs", item.display());
    }
}

#[test]
fn inference_optimization_equals_nat() {
    for item in items() {
        let ist = load_ist(&item.join("all_requests_profiler_traces.json"));
        let frame = from_ist::frame(&ist);
        let ours = atif_drift::profile::inference_optimization(
            &frame,
            &config(&item),
            atif_drift::profile::Flavor::Nat190,
        );
        let text = std::fs::read_to_string(item.join("inference_optimization.json")).unwrap();
        let nat: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_matches_nat(&ours, &nat, &item.display().to_string());
        assert_eq!(
            atif_drift::pyjson::dumps(&ours),
            text,
            "{}: bytes",
            item.display()
        );
    }
}

#[test]
fn traces_json_is_byte_identical_to_nat() {
    for item in items() {
        let path = item.join("all_requests_profiler_traces.json");
        let Trace::Ist(ist) = load_file(&path, &LoadOptions::default()).unwrap() else {
            panic!()
        };
        let ours = atif_drift::pyjson::dumps(&atif_drift::trace::ist::traces_json(&ist));
        let nat = std::fs::read_to_string(&path).unwrap();
        assert!(ours == nat, "{}", item.display());
        // The `profile` command streams it a request at a time: the same bytes.
        let mut streamed = Vec::new();
        atif_drift::pipeline::write_ist_dump(&ist, &mut streamed).unwrap();
        assert!(streamed == nat.as_bytes(), "streamed: {}", item.display());
    }
    let mut empty = Vec::new();
    let none = atif_drift::trace::ist::IstTrace::default();
    atif_drift::pipeline::write_ist_dump(&none, &mut empty).unwrap();
    assert_eq!(
        empty,
        atif_drift::pyjson::dumps(&atif_drift::trace::ist::traces_json(&none)).as_bytes()
    );
}

/// `workflow_profiling_report.txt` byte for byte; `workflow_profiling_metrics.json` equal as
/// JSON once `active_uuids` are sorted (listed difference `profile.active-uuids-order`).
#[test]
fn workflow_profiling_equals_nat() {
    for item in items() {
        let ist = load_ist(&item.join("all_requests_profiler_traces.json"));
        let frame = from_ist::frame(&ist);
        let (report, mut ours) = atif_drift::profile::workflow_profiling(
            &frame,
            &config(&item),
            atif_drift::profile::Flavor::Nat190,
        )
        .expect("sections on");
        let nat_report =
            std::fs::read_to_string(item.join("workflow_profiling_report.txt")).unwrap();
        if report != nat_report {
            let i = report
                .lines()
                .zip(nat_report.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{}: report line {}: {:?} vs {:?}",
                item.display(),
                i + 1,
                report.lines().nth(i),
                nat_report.lines().nth(i)
            );
        }
        let mut nat: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(item.join("workflow_profiling_metrics.json")).unwrap(),
        )
        .unwrap();
        atif_drift::differences::normalize_active_uuids(&mut ours);
        atif_drift::differences::normalize_active_uuids(&mut nat);
        assert_matches_nat(&ours, &nat, &item.display().to_string());
    }
}

fn trie_without_time(mut v: serde_json::Value) -> serde_json::Value {
    assert!(v.is_object(), "a prediction trie is an object");
    atif_drift::differences::drop_generated_at(&mut v);
    v
}

/// `prediction_trie.json` equal to NAT's apart from `generated_at` (listed difference
/// `profile.trie-generated-at`).
#[test]
fn prediction_trie_equals_nat() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<(PathBuf, ProfilerConfig, PathBuf)> = items()
        .into_iter()
        .map(|item| {
            (
                item.join("all_requests_profiler_traces.json"),
                config(&item),
                item.join("prediction_trie.json"),
            )
        })
        .collect();
    let wpar = root.join("tests/data/profile/sample_trie_w_parallel");
    cases.push((
        root.join("corpus/sample/all_requests_profiler_traces.json"),
        ProfilerConfig::from_workflow_yaml(&wpar.join("config.yml")).unwrap(),
        wpar.join("prediction_trie.json"),
    ));
    for (input, cfg, expected) in cases {
        let Trace::Ist(ist) = load_file(&input, &LoadOptions::default()).unwrap() else {
            panic!()
        };
        let frame = from_ist::frame(&ist);
        let ours = atif_drift::profile::trie::prediction_trie(&frame, &cfg.prediction_trie, "t");
        let nat: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
        assert_matches_nat(
            &trie_without_time(ours),
            &trie_without_time(nat),
            &expected.display().to_string(),
        );
    }
}

/// The forecasting matrices NAT builds (`oracle_extras/forecast_training_data.json`, extracted
/// with NAT's own `_prep_for_model_training`) equal ours exactly.
#[test]
fn forecast_matrices_equal_nat() {
    for item in items() {
        let ist = load_ist(&item.join("all_requests_profiler_traces.json"));
        let ours = atif_drift::profile::forecast::forecast(
            &from_ist::frame(&ist),
            atif_drift::profile::Flavor::Nat190,
        );
        let nat: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(item.join("oracle_extras/forecast_training_data.json"))
                .unwrap(),
        )
        .unwrap();
        for key in ["matrix_length", "n_samples", "X", "Y", "error"] {
            assert!(ours[key] == nat[key], "{}: {key} differs", item.display());
        }
        assert_eq!(
            ours["forecasts"].as_array().unwrap().len(),
            ist.requests.len()
        );
    }
}

/// NAT's fit fails (no model) when a request has no LLM_END (IndexError) or an LLM_END has
/// no earlier LLM_START (KeyError); forecast.json says so instead of inventing matrices.
#[test]
fn forecast_reports_nats_failures() {
    let step = |et: &str, uuid: &str| {
        format!(
            r#"{{"parent_id":"root","function_ancestry":{{"function_id":"f","function_name":"w"}},
                "payload":{{"event_type":"{et}","event_timestamp":1.0,"UUID":"{uuid}"}}}}"#
        )
    };
    let load = |reqs: &[Vec<String>]| {
        let body: Vec<String> = reqs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    r#"{{"request_number":{i},"intermediate_steps":[{}]}}"#,
                    s.join(",")
                )
            })
            .collect();
        let Trace::Ist(t) = atif_drift::trace::load::load_bytes(
            Path::new("f.json"),
            format!("[{}]", body.join(",")).as_bytes(),
        )
        .unwrap() else {
            panic!()
        };
        atif_drift::profile::forecast::forecast(
            &from_ist::frame(&t),
            atif_drift::profile::Flavor::Nat190,
        )
    };
    let ok = vec![step("LLM_START", "a"), step("LLM_END", "a")];
    let no_llm = vec![step("WORKFLOW_START", "w"), step("WORKFLOW_END", "w")];
    assert!(load(std::slice::from_ref(&ok))["error"].is_null());
    assert!(load(&[ok.clone(), no_llm])["error"]
        .as_str()
        .unwrap()
        .starts_with("IndexError"));
    assert!(load(&[vec![step("LLM_END", "x")]])["error"]
        .as_str()
        .unwrap()
        .starts_with("KeyError"));
}
