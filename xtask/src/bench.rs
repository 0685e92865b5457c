//! `cargo xtask bench`: performance on inputs of 1k, 10k (…) requests.
//!
//! - `cargo xtask bench [--requests 1000,10000] [--from corpus/react_calculator]`: for each size
//!   (in its own process, so peak RSS is per size) replicate the corpus item's requests with
//!   shifted times and fresh ids (`atif_drift::gen::replicate`), then time a full drift run
//!   (both paths + diff; its own peak RSS), parsing, the IST profile and the ATIF profile
//!   (pr1751, IST converted first; every file rendered as `atif-drift profile` writes it), and
//!   print a Markdown table with the growth ratios.
//! - `cargo xtask bench --input FILE`: every profiler stage on one IST file.
//!
//! Build with `--release` for real numbers: `cargo run --release -p xtask -- bench`.

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
    /// Measure parsing and the two whole-trace profiles (`atif-drift profile`, which holds
    /// the parsed trace and its frame: about 1.3 GiB per 1,000 real requests of
    /// tool_calling_parallel) up to this many requests; larger sizes get the drift run only.
    #[arg(long, default_value_t = 10_000, value_name = "REQUESTS")]
    profile_stages_max: usize,
    /// Internal: measure one size in this process and print one table row.
    #[arg(long, hide = true)]
    single: bool,
    /// Internal: one drift run of this IST file; prints seconds and peak RSS.
    #[arg(long, hide = true, value_name = "FILE")]
    drift_only: Option<PathBuf>,
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
    if let Some(input) = &args.input {
        return stages(input);
    }
    if let Some(input) = &args.drift_only {
        return drift_only(input);
    }
    if args.single {
        let n = *args
            .requests
            .first()
            .ok_or_else(|| anyhow::anyhow!("--single needs one --requests"))?;
        return single(&args.from, n, args.profile_stages_max);
    }
    println!("| requests | events | input MiB | parse s | IST profile s | ATIF profile s | drift (both paths + diff) s | drift peak RSS MiB | profile stages peak RSS MiB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe()?;
    let mut drift_times = Vec::new();
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
        if let Some(t) = row
            .split('|')
            .nth(7)
            .and_then(|c| c.trim().parse::<f64>().ok())
        {
            drift_times.push((*n, t));
        }
        println!("{row}");
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

/// `--drift-only FILE`: a full drift run (pr1751) of one IST file; prints its seconds,
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
            &[Builder::Pr1751],
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

/// Reset this process's peak resident set size to its current size (Linux:
/// `/proc/self/clear_refs`), so that the next stage's peak is its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn single(from: &Path, n: usize, profile_stages_max: usize) -> anyhow::Result<ExitCode> {
    let input = replica(from, n)?;
    let dir = input.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mib = std::fs::metadata(&input)?.len() as f64 / (1 << 20) as f64;
    let cfg = ProfilerConfig::all_on();
    // The full drift in a fresh process of its own: its time and its peak memory only.
    let out = Command::new(std::env::current_exe()?)
        .args(["bench", "--drift-only"])
        .arg(&input)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut fields = stdout.split_whitespace().map(str::parse::<f64>);
    let (Some(Ok(t_drift)), Some(Ok(drift_peak)), Some(Ok(events))) =
        (fields.next(), fields.next(), fields.next())
    else {
        anyhow::bail!("bench --drift-only printed {stdout:?}")
    };
    if n > profile_stages_max {
        println!("| {n} | {events} | {mib:.0} | — | — | — | {t_drift:.2} | {drift_peak:.0} | — |");
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(ExitCode::SUCCESS);
    }
    reset_peak_rss();
    let (trace, parse) = secs(|| load_file(&input, &LoadOptions::default()));
    let trace = trace?;
    // As `atif-drift profile` does: every file, rendered as NAT writes it (not written; the
    // IST trace dump streamed a request at a time, its bytes counted).
    let rendered = |path: ProfilePath| -> anyhow::Result<usize> {
        let out = atif_drift::pipeline::profile_without_ist_dump(&trace, path, &cfg, false)?;
        let mut dump = 0;
        if let (ProfilePath::Ist, Trace::Ist(ist)) = (path, &trace) {
            let mut counter = Counter(0);
            atif_drift::pipeline::write_ist_dump(ist, &mut counter)?;
            dump = counter.0;
        }
        Ok(dump + out.files.iter().map(|(_, c)| c.text().len()).sum::<usize>())
    };
    let (ist, t_ist) = secs(|| rendered(ProfilePath::Ist));
    ist?;
    let (atif, t_atif) = secs(|| rendered(ProfilePath::Atif(Builder::Pr1751)));
    atif?;
    println!(
        "| {n} | {events} | {mib:.0} | {parse:.2} | {t_ist:.2} | {t_atif:.2} | {t_drift:.2} | {drift_peak:.0} | {:.0} |",
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
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
