//! atif-drift: does moving a NAT profiler from IntermediateStep (IST) traces to ATIF
//! change what it says?
//!
//! Data flows one way: **trace → frame → analyses → drift → report**.
//! - [`trace`]: IST, ATIF and ATOF models, format detection, corpus walking.
//! - [`convert`]: IST → ATIF with NAT 1.9.0's converter semantics.
//! - [`validate`]: the ATIF checklist and per-version schema rules.
//! - [`corpus`]: walking a corpus directory, accounting for every file.

pub mod convert;
pub mod corpus;
pub mod differences;
pub mod error;
pub mod pyfmt;
pub mod report;
pub mod trace;
pub mod validate;

pub use error::{Error, Result};
