//! `cargo xtask bench --input FILE`: time every stage of the IST profile on one input and
//! print a Markdown table. (Input generation at 1k/10k/100k requests, peak RSS and the
//! Python comparison are still to come.)

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use atif_drift::config::ProfilerConfig;
use atif_drift::frame::{csv, from_ist, nova};
use atif_drift::profile;
use atif_drift::trace::{load_file, LoadOptions, Trace};

#[derive(clap::Args)]
pub struct Args {
    /// An IST trace (e.g. made with ../shared/oracle/replicate_traces.py).
    #[arg(long)]
    input: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut rows: Vec<(&str, f64)> = Vec::new();
    let mut time = |name: &'static str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        rows.push((name, t.elapsed().as_secs_f64()));
    };
    let mut trace = None;
    time("load + parse", &mut || {
        trace = Some(load_file(&args.input, &LoadOptions::default()))
    });
    let Trace::Ist(ist) = trace.expect("timed")? else {
        anyhow::bail!("{}: not an IST trace", args.input.display())
    };
    let cfg = ProfilerConfig::all_on();
    let mut frame = None;
    time("frame", &mut || frame = Some(from_ist::frame(&ist)));
    let mut frame = frame.expect("timed");
    time("NOVA columns", &mut || {
        frame.nova = Some(nova::compute(&frame))
    });
    time("CSV", &mut || {
        drop(csv::to_csv(&frame, csv::CsvOptions::default()))
    });
    time("inference_optimization", &mut || {
        drop(profile::inference_optimization(
            &frame,
            &cfg,
            profile::Flavor::Nat190,
        ))
    });
    time("simple stack", &mut || {
        drop(profile::simple_stack::simple_stack(
            &frame,
            Default::default(),
        ))
    });
    time("nested stack", &mut || {
        drop(profile::nested_stack::nested_stack(&frame))
    });
    time("concurrency spikes", &mut || {
        drop(profile::concurrency_spikes::concurrency_spikes(&frame, 1))
    });
    time("PrefixSpan", &mut || {
        drop(profile::prefix_span::prefix_span(
            &frame,
            &cfg.prefix_span_analysis,
        ))
    });
    time("prediction trie", &mut || {
        drop(profile::trie::prediction_trie(
            &frame,
            &cfg.prediction_trie,
            "",
        ))
    });
    time("forecast", &mut || {
        drop(profile::forecast::forecast(&frame, profile::Flavor::Nat190))
    });
    println!(
        "input: {} ({} requests, {} events)\n\n| stage | seconds |\n|---|---:|",
        args.input.display(),
        ist.requests.len(),
        frame.rows.len()
    );
    let total: f64 = rows.iter().map(|r| r.1).sum();
    for (name, s) in rows {
        println!("| {name} | {s:.3} |");
    }
    println!("| **total** | {total:.3} |");
    Ok(ExitCode::SUCCESS)
}
