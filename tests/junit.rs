//! `drift --format junit`: valid against the JUnit schema CI systems read
//! (`tests/data/junit/junit.xsd`, checked with `xmllint` when it is installed — CI installs
//! it and sets `ATIF_DRIFT_REQUIRE_XMLLINT`), with counts that agree with the report: a suite
//! per item × builder, a case per output, a failure per unexpected pattern, an `<error>` per
//! item that could not run and per file that failed to load.

use std::path::PathBuf;
use std::process::Command;

use atif_drift::drift::DriftReport;
use atif_drift::frame::from_atif::Builder;
use atif_drift::job;
use atif_drift::trace::LoadOptions;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(item: &str, policy: &str, builders: &[Builder]) -> DriftReport {
    let policy = atif_drift::app::load_policy(&atif_drift::drift::policy::PolicySource::parse(
        std::ffi::OsStr::new(policy),
    ))
    .unwrap();
    let corpus = root().join("corpus").join(item);
    job::job(&[corpus], builders, &policy, &LoadOptions::default())
        .unwrap()
        .1
}

/// `xmllint --schema` on `xml`: `None` when xmllint is not installed.
fn xmllint(xml: &str, name: &str) -> Option<(bool, String)> {
    let found = Command::new("xmllint").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("ATIF_DRIFT_REQUIRE_XMLLINT").is_none(),
            "ATIF_DRIFT_REQUIRE_XMLLINT is set but xmllint is not installed (libxml2-utils)"
        );
        eprintln!("skipped the schema check: xmllint is not installed (libxml2-utils)");
        return None;
    }
    let dir = root().join("target/junit-test");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let o = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("tests/data/junit/junit.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    Some((
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

/// Elements by name, in document order, with their attributes.
fn elements(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            a.key.0.to_string(),
                            a.normalized_value(quick_xml::XmlVersion::default())
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect();
                out.push((e.name().0.to_string(), attrs));
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn count(els: &[(String, Vec<(String, String)>)], name: &str) -> usize {
    els.iter().filter(|(n, _)| n == name).count()
}

fn attr<'a>(el: &'a (String, Vec<(String, String)>), key: &str) -> &'a str {
    &el.1.iter().find(|(k, _)| k == key).unwrap().1
}

fn check(r: &DriftReport, name: &str) -> String {
    let xml = atif_drift::report::junit::junit(r);
    if let Some((ok, err)) = xmllint(&xml, name) {
        assert!(ok, "{name}: {err}");
    }
    let els = elements(&xml);
    let suites = r.items.len() + usize::from(!r.failures.is_empty());
    assert_eq!(count(&els, "testsuite"), suites, "{name}");
    let cases: usize = r
        .items
        .iter()
        .map(|i| {
            if i.error.is_some() {
                1
            } else {
                i.outputs.len()
            }
        })
        .sum::<usize>()
        + r.failures.len();
    assert_eq!(count(&els, "testcase"), cases, "{name}");
    let unexpected = r.unexpected_patterns().count();
    assert_eq!(count(&els, "failure"), unexpected, "{name}");
    assert_eq!(count(&els, "error"), r.errors(), "{name}");
    assert_eq!(attr(&els[0], "tests"), cases.to_string());
    assert_eq!(attr(&els[0], "errors"), r.errors().to_string());
    xml
}

#[test]
fn junit_of_passing_failing_and_erroring_runs() {
    let pass = run("", "builtin", &Builder::ALL);
    check(&pass, "pass.xml");
    let fail = run("generated/seed-2", "none", &[Builder::Pr1751]);
    let xml = check(&fail, "fail.xml");
    assert!(xml.contains("type=\"unexpected-drift\""));
    let mut error = fail.clone();
    error.items[0].outputs.clear();
    error.items[0].error = Some("corpus/generated/seed-2/nat_atif.json:3:17: bad".into());
    error.failures = vec!["corpus/notes.json:1:1: .: expected value".into()];
    check(&error, "error.xml");
}

/// The schema check can fail: a test case without its class name is refused.
#[test]
fn the_schema_refuses_a_case_without_classname() {
    let fail = run("generated/seed-2", "none", &[Builder::Pr1751]);
    let xml = atif_drift::report::junit::junit(&fail).replacen(" classname=", " class=", 1);
    if let Some((ok, err)) = xmllint(&xml, "broken.xml") {
        assert!(!ok, "xmllint accepted a testcase without classname");
        assert!(err.contains("classname"), "{err}");
    }
}

/// Against a baseline, a test case fails per pattern that grew (here: a baseline without
/// drift, so every pattern grew), not per pattern the policy does not expect.
#[test]
fn against_a_baseline_failures_are_the_patterns_that_grew() {
    let mut r = run("generated/seed-2", "none", &[Builder::Pr1751]);
    let mut clean = r.clone();
    for i in &mut clean.items {
        for o in &mut i.outputs {
            o.patterns.clear();
        }
    }
    r.baseline = Some(atif_drift::drift::baseline::compare(
        &r,
        &clean,
        "base.json",
    ));
    let grew = r.baseline.as_ref().unwrap().grew.len();
    assert!(grew > 0);
    let xml = atif_drift::report::junit::junit(&r);
    if let Some((ok, err)) = xmllint(&xml, "baseline.xml") {
        assert!(ok, "{err}");
    }
    let els = elements(&xml);
    assert_eq!(count(&els, "failure"), grew);
    assert!(xml.contains("drift grew against the baseline"));
}
