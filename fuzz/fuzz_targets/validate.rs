//! Any JSON document through the ATIF validator.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let mut problems = Vec::new();
        atif_drift::validate::validate_document(&v, "", &mut problems);
    }
});
