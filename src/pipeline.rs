//! One profiler run from a loaded trace: choose the path, build the frame, run the analyses.

use crate::config::ProfilerConfig;
use crate::convert::{ist_to_atif, ConvertOptions};
use crate::error::Error;
use crate::frame::from_atif;
use crate::frame::from_ist;
use crate::profile::{self, Outputs};
use crate::trace::atif::AtifTrace;
use crate::trace::load::Trace;

/// Every file `profile` can write (the prediction trie's name aside: the configuration names
/// it): an output directory holding only these is a previous run's, replaced whole.
pub const OUTPUT_FILES: &[&str] = &[
    "all_requests_profiler_traces.json",
    "standardized_data_all.csv",
    "inference_optimization.json",
    "workflow_profiling_report.txt",
    "workflow_profiling_metrics.json",
    "prediction_trie.json",
    "forecast.json",
];

pub use crate::profile::ProfilePath;

/// ATIF of a trace: as is (borrowed), or IST converted with NAT 1.9.0's converter rules.
pub fn as_atif(trace: &Trace) -> Result<std::borrow::Cow<'_, AtifTrace>, Error> {
    use std::borrow::Cow;
    match trace {
        Trace::Atif(a) => Ok(Cow::Borrowed(a)),
        Trace::Ist(ist) => {
            let trajectories = ist_to_atif(ist, &ConvertOptions::default())
                .map_err(|(n, e)| crate::convert::request_error(n, e))?;
            Ok(Cow::Owned(AtifTrace::from_trajectories(trajectories)))
        }
        Trace::Atof(_) => Err(Error::Other(
            "an ATOF event stream cannot be profiled directly: convert it to ATIF first".into(),
        )),
    }
}

/// Run one profiler path on a trace: every file NAT writes, the trace dump included, and
/// with `gantt` the Gantt chart (`gantt_chart.svg`).
pub fn profile(
    trace: &Trace,
    path: ProfilePath,
    cfg: &ProfilerConfig,
    gantt: bool,
) -> Result<Outputs, Error> {
    let mut frame = frame_of(trace, path)?;
    // The dump: the IST steps on the IST path, the frame's flat rows on the ATIF path.
    let traces = match (path, trace) {
        (ProfilePath::Ist, Trace::Ist(ist)) => crate::trace::ist::traces_json(ist),
        _ => profile::flat_traces_json(&frame),
    };
    Ok(profile::run(
        &mut frame,
        Some(traces),
        cfg,
        path.flavor(),
        gantt,
    ))
}

/// The IST path's trace dump (`all_requests_profiler_traces.json`), written a request at a
/// time: the same bytes as `pyjson::dumps(&traces_json(trace))` without holding the whole
/// document (as large as the input) in memory twice.
pub fn write_ist_dump(
    trace: &crate::trace::ist::IstTrace,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut element = Vec::new();
    for (n, r) in trace.requests.iter().enumerate() {
        element.clear();
        ist_dump_element(n, &r.intermediate_steps, &mut element);
        w.write_all(&element)?;
    }
    w.write_all(ist_dump_end(trace.requests.len()))
}

/// Request `n`'s element of the IST path's trace dump (with the `[` or `,` before it),
/// appended to `out`: the dump is its requests' elements in order, then [`ist_dump_end`]
/// (elements may be rendered apart, in parallel).
pub fn ist_dump_element(
    n: usize,
    intermediate_steps: &[crate::trace::ist::IntermediateStep],
    out: &mut Vec<u8>,
) {
    let request = crate::trace::ist::DumpedRequest::new(n, intermediate_steps);
    crate::pyjson::list_element_of(&request, n == 0, out);
}

/// What ends the IST path's trace dump of `requests` requests.
pub fn ist_dump_end(requests: usize) -> &'static [u8] {
    crate::pyjson::list_end(requests > 0)
}

/// The frame `path` profiles of a whole trace: the IST frame (IST traces only), or a
/// builder's frame of the trace's ATIF (IST converted first).
pub fn frame_of(trace: &Trace, path: ProfilePath) -> Result<crate::frame::Frame, Error> {
    match path {
        ProfilePath::Ist => match trace {
            Trace::Ist(ist) => Ok(from_ist::frame(ist)),
            _ => Err(Error::Other(format!(
                "the IST path needs an IST trace; this is {} (use --path atif)",
                trace.kind()
            ))),
        },
        ProfilePath::Atif(builder) => Ok(from_atif::frame(&*as_atif(trace)?, builder)),
    }
}
