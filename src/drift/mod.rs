//! Comparing outputs: path-addressed JSON differences (more to come: frames, policy, reports).

pub mod value_diff;
