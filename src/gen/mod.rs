//! Generators of test inputs.

pub mod atif_mutants;
pub mod bad_inputs;
pub mod faults;
pub mod replicate;
pub mod run;
