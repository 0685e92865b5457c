//! Whatever loads, through the converters (IST → ATIF, ATOF → ATIF with both dedupe rules) and
//! both profiler paths.
#![no_main]
use libfuzzer_sys::fuzz_target;

use atif_drift::config::ProfilerConfig;
use atif_drift::frame::from_atif::Builder;
use atif_drift::pipeline::{profile, ProfilePath};
use atif_drift::trace::load::{load_bytes, Trace};

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = load_bytes(std::path::Path::new("fuzz.json"), data) else { return };
    let cfg = ProfilerConfig::all_on();
    if let Trace::Ist(ist) = &trace {
        let _ = atif_drift::convert::ist_to_atif(ist, &Default::default());
        let _ = profile(&trace, ProfilePath::Ist, &cfg, true);
    }
    for b in [Builder::Pr1751, Builder::Faithful] {
        let _ = profile(&trace, ProfilePath::Atif(b), &cfg, true);
    }
    if let Trace::Atof(events) = &trace {
        use atif_drift::atof::dedupe::Mode;
        use atif_drift::atof::export::{export, ExportOptions};
        for mode in [Mode::Relay, Mode::Strict] {
            let _ = export(events, &ExportOptions { mode, ..ExportOptions::default() });
        }
    }
});
