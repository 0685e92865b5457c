//! A gate that cannot lie: the verdict, the exit code and the files written, under the faults a
//! new user, an adversary and a CI job bring (issue 21). Each test runs the binary as a user
//! does and fails without the fix it names.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: this build's, or `ATIF_DRIFT_BIN` (to show that these tests fail
/// on an earlier build, or to check an installed one).
fn bin() -> Command {
    match std::env::var_os("ATIF_DRIFT_BIN") {
        Some(b) => Command::new(b),
        None => Command::new(env!("CARGO_BIN_EXE_atif-drift")),
    }
}

/// A fresh directory for one test under cargo's temporary directory for tests (the previous
/// run's removed: runs leave one copy behind, not one per run).
fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rel-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample() -> PathBuf {
    common::root().join("corpus/sample")
}

fn sample_trace() -> PathBuf {
    sample().join("all_requests_profiler_traces.json")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run `cmd`, killing it after `secs`: a hang fails the test instead of hanging it.
fn run_bounded(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A copy of the sample item under `dir/name`.
fn copy_sample(dir: &Path, name: &str) -> PathBuf {
    let item = dir.join(name);
    std::fs::create_dir_all(&item).unwrap();
    for f in ["all_requests_profiler_traces.json", "nat_atif.json"] {
        std::fs::copy(sample().join(f), item.join(f)).unwrap();
    }
    item
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---- Verdicts ----

/// (Item 1) A `[[threshold]]` covering the drift passes the gate.
#[test]
fn a_threshold_lets_drift_through_the_verdict() {
    let dir = tmp("threshold");
    let policy = dir.join("p.toml");
    std::fs::write(
        &policy,
        "[[threshold]]\npattern = \"*\"\nmax_values_pct = 100\n",
    )
    .unwrap();
    let o = run(bin()
        .arg("drift")
        .arg(sample())
        .arg("--policy")
        .arg(&policy));
    assert_eq!(code(&o), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("NEW DRIFT"), "{}", stdout(&o));
    // Without it the same drift fails.
    let o = run(bin().arg("drift").arg(sample()).args(["--policy", "none"]));
    assert_eq!(code(&o), Some(1));
}

/// (Item 2) A corpus argument without an item is an error, and a stray unparsable file is counted.
#[test]
fn a_corpus_without_an_item_is_an_error_and_failures_are_counted() {
    let dir = tmp("no-item");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for arg in [empty.clone(), dir.join("typo")] {
        let o = run(bin().arg("drift").arg(&arg));
        assert_eq!(code(&o), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&*arg.to_string_lossy()),
            "{}",
            stderr(&o)
        );
    }
    let c = dir.join("corpus");
    copy_sample(&c, "item");
    std::fs::write(c.join("stray.json"), "{ not json").unwrap();
    let o = run(bin().arg("drift").arg(&c).args(["--format", "table"]));
    assert_eq!(code(&o), Some(2));
    assert!(
        stdout(&o).contains("ERROR: 1 item or file could not be compared"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("stray.json"), "{}", stderr(&o));
}

/// (Item 3) A closed standard output keeps the verdict's exit code.
#[test]
fn a_closed_stdout_keeps_the_verdict() {
    let mut child = bin()
        .arg("drift")
        .arg(sample())
        .args(["--format", "json", "--policy", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

/// (Item 4) merge-reports refuses a partition twice or missing, and carries file failures.
#[test]
fn merge_refuses_duplicate_and_missing_partitions_and_carries_failures() {
    let dir = tmp("merge");
    let c = dir.join("corpus");
    copy_sample(&c, "a");
    copy_sample(&c, "b");
    std::fs::write(c.join("a/broken.json"), "[{").unwrap();
    let part = |k: usize| {
        let p = dir.join(format!("p{k}.json"));
        let o = run(bin().arg("drift").arg(&c).args([
            "--format",
            "json",
            "--partition",
            &format!("{k}/2"),
        ]));
        std::fs::write(&p, &o.stdout).unwrap();
        p
    };
    let (p1, p2) = (part(1), part(2));
    let merge = |ps: &[&Path]| run(bin().arg("merge-reports").args(ps));
    let o = merge(&[&p1, &p1]);
    assert_eq!(code(&o), Some(2));
    assert!(stderr(&o).contains("given twice"), "{}", stderr(&o));
    let o = merge(&[&p1]);
    assert_eq!(code(&o), Some(2));
    assert!(stderr(&o).contains("2/2 missing"), "{}", stderr(&o));
    let o = merge(&[&p2, &p1]);
    assert_eq!(code(&o), Some(2), "the broken file fails the merged run");
    assert!(stderr(&o).contains("broken.json"), "{}", stderr(&o));
    // Another schema or not a report: the file is named.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        "{\"schema\": \"other\", \"items\": [], \"unused_expectations\": []}",
    )
    .unwrap();
    let o = merge(&[&bad]);
    assert_eq!(code(&o), Some(2));
    assert!(stderr(&o).contains("bad.json"), "{}", stderr(&o));
}

/// (Item 5) The same corpus given several ways runs each item once.
#[test]
fn a_corpus_given_twice_runs_once() {
    let items = |args: &[PathBuf]| {
        let o =
            run(bin()
                .arg("drift")
                .args(args)
                .args(["--format", "json", "--builder", "pr1751"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["items"].as_array().unwrap().len()
    };
    let generated = common::root().join("corpus/generated");
    let once = items(std::slice::from_ref(&generated));
    let rel = PathBuf::from("corpus/./generated");
    let twice = {
        let o = run(bin()
            .current_dir(common::root())
            .arg("drift")
            .arg(&generated)
            .arg(&rel)
            .arg("corpus/generated/seed-1")
            .args(["--format", "json", "--builder", "pr1751"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["items"].as_array().unwrap().len()
    };
    assert_eq!(once, 3);
    assert_eq!(twice, once);
}

// ---- Nothing lost ----

/// Limit the files the command may write (`ulimit -f`), so that writes fail as on a full disk.
#[cfg(target_os = "linux")]
fn with_file_size_limit(cmd: &mut Command, bytes: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            // A write past the limit then fails with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        })
    }
}

/// (Item 7) A write that fails (file size limit, full device) leaves no file under the final name,
/// no temporary, and the previous output intact; the error names the file.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_leaves_nothing_half_written() {
    let dir = tmp("half");
    let out = dir.join("atif.json");
    let mut cmd = bin();
    cmd.arg("convert")
        .arg(sample_trace())
        .args(["--to", "atif", "-o"])
        .arg(&out);
    let o = run(with_file_size_limit(&mut cmd, 4096));
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("atif.json: cannot write"),
        "{}",
        stderr(&o)
    );
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));

    // A previous run's file stays whole.
    std::fs::write(&out, "previous").unwrap();
    let o = run(with_file_size_limit(&mut cmd, 4096));
    assert_eq!(code(&o), Some(2));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
    assert_eq!(names(&dir), ["atif.json"]);

    // A directory of outputs: untouched.
    let pdir = dir.join("profile");
    let o = run(bin()
        .arg("profile")
        .arg(sample_trace())
        .arg("-o")
        .arg(&pdir));
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let before = names(&pdir);
    let csv = std::fs::read(pdir.join("standardized_data_all.csv")).unwrap();
    let mut cmd = bin();
    cmd.arg("profile").arg(sample_trace()).arg("-o").arg(&pdir);
    let o = run(with_file_size_limit(&mut cmd, 4096));
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert_eq!(names(&pdir), before);
    assert_eq!(
        std::fs::read(pdir.join("standardized_data_all.csv")).unwrap(),
        csv
    );
    assert_eq!(names(&dir), ["atif.json", "profile"], "no staging left");

    // A full device.
    let o = run(bin()
        .arg("convert")
        .arg(sample_trace())
        .args(["--to", "atif", "-o", "/dev/full"]));
    assert_eq!(code(&o), Some(2));
    assert!(
        stderr(&o).contains("/dev/full: cannot write"),
        "{}",
        stderr(&o)
    );
}

/// (Item 7) Two `profile -o SAME` at once leave one run's complete set, never a mix: one run
/// profiles the sample (seven files), the other an empty trace (two files).
#[test]
fn concurrent_profiles_never_mix_their_outputs() {
    let dir = tmp("concurrent");
    let empty = dir.join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    let inputs = [sample_trace(), empty];
    let contents = |d: &Path| {
        names(d)
            .into_iter()
            .map(|n| (std::fs::read(d.join(&n)).unwrap(), n))
            .collect::<Vec<_>>()
    };
    let reference: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let d = dir.join(format!("ref-{i}"));
            let o = run(bin().arg("profile").arg(input).arg("-o").arg(&d));
            assert_eq!(code(&o), Some(0), "{}", stderr(&o));
            contents(&d)
        })
        .collect();
    assert_ne!(reference[0].len(), reference[1].len());
    let target = dir.join("same");
    for round in 0..6 {
        let spawn = |input: &Path| {
            bin()
                .arg("profile")
                .arg(input)
                .arg("-o")
                .arg(&target)
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        // Either may start (and so, most often, finish) first.
        let (first, second) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        let mut a = spawn(&inputs[first]);
        let mut b = spawn(&inputs[second]);
        assert!(a.wait().unwrap().success());
        assert!(b.wait().unwrap().success());
        let got = contents(&target);
        assert!(
            got == reference[0] || got == reference[1],
            "round {round}: a mixed set: {:?}",
            names(&target)
        );
    }
    let leftovers: Vec<_> = names(&dir)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// (Item 8) A second profile replaces the first run's files; a directory holding other files is
/// refused unless --force.
#[test]
fn profile_leaves_no_stale_outputs_and_refuses_foreign_files() {
    let dir = tmp("stale");
    let out = dir.join("out");
    let o = run(bin().arg("profile").arg(sample_trace()).arg("-o").arg(&out));
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(names(&out).len() > 2);
    let empty = dir.join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    let o = run(bin().arg("profile").arg(&empty).arg("-o").arg(&out));
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(
        names(&out),
        [
            "all_requests_profiler_traces.json",
            "standardized_data_all.csv"
        ]
    );
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = run(bin().arg("profile").arg(&empty).arg("-o").arg(&out));
    assert_eq!(code(&o), Some(2));
    assert!(
        stderr(&o).contains("notes.txt") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert!(out.join("notes.txt").exists());
    let o = run(bin()
        .arg("profile")
        .arg(&empty)
        .arg("-o")
        .arg(&out)
        .arg("--force"));
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(!out.join("notes.txt").exists());
}

/// (Item 9) An output that is an input, or a directory holding one, is refused.
#[test]
fn outputs_never_overwrite_inputs() {
    let dir = tmp("onto-input");
    let item = copy_sample(&dir, "item");
    let trace = item.join("all_requests_profiler_traces.json");
    let before = std::fs::read(&trace).unwrap();
    let o = run(bin()
        .arg("convert")
        .arg(&trace)
        .args(["--to", "atif", "-o"])
        .arg(&trace));
    assert_eq!(code(&o), Some(2));
    assert!(stderr(&o).contains("is the input"), "{}", stderr(&o));
    for force in [false, true] {
        let mut cmd = bin();
        cmd.arg("profile")
            .arg(item.join("nat_atif.json"))
            .args(["--path", "atif", "-o"])
            .arg(&item);
        if force {
            cmd.arg("--force");
        }
        let o = run(&mut cmd);
        assert_eq!(code(&o), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("holds the input"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&trace).unwrap(), before);
    assert_eq!(
        names(&item),
        ["all_requests_profiler_traces.json", "nat_atif.json"]
    );
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// (Item 10) FIFOs and devices are never read: no hang, no endless read, no item vanishing.
#[cfg(unix)]
#[test]
fn fifos_and_devices_fail_their_item_without_hanging() {
    let dir = tmp("fifo");
    for (name, file) in [
        ("atif-fifo", "nat_atif.json"),
        ("config-fifo", "config.yml"),
        ("trace-fifo", "all_requests_profiler_traces.json"),
        ("trace-zero", "all_requests_profiler_traces.json"),
    ] {
        let c = dir.join(name);
        let item = copy_sample(&c, "item");
        let p = item.join(file);
        let _ = std::fs::remove_file(&p);
        if name.ends_with("zero") {
            std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        } else {
            mkfifo(&p);
        }
        let o = run_bounded(bin().arg("drift").arg(&c), 60);
        assert_eq!(code(&o), Some(2), "{name}: {}", stderr(&o));
        let what = if name.ends_with("zero") {
            "character device"
        } else {
            "FIFO"
        };
        assert!(stderr(&o).contains(what), "{name}: {}", stderr(&o));
        let o = run_bounded(bin().arg("inventory").arg(&c), 60);
        assert_eq!(code(&o), Some(2), "{name}: inventory: {}", stdout(&o));
    }
    // A tokenizer given as a FIFO.
    let fifo = dir.join("tokenizer.json");
    mkfifo(&fifo);
    let o = run_bounded(
        bin()
            .arg("convert")
            .arg(sample_trace())
            .args(["--to", "mooncake", "-o", "-", "--tokenizer"])
            .arg(&fifo),
        60,
    );
    assert_eq!(code(&o), Some(2));
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
    // The size limit holds on bytes read: /proc files report a length of 0.
    let o = run_bounded(
        bin().args(["--max-file-size", "10", "validate", "/proc/self/status"]),
        60,
    );
    assert_eq!(code(&o), Some(2));
    assert!(
        stderr(&o).contains("over the limit of 10 bytes"),
        "{}",
        stderr(&o)
    );
}

/// (Item 11) A file name that is not UTF-8 is reported lossily, never dropping the report.
#[cfg(target_os = "linux")]
#[test]
fn inventory_reports_non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tmp("non-utf8");
    copy_sample(&dir, "item");
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"odd-\xff.txt"));
    std::fs::write(odd, "x").unwrap();
    let o = run(bin().arg("inventory").arg(&dir).args(["--format", "json"]));
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"] == "odd-\u{FFFD}.txt"));
    assert!(stderr(&o).contains("not UTF-8"), "{}", stderr(&o));
}

/// (Item 12) An allocation that fails ends in a clear error and exit 2, not an abort.
#[cfg(target_os = "linux")]
#[test]
fn out_of_memory_is_an_error_not_an_abort() {
    use std::os::unix::process::CommandExt;
    let dir = tmp("oom");
    let input = dir.join("big.json");
    let big = "x".repeat(80 << 20);
    std::fs::write(
        &input,
        format!("{{\"schema_version\": \"ATIF-v1.7\", \"session_id\": \"s\", \"agent\": {{\"name\": \"a\", \"version\": \"1\"}}, \"steps\": [{{\"step_id\": 1, \"source\": \"user\", \"message\": \"{big}\"}}]}}"),
    )
    .unwrap();
    drop(big);
    let mut cmd = bin();
    cmd.arg("convert")
        .arg(&input)
        .args(["--to", "mooncake", "-o"])
        .arg(dir.join("m.jsonl"));
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 200 << 20,
                rlim_max: 200 << 20,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let o = run(&mut cmd);
    assert_eq!(code(&o), Some(2), "{:?}: {}", o.status, stderr(&o));
    assert!(stderr(&o).contains("out of memory"), "{}", stderr(&o));
    assert!(!dir.join("m.jsonl").exists());
}

// ---- Smaller ----

/// (Item 13) The small defects: each message says what is wrong, once, naming the file.
#[test]
fn small_defects() {
    let dir = tmp("small");
    // --max-depth past the parser's own limit is refused, not silently capped.
    let o = run(bin()
        .args(["--max-depth", "200", "validate"])
        .arg(sample_trace()));
    assert_eq!(code(&o), Some(2));
    assert!(stderr(&o).contains("1..=127"), "{}", stderr(&o));
    // The cause of an I/O error is said once.
    let o = run(bin().arg("validate").arg(dir.join("missing.json")));
    assert_eq!(
        stderr(&o).matches("os error 2").count(),
        1,
        "{}",
        stderr(&o)
    );
    // gen: seeds past u64::MAX are an error, not "wrote 5".
    let o = run(bin()
        .args([
            "gen",
            "--seed",
            "18446744073709551615",
            "--count",
            "5",
            "-o",
        ])
        .arg(dir.join("gen")));
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    // drift --out is checked before the job runs.
    let o = run(bin()
        .arg("drift")
        .arg(sample())
        .args(["--out", "/dev/null/report"]));
    assert_eq!(code(&o), Some(2));
    assert!(stdout(&o).is_empty(), "the job ran: {}", stdout(&o));
    // Not JSON, and Python's NaN.
    let f = dir.join("text.json");
    std::fs::write(&f, "hello").unwrap();
    let o = run(bin()
        .arg("convert")
        .arg(&f)
        .args(["--to", "atif", "-o", "-"]));
    assert!(
        stderr(&o).contains("text.json:1:1: .: not JSON"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&f, "[{\"a\": NaN}]").unwrap();
    let o = run(bin().arg("validate").arg(&f));
    assert!(stderr(&o).contains("NaN is not JSON"), "{}", stderr(&o));
}

/// (Item 13) An unwritable step summary names its path.
#[test]
fn an_unwritable_step_summary_is_named() {
    let dir = tmp("summary");
    let cmd = atif_drift::app::DriftCommand {
        corpora: vec![common::root().join("corpus/generated/seed-1")],
        policy: atif_drift::drift::policy::PolicySource::None,
        sides: atif_drift::app::Sides::of_builders(&[
            atif_drift::frame::from_atif::Builder::Pr1751,
        ]),
        format: atif_drift::app::ReportFormat::Json,
        verbosity: atif_drift::report::terminal::Verbosity::Normal,
        out: None,
        force: false,
        partition: None,
        baseline: None,
        write_baseline: None,
        step_summary: Some(dir.clone()),
        list_files: false,
        explain: false,
        load: Default::default(),
    };
    let e = atif_drift::app::drift(&cmd, &mut |_| {}, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains(&*dir.to_string_lossy()), "{e}");
}

/// (Item 7) SIGINT in the middle of a profile: the output directory is untouched and no
/// temporary file or staging directory is left.
#[cfg(unix)]
#[test]
fn an_interrupted_profile_leaves_nothing() {
    let dir = tmp("sigint");
    let out = dir.join("out");
    let trace = common::root().join("corpus/nested_trip_planner/all_requests_profiler_traces.json");
    let mut child = bin()
        .arg("profile")
        .arg(&trace)
        .arg("-o")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The staging directory is made before the input is read.
    let start = Instant::now();
    while !names(&dir).iter().any(|n| n.starts_with('.')) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no staging directory"
        );
        if child.try_wait().unwrap().is_some() {
            return; // finished before it could be interrupted: nothing to check
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    if status.success() {
        return; // the signal came after the commit
    }
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(names(&dir).is_empty(), "left behind: {:?}", names(&dir));
}

/// An item trace that turns out not to be one (NAT's ATIF-native flat rows under the IST
/// name) is skipped with its reason and leaves the report; the other items run.
#[test]
fn an_item_trace_that_is_not_a_trace_leaves_the_report() {
    let dir = tmp("not-a-trace");
    copy_sample(&dir, "a");
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::copy(
        sample().join("atif_native/all_requests_profiler_traces.json"),
        dir.join("b/all_requests_profiler_traces.json"),
    )
    .unwrap();
    let o = run(bin().arg("drift").arg(&dir).args([
        "--format",
        "json",
        "--policy",
        "none",
        "--builder",
        "pr1751",
    ]));
    assert_eq!(
        code(&o),
        Some(1),
        "drift without a policy, no error: {}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let items: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["a"]);
    assert!(v.get("failures").is_none(), "{}", v["failures"]);
}

/// A partitioned run ratchets against a baseline too: the merged report written with
/// `--write-baseline` passes `merge-reports --baseline` of the same partitions (exit 0) while
/// the policy alone fails them (exit 1).
#[test]
fn merged_partitions_ratchet_against_a_baseline() {
    let dir = tmp("merge-baseline");
    let part = |k: &str| {
        let f = dir.join(format!("p{}.json", &k[..1]));
        let o = run(bin()
            .arg("drift")
            .arg(common::root().join("corpus/generated"))
            .args([
                "--builder",
                "pr1751",
                "--policy",
                "none",
                "--format",
                "json",
            ])
            .args(["--partition", k]));
        std::fs::write(&f, &o.stdout).unwrap();
        f
    };
    let parts = [part("1/2"), part("2/2")];
    let base = dir.join("baseline.json");
    let o = run(bin()
        .arg("merge-reports")
        .args(&parts)
        .arg("--write-baseline")
        .arg(&base)
        .arg("-q"));
    assert_eq!(code(&o), Some(1), "{}{}", stdout(&o), stderr(&o));
    let o = run(bin()
        .arg("merge-reports")
        .args(&parts)
        .arg("--baseline")
        .arg(&base)
        .arg("-q"));
    assert_eq!(code(&o), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("PASS: no drift grew"),
        "{}",
        stdout(&o)
    );
}

/// The HTML report of a partitioned run: each partition's `--out` keeps the timelines in its
/// report.json (a `--format json` run leaves them out), and `merge-reports --format html`
/// draws every partition's items and timelines; the baseline it writes has none.
#[test]
fn merged_partitions_render_one_html_report() {
    let dir = tmp("merge-html");
    let part = |k: &str| {
        let out = dir.join(format!("p{}", &k[..1]));
        let o = run(bin()
            .arg("drift")
            .arg(common::root().join("corpus/generated"))
            .args(["--builder", "pr1751", "-q", "--partition", k, "--out"])
            .arg(&out));
        assert_eq!(code(&o), Some(0), "{}", stderr(&o));
        out.join("report.json")
    };
    let parts = [part("1/2"), part("2/2")];
    for p in &parts {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        assert!(v["items"][0]["timelines"]
            .as_array()
            .is_some_and(|t| !t.is_empty()));
    }
    let json = run(bin()
        .arg("drift")
        .arg(common::root().join("corpus/generated"))
        .args(["--builder", "pr1751", "--format", "json"]));
    assert!(!stdout(&json).contains("\"timelines\""));
    let base = dir.join("baseline.json");
    let o = run(bin()
        .arg("merge-reports")
        .args(&parts)
        .args(["--format", "html", "--write-baseline"])
        .arg(&base));
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.starts_with("<!DOCTYPE html>"));
    for seed in ["seed-1", "seed-2", "seed-3"] {
        assert!(page.contains(&format!(">{seed}<")), "{seed}");
    }
    assert!(page.matches("<figure class=\"timeline\"").count() >= 3);
    assert!(!std::fs::read_to_string(&base)
        .unwrap()
        .contains("\"timelines\""));
}

/// The built-in policy's unused entries are not reported (it covers run shapes a run need
/// not have); a policy file's are, as stale.
#[test]
fn only_a_policy_files_unused_entries_are_reported() {
    let sample = common::root().join("corpus/sample");
    let builtin = run(bin().arg("drift").arg(&sample).args(["--format", "json"]));
    assert_eq!(code(&builtin), Some(0), "{}", stderr(&builtin));
    let v: serde_json::Value = serde_json::from_slice(&builtin.stdout).unwrap();
    assert_eq!(v["unused_expectations"], serde_json::json!([]));
    let file = run(bin()
        .arg("drift")
        .arg(&sample)
        .arg("--policy")
        .arg(common::root().join("drift.toml")));
    assert_eq!(code(&file), Some(0), "{}", stderr(&file));
    assert!(stdout(&file).contains("expectation matched nothing"));
}
