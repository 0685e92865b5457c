//! `atif-drift conform`: our IST path reproduces the NAT outputs stored beside each bundled
//! trace, allowing exactly the listed deliberate differences (the `active_uuids` order and the
//! trie's `generated_at`) and nothing else; a changed stored value fails naming its file and
//! path; a directory without NAT outputs, or an item that cannot be profiled, is an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn conform(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atif-drift"))
        .arg("conform")
        .arg(dir)
        .output()
        .unwrap()
}

fn tmp_item(name: &str) -> PathBuf {
    let dir = root().join("target/conform-test").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(root().join("corpus/react_calculator")).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn the_bundled_corpus_conforms_with_only_the_listed_differences() {
    let o = conform(&root().join("corpus"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let mut identical = 0;
    let mut allowed = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains("no NAT output stored"))
    {
        let verdict = line
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ");
        match verdict.as_str() {
            "identical" => identical += 1,
            "not stored" => {}
            v => allowed.push(
                v.strip_prefix("equal, allowing ")
                    .unwrap_or_else(|| panic!("{line}"))
                    .to_string(),
            ),
        }
    }
    assert!(identical >= 15, "{text}");
    allowed.sort();
    allowed.dedup();
    assert_eq!(
        allowed,
        ["profile.active-uuids-order", "profile.trie-generated-at"],
        "{text}"
    );
}

#[test]
fn a_changed_stored_value_fails_naming_file_and_path() {
    let dir = tmp_item("changed");
    let path = dir.join("inference_optimization.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let p95 = &mut v["confidence_intervals"]["llm_latency_confidence_intervals"]["p95"];
    *p95 = serde_json::json!(p95.as_f64().unwrap() * 2.0);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let o = conform(&dir);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("FAIL: 1 of 5 stored NAT outputs not reproduced"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("inference_optimization.json") && l.contains("DIFFERS: 1 of")),
        "{text}"
    );
    assert!(
        text.contains("confidence_intervals.llm_latency_confidence_intervals.p95: 1 value,"),
        "{text}"
    );
}

#[test]
fn nothing_stored_or_an_item_that_fails_is_an_error() {
    let o = conform(&root().join("corpus/generated"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ERROR: no NAT output stored"));
    let dir = tmp_item("bad-config");
    std::fs::write(dir.join("config.yml"), "eval: [unclosed\n").unwrap();
    let o = conform(&dir);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("error: ") && text.contains("config.yml"),
        "{text}"
    );
}
