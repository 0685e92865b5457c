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
