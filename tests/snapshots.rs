//! insta snapshots of every corpus item's drift report (one per item × builder), kept in
//! `snapshots/`: a change in what either path says shows up in `cargo insta review`.
//! Each snapshot lists, per output, the drifting path patterns with their value counts and
//! the policy's reason — everything the report derives, nothing wall-clock.

use std::path::PathBuf;

use atif_drift::frame::from_atif::Builder;
use atif_drift::job;
use atif_drift::trace::LoadOptions;

#[test]
fn drift_report_per_item_and_builder() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let policy = atif_drift::job::load_policy(&root.join("drift.toml")).unwrap();
    let items = job::discover(&root.join("corpus"), &LoadOptions::default()).unwrap();
    assert!(items.len() >= 5);
    for item in &items {
        for builder in [Builder::Pr1751, Builder::Faithful] {
            let r = job::run_item(item, builder, &policy, &LoadOptions::default());
            let mut text = String::new();
            for o in &r.outputs {
                text.push_str(&format!(
                    "{}: {} of {} values differ\n",
                    o.file, o.differing, o.compared
                ));
                for p in &o.patterns {
                    let why = p.expected.as_deref().unwrap_or("NOT EXPECTED");
                    text.push_str(&format!("  {} ×{} — {}\n", p.pattern, p.values, why));
                }
            }
            if let Some(e) = &r.error {
                text.push_str(&format!("error: {e}\n"));
            }
            let name = format!(
                "drift__{}__{}",
                item.name.replace('/', "__"),
                serde_json::to_value(builder).unwrap().as_str().unwrap()
            );
            insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
                insta::assert_snapshot!(name, text);
            });
        }
    }
}

/// The mooncake rows of the oracle sample from IST (cl100k_base, Dynamo's defaults): a change
/// to the tokenizer, the block hashing or the call order shows here.
#[test]
fn mooncake_rows_of_the_sample() {
    use atif_drift::mooncake as mc;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (sessions, _) = mc::sessions_of_file(
        &root.join("corpus/sample/all_requests_profiler_traces.json"),
        &atif_drift::trace::LoadOptions::default(),
    )
    .unwrap();
    let rows = mc::rows(&sessions, &mc::Tokenizer::cl100k(), &mc::Options::default()).unwrap();
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("mooncake__sample", mc::to_jsonl(&rows.rows));
    });
}

/// The runs the report snapshots render: a passing one (the sample under the committed
/// policy, both builders) and a failing one (generated/seed-2 with no policy: every
/// difference is unexpected).
fn pass_and_fail() -> (
    atif_drift::drift::DriftReport,
    atif_drift::drift::DriftReport,
) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let opts = LoadOptions::default();
    let run = |item: &str, policy: &atif_drift::drift::policy::Policy, builders: &[Builder]| {
        // Relative, as a user gives it: the report names the item by the path given.
        let corpus = PathBuf::from("corpus").join(item);
        job::job(&[corpus], builders, policy, &opts).unwrap().1
    };
    let committed = job::load_policy(&root.join("drift.toml")).unwrap();
    let none = atif_drift::drift::policy::Policy::default();
    (
        run("sample", &committed, &Builder::ALL),
        run("generated/seed-2", &none, &[Builder::Pr1751]),
    )
}

/// The terminal report as a person reads it, at 80 and 120 columns, and the Markdown report: a passing run (the
/// sample under the committed policy), a failing one (no policy: every difference is
/// unexpected), an erroring one, and the quiet and verbose views.
#[test]
fn terminal_reports() {
    use atif_drift::report::terminal::{render, Style, Verbosity};
    let (pass, fail) = pass_and_fail();
    let mut error = pass.clone();
    error.items[1].outputs.clear();
    error.items[1].error = Some(
        "corpus/sample/nat_atif.json:3:17: [0].steps: invalid type: map, expected a sequence"
            .into(),
    );
    error.failures = vec!["corpus/sample/notes.json:1:1: .: expected value".into()];
    let style = |width, verbosity| Style {
        width,
        color: false,
        verbosity,
    };
    let cases = [
        ("pass", &pass, 80, Verbosity::Normal),
        ("pass", &pass, 120, Verbosity::Normal),
        ("fail", &fail, 80, Verbosity::Normal),
        ("fail", &fail, 120, Verbosity::Normal),
        ("error", &error, 80, Verbosity::Normal),
        ("fail_quiet", &fail, 80, Verbosity::Quiet),
        ("pass_verbose", &pass, 120, Verbosity::Verbose),
    ];
    for (name, r, width, verbosity) in cases {
        let text = render(r, &style(width, verbosity));
        for line in text
            .lines()
            .filter(|l| !l.starts_with("FAIL") && !l.starts_with("PASS") && !l.starts_with("ERROR"))
        {
            assert!(
                line.chars().count() <= width,
                "{name} at {width}: a line of {} columns: {line}",
                line.chars().count()
            );
        }
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("terminal__{name}__{width}"), text);
        });
    }
    for (name, r) in [("pass", &pass), ("fail", &fail), ("error", &error)] {
        let md = atif_drift::report::drift::markdown(r);
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("markdown__{name}"), md);
        });
    }
}

/// The HTML report of the same runs as the terminal and Markdown snapshots: a passing run,
/// a failing one and an erroring one (the page is deterministic: the same bytes each time).
#[test]
fn html_reports() {
    let (pass, fail) = pass_and_fail();
    let mut error = fail.clone();
    error.items[0].outputs.clear();
    error.items[0].timelines.clear();
    error.items[0].error = Some("corpus/generated/seed-2/nat_atif.json:3:17: bad".into());
    for (name, r) in [("pass", &pass), ("fail", &fail), ("error", &error)] {
        let page = atif_drift::report::html::html(r);
        assert_eq!(page, atif_drift::report::html::html(r));
        assert!(page.starts_with("<!DOCTYPE html>"));
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("html__{name}"), page);
        });
    }
}

/// The JUnit XML of the bundled corpus under the built-in policy (every item × builder
/// passes) and of a failing run (no policy).
#[test]
fn junit_reports() {
    let opts = LoadOptions::default();
    let builtin =
        atif_drift::app::load_policy(&atif_drift::drift::policy::PolicySource::Builtin).unwrap();
    let none = atif_drift::drift::policy::Policy::default();
    let corpus = job::job(&[PathBuf::from("corpus")], &Builder::ALL, &builtin, &opts)
        .unwrap()
        .1;
    let fail = job::job(
        &[PathBuf::from("corpus/generated/seed-2")],
        &[Builder::Pr1751],
        &none,
        &opts,
    )
    .unwrap()
    .1;
    for (name, r) in [("corpus", &corpus), ("fail", &fail)] {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("junit__{name}"), atif_drift::report::junit::junit(r));
        });
    }
}
