//! Renderers: pure functions from a computed result to text.

pub mod attribution;
pub mod conform;
pub mod dedupe;
pub mod drift;
pub mod html;
pub mod inventory;
pub mod junit;
pub mod terminal;
pub mod validation;
