//! The drift of the workflow profiling files, one analysis at a time.
//!
//! `workflow_profiling_metrics.json` is four analyses side by side (at 10,000 requests about
//! 110 MB of JSON per path, several times that as values). Its diff is the diff of its root
//! members folded in document order, and its UUIDs are renamed in document order, so each
//! analysis is computed for every path, renamed (continuing that path's names), diffed and
//! dropped before the next: the drift holds one analysis of the file, not all of it. The
//! result is the one the whole files give (checked in the tests below, and by the 10k and
//! corpus reports being unchanged).

use rayon::prelude::*;
use serde_json::Value;

use super::{diff_text, json_groups, Groups, OutputDrift, Policy};
use crate::config::ProfilerConfig;
use crate::differences::{normalize_active_uuids, rename_in, rename_uuids_value_with};
use crate::drift::value_diff::leaf_count;
use crate::frame::from_atif::Builder;
use crate::frame::Frame;
use crate::pipeline::ProfilePath;
use crate::profile::{workflow_section, WorkflowSection, WORKFLOW_SECTIONS};

const METRICS: &str = "workflow_profiling_metrics.json";
const REPORT: &str = "workflow_profiling_report.txt";

/// One path's files so far.
#[derive(Default)]
struct Side {
    /// UUID names of the metrics, in document order.
    names: crate::differences::Names,
    /// The report so far, its UUIDs renamed (a UUID never spans two sections' lines).
    report: String,
    report_names: crate::differences::Names,
    /// Leaf values of the metrics.
    leaves: usize,
}

impl Side {
    /// Add a section: its report text, and its metrics as the one-member object `{key: …}`
    /// (so paths, renaming and the spike-interval normalization are those of the file).
    fn take(&mut self, s: WorkflowSection) -> Value {
        self.report.push_str("\n\n\n");
        self.report
            .push_str(&rename_in(&s.report, &mut self.report_names));
        let mut part = Value::Object(std::iter::once((s.key.to_string(), s.metrics)).collect());
        rename_uuids_value_with(&mut part, &mut self.names);
        normalize_active_uuids(&mut part);
        self.leaves += leaf_count(&part);
        part
    }
}

/// Per builder, the drift of the metrics and of the report (in `COMPARED` order); `None`
/// when a frame is empty or every analysis is off (the whole-file path handles those).
pub(super) fn drift(
    ist: &Frame,
    atif: &[Frame],
    builders: &[Builder],
    cfg: &ProfilerConfig,
    policy: &Policy,
) -> Option<Vec<Vec<OutputDrift>>> {
    if ist.is_empty() || atif.iter().any(Frame::is_empty) {
        return None;
    }
    let ist_flavor = ProfilePath::Ist.flavor();
    let mut ist_side = Side::default();
    let mut atif_sides: Vec<Side> = builders.iter().map(|_| Side::default()).collect();
    // Per builder, each analysis's groups of the metrics (folded at the end).
    let mut metrics: Vec<Vec<(Groups, usize)>> = builders.iter().map(|_| Vec::new()).collect();
    for k in 0..WORKFLOW_SECTIONS.len() {
        let (left, rights) = rayon::join(
            || workflow_section(ist, cfg, ist_flavor, k).map(|s| ist_side.take(s)),
            || {
                atif.par_iter()
                    .zip(builders)
                    .zip(&mut atif_sides)
                    .map(|((f, &b), side)| {
                        workflow_section(f, cfg, ProfilePath::Atif(b).flavor(), k)
                            .map(|s| side.take(s))
                    })
                    .collect::<Vec<_>>()
            },
        );
        // One configuration for every path: an analysis is on for all of them or for none.
        let Some(left) = left else { continue };
        let parts: Vec<(Groups, usize)> = rights
            .par_iter()
            .zip(builders)
            .map(|(right, &b)| {
                let right = right.as_ref().expect("the same analyses on every path");
                json_groups(METRICS, &left, right, policy, b)
            })
            .collect();
        for (m, part) in metrics.iter_mut().zip(parts) {
            m.push(part);
        }
    }
    metrics
        .into_par_iter()
        .zip(&atif_sides)
        .zip(builders)
        .map(|((m, side), &b)| {
            let (groups, differing) = Groups::fold(m)?;
            let compared = ist_side.leaves.max(side.leaves);
            Some(vec![
                OutputDrift {
                    file: METRICS.into(),
                    compared,
                    differing,
                    patterns: groups.finish(compared),
                },
                diff_text(REPORT, &ist_side.report, &side.report, policy, b),
            ])
        })
        .collect::<Option<Vec<_>>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{diff_compared, Compared};
    use crate::profile::{unit, Unit};

    #[test]
    fn section_by_section_equals_the_whole_files() {
        let item = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/nested_trip_planner/all_requests_profiler_traces.json");
        let trace = crate::trace::load_file(&item, &Default::default()).unwrap();
        let crate::trace::Trace::Ist(ist_trace) = &trace else {
            panic!("an IST trace")
        };
        let cfg = ProfilerConfig::all_on();
        let mut ist = crate::frame::from_ist::frame(ist_trace);
        crate::profile::prepare(&mut ist, &cfg);
        let atif = crate::pipeline::as_atif(&trace).unwrap();
        let builders = [Builder::Pr1751, Builder::Faithful];
        let frames: Vec<Frame> = builders
            .iter()
            .map(|&b| {
                let mut f = crate::frame::from_atif::frame(&atif, b);
                crate::profile::prepare(&mut f, &cfg);
                f
            })
            .collect();
        let policy = Policy::default();
        let got = drift(&ist, &frames, &builders, &cfg, &policy).expect("frames with rows");
        let whole = |f: &Frame, p: ProfilePath| {
            Compared::new(unit(f, &cfg, p.flavor(), Unit::WorkflowProfiling))
        };
        let left = whole(&ist, ProfilePath::Ist);
        for ((f, &b), got) in frames.iter().zip(&builders).zip(got) {
            let want = diff_compared(&left, &whole(f, ProfilePath::Atif(b)), &policy, b);
            assert!(want.iter().any(|o| o.differing > 0), "a case with drift");
            assert_eq!(got, want, "{b:?}");
        }
    }
}
