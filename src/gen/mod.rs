//! Generators of test inputs.

pub mod bad_inputs;
pub mod replicate;
pub mod run;
