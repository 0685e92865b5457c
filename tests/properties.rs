//! Properties of LLM-span dedupe, conversion and the two profiler paths on generated agent
//! runs (`atif_drift::gen::run`), 256 cases each. A failing case shrinks; save it as a corpus
//! item with `atif-drift gen --from-json run.json -o DIR` (the run is printed on failure).
//! Failures found are kept in `tests/proptest-regressions/properties.txt`.

mod common;

use std::collections::BTreeSet;

use atif_drift::atof::dedupe::{dedupe, Dedupe, Mode};
use atif_drift::atof::{llm_spans, LlmSpan};
use atif_drift::gen::run::{
    run_spec, timeline, to_atof, to_ist, token_totals, CallSpec, RequestSpec, RunSpec, TurnSpec,
};
use proptest::prelude::*;
use serde_json::Value;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/proptest-regressions/properties.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

fn kept(spans: &[LlmSpan], d: &Dedupe) -> usize {
    spans.len() - d.suppressed.len()
}

fn dual(run: RunSpec) -> RunSpec {
    RunSpec {
        dual_observation: true,
        ..run
    }
}

/// Runs whose overlapping calls in one turn ask different questions: Relay's rule cannot tell
/// same-question concurrent calls apart (its known weakness W2), the strict rule can.
fn distinct_concurrent_prompts(run: &RunSpec) -> bool {
    run.requests.iter().all(|r| {
        r.turns
            .iter()
            .all(|t| t.calls.len() < 2 || t.calls[0].prompt != t.calls[1].prompt)
    })
}

proptest! {
    #![proptest_config(config())]

    /// 1. Every call seen by a hook and a gateway (overlapping, same parent) is merged into
    /// one span: kept spans = physical calls, with either rule.
    #[test]
    fn hook_and_gateway_observations_of_one_call_merge(run in run_spec().prop_map(dual)) {
        let spans = llm_spans(&to_atof(&run));
        let calls = timeline(&run).calls.len();
        prop_assert_eq!(spans.len(), 2 * calls);
        prop_assert_eq!(kept(&spans, &dedupe(&spans, Mode::Strict)), calls);
        if distinct_concurrent_prompts(&run) {
            prop_assert_eq!(kept(&spans, &dedupe(&spans, Mode::Relay)), calls);
        }
    }

    /// 2. Calls with the same content made one after the other never merge.
    #[test]
    fn sequential_same_content_calls_never_merge(
        call in any::<u8>(), n in 2usize..6, gap in 1u32..20, observed_twice in any::<bool>()
    ) {
        let c = CallSpec { model: 0, prompt: (call % 4) as usize, duration_ms: 20,
            prompt_tokens: 10, completion_tokens: 2, cached_tokens: 0, reasoning_tokens: 0 };
        let turns = (0..n).map(|_| TurnSpec { calls: vec![c.clone()], overlap_offset_ms: 1,
            tools: vec![], gap_ms: gap }).collect();
        let run = RunSpec { requests: vec![RequestSpec { question: 0, turns }],
            dual_observation: observed_twice };
        let spans = llm_spans(&to_atof(&run));
        for mode in [Mode::Relay, Mode::Strict] {
            prop_assert_eq!(kept(&spans, &dedupe(&spans, mode)), n);
        }
    }

    /// 3. Identical overlapping calls under different parents never merge.
    #[test]
    fn calls_under_different_parents_never_merge(run in run_spec()) {
        let events = to_atof(&run);
        let spans = llm_spans(&events);
        for mode in [Mode::Relay, Mode::Strict] {
            let d = dedupe(&spans, mode);
            for (win, lose) in &d.merges {
                let p = |u: &str| spans.iter().find(|s| s.uuid == u).unwrap().parent_uuid.clone();
                prop_assert_eq!(p(win), p(lose));
            }
        }
        // Re-parent every span to a parent of its own: nothing merges.
        let mut alone = spans.clone();
        for (i, s) in alone.iter_mut().enumerate() {
            s.parent_uuid = Some(format!("parent-{i}"));
        }
        for mode in [Mode::Relay, Mode::Strict] {
            prop_assert!(dedupe(&alone, mode).suppressed.is_empty());
        }
    }

    /// 4. The result does not depend on the order of the input events.
    #[test]
    fn dedupe_is_independent_of_input_order(run in run_spec(), seed in any::<u64>()) {
        let mut events = to_atof(&run);
        let d0 = (dedupe(&llm_spans(&events), Mode::Strict), dedupe(&llm_spans(&events), Mode::Relay));
        // A deterministic shuffle (Fisher–Yates with a SplitMix64 stream).
        let mut x = seed;
        for i in (1..events.len()).rev() {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            events.swap(i, ((z ^ (z >> 31)) % (i as u64 + 1)) as usize);
        }
        let spans = llm_spans(&events);
        prop_assert_eq!(&dedupe(&spans, Mode::Strict), &d0.0);
        prop_assert_eq!(&dedupe(&spans, Mode::Relay).suppressed, &d0.1.suppressed);
    }

    /// 5. Dedupe is idempotent: the kept spans have nothing left to merge.
    #[test]
    fn dedupe_is_idempotent(run in run_spec()) {
        let events = to_atof(&run);
        let spans = llm_spans(&events);
        for mode in [Mode::Relay, Mode::Strict] {
            let d = dedupe(&spans, mode);
            let rest: Vec<Value> = events.iter().filter(|e| {
                e["uuid"].as_str().is_none_or(|u| !d.suppressed.contains(u))
            }).cloned().collect();
            let again = llm_spans(&rest);
            prop_assert_eq!(again.len(), kept(&spans, &d));
            prop_assert!(dedupe(&again, mode).suppressed.is_empty());
        }
    }

    /// 6. Token totals are conserved: the kept spans' merged metrics add up to the ground
    /// truth (the hook's usage fills the gateway span, nothing is counted twice).
    #[test]
    fn token_totals_are_conserved(run in run_spec()) {
        let spans = llm_spans(&to_atof(&run));
        let truth = token_totals(&run);
        prop_assert_eq!(common::kept_totals(&spans, &dedupe(&spans, Mode::Strict)), truth);
        if distinct_concurrent_prompts(&run) {
            prop_assert_eq!(common::kept_totals(&spans, &dedupe(&spans, Mode::Relay)), truth);
        }
    }

    /// 7. IST → ATIF (NAT's converter) keeps every LLM call and its token counts.
    #[test]
    fn ist_to_atif_keeps_llm_calls_and_tokens(run in run_spec()) {
        let ist = to_ist(&run);
        let atif = atif_drift::convert::ist_to_atif(&ist, &Default::default()).unwrap();
        let mut n = 0;
        let (mut p, mut c) = (0, 0);
        for t in &atif {
            for s in t.steps.iter().filter(|s| s.source == "agent") {
                if let Some(m) = &s.metrics {
                    n += 1;
                    p += m.prompt_tokens.unwrap_or(0) as u64;
                    c += m.completion_tokens.unwrap_or(0) as u64;
                }
            }
        }
        let truth = token_totals(&run);
        prop_assert_eq!(n, timeline(&run).calls.len());
        prop_assert_eq!((p, c), (truth.0, truth.1));
    }

    /// 8. The mooncake replay has one row per call from IST and from NAT's ATIF, with the
    /// same output lengths in the same sessions.
    #[test]
    fn mooncake_rows_agree_between_ist_and_atif(run in run_spec()) {
        use atif_drift::mooncake as mc;
        let ist = to_ist(&run);
        let tok = mc::Tokenizer::cl100k();
        let left = mc::rows(&mc::sessions_from_ist(&ist.requests), &tok, &mc::Options::default()).unwrap();
        let atif = atif_drift::pipeline::as_atif(&atif_drift::trace::Trace::Ist(ist)).unwrap().into_owned();
        let right = mc::rows(&mc::sessions_from_atif(&atif), &tok, &mc::Options::default()).unwrap();
        let (d, _) = atif_drift::drift::mooncake::diff(&left.rows, &right.rows, &mut |_, _| {});
        prop_assert_eq!(left.rows.len(), timeline(&run).calls.len());
        prop_assert_eq!((d.only_ist, d.only_atif, d.output_length_differs, d.delay_differs), (0, 0, 0, 0));
    }

    /// 10. ATOF → ATIF with strict dedupe: one agent LLM step per call, subagents included,
    /// and the trajectory's token totals are the ground truth's.
    #[test]
    fn atof_export_has_one_llm_step_per_call(run in run_spec()) {
        use atif_drift::atof::export::{export, ExportOptions};
        fn walk(t: &Value, n: &mut usize, p: &mut u64, c: &mut u64) {
            for s in t["steps"].as_array().unwrap() {
                if s["llm_call_count"] == 1 {
                    *n += 1;
                    *p += s["metrics"]["prompt_tokens"].as_u64().unwrap_or(0);
                    *c += s["metrics"]["completion_tokens"].as_u64().unwrap_or(0);
                }
            }
            for sub in t.get("subagent_trajectories").and_then(Value::as_array).into_iter().flatten() {
                walk(sub, n, p, c);
            }
        }
        let t = export(&to_atof(&run), &ExportOptions { mode: Mode::Strict, ..ExportOptions::default() });
        let (mut n, mut p, mut c) = (0, 0, 0);
        walk(&t, &mut n, &mut p, &mut c);
        let truth = token_totals(&run);
        prop_assert_eq!(n, timeline(&run).calls.len());
        prop_assert_eq!((p, c), (truth.0, truth.1));
    }

    /// 9. The IST path and the ATIF path (pr1751 and faithful) drift only where the bundled
    /// policy expects it.
    #[test]
    fn path_drift_on_generated_runs_stays_within_the_policy(run in run_spec()) {
        use atif_drift::drift::diff_outputs;
        use atif_drift::frame::from_atif::Builder;
        use atif_drift::pipeline::{profile, ProfilePath};
        let policy = atif_drift::job::load_policy(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/drift.toml"))).unwrap();
        let trace = atif_drift::trace::Trace::Ist(to_ist(&run));
        let cfg = atif_drift::config::ProfilerConfig::all_on();
        let ist = profile(&trace, ProfilePath::Ist, &cfg, true).unwrap();
        for b in [Builder::Pr1751, Builder::Faithful] {
            let atif = profile(&trace, ProfilePath::Atif(b), &cfg, true).unwrap();
            let unexpected: BTreeSet<String> = diff_outputs(&ist, &atif, &policy, b)
                .iter()
                .flat_map(|o| &o.patterns)
                .filter(|p| p.is_unexpected())
                .map(|p| p.pattern.clone())
                .collect();
            prop_assert!(unexpected.is_empty(), "{:?}: {:?}", b, unexpected);
        }
    }
}
