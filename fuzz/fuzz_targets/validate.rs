//! Any bytes through the ATIF validator, as `atif-drift validate` reads a file: depth check,
//! big-integer clamping, JSON or JSONL, every rule (timestamps with Python's fromisoformat).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = atif_drift::trace::LoadOptions::default();
    let _ = atif_drift::validate::validate_bytes(std::path::Path::new("fuzz.json"), data, &opts);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = atif_drift::pyfmt::fromisoformat_accepts(s);
    }
});
