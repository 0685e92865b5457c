//! `cargo xtask mutate [CORPUS] [--builder …] [--policy …] [--strict]`: the drift gate's
//! sensitivity, measured. Every fault of `atif_drift::gen::faults::FAULTS` (what an exporter
//! bug does to ATIF) is applied, one at a time, to every corpus item's ATIF; each mutant and
//! a clean copy of each item go through the gate (the drift job with the policy); the report
//! gives, per fault × builder, how many mutants the gate caught, every survivor, and the false
//! alarms on the clean copies. A mutant the gate let through is a survivor unless the fault is
//! invisible to that builder on that item, which is measured, not believed: the engine sees
//! no value differ between every output the drift compares, profiled from the mutant's ATIF,
//! and the clean ATIF's (UUIDs renamed, numbers within the policy's tolerances). The mutants
//! are generated in a temporary directory (`--keep DIR`: there, and kept), never committed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use atif_drift::drift::policy::PolicySource;
use atif_drift::frame::from_atif::Builder;
use atif_drift::gen::faults::FAULTS;
use atif_drift::trace::{load_file, LoadOptions, Trace};

#[derive(clap::Args)]
pub struct Args {
    /// Corpus directory.
    #[arg(default_value = "corpus")]
    corpus: PathBuf,
    /// The policy the gate runs with: a file, `builtin` or `none`.
    #[arg(long, default_value = "builtin")]
    policy: std::ffi::OsString,
    /// Which ATIF builder(s) the gate runs.
    #[arg(long, value_enum, default_value = "both")]
    builder: crate::drift::BuilderArg,
    /// Exit 1 when a visible fault survives or a clean item raises a false alarm.
    #[arg(long)]
    strict: bool,
    /// Write the mutants under this directory and keep them (`<item>/<fault>/`, `clean`
    /// beside them), to look into a survivor with `atif-drift drift`.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The item's ATIF as a JSON document, and the file name the mutant gets (NAT eval's layout
/// keeps its name so its sessions pair the same way).
fn atif_of(item: &atif_drift::job::Item) -> anyhow::Result<(serde_json::Value, &'static str)> {
    let opts = LoadOptions::default();
    if let Some(p) = &item.atif {
        let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
        let name = if p.ends_with("workflow_output_atif.json") {
            "workflow_output_atif.json"
        } else {
            "nat_atif.json"
        };
        return Ok((serde_json::from_str(&text)?, name));
    }
    let Trace::Ist(ist) = load_file(&item.ist, &opts)? else {
        anyhow::bail!("{}: not an IST trace", item.ist.display());
    };
    let t = atif_drift::convert::ist_to_atif(&ist, &Default::default())
        .map_err(|(n, e)| anyhow::anyhow!("request {n}: {e}"))?;
    Ok((serde_json::to_value(t)?, "nat_atif.json"))
}

/// The files the drift compares, profiled from `atif` with `builder`, normalized as the
/// engine compares them; `None` when it does not load or profile.
fn compared_outputs(
    atif: &serde_json::Value,
    builder: Builder,
    cfg: &atif_drift::config::ProfilerConfig,
) -> Option<atif_drift::drift::Compared> {
    let bytes = serde_json::to_vec(atif).ok()?;
    let trace = atif_drift::trace::load::load_bytes(Path::new("mutant.json"), &bytes).ok()?;
    let path = atif_drift::pipeline::ProfilePath::Atif(builder);
    let out = atif_drift::pipeline::profile(&trace, path, cfg, false).ok()?;
    Some(atif_drift::drift::Compared::new(out))
}

/// A copy of `item` under `dir` with `atif` as its ATIF.
fn write_item(
    dir: &Path,
    item: &atif_drift::job::Item,
    atif: &serde_json::Value,
    name: &str,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::copy(&item.ist, dir.join("all_requests_profiler_traces.json"))?;
    if let Some(c) = &item.config {
        std::fs::copy(c, dir.join("config.yml"))?;
    }
    std::fs::write(dir.join(name), serde_json::to_vec(atif)?)?;
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = LoadOptions::default();
    let policy = atif_drift::app::load_policy(&PolicySource::parse(&args.policy))?;
    let builders = args.builder.builders();
    let items = atif_drift::job::discover(&args.corpus, &opts)?;
    let root = args.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("atif-drift-mutate-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&root);
    // Item directories `<item>/<fault>` (`clean` for the copy): one job runs them all.
    let mut planned = 0;
    // Per item directory: its clean ATIF and configuration (for the invisibility check).
    let mut cleans = std::collections::BTreeMap::new();
    for item in &items {
        let (atif, name) = atif_of(item)?;
        let dir = item.name.replace('/', "__");
        let base = root.join(&dir);
        write_item(&base.join("clean"), item, &atif, name)?;
        for f in FAULTS {
            let mut m = atif.clone();
            if (f.apply)(&mut m) {
                write_item(&base.join(f.name), item, &m, name)?;
                planned += 1;
            }
        }
        let cfg = match &item.config {
            Some(c) => atif_drift::config::ProfilerConfig::from_workflow_yaml(c)?,
            None => atif_drift::config::ProfilerConfig::all_on(),
        };
        cleans.insert(dir, (atif, cfg));
    }
    eprintln!(
        "{} items × {} faults: {planned} mutants and {} clean copies, builders {:?}",
        items.len(),
        FAULTS.len(),
        items.len(),
        builders.iter().map(|b| b.name()).collect::<Vec<_>>()
    );
    let (_, r) = atif_drift::job::job(std::slice::from_ref(&root), &builders, &policy, &opts)?;
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    // Per (fault, builder): caught, visible mutants, survivors.
    let caught_by = |i: &atif_drift::drift::ItemDrift| {
        i.error.is_some() || i.outputs.iter().any(|o| o.unexpected() > 0)
    };
    // (item directory/fault, builder) let through whose compared outputs the fault leaves as
    // they were: profiled only for the runs the gate let through.
    let mut invisible = std::collections::BTreeSet::new();
    let mut clean_outputs = std::collections::BTreeMap::new();
    for i in r.items.iter().filter(|i| !caught_by(i)) {
        let (Some((dir, fault)), Some(b)) = (i.item.rsplit_once('/'), i.builder) else {
            continue;
        };
        let (Some((atif, cfg)), Some(f)) =
            (cleans.get(dir), FAULTS.iter().find(|f| f.name == fault))
        else {
            continue;
        };
        let clean = clean_outputs
            .entry((dir, b.name()))
            .or_insert_with(|| compared_outputs(atif, b, cfg));
        let mut m = atif.clone();
        (f.apply)(&mut m);
        // Invisible: the engine sees no value differ (UUIDs renamed in order, numbers within
        // the policy's tolerances) between the clean ATIF's outputs and the mutant's.
        let same = match (clean.as_ref(), compared_outputs(&m, b, cfg)) {
            (Some(c), Some(m)) => atif_drift::drift::diff_compared(c, &m, &policy, b)
                .iter()
                .all(|o| o.differing == 0),
            _ => false,
        };
        if same {
            invisible.insert((i.item.clone(), b.name()));
        }
    }
    let runs_of = |name: &str, b: Builder| -> Vec<&atif_drift::drift::ItemDrift> {
        r.items
            .iter()
            .filter(|i| i.builder == Some(b) && i.item.rsplit('/').next() == Some(name))
            .collect()
    };
    let false_alarms: Vec<String> = builders
        .iter()
        .flat_map(|&b| runs_of("clean", b))
        .filter(|i| caught_by(i))
        .map(|i| format!("{} [{}]", i.item, i.label()))
        .collect();
    let (mut rows, mut survivors) = (Vec::new(), Vec::new());
    let (mut visible_pairs, mut hidden_runs) = (0, 0);
    for f in FAULTS {
        for &b in &builders {
            let runs = runs_of(f.name, b);
            // Let through, and the outputs the same as the clean run's: invisible.
            let unseen = |i: &&atif_drift::drift::ItemDrift| {
                !caught_by(i) && invisible.contains(&(i.item.clone(), b.name()))
            };
            let caught = runs.iter().filter(|i| caught_by(i)).count();
            let hidden = runs.iter().filter(|i| unseen(i)).count();
            survivors.extend(
                runs.iter()
                    .filter(|i| !caught_by(i) && !unseen(i))
                    .map(|i| format!("{} [{}]", i.item, b.name())),
            );
            let visible = runs.len() - hidden;
            visible_pairs += usize::from(visible > 0);
            hidden_runs += hidden;
            let mut row = format!(
                "{:<30} {:<9} caught {caught} of {visible}",
                f.name,
                b.name()
            );
            if hidden > 0 {
                row.push_str(&format!(", invisible on {hidden} (no output differs)"));
            }
            rows.push(row);
        }
    }
    let total_runs = r
        .items
        .iter()
        .filter(|i| !i.item.ends_with("/clean"))
        .count();
    let mut out = String::new();
    out.push_str(&format!(
        "fault × builder ({} pairs, {visible_pairs} visible):\n",
        rows.len()
    ));
    for row in &rows {
        out.push_str(&format!("  {row}\n"));
    }
    out.push_str(&format!("survivors ({}):\n", survivors.len()));
    for s in &survivors {
        out.push_str(&format!("  {s}\n"));
    }
    out.push_str(&format!(
        "false alarms on clean copies ({}):\n",
        false_alarms.len()
    ));
    for s in &false_alarms {
        out.push_str(&format!("  {s}\n"));
    }
    out.push_str(&format!(
        "{} mutant runs: {} invisible (no output differs), {} survived; {} false alarms\n",
        total_runs,
        hidden_runs,
        survivors.len(),
        false_alarms.len()
    ));
    atif_drift::app::print_stdout(&out);
    let failing = !survivors.is_empty() || !false_alarms.is_empty();
    Ok(if args.strict && failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
