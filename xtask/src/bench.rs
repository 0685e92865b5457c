//! `cargo xtask bench`: performance on inputs of 1k, 10k (…) requests.
//!
//! - `cargo xtask bench [--requests 1000,10000] [--from corpus/react_calculator]`: for each size
//!   (in its own process, so peak RSS is per size) replicate the corpus item's requests with
//!   shifted times and fresh ids (`atif_drift::gen::replicate`), then time a full drift run
//!   (both paths, both builders, the diffs; its own peak RSS), the parse floor (the requests
//!   alone parsed into the typed model, 1 and 2 threads), `profile --path ist` and
//!   `profile --path atif` with each builder (as the command runs them: a request at a time,
//!   every file rendered; `profile --path ist` also with its files written next to the input,
//!   as `atif-drift profile -o` writes them), each the median of three runs, and print a Markdown table
//!   (seconds, MB/s of input, peak RSS / input) with the drift's ratio to the parse floor and
//!   the growth ratios. `--from corpus/tool_calling_parallel` gives real-trace
//!   requests (about 280 KB each: chat inputs and streamed chunks).
//! - `cargo xtask bench --input FILE`: every profiler stage on one IST file.
//!
//! A debug build (what `cargo xtask bench` builds) runs the release one: `cargo run --release
//! -p xtask -- bench`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use atif_drift::config::ProfilerConfig;
use atif_drift::drift::policy::Policy;
use atif_drift::frame::from_atif::Builder;
use atif_drift::frame::{csv, from_ist, nova};
use atif_drift::job::{self, IstOutcome, Item};
use atif_drift::pipeline::ProfilePath;
use atif_drift::profile as analyses;
use atif_drift::trace::{load_file, LoadOptions, Trace};

#[derive(clap::Args)]
pub struct Args {
    /// Time every stage on this IST file instead.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Request counts to generate and measure.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    requests: Vec<usize>,
    /// The corpus item whose requests are replicated (the oracle sample: about 24 events per
    /// request, the input NAT's published Python timings use).
    #[arg(long, default_value = "corpus/sample")]
    from: PathBuf,
    /// Also run NAT's Python profiler (`../shared/oracle/run_nat_profiler.py`) from this venv
    /// on the first size's input and print the time ratio to our IST profile.
    #[arg(long, value_name = "VENV")]
    with_python: Option<PathBuf>,
    /// Measure the profiles up to this many requests; larger sizes get the drift run and the
    /// parse floor only.
    #[arg(long, default_value_t = 10_000, value_name = "REQUESTS")]
    profile_stages_max: usize,
    /// Internal: measure one size in this process and print one table row.
    #[arg(long, hide = true)]
    single: bool,
    /// Internal: one drift run of this IST file; prints seconds and peak RSS.
    #[arg(long, hide = true, value_name = "FILE")]
    drift_only: Option<PathBuf>,
    /// Internal: one profile run of this IST file (`--profile-path`); prints seconds and
    /// peak RSS.
    #[arg(long, hide = true, value_name = "FILE")]
    profile_only: Option<PathBuf>,
    /// Internal: the path of `--profile-only`: ist, pr1751 or faithful.
    #[arg(long, hide = true, default_value = "ist")]
    profile_path: String,
    /// Internal: `--profile-only` writes its files into this directory, as `atif-drift
    /// profile -o DIR` does (then removes it, untimed).
    #[arg(long, hide = true, value_name = "DIR")]
    profile_written: Option<PathBuf>,
}

/// A writer that only counts the bytes it is given.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn secs<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        // `cargo xtask bench` builds xtask without optimizations: what it would time is not
        // what users run.
        eprintln!("bench: this is a debug build; running the release one (cargo run --release -p xtask -- bench …)");
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["run", "--release", "--quiet", "--package", "xtask", "--"])
            .args(std::env::args_os().skip(1))
            .status()?;
        return Ok(ExitCode::from(status.code().map_or(2, |c| c as u8)));
    }
    if let Some(input) = &args.input {
        return stages(input);
    }
    if let Some(input) = &args.drift_only {
        return drift_only(input);
    }
    if let Some(input) = &args.profile_only {
        return profile_only(input, &args.profile_path, args.profile_written.as_deref());
    }
    if args.single {
        let n = *args
            .requests
            .first()
            .ok_or_else(|| anyhow::anyhow!("--single needs one --requests"))?;
        return single(&args.from, n, args.profile_stages_max);
    }
    println!("Seconds, the median of {RUNS} runs (MB/s of input, peak RSS / input size). Parse floor: the requests alone parsed into the typed IST model (serde_json), on 1 and 2 threads. `profile` as the command runs it, every file rendered and its bytes counted, and (\"written\") with its files written next to the input as `atif-drift profile -o` writes them; drift: the IST path, both ATIF builders and the diffs (`atif-drift drift`'s defaults), in a process of its own.\n");
    println!("| requests | events | input MiB | parse floor, 1 thread | parse floor, 2 threads | profile --path ist | profile --path ist, written | profile --path atif (pr1751) | profile --path atif (faithful) | drift | drift peak RSS / input |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe()?;
    let mut drift_times = Vec::new();
    let mut floor_ratios = Vec::new();
    for n in &args.requests {
        let out = Command::new(&exe)
            .args(["bench", "--single", "--requests", &n.to_string(), "--from"])
            .arg(&args.from)
            .arg("--profile-stages-max")
            .arg(args.profile_stages_max.to_string())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let row = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let seconds = |column: usize| {
            row.split('|')
                .nth(column)
                .and_then(|c| c.split_whitespace().next()?.parse::<f64>().ok())
        };
        if let Some(t) = seconds(10) {
            drift_times.push((*n, t));
            if let (Some(one), Some(two)) = (seconds(4), seconds(5)) {
                floor_ratios.push(format!(
                    "{n} requests: drift = {:.1}× the 1-thread parse floor, {:.1}× the 2-thread one",
                    t / one,
                    t / two
                ));
            }
        }
        println!("{row}");
    }
    if !floor_ratios.is_empty() {
        println!("\n{}", floor_ratios.join("\n"));
    }
    if let Some(venv) = &args.with_python {
        let n = args.requests[0];
        python_ratio(venv, &args.from, n, &exe)?;
    }
    for w in drift_times.windows(2) {
        println!(
            "\n{} → {} requests: drift time × {:.1} for × {:.0} requests",
            w[0].0,
            w[1].0,
            w[1].1 / w[0].1,
            w[1].0 as f64 / w[0].0 as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ReplicateArgs {
    /// The corpus item whose requests are replicated.
    #[arg(long, default_value = "corpus/sample")]
    from: PathBuf,
    /// How many requests to write.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// The trace file to write (atomically).
    #[arg(short, long)]
    output: PathBuf,
}

/// `cargo xtask replicate`: the bench's input written where the user says.
pub fn replicate(args: ReplicateArgs) -> anyhow::Result<ExitCode> {
    write_replica(&args.from, args.requests, &args.output)?;
    eprintln!(
        "wrote {} requests of {} -> {}",
        args.requests,
        args.from.display(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `n` replicated requests of `from` written to `out` as NAT writes its trace file
/// (`json.dump`, indent 2), a request at a time.
fn write_replica(from: &Path, n: usize, out: &Path) -> anyhow::Result<()> {
    let Trace::Ist(src) = load_file(
        &from.join("all_requests_profiler_traces.json"),
        &LoadOptions::default(),
    )?
    else {
        anyhow::bail!("{}: no IST trace", from.display())
    };
    atif_drift::fsio::write_atomic_with(out, |file| {
        atif_drift::gen::replicate::write_replica(&src, n, file)
    })?;
    Ok(())
}

/// `n` replicated requests of `from` in a fresh temporary directory; returns the file.
fn replica(from: &Path, n: usize) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("atif-drift-bench-{n}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("all_requests_profiler_traces.json");
    write_replica(from, n, &input)?;
    Ok(input)
}

/// Time NAT's Python profiler (every analysis on) against ours on the same input.
fn python_ratio(venv: &Path, from: &Path, n: usize, exe: &Path) -> anyhow::Result<()> {
    let input = replica(from, n)?;
    let dir = input.parent().unwrap_or(Path::new(".")).to_path_buf();
    let script = Path::new("../shared/oracle/run_nat_profiler.py");
    anyhow::ensure!(
        script.exists(),
        "{}: not found (run from the project root, with ../shared beside it)",
        script.display()
    );
    let (out, t_py) = secs(|| {
        Command::new(venv.join("bin/python"))
            .arg(script)
            .arg(&input)
            .arg(dir.join("nat-out"))
            .output()
    });
    let out = out?;
    anyhow::ensure!(
        out.status.success(),
        "NAT profiler failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let atif_drift_bin = exe.with_file_name("atif-drift");
    let (ours, t_rs) = secs(|| {
        Command::new(&atif_drift_bin)
            .args(["profile", "--path", "ist", "-o"])
            .arg(dir.join("ours"))
            .arg(&input)
            .output()
    });
    let ours = ours?;
    anyhow::ensure!(
        ours.status.success(),
        "{}: {}",
        atif_drift_bin.display(),
        String::from_utf8_lossy(&ours.stderr)
    );
    println!(
        "\nNAT 1.9.0 (Python) on {n} requests: {t_py:.1} s; atif-drift profile --path ist (whole process): {t_rs:.2} s; × {:.0} faster",
        t_py / t_rs
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `--drift-only FILE`: a full drift run (both builders) of one IST file; prints its seconds,
/// this process's peak RSS in MiB and the trace's events.
fn drift_only(input: &Path) -> anyhow::Result<ExitCode> {
    let item = Item {
        name: "bench".into(),
        ist: input.to_path_buf(),
        atif: None,
        config: None,
    };
    let ((r, outcomes), t) = secs(|| {
        job::run_with_outcomes(
            &[item],
            &Builder::ALL,
            &Policy::default(),
            &LoadOptions::default(),
            &|| {},
        )
    });
    anyhow::ensure!(r.errors() == 0, "drift run failed");
    let events = match outcomes.first() {
        Some(IstOutcome::Loaded(_, steps)) => *steps,
        _ => 0,
    };
    println!("{t:.3} {:.0} {events}", peak_rss_mib());
    Ok(ExitCode::SUCCESS)
}

/// `--profile-only FILE`: `atif-drift profile` of one IST file on one path, as the command
/// runs it (the input read a request at a time, the IST trace dump streamed, then each
/// unit's files rendered as it is done; their bytes counted, or with `written` the files
/// written there); prints its seconds and this process's peak RSS in MiB.
fn profile_only(input: &Path, path: &str, written: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = match path {
        "ist" => ProfilePath::Ist,
        "pr1751" => ProfilePath::Atif(Builder::Pr1751),
        "faithful" => ProfilePath::Atif(Builder::Faithful),
        other => anyhow::bail!("--profile-path {other}: ist, pr1751 or faithful"),
    };
    let cfg = ProfilerConfig::all_on();
    let opts = LoadOptions::default();
    let (counted, t) = secs(|| -> anyhow::Result<usize> {
        if let Some(dir) = written {
            let names = atif_drift::job::profile::output_names(&cfg);
            let out = atif_drift::fsio::OutputDir::create(dir, &names, true)?;
            let staged = atif_drift::job::profile::stage(input, path, &cfg, false, &opts, &out)?;
            out.commit()?;
            return Ok(staged.written);
        }
        use atif_drift::job::profile::{ist_file_frame, write_units, Fill};
        let mut dump = Counter(0);
        let mut frame = ist_file_frame(input, path, &opts, &mut dump)?
            .ok_or_else(|| anyhow::anyhow!("not an IST request list"))??;
        // Each file rendered and counted as `profile -o` writes it (unit by unit).
        let counted = std::sync::atomic::AtomicUsize::new(dump.0);
        let sink = |_: &str, fill: &mut Fill<'_>| -> Result<(), atif_drift::Error> {
            let mut c = Counter(0);
            fill(&mut c).map_err(|e| atif_drift::Error::Other(e.to_string()))?;
            counted.fetch_add(c.0, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        };
        write_units(&mut frame, path, &cfg, false, &sink)?;
        Ok(counted.into_inner())
    });
    counted?;
    if let Some(dir) = written {
        std::fs::remove_dir_all(dir)?;
    }
    println!("{t:.3} {:.0}", peak_rss_mib());
    Ok(ExitCode::SUCCESS)
}

/// How many times each measure is taken; the median run is reported.
const RUNS: usize = 3;

/// The run of median time among [`RUNS`] runs of `run` (whose first number is seconds).
fn median_run(mut run: impl FnMut() -> anyhow::Result<Vec<f64>>) -> anyhow::Result<Vec<f64>> {
    let mut runs = (0..RUNS)
        .map(|_| run())
        .collect::<anyhow::Result<Vec<_>>>()?;
    runs.sort_by(|a, b| a[0].total_cmp(&b[0]));
    Ok(runs.swap_remove(RUNS / 2))
}

/// [`one_process`], the median of [`RUNS`].
fn timed_process(args: &[&str]) -> anyhow::Result<Vec<f64>> {
    median_run(|| one_process(args))
}

/// This binary run as `bench ARGS` in a process of its own: the numbers it prints (seconds
/// and peak RSS in MiB first).
fn one_process(args: &[&str]) -> anyhow::Result<Vec<f64>> {
    let out = Command::new(std::env::current_exe()?)
        .arg("bench")
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let numbers: Result<Vec<f64>, _> = stdout.split_whitespace().map(str::parse).collect();
    match numbers {
        Ok(v) if v.len() >= 2 => Ok(v),
        _ => anyhow::bail!("bench {args:?} printed {stdout:?}"),
    }
}

fn single(from: &Path, n: usize, profile_stages_max: usize) -> anyhow::Result<ExitCode> {
    let input = replica(from, n)?;
    let dir = input.parent().unwrap_or(Path::new(".")).to_path_buf();
    let bytes = std::fs::metadata(&input)?.len() as f64;
    let mib = bytes / (1 << 20) as f64;
    let rate = |t: f64| bytes / 1e6 / t;
    let of_input = |peak_mib: f64| peak_mib * (1 << 20) as f64 / bytes;
    // The full drift in a fresh process of its own: its time and its peak memory only.
    let (t_drift, drift_peak, events) =
        match timed_process(&["--drift-only", input.to_str().unwrap_or_default()])?[..] {
            [t, peak, events] => (t, peak, events),
            _ => anyhow::bail!("bench --drift-only printed no events"),
        };
    let drift = format!(
        "{t_drift:.2} ({:.0}) | {:.2}×",
        rate(t_drift),
        of_input(drift_peak)
    );
    let (floor1, floor2) = parse_floor(&input)?;
    let floors = format!(
        "{floor1:.2} ({:.0}) | {floor2:.2} ({:.0})",
        rate(floor1),
        rate(floor2)
    );
    if n > profile_stages_max {
        println!("| {n} | {events} | {mib:.0} | {floors} | — | — | — | — | {drift} |");
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(ExitCode::SUCCESS);
    }
    // As `atif-drift profile` runs, each in a process of its own (its peak RSS alone).
    // `profile --path ist` also with its files written next to the input, as `atif-drift
    // profile -o` writes them.
    let written = dir.join("profile-written");
    let written = written.to_str().unwrap_or_default();
    let input = input.to_str().unwrap_or_default();
    let mut cells = Vec::new();
    for (path, extra) in [
        ("ist", &[][..]),
        ("ist", &["--profile-written", written][..]),
        ("pr1751", &[]),
        ("faithful", &[]),
    ] {
        let mut args = vec!["--profile-only", input, "--profile-path", path];
        args.extend(extra);
        let measured = timed_process(&args)?;
        let (t, peak) = (measured[0], measured[1]);
        cells.push(format!("{t:.2} ({:.0}, {:.2}×)", rate(t), of_input(peak)));
    }
    println!(
        "| {n} | {events} | {mib:.0} | {floors} | {} | {drift} |",
        cells.join(" | "),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// The parse floor: the requests of `input` (mapped and found first, not timed) parsed into
/// the typed IST model with serde_json and dropped, on 1 thread and on 2; seconds each (the
/// median of [`RUNS`]).
fn parse_floor(input: &Path) -> anyhow::Result<(f64, f64)> {
    use atif_drift::trace::list_reader::ListReader;
    use rayon::prelude::*;
    // Mapped, as the commands read it; each request a part of the map (the 100,000-request
    // input is 3.7 GB: read and copied per request it took twice that).
    let file = atif_drift::fsio::map_regular(input, u64::MAX)?;
    let mut list = ListReader::new(file.bytes());
    let mut requests = Vec::new();
    while let Some(request) = list
        .next_slice()
        .map_err(|_| anyhow::anyhow!("{}: not a list", input.display()))?
    {
        requests.push(request);
    }
    let parse = |r: &&[u8]| {
        atif_drift::trace::ist::parse_request(r)
            .map(drop)
            .ok_or_else(|| anyhow::anyhow!("a request that does not parse"))
    };
    let t1 = median_run(|| {
        let (one, t) = secs(|| requests.iter().try_for_each(parse));
        one.map(|()| vec![t])
    })?[0];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    let t2 = median_run(|| {
        let (two, t) = secs(|| pool.install(|| requests.par_iter().try_for_each(parse)));
        two.map(|()| vec![t])
    })?[0];
    Ok((t1, t2))
}

fn stages(input: &Path) -> anyhow::Result<ExitCode> {
    let mut rows: Vec<(&str, f64)> = Vec::new();
    let (trace, t) = secs(|| load_file(input, &LoadOptions::default()));
    rows.push(("load + parse", t));
    let Trace::Ist(ist) = trace? else {
        anyhow::bail!("{}: not an IST trace", input.display())
    };
    let cfg = ProfilerConfig::all_on();
    let (mut frame, t) = secs(|| from_ist::frame(&ist));
    rows.push(("frame", t));
    let (n, t) = secs(|| nova::compute(&frame));
    frame.nova = Some(n);
    rows.push(("NOVA columns", t));
    rows.push((
        "CSV",
        secs(|| csv::to_csv(&frame, csv::CsvOptions::default())).1,
    ));
    rows.push((
        "inference_optimization",
        secs(|| analyses::inference_optimization(&frame, &cfg, analyses::Flavor::Nat190)).1,
    ));
    rows.push((
        "simple stack",
        secs(|| analyses::simple_stack::simple_stack(&frame, Default::default())).1,
    ));
    rows.push((
        "nested stack",
        secs(|| analyses::nested_stack::nested_stack(&frame)).1,
    ));
    rows.push((
        "concurrency spikes",
        secs(|| analyses::concurrency_spikes::concurrency_spikes(&frame, 1)).1,
    ));
    rows.push((
        "PrefixSpan",
        secs(|| analyses::prefix_span::prefix_span(&frame, &cfg.prefix_span_analysis)).1,
    ));
    rows.push((
        "prediction trie",
        secs(|| analyses::trie::prediction_trie(&frame, &cfg.prediction_trie, "")).1,
    ));
    rows.push((
        "forecast",
        secs(|| analyses::forecast::forecast(&frame, analyses::Flavor::Nat190)).1,
    ));
    println!(
        "input: {} ({} requests, {} events)\n\n| stage | seconds |\n|---|---:|",
        input.display(),
        ist.requests.len(),
        frame.rows.len()
    );
    let total: f64 = rows.iter().map(|r| r.1).sum();
    for (name, s) in rows {
        println!("| {name} | {s:.3} |");
    }
    println!(
        "| **total** | {total:.3} |\npeak RSS {:.0} MiB",
        peak_rss_mib()
    );
    Ok(ExitCode::SUCCESS)
}
