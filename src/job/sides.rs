//! Any two paths compared (`drift --left SPEC --right SPEC`): our paths, the outputs stored
//! in each item's directory (`stored:`) or an external profiler (`cmd:`, run by [`command`]).
//! Each side's output files are produced (or read), then diffed whole by the engine
//! ([`drift::diff_compared`]), as `conform` does. Our default pair (`ist` against `atif:…`)
//! does not come here: the frame engine runs it a request at a time (`job::run_item_builders`).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{IstOutcome, Item};
use crate::config::ProfilerConfig;
use crate::drift::policy::Policy;
use crate::drift::spec::PathSpec;
use crate::drift::{self, Compared, ItemDrift, COMPARED};
use crate::frame::from_atif::Builder;
use crate::profile::{Content, Outputs, ProfilePath};
use crate::trace::{LoadOptions, Trace};

pub mod command;

/// The paths a drift job compares: the left one with each right one, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sides {
    /// The left path (`ist` by default).
    pub left: PathSpec,
    /// The right paths, in report order.
    pub right: Vec<PathSpec>,
    /// Where `cmd:` paths' outputs are cached (`--cache`).
    pub cache: Option<PathBuf>,
    /// The policy file's directory: a command's relative programs and arguments naming its
    /// files are made absolute (commands run in directories of their own).
    pub base: Option<PathBuf>,
    /// The builder whose expectations classify the drift of right sides that are not an
    /// ATIF path of ours and whose command says no `expect_as` (`--expect-as`).
    pub expect_as: Option<Builder>,
}

impl Sides {
    /// Our default comparison: `ist` against `atif:` each builder.
    pub fn of_builders(builders: &[Builder]) -> Sides {
        Sides {
            left: PathSpec::Ist,
            right: builders.iter().map(|&b| PathSpec::Atif(b)).collect(),
            cache: None,
            base: None,
            expect_as: None,
        }
    }

    /// The builders, when the comparison is our default one (`ist` against ATIF paths of
    /// ours): the frame engine runs it, with the mooncake rows and the timelines.
    pub fn frame_builders(&self) -> Option<Vec<Builder>> {
        if self.left != PathSpec::Ist {
            return None;
        }
        self.right.iter().map(PathSpec::builder).collect()
    }

    /// What can be refused before the run: a `cmd:` the policy does not define, a right side
    /// that is the left one, a side given twice.
    pub fn check(&self, policy: &Policy) -> Result<(), crate::Error> {
        let bad = |m: String| Err(crate::Error::Other(m));
        for s in std::iter::once(&self.left).chain(&self.right) {
            if let PathSpec::Cmd(name) = s {
                if policy.command(name).is_none() {
                    let defined: Vec<&str> = policy.command_names().collect();
                    return bad(format!(
                        "{s}: the policy defines no [paths.{name}] ({}); external profilers \
                         are defined in the policy file given with --policy",
                        if defined.is_empty() {
                            "it defines none".to_string()
                        } else {
                            format!("it defines {}", defined.join(", "))
                        }
                    ));
                }
            }
        }
        if let Some(s) = self.right.iter().find(|s| **s == self.left) {
            return bad(format!("--right {s} is the left path: nothing to compare"));
        }
        for (k, s) in self.right.iter().enumerate() {
            if self.right[..k].contains(s) {
                return bad(format!("--right {s} is given twice"));
            }
        }
        Ok(())
    }

    /// The builder whose expectations classify `right`'s drift.
    fn classify_as(&self, right: &PathSpec, policy: &Policy) -> Option<Builder> {
        match right {
            PathSpec::Atif(b) => Some(*b),
            PathSpec::Cmd(n) => policy
                .command(n)
                .and_then(|c| c.expect_as)
                .or(self.expect_as),
            _ => self.expect_as,
        }
    }
}

/// One side's compared outputs, or why it has none.
type Side = Result<Compared, String>;

/// The engine's name of a profiler's output file `name`: the prediction trie, which the
/// configuration may name `trie`, is compared as `prediction_trie.json`.
pub(crate) fn compared_name<'n>(name: &'n str, trie: &str) -> &'n str {
    if name == trie && !COMPARED.contains(&name) {
        TRIE
    } else {
        name
    }
}

/// The file a profiler writes for the engine's `name` ([`compared_name`] backwards).
fn written_name<'n>(name: &'n str, trie: &'n str) -> &'n str {
    if name == TRIE {
        trie
    } else {
        name
    }
}

/// The prediction trie's name in the engine.
const TRIE: &str = "prediction_trie.json";

/// The files the engine compares among `files` (each `(name, content)` as a profiler wrote
/// it), the prediction trie under the engine's name whatever the configuration named it.
fn compared(files: Vec<(String, Content)>, cfg: &ProfilerConfig) -> Compared {
    let trie = cfg.prediction_trie.output_filename.as_str();
    let files = files
        .into_iter()
        .map(|(name, c)| (compared_name(&name, trie).to_string(), c))
        .collect();
    Compared::new(Outputs { files })
}

/// The output files a profiler left in `dir` (the trie under `trie`'s name), as
/// `(compared name, text)`. An unreadable file is an error naming it.
pub(crate) fn read_texts(
    dir: &Path,
    trie: &str,
    opts: &LoadOptions,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for &name in COMPARED {
        let path = dir.join(written_name(name, trie));
        if !path.exists() {
            continue;
        }
        let text = crate::fsio::read_text(&path, opts.max_file_size).map_err(|e| e.to_string())?;
        out.push((name.to_string(), text));
    }
    Ok(out)
}

/// Texts read by [`read_texts`] as profiler outputs; a JSON file that does not parse is an
/// error naming the file (`at(name)`), line and column.
fn parse_texts(
    texts: Vec<(String, String)>,
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<(String, Content)>, String> {
    texts
        .into_iter()
        .map(|(name, text)| {
            let content = if name.ends_with(".json") {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not JSON: {e}", at(&name)))?;
                Content::Json(v)
            } else {
                Content::Text(text)
            };
            Ok((name, content))
        })
        .collect()
}

/// The outputs stored in `stored` (relative to the item's directory).
fn stored_side(item: &Item, sub: &str, cfg: &ProfilerConfig, opts: &LoadOptions) -> Side {
    let dir = item.dir().join(sub);
    let trie = cfg.prediction_trie.output_filename.as_str();
    let texts = read_texts(&dir, trie, opts)?;
    let at = |name: &str| dir.join(written_name(name, trie)).display().to_string();
    Ok(compared(parse_texts(texts, &at)?, cfg))
}

/// One of our paths on the item.
fn our_side(
    item: &Item,
    spec: &PathSpec,
    trace: &Trace,
    cfg: &ProfilerConfig,
    opts: &LoadOptions,
) -> Side {
    let run = || -> Result<Outputs, crate::Error> {
        match spec {
            PathSpec::Atif(b) => match &item.atif {
                Some(atif) => {
                    let t = crate::trace::load_file(atif, opts)?;
                    crate::pipeline::profile(&t, ProfilePath::Atif(*b), cfg, false)
                }
                None => crate::pipeline::profile(trace, ProfilePath::Atif(*b), cfg, false),
            },
            _ => crate::pipeline::profile(trace, ProfilePath::Ist, cfg, false),
        }
    };
    run()
        .map(|o| compared(o.files, cfg))
        .map_err(|e| e.to_string())
}

/// Run one item: every side produced once (side by side), then the left one diffed with each
/// right one. Sides that produced different files are compared on the files both have; the
/// others are listed as not produced. `tick` is called after each right side.
pub(crate) fn run_item(
    item: &Item,
    sides: &Sides,
    policy: &Policy,
    opts: &LoadOptions,
    tick: &(dyn Fn() + Sync),
) -> (Vec<ItemDrift>, IstOutcome) {
    let failed = |message: String, outcome: IstOutcome| {
        let runs = sides
            .right
            .iter()
            .map(|r| {
                tick();
                ItemDrift {
                    error: Some(message.clone()),
                    ..empty(item, sides, r, policy)
                }
            })
            .collect();
        (runs, outcome)
    };
    let cfg = match item.profiler_config() {
        Ok(c) => c,
        Err(e) => return failed(e.to_string(), IstOutcome::Failed(e.to_string())),
    };
    let trace = match crate::trace::load_file(&item.ist, opts) {
        Ok(t) => t,
        Err(e @ crate::Error::NotATrace { .. }) => {
            return failed(e.to_string(), IstOutcome::NotATrace(e.to_string()))
        }
        Err(e) => return failed(e.to_string(), IstOutcome::Failed(e.to_string())),
    };
    let outcome = match &trace {
        Trace::Ist(ist) => IstOutcome::Loaded(ist.requests.len(), ist.step_count()),
        other => {
            let m = format!(
                "{}: is {}, not an IST trace",
                item.ist.display(),
                other.kind()
            );
            return failed(m.clone(), IstOutcome::NotATrace(m));
        }
    };
    let specs: Vec<&PathSpec> = std::iter::once(&sides.left).chain(&sides.right).collect();
    let produced: Vec<Side> = specs
        .par_iter()
        .map(|&spec| match spec {
            PathSpec::Stored(sub) => stored_side(item, sub, &cfg, opts),
            PathSpec::Cmd(name) => {
                let def = policy
                    .command(name)
                    .expect("Sides::check found every command");
                let run = command::Run {
                    def,
                    item,
                    trace: &trace,
                    trie: &cfg.prediction_trie.output_filename,
                    cache: sides.cache.as_deref(),
                    base: sides.base.as_deref(),
                    opts,
                };
                let at = |file: &str| format!("wrote {file}");
                run.outputs()
                    .and_then(|texts| parse_texts(texts, &at))
                    .map(|files| compared(files, &cfg))
            }
            ours => our_side(item, ours, &trace, &cfg, opts),
        })
        .collect();
    let (left, rights) = produced.split_first().expect("the left side");
    let runs = sides
        .right
        .iter()
        .zip(rights)
        .map(|(spec, right)| {
            let d = diff(item, sides, spec, left, right, policy);
            tick();
            d
        })
        .collect();
    (runs, outcome)
}

/// The drift of one pair on one item, before its outputs are diffed.
fn empty(item: &Item, sides: &Sides, right: &PathSpec, policy: &Policy) -> ItemDrift {
    ItemDrift {
        item: item.name.clone(),
        left: sides.left.to_string(),
        right: right.to_string(),
        builder: sides.classify_as(right, policy),
        outputs: Vec::new(),
        mooncake: None,
        error: None,
        timelines: Vec::new(),
        not_produced: Vec::new(),
    }
}

/// Diff `left` and `right` (the files both produced); a side that failed fails the pair.
fn diff(
    item: &Item,
    sides: &Sides,
    spec: &PathSpec,
    left: &Side,
    right: &Side,
    policy: &Policy,
) -> ItemDrift {
    let mut d = empty(item, sides, spec, policy);
    let (l, r) = match (left, right) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) => {
            d.error = Some(format!("{}: {e}", sides.left));
            return d;
        }
        (_, Err(e)) => {
            d.error = Some(format!("{spec}: {e}"));
            return d;
        }
    };
    let (ln, rn) = (l.names(), r.names());
    let both: Vec<&str> = ln.iter().copied().filter(|n| rn.contains(n)).collect();
    // What one side wrote and the other did not.
    for (side, other_wrote) in [(&sides.left, &rn), (spec, &ln)] {
        for n in other_wrote.iter().filter(|n| !both.contains(n)) {
            d.not_produced.push(format!("{side}: {n}"));
        }
    }
    let (mut l, mut r) = (l.clone(), r.clone());
    l.retain(&both);
    r.retain(&both);
    d.outputs = drift::diff_compared(&l, &r, policy, d.builder);
    d
}

/// Whether the job compared nothing at all: no pair of any item had a file in common (a
/// wrong `stored:` directory must not pass).
pub(crate) fn compared_nothing(items: &[ItemDrift]) -> bool {
    items.iter().any(|i| i.error.is_none()) && items.iter().all(|i| i.outputs.is_empty())
}
