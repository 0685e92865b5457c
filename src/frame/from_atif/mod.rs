//! ATIF → frame. Two builders:
//! - [`pr1751`]: NAT's ATIF-native profiler (`create_dataframe_from_atif`, nvidia-nat-profiler
//!   1.6.0rc1), rule for rule;
//! - [`faithful`]: recovers the IST frame as closely as ATIF allows.

pub mod faithful;
pub mod pr1751;

use serde::{Deserialize, Serialize};

use super::from_ist::Interner;
use super::{Frame, Layout, Row};
use crate::trace::atif::{AtifTrace, Trajectory};

/// Which ATIF → frame mapping to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// NAT's own ATIF-native profiler (PR #1751, `nvidia-nat-profiler` 1.6.0rc1).
    Pr1751,
    /// The IST frame recovered as closely as ATIF allows.
    Faithful,
}

impl Builder {
    /// Every builder, in report order.
    pub const ALL: [Builder; 2] = [Builder::Pr1751, Builder::Faithful];

    /// The builder's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Builder::Pr1751 => "pr1751",
            Builder::Faithful => "faithful",
        }
    }

    /// The builder's place in report order.
    pub fn rank(self) -> usize {
        self as usize
    }

    /// Whether the builder makes a row of a tool call without an invocation start time
    /// (pr1751 skips them; on an IST frame, the END rows without `span_event_timestamp`).
    pub fn keeps_untimed_calls(self) -> bool {
        match self {
            Builder::Pr1751 => false,
            Builder::Faithful => true,
        }
    }
}

/// The frame `builder` makes of a trace: its trajectories' rows in order.
pub fn frame(trace: &AtifTrace, builder: Builder) -> Frame {
    let mut names = Interner::default();
    let mut rows = Vec::new();
    for (example, t) in trace.trajectories().enumerate() {
        trajectory_rows(t, example, builder, &mut names, &mut rows);
    }
    Frame::new(layout(builder), trace.items.len(), rows)
}

/// The columns a builder's frame has.
pub fn layout(builder: Builder) -> Layout {
    match builder {
        Builder::Pr1751 => Layout::AtifNative,
        Builder::Faithful => Layout::Ist,
    }
}

/// The rows `builder` makes of trajectory number `example`, appended to `rows`: a frame is
/// its trajectories' rows in order, so it can be built a trajectory at a time.
pub fn trajectory_rows(
    t: &Trajectory,
    example: usize,
    builder: Builder,
    names: &mut Interner,
    rows: &mut Vec<Row>,
) {
    match builder {
        Builder::Pr1751 => pr1751::trajectory_rows(t, example, names, rows),
        Builder::Faithful => faithful::trajectory_rows(t, example, names, rows),
    }
}

/// A one-trajectory ATIF trace (v1.7) with these steps, for the builders' unit tests.
#[cfg(test)]
fn test_trace(steps: serde_json::Value) -> AtifTrace {
    let t: crate::trace::atif::Trajectory = serde_json::from_value(serde_json::json!({
        "schema_version": "ATIF-v1.7", "agent": {"name": "a", "version": "1"}, "steps": steps
    }))
    .unwrap();
    AtifTrace::single(t)
}

/// The frame `builder` builds from a one-trajectory trace of these steps.
#[cfg(test)]
fn test_frame(steps: serde_json::Value, builder: Builder) -> crate::frame::Frame {
    frame(&test_trace(steps), builder)
}
