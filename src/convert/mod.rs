//! Conversions between trace formats.

pub mod fidelity;
pub mod ist_to_atif;
pub mod pyliteral;

use crate::trace::atif::Trajectory;
use crate::trace::ist::IstTrace;

pub use ist_to_atif::{convert_request, ConvertError, ConvertOptions};

/// The error of request `n` that does not convert, as the profiler paths report it.
pub fn request_error(n: usize, e: ConvertError) -> crate::Error {
    crate::Error::Convert {
        context: format!("request {n}"),
        message: e.to_string(),
    }
}

/// Convert every request of an IST trace, request `n` becoming session `request-<n>` (the
/// session ids NAT's `convert_to_atif.py` gives; NAT's converter alone would draw a uuid4).
pub fn ist_to_atif(
    trace: &IstTrace,
    opts: &ConvertOptions,
) -> Result<Vec<Trajectory>, (usize, ConvertError)> {
    trace
        .requests
        .iter()
        .enumerate()
        .map(|(n, r)| {
            convert_request(&r.intermediate_steps, &format!("request-{n}"), opts)
                .map_err(|e| (n, e))
        })
        .collect()
}
