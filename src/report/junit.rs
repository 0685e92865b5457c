//! The drift report as JUnit XML (`drift --format junit`, `junit.xml` under `--out`), the
//! format every CI system reads (GitLab, Jenkins, Azure, CircleCI, GitHub through an action):
//! one `<testsuite>` per item × builder, one `<testcase>` per compared output, a `<failure>`
//! per unexpected pattern (against a baseline: per pattern that grew), an item that could not
//! run as an `<error>`, and corpus files that failed to load as `<error>`s of a `corpus`
//! suite. Times are 0: the report is the same bytes for the same drift.

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use super::terminal::{difference, local};
use crate::drift::{DriftReport, ItemDrift, OutputDrift, PatternDrift};

/// A failure of one test case: its message (one line) and its text.
struct Failure {
    message: String,
    text: String,
}

fn example(p: &PatternDrift, i: &ItemDrift) -> String {
    format!(
        "e.g. {}: {}",
        local(&p.example_path),
        super::terminal::example(p, 200, i)
    )
}

/// The failures of output `o` of item `i`: its unexpected patterns, or, against a baseline,
/// its patterns that grew.
fn failures(r: &DriftReport, i: &ItemDrift, o: &OutputDrift) -> Vec<Failure> {
    if let Some(b) = &r.baseline {
        return b
            .grew
            .iter()
            .filter(|c| {
                c.item == i.item
                    && c.builder == i.key()
                    && c.pattern.split_once(':').map(|(f, _)| f) == Some(o.file.as_str())
            })
            .map(|c| Failure {
                message: format!("drift grew against the baseline: {}", local(&c.pattern)),
                text: super::terminal::baseline_line(c),
            })
            .collect();
    }
    o.patterns
        .iter()
        .filter(|p| p.is_unexpected())
        .map(|p| {
            let why = match &p.exceeded {
                Some(bound) => format!("bound exceeded: {bound}"),
                None => "not expected".into(),
            };
            let largest = difference(p)
                .map(|d| format!(", largest |Δ| {d}"))
                .unwrap_or_default();
            Failure {
                message: format!("{}: {}, {why}", local(&p.pattern), values(p.values)),
                text: format!(
                    "{}: {} ({} on one side only){largest}; {why}\n{}",
                    p.pattern,
                    values(p.values),
                    p.one_sided,
                    example(p, i)
                ),
            }
        })
        .collect()
}

type W = Writer<Vec<u8>>;

fn element(w: &mut W, name: &str, attrs: &[(&str, String)], inner: impl FnOnce(&mut W)) {
    let start = quick_xml::events::BytesStart::new(name)
        .with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str())));
    w.write_event(Event::Start(start))
        .expect("writes to memory");
    inner(w);
    w.write_event(Event::End(quick_xml::events::BytesEnd::new(name)))
        .expect("writes to memory");
}

/// Text content, escaping only `<`, `>` and `&` (quotes need none there).
fn text(w: &mut W, s: &str) {
    let escaped = quick_xml::escape::partial_escape(s);
    w.write_event(Event::Text(BytesText::from_escaped(escaped)))
        .expect("writes to memory");
}

fn values(n: usize) -> String {
    if n == 1 {
        "1 value".into()
    } else {
        format!("{n} values")
    }
}

fn counts(tests: usize, failures: usize, errors: usize) -> Vec<(&'static str, String)> {
    vec![
        ("tests", tests.to_string()),
        ("failures", failures.to_string()),
        ("errors", errors.to_string()),
        ("skipped", "0".into()),
        ("time", "0".into()),
    ]
}

/// An item × builder's test cases: each output with its failures.
type Cases<'r> = Vec<(&'r OutputDrift, Vec<Failure>)>;

/// A test case of `classname` holding one `<error>` of `kind`: its first line the message,
/// `text` whole.
fn error_case(w: &mut W, name: &str, classname: &str, kind: &str, text_: &str) {
    let case = [
        ("name", name.to_string()),
        ("classname", classname.to_string()),
        ("time", "0".into()),
    ];
    element(w, "testcase", &case, |w| {
        let attrs = [
            (
                "message",
                text_.lines().next().unwrap_or_default().to_string(),
            ),
            ("type", kind.into()),
        ];
        element(w, "error", &attrs, |w| text(w, text_));
    });
}

/// One suite: an item × builder.
fn suite(w: &mut W, i: &ItemDrift, cases: &Cases) {
    let name = format!("{} [{}]", i.item, i.label());
    // A dot separates packages in a class name: the pair's key keeps none.
    let key: String = i
        .key()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let classname = format!("atif-drift.{}.{key}", i.item);
    let failing = cases.iter().filter(|(_, f)| !f.is_empty()).count();
    let (tests, errors) = match &i.error {
        Some(_) => (1, 1),
        None => (cases.len(), 0),
    };
    let mut attrs = vec![("name", name)];
    attrs.extend(counts(tests, failing, errors));
    element(w, "testsuite", &attrs, |w| {
        if let Some(e) = &i.error {
            error_case(w, "item", &classname, "error", e);
        }
        for (o, fails) in cases {
            let case = [
                ("name", o.file.clone()),
                ("classname", classname.clone()),
                ("time", "0".into()),
            ];
            element(w, "testcase", &case, |w| {
                for f in fails {
                    let attrs = [
                        ("message", f.message.clone()),
                        ("type", "unexpected-drift".into()),
                    ];
                    element(w, "failure", &attrs, |w| text(w, &f.text));
                }
                let summary = format!(
                    "{} of {} values differ; {} patterns",
                    o.differing,
                    o.compared,
                    o.patterns.len()
                );
                element(w, "system-out", &[], |w| text(w, &summary));
            });
        }
    });
}

/// The report as JUnit XML.
pub fn junit(r: &DriftReport) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .expect("writes to memory");
    let suites: Vec<(&ItemDrift, Cases)> = r
        .items
        .iter()
        .map(|i| {
            (
                i,
                i.outputs.iter().map(|o| (o, failures(r, i, o))).collect(),
            )
        })
        .collect();
    let cases: usize = suites
        .iter()
        .map(|(i, c)| if i.error.is_some() { 1 } else { c.len() })
        .sum::<usize>()
        + r.failures.len();
    let failing: usize = suites
        .iter()
        .flat_map(|(_, c)| c)
        .filter(|(_, f)| !f.is_empty())
        .count();
    let mut attrs = vec![("name", "atif-drift".to_string())];
    attrs.extend(counts(cases, failing, r.errors()));
    element(&mut w, "testsuites", &attrs, |w| {
        for (i, c) in &suites {
            suite(w, i, c);
        }
        if !r.failures.is_empty() {
            let mut attrs = vec![("name", "corpus".to_string())];
            attrs.extend(counts(r.failures.len(), 0, r.failures.len()));
            element(w, "testsuite", &attrs, |w| {
                for f in &r.failures {
                    let file = f.split_once(": ").map_or(f.as_str(), |(p, _)| p);
                    error_case(w, file, "atif-drift.corpus", "load-error", f);
                }
            });
        }
    });
    let mut s = String::from_utf8(w.into_inner()).expect("UTF-8 in, UTF-8 out");
    s.push('\n');
    s
}
