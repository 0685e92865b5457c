//! `token_uniqueness` (`inference_optimization/token_uniqueness.py:compute_inter_query_token_uniqueness_by_llm`):
//! per (llm_name, example), LLM_START inputs in time order; for each call after the first,
//! the number of distinct lower-cased `\w+` words not in the previous call's input.

use rustc_hash::FxHashSet;
use std::collections::BTreeMap;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use crate::event::EventType;
use crate::frame::Frame;
use crate::numeric::np_percentile;

/// The distinct `\w+` words of an already lower-cased text: the maximal runs of word
/// characters (the regex crate's `\w`, `regex_syntax::is_word_character`), found in one pass
/// without a regex engine (ASCII characters tested directly: most of a prompt).
fn words(lowered: Option<&str>) -> FxHashSet<&str> {
    let mut set = FxHashSet::default();
    let Some(t) = lowered else {
        return set;
    };
    let mut start = None;
    for (i, c) in t.char_indices() {
        let word = if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '_'
        } else {
            regex_syntax::is_word_character(c)
        };
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                set.insert(&t[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        set.insert(&t[s..]);
    }
    set
}

/// The new-word counts of one (llm, example) group, calls in time order: each call's
/// words are computed once (they are the next call's previous words).
fn group_counts(frame: &Frame, idx: &[usize]) -> Vec<f64> {
    let lowered: Vec<Option<String>> = idx
        .iter()
        .map(|&i| {
            frame.rows[i]
                .llm_text_input
                .as_deref()
                .map(str::to_lowercase)
        })
        .collect();
    let sets: Vec<FxHashSet<&str>> = lowered.iter().map(|t| words(t.as_deref())).collect();
    let mut counts = Vec::new();
    for k in 1..idx.len() {
        // dropna on the shifted input: a call after a None input is not counted (Q7).
        if lowered[k - 1].is_none() {
            continue;
        }
        counts.push(sets[k].difference(&sets[k - 1]).count() as f64);
    }
    counts
}

/// `(llm_name, [p90, p95, p99])` in NAT's output order.
pub fn token_uniqueness(frame: &Frame) -> Vec<(String, [f64; 3])> {
    let mut groups: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, r) in frame.rows.iter().enumerate() {
        if r.event_type == EventType::LLM_START {
            if let Some(name) = r.llm_name.as_deref() {
                groups
                    .entry((name, r.example_number()))
                    .or_default()
                    .push(i);
            }
        }
    }
    // Groups side by side; their counts joined in group order.
    let counted: Vec<(&str, Vec<f64>)> = groups
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|((llm, _), mut idx)| {
            // NAT sorts with pandas' unstable quicksort; ties keep frame order here (Q22).
            idx.sort_by(|&a, &b| {
                frame.rows[a]
                    .event_timestamp
                    .total_cmp(&frame.rows[b].event_timestamp)
            });
            (llm, group_counts(frame, &idx))
        })
        .collect();
    let mut by_llm: Vec<(String, Vec<f64>)> = Vec::new();
    for (llm, counts) in counted {
        if counts.is_empty() {
            continue;
        }
        match by_llm.iter_mut().find(|(n, _)| n == llm) {
            Some((_, v)) => v.extend(counts),
            None => by_llm.push((llm.to_string(), counts)),
        }
    }
    by_llm
        .into_iter()
        .map(|(n, c)| (n, [90.0, 95.0, 99.0].map(|p| np_percentile(&c, p))))
        .collect()
}

/// The forecast as NAT writes it.
pub fn to_json(u: &[(String, [f64; 3])]) -> Value {
    let mut m = Map::new();
    for (name, p) in u {
        m.insert(name.clone(), json!({"p90": p[0], "p95": p[1], "p99": p[2]}));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The same words as NAT's `\w+` (the regex crate's, Unicode), on text mixing ASCII,
        /// accented letters, digits of other scripts, marks and punctuation.
        #[test]
        fn words_are_the_regex_matches(text in "[a-zA-Z0-9_ .,'é\u{0301}ß\u{0663}\u{4e2d}\u{200d}\u{2019}-]{0,40}") {
            let re = regex::Regex::new(r"\w+").unwrap();
            let want: FxHashSet<&str> = re.find_iter(&text).map(|m| m.as_str()).collect();
            proptest::prop_assert_eq!(words(Some(&text)), want);
        }
    }
}
