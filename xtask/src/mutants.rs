//! `cargo xtask mutants --harbor PYTHON [--count N]`: ATIF mutants of the valid fixtures
//! (`tests/data/validate/valid/`, NAT's and NeMo Relay's exporter outputs) with Harbor
//! 0.25.0's verdict on each, written to `tests/data/validate/mutants.json` for
//! `tests/validate.rs`. PYTHON is a Python with harbor installed (recipe:
//! `../shared/fixtures/atif/harbor/README.md`); Harbor runs once over all mutants
//! (`tests/data/validate/harbor_verdicts.py`). Mutant i is `atif_mutants::mutant(base, i)`
//! of base `i mod bases`: the file records the recipe and a fingerprint, not the mutant.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use atif_drift::gen::atif_mutants::{fingerprint, mutant};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Args {
    /// A Python with harbor 0.25.0 installed.
    #[arg(long, value_name = "PYTHON")]
    harbor: PathBuf,
    /// How many mutants.
    #[arg(long, default_value_t = 3000)]
    count: u64,
    /// Keep the mutant files (N.json) in this directory.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The valid fixtures the mutants start from, by file name.
pub fn bases(root: &Path) -> anyhow::Result<Vec<(String, Value)>> {
    let dir = root.join("tests/data/validate/valid");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p)?;
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            v.push((name, serde_json::from_str(&text)?));
        }
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bases = bases(&root)?;
    let dir = args.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("atif-drift-mutants-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let mut cases = Vec::new();
    for i in 0..args.count {
        let (name, base) = &bases[(i % bases.len() as u64) as usize];
        let (m, what) = mutant(base, i);
        let text = serde_json::to_string_pretty(&m)?;
        std::fs::write(dir.join(format!("{i}.json")), &text)?;
        cases.push(
            json!({"seed": i, "base": name, "mutation": what, "fingerprint": fingerprint(&text)}),
        );
    }
    let script = root.join("tests/data/validate/harbor_verdicts.py");
    let out = Command::new(&args.harbor)
        .arg(&script)
        .arg(&dir)
        .output()
        .with_context(|| format!("{}: cannot run", args.harbor.display()))?;
    if !out.status.success() {
        bail!(
            "harbor_verdicts.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let verdicts: Value = serde_json::from_slice(&out.stdout)?;
    for c in &mut cases {
        let seed = c["seed"].to_string();
        let v = &verdicts[&seed];
        c["harbor"] = v["verdict"].clone();
        c["harbor_errors"] = v["errors"].clone();
    }
    let accepts = cases.iter().filter(|c| c["harbor"] == "accepts").count();
    let path = root.join("tests/data/validate/mutants.json");
    atif_drift::fsio::write_atomic(
        &path,
        (serde_json::to_string_pretty(&cases)? + "\n").as_bytes(),
    )?;
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!(
        "wrote {} mutants ({accepts} accepted, {} rejected by Harbor) -> {}",
        cases.len(),
        cases.len() - accepts,
        path.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}
