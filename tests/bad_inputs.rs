//! Malformed inputs: every loader and command gives a clear error naming the file (and,
//! for JSON, the line, column and JSON path) and never panics; a corpus run reports the
//! bad file and carries on with the others.

use std::path::Path;
use std::process::Command;

use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::corpus::{walk, FileStatus};
use atif_drift::trace::load::load_bytes;
use atif_drift::trace::{LoadOptions, Trace};
use atif_drift::validate::validate_document;

mod common;

const STEP: &str = r#"{"parent_id":"root","function_ancestry":{"function_id":"f","function_name":"w"},"payload":{"event_type":"LLM_END","event_timestamp":1767225600.5,"span_event_timestamp":1767225600.25,"name":"m","UUID":"u","data":{"input":"q","output":"a"},"usage_info":{"token_usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}}}"#;

/// (name, content, substring the error must contain)
fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let ist = |steps: &str| {
        format!(r#"[{{"request_number":0,"intermediate_steps":[{steps}]}}]"#).into_bytes()
    };
    vec![
        ("empty", b"".to_vec(), "empty file"),
        ("whitespace", b" \n\t\n".to_vec(), "empty file"),
        ("truncated", ist(STEP)[..120].to_vec(), "EOF"),
        ("binary", vec![0, 159, 146, 150, 1, 2, 3], "expected value"),
        ("invalid_utf8_in_string", b"[{\"request_number\":0,\"intermediate_steps\":[\"\xff\xfe\"]}]".to_vec(), "invalid unicode"),
        ("scalar", b"3.5".to_vec(), "not a trace"),
        ("string", b"\"hello\"".to_vec(), "not a trace"),
        ("object_not_trace", b"{\"a\": 1}".to_vec(), "not a trace"),
        ("list_of_numbers", b"[1, 2, 3]".to_vec(), "not a trace"),
        ("wrong_type_timestamp", ist(&STEP.replace("1767225600.5", "\"noon\"")), "payload.event_timestamp"),
        ("unknown_event_type", ist(&STEP.replace("LLM_END", "LLM_MIDDLE")), "payload.event_type"),
        ("missing_uuid", ist(&STEP.replace(",\"UUID\":\"u\"", "")), "UUID"),
        ("missing_ancestry", ist(&STEP.replace(r#""function_ancestry":{"function_id":"f","function_name":"w"},"#, "")), "function_ancestry"),
        ("tokens_not_int", ist(&STEP.replace("\"prompt_tokens\":3", "\"prompt_tokens\":\"3\"")), "prompt_tokens"),
        ("steps_not_list", b"[{\"request_number\":0,\"intermediate_steps\":{}}]".to_vec(), "intermediate_steps"),
        ("deep_nesting", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), "[0][0]: invalid type"),
        (
            "deep_nesting_in_metadata",
            ist(&STEP.replace("\"name\":\"m\"", &format!("\"name\":\"m\",\"metadata\":{}{}", "[".repeat(10_000), "]".repeat(10_000)))),
            "recursion limit",
        ),
        ("deep_nesting_truncated", "[".repeat(100_000).into_bytes(), "EOF"),
        ("nan_literal", ist(&STEP.replace("1767225600.5", "NaN")), "NaN is not JSON"),
        ("trailing_garbage", [ist(STEP), b" ]]".to_vec()].concat(), "trailing characters"),
        ("atif_missing_agent", br#"{"schema_version":"ATIF-v1.7","steps":[]}"#.to_vec(), "agent"),
        ("atif_step_wrong_type", br#"{"schema_version":"ATIF-v1.7","agent":{"name":"a","version":"1"},"steps":[{"step_id":"x","source":"user"}]}"#.to_vec(), "steps[0].step_id"),
        ("jsonl_mixed", b"{\"schema_version\":\"ATIF-v1.7\",\"agent\":{\"name\":\"a\",\"version\":\"1\"},\"steps\":[]}\n{\"atof_version\":\"0.1\",\"kind\":\"scope\"}\n".to_vec(), "mixes"),
        ("jsonl_bad_line", b"{\"schema_version\":\"ATIF-v1.7\",\"agent\":{\"name\":\"a\",\"version\":\"1\"},\"steps\":[]}\n{\"schema_version\": \n".to_vec(), "case.json:2:"),
    ]
}

#[test]
fn loader_errors_are_clear_and_never_panic() {
    for (name, bytes, want) in cases() {
        let r = std::panic::catch_unwind(|| load_bytes(Path::new("case.json"), &bytes));
        let r = r.unwrap_or_else(|_| panic!("{name}: panicked"));
        let e = r.expect_err(name).to_string();
        assert!(
            e.starts_with("case.json"),
            "{name}: error does not name the file: {e}"
        );
        assert!(e.contains(want), "{name}: {e:?} does not mention {want:?}");
    }
}

#[test]
fn validate_never_panics_on_arbitrary_json() {
    for (name, bytes, _) in cases() {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let mut problems = Vec::new();
            validate_document(&v, "", &mut problems);
            assert!(!problems.is_empty(), "{name}: accepted");
        }
    }
}

#[test]
fn zero_requests_and_empty_requests_convert() {
    let Trace::Ist(t) = load_bytes(Path::new("z.json"), b"[]").unwrap() else {
        panic!()
    };
    assert!(ist_to_atif(&t, &ConvertOptions::default())
        .unwrap()
        .is_empty());
    let Trace::Ist(t) = load_bytes(
        Path::new("e.json"),
        b"[{\"request_number\":0,\"intermediate_steps\":[]}]",
    )
    .unwrap() else {
        panic!()
    };
    let out = ist_to_atif(&t, &ConvertOptions::default()).unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        serde_json::json!([{"schema_version": "ATIF-v1.7", "session_id": "request-0",
                            "agent": {"name": "nat-agent", "version": "0.0.0"}, "steps": []}])
    );
}

#[test]
fn out_of_range_timestamp_is_an_error_not_a_panic() {
    let step = STEP.replace("1767225600.5", "1e300");
    let bytes = format!(r#"[{{"request_number":0,"intermediate_steps":[{step}]}}]"#);
    let Trace::Ist(t) = load_bytes(Path::new("big.json"), bytes.as_bytes()).unwrap() else {
        panic!()
    };
    let (n, e) = ist_to_atif(&t, &ConvertOptions::default()).unwrap_err();
    assert_eq!(n, 0);
    assert!(e.to_string().contains("outside the range"), "{e}");
}

#[test]
fn corpus_walk_reports_bad_files_and_carries_on() {
    let scratch = common::scratch("bad-walk");
    let dir = scratch.path();
    for (name, bytes, _) in cases() {
        std::fs::write(dir.join(format!("{name}.json")), bytes).unwrap();
    }
    std::fs::write(
        dir.join("good.json"),
        format!(r#"[{{"request_number":0,"intermediate_steps":[{STEP}]}}]"#),
    )
    .unwrap();
    std::fs::write(dir.join("notes.md"), "# notes").unwrap();
    let entries = walk(dir, &LoadOptions::default()).unwrap();
    assert_eq!(entries.len(), cases().len() + 2, "every file accounted for");
    let good = entries
        .iter()
        .find(|e| e.path == Path::new("good.json"))
        .unwrap();
    assert!(matches!(
        good.status,
        FileStatus::Loaded {
            kind: "ist",
            units: 1,
            steps: 1
        }
    ));
    assert!(entries.iter().filter(|e| e.is_failed()).count() >= 10);
    for e in &entries {
        if let FileStatus::Failed { error } = &e.status {
            assert!(error.contains(e.path.to_str().unwrap()), "{error}");
        }
    }

    let out = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
        .arg("inventory")
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a failed file makes the run exit 2"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("good.json") && text.contains("FAILED"),
        "{text}"
    );
}

#[test]
fn size_limit_fails_cleanly() {
    let scratch = common::scratch("bad-size");
    let dir = scratch.path();
    let f = dir.join("big.json");
    std::fs::write(&f, "[]").unwrap();
    let e = atif_drift::trace::load_file(
        &f,
        &LoadOptions {
            max_file_size: 1,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("over the limit"), "{e}");
}

#[test]
fn depth_limit_fails_cleanly_with_the_position() {
    let scratch = common::scratch("bad-depth");
    let dir = scratch.path();
    let f = dir.join("deep.json");
    std::fs::write(&f, format!("[\n{}{}\n]", "[".repeat(20), "]".repeat(20))).unwrap();
    let opts = LoadOptions {
        max_depth: 10,
        ..Default::default()
    };
    let e = atif_drift::trace::load_file(&f, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("deep.json:2:10") && e.contains("nested deeper than 10 levels"),
        "{e}"
    );
    // Within the default limit the same file reaches the parser (and fails as a type error).
    let e = atif_drift::trace::load_file(&f, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(!e.contains("nested deeper"), "{e}");
}

/// Files that are not regular files, names that are not UTF-8, and a full device: the
/// loader, the corpus walk and the writer each refuse or report them, naming the file,
/// without blocking, reading forever or panicking. (They cannot be committed, so they are
/// made here; `tests/reliability.rs` runs the same through the binary.)
#[cfg(target_os = "linux")]
#[test]
fn special_files_names_and_a_full_device() {
    use atif_drift::trace::load_file;
    use std::os::unix::ffi::OsStrExt;
    let scratch = common::scratch("bad-special");
    let dir = scratch.path();
    let fifo = dir.join("fifo.json");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.json")).unwrap();
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"odd-\xff.json"));
    std::fs::write(&odd, "[1, 2]").unwrap();
    let opts = LoadOptions::default();
    let e = load_file(&fifo, &opts).unwrap_err().to_string();
    assert!(e.contains("fifo.json") && e.contains("FIFO"), "{e}");
    let e = load_file(&dir.join("zero.json"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("zero.json") && e.contains("character device"),
        "{e}"
    );
    let e = load_file(&odd, &opts).unwrap_err().to_string();
    assert!(
        e.contains("odd-\u{FFFD}.json") && e.contains("not a trace"),
        "{e}"
    );
    let entries = walk(dir, &opts).unwrap();
    let status = |name: &str| {
        entries
            .iter()
            .find(|e| e.path.to_string_lossy() == name)
            .map(|e| e.status.clone())
    };
    assert!(matches!(
        status("fifo.json"),
        Some(FileStatus::Failed { .. })
    ));
    assert!(matches!(
        status("zero.json"),
        Some(FileStatus::Failed { .. })
    ));
    assert!(matches!(
        status("odd-\u{FFFD}.json"),
        Some(FileStatus::Skipped { .. })
    ));
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    let e = atif_drift::fsio::write_atomic(Path::new("/dev/full"), b"x").unwrap_err();
    assert!(e.to_string().starts_with("/dev/full: cannot write"), "{e}");
}
