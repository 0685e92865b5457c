//! Measured attribution: which of ATIF's losses causes which drift, by how much.
//!
//! For one IST trace, the faithful builder runs on ATIF variants of it (`convert --keep`):
//! - `nat-atif`: every loss applied (NAT's converter output);
//! - `only:LOSS`: that loss alone applied (every other one kept);
//! - `all-but:LOSS`: every loss applied but that one (it alone kept);
//! - `full-fidelity`: none applied (must not drift: what it shows is the builder's error).
//!
//! Each variant's drift against the IST path is counted per *analysis* (an output file and
//! its first key: `inference_optimization.json:common_prefixes`, or a CSV column). The
//! interaction remainder is the all-losses drift minus the sum of the single-loss drifts.
//! Pure: the drifts in, the report out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::OutputDrift;
use crate::frame::from_atif::Builder;
use crate::loss::{Keep, LOSSES};

/// The version of the attribution report's layout.
pub const ATTRIBUTION_SCHEMA: &str = "atif-drift/attribution/v1";

/// The ATIF variants measured, in report order: (name, losses kept).
pub fn variants() -> Vec<(String, Keep)> {
    let mut v = vec![("nat-atif".to_string(), Keep::NONE)];
    for l in LOSSES {
        v.push((format!("only:{}", l.id), Keep::all().without(l.id)));
    }
    for l in LOSSES {
        v.push((
            format!("all-but:{}", l.id),
            Keep::only(l.id).expect("a loss"),
        ));
    }
    v.push(("full-fidelity".to_string(), Keep::all()));
    v
}

/// The analysis a drift pattern belongs to: its file and first key (for the CSV: the
/// column, or `rows` / `calls`).
pub fn analysis_of(pattern: &str) -> String {
    let (file, path) = pattern.split_once(':').unwrap_or((pattern, ""));
    let mut segs = path.split('.');
    let first = segs.next().unwrap_or("");
    let key = if file.ends_with(".csv") && !matches!(first, "rows" | "calls") {
        segs.next().unwrap_or(first)
    } else {
        first
    };
    format!("{file}:{key}")
}

/// One analysis of one item: differing values per variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisAttribution {
    /// `file:key`.
    pub analysis: String,
    /// With every loss applied (NAT's ATIF).
    pub all: usize,
    /// With one loss applied alone, per loss (losses that cause none are left out).
    pub single: BTreeMap<String, usize>,
    /// With every loss applied but one, per loss (left out when equal to `all`).
    pub all_but: BTreeMap<String, usize>,
    /// `all` minus the sum of `single`: what only losses together cause (negative when
    /// losses overlap).
    pub remainder: i64,
    /// With no loss applied: the builder's own error (0 when it is exact).
    pub full_fidelity: usize,
}

/// One item's attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemAttribution {
    /// The item.
    pub item: String,
    /// Why it could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per analysis with any drift in any variant, in name order.
    pub analyses: Vec<AnalysisAttribution>,
}

/// A loss, ranked by the drift it causes alone over every item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossRank {
    /// The loss id.
    pub loss: String,
    /// Where an ATIF producer could carry it.
    pub place: String,
    /// Differing values it causes alone, over every item.
    pub values: usize,
    /// Items where it causes any.
    pub items: usize,
    /// Per analysis, largest first.
    pub analyses: Vec<(String, usize)>,
}

/// A drift pattern of NAT's ATIF (faithful builder) and the losses that produce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternAttribution {
    /// `file:pattern`.
    pub pattern: String,
    /// Its differing values with every loss applied, over every item.
    pub values: usize,
    /// The losses whose single-loss drift shows the pattern, with their values.
    pub losses: Vec<(String, usize)>,
    /// The losses it needs: kept alone (every other one applied), the pattern is gone.
    /// A pattern only losses together cause has no single loss above but these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The policy's `loss =` label for it, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `confirmed` (a loss the label names produces it alone, or it needs that loss),
    /// `wrong` (none does), or `unlabelled`.
    pub verdict: String,
}

/// pr1751's drift on NAT's ATIF, split: what ATIF's losses explain (faithful's drift on the
/// same ATIF) and what PR #1751's mapping adds on top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingSplit {
    /// `file:key`.
    pub analysis: String,
    /// pr1751's differing values.
    pub pr1751: usize,
    /// faithful's, on the same ATIF: what the losses explain.
    pub losses: usize,
    /// `pr1751 - losses`: what the mapping adds (negative where it does better).
    pub mapping: i64,
}

/// The attribution of a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionReport {
    /// [`ATTRIBUTION_SCHEMA`].
    pub schema: String,
    /// Per item, in order.
    pub items: Vec<ItemAttribution>,
    /// Every loss, most drift first.
    pub ranking: Vec<LossRank>,
    /// Every drift pattern of NAT's ATIF, most values first.
    pub patterns: Vec<PatternAttribution>,
    /// pr1751's drift split per analysis (when measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pr1751: Vec<MappingSplit>,
}

/// One item's measured drifts: per variant of [`variants`], in order, its outputs' drift; and
/// pr1751's on NAT's ATIF when measured.
pub struct Measured {
    /// The item.
    pub item: String,
    /// Per variant, its outputs' drift; `Err` when the item could not be measured.
    pub variants: Result<Vec<Vec<OutputDrift>>, String>,
    /// pr1751's outputs' drift on NAT's ATIF.
    pub pr1751: Option<Vec<OutputDrift>>,
}

/// Differing values per analysis.
fn per_analysis(outputs: &[OutputDrift]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in outputs.iter().flat_map(|o| &o.patterns) {
        *m.entry(analysis_of(&p.pattern)).or_default() += p.values;
    }
    m
}

/// Differing values per pattern.
fn per_pattern(outputs: &[OutputDrift]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in outputs.iter().flat_map(|o| &o.patterns) {
        *m.entry(p.pattern.clone()).or_default() += p.values;
    }
    m
}

/// The report of these measurements (`policy`: whose `loss =` labels are checked).
pub fn report(measured: Vec<Measured>, policy: &Policy) -> AttributionReport {
    let names: Vec<String> = variants().into_iter().map(|(n, _)| n).collect();
    let k = LOSSES.len();
    let mut items = Vec::new();
    // loss → (values, items, per analysis)
    type Rank = (usize, BTreeSet<String>, BTreeMap<String, usize>);
    let mut rank: BTreeMap<&str, Rank> = BTreeMap::new();
    // pattern → (values with all losses, per loss values alone, losses it needs)
    type PatternSums = (usize, BTreeMap<String, usize>, BTreeSet<String>);
    let mut patterns: BTreeMap<String, PatternSums> = BTreeMap::new();
    let mut split: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for m in measured {
        let runs = match m.variants {
            Ok(r) => r,
            Err(e) => {
                items.push(ItemAttribution {
                    item: m.item,
                    error: Some(e),
                    analyses: vec![],
                });
                continue;
            }
        };
        assert_eq!(runs.len(), names.len(), "one drift per variant");
        let by: Vec<BTreeMap<String, usize>> = runs.iter().map(|r| per_analysis(r)).collect();
        let keys: BTreeSet<&String> = by.iter().flat_map(|m| m.keys()).collect();
        let get = |v: usize, a: &str| by[v].get(a).copied().unwrap_or(0);
        let mut analyses = Vec::new();
        for a in keys {
            let all = get(0, a);
            let single: BTreeMap<String, usize> = (0..k)
                .filter(|&i| get(1 + i, a) > 0)
                .map(|i| (LOSSES[i].id.to_string(), get(1 + i, a)))
                .collect();
            let all_but: BTreeMap<String, usize> = (0..k)
                .filter(|&i| get(1 + k + i, a) != all)
                .map(|i| (LOSSES[i].id.to_string(), get(1 + k + i, a)))
                .collect();
            let sum: usize = single.values().sum();
            for (l, v) in &single {
                let r = rank
                    .entry(LOSSES[crate::loss::index(l).expect("a loss")].id)
                    .or_default();
                r.0 += v;
                r.1.insert(m.item.clone());
                *r.2.entry(a.clone()).or_default() += v;
            }
            analyses.push(AnalysisAttribution {
                analysis: a.clone(),
                all,
                single,
                all_but,
                remainder: all as i64 - sum as i64,
                full_fidelity: get(names.len() - 1, a),
            });
        }
        let nat = per_pattern(&runs[0]);
        for (p, v) in &nat {
            patterns.entry(p.clone()).or_default().0 += v;
        }
        for (i, l) in LOSSES.iter().enumerate() {
            for (p, v) in per_pattern(&runs[1 + i]) {
                *patterns
                    .entry(p)
                    .or_default()
                    .1
                    .entry(l.id.to_string())
                    .or_default() += v;
            }
            let kept_alone = per_pattern(&runs[1 + k + i]);
            for p in nat.keys().filter(|p| !kept_alone.contains_key(*p)) {
                patterns
                    .entry(p.clone())
                    .or_default()
                    .2
                    .insert(l.id.to_string());
            }
        }
        if let Some(pr) = &m.pr1751 {
            for (a, v) in per_analysis(pr) {
                split.entry(a).or_default().0 += v;
            }
            for (a, v) in &by[0] {
                split.entry(a.clone()).or_default().1 += v;
            }
        }
        items.push(ItemAttribution {
            item: m.item,
            error: None,
            analyses,
        });
    }
    let mut ranking: Vec<LossRank> = LOSSES
        .iter()
        .map(|l| {
            let (values, its, an) = rank.remove(l.id).unwrap_or_default();
            let mut analyses: Vec<(String, usize)> = an.into_iter().collect();
            analyses.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            LossRank {
                loss: l.id.into(),
                place: l.place.into(),
                values,
                items: its.len(),
                analyses,
            }
        })
        .collect();
    ranking.sort_by(|a, b| b.values.cmp(&a.values).then_with(|| a.loss.cmp(&b.loss)));
    let mut patterns: Vec<PatternAttribution> = patterns
        .into_iter()
        .filter(|(_, (v, _, _))| *v > 0)
        .map(|(pattern, (values, by_loss, needs))| {
            let mut losses: Vec<(String, usize)> =
                by_loss.into_iter().filter(|(_, v)| *v > 0).collect();
            losses.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let label = policy
                .expectation(&pattern, Builder::Faithful)
                .and_then(|e| e.loss.clone());
            // A label may name several losses (`loss = "a, b"`): one of them must produce it.
            let measured = |l: &str| losses.iter().any(|(x, _)| x == l) || needs.contains(l);
            let verdict = match &label {
                None => "unlabelled",
                Some(l) if l.split(',').any(|l| measured(l.trim())) => "confirmed",
                Some(_) => "wrong",
            }
            .to_string();
            PatternAttribution {
                pattern,
                values,
                losses,
                needs: needs.into_iter().collect(),
                label,
                verdict,
            }
        })
        .collect();
    patterns.sort_by(|a, b| {
        b.values
            .cmp(&a.values)
            .then_with(|| a.pattern.cmp(&b.pattern))
    });
    let pr1751 = split
        .into_iter()
        .map(|(analysis, (pr1751, losses))| MappingSplit {
            analysis,
            pr1751,
            losses,
            mapping: pr1751 as i64 - losses as i64,
        })
        .collect();
    AttributionReport {
        schema: ATTRIBUTION_SCHEMA.into(),
        items,
        ranking,
        patterns,
        pr1751,
    }
}

/// Name, on every pattern of a drift report, the losses that measurably produce it (from an
/// attribution of the same items): the losses whose single-loss drift shows it, or that it
/// needs; none when the faithful builder's drift on NAT's ATIF has no such pattern (on pr1751:
/// PR #1751's mapping adds it).
pub fn annotate(report: &mut super::DriftReport, a: &AttributionReport) {
    let by: BTreeMap<&str, Vec<String>> = a
        .patterns
        .iter()
        .map(|p| {
            let mut m: Vec<String> = p.losses.iter().map(|(l, _)| l.clone()).collect();
            for n in &p.needs {
                if !m.contains(n) {
                    m.push(n.clone());
                }
            }
            (p.pattern.as_str(), m)
        })
        .collect();
    for p in report
        .items
        .iter_mut()
        .filter(|i| i.builder.is_some())
        .flat_map(|i| &mut i.outputs)
        .flat_map(|o| &mut o.patterns)
    {
        p.measured = Some(by.get(p.pattern.as_str()).cloned().unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyses_are_files_and_first_keys_or_csv_columns() {
        assert_eq!(
            analysis_of("inference_optimization.json:confidence_intervals.llm_latency_confidence_intervals.p95"),
            "inference_optimization.json:confidence_intervals"
        );
        assert_eq!(
            analysis_of("standardized_data_all.csv:LLM_START.event_timestamp"),
            "standardized_data_all.csv:event_timestamp"
        );
        assert_eq!(
            analysis_of("standardized_data_all.csv:rows.LLM_NEW_TOKEN"),
            "standardized_data_all.csv:rows"
        );
        assert_eq!(
            analysis_of("standardized_data_all.csv:calls"),
            "standardized_data_all.csv:calls"
        );
        assert_eq!(analysis_of("forecast.json:X"), "forecast.json:X");
    }

    #[test]
    fn variants_cover_every_loss_both_ways() {
        let v = variants();
        assert_eq!(v.len(), 2 + 2 * LOSSES.len());
        assert_eq!(v[0].1, Keep::NONE);
        assert_eq!(v.last().unwrap().1, Keep::all());
    }
}
