//! The baseline ratchet: a drift report compared with an earlier one (the baseline), pattern
//! by pattern for each item × builder. Drift that grew — more values, a larger difference, or
//! a pattern the baseline does not have — fails the run; drift that shrank is reported, so the
//! baseline can be renewed. What a team gating an exporter uses when it cannot fix all drift
//! at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DriftReport, PatternDrift};

/// A pattern's drift as the ratchet measures it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Size {
    /// Differing values.
    pub values: usize,
    /// The largest absolute difference between two numbers, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs: Option<f64>,
}

impl Size {
    fn of(p: &PatternDrift) -> Size {
        Size {
            values: p.values,
            max_abs: p.max_abs,
        }
    }

    /// Whether `self` is more drift than `before`.
    fn grew_from(&self, before: &Size) -> bool {
        let larger = match (self.max_abs, before.max_abs) {
            (Some(a), Some(b)) => a > b + 1e-12 * b.abs().max(1.0),
            (Some(_), None) => true,
            _ => false,
        };
        self.values > before.values || larger
    }
}

/// One item × builder × pattern whose drift changed against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The item.
    pub item: String,
    /// The builder (its name).
    pub builder: String,
    /// The pattern (`file:path`).
    pub pattern: String,
    /// In the baseline (`None`: the baseline has no such drift).
    pub before: Option<Size>,
    /// Now (`None`: gone).
    pub after: Option<Size>,
}

/// The report against its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline's file, as given.
    pub file: String,
    /// Drift that grew or appeared: it fails the run.
    pub grew: Vec<Change>,
    /// Drift that shrank or went away.
    pub shrank: Vec<Change>,
}

type Key = (String, String, String);

fn sizes(r: &DriftReport) -> BTreeMap<Key, Size> {
    let mut out = BTreeMap::new();
    for i in &r.items {
        for p in i.outputs.iter().flat_map(|o| &o.patterns) {
            let key = (i.item.clone(), i.key(), p.pattern.clone());
            out.insert(key, Size::of(p));
        }
    }
    out
}

/// `now` against `baseline` (named `file`), in (item, builder, pattern) order.
pub fn compare(now: &DriftReport, baseline: &DriftReport, file: &str) -> Comparison {
    let (after, before) = (sizes(now), sizes(baseline));
    let change = |k: &Key, before: Option<Size>, after: Option<Size>| Change {
        item: k.0.clone(),
        builder: k.1.clone(),
        pattern: k.2.clone(),
        before,
        after,
    };
    let mut grew = Vec::new();
    let mut shrank = Vec::new();
    for (k, a) in &after {
        match before.get(k) {
            None => grew.push(change(k, None, Some(*a))),
            Some(b) if a.grew_from(b) => grew.push(change(k, Some(*b), Some(*a))),
            Some(b) if b.grew_from(a) => shrank.push(change(k, Some(*b), Some(*a))),
            Some(_) => {}
        }
    }
    for (k, b) in &before {
        if !after.contains_key(k) {
            shrank.push(change(k, Some(*b), None));
        }
    }
    shrank
        .sort_by(|x, y| (&x.item, &x.builder, &x.pattern).cmp(&(&y.item, &y.builder, &y.pattern)));
    Comparison {
        file: file.to_string(),
        grew,
        shrank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{ItemDrift, OutputDrift};
    use crate::frame::from_atif::Builder;

    fn report(patterns: &[(&str, usize, Option<f64>)]) -> DriftReport {
        let pattern = |&(p, values, max_abs): &(&str, usize, Option<f64>)| PatternDrift {
            values,
            max_abs,
            ..PatternDrift::new(
                p.into(),
                p.into(),
                crate::drift::value_diff::Change::OnlyLeft { value: 1.into() },
            )
        };
        DriftReport {
            schema: crate::drift::REPORT_SCHEMA.into(),
            partition: None,
            items: vec![ItemDrift {
                outputs: vec![OutputDrift {
                    file: "f".into(),
                    compared: 100,
                    differing: 0,
                    patterns: patterns.iter().map(pattern).collect(),
                }],
                ..ItemDrift::of_builder("a".into(), Builder::Pr1751)
            }],
            unused_expectations: vec![],
            failures: vec![],
            baseline: None,
        }
    }

    #[test]
    fn grown_new_shrunk_and_gone_drift() {
        let base = report(&[("f:x", 3, Some(1.0)), ("f:y", 5, None), ("f:gone", 1, None)]);
        assert!(compare(&base, &base, "b").grew.is_empty());
        let now = report(&[("f:x", 3, Some(2.0)), ("f:y", 4, None), ("f:new", 1, None)]);
        let c = compare(&now, &base, "b");
        let names = |v: &[Change]| v.iter().map(|c| c.pattern.clone()).collect::<Vec<_>>();
        assert_eq!(names(&c.grew), ["f:new", "f:x"]);
        assert_eq!(names(&c.shrank), ["f:gone", "f:y"]);
    }
}
