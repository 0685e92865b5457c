//! `policy suggest`: a policy whose expectations carry bounds measured on a corpus. Each
//! expectation that explained drift gets the largest drift it explained, plus a margin, as
//! its bounds; drift no expectation explains gets a new expectation (bounded the same way)
//! whose reason says it is still to be explained. The policy text is edited in place
//! (`toml_edit`): comments, layout and hand-written reasons stay.

use std::collections::BTreeMap;

use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

use super::policy::{Policy, PolicyError};
use super::{DriftReport, PatternDrift};
use crate::frame::from_atif::Builder;

/// A bound `policy suggest` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `max_values`: differing values per item × builder (grows with the run's size).
    Values,
    /// `max_share`: share of the output's compared values.
    Share,
    /// `max_abs`: largest numeric difference.
    Abs,
    /// `max_rel`: largest relative difference.
    Rel,
    /// `rows = "same"`, where no value was on one side only.
    Rows,
}

/// The largest drift seen under one expectation (or one unexplained pattern × builder).
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    values: usize,
    share: f64,
    abs: Option<f64>,
    rel: Option<f64>,
    one_sided: usize,
}

impl Measure {
    fn add(&mut self, p: &PatternDrift, compared: usize) {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        self.values = self.values.max(p.values);
        self.share = self.share.max(p.values as f64 / compared.max(1) as f64);
        self.abs = max(self.abs, p.max_abs);
        self.rel = max(self.rel, p.max_rel);
        self.one_sided += p.one_sided;
    }
}

/// Round `x` up to 6 significant digits, so a bound reads well and never falls below `x`.
fn round_up(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x.max(0.0);
    }
    let scale = 10f64.powi(5 - x.log10().floor() as i32);
    (x * scale).ceil() / scale
}

fn set_bounds(t: &mut Table, m: &Measure, bounds: &[Bound], margin: f64) {
    let grow = |x: f64| round_up(x * (1.0 + margin));
    for b in bounds {
        match b {
            Bound::Values => {
                let v = (m.values as f64 * (1.0 + margin)).ceil() as i64;
                t["max_values"] = value(v);
            }
            Bound::Share => t["max_share"] = value(grow(m.share).min(1.0)),
            Bound::Abs => {
                if let Some(a) = m.abs {
                    t["max_abs"] = value(grow(a));
                }
            }
            Bound::Rel => {
                if let Some(r) = m.rel {
                    t["max_rel"] = value(grow(r));
                }
            }
            Bound::Rows => {
                if m.one_sided == 0 {
                    t["rows"] = value("same");
                } else {
                    t.remove("rows");
                }
            }
        }
    }
}

/// `original` (the text of `policy`) with bounds measured on `report`, which was run with
/// `policy`: `bounds` set on each expectation that explained drift, with `margin` (0.1: 10 %
/// above the largest drift seen), and a new bounded expectation per pattern × builder no
/// expectation explains.
pub fn suggest(
    report: &DriftReport,
    policy: &Policy,
    original: &str,
    bounds: &[Bound],
    margin: f64,
) -> Result<String, PolicyError> {
    let mut doc: DocumentMut = original
        .parse()
        .map_err(|e: toml_edit::TomlError| PolicyError::Edit(e.to_string()))?;
    let mut measured: BTreeMap<usize, Measure> = BTreeMap::new();
    let mut unexplained: BTreeMap<(String, Option<&'static str>), Measure> = BTreeMap::new();
    for i in &report.items {
        for o in &i.outputs {
            for p in &o.patterns {
                if p.within_threshold.is_some() {
                    continue;
                }
                match policy.expectation_index(&p.pattern, i.builder) {
                    Some(k) => measured.entry(k).or_default().add(p, o.compared),
                    None => unexplained
                        .entry((p.pattern.clone(), i.builder.map(Builder::name)))
                        .or_default()
                        .add(p, o.compared),
                }
            }
        }
    }
    if !doc.contains_key("expected") {
        doc["expected"] = Item::ArrayOfTables(ArrayOfTables::new());
    }
    let Some(expected) = doc["expected"].as_array_of_tables_mut() else {
        return Err(PolicyError::Edit(
            "`expected` is not an array of tables".into(),
        ));
    };
    for (k, m) in &measured {
        if let Some(t) = expected.get_mut(*k) {
            set_bounds(t, m, bounds, margin);
        }
    }
    for ((pattern, builder), m) in &unexplained {
        let mut t = Table::new();
        t["pattern"] = value(pattern.as_str());
        t["reason"] = value("TODO: suggested by `policy suggest`; say why this drift is expected");
        // Drift of a side not of ours (`stored:`, `cmd:`) is classified by the entries
        // naming no builder.
        if let Some(builder) = builder {
            let mut b = Array::new();
            b.push(*builder);
            t["builders"] = value(b);
        }
        set_bounds(&mut t, m, bounds, margin);
        expected.push(t);
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_round_up_and_never_below_the_measure() {
        assert_eq!(round_up(0.123456789), 0.123457);
        assert_eq!(round_up(1234567.0), 1234570.0);
        assert_eq!(round_up(0.0), 0.0);
        for x in [1e-9, 0.3, 7.0, 123.456789, 9.999999e5] {
            assert!(round_up(x) >= x, "{x}");
        }
    }
}
