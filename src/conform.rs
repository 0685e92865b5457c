//! `atif-drift conform`: does this binary reproduce the NAT outputs stored beside each trace?
//! For every corpus item (an `all_requests_profiler_traces.json`, as `nat eval` writes it with
//! the profiler on), the IST path runs with the item's `config.yml`, and each file it writes is
//! compared with NAT's file of the same name in the item's directory: byte for byte first,
//! then, for a file that is not byte-identical, by the drift engine's diff with the deliberate
//! differences as the only allowance (`differences::DIFFERENCES`: UUID order of
//! `active_uuids`, the trie's `generated_at`; floats within 1e-9 relative).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::drift::policy::Policy;
use crate::drift::{diff_compared, Compared, OutputDrift};
use crate::error::Error;
use crate::frame::from_atif::Builder;
use crate::profile::{Content, Outputs, ProfilePath};
use crate::trace::LoadOptions;

/// How one of our outputs compares with NAT's stored file.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The same bytes.
    Identical,
    /// Equal once deliberate differences are allowed for: the ids of those it took
    /// (`differences::DIFFERENCES`), or `floats-1e-9` for numbers within 1e-9 relative.
    Equal(Vec<&'static str>),
    /// Different: the differences, grouped by pattern.
    Differs(OutputDrift),
    /// NAT's directory has no such file (not written by that NAT run, or removed).
    NotStored,
}

/// One item's comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemConformance {
    /// The item (its directory, relative to the corpus).
    pub item: String,
    /// The NAT version the outputs came from, when the item records it.
    pub nat_version: Option<String>,
    /// Per output file our IST path writes (the trace dump aside), its verdict.
    pub files: Vec<(String, Verdict)>,
    /// Set when the item could not be profiled.
    pub error: Option<String>,
}

impl ItemConformance {
    /// Files NAT stored.
    pub fn stored(&self) -> usize {
        self.files
            .iter()
            .filter(|(_, v)| *v != Verdict::NotStored)
            .count()
    }
}

/// The tolerance of NAT's own conformance: floats within 1e-9 relative, nothing expected.
const POLICY: &str = "[tolerance]\nrel = 1e-9\nabs = 0.0\n";

/// The version `config_metadata.json` records (`nat_version` or `version`), when it does.
fn nat_version(dir: &Path) -> Option<String> {
    let text = crate::fsio::read_text(&dir.join("config_metadata.json"), 1 << 20).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    ["nat_version", "version"]
        .iter()
        .find_map(|k| v.get(*k)?.as_str().map(str::to_string))
}

/// One file: ours against NAT's `stored` text.
fn verdict(name: &str, ours: &Content, stored: String, policy: &Policy) -> Verdict {
    if ours.text() == stored {
        return Verdict::Identical;
    }
    let stored_json = serde_json::from_str(&stored).ok();
    let one = |c: Content| {
        Compared::new(Outputs {
            files: vec![(name.to_string(), c)],
        })
    };
    let d = diff_compared(
        &one(Content::Text(stored)),
        &one(ours.clone()),
        policy,
        Builder::Pr1751,
    );
    match d.into_iter().next() {
        Some(o) if o.differing > 0 => Verdict::Differs(o),
        _ => Verdict::Equal(allowances(ours, &stored_json)),
    }
}

/// Which deliberate differences make our JSON equal to NAT's: each normalisation the
/// engine applies, tried alone; what none explains is float rounding within the tolerance.
fn allowances(ours: &Content, stored: &Option<serde_json::Value>) -> Vec<&'static str> {
    let (Some(nat), Ok(mine)) = (
        stored,
        serde_json::from_str::<serde_json::Value>(&ours.text()),
    ) else {
        return vec!["floats-1e-9"];
    };
    let mut taken = Vec::new();
    let (mut a, mut b) = (nat.clone(), mine);
    let steps: [(&'static str, Normalise); 2] = [
        (
            "profile.trie-generated-at",
            crate::differences::drop_generated_at,
        ),
        (
            "profile.active-uuids-order",
            crate::differences::normalize_active_uuids,
        ),
    ];
    for (id, normalise) in steps {
        if a == b {
            break;
        }
        let (mut x, mut y) = (a.clone(), b.clone());
        normalise(&mut x);
        normalise(&mut y);
        if x != a || y != b {
            taken.push(id);
        }
        (a, b) = (x, y);
    }
    if a != b {
        taken.push("floats-1e-9");
    }
    taken
}

/// A normalisation of a JSON output (one deliberate difference).
type Normalise = fn(&mut serde_json::Value);

/// One item: profile it with its configuration and compare every output with NAT's.
fn item_conformance(item: &crate::job::Item, opts: &LoadOptions) -> Option<ItemConformance> {
    let dir = item.dir();
    let mut out = ItemConformance {
        item: item.name.clone(),
        nat_version: nat_version(dir),
        files: Vec::new(),
        error: None,
    };
    let run = || -> Result<Vec<(String, Verdict)>, Error> {
        let cfg = item.profiler_config()?;
        let trace = crate::trace::load_file(&item.ist, opts)?;
        let ours = crate::pipeline::profile(&trace, ProfilePath::Ist, &cfg, false)?;
        let policy = Policy::from_toml(POLICY).expect("a valid policy");
        let trie = cfg.prediction_trie.output_filename.as_str();
        ours.files
            .par_iter()
            .filter(|(name, _)| name != "all_requests_profiler_traces.json")
            .map(|(name, content)| {
                let path = dir.join(name);
                if !path.is_file() {
                    return Ok((name.clone(), Verdict::NotStored));
                }
                let stored = crate::fsio::read_text(&path, opts.max_file_size)?;
                // The engine compares the trie under its default name.
                let compared_as = crate::job::sides::compared_name(name, trie);
                Ok((name.clone(), verdict(compared_as, content, stored, &policy)))
            })
            .collect()
    };
    match run() {
        Ok(files) => out.files = files,
        // Named like a trace but not one: not an item (as the drift job skips it).
        Err(Error::NotATrace { .. }) => return None,
        Err(e) => out.error = Some(e.to_string()),
    }
    Some(out)
}

/// Every item of `corpora`, in the drift job's order, compared with the NAT outputs stored beside it.
pub fn conform(corpora: &[PathBuf], opts: &LoadOptions) -> Result<Vec<ItemConformance>, Error> {
    let items = crate::job::corpus_items(corpora, opts)?;
    Ok(items
        .par_iter()
        .filter_map(|i| item_conformance(i, opts))
        .collect())
}

/// 0 every stored output reproduced, 1 an output differs, 2 an item failed or nothing was
/// stored anywhere (a directory without NAT outputs must not pass).
pub fn exit_code(items: &[ItemConformance]) -> u8 {
    let stored: usize = items.iter().map(ItemConformance::stored).sum();
    if items.iter().any(|i| i.error.is_some()) || stored == 0 {
        return 2;
    }
    let differs = items
        .iter()
        .flat_map(|i| &i.files)
        .any(|(_, v)| matches!(v, Verdict::Differs(_)));
    u8::from(differs)
}
