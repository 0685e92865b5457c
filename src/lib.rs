//! atif-drift: does moving a NAT profiler from IntermediateStep (IST) traces to ATIF
//! change what it says?
//!
//! Data flows one way: **trace → frame → analyses → drift → report**.
//! - [`event`]: NAT's event types (the vocabulary every layer shares).
//! - [`trace`]: IST, ATIF and ATOF models, format detection, corpus walking.
//! - [`atof`]: ATOF event streams, their LLM spans and LLM-span dedupe (NeMo Relay's rule and a strict one).
//! - [`convert`]: IST → ATIF with NAT 1.9.0's converter semantics (and the losses put back).
//! - [`loss`]: what NAT's ATIF does not carry of an IST trace, one id per loss.
//! - [`config`]: NAT's profiler configuration (`eval.general.profiler`).
//! - [`frame`]: NAT's standardized frame (one typed struct), built from IST, and its CSV.
//! - [`profile`]: the analyses, one file each, on the frame only.
//! - [`numeric`], [`pyfmt`], [`pyjson`]: Python's and numpy's numerics and text formats.
//! - [`drift`]: the drift engine: comparing two paths' outputs under a policy (no I/O).
//! - [`job`]: the drift job: corpus items, inputs, runs, accounting, partitions, exit codes.
//! - [`mooncake`]: Dynamo-style mooncake trace export (aiperf replay) from both paths.
//! - [`validate`]: the ATIF checklist and per-version schema rules.
//! - [`fsio`]: bounded reads of regular files, atomic writes of files and output directories.
//! - [`corpus`]: walking a corpus directory, accounting for every file.
//! - [`app`]: the commands both binaries run (`drift`), with their checks and outputs.
//! - [`report`]: pure renderers of computed results.
//! - [`differences`]: every deliberate difference from NAT, with its reason.

#![warn(missing_docs)]

pub mod alloc;
pub mod app;
pub mod atof;
pub mod config;
pub mod conform;
pub mod convert;
pub mod corpus;
pub mod differences;
pub mod drift;
pub mod error;
pub mod event;
pub mod frame;
pub mod fsio;
pub mod gen;
pub mod job;
pub mod loss;
pub mod mooncake;
pub mod numeric;
pub mod pipeline;
pub mod profile;
pub mod pyfmt;
pub mod pyjson;
pub mod report;
pub mod trace;
pub mod validate;

pub use error::{Error, Result};
