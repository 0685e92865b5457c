//! Measured attribution (`atif-drift attribute`): the full-fidelity ATIF drifts nowhere, the
//! built-in policy's `loss =` labels agree with the measurement, the report is deterministic,
//! and a loss's single-loss drift stays within the drift NAT's ATIF shows.

mod common;

use std::collections::BTreeSet;

use atif_drift::config::ProfilerConfig;
use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::drift::attribution::variants;
use atif_drift::drift::drift_variants;
use atif_drift::drift::policy::Policy;
use atif_drift::frame::from_atif::{self, Builder};
use atif_drift::frame::from_ist;
use atif_drift::gen::run::{run_spec, to_ist};
use atif_drift::mooncake as mc;
use atif_drift::trace::atif::AtifTrace;
use atif_drift::trace::ist::IstTrace;
use proptest::prelude::*;

/// Per variant of `variants()`, the drift patterns of the faithful builder against the IST
/// path.
fn variant_patterns(ist: &IstTrace) -> Vec<BTreeSet<String>> {
    let vs = variants()
        .into_iter()
        .map(|(_, keep)| {
            let t = ist_to_atif(
                ist,
                &ConvertOptions {
                    agent_name: None,
                    keep,
                },
            )
            .unwrap();
            let atif = AtifTrace::from_trajectories(t);
            (
                from_atif::frame(&atif, Builder::Faithful),
                mc::sessions_from_atif(&atif),
            )
        })
        .collect();
    let d = drift_variants(
        from_ist::frame(ist),
        vs,
        &mc::sessions_from_ist(&ist.requests),
        Builder::Faithful,
        &ProfilerConfig::all_on(),
        &Policy::default(),
    )
    .unwrap();
    d.iter()
        .map(|b| {
            b.outputs
                .iter()
                .flat_map(|o| &o.patterns)
                .map(|p| p.pattern.clone())
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/proptest-regressions/attribution.txt",
            ),
        )),
        ..ProptestConfig::default()
    })]

    /// On generated runs: the full-fidelity ATIF drifts nowhere, and each loss applied alone
    /// drifts only where NAT's ATIF (every loss applied) drifts.
    #[test]
    fn single_loss_drift_is_within_the_all_losses_drift(run in run_spec()) {
        let ist = to_ist(&run);
        let p = variant_patterns(&ist);
        prop_assert!(p.last().unwrap().is_empty(), "full fidelity drifts: {:?}", p.last());
        let names: Vec<String> = variants().into_iter().map(|(n, _)| n).collect();
        for (i, name) in names.iter().enumerate().filter(|(_, n)| n.starts_with("only:")) {
            let outside: Vec<&String> = p[i].difference(&p[0]).collect();
            prop_assert!(outside.is_empty(), "{name}: {outside:?}");
        }
    }
}

/// On the corpus, at the level of analyses, the UUID columns aside: the engine numbers
/// UUIDs in order of first appearance, text cells included, so where real prompts hold UUIDs
/// (tool call ids in the chat history) keeping the prompt text shifts the numbering of the
/// UUID columns (`only:prompt-text` shows `parent_function_id` drift that NAT's ATIF, with
/// every UUID column drifting, files under other patterns). Measured, not a builder error.
#[test]
fn single_loss_drift_is_within_the_all_losses_drift_on_the_corpus() {
    use atif_drift::drift::attribution::analysis_of;
    let names: Vec<String> = variants().into_iter().map(|(n, _)| n).collect();
    for item in common::items_with("all_requests_profiler_traces.json") {
        let ist = common::load_ist(&item.join("all_requests_profiler_traces.json"));
        let p: Vec<BTreeSet<String>> = variant_patterns(&ist)
            .into_iter()
            .map(|s| {
                s.iter()
                    .map(|p| analysis_of(p))
                    .filter(|a| {
                        !a.ends_with(":UUID")
                            && !a.ends_with(":function_id")
                            && !a.ends_with(":parent_function_id")
                    })
                    .collect()
            })
            .collect();
        assert!(
            p.last().unwrap().is_empty(),
            "{}: full fidelity drifts: {:?}",
            item.display(),
            p.last()
        );
        for (i, name) in names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.starts_with("only:"))
        {
            let outside: Vec<&String> = p[i].difference(&p[0]).collect();
            assert!(
                outside.is_empty(),
                "{}: {name}: {outside:?}",
                item.display()
            );
        }
    }
}

/// `attribute` on the bundled corpus: the same JSON whatever the thread count, schema-versioned,
/// no drift on the full-fidelity ATIF, and no `loss =` label of the built-in policy that the
/// measurement contradicts.
#[test]
fn attribute_on_the_corpus_is_deterministic_exact_and_agrees_with_the_policy() {
    use atif_drift::trace::LoadOptions;
    let opts = LoadOptions::default();
    let items = atif_drift::job::corpus_items(&[common::root().join("corpus")], &opts).unwrap();
    let policy = Policy::from_toml(atif_drift::drift::policy::BUILTIN).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let r = atif_drift::job::attribute::attribute(&items, &policy, &opts, true, &|| {});
            serde_json::to_string_pretty(&r).unwrap()
        })
    };
    let (one, two) = (run(1), run(2));
    assert!(one == two, "the report depends on the thread count");
    let r: atif_drift::drift::attribution::AttributionReport = serde_json::from_str(&one).unwrap();
    assert_eq!(r.schema, atif_drift::drift::attribution::ATTRIBUTION_SCHEMA);
    assert!(r.items.len() >= 8 && r.items.iter().all(|i| i.error.is_none()));
    for i in &r.items {
        for a in &i.analyses {
            assert_eq!(a.full_fidelity, 0, "{}: {}", i.item, a.analysis);
        }
    }
    let wrong: Vec<_> = r.patterns.iter().filter(|p| p.verdict == "wrong").collect();
    assert!(
        wrong.is_empty(),
        "labels the measurement contradicts: {wrong:?}"
    );
    assert!(!r.pr1751.is_empty());
}

/// A label the measurement contradicts is reported as wrong.
#[test]
fn a_wrong_label_is_reported() {
    let opts = atif_drift::trace::LoadOptions::default();
    let items: Vec<_> =
        atif_drift::job::corpus_items(&[common::root().join("corpus/sample")], &opts).unwrap();
    let policy = Policy::from_toml(
        "[[expected]]\npattern = \"standardized_data_all.csv:rows.LLM_NEW_TOKEN\"\nloss = \"prompt-text\"\nreason = \"mislabelled\"\n",
    )
    .unwrap();
    let r = atif_drift::job::attribute::attribute(&items, &policy, &opts, false, &|| {});
    let p = r
        .patterns
        .iter()
        .find(|p| p.pattern == "standardized_data_all.csv:rows.LLM_NEW_TOKEN")
        .expect("streamed chunks drift");
    assert_eq!(p.verdict, "wrong", "{p:?}");
    assert_eq!(p.losses[0].0, "streamed-chunks");
}

/// `drift --explain`: every pattern of our ATIF paths names its measured losses, and a label
/// the measurement contradicts is marked in the report.
#[test]
fn drift_explain_names_measured_losses_and_marks_a_wrong_label() {
    let scratch = common::scratch("explain");
    let dir = scratch.path();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[[expected]]\npattern = \"standardized_data_all.csv:rows.LLM_NEW_TOKEN\"\nloss = \"prompt-text\"\nreason = \"mislabelled\"\n",
    )
    .unwrap();
    let cmd = atif_drift::app::DriftCommand {
        corpora: vec![common::root().join("corpus/sample")],
        policy: atif_drift::drift::policy::PolicySource::File(policy),
        sides: atif_drift::app::Sides::of_builders(&Builder::ALL),
        format: atif_drift::app::ReportFormat::Markdown,
        verbosity: atif_drift::report::terminal::Verbosity::Normal,
        out: Some(dir.join("out")),
        force: false,
        partition: None,
        baseline: None,
        write_baseline: None,
        step_summary: None,
        list_files: false,
        explain: true,
        load: Default::default(),
    };
    let mut text = String::new();
    atif_drift::app::drift(&cmd, &mut |t| text.push_str(t), &mut |_| {}).unwrap();
    let row = text
        .lines()
        .find(|l| l.contains("`rows.LLM_NEW_TOKEN`") && l.contains("prompt-text"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("**wrong label**") && row.contains("streamed-chunks"),
        "{row}"
    );
    assert!(text.contains("## What ATIF loses, measured"));
    let json = std::fs::read_to_string(dir.join("out/report.json")).unwrap();
    assert!(json.contains("\"measured\""));
    assert!(dir.join("out/attribution.json").is_file() && dir.join("out/attribution.md").is_file());
}
