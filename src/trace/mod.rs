//! Trace models (IST, ATIF, ATOF), format detection and corpus walking.

pub mod atif;
pub mod ist;
pub mod list_reader;
pub mod load;

pub use atif::{AtifTrace, Trajectory};
pub use ist::{IntermediateStep, IstTrace};
pub use load::{load_file, LoadOptions, Trace};
