//! The CI recipes in `tests/recipes/` work: each YAML parses, every `atif-drift` command in
//! them names a real subcommand and real flags (checked against its `--help`), and the
//! recipes' own commands run on the bundled corpus (`eval_output/` linked to `corpus/`): the
//! GitHub Actions matrix (three partitions, then the merge job's reports and verdict) and the
//! GitLab job (its artifacts exist).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn recipe(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("tests/recipes").join(name)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every shell script of a GitHub workflow (`jobs.*.steps[*].run`) by (job, step name), or
/// of a GitLab job (`*.script[*]`).
fn scripts(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Value::Mapping(top) = v else { return out };
    if let Some(Value::Mapping(jobs)) = top.get("jobs") {
        for (job, def) in jobs {
            for step in def["steps"].as_sequence().into_iter().flatten() {
                if let Some(run) = step.get("run").and_then(Value::as_str) {
                    let name = step.get("name").and_then(Value::as_str).unwrap_or("");
                    out.push((format!("{}/{name}", job.as_str().unwrap()), run.to_string()));
                }
            }
        }
    } else {
        for (job, def) in top {
            for line in def["script"].as_sequence().into_iter().flatten() {
                out.push((
                    job.as_str().unwrap().into(),
                    line.as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

/// The `atif-drift` command lines of a script: from `atif-drift` to a shell operator.
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in script.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            if words[i] == "atif-drift" {
                let args: Vec<String> = words[i + 1..]
                    .iter()
                    .take_while(|w| !["||", "&&", "|", ">", ">>", ";"].contains(w))
                    .map(|w| w.to_string())
                    .collect();
                i += args.len();
                out.push(args);
            }
            i += 1;
        }
    }
    out
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_atif-drift"))
}

/// Every flag of `args` appears in its subcommand's `--help`.
fn check_flags(args: &[String]) {
    let sub = &args[0];
    let help = Command::new(bin()).args([sub, "--help"]).output().unwrap();
    assert!(
        help.status.success(),
        "atif-drift {sub}: no such subcommand"
    );
    let help = String::from_utf8_lossy(&help.stdout);
    for a in &args[1..] {
        let flag = a.split('=').next().unwrap();
        let known = if flag.starts_with("--") {
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n"))
        } else if flag.len() == 2 && flag.starts_with('-') {
            help.contains(&format!("{flag}, "))
        } else {
            continue;
        };
        assert!(known, "atif-drift {sub} has no flag {flag}");
    }
}

#[test]
fn every_command_of_every_recipe_names_real_flags() {
    let mut seen = 0;
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        for (_, script) in scripts(&recipe(name)) {
            for args in commands(&script) {
                check_flags(&args);
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "{seen} commands");
    // The check can fail: a flag no command has is refused.
    let bad = std::panic::catch_unwind(|| check_flags(&["drift".into(), "--no-such-flag".into()]));
    assert!(bad.is_err());
}

/// Run `script` with `sh` in `dir`, the test binary first on the PATH; its exit code.
fn sh(dir: &Path, script: &str, env: &[(&str, &Path)]) -> i32 {
    let path = format!(
        "{}:{}",
        bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir).args(["-c", script]).env("PATH", path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.code().is_some(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.status.code().unwrap()
}

fn workdir(name: &str) -> PathBuf {
    let dir = root().join("target/recipes").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(root().join("corpus"), dir.join("eval_output")).unwrap();
    dir
}

#[test]
fn the_github_actions_matrix_runs_on_the_bundled_corpus() {
    let v = recipe("github-actions.yml");
    let steps = scripts(&v);
    let step = |name: &str| {
        steps
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}"))
            .1
            .clone()
    };
    let dir = workdir("github");
    for k in 1..=3 {
        let script = step("drift/Drift of this partition")
            .replace("${{ matrix.partition }}", &k.to_string());
        assert_eq!(sh(&dir, &script, &[]), 0, "partition {k}");
        // upload-artifact + download-artifact with a pattern: one directory per partition.
        std::fs::rename(
            dir.join("drift-report"),
            dir.join(format!("drift-report-{k}")),
        )
        .unwrap();
    }
    let summary = dir.join("summary.md");
    let env = [("GITHUB_STEP_SUMMARY", summary.as_path())];
    assert_eq!(sh(&dir, &step("merge/Reports"), &env), 0);
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .starts_with("## atif-drift: PASS"));
    assert!(std::fs::read_to_string(dir.join("junit.xml"))
        .unwrap()
        .contains("<testsuites"));
    assert!(std::fs::read_to_string(dir.join("report.html"))
        .unwrap()
        .contains("class=\"timeline\""));
    assert_eq!(sh(&dir, &step("merge/Verdict"), &env), 0);
}

#[test]
fn the_gitlab_job_runs_on_the_bundled_corpus() {
    let v = recipe("gitlab-ci.yml");
    let dir = workdir("gitlab");
    for (_, line) in scripts(&v) {
        if line.starts_with("atif-drift ") {
            assert_eq!(sh(&dir, &line, &[]), 0, "{line}");
        }
    }
    let artifacts = &v["atif-drift"]["artifacts"];
    let mut files: Vec<&str> = artifacts["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    files.push(artifacts["reports"]["junit"].as_str().unwrap());
    for f in files {
        assert!(dir.join(f).is_file(), "{f}");
    }
}
