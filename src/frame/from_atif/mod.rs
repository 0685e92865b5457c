//! ATIF → frame. Two builders:
//! - [`pr1751`]: NAT's ATIF-native profiler (`create_dataframe_from_atif`, nvidia-nat-profiler
//!   1.6.0rc1), rule for rule;
//! - [`faithful`]: recovers the IST frame as closely as ATIF allows.

pub mod faithful;
pub mod pr1751;

use serde::{Deserialize, Serialize};

use super::Frame;
use crate::trace::atif::AtifTrace;

/// Which ATIF → frame mapping to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    Pr1751,
    Faithful,
}

pub fn frame(trace: &AtifTrace, builder: Builder) -> Frame {
    match builder {
        Builder::Pr1751 => pr1751::frame(trace),
        Builder::Faithful => faithful::frame(trace),
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
