//! The drift policy (`drift.toml`): numeric tolerances and the drift we expect, each with its
//! reason. Drift matching no expectation is new drift (exit 1); an expectation that matches
//! nothing is stale and reported.
//!
//! ```toml
//! [tolerance]            # default for every file
//! rel = 1e-9
//! abs = 0.0
//!
//! [tolerance.files."forecast.json"]
//! rel = 1e-6
//!
//! [[tolerance.paths]]    # by path glob; default: timestamps and start/end times abs 1e-6 s
//! pattern = "*timestamp*"
//! abs = 1e-6
//!
//! [[expected]]
//! pattern = "inference_optimization.json:token_uniqueness.*"   # glob over `file:path-pattern`
//! builders = ["pr1751", "faithful"]                             # optional; default: every builder
//! loss = "prompt-text"                                          # optional: the ATIF loss behind it
//! reason = "prompt text is not in ATIF, so every counted transition adds 0 new words"
//!
//! [[threshold]]          # drift tolerated without a reason, up to a share of the output's values
//! pattern = "forecast.json:forecasts*"
//! max_values_pct = 5.0
//! ```
//!
//! Patterns are globs where `*` matches any run of characters (dots included); list
//! indices in paths appear as `[*]` (escape brackets as `\[*\]` to match them literally).

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::spec::CommandPath;
use super::value_diff::{Closeness, Tolerance};
use crate::frame::from_atif::Builder;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    /// `"builtin"`: this file's entries first, then the built-in policy's; its tolerances
    /// unless this file has a `[tolerance]` table.
    #[serde(default)]
    extends: Option<String>,
    tolerance: Option<RawTolerance>,
    #[serde(default)]
    expected: Vec<Expectation>,
    #[serde(default)]
    threshold: Vec<Threshold>,
    #[serde(default)]
    paths: BTreeMap<String, CommandPath>,
}

/// Drift allowed without an explanation, up to a share of the output's compared values.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Threshold {
    /// The glob over `file:path` the threshold covers.
    pub pattern: String,
    /// At most this percentage of the output's compared values may differ under the pattern.
    pub max_values_pct: f64,
    /// The builders it applies to (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builders: Option<Vec<Builder>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTolerance {
    #[serde(default = "default_rel")]
    rel: f64,
    #[serde(default)]
    abs: f64,
    #[serde(default)]
    files: BTreeMap<String, FileTolerance>,
    #[serde(default = "default_paths")]
    paths: Vec<PathTolerance>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathTolerance {
    pattern: String,
    #[serde(default)]
    rel: f64,
    #[serde(default)]
    abs: f64,
}

/// Epoch timestamps (~1.8e9 s) need an absolute bound: 1e-9 relative would hide seconds.
fn default_paths() -> Vec<PathTolerance> {
    [
        "*timestamp*",
        "*start_time",
        "*end_time",
        "*timeline_segments*",
        "*.span_start*",
    ]
    .into_iter()
    .map(|p| PathTolerance {
        pattern: p.into(),
        rel: 0.0,
        abs: 1e-6,
    })
    .collect()
}

impl Default for RawTolerance {
    fn default() -> Self {
        RawTolerance {
            rel: default_rel(),
            abs: 0.0,
            files: BTreeMap::new(),
            paths: default_paths(),
        }
    }
}

fn default_rel() -> f64 {
    1e-9
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTolerance {
    rel: Option<f64>,
    abs: Option<f64>,
}

/// One expected drift.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The glob over `file:path` the expectation covers.
    pub pattern: String,
    /// Why this drift is expected (printed with it).
    pub reason: String,
    /// The builders it applies to (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builders: Option<Vec<Builder>>,
    /// The ATIF loss it stands for (one of `faithful::LOSSES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<String>,
    /// At most this many values may differ under the pattern (per item × builder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_values: Option<usize>,
    /// At most this share (0 to 1) of the output's compared values may differ under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_share: Option<f64>,
    /// No two numbers under it may differ by more than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs: Option<f64>,
    /// No two numbers under it may differ by more than this share of the larger one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel: Option<f64>,
    /// `"same"`: values may change, but a row, key or element on one side only is not
    /// expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Rows>,
    /// The relation each value of the pattern keeps (`standardized_data_all.csv` cells),
    /// checked on every aligned row, equal cells included: a value breaking it is unexpected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}

/// A relation an expected CSV drift keeps, value by value: `right == TERM + TERM - TERM …`
/// (a `-` between spaces), a term being `left` (the left cell), `left.COLUMN` or
/// `right.COLUMN` (a column of the aligned row, CSV columns and `cached_tokens`). E.g. pr1751's total:
/// `right == left.prompt_tokens + left.completion_tokens + left.cached_tokens`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Relation {
    text: String,
    /// Each term with its sign (`true`: added).
    terms: Vec<(bool, Term)>,
}

/// A term of a [`Relation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// The left cell.
    Left,
    /// A column of the left row.
    LeftColumn(String),
    /// A column of the right row.
    RightColumn(String),
}

impl TryFrom<String> for Relation {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "relation {text:?}: {why}; write `right == TERM + TERM - …`, a term being \
                 `left`, `left.COLUMN` or `right.COLUMN`"
            )
        };
        // `-` only between spaces: column names hold dashes (`NOVA-Time-To-Next-Event`).
        let spaced = text.replace("==", " == ").replace('+', " + ");
        let mut words = spaced.split_whitespace();
        if (words.next(), words.next()) != (Some("right"), Some("==")) {
            return Err(bad("it starts with `right ==`"));
        }
        let mut terms = Vec::new();
        let mut sign = Some(true);
        for w in words {
            match (w, sign) {
                ("+", None) => sign = Some(true),
                ("-", None) => sign = Some(false),
                (_, None) => return Err(bad(&format!("`{w}` after a term: expected + or -"))),
                (_, Some(s)) => {
                    let term = match w.split_once('.') {
                        None if w == "left" => Term::Left,
                        Some(("left", c)) if !c.is_empty() => Term::LeftColumn(c.to_string()),
                        Some(("right", c)) if !c.is_empty() => Term::RightColumn(c.to_string()),
                        _ => return Err(bad(&format!("`{w}` is not a term"))),
                    };
                    terms.push((s, term));
                    sign = None;
                }
            }
        }
        if terms.is_empty() || sign.is_some() {
            return Err(bad("a term is missing"));
        }
        Ok(Relation { text, terms })
    }
}

impl From<Relation> for String {
    fn from(r: Relation) -> String {
        r.text
    }
}

impl Relation {
    /// The relation as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value the right cell should hold, from the left cell and the rows' columns
    /// (`value(term)`); `None` when a term has no number.
    pub fn predict(&self, value: impl Fn(&Term) -> Option<f64>) -> Option<f64> {
        self.terms.iter().try_fold(0.0, |sum, (plus, t)| {
            let v = value(t)?;
            Some(if *plus { sum + v } else { sum - v })
        })
    }
}

/// What an expectation says of rows (keys, elements) on one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rows {
    /// Both sides have the same rows: one present on one side only is unexpected.
    Same,
}

impl Expectation {
    /// Which bound, if any, `p` (an output's drift under this expectation, out of
    /// `compared` values) exceeds, with the measured value and the bound.
    pub fn exceeded(&self, p: &crate::drift::PatternDrift, compared: usize) -> Option<String> {
        if let (Some(r), true) = (&self.relation, p.broken > 0) {
            return Some(format!(
                "relation {} broken by {} values",
                r.text(),
                p.broken
            ));
        }
        if let Some(max) = self.max_values.filter(|&m| p.values > m) {
            return Some(format!(
                "expected drift grew: {} values, bound {max}",
                p.values
            ));
        }
        let share = p.values as f64 / compared.max(1) as f64;
        if let Some(max) = self.max_share.filter(|&m| share > m) {
            return Some(format!(
                "expected drift grew: {:.3} % of {compared} values, bound {:.3} %",
                100.0 * share,
                100.0 * max
            ));
        }
        if let (Some(max), Some(d)) = (self.max_abs, p.max_abs) {
            if d > max {
                return Some(format!("largest difference {d}, bound {max}"));
            }
        }
        if let (Some(max), Some(d)) = (self.max_rel, p.max_rel) {
            if d > max {
                return Some(format!(
                    "largest relative difference {:.3} %, bound {:.3} %",
                    100.0 * d,
                    100.0 * max
                ));
            }
        }
        if self.rows == Some(Rows::Same) && p.one_sided > 0 {
            return Some(format!(
                "{} values on one side only, bound rows = \"same\"",
                p.one_sided
            ));
        }
        None
    }
}

/// The tolerances of one file's paths ([`Policy::tolerances`]).
pub struct FileTolerances<'a> {
    policy: &'a Policy,
    of_file: Tolerance,
    /// The largest bounds any path of the file gets: numbers farther apart than these
    /// differ whatever the path, and their path's rules are not looked up.
    widest: Tolerance,
}

impl FileTolerances<'_> {
    /// The tolerance at `path`.
    pub fn at(&self, path: &str) -> Tolerance {
        // The first rule that matches (`matches` allocates only when one does).
        self.policy
            .paths
            .matches(path)
            .into_iter()
            .min()
            .map_or(self.of_file, |i| self.policy.path_tolerances[i])
    }
}

impl Closeness for FileTolerances<'_> {
    fn close(&self, path: &str, a: f64, b: f64) -> bool {
        self.widest.close(a, b) && self.at(path).close(a, b)
    }
}

/// A drift policy (`drift.toml`): tolerances, expected drift and thresholds.
#[derive(Debug, Clone)]
pub struct Policy {
    thresholds: Vec<(Threshold, GlobMatcher)>,
    default: Tolerance,
    files: BTreeMap<String, Tolerance>,
    /// The `[[tolerance.paths]]` globs, matched together (a JSON diff asks at every number
    /// that differs), and their tolerances by glob index.
    paths: GlobSet,
    path_tolerances: Vec<Tolerance>,
    expected: Vec<(Expectation, GlobMatcher)>,
    /// The external profilers (`[paths.NAME]`), by name.
    commands: BTreeMap<String, CommandPath>,
    /// How many of the expectations are the file's own (the rest come from the built-in
    /// policy it extends).
    own: usize,
}

impl Default for Policy {
    /// No expectations; floats equal within 1e-9 relative.
    fn default() -> Self {
        Policy::from_toml("").expect("the empty policy parses")
    }
}

/// The built-in policy for NAT runs: the repository's reviewed `drift.toml`, embedded.
pub const BUILTIN: &str = include_str!("../../drift.toml");

/// Which policy a drift run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The built-in policy ([`BUILTIN`]): NAT's known ATIF losses.
    Builtin,
    /// No policy: every difference is unexpected.
    None,
    /// A policy file.
    File(std::path::PathBuf),
}

impl PolicySource {
    /// `builtin`, `none`, or a file's path, as `--policy` takes it.
    pub fn parse(arg: &std::ffi::OsStr) -> PolicySource {
        match arg.to_str() {
            Some("builtin") => PolicySource::Builtin,
            Some("none") => PolicySource::None,
            _ => PolicySource::File(arg.into()),
        }
    }

    /// The file, when the policy is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            PolicySource::File(p) => Some(p),
            _ => None,
        }
    }
}

/// Why a policy file does not parse.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML, or not the policy's keys and types.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A glob that does not compile; `at` is where it is (`expected[2].pattern`).
    #[error("{at} {pattern:?}: {cause}")]
    Glob {
        /// The key holding the pattern.
        at: String,
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        cause: globset::Error,
    },
    /// The path tolerances' patterns do not build into one set.
    #[error("tolerance.paths: {0}")]
    PathSet(globset::Error),
    /// An expectation without a reason.
    #[error("expected[{index}] ({pattern}): every expectation needs a reason")]
    NoReason {
        /// Its place among the expectations.
        index: usize,
        /// Its pattern.
        pattern: String,
    },
    /// An expectation's bound out of its range (`max_share` within 0..=1, `max_abs` and
    /// `max_rel` finite and not negative).
    #[error("expected[{index}].{key} = {value} is out of range")]
    Bound {
        /// Its place among the expectations.
        index: usize,
        /// The bound.
        key: &'static str,
        /// The value given.
        value: f64,
    },
    /// A key that cannot mean what it says (a `[paths.NAME]` that cannot run, an
    /// `extends` of something else than the built-in policy).
    #[error("{0}")]
    Invalid(String),
    /// The policy text cannot be edited (`policy suggest`).
    #[error("{0}")]
    Edit(String),
    /// A threshold's share outside 0..=100.
    #[error("threshold[{index}].max_values_pct must be within 0..=100, got {value}")]
    Share {
        /// Its place among the thresholds.
        index: usize,
        /// The share given.
        value: f64,
    },
}

fn glob(at: String, pattern: &str) -> std::result::Result<Glob, PolicyError> {
    Glob::new(pattern).map_err(|cause| PolicyError::Glob {
        at,
        pattern: pattern.to_string(),
        cause,
    })
}

impl Policy {
    /// A policy from the text of a `drift.toml`.
    pub fn from_toml(text: &str) -> std::result::Result<Policy, PolicyError> {
        let mut raw: RawPolicy = toml::from_str(text)?;
        let own = raw.expected.len();
        match raw.extends.as_deref() {
            None => {}
            Some("builtin") => {
                let base: RawPolicy = toml::from_str(BUILTIN)?;
                raw.tolerance = raw.tolerance.or(base.tolerance);
                raw.expected.extend(base.expected);
                raw.threshold.extend(base.threshold);
                for (name, c) in base.paths {
                    raw.paths.entry(name).or_insert(c);
                }
            }
            Some(other) => {
                return Err(PolicyError::Invalid(format!(
                    "extends = {other:?}: a policy extends \"builtin\" (the built-in policy) \
                     or nothing"
                )))
            }
        }
        let raw_tolerance = raw.tolerance.take().unwrap_or_default();
        let default = Tolerance {
            abs: raw_tolerance.abs,
            rel: raw_tolerance.rel,
        };
        let files = raw_tolerance
            .files
            .into_iter()
            .map(|(f, t)| {
                (
                    f,
                    Tolerance {
                        abs: t.abs.unwrap_or(default.abs),
                        rel: t.rel.unwrap_or(default.rel),
                    },
                )
            })
            .collect();
        let mut paths = GlobSetBuilder::new();
        let mut path_tolerances = Vec::new();
        for t in raw_tolerance.paths {
            paths.add(glob("tolerance.paths".into(), &t.pattern)?);
            path_tolerances.push(Tolerance {
                abs: t.abs,
                rel: t.rel,
            });
        }
        let paths = paths.build().map_err(PolicyError::PathSet)?;
        let mut expected = Vec::new();
        for (i, e) in raw.expected.into_iter().enumerate() {
            if e.reason.trim().is_empty() {
                return Err(PolicyError::NoReason {
                    index: i,
                    pattern: e.pattern,
                });
            }
            let bad = |key: &'static str, value: f64| PolicyError::Bound {
                index: i,
                key,
                value,
            };
            if let Some(v) = e.max_share.filter(|v| !(0.0..=1.0).contains(v)) {
                return Err(bad("max_share", v));
            }
            for (key, v) in [("max_abs", e.max_abs), ("max_rel", e.max_rel)] {
                if let Some(v) = v.filter(|v| !(*v >= 0.0 && v.is_finite())) {
                    return Err(bad(key, v));
                }
            }
            if e.relation.is_some() && !e.pattern.starts_with("standardized_data_all.csv:") {
                return Err(PolicyError::Invalid(format!(
                    "expected[{i}].relation: relations hold between the cells of \
                     standardized_data_all.csv; {:?} is not one of its patterns",
                    e.pattern
                )));
            }
            let m = glob(format!("expected[{i}].pattern"), &e.pattern)?.compile_matcher();
            expected.push((e, m));
        }
        let mut thresholds = Vec::new();
        for (i, t) in raw.threshold.into_iter().enumerate() {
            if !(0.0..=100.0).contains(&t.max_values_pct) {
                return Err(PolicyError::Share {
                    index: i,
                    value: t.max_values_pct,
                });
            }
            let m = glob(format!("threshold[{i}].pattern"), &t.pattern)?;
            thresholds.push((t, m.compile_matcher()));
        }
        for (name, c) in &raw.paths {
            c.check(name).map_err(PolicyError::Invalid)?;
        }
        Ok(Policy {
            own,
            commands: raw.paths,
            thresholds,
            default,
            files,
            paths,
            path_tolerances,
            expected,
        })
    }

    /// The numeric tolerance of `file`'s values (the file's, else the default).
    pub fn tolerance(&self, file: &str) -> Tolerance {
        self.files.get(file).copied().unwrap_or(self.default)
    }

    /// The tolerance at `path` of `file`: the first `[[tolerance.paths]]` rule matching the
    /// path, else the file's, else the default.
    pub fn tolerance_at(&self, file: &str, path: &str) -> Tolerance {
        self.tolerances(file).at(path)
    }

    /// [`Policy::tolerance_at`] for the paths of one file (its own lookup done once: a JSON
    /// diff asks at every number that differs).
    pub fn tolerances(&self, file: &str) -> FileTolerances<'_> {
        let of_file = self.tolerance(file);
        let widest = self.path_tolerances.iter().fold(of_file, |w, t| Tolerance {
            abs: w.abs.max(t.abs),
            rel: w.rel.max(t.rel),
        });
        FileTolerances {
            policy: self,
            of_file,
            widest,
        }
    }

    /// The first `[[threshold]]` covering `pattern` for `builder`: (max %, its pattern).
    pub fn threshold(
        &self,
        pattern: &str,
        builder: impl Into<Option<Builder>>,
    ) -> Option<(f64, String)> {
        let builder = builder.into();
        self.thresholds
            .iter()
            .find(|(t, m)| m.is_match(pattern) && applies(&t.builders, builder))
            .map(|(t, _)| (t.max_values_pct, t.pattern.clone()))
    }

    /// The first expectation covering `pattern` for `builder`.
    pub fn expected(&self, pattern: &str, builder: impl Into<Option<Builder>>) -> Option<String> {
        self.expectation(pattern, builder).map(|e| e.reason.clone())
    }

    /// The first expectation covering `pattern` for `builder`.
    pub fn expectation(
        &self,
        pattern: &str,
        builder: impl Into<Option<Builder>>,
    ) -> Option<&Expectation> {
        self.expectation_index(pattern, builder)
            .map(|k| &self.expected[k].0)
    }

    /// Expectations whose reason never matched (`used` lists the reasons that did).
    pub fn unused(&self, used: &[String]) -> Vec<String> {
        // Of the file's own entries: the built-in policy's cover run shapes a given run need
        // not have.
        self.expected[..self.own]
            .iter()
            .filter(|(e, _)| !used.contains(&e.reason))
            .map(|(e, _)| format!("{} ({})", e.pattern, e.reason))
            .collect()
    }

    /// The place (in file order) of the first expectation covering `pattern` for `builder`.
    pub fn expectation_index(
        &self,
        pattern: &str,
        builder: impl Into<Option<Builder>>,
    ) -> Option<usize> {
        let builder = builder.into();
        self.expected
            .iter()
            .position(|(e, m)| m.is_match(pattern) && applies(&e.builders, builder))
    }

    /// The external profiler `[paths.NAME]`, when the policy defines it.
    pub fn command(&self, name: &str) -> Option<&CommandPath> {
        self.commands.get(name)
    }

    /// The names of the external profilers it defines.
    pub fn command_names(&self) -> impl Iterator<Item = &str> {
        self.commands.keys().map(String::as_str)
    }

    /// The `[[expected]]` entries, in file order.
    pub fn expectations(&self) -> impl Iterator<Item = &Expectation> {
        self.expected.iter().map(|(e, _)| e)
    }
}

/// Whether an entry for `builders` (every builder when absent) applies to drift classified
/// as `builder`'s; drift of no builder of ours (`stored:`, `cmd:`) meets only the entries that
/// name none.
fn applies(builders: &Option<Vec<Builder>>, builder: Option<Builder>) -> bool {
    match builders {
        None => true,
        Some(list) => builder.is_some_and(|b| list.contains(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Skipping the rule lookup for numbers farther apart than every bound decides as
        /// the path's own tolerance does.
        #[test]
        fn the_widest_bound_only_skips_lookups(
            abs in proptest::collection::vec(0.0f64..2.0, 3),
            rel in proptest::collection::vec(0.0f64..0.5, 3),
            a in -3.0f64..3.0,
            d in -3.0f64..3.0,
            path in "(x|ts|y)\\.(ts|z)",
        ) {
            let p = Policy::from_toml(&format!(
                "[tolerance]\nrel = {}\nabs = {}\n\
                 [[tolerance.paths]]\npattern = \"*ts\"\nrel = {}\nabs = {}\n\
                 [[tolerance.paths]]\npattern = \"x.*\"\nrel = {}\nabs = {}\n",
                rel[0], abs[0], rel[1], abs[1], rel[2], abs[2]
            ))
            .unwrap();
            let t = p.tolerances("f.json");
            let b = a + d;
            proptest::prop_assert_eq!(t.close(&path, a, b), t.at(&path).close(a, b));
        }
    }

    #[test]
    fn path_tolerances_first_rule_wins() {
        let p = Policy::from_toml(
            r#"
            [tolerance]
            rel = 1e-6
            [[tolerance.paths]]
            pattern = "*.p9[0-9]"
            abs = 2.0
            [[tolerance.paths]]
            pattern = "*p*"
            abs = 3.0
            [[tolerance.paths]]
            pattern = "a/b.*"
            abs = 4.0
            "#,
        )
        .unwrap();
        let abs = |path| p.tolerance_at("x.json", path).abs;
        assert_eq!(abs("m.p90"), 2.0, "the first of two matching rules");
        assert_eq!(abs("m.p50"), 3.0);
        assert_eq!(abs("a/b.c"), 4.0, "keys may hold slashes");
        assert_eq!(abs("m.q"), 0.0, "no rule: the file's tolerance");
        assert_eq!(p.tolerance_at("x.json", "m.q").rel, 1e-6);
        // The defaults: timestamps get an absolute bound.
        let d = Policy::default();
        assert_eq!(d.tolerance_at("f.json", "x[3].event_timestamp").abs, 1e-6);
        assert_eq!(d.tolerance_at("f.json", "x[3].duration").abs, 0.0);
    }

    #[test]
    fn a_policy_extends_the_builtin_one_after_its_own_entries() {
        let own = "extends = \"builtin\"\n[[expected]]\npattern = \"forecast.json:*\"\nreason = \"mine\"\n";
        let p = Policy::from_toml(own).unwrap();
        let builtin = Policy::from_toml(BUILTIN).unwrap();
        assert_eq!(p.expectations().count(), builtin.expectations().count() + 1);
        assert_eq!(
            p.expected("forecast.json:Y", Builder::Pr1751).as_deref(),
            Some("mine")
        );
        // The built-in tolerances come with it; only the file's own entries can be stale.
        assert_eq!(p.tolerance_at("f.json", "x.event_timestamp").abs, 1e-6);
        assert_eq!(p.unused(&[]), ["forecast.json:* (mine)"]);
        let e = Policy::from_toml("extends = \"mine.toml\"").unwrap_err();
        assert!(e.to_string().contains("extends"), "{e}");
    }

    #[test]
    fn external_paths_are_checked_when_the_policy_is_read() {
        let ok = "[paths.nat]\ncommand = [\"run\", \"{output}\"]\nexpect_as = \"pr1751\"\n";
        let p = Policy::from_toml(ok).unwrap();
        assert_eq!(p.command("nat").unwrap().expect_as, Some(Builder::Pr1751));
        assert_eq!(p.command_names().collect::<Vec<_>>(), ["nat"]);
        for (bad, says) in [
            ("[paths.nat]\ncommand = []\n", "give the program"),
            (
                "[paths.nat]\ncommand = [\"run\", \"{output}\"]\ntimeout_s = -1\n",
                "timeout_s",
            ),
            (
                "[paths.\"a b\"]\ncommand = [\"run\", \"{output}\"]\n",
                "a name is",
            ),
            (
                "[paths.nat]\ncommand = [\"run\", \"{output}\"]\nshell = true\n",
                "shell",
            ),
        ] {
            let e = Policy::from_toml(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// Entries naming builders never classify the drift of a side of no builder of ours.
    #[test]
    fn a_side_of_no_builder_meets_only_the_entries_naming_none() {
        let p = Policy::from_toml(
            "[[expected]]\npattern = \"a:*\"\nreason = \"pr\"\nbuilders = [\"pr1751\"]\n\
             [[expected]]\npattern = \"a:*\"\nreason = \"any\"\n",
        )
        .unwrap();
        assert_eq!(p.expected("a:x", Builder::Pr1751).as_deref(), Some("pr"));
        assert_eq!(p.expected("a:x", None).as_deref(), Some("any"));
    }

    #[test]
    fn globs_builders_and_reasons() {
        let p = Policy::from_toml(
            r#"
            [tolerance]
            rel = 1e-6
            [tolerance.files."forecast.json"]
            abs = 0.5
            [[expected]]
            pattern = "inference_optimization.json:token_uniqueness.*"
            reason = "no prompt text"
            [[expected]]
            pattern = "standardized_data_all.csv:*"
            builders = ["pr1751"]
            reason = "frame"
            "#,
        )
        .unwrap();
        assert_eq!(
            p.tolerance("forecast.json"),
            Tolerance {
                abs: 0.5,
                rel: 1e-6
            }
        );
        assert_eq!(
            p.tolerance("x.json"),
            Tolerance {
                abs: 0.0,
                rel: 1e-6
            }
        );
        assert_eq!(
            p.expected(
                "inference_optimization.json:token_uniqueness.m.p90",
                Builder::Faithful
            )
            .as_deref(),
            Some("no prompt text")
        );
        assert_eq!(
            p.expected(
                "standardized_data_all.csv:LLM_END.total_tokens",
                Builder::Faithful
            ),
            None
        );
        assert!(p
            .expected(
                "standardized_data_all.csv:LLM_END.total_tokens",
                Builder::Pr1751
            )
            .is_some());
        assert_eq!(
            p.unused(&["frame".into()]),
            vec!["inference_optimization.json:token_uniqueness.* (no prompt text)"]
        );
        assert!(
            Policy::from_toml("[[expected]]\npattern = \"a\"\nreason = \"\"")
                .unwrap_err()
                .to_string()
                .contains("needs a reason")
        );
        assert!(Policy::from_toml("bogus = 1").is_err());
        let t = Policy::from_toml("[[threshold]]\npattern = \"a.json:*\"\nmax_values_pct = 2.5")
            .unwrap();
        assert_eq!(
            t.threshold("a.json:x.y", Builder::Faithful),
            Some((2.5, "a.json:*".into()))
        );
        assert!(Policy::from_toml("[[threshold]]\npattern = \"a\"\nmax_values_pct = 150").is_err());
    }
}
