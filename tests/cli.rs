//! The commands added for mooncake export, ATOF → ATIF, dedupe and generation, run as a user
//! runs them: exit codes, files written, messages naming the file.

mod common;

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atif-drift"))
}

#[test]
fn convert_to_mooncake_from_ist_and_atif() {
    let scratch = common::scratch("cli-mooncake");
    let dir = scratch.path();
    let item = common::root().join("corpus/sample");
    for (input, out) in [
        ("all_requests_profiler_traces.json", "ist.jsonl"),
        ("nat_atif.json", "atif.jsonl"),
    ] {
        let o = bin()
            .args(["convert", "--to", "mooncake", "--block-size", "32", "-o"])
            .arg(dir.join(out))
            .arg(item.join(input))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let rows = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(rows("ist.jsonl"), rows("atif.jsonl"));
    // A missing tokenizer file is an error naming it (exit 2).
    let o = bin()
        .args([
            "convert",
            "--to",
            "mooncake",
            "--tokenizer",
            "/nonexistent/tokenizer.json",
            "-o",
            "-",
        ])
        .arg(item.join("all_requests_profiler_traces.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/tokenizer.json"));
}

#[test]
fn convert_atof_to_atif_with_both_dedupe_rules() {
    let events = common::root().join("tests/data/relay/d1_equal_fidelity_tie.events.json");
    let agent_steps = |mode: &str| {
        let o = bin()
            .args([
                "convert", "--from", "atof", "--to", "atif", "--dedupe", mode, "-o", "-",
            ])
            .arg(&events)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let t: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        t["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["source"] == "agent")
            .count()
    };
    // d1: one call seen by two gateway hops; Relay keeps both, strict keeps one.
    assert_eq!((agent_steps("relay"), agent_steps("strict")), (2, 1));
    // --from must agree with the content.
    let o = bin()
        .args(["convert", "--from", "ist", "--to", "atif", "-o", "-"])
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is atof"));
}

#[test]
fn dedupe_prints_each_span_and_gen_writes_corpus_items() {
    let events = common::root().join("tests/data/relay/b1_hook_gateway_merge.events.json");
    let o = bin().arg("dedupe").arg(&events).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2 LLM spans: 1 kept, 1 suppressed"), "{text}");

    let scratch = common::scratch("cli-gen");
    let dir = scratch.path();
    let o = bin()
        .args(["gen", "--seed", "5", "--count", "2", "-o"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for s in ["seed-5", "seed-6"] {
        for f in [
            "all_requests_profiler_traces.json",
            "atof_events.json",
            "run.json",
        ] {
            assert!(dir.join(s).join(f).exists(), "{s}/{f}");
        }
    }
    // A saved run (e.g. a shrunk failing case) is written back the same way.
    let again = dir.join("again");
    let o = bin()
        .args(["gen", "--from-json"])
        .arg(dir.join("seed-5/run.json"))
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(again.join("atof_events.json")).unwrap(),
        std::fs::read(dir.join("seed-5/atof_events.json")).unwrap()
    );
    // The generated items are a corpus the drift job runs clean.
    let o = bin()
        .args(["drift", "--policy"])
        .arg(common::root().join("drift.toml"))
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// With no policy given, `drift` uses the built-in one (the reviewed drift.toml, embedded):
/// a `nat eval` output directory where only ATIF's known losses differ passes with both
/// builders, `--policy none` fails the same run, and `policy show` prints the policy.
#[test]
fn drift_defaults_to_the_built_in_policy() {
    let eval = common::root().join("corpus/nat_eval_output");
    let o = bin().arg("drift").arg(&eval).arg("-q").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("PASS") && out.contains("2 runs"), "{out}");
    let o = bin()
        .arg("drift")
        .arg(&eval)
        .args(["-q", "--policy", "none"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = bin().args(["policy", "show"]).output().unwrap();
    let committed = std::fs::read_to_string(common::root().join("drift.toml")).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), committed);
}

#[test]
fn convert_keep_writes_full_fidelity_atif_and_refuses_unknown_losses() {
    let scratch = common::scratch("cli-keep");
    let dir = scratch.path();
    let input = common::root().join("corpus/sample/all_requests_profiler_traces.json");
    let out = dir.join("full.json");
    let o = bin()
        .args(["convert", "--to", "atif", "--keep", "all", "-o"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        doc[0]["extra"]["ist_losses_kept"].as_array().map(Vec::len),
        Some(atif_drift::loss::LOSSES.len())
    );
    let v = bin().arg("validate").arg(&out).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));

    let bad = bin()
        .args([
            "convert",
            "--to",
            "atif",
            "--keep",
            "prompt-text,nope",
            "-o",
        ])
        .arg(dir.join("bad.json"))
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("nope") && err.contains("streamed-chunks"),
        "{err}"
    );

    let atof = common::root().join("corpus/generated/seed-1/atof_events.json");
    let o = bin()
        .args(["convert", "--to", "atif", "--keep", "all", "-o"])
        .arg(dir.join("atof.json"))
        .arg(&atof)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--keep"));
}

#[test]
fn attribute_prints_and_writes_the_measured_attribution() {
    let scratch = common::scratch("cli-attribute");
    let dir = scratch.path();
    let o = bin()
        .args(["attribute", "--format", "json", "--out"])
        .arg(dir.join("out"))
        .arg(common::root().join("corpus/sample"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["schema"],
        atif_drift::drift::attribution::ATTRIBUTION_SCHEMA
    );
    assert_eq!(
        std::fs::read(dir.join("out/attribution.json")).unwrap(),
        o.stdout,
        "the file is what was printed"
    );
    let md = std::fs::read_to_string(dir.join("out/attribution.md")).unwrap();
    assert!(md.starts_with("# What ATIF loses, measured"), "{md}");
}
