//! PrefixSpan sub-workflow mining (`experimental/prefix_span_analysis.py:prefixspan_subworkflow_with_text`)
//! with the `prefixspan` 0.5.2 package's enumeration order.
//!
//! Per request, paired LLM/TOOL calls in start order become tokens (`LLM:<name>[|text]`,
//! `TOOL:<name>`; the text is always empty because END rows overwrite it with `""`, Q6);
//! frequent patterns (support = number of requests containing the pattern as a
//! subsequence) are enumerated depth-first with candidates in first-occurrence order;
//! each is scored by contiguous matches (coverage, average summed duration), filtered by
//! `min_coverage`, sorted by (frequency, coverage, duration) and cut to `top_k`.

use rustc_hash::FxHashMap;

use serde_json::{json, Value};

use super::pyfloat::fixed;
use crate::config::{DefaultOrFloat, PrefixSpan as PrefixSpanConfig};
use crate::frame::Frame;
use crate::numeric::np_sum;
use crate::pyfmt::float_repr;

/// One paired call: its token's id ([`Tokens`]), start and duration.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    token: usize,
    start: f64,
    duration: f64,
}

/// The calls' tokens, numbered (so the miner and the matching compare integers): a token is
/// made once per distinct (kind, name, LLM text), not once per call.
#[derive(Default)]
struct Tokens<'f> {
    /// (kind, name, LLM text) → the id of its token.
    ids: FxHashMap<(&'static str, &'f str, Option<&'f str>), usize>,
    /// The tokens, an id being its token's place: two texts cut to the same token share it.
    names: indexmap::IndexSet<String>,
}

impl<'f> Tokens<'f> {
    /// The id of the token of a `op` call named `name` with LLM text `text` (non-empty).
    fn id(&mut self, op: &'static str, name: &'f str, text: Option<&'f str>, max: usize) -> usize {
        if let Some(&id) = self.ids.get(&(op, name, text)) {
            return id;
        }
        let token = match (op, text) {
            ("LLM", Some(t)) => {
                let cut: String = t.chars().take(max).collect();
                format!("LLM:{name}|{}", cut.replace('\n', " "))
            }
            ("LLM", None) => format!("LLM:{name}"),
            _ => format!("TOOL:{name}"),
        };
        let (id, _) = self.names.insert_full(token);
        self.ids.insert((op, name, text), id);
        id
    }
}

/// A frequent sequence of calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Its calls' tokens.
    pub pattern: Vec<String>,
    /// Its support.
    pub frequency: usize,
    /// The share of examples containing it.
    pub coverage: f64,
    /// Its mean duration over its contiguous occurrences.
    pub average_duration: f64,
    /// The examples containing it.
    pub examples_containing: Vec<usize>,
}

/// NAT's PrefixSpan sub-workflow mining.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixSpanResult {
    /// The patterns, most frequent first.
    pub patterns: Vec<Pattern>,
    /// The analysis's text report.
    pub report: String,
}

/// Per example, its paired calls in start order, their tokens numbered in `tokens`.
fn sequences<'f>(
    frame: &'f Frame,
    max_text_len: usize,
    tokens: &mut Tokens<'f>,
) -> Vec<(usize, Vec<Call>)> {
    struct Open<'f> {
        op: &'static str,
        name: &'f str,
        start: f64,
        text: Option<&'f str>,
    }
    let mut partial: FxHashMap<&'f str, Open<'f>> = FxHashMap::default();
    frame
        .rows_by_example_in_time()
        .into_iter()
        .map(|(ex, idx)| {
            partial.clear();
            let mut calls = Vec::new();
            for i in idx {
                let r = &frame.rows[i];
                let et = r.event_type.as_str();
                let op = if et.starts_with("LLM_") {
                    "LLM"
                } else if et.starts_with("TOOL_") {
                    "TOOL"
                } else {
                    continue;
                };
                let uuid = r.uuid.as_deref().unwrap_or("None");
                if et.ends_with("_START") {
                    let name = if op == "LLM" {
                        r.llm_name.as_deref()
                    } else {
                        r.tool_name.as_deref()
                    }
                    .filter(|n| !n.is_empty())
                    .unwrap_or(if op == "LLM" {
                        "unknown_llm"
                    } else {
                        "unknown_tool"
                    });
                    let text = if op == "LLM" {
                        r.llm_text_input.as_deref()
                    } else {
                        None
                    };
                    let start = r.event_timestamp;
                    partial.insert(
                        uuid,
                        Open {
                            op,
                            name,
                            start,
                            text,
                        },
                    );
                } else if et.ends_with("_END") {
                    if let Some(mut o) = partial.remove(uuid) {
                        if op == "LLM" && r.llm_text_input.is_some() {
                            o.text = r.llm_text_input.as_deref();
                        }
                        let text = o.text.filter(|t| !t.is_empty() && o.op == "LLM");
                        calls.push(Call {
                            token: tokens.id(o.op, o.name, text, max_text_len),
                            start: o.start,
                            duration: (r.event_timestamp - o.start).max(0.0),
                        });
                    }
                }
            }
            calls.sort_by(|a, b| a.start.total_cmp(&b.start));
            (ex, calls)
        })
        .collect()
}

/// `PrefixSpan(db).frequent(minsup)`: (support, pattern) in the package's DFS order.
fn frequent(db: &[Vec<usize>], minsup: usize) -> Vec<(usize, Vec<usize>)> {
    fn rec(
        db: &[Vec<usize>],
        minsup: usize,
        patt: &mut Vec<usize>,
        matches: &[(usize, i64)],
        out: &mut Vec<(usize, Vec<usize>)>,
    ) {
        if !patt.is_empty() {
            if matches.len() >= minsup {
                out.push((matches.len(), patt.clone()));
            }
            if patt.len() == 1000 {
                return;
            }
        }
        // extratools.dicttools.nextentries: first occurrence of each item in each suffix,
        // items in first-seen order.
        let mut order: Vec<usize> = Vec::new();
        let mut index: FxHashMap<usize, Vec<(usize, i64)>> = FxHashMap::default();
        for &(i, last) in matches {
            for (p, &item) in db[i].iter().enumerate().skip((last + 1) as usize) {
                let l = index.entry(item).or_insert_with(|| {
                    order.push(item);
                    Vec::new()
                });
                if l.last().is_some_and(|x| x.0 == i) {
                    continue;
                }
                l.push((i, p as i64));
            }
        }
        for item in order {
            let next = &index[&item];
            if next.len() < minsup {
                continue;
            }
            patt.push(item);
            rec(db, minsup, patt, next, out);
            patt.pop();
        }
    }
    let mut out = Vec::new();
    let start: Vec<(usize, i64)> = (0..db.len()).map(|i| (i, -1)).collect();
    rec(db, minsup, &mut Vec::new(), &start, &mut out);
    out
}

fn contiguous_matches(pattern: &[usize], seq: &[Call]) -> Vec<usize> {
    if pattern.len() > seq.len() {
        return vec![];
    }
    (0..=seq.len() - pattern.len())
        .filter(|&s| {
            seq[s..s + pattern.len()]
                .iter()
                .zip(pattern)
                .all(|(c, p)| c.token == *p)
        })
        .collect()
}

fn py_num(v: DefaultOrFloat) -> String {
    match v {
        DefaultOrFloat::Default(i) => i.to_string(),
        DefaultOrFloat::User(f) => float_repr(f),
    }
}

/// The sequences' token ids, for the miner.
fn token_ids(seqs: &[(usize, Vec<Call>)]) -> Vec<Vec<usize>> {
    let ids = |calls: &[Call]| calls.iter().map(|c| c.token).collect();
    seqs.iter().map(|(_, calls)| ids(calls)).collect()
}

/// A frequent pattern with its coverage of the examples, their list and the pattern's
/// average duration over its contiguous occurrences.
fn measured(
    pattern: Vec<usize>,
    frequency: usize,
    seqs: &[(usize, Vec<Call>)],
    names: &indexmap::IndexSet<String>,
) -> Pattern {
    let n = seqs.len();
    let (mut examples, mut occ, mut total) = (Vec::new(), 0usize, 0.0f64);
    for (ex, calls) in seqs {
        let m = contiguous_matches(&pattern, calls);
        if m.is_empty() {
            continue;
        }
        examples.push(*ex);
        for s in m {
            let d: Vec<f64> = calls[s..s + pattern.len()]
                .iter()
                .map(|c| c.duration)
                .collect();
            total += np_sum(&d);
            occ += 1;
        }
    }
    let coverage = if n > 0 {
        examples.len() as f64 / n as f64
    } else {
        0.0
    };
    examples.sort_unstable();
    Pattern {
        pattern: pattern.iter().map(|&i| names[i].clone()).collect(),
        frequency,
        coverage,
        average_duration: if occ > 0 { total / occ as f64 } else { 0.0 },
        examples_containing: examples,
    }
}

/// The mining of `frame`'s calls under `cfg`.
pub fn prefix_span(frame: &Frame, cfg: &PrefixSpanConfig) -> PrefixSpanResult {
    let max_text_len = cfg.max_text_len.max(0) as usize;
    let mut tokens = Tokens::default();
    let seqs = sequences(frame, max_text_len, &mut tokens);
    let n = seqs.len();
    let db = token_ids(&seqs);
    let names = tokens.names;
    let minsup = match cfg.min_support {
        DefaultOrFloat::Default(i) => i.max(0) as usize,
        DefaultOrFloat::User(f) => (crate::numeric::py_round(f * n as f64) as i64).max(1) as usize,
    };
    let found = frequent(&db, minsup);
    if found.is_empty() {
        return PrefixSpanResult {
            patterns: vec![],
            report: "No frequent patterns found by PrefixSpan with the given min_support.".into(),
        };
    }
    let min_coverage = match cfg.min_coverage {
        DefaultOrFloat::Default(i) => i as f64,
        DefaultOrFloat::User(f) => f,
    };
    let mut patterns: Vec<Pattern> = found
        .into_iter()
        .map(|(freq, pat)| measured(pat, freq, &seqs, &names))
        .filter(|p| p.coverage >= min_coverage)
        .collect();
    patterns.sort_by(|a, b| {
        (b.frequency, b.coverage, b.average_duration)
            .partial_cmp(&(a.frequency, a.coverage, a.average_duration))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    patterns.truncate(cfg.top_k.max(0) as usize);
    if patterns.is_empty() {
        return PrefixSpanResult {
            patterns,
            report: "No patterns passed coverage/duration thresholds.".into(),
        };
    }
    let report = report(&patterns, n, cfg);
    PrefixSpanResult { patterns, report }
}

/// The text report of the patterns found in `n` examples.
fn report(patterns: &[Pattern], n: usize, cfg: &PrefixSpanConfig) -> String {
    let mut lines = vec![
        "=== PrefixSpan Sub-Workflow Mining w/ LLM Text ===".to_string(),
        format!("Total examples: {n}"),
        format!(
            "min_support={}, top_k={}, min_coverage={}, max_text_len={}",
            py_num(cfg.min_support),
            cfg.top_k,
            py_num(cfg.min_coverage),
            cfg.max_text_len
        ),
        format!("Patterns discovered: {}", patterns.len()),
    ];
    for (i, p) in patterns.iter().enumerate() {
        let ex: Vec<String> = p.examples_containing.iter().map(usize::to_string).collect();
        lines.push(format!("\n{}) Pattern: {}", i + 1, p.pattern.join(" -> ")));
        lines.push(format!("   Frequency: {}", p.frequency));
        lines.push(format!(
            "   Coverage: {}  (appears in {} examples)",
            fixed(p.coverage, 2),
            p.examples_containing.len()
        ));
        lines.push(format!(
            "   Avg Duration: {} seconds",
            fixed(p.average_duration, 2)
        ));
        lines.push(format!("   Examples containing: [{}]", ex.join(", ")));
    }
    lines.join("\n")
}

/// The result as NAT writes it.
pub fn to_json(r: &PrefixSpanResult) -> Value {
    json!({"patterns": r.patterns.iter().map(|p| json!({
        "pattern": p.pattern, "frequency": p.frequency, "coverage": p.coverage,
        "average_duration": p.average_duration, "examples_containing": p.examples_containing,
    })).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_numbered_once_whatever_text_gave_it() {
        let mut t = Tokens::default();
        let a = t.id("LLM", "gpt", Some("hello world"), 5);
        // Another text cut to the same token ("hello") shares its id.
        assert_eq!(t.id("LLM", "gpt", Some("hello there"), 5), a);
        assert_eq!(t.id("LLM", "gpt", Some("hello world"), 5), a);
        let b = t.id("LLM", "gpt", None, 5);
        let c = t.id("TOOL", "gpt", None, 5);
        let d = t.id("LLM", "gpt", Some("a\nb"), 5);
        assert_eq!([a, b, c, d], [0, 1, 2, 3]);
        assert_eq!(
            t.names.iter().collect::<Vec<_>>(),
            ["LLM:gpt|hello", "LLM:gpt", "TOOL:gpt", "LLM:gpt|a b"]
        );
    }
}
