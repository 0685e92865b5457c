//! LLM-span dedupe against NeMo Relay 0.10.4 on its own scenarios (`tests/data/relay/`, made
//! by `../shared/fixtures/relay/scenarios.py`): the spans Relay suppressed and kept, and the
//! token totals of its ATIF; and the strict rule against each scenario's ground truth.

mod common;

use std::collections::BTreeSet;

use atif_drift::atof::dedupe::{dedupe, Mode};
use atif_drift::atof::{llm_spans, LlmSpan};
use serde_json::Value;

/// Relay's own scenarios (`relay`) or our randomised mixes run through Relay (`relay_random`,
/// made by `tests/data/relay_random/random_mixes.py`).
const SETS: &[&str] = &["relay", "relay_random"];

fn set_dir(set: &str) -> std::path::PathBuf {
    common::root().join("tests/data").join(set)
}

fn manifest_of(set: &str) -> serde_json::Map<String, Value> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(set_dir(set).join("manifest.json")).unwrap())
            .unwrap();
    v.as_object().unwrap().clone()
}

fn manifest() -> serde_json::Map<String, Value> {
    manifest_of("relay")
}

fn spans(name: &str) -> Vec<LlmSpan> {
    spans_in("relay", name)
}

fn spans_in(set: &str, name: &str) -> Vec<LlmSpan> {
    let text = std::fs::read_to_string(set_dir(set).join(format!("{name}.events.json"))).unwrap();
    let events: Vec<Value> = serde_json::from_str(&text).unwrap();
    llm_spans(&events)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// (prompt, completion, cached) summed over the agent steps of a Relay trajectory, subagent
/// trajectories included.
fn step_totals(t: &Value) -> (u64, u64, u64) {
    let mut out = (0, 0, 0);
    for s in t["steps"].as_array().unwrap() {
        let n = |k: &str| s["metrics"].get(k).and_then(Value::as_u64).unwrap_or(0);
        out.0 += n("prompt_tokens");
        out.1 += n("completion_tokens");
        out.2 += n("cached_tokens");
    }
    for sub in t
        .get("subagent_trajectories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let x = step_totals(sub);
        out = (out.0 + x.0, out.1 + x.1, out.2 + x.2);
    }
    out
}

/// The token totals of every trajectory Relay produced for a scenario (more than one where
/// it is not deterministic).
fn relay_totals(set: &str, name: &str) -> Vec<(u64, u64, u64)> {
    let read = |f: String| -> Value {
        serde_json::from_str(&std::fs::read_to_string(set_dir(set).join(f)).unwrap()).unwrap()
    };
    let variants = set_dir(set).join(format!("{name}.atif.variants.json"));
    if variants.exists() {
        read(format!("{name}.atif.variants.json"))
            .as_array()
            .unwrap()
            .iter()
            .map(step_totals)
            .collect()
    } else {
        vec![step_totals(&read(format!("{name}.atif.json")))]
    }
}

#[test]
fn relay_mode_suppresses_and_keeps_what_relay_did_with_its_token_totals() {
    for set in SETS {
        let m = manifest_of(set);
        assert!(m.len() >= 12, "{set}: {} scenarios", m.len());
        for (name, sc) in &m {
            let facts = &sc["facts"];
            let s = spans_in(set, name);
            assert_eq!(
                s.len() as u64,
                facts["llm_spans_in"].as_u64().unwrap(),
                "{name}"
            );
            let d = dedupe(&s, Mode::Relay);
            assert_eq!(
                d.suppressed,
                strings(&facts["suppressed_llm_span_uuids"]),
                "{name}"
            );
            let kept: BTreeSet<String> = s
                .iter()
                .filter(|x| !d.suppressed.contains(&x.uuid))
                .map(|x| x.uuid.clone())
                .collect();
            assert_eq!(kept, strings(&facts["kept_llm_span_uuids"]), "{name}");
            let ours = common::kept_totals(&s, &d);
            let relay = relay_totals(set, name);
            assert!(
                relay.contains(&ours),
                "{name}: ours {ours:?}, Relay {relay:?}"
            );
        }
    }
}

/// On the random mixes, the strict rule is closer to the ground truth than Relay's.
#[test]
fn strict_mode_is_closer_to_the_truth_on_random_mixes() {
    let (mut relay_off, mut strict_off, mut exact) = (0, 0, 0);
    let m = manifest_of("relay_random");
    for (name, sc) in &m {
        let s = spans_in("relay_random", name);
        let truth = sc["expect"]["truth_agent_steps"].as_u64().unwrap() as i64;
        let kept = |mode| (s.len() - dedupe(&s, mode).suppressed.len()) as i64;
        relay_off += (kept(Mode::Relay) - truth).abs();
        strict_off += (kept(Mode::Strict) - truth).abs();
        exact += usize::from(kept(Mode::Strict) == truth);
    }
    eprintln!(
        "steps off the truth: Relay {relay_off}, strict {strict_off}; strict exact on {exact}/{}",
        m.len()
    );
    assert!(
        strict_off < relay_off,
        "Relay {relay_off}, strict {strict_off}"
    );
}

#[test]
fn strict_mode_counts_each_physical_call_once() {
    for (name, sc) in &manifest() {
        let s = spans(name);
        let d = dedupe(&s, Mode::Strict);
        let kept = s.len() - d.suppressed.len();
        let truth = sc["expect"]["truth_agent_steps"].as_u64().unwrap() as usize;
        assert_eq!(kept, truth, "{name}: merges {:?}", d.merges);
    }
}

/// Where Relay is wrong (its own manifest says so), strict mode differs from it; where
/// Relay is right, both agree on what is kept.
#[test]
fn strict_mode_fixes_relays_known_weaknesses_and_agrees_elsewhere() {
    for (name, sc) in &manifest() {
        let s = spans(name);
        let (r, st) = (dedupe(&s, Mode::Relay), dedupe(&s, Mode::Strict));
        if sc["expect"]["relay_correct"].as_bool().unwrap() {
            assert_eq!(r.suppressed.len(), st.suppressed.len(), "{name}");
        } else {
            assert_ne!(r.suppressed.len(), st.suppressed.len(), "{name}");
        }
    }
}

/// d5: the winner absorbs two spans with different prompt counts; Relay's result depends on
/// its HashMap order, strict mode takes the higher-fidelity one (the API hook's 7).
#[test]
fn strict_mode_metrics_merge_is_deterministic() {
    let s = spans("d5_metrics_merge_order");
    let d = dedupe(&s, Mode::Strict);
    assert_eq!(common::kept_totals(&s, &d), (7, 1, 0));
    let mut rev = s.clone();
    rev.reverse();
    assert_eq!(dedupe(&rev, Mode::Strict), d);
}

/// ATOF → ATIF: our export equals Relay's trajectory, as JSON (for scenarios where Relay's
/// output varies between runs, one of its variants).
#[test]
fn export_equals_relays_atif() {
    use atif_drift::atof::export::{export, ExportOptions};
    let opts = ExportOptions {
        session_id: "relay-fixture-session".into(),
        agent_name: "relay-fixture-agent".into(),
        agent_version: "1.0.0".into(),
        mode: Mode::Relay,
    };
    let mut failures = Vec::new();
    let mut total = 0;
    for set in SETS {
        for name in manifest_of(set).keys() {
            total += 1;
            let read = |f: String| -> Value {
                serde_json::from_str(&std::fs::read_to_string(set_dir(set).join(f)).unwrap())
                    .unwrap()
            };
            let events: Vec<Value> =
                serde_json::from_value(read(format!("{name}.events.json"))).unwrap();
            let ours = export(&events, &opts);
            let variants = set_dir(set).join(format!("{name}.atif.variants.json"));
            let relay: Vec<Value> = if variants.exists() {
                read(format!("{name}.atif.variants.json"))
                    .as_array()
                    .unwrap()
                    .clone()
            } else {
                vec![read(format!("{name}.atif.json"))]
            };
            if !relay.contains(&ours) {
                let d = atif_drift::drift::value_diff::diff(
                    &ours,
                    &relay[0],
                    atif_drift::drift::value_diff::Tolerance { abs: 0.0, rel: 0.0 },
                );
                failures.push(format!("{set}/{name}: {:?}", &d[..d.len().min(3)]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// With `--dedupe strict`, the exported trajectory has one agent step per physical call on
/// every one of Relay's scenarios (Relay's own export is wrong on six).
#[test]
fn strict_export_has_one_agent_step_per_call() {
    use atif_drift::atof::export::{export, ExportOptions};
    fn agent_steps(t: &Value) -> usize {
        t["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["source"] == "agent" && s["llm_call_count"] == 1)
            .count()
            + t.get("subagent_trajectories")
                .and_then(Value::as_array)
                .map_or(0, |subs| subs.iter().map(agent_steps).sum())
    }
    let opts = ExportOptions {
        mode: Mode::Strict,
        ..ExportOptions::default()
    };
    for (name, sc) in &manifest() {
        let text =
            std::fs::read_to_string(set_dir("relay").join(format!("{name}.events.json"))).unwrap();
        let events: Vec<Value> = serde_json::from_str(&text).unwrap();
        let t = export(&events, &opts);
        assert_eq!(
            agent_steps(&t) as u64,
            sc["expect"]["truth_agent_steps"].as_u64().unwrap(),
            "{name}"
        );
    }
}

/// The ATOF exporter writes the one ATIF model: its trajectory for every event stream we have
/// (Relay's scenarios, the random mixes, the generated corpus) passes the validator, whose
/// field tables are the typed model's (`validate::model`), with no error: no field the model
/// lacks, none of another type.
#[test]
fn the_exporter_writes_valid_atif_of_the_model() {
    use atif_drift::atof::export::{export, ExportOptions};
    use atif_drift::validate::{validate_document, Severity};
    let mut streams: Vec<std::path::PathBuf> = Vec::new();
    for set in SETS {
        for e in std::fs::read_dir(set_dir(set)).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".events.json") {
                streams.push(p);
            }
        }
    }
    for seed in 1..=3 {
        streams.push(common::root().join(format!("corpus/generated/seed-{seed}/atof_events.json")));
    }
    streams.sort();
    assert!(streams.len() > 30, "{} event streams", streams.len());
    for p in &streams {
        let events: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let t = export(&events, &ExportOptions::default());
        let mut problems = Vec::new();
        validate_document(&t, "", &mut problems);
        let errors: Vec<_> = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    }
}
