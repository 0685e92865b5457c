//! The full-fidelity ATIF projection (`convert --to atif --keep all`): the faithful builder
//! rebuilds the IST frame from it exactly, row for row and field for field, on every corpus
//! item, every generated run (a property over `gen::run`) and the real NAT runs beside the
//! project (`../shared/realrun`, when present).

mod common;

use std::path::{Path, PathBuf};

use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::frame::from_atif::{self, Builder};
use atif_drift::frame::{from_ist, Frame};
use atif_drift::gen::run::{run_spec, to_ist};
use atif_drift::loss::Keep;
use atif_drift::trace::atif::AtifTrace;
use atif_drift::trace::ist::IstTrace;
use proptest::prelude::*;

/// Every IST trace of the corpus (generated runs included).
fn ist_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(common::root().join("corpus"))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walks").into_path())
        .filter(|p| {
            p.ends_with("all_requests_profiler_traces.json")
                && !p.to_string_lossy().contains("atif_native")
        })
        .collect();
    v.sort();
    v
}

/// The faithful frame of `ist` converted with `keep`.
pub fn faithful_frame(ist: &IstTrace, keep: Keep) -> Frame {
    let trajectories = ist_to_atif(
        ist,
        &ConvertOptions {
            agent_name: None,
            keep,
        },
    )
    .expect("converts");
    // Through JSON, as a file would carry it.
    let text = serde_json::to_string(&trajectories).unwrap();
    let atif = AtifTrace::from_trajectories(serde_json::from_str(&text).unwrap());
    from_atif::frame(&atif, Builder::Faithful)
}

/// `cases` cases, failures kept in `tests/proptest-regressions/fidelity.txt`.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/proptest-regressions/fidelity.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

/// The first differences between two frames, row by row (at most `n`).
fn differences(a: &Frame, b: &Frame, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    if a.rows.len() != b.rows.len() {
        out.push(format!("{} rows against {}", a.rows.len(), b.rows.len()));
    }
    for (i, (x, y)) in a.rows.iter().zip(&b.rows).enumerate() {
        if x != y {
            out.push(format!("row {i}:\n  ist      {x:?}\n  faithful {y:?}"));
            if out.len() >= n {
                break;
            }
        }
    }
    out
}

fn assert_exact(path: &Path) {
    let ist = common::load_ist(path);
    let a = from_ist::frame(&ist);
    let b = faithful_frame(&ist, Keep::all());
    let d = differences(&a, &b, 3);
    assert!(d.is_empty(), "{}:\n{}", path.display(), d.join("\n"));
}

#[test]
fn faithful_rebuilds_the_ist_frame_exactly_from_full_fidelity_atif() {
    let files = ist_files();
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        assert_exact(&f);
    }
}

#[test]
fn faithful_rebuilds_real_nat_runs_exactly() {
    let shared = common::root().join("../shared/realrun/corpus");
    let Ok(dirs) = std::fs::read_dir(&shared) else {
        eprintln!("skipped: no real NAT runs at {}", shared.display());
        return;
    };
    let mut files: Vec<PathBuf> = dirs
        .map(|d| d.unwrap().path().join("all_requests_profiler_traces.json"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        assert_exact(&f);
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Generated runs: the frame comes back exactly from `--keep all`, and a loss removed
    /// alone changes the frame only if the loss has something to say about the run.
    #[test]
    fn generated_runs_come_back_exactly(run in run_spec()) {
        let ist = to_ist(&run);
        let a = from_ist::frame(&ist);
        let d = differences(&a, &faithful_frame(&ist, Keep::all()), 3);
        prop_assert!(d.is_empty(), "{}", d.join("\n"));
    }
}

/// Every loss carries something: removed alone, it changes the rebuilt frame of some corpus
/// trace, or (`event-kinds`, `event-order`, which NAT's traces rarely need) of a trace with
/// events recorded out of time order and an unnamed call.
#[test]
fn each_loss_removed_alone_changes_the_frame_somewhere() {
    let mut traces: Vec<IstTrace> = ist_files().iter().map(|f| common::load_ist(f)).collect();
    let mut odd = common::load_ist(
        &common::root().join("corpus/react_calculator/all_requests_profiler_traces.json"),
    );
    let steps = &mut odd.requests[0].intermediate_steps;
    steps.swap(3, 9);
    let end = steps
        .iter()
        .position(|s| s.payload.event_type == atif_drift::event::EventType::TOOL_END)
        .expect("a tool call");
    steps[end].payload.name = None;
    traces.push(odd);
    for loss in atif_drift::loss::LOSSES {
        let keep = Keep::all().without(loss.id);
        let changed = traces
            .iter()
            .filter(|ist| {
                !differences(&from_ist::frame(ist), &faithful_frame(ist, keep), 1).is_empty()
            })
            .count();
        assert!(changed > 0, "{}: removing it changes nothing", loss.id);
    }
}

#[test]
fn full_fidelity_atif_is_valid_atif() {
    for f in ist_files() {
        let ist = common::load_ist(&f);
        let trajectories = ist_to_atif(
            &ist,
            &ConvertOptions {
                agent_name: None,
                keep: Keep::all(),
            },
        )
        .unwrap();
        let doc = serde_json::to_value(&trajectories).unwrap();
        let mut problems = Vec::new();
        atif_drift::validate::validate_document(&doc, "", &mut problems);
        assert!(problems.is_empty(), "{}: {problems:?}", f.display());
    }
}

/// One change to an IST request that NAT's traces could show: events recorded out of time
/// order, an event lost, an unnamed call, a null output, equal times, an END without span
/// start, usage on a non-LLM event.
fn perturb(ist: &mut IstTrace, ops: &[(u8, usize, usize)]) {
    for &(op, r, k) in ops {
        let n_req = ist.requests.len();
        let steps = &mut ist.requests[r % n_req].intermediate_steps;
        if steps.len() < 2 {
            continue;
        }
        let (i, j) = (k % steps.len(), (k / 7 + 1) % steps.len());
        match op % 7 {
            0 => steps.swap(i, j),
            1 => {
                steps.remove(i);
            }
            2 => {
                steps[i].payload.name = if k % 2 == 0 {
                    None
                } else {
                    Some(String::new())
                }
            }
            3 => {
                if let Some(d) = steps[i].payload.data.as_mut() {
                    d.output = None; // JSON null: no output
                    d.input = None;
                }
            }
            4 => steps[i].payload.event_timestamp = steps[j].payload.event_timestamp,
            5 => steps[i].payload.span_event_timestamp = None,
            _ => {
                let u = steps[i]
                    .payload
                    .usage_info
                    .get_or_insert_with(Default::default);
                u.token_usage.total_tokens += 3;
                u.seconds_between_calls = 2;
            }
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Corpus traces perturbed the ways real traces differ from NAT's usual shape still come
    /// back exactly: the projection carries what the recovery rules would get wrong.
    #[test]
    fn perturbed_traces_come_back_exactly(
        item in 0usize..64,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let files = ist_files();
        let f = &files[item % files.len()];
        let mut ist = common::load_ist(f);
        perturb(&mut ist, &ops);
        let a = from_ist::frame(&ist);
        let d = differences(&a, &faithful_frame(&ist, Keep::all()), 3);
        prop_assert!(d.is_empty(), "{}: {ops:?}\n{}", f.display(), d.join("\n"));
    }
}
