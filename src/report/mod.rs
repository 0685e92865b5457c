//! Renderers: pure functions from a computed result to text.

pub mod inventory;
pub mod validation;
