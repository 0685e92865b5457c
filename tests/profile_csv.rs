//! `standardized_data_all.csv` of the IST path against the file NAT 1.9.0 wrote, byte for
//! byte, on every corpus item (all of them ran with `compute_llm_metrics: true` and
//! `csv_exclude_io_text: false`; see each item's config.yml / oracle_extras/profiler_config.json).

use std::path::{Path, PathBuf};

use atif_drift::frame::{csv::to_csv, csv::CsvOptions, from_ist, nova};
use atif_drift::trace::{load_file, LoadOptions, Trace};

fn items() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("standardized_data_all.csv").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 5);
    v
}

#[test]
fn csv_is_byte_identical_to_nat() {
    for item in items() {
        let Trace::Ist(ist) = load_file(
            &item.join("all_requests_profiler_traces.json"),
            &LoadOptions::default(),
        )
        .unwrap() else {
            panic!()
        };
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
        let out = std::env::temp_dir().join(format!(
            "atif-drift-profile-{}-{}",
            item.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
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
