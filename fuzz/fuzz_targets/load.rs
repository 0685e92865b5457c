//! Any bytes through format detection and every loader (IST, ATIF, JSONL, ATOF).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = atif_drift::trace::load::load_bytes(std::path::Path::new("fuzz.json"), data);
});
