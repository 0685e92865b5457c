//! Path specs (`drift --left SPEC --right SPEC`): NAT's stored outputs against our IST path,
//! an external command (`cmd:`) against stored outputs, commands that fail in every way a
//! profiler can (each fails its item with exit 2 and its standard error while the others
//! run), and the `--cache` of command outputs. Without Python: the commands are `sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn drift(args: &[&str]) -> (Output, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
        .arg("drift")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o, v)
}

/// A fresh directory under target/ for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/paths-test").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A corpus of copies of bundled items (their files, not their subdirectories).
fn corpus_of(dir: &Path, items: &[&str]) -> PathBuf {
    let corpus = dir.join("corpus");
    for item in items {
        let to = corpus.join(item);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(root().join("corpus").join(item)).unwrap() {
            let p = f.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    corpus
}

/// A policy file defining `paths` (TOML tables) beside no expectation.
fn policy(dir: &Path, paths: &str) -> PathBuf {
    let p = dir.join("policy.toml");
    std::fs::write(&p, paths).unwrap();
    p
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().unwrap()
}

fn differing(item: &Value) -> u64 {
    item["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["differing"].as_u64().unwrap())
        .sum()
}

/// The copy command: an item's stored outputs copied to `{output}`, one line appended to
/// `runs` per run.
fn copy_command(runs: &Path) -> String {
    format!(
        r#"[paths.copy]
command = ["sh", "-c", "cp \"$0\"/*.csv \"$0\"/*.txt \"$0\"/*.json \"$1\"/ && echo ran >> \"$2\"", "{{item}}", "{{output}}", "{}"]
"#,
        runs.display()
    )
}

#[test]
fn nat_stored_outputs_against_our_ist_path_differ_by_nothing_beyond_the_listed_differences() {
    // No policy: every difference would be unexpected. The engine's normalisation is exactly
    // the deliberate differences (`atif-drift differences`: active_uuids order, generated_at).
    let (o, v) = drift(&[
        root().join("corpus").to_str().unwrap(),
        "--left",
        "stored:.",
        "--right",
        "ist",
        "--policy",
        "none",
    ]);
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    let mut compared_files = 0;
    for i in items(&v) {
        assert_eq!(i["left"], "stored:.");
        assert_eq!(i["right"], "ist");
        assert!(i["error"].is_null(), "{i:#}");
        assert_eq!(differing(i), 0, "{}", i["item"]);
        compared_files += i["outputs"].as_array().unwrap().len();
    }
    // Five real runs with NAT's five outputs each; the others say what was not produced.
    assert_eq!(compared_files, 25, "{v:#}");
    let sample = items(&v).iter().find(|i| i["item"] == "sample").unwrap();
    assert_eq!(
        sample["not_produced"],
        serde_json::json!(["stored:.: forecast.json"])
    );
}

#[test]
fn a_command_copying_the_stored_outputs_has_no_drift_against_them_and_is_cached() {
    let dir = scratch("copy");
    let corpus = corpus_of(&dir, &["react_calculator", "sample"]);
    let runs = dir.join("runs.txt");
    let pol = policy(&dir, &copy_command(&runs));
    let cache = dir.join("cache");
    let args = |c: &Path| {
        vec![
            c.to_str().unwrap().to_string(),
            "--policy".into(),
            pol.to_str().unwrap().into(),
            "--left".into(),
            "stored:.".into(),
            "--right".into(),
            "cmd:copy".into(),
            "--cache".into(),
            cache.to_str().unwrap().into(),
        ]
    };
    let run = |c: &Path| {
        let a = args(c);
        drift(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let count = || {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let (o, v) = run(&corpus);
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    for i in items(&v) {
        assert_eq!(i["right"], "cmd:copy");
        assert_eq!(differing(i), 0, "{i:#}");
        assert!(!i["outputs"].as_array().unwrap().is_empty());
    }
    assert_eq!(count(), 2, "one run per item");
    // A rerun is served from the cache: the command does not run again.
    let (o, again) = run(&corpus);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(count(), 2, "the cache was not used");
    assert_eq!(again, v);
    // A changed input invalidates its item's entry only.
    let trace = corpus.join("sample/all_requests_profiler_traces.json");
    let mut text = std::fs::read_to_string(&trace).unwrap();
    text.push('\n');
    std::fs::write(&trace, text).unwrap();
    let (o, _) = run(&corpus);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(count(), 3, "the changed item ran again, the other did not");
}

#[test]
fn a_failing_command_fails_its_item_with_its_stderr_and_the_others_still_run() {
    let dir = scratch("failing");
    let corpus = corpus_of(&dir, &["sample", "react_calculator"]);
    let runs = dir.join("runs.txt");
    let paths = copy_command(&runs)
        + r#"
[paths.exits]
command = ["sh", "-c", "echo 'Traceback: profiler exploded' >&2; exit 1", "{output}"]

[paths.silent]
command = ["sh", "-c", "echo 'nothing to say' >&2", "{output}"]

[paths.garbled]
command = ["sh", "-c", "printf '{\"a\": [1,' > \"$0\"/inference_optimization.json", "{output}"]

[paths.hangs]
command = ["sh", "-c", "echo 'waiting forever' >&2; sleep 60", "{output}"]
timeout_s = 1
"#;
    let pol = policy(&dir, &paths);
    let t0 = std::time::Instant::now();
    let mut args = vec![
        corpus.to_str().unwrap(),
        "--policy",
        pol.to_str().unwrap(),
        "--left",
        "stored:.",
    ];
    for c in [
        "cmd:copy",
        "cmd:exits",
        "cmd:silent",
        "cmd:garbled",
        "cmd:hangs",
    ] {
        args.extend(["--right", c]);
    }
    let (o, v) = drift(&args);
    assert!(
        t0.elapsed().as_secs() < 30,
        "the hanging command was not killed"
    );
    assert_eq!(o.status.code(), Some(2), "{v:#}");
    let of = |item: &str, right: &str| {
        items(&v)
            .iter()
            .find(|i| i["item"] == item && i["right"] == right)
            .unwrap_or_else(|| panic!("{item} {right}: {v:#}"))
            .clone()
    };
    for item in ["sample", "react_calculator"] {
        let copy = of(item, "cmd:copy");
        assert!(copy["error"].is_null(), "{copy:#}");
        assert_eq!(differing(&copy), 0);
        let error = |right: &str| of(item, right)["error"].as_str().unwrap_or("").to_string();
        let e = error("cmd:exits");
        assert!(
            e.contains("exit status: 1") && e.contains("Traceback: profiler exploded"),
            "{e}"
        );
        let e = error("cmd:silent");
        assert!(
            e.contains("wrote none of the profiler's outputs") && e.contains("nothing to say"),
            "{e}"
        );
        let e = error("cmd:garbled");
        assert!(
            e.contains("inference_optimization.json: not JSON") && e.contains("line 1 column"),
            "{e}"
        );
        let e = error("cmd:hangs");
        assert!(
            e.contains("timeout_s = 1") && e.contains("waiting forever"),
            "{e}"
        );
    }
}

#[test]
fn unknown_commands_and_pointless_pairs_are_refused_before_the_run() {
    let dir = scratch("refused");
    let pol = policy(&dir, &copy_command(&dir.join("runs.txt")));
    let corpus = root().join("corpus/sample");
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
            .arg("drift")
            .arg(&corpus)
            .args(["--policy", pol.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--right", "cmd:nat"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("[paths.nat]") && err.contains("copy"), "{err}");
    let (code, err) = run(&["--right", "ist"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is the left path"), "{err}");
    let (code, err) = run(&["--right", "stored:../x"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("stays in it"), "{err}");
    // A stored: directory that holds nothing anywhere is an error, not a pass.
    let (code, err) = run(&["--left", "stored:nowhere", "--right", "ist"]);
    assert_eq!(code, Some(2), "{err}");
}

/// Pattern for pattern, the drift of each output file of `a`'s single item also in `b`.
fn same_drift(a: &Value, b: &Value, what: &str) -> usize {
    let key = |o: &Value| {
        let patterns: Vec<(String, u64)> = o["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["pattern"].as_str().unwrap().to_string(),
                    p["values"].as_u64().unwrap(),
                )
            })
            .collect();
        (o["differing"].clone(), o["compared"].clone(), patterns)
    };
    let mut files = 0;
    for (ia, ib) in items(a).iter().zip(items(b)) {
        assert_eq!(ia["item"], ib["item"]);
        for oa in ia["outputs"].as_array().unwrap() {
            let ob = ib["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["file"] == oa["file"])
                .unwrap_or_else(|| panic!("{what}: {} has no {}", ib["item"], oa["file"]));
            assert_eq!(key(oa), key(ob), "{what}: {} {}", ia["item"], oa["file"]);
            files += 1;
        }
    }
    files
}

/// The pair PR #1751's reviewers asked about, from NAT's own stored files: NAT's IST
/// profiler's outputs (`stored:.`) against its ATIF-native profiler's (`stored:atif_native`),
/// classified as pr1751, drift exactly as our `ist` against `atif:pr1751` does.
#[test]
fn nats_two_stored_profilers_drift_as_our_ist_and_pr1751_paths() {
    let corpus = root().join("corpus");
    let c = corpus.to_str().unwrap();
    let (o, nat) = drift(&[
        c,
        "--left",
        "stored:.",
        "--right",
        "stored:atif_native",
        "--expect-as",
        "pr1751",
    ]);
    assert_eq!(o.status.code(), Some(0), "{nat:#}");
    let (_, ours) = drift(&[c, "--builder", "pr1751"]);
    let files = same_drift(&nat, &ours, "stored");
    assert_eq!(files, 25, "five real runs, five NAT outputs each");
}

/// NAT's two Python profilers run as `cmd:` paths (tests/recipes/nat-python.toml) drift
/// exactly as our `ist` and `atif:pr1751` paths do. Needs the venvs of shared/oracle:
/// NAT_VENV (setup.sh) and NAT_ATIF_VENV (atif_native/setup.sh); skipped otherwise.
#[test]
fn nats_python_profilers_as_commands_drift_as_our_paths() {
    let (Some(_), Some(_)) = (
        std::env::var_os("NAT_VENV"),
        std::env::var_os("NAT_ATIF_VENV"),
    ) else {
        eprintln!(
            "skipped: set NAT_VENV and NAT_ATIF_VENV to the venvs made by \
             ../shared/oracle/setup.sh and ../shared/oracle/atif_native/setup.sh"
        );
        return;
    };
    let oracle = std::env::var_os("NAT_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/oracle"));
    let dir = scratch("nat-python");
    let corpus = corpus_of(&dir, &["sample"]);
    let pol = root().join("tests/recipes/nat-python.toml");
    let run = |sides: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
            .arg("drift")
            .arg(&corpus)
            .args(["--policy", pol.to_str().unwrap(), "--format", "json"])
            .args(["--cache", dir.join("cache").to_str().unwrap()])
            .args(sides)
            .env("NAT_ORACLE", &oracle)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        assert_eq!(o.status.code(), Some(0), "{v:#}");
        v
    };
    let c = corpus.to_str().unwrap();
    // NAT's ATIF-native profiler against NAT's IST profiler: PR #1751's drift.
    let nat = run(&["--left", "cmd:nat_ist", "--right", "cmd:nat_atif"]);
    let (_, ours) = drift(&[c, "--builder", "pr1751"]);
    assert_eq!(same_drift(&nat, &ours, "cmd"), 5, "NAT's five outputs");
    // NAT's IST profiler against our ATIF paths: as our IST path against them.
    let nat = run(&[
        "--left",
        "cmd:nat_ist",
        "--right",
        "atif:pr1751",
        "--right",
        "atif:faithful",
    ]);
    let (_, ours) = drift(&[c]);
    assert_eq!(
        same_drift(&nat, &ours, "cmd and ours"),
        10,
        "five outputs, two builders"
    );
}

/// A command as users write it: a script named relative to the policy file, which writes into
/// its working directory (no `{output}`), run from elsewhere.
#[test]
fn a_relative_script_beside_the_policy_may_write_into_its_directory() {
    let dir = scratch("relative");
    let corpus = corpus_of(&dir, &["sample"]);
    std::fs::write(
        dir.join("copy.sh"),
        "cp \"$1\"/*.csv \"$1\"/*.txt \"$1\"/*.json .\n",
    )
    .unwrap();
    let pol = policy(
        &dir,
        "[paths.copy]\ncommand = [\"sh\", \"copy.sh\", \"{item}\"]\n",
    );
    let (o, v) = drift(&[
        corpus.to_str().unwrap(),
        "--policy",
        pol.to_str().unwrap(),
        "--left",
        "stored:.",
        "--right",
        "cmd:copy",
    ]);
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    let [item] = items(&v).as_slice() else {
        panic!("{v:#}")
    };
    assert_eq!(item["outputs"].as_array().unwrap().len(), 5, "{item:#}");
    assert_eq!(differing(item), 0);
}

/// An interrupted run stops the external profilers it started (they run in process groups of
/// their own, which a terminal's Ctrl-C does not reach) and leaves no work directory behind.
#[cfg(unix)]
#[test]
fn an_interrupt_kills_the_running_commands() {
    let dir = scratch("interrupt");
    let corpus = corpus_of(&dir, &["sample"]);
    let pidfile = dir.join("pid.txt");
    let pol = policy(
        &dir,
        &format!(
            "[paths.slow]\ncommand = [\"sh\", \"-c\", \"echo $$ > {}; exec sleep 60\", \"{{output}}\"]\n",
            pidfile.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
        .arg("drift")
        .arg(&corpus)
        .args([
            "--policy",
            pol.to_str().unwrap(),
            "--left",
            "stored:.",
            "--right",
            "cmd:slow",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let pid = loop {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break p;
        }
        assert!(t0.elapsed().as_secs() < 30, "the command never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: signals to processes this test started.
    let alive = |p: i32| unsafe { libc::kill(p, 0) } == 0;
    assert!(alive(pid));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let t1 = std::time::Instant::now();
    while alive(pid) && t1.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!alive(pid), "the command outlived the interrupted run");
}
