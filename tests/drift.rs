//! The drift engine on the bundled corpus with the committed policy, and on copies of a
//! corpus item with known changes injected into its ATIF: each must fail (exit 1) naming
//! the path that changed.

use std::path::{Path, PathBuf};

use atif_drift::drift::{self, policy::Policy, DriftReport};
use atif_drift::frame::from_atif::Builder;
use atif_drift::job;
use atif_drift::trace::LoadOptions;
use serde_json::Value;

mod common;
use common::root;

fn policy() -> Policy {
    atif_drift::job::load_policy(&root().join("drift.toml")).unwrap()
}

#[test]
fn bundled_corpus_passes_with_the_committed_policy() {
    let (entries, r) = job::job(
        &[root().join("corpus")],
        &[Builder::Pr1751, Builder::Faithful],
        &policy(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        r.items.len(),
        20,
        "5 real runs + 1 in nat eval's layout + 1 with every analysis on + 3 generated × 2 builders"
    );
    // nat eval's layout (workflow_output_atif.json only): the ATIF sessions pair with the
    // IST requests by position, not by the eval item's session id.
    for i in r.items.iter().filter(|i| i.item == "nat_eval_output") {
        let m = i.mooncake.as_ref().unwrap();
        assert!(m.rows_ist > 0 && m.paired == m.rows_ist, "{m:?}");
        assert_eq!((m.only_ist, m.only_atif), (0, 0), "{m:?}");
    }
    assert_eq!(
        job::exit_code(&entries, &r),
        0,
        "{}",
        atif_drift::report::terminal::render(&r, &atif_drift::report::terminal::Style::LOG)
    );
    assert!(
        r.unused_expectations.is_empty(),
        "stale expectations: {:?}",
        r.unused_expectations
    );
    // Expected drift is still reported, with its reason.
    let p = r
        .items
        .iter()
        .flat_map(|i| &i.outputs)
        .flat_map(|o| &o.patterns)
        .find(|p| p.pattern.contains("token_uniqueness"));
    assert!(p.is_some_and(|p| p.expected.as_deref().unwrap().contains("prompt text")));
}

#[test]
fn json_report_round_trips_and_markdown_is_a_table() {
    let (_, r) = job::job(
        &[root().join("corpus/sample")],
        &[Builder::Faithful],
        &policy(),
        &LoadOptions::default(),
    )
    .unwrap();
    let text = atif_drift::report::drift::json(&r);
    let back: DriftReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.schema, drift::REPORT_SCHEMA);
    let md = atif_drift::report::drift::markdown(&r);
    assert!(
        md.starts_with("## atif-drift: PASS") && md.contains("| item | paths |"),
        "{md}"
    );
}

/// A temporary corpus with one item: react_calculator's IST trace and config, and its ATIF
/// after `mutate`. The corpus is `corpus` in the scratch directory, which also holds what a
/// test writes beside it (removed with it).
fn mutated(name: &str, mutate: impl Fn(&mut Value)) -> (tempfile::TempDir, PathBuf) {
    let src = root().join("corpus/react_calculator");
    let scratch = common::scratch(&format!("inject-{name}"));
    let corpus = scratch.path().join("corpus");
    let dir = corpus.join("item");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["all_requests_profiler_traces.json", "config.yml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut atif: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("nat_atif.json")).unwrap()).unwrap();
    mutate(&mut atif);
    std::fs::write(dir.join("nat_atif.json"), atif.to_string()).unwrap();
    (scratch, corpus)
}

/// The exporter fault `name` (`gen::faults`) applied to the ATIF of `mutated`'s item.
fn inject(corpus: &Path, name: &str) {
    let atif = corpus.join("item/nat_atif.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&atif).unwrap()).unwrap();
    let fault = atif_drift::gen::faults::FAULTS
        .iter()
        .find(|f| f.name == name)
        .unwrap();
    assert!((fault.apply)(&mut v), "{name} applies");
    std::fs::write(&atif, v.to_string()).unwrap();
}

fn llm_steps(atif: &mut Value) -> impl Iterator<Item = &mut Value> {
    atif.as_array_mut()
        .unwrap()
        .iter_mut()
        .flat_map(|t| t["steps"].as_array_mut().unwrap().iter_mut())
        .filter(|s| s.get("metrics").is_some())
}

fn unexpected_patterns(corpus: &Path, builder: Builder) -> (u8, Vec<String>) {
    let (entries, r) = job::job(
        &[corpus.to_path_buf()],
        &[builder],
        &policy(),
        &LoadOptions::default(),
    )
    .unwrap();
    let pats = r
        .items
        .iter()
        .flat_map(|i| &i.outputs)
        .flat_map(|o| &o.patterns)
        .filter(|p| p.is_unexpected())
        .map(|p| p.pattern.clone())
        .collect();
    (job::exit_code(&entries, &r), pats)
}

#[test]
fn unchanged_copy_passes() {
    let (_scratch, c) = mutated("none", |_| {});
    assert_eq!(unexpected_patterns(&c, Builder::Faithful), (0, vec![]));
}

#[test]
fn llm_timestamps_shifted_by_1ms_are_new_drift() {
    let (_scratch, c) = mutated("shift", |a| {
        for s in llm_steps(a) {
            let inv = &mut s["extra"]["invocation"];
            for k in ["start_timestamp", "end_timestamp"] {
                let t = inv[k].as_f64().unwrap();
                inv[k] = Value::from(t + 0.001);
            }
        }
    });
    let (code, pats) = unexpected_patterns(&c, Builder::Faithful);
    assert_eq!(code, 1);
    assert!(
        pats.iter()
            .any(|p| p == "standardized_data_all.csv:LLM_END.event_timestamp"),
        "{pats:#?}"
    );
}

#[test]
fn cached_tokens_dropped_from_prompt_tokens_are_new_drift() {
    let (_scratch, c) = mutated("cached", |a| {
        for s in llm_steps(a) {
            let m = &mut s["metrics"];
            let cached = m.get("cached_tokens").and_then(Value::as_i64).unwrap_or(0);
            let p = m["prompt_tokens"].as_i64().unwrap();
            m["prompt_tokens"] = Value::from(p - cached);
        }
    });
    let (code, pats) = unexpected_patterns(&c, Builder::Faithful);
    assert_eq!(code, 1);
    assert!(
        pats.iter()
            .any(|p| p == "standardized_data_all.csv:LLM_END.prompt_tokens"),
        "{pats:#?}"
    );
}

#[test]
fn a_dropped_tool_call_is_new_drift() {
    let (_scratch, c) = mutated("tool", |a| {
        // The first real tool call (a TOOL twin of a NAT function span): drop it with its
        // observation and extras.
        'outer: for t in a.as_array_mut().unwrap() {
            for s in t["steps"].as_array_mut().unwrap() {
                let Some(calls) = s.get("tool_calls").and_then(Value::as_array).cloned() else {
                    continue;
                };
                if let Some(i) = calls.iter().position(|c| {
                    c["function_name"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("calculator_")
                }) {
                    let id = calls[i]["tool_call_id"].clone();
                    s["tool_calls"].as_array_mut().unwrap().remove(i);
                    s["extra"]["tool_ancestry"]
                        .as_array_mut()
                        .unwrap()
                        .remove(i);
                    s["extra"]["tool_invocations"]
                        .as_array_mut()
                        .unwrap()
                        .remove(i);
                    s["observation"]["results"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|r| r["source_call_id"] != id);
                    break 'outer;
                }
            }
        }
    });
    let (code, pats) = unexpected_patterns(&c, Builder::Faithful);
    assert_eq!(code, 1);
    assert!(
        pats.iter()
            .any(|p| p.starts_with("standardized_data_all.csv:rows.TOOL_")),
        "{pats:#?}"
    );
}

#[test]
fn a_changed_completion_count_is_new_mooncake_drift() {
    let (_scratch, c) = mutated("mooncake", |a| {
        let s = llm_steps(a).next().unwrap();
        let n = s["metrics"]["completion_tokens"].as_i64().unwrap();
        s["metrics"]["completion_tokens"] = Value::from(n + 1);
    });
    let (code, pats) = unexpected_patterns(&c, Builder::Faithful);
    assert_eq!(code, 1);
    assert!(
        pats.iter()
            .any(|p| p == "mooncake.jsonl:rows.*.output_length"),
        "{pats:#?}"
    );
}

#[test]
fn mooncake_drift_is_in_every_item_and_explained_by_the_policy() {
    let (_, r) = job::job(
        &[root().join("corpus")],
        &[Builder::Pr1751],
        &policy(),
        &LoadOptions::default(),
    )
    .unwrap();
    for i in &r.items {
        let m = i.mooncake.as_ref().expect("mooncake summary");
        // NAT's ATIF: the same calls, no text.
        assert_eq!((m.rows_ist, m.only_ist, m.only_atif), (m.rows_atif, 0, 0));
        assert_eq!((m.output_length_differs, m.delay_differs), (0, 0));
        assert_eq!(m.atif_rows_without_text, m.rows_atif);
        assert!(m.block_reuse_atif.is_none() && m.block_reuse_ist.is_some());
        let o = i
            .outputs
            .iter()
            .find(|o| o.file == "mooncake.jsonl")
            .unwrap();
        assert!(o.differing > 0 && o.unexpected() == 0, "{}", i.item);
        assert!(o.patterns.iter().all(|p| p
            .expected
            .as_deref()
            .unwrap()
            .contains("no prompt text")));
    }
    let md = atif_drift::report::drift::markdown(&r);
    assert!(md.contains("### Mooncake replay"), "{md}");
}

/// Ground truth: with `pr1751`, the drift between our two paths is exactly the drift between
/// NAT's two profilers — the files NAT 1.9.0 and its ATIF-native profiler wrote for each item.
#[test]
fn pr1751_drift_is_nats_own_drift() {
    use atif_drift::profile::Outputs;
    let read = |dir: &Path| Outputs {
        files: drift::COMPARED
            .iter()
            .filter_map(|f| {
                std::fs::read_to_string(dir.join(f))
                    .ok()
                    .map(|c| (f.to_string(), atif_drift::profile::Content::Text(c)))
            })
            .collect(),
    };
    let pol = policy();
    for item in job::discover(&root().join("corpus"), &LoadOptions::default()).unwrap() {
        let dir = item.ist.parent().unwrap();
        let nat = drift::diff_outputs(
            &read(dir),
            &read(&dir.join("atif_native")),
            &pol,
            Builder::Pr1751,
        );
        let ours = job::run_item(&item, Builder::Pr1751, &pol, &LoadOptions::default()).outputs;
        for n in &nat {
            let o = ours
                .iter()
                .find(|o| o.file == n.file)
                .unwrap_or_else(|| panic!("{}: no {}", item.name, n.file));
            let key = |d: &drift::OutputDrift| {
                d.patterns
                    .iter()
                    .map(|p| (p.pattern.clone(), p.values))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(o), key(n), "{}: {}", item.name, n.file);
            assert_eq!(
                (o.differing, o.compared),
                (n.differing, n.compared),
                "{}: {}",
                item.name,
                n.file
            );
        }
    }
}

/// Same inputs, same bytes: whatever the thread count, and when the corpus is split into
/// partitions whose reports are merged.
#[test]
fn reports_are_deterministic_across_threads_and_partitions() {
    let corpus = [root().join("corpus")];
    let builders = [Builder::Pr1751, Builder::Faithful];
    let pol = policy();
    let opts = LoadOptions::default();
    let json = |r: &DriftReport| atif_drift::report::drift::json(r);
    let (_, full) = job::job(&corpus, &builders, &pol, &opts).unwrap();
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| job::job(&corpus, &builders, &pol, &opts).unwrap().1);
    assert_eq!(json(&single), json(&full));
    let parts: Vec<(String, DriftReport)> = (1..=3)
        .rev()
        .map(|k| {
            let r = job::job_with(
                &corpus,
                &builders,
                &pol,
                &opts,
                Some((k, 3)),
                &|_| {},
                &|| {},
            )
            .unwrap()
            .1;
            (format!("part{k}.json"), r)
        })
        .collect();
    assert_eq!(json(&job::merge(parts.clone()).unwrap()), json(&full));
    // A partition twice, or one missing, is refused and named.
    let mut twice = parts.clone();
    twice.push(parts[0].clone());
    let e = job::merge(twice).unwrap_err().to_string();
    assert!(e.contains("given twice") && e.contains("part3.json"), "{e}");
    let e = job::merge(parts[1..].to_vec()).unwrap_err().to_string();
    assert!(e.contains("3/3 missing"), "{e}");
}

/// The report does not depend on the order corpora are given in (or on one given twice).
#[test]
fn report_is_independent_of_corpus_order() {
    let (a, b) = (
        root().join("corpus/sample"),
        root().join("corpus/react_calculator"),
    );
    let run = |c: &[PathBuf]| {
        let (_, r) = job::job(c, &[Builder::Faithful], &policy(), &LoadOptions::default()).unwrap();
        atif_drift::report::drift::json(&r)
    };
    let ab = run(&[a.clone(), b.clone()]);
    assert_eq!(ab, run(&[b.clone(), a.clone()]));
    assert_eq!(ab, run(&[b, a.clone(), a]));
}

/// The drift job loads each item's trace once (in the item's run) and still accounts for
/// every file exactly as a plain corpus walk does; a broken item trace is reported failed.
#[test]
fn job_accounts_for_files_as_the_walk_does() {
    let corpus = root().join("corpus");
    let (entries, _) = job::job(
        std::slice::from_ref(&corpus),
        &[Builder::Pr1751],
        &policy(),
        &LoadOptions::default(),
    )
    .unwrap();
    let walked = atif_drift::corpus::walk(&corpus, &LoadOptions::default()).unwrap();
    let show = |v: &[atif_drift::corpus::FileEntry]| serde_json::to_string(v).unwrap();
    assert_eq!(show(&entries), show(&walked));

    let (_scratch, c) = mutated("truncated", |_| {});
    let trace = c.join("item/all_requests_profiler_traces.json");
    let text = std::fs::read_to_string(&trace).unwrap();
    std::fs::write(&trace, &text[..text.len() / 2]).unwrap();
    let (entries, r) =
        job::job(&[c], &[Builder::Pr1751], &policy(), &LoadOptions::default()).unwrap();
    let e = entries
        .iter()
        .find(|e| e.path.ends_with("all_requests_profiler_traces.json"))
        .unwrap();
    assert!(e.is_failed(), "{e:?}");
    assert_eq!(job::exit_code(&entries, &r), 2);
}

/// The baseline ratchet: a run against its own baseline passes (even with drift the policy
/// does not expect), and the same corpus with a fault injected fails naming what grew.
#[test]
fn the_baseline_ratchet_passes_the_same_corpus_and_fails_a_fault() {
    use std::process::Command;
    let (scratch, c) = mutated("ratchet", |_| {});
    let base = scratch.path().join("baseline.json");
    let drift = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
            .arg("drift")
            .arg(&c)
            .args(["--builder", "faithful", "--policy", "none"])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let b = base.to_str().unwrap();
    let (code, out) = drift(&["--write-baseline", b]);
    assert_eq!(code, Some(1), "no policy: the drift is unexpected\n{out}");
    let (code, out) = drift(&["--baseline", b]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("PASS: no drift grew"), "{out}");
    inject(&c, "prompt-tokens-doubled");
    let (code, out) = drift(&["--baseline", b]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("FAIL: ") && out.contains("grew against the baseline"),
        "{out}"
    );
    assert!(
        out.contains("grew: item [faithful] standardized_data_all.csv:LLM_END.prompt_tokens"),
        "{out}"
    );
}

/// `policy suggest` round-trips: the policy it writes for a corpus passes that corpus, and
/// the same corpus with a fault inside an expected pattern fails it: with pr1751 the built-in
/// policy expects the token columns wholesale and lets doubled prompt counts through; the
/// measured bounds catch them.
#[test]
fn a_suggested_policy_passes_its_corpus_and_catches_a_fault() {
    use std::process::Command;
    let (scratch, c) = mutated("suggest", |_| {});
    let p = scratch.path().join("policy.toml");
    let run = |args: &[&std::ffi::OsStr]| {
        let o = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
            .args(args)
            .args(["--builder", "pr1751"])
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code(), text)
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let (code, out) = run(&[
        &os("policy"),
        &os("suggest"),
        c.as_os_str(),
        &os("-o"),
        p.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    let drift = || {
        run(&[
            &os("drift"),
            c.as_os_str(),
            &os("-q"),
            &os("--policy"),
            p.as_os_str(),
        ])
    };
    let (code, out) = drift();
    assert_eq!(code, Some(0), "{out}");
    inject(&c, "prompt-tokens-doubled");
    let (code, out) = drift();
    assert_eq!(code, Some(1), "{out}");
}

/// The built-in policy holds with every analysis on (NAT's defaults: a run directory without
/// the workflow's config.yml, or a config that enables them): each bundled item's trace and
/// ATIF alone, both builders, no unexpected drift. The bundled configs turn the simple-stack
/// analysis off, which hid its faithful drift (tool and LLM START times) until this test.
#[test]
fn the_builtin_policy_passes_every_item_with_every_analysis_on() {
    let policy =
        atif_drift::app::load_policy(&atif_drift::drift::policy::PolicySource::Builtin).unwrap();
    let root = root();
    let work = root.join("target/drift-all-on");
    let _ = std::fs::remove_dir_all(&work);
    for item in job::discover(&root.join("corpus"), &LoadOptions::default()).unwrap() {
        let dir = work.join(item.name.replace('/', "__"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&item.ist, dir.join("all_requests_profiler_traces.json")).unwrap();
        if let Some(atif) = &item.atif {
            std::fs::copy(atif, dir.join("nat_atif.json")).unwrap();
        }
    }
    let (_, r) = job::job(&[work], &Builder::ALL, &policy, &LoadOptions::default()).unwrap();
    assert!(r.items.iter().all(|i| i.error.is_none()));
    let unexpected: Vec<String> = r
        .unexpected_patterns()
        .map(|(i, p)| format!("{} [{}] {}", i.item, i.label(), p.pattern))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}

/// The built-in policy's bounds and relation catch exporter faults hidden inside expected
/// pr1751 drift (each failed the gate's check before): the prompt tokens doubled, cached
/// tokens dropped (pr1751's total then agrees with the IST one: drift gone missing) and an
/// invocation clock shifted by 0.5 s; the clean copy passes.
#[test]
fn the_builtin_policy_catches_faults_inside_expected_pr1751_drift() {
    use atif_drift::gen::faults::FAULTS;
    let pol = Policy::from_toml(atif_drift::drift::policy::BUILTIN).unwrap();
    let src = root().join("corpus/react_calculator");
    let base = root().join("target/drift-test/faults");
    let _ = std::fs::remove_dir_all(&base);
    let atif: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("nat_atif.json")).unwrap()).unwrap();
    let mut unexpected = std::collections::BTreeMap::new();
    let (pr, fa) = (Builder::Pr1751, Builder::Faithful);
    for (name, builder) in [
        ("clean", pr),
        ("clean", fa),
        ("prompt-tokens-doubled", pr),
        ("cached-tokens-dropped", pr),
        ("invocation-times-shifted", pr),
        // A tool call dropped or renamed, or a step's observation lost, hides among
        // pr1751's TOOL_END rows (NAT's FUNCTION spans become tool calls) and faithful's
        // rebuilt FUNCTION spans, both expected drift: the calls' comparison sees it.
        ("tool-call-dropped", pr),
        ("tool-call-dropped", fa),
        ("tool-renamed", pr),
        ("observation-lost", pr),
    ] {
        let dir = base.join(format!("{name}-{}", builder.name()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["all_requests_profiler_traces.json", "config.yml"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let mut m = atif.clone();
        if let Some(f) = FAULTS.iter().find(|f| f.name == name) {
            assert!((f.apply)(&mut m), "{name}");
        }
        std::fs::write(dir.join("nat_atif.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        let item = &job::discover(&dir, &LoadOptions::default()).unwrap()[0];
        let r = job::run_item(item, builder, &pol, &LoadOptions::default());
        let found: Vec<String> = r
            .unexpected_patterns()
            .map(|p| format!("{} ({})", p.pattern, p.exceeded.as_deref().unwrap_or("new")))
            .collect();
        unexpected.insert(format!("{name} {}", builder.name()), found);
    }
    assert_eq!(unexpected["clean pr1751"], Vec::<String>::new());
    assert_eq!(unexpected["clean faithful"], Vec::<String>::new());
    let says = |name: &str, what: &str| {
        assert!(
            unexpected[name].iter().any(|p| p.contains(what)),
            "{name}: {:?}",
            unexpected[name]
        );
    };
    says(
        "prompt-tokens-doubled pr1751",
        "LLM_END.prompt_tokens (new)",
    );
    says(
        "cached-tokens-dropped pr1751",
        "LLM_END.total_tokens (relation right == left.prompt_tokens",
    );
    for name in [
        "tool-call-dropped pr1751",
        "tool-call-dropped faithful",
        "tool-renamed pr1751",
        "observation-lost pr1751",
    ] {
        says(name, "standardized_data_all.csv:calls (new)");
    }
    says(
        "invocation-times-shifted pr1751",
        "llm_latency_confidence_intervals",
    );
}
