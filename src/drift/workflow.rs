//! The drift of the workflow profiling files, one analysis at a time.
//!
//! `workflow_profiling_metrics.json` is four analyses side by side (at 10,000 requests about
//! 110 MB of JSON per path, several times that as values). Its diff is the diff of its root
//! members folded in document order, and its UUIDs are renamed in document order, so each
//! analysis is computed for every path, renamed (continuing that path's names), diffed and
//! dropped before the next: the drift holds one analysis of the file, not all of it. The
//! members that grow with the calls (the nested-stack analysis's `timeline_segments` and
//! `node_metrics`, the spike analysis's `spike_intervals`) are not built as values at all:
//! they are renamed and compared typed ([`super::typed`]). The result is the one the whole
//! files give (checked in the tests below, and by the 10k and corpus reports being
//! unchanged).

use std::borrow::Cow;

use rayon::prelude::*;
use serde_json::Value;

use super::typed::{self, array_leaves, Lane, Leaf, Record, Records};
use super::{both_paths_with, diff_lines, json_groups, Groups, OutputDrift, Paths, Policy};
use crate::differences::{
    normalize_active_uuids, rename_in, rename_owned, rename_text, rename_uuids_value_with,
};
use crate::drift::value_diff::leaf_count;
use crate::frame::from_atif::Builder;
use crate::frame::Text;
use crate::profile::concurrency_spikes::Spike;
use crate::profile::nested_stack::Nested;
use crate::profile::{workflow_analysis, Analysis, WORKFLOW_SECTIONS};

const METRICS: &str = "workflow_profiling_metrics.json";
const REPORT: &str = "workflow_profiling_report.txt";

/// One path's files so far.
#[derive(Default)]
struct Side {
    /// UUID names of the metrics, in document order.
    names: crate::differences::Names,
    /// The report's sections so far, their UUIDs renamed (a UUID never spans two sections'
    /// lines), joined once every analysis is done: one string grown a section at a time was
    /// copied at each doubling and held up to twice its length while the analyses ran.
    report: Vec<String>,
    report_names: crate::differences::Names,
    /// Leaf values of the metrics.
    leaves: usize,
}

/// One path's section as the drift compares it.
struct Taken {
    /// The metrics as the one-member object `{key: …}` (so paths, renaming and the
    /// spike-interval normalization are those of the file), without the members that
    /// `nested` and `spikes` hold.
    part: Value,
    nested: Option<NestedParts>,
    /// `spike_intervals`, their `active_uuids` renamed and sorted.
    spikes: Option<Vec<Spike>>,
}

/// The nested-stack members that grow with the calls, typed: `timeline_segments` and
/// `node_metrics` (its keys and operation names renamed).
struct NestedParts {
    nested: Nested,
    /// Per `node_metrics` entry: its renamed key (shared with the names), and its renamed
    /// operation name when the name holds a UUID.
    entries: Vec<(Text, Option<String>)>,
}

const NESTED_AT: &str = "nested_stack_analysis";

impl Side {
    /// Add an analysis: its report text, and its metrics. The two are renamed side by side
    /// (each has its own names).
    fn take(&mut self, mut a: Analysis) -> Taken {
        let report = a.take_report();
        let Side {
            names,
            report: reports,
            report_names,
            leaves,
        } = self;
        let (renamed, (taken, n)) = rayon::join(
            || rename_owned(report, report_names),
            || take_metrics(a, names),
        );
        reports.push(renamed);
        *leaves += n;
        taken
    }
}

/// An analysis's metrics as the drift compares them, their UUIDs renamed by `names`, and
/// their leaf values (but for the typed members', added once their records are built).
fn take_metrics(a: Analysis, names: &mut crate::differences::Names) -> (Taken, usize) {
    let metrics = (a.key().to_string(), a.fixed_metrics());
    let mut part = Value::Object(std::iter::once(metrics).collect());
    let mut leaves = 0;
    // Document order: in the nested-stack analysis `timeline_segments` and the
    // percentiles hold no text, so `node_metrics` is renamed first, then the rest.
    let (mut nested, mut spikes) = (None, None);
    match a {
        Analysis::Nested(n) => {
            let entries = n
                .node_metrics
                .iter()
                .map(|m| {
                    let key = rename_text(n.key(m), names);
                    let name = &n.forest.nodes[m.node].name;
                    let name = match rename_in(name, names) {
                        Cow::Owned(n) => Some(n),
                        Cow::Borrowed(_) => None,
                    };
                    (key, name)
                })
                .collect();
            nested = Some(NestedParts { nested: n, entries });
        }
        // Its only text is in `spike_intervals`.
        Analysis::Spikes(a) => {
            let mut list = a.spikes;
            // Consecutive intervals share most of their calls: a UUID the last interval
            // listed (the same shared text) takes the name it took there, without a
            // lookup in the names (a million intervals at 100,000 requests).
            // The texts are held in `last` until replaced, so an address is not reused.
            let mut last = LastNames::default();
            let mut this: Vec<(Text, Text)> = Vec::new();
            for s in &mut list {
                for u in &mut s.active_uuids {
                    let renamed = match last.get(u) {
                        Some(name) => name.clone(),
                        None => rename_text(u, names),
                    };
                    this.push((std::mem::replace(u, renamed.clone()), renamed));
                }
                last.replace(&mut this);
                // `normalize_active_uuids`.
                s.active_uuids.sort();
            }
            leaves += typed::record_array_leaves(&list);
            spikes = Some(list);
        }
        Analysis::SimpleStack(_) | Analysis::PrefixSpan(_) => {}
    }
    rename_uuids_value_with(&mut part, names);
    normalize_active_uuids(&mut part);
    leaves += leaf_count(&part);
    let taken = Taken {
        part,
        nested,
        spikes,
    };
    (taken, leaves)
}

/// The UUIDs of the last spike interval with their names: a short list is searched, a long
/// one (many calls at once) is also indexed by address.
#[derive(Default)]
struct LastNames {
    /// (text as listed, its name).
    names: Vec<(Text, Text)>,
    /// Address of the text → its place in `names`, when there are more than [`LastNames::SHORT`].
    at: rustc_hash::FxHashMap<usize, usize>,
}

impl LastNames {
    const SHORT: usize = 16;

    /// The name `u` (the same shared text) took in the last interval.
    fn get(&self, u: &Text) -> Option<&Text> {
        if self.names.len() <= Self::SHORT {
            return self
                .names
                .iter()
                .find(|(was, _)| Text::ptr_eq(was, u))
                .map(|(_, n)| n);
        }
        let i = *self.at.get(&(u.as_ptr() as usize))?;
        Some(&self.names[i].1)
    }

    /// The interval just renamed becomes the last one (`this` is left empty).
    fn replace(&mut self, this: &mut Vec<(Text, Text)>) {
        std::mem::swap(&mut self.names, this);
        this.clear();
        self.at.clear();
        if self.names.len() > Self::SHORT {
            let at = self.names.iter().enumerate();
            self.at
                .extend(at.map(|(i, (was, _))| (was.as_ptr() as usize, i)));
        }
    }
}

/// A `node_metrics` record, renamed: entry `i` of a path's nested-stack parts (two words:
/// at 100,000 requests a path has about a million).
struct NodeRecord<'a> {
    parts: &'a NestedParts,
    i: usize,
}

impl Record for NodeRecord<'_> {
    const KEYS: &'static [&'static str] = &[
        "uuid",
        "operation_type",
        "operation_name",
        "start_time",
        "end_time",
        "duration",
        "self_time",
        "subtree_time",
        "concurrency_midpoint",
        "bottleneck_score",
    ];

    fn leaf(&self, j: usize) -> Leaf<'_> {
        let (key, name) = &self.parts.entries[self.i];
        let m = &self.parts.nested.node_metrics[self.i];
        let x = &self.parts.nested.forest.nodes[m.node];
        match j {
            0 => Leaf::Str(key),
            1 => Leaf::Str(x.op_type),
            2 => Leaf::Str(name.as_deref().unwrap_or(&x.name)),
            3 => Leaf::Float(x.start),
            4 => Leaf::Float(x.end),
            5 => Leaf::Float(x.duration),
            6 => Leaf::Float(m.self_time),
            7 => Leaf::Float(m.subtree_time),
            8 => Leaf::Float(m.concurrency_midpoint),
            _ => Leaf::Float(m.subtree_time),
        }
    }
}

impl Record for Spike {
    const KEYS: &'static [&'static str] = &["start_time", "end_time", "concurrency"];
    const LIST: Option<&'static str> = Some("active_uuids");

    fn leaf(&self, j: usize) -> Leaf<'_> {
        match j {
            0 => Leaf::Float(self.start),
            1 => Leaf::Float(self.end),
            _ => Leaf::Int(self.concurrency),
        }
    }

    fn list(&self) -> &[Text] {
        &self.active_uuids
    }
}

/// A `timeline_segments` entry: `[start, end, level]`.
struct Segment((f64, f64, i64));

impl Lane for Segment {
    fn len(&self) -> usize {
        3
    }

    fn leaf(&self, j: usize) -> Leaf<'_> {
        let (s, e, c) = self.0;
        match j {
            0 => Leaf::Float(s),
            1 => Leaf::Float(e),
            _ => Leaf::Int(c),
        }
    }
}

impl NestedParts {
    fn segments(&self) -> &[(f64, f64, i64)] {
        &self.nested.concurrency.segments
    }

    fn records(&self) -> Records<'_, NodeRecord<'_>> {
        Records::new(
            self.entries
                .iter()
                .enumerate()
                .map(|(i, (key, _))| (key.as_str(), NodeRecord { parts: self, i })),
        )
    }

    /// Leaf values of the two members, `records` being this one's.
    fn leaves(&self, records: &Records<'_, NodeRecord<'_>>) -> usize {
        let segs = self.segments();
        array_leaves(segs.len(), |i| Segment(segs[i])) + records.leaves()
    }
}

/// The groups of the typed nested-stack members.
fn nested_groups<'p>(
    a: &NestedParts,
    ar: &Records<'_, NodeRecord<'_>>,
    b: &NestedParts,
    br: &Records<'_, NodeRecord<'_>>,
    policy: &'p Policy,
    builder: Builder,
) -> [(Groups<'p>, usize); 2] {
    let (sa, sb) = (a.segments(), b.segments());
    let (segments, records) = rayon::join(
        || {
            typed::arrays(
                METRICS,
                &format!("{NESTED_AT}.concurrency.timeline_segments"),
                sa.len(),
                |i| Segment(sa[i]),
                sb.len(),
                |i| Segment(sb[i]),
                policy,
                builder,
            )
        },
        || {
            typed::records(
                METRICS,
                &format!("{NESTED_AT}.node_metrics"),
                ar,
                br,
                policy,
                builder,
            )
        },
    );
    [segments, records]
}

/// Per builder, the drift of the metrics, and the reports to diff (the metrics come before the
/// report in `COMPARED` order); `None` when a frame is empty or every analysis is off (the
/// whole-file path handles those).
///
/// Kept in one piece: one loop over the analyses in which each stage (both paths' analyses
/// side by side, their typed records, the per-builder fold) feeds the next, and only one
/// analysis is held at a time.
pub(super) fn drift(paths: &Paths) -> Option<(Vec<Vec<OutputDrift>>, Reports)> {
    if paths.any_empty() {
        return None;
    }
    let Paths {
        builders,
        cfg,
        policy,
        ..
    } = *paths;
    let mut ist_side = Side::default();
    let mut atif_sides: Vec<Side> = builders.iter().map(|_| Side::default()).collect();
    // Per builder, each analysis's groups of the metrics (folded at the end).
    let mut metrics: Vec<Vec<(Groups, usize)>> = builders.iter().map(|_| Vec::new()).collect();
    for k in 0..WORKFLOW_SECTIONS.len() {
        let sides = std::iter::once(&mut ist_side).chain(&mut atif_sides);
        let (left, rights) = both_paths_with(paths, sides, |frame, path, side| {
            workflow_analysis(frame, cfg, path.flavor(), k).map(|a| side.take(a))
        });
        // One configuration for every path: an analysis is on for all of them or for none.
        let Some(left) = left else { continue };
        let rights: Vec<Taken> = rights
            .into_iter()
            .map(|r| r.expect("the same analyses on every path"))
            .collect();
        fn records(t: &Taken) -> Option<Records<'_, NodeRecord<'_>>> {
            t.nested.as_ref().map(NestedParts::records)
        }
        let (left_records, right_records) = rayon::join(
            || records(&left),
            || rights.par_iter().map(records).collect::<Vec<_>>(),
        );
        let leaves = |t: &Taken, r: &Option<Records<'_, NodeRecord<'_>>>| match (&t.nested, r) {
            (Some(n), Some(r)) => n.leaves(r),
            _ => 0,
        };
        ist_side.leaves += leaves(&left, &left_records);
        for ((side, t), r) in atif_sides.iter_mut().zip(&rights).zip(&right_records) {
            side.leaves += leaves(t, r);
        }
        let parts: Vec<(Groups, usize)> = rights
            .par_iter()
            .zip(&right_records)
            .zip(builders)
            .map(|((right, right_records), &b)| {
                let doc = json_groups(METRICS, &left.part, &right.part, policy, b);
                let mut typed = match (&left.nested, &left_records, &right.nested, right_records) {
                    (Some(a), Some(ar), Some(bn), Some(br)) => {
                        nested_groups(a, ar, bn, br, policy, b)
                            .into_iter()
                            .collect()
                    }
                    _ => Vec::new(),
                };
                if let (Some(x), Some(y)) = (&left.spikes, &right.spikes) {
                    let at = "concurrency_spike_analysis.spike_intervals";
                    typed.push(typed::record_arrays(METRICS, at, x, y, policy, b));
                }
                Groups::fold(std::iter::once(doc).chain(typed)).expect("the document part")
            })
            .collect();
        for (m, part) in metrics.iter_mut().zip(parts) {
            m.push(part);
        }
    }
    let metrics = metrics
        .into_par_iter()
        .zip(&atif_sides)
        .map(|(m, side)| {
            let (groups, differing) = Groups::fold(m)?;
            let compared = ist_side.leaves.max(side.leaves);
            Some(vec![OutputDrift {
                file: METRICS.into(),
                compared,
                differing,
                patterns: groups.finish(compared),
            }])
        })
        .collect::<Option<Vec<_>>>()?;
    let (ist, atif) = rayon::join(
        || joined(ist_side.report),
        || {
            atif_sides
                .into_par_iter()
                .map(|s| joined(s.report))
                .collect()
        },
    );
    let reports = Reports { ist, atif };
    Some((metrics, reports))
}

/// A report's sections as the file has them, each after three newlines; each section is freed
/// once copied.
fn joined(sections: Vec<String>) -> String {
    let mut report = String::with_capacity(sections.iter().map(|s| 3 + s.len()).sum());
    for s in sections {
        report.push_str("\n\n\n");
        report.push_str(&s);
    }
    report
}

/// Both paths' `workflow_profiling_report.txt`, UUIDs renamed, to be diffed
/// ([`Reports::drift`]).
pub(super) struct Reports {
    ist: String,
    /// Per builder.
    atif: Vec<String>,
}

impl Reports {
    /// Per builder, the drift of the report (a line diff).
    pub(super) fn drift(&self, builders: &[Builder], policy: &Policy) -> Vec<OutputDrift> {
        let ist = (self.ist.as_str(), &super::lines::Numbered::new(&self.ist));
        self.atif
            .par_iter()
            .zip(builders)
            .map(|(atif, &b)| diff_lines(REPORT, ist, atif, policy, b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProfilerConfig;
    use crate::drift::testing::{corpus_frames, paths, whole_files_drift};
    use crate::profile::Unit;

    #[test]
    fn spike_intervals_are_renamed_and_sorted_as_in_the_file() {
        use crate::profile::concurrency_spikes::{to_json, SpikeAnalysis};
        let (x, y) = (
            "aaaaaaaa-0000-4000-8000-000000000001",
            "bbbbbbbb-0000-4000-8000-000000000002",
        );
        let spike = |uuids: [&str; 2]| Spike {
            start: 1.0,
            end: 2.0,
            concurrency: 2,
            active_uuids: uuids.map(Text::from).to_vec(),
        };
        // The second lists the two the other way round: named U0, U1 by the first, it
        // reads U1, U0 until sorted.
        let a = SpikeAnalysis {
            num_calls: 2,
            distribution: vec![(2, 1.0)],
            total_time: 1.0,
            p: [2.0; 4],
            threshold: 2,
            spikes: vec![spike([x, y]), spike([y, x])],
            avg_prompt_tokens: 0.0,
            avg_total_tokens: 0.0,
            latency_by_level: vec![(2, 1.0)],
            report: String::new(),
        };
        let key = "concurrency_spike_analysis";
        let mut whole = Value::Object(std::iter::once((key.to_string(), to_json(&a))).collect());
        crate::differences::rename_uuids_value(&mut whole);
        normalize_active_uuids(&mut whole);
        let taken = Side::default().take(Analysis::Spikes(a));
        let typed: Vec<Value> = taken.spikes.unwrap().iter().map(Record::value).collect();
        assert_eq!(Value::Array(typed), whole[key]["spike_intervals"]);
        whole[key]
            .as_object_mut()
            .unwrap()
            .remove("spike_intervals");
        assert_eq!(taken.part, whole);
    }

    #[test]
    fn intervals_sharing_calls_are_renamed_as_in_the_file() {
        use crate::profile::concurrency_spikes::{to_json, SpikeAnalysis};
        // Few and many calls at once (a list searched, a list indexed), shared between
        // consecutive intervals as the analysis shares them, with new ones joining.
        for calls in [3, 40] {
            let uuid = |i: usize| Text::from(format!("{i:08x}-0000-4000-8000-000000000000"));
            let texts: Vec<Text> = (0..calls + 4).map(uuid).collect();
            let spikes: Vec<Spike> = (0..5)
                .map(|k| Spike {
                    start: k as f64,
                    end: k as f64 + 1.0,
                    concurrency: calls as i64,
                    // Listed backwards, so that sorting the names matters.
                    active_uuids: texts[k..k + calls].iter().rev().cloned().collect(),
                })
                .collect();
            let a = SpikeAnalysis {
                num_calls: calls,
                distribution: vec![],
                total_time: 5.0,
                p: [1.0; 4],
                threshold: 1,
                spikes,
                avg_prompt_tokens: 0.0,
                avg_total_tokens: 0.0,
                latency_by_level: vec![],
                report: String::new(),
            };
            let key = "concurrency_spike_analysis";
            let mut whole =
                Value::Object(std::iter::once((key.to_string(), to_json(&a))).collect());
            crate::differences::rename_uuids_value(&mut whole);
            normalize_active_uuids(&mut whole);
            let taken = Side::default().take(Analysis::Spikes(a));
            let typed: Vec<Value> = taken.spikes.unwrap().iter().map(Record::value).collect();
            assert_eq!(
                Value::Array(typed),
                whole[key]["spike_intervals"],
                "{calls}"
            );
        }
    }

    #[test]
    fn section_by_section_equals_the_whole_files() {
        let cfg = ProfilerConfig::all_on();
        let builders = [Builder::Pr1751, Builder::Faithful];
        let (ist, frames) = corpus_frames("nested_trip_planner", &builders, &cfg);
        let policy = Policy::default();
        let (metrics, reports) =
            drift(&paths((&ist, &frames), &builders, &cfg, &policy)).expect("frames with rows");
        let got = metrics
            .into_iter()
            .zip(reports.drift(&builders, &policy))
            .map(|(mut m, r)| {
                m.push(r);
                m
            });
        let want = whole_files_drift(
            (&ist, &frames),
            &builders,
            &cfg,
            &policy,
            Unit::WorkflowProfiling,
        );
        for ((got, want), b) in got.zip(want).zip(&builders) {
            assert!(want.iter().any(|o| o.differing > 0), "a case with drift");
            assert_eq!(got, want, "{b:?}");
        }
    }
}
