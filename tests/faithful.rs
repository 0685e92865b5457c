//! IST → ATIF (NAT's converter output, `nat_atif.json`) → faithful frame, against the IST
//! frame itself, on every column ATIF preserves. What it cannot recover is listed in
//! `atif_drift::frame::from_atif::faithful::LOSSES` and is not asserted here.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use atif_drift::frame::from_atif::{self, Builder};
use atif_drift::frame::{from_ist, Row};
use atif_drift::trace::ist::EventType;
use atif_drift::trace::{load_file, LoadOptions, Trace};

fn items() -> Vec<PathBuf> {
    common::items_with("nat_atif.json")
}

fn s(t: &Option<atif_drift::frame::Text>) -> &str {
    t.as_deref().unwrap_or("")
}

#[test]
fn faithful_frame_keeps_what_atif_carries() {
    for item in items() {
        let ist = common::load_ist(&item.join("all_requests_profiler_traces.json"));
        let Trace::Atif(atif) =
            load_file(&item.join("nat_atif.json"), &LoadOptions::default()).unwrap()
        else {
            panic!()
        };
        let a = from_ist::frame(&ist);
        let b = from_atif::frame(&atif, Builder::Faithful);
        assert_eq!(a.examples, b.examples);

        // LLM calls: same count per request, same end times, tokens, model, ancestry, output.
        for ex in 0..a.examples {
            let ends = |rows: &[Row]| -> Vec<Row> {
                let mut v: Vec<Row> = rows
                    .iter()
                    .filter(|r| r.example_number() == ex && r.event_type == EventType::LLM_END)
                    .cloned()
                    .collect();
                v.sort_by(|x, y| x.event_timestamp.total_cmp(&y.event_timestamp));
                v
            };
            let (ia, ib) = (ends(&a.rows), ends(&b.rows));
            assert_eq!(
                ia.len(),
                ib.len(),
                "{}: request {ex}: LLM calls",
                item.display()
            );
            for (x, y) in ia.iter().zip(&ib) {
                let ctx = format!(
                    "{}: request {ex} LLM_END at {}",
                    item.display(),
                    x.event_timestamp
                );
                assert_eq!(x.event_timestamp, y.event_timestamp, "{ctx}");
                assert_eq!(x.span_event_timestamp(), y.span_event_timestamp(), "{ctx}");
                assert_eq!(
                    (x.prompt_tokens(), x.completion_tokens()),
                    (y.prompt_tokens(), y.completion_tokens()),
                    "{ctx}"
                );
                assert_eq!(
                    x.total_tokens(),
                    y.total_tokens(),
                    "{ctx}: total = prompt + completion, cached once"
                );
                assert_eq!(s(&x.llm_name), s(&y.llm_name), "{ctx}");
                assert_eq!(x.llm_text_output, y.llm_text_output, "{ctx}");
                assert_eq!(
                    (
                        s(&x.function_id),
                        s(&x.function_name),
                        s(&x.parent_function_id)
                    ),
                    (
                        s(&y.function_id),
                        s(&y.function_name),
                        s(&y.parent_function_id)
                    ),
                    "{ctx}"
                );
            }
        }

        // Tool and function ENDs: same UUID, type, name, ancestry; same time where IST recorded a span.
        let by_uuid: HashMap<(&str, EventType), &Row> = b
            .rows
            .iter()
            .map(|r| ((s(&r.uuid), r.event_type), r))
            .collect();
        let mut checked = 0;
        for x in a
            .rows
            .iter()
            .filter(|r| matches!(r.event_type, EventType::TOOL_END | EventType::FUNCTION_END))
        {
            if s(&x.function_name) == "<workflow>" && x.uuid == x.function_id {
                continue; // the <workflow> span: suppressed by the converter, rebuilt approximately
            }
            let ctx = format!("{}: {} {}", item.display(), x.event_type, s(&x.uuid));
            let y = by_uuid
                .get(&(s(&x.uuid), x.event_type))
                .unwrap_or_else(|| panic!("{ctx}: missing"));
            assert_eq!(s(&x.tool_name), s(&y.tool_name), "{ctx}");
            assert_eq!(
                (s(&x.function_id), s(&x.function_name)),
                (s(&y.function_id), s(&y.function_name)),
                "{ctx}"
            );
            if x.span_event_timestamp().is_some() {
                assert_eq!(x.event_timestamp, y.event_timestamp, "{ctx}: end time");
                assert_eq!(
                    x.span_event_timestamp(),
                    y.span_event_timestamp(),
                    "{ctx}: start time"
                );
            }
            checked += 1;
        }
        assert!(checked > 0, "{}", item.display());
    }
}

/// How far each builder's outputs are from the IST path's: differing values of
/// inference_optimization.json + workflow_profiling_metrics.json (floats at 1e-6
/// relative, UUIDs renamed in order of first appearance, active_uuids as sets).
fn distance(item: &Path, builder: Builder) -> usize {
    use atif_drift::config::ProfilerConfig;
    use atif_drift::differences::{normalize_active_uuids, rename_uuids};
    use atif_drift::drift::value_diff::{differing_values, Tolerance};
    use atif_drift::pipeline::{profile, ProfilePath};
    let cfg = ProfilerConfig::from_workflow_yaml(&item.join("config.yml")).unwrap();
    let ist = profile(
        &load_file(
            &item.join("all_requests_profiler_traces.json"),
            &LoadOptions::default(),
        )
        .unwrap(),
        ProfilePath::Ist,
        &cfg,
        false,
    )
    .unwrap();
    let atif = profile(
        &load_file(&item.join("nat_atif.json"), &LoadOptions::default()).unwrap(),
        ProfilePath::Atif(builder),
        &cfg,
        false,
    )
    .unwrap();
    [
        "inference_optimization.json",
        "workflow_profiling_metrics.json",
    ]
    .iter()
    .map(|f| {
        let parse = |t: &str| {
            let mut v: serde_json::Value = serde_json::from_str(&rename_uuids(t)).unwrap();
            normalize_active_uuids(&mut v);
            v
        };
        differing_values(
            &parse(&ist.get(f).unwrap()),
            &parse(&atif.get(f).unwrap()),
            Tolerance {
                abs: 0.0,
                rel: 1e-6,
            },
        )
    })
    .sum()
}

/// The faithful builder removes most of the drift NAT's own ATIF-native mapping shows. The
/// target is at most half of pr1751's differences; nested_trip_planner does not reach it yet:
/// its SPAN_* nodes (@track_function) have no ATIF counterpart and its directly called NAT
/// functions carry no timing at all in ATIF (see `faithful::LOSSES`).
#[test]
fn faithful_removes_most_of_the_drift() {
    for item in items()
        .into_iter()
        .filter(|p| p.join("config.yml").exists())
    {
        let (pr, fa) = (
            distance(&item, Builder::Pr1751),
            distance(&item, Builder::Faithful),
        );
        let name = item.file_name().unwrap().to_string_lossy().to_string();
        eprintln!("{name}: pr1751 {pr} differing values, faithful {fa}");
        assert!(fa < pr, "{name}: faithful {fa} vs pr1751 {pr}");
        if name != "nested_trip_planner" {
            assert!(
                2 * fa <= pr,
                "{name}: faithful {fa} is more than half of pr1751's {pr}"
            );
        }
    }
}
