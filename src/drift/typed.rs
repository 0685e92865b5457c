//! Large members of the JSON outputs compared from the data they are written from.
//!
//! A few members of the outputs grow with the calls: `forecast.json`'s matrices and
//! forecasts, the nested-stack analysis's `timeline_segments` and `node_metrics`, the spike
//! analysis's `spike_intervals`. As JSON values they were most of the drift's memory at
//! 100,000 requests (32 bytes per number, an ordered map per call), and building, renaming
//! and dropping them most of its time. Here they are read
//! where they are: arrays of rows ([`Lane`]) and maps of records ([`Record`]) whose scalars
//! ([`Leaf`]) compare as [`value_diff`](super::value_diff)'s walk compares the values they
//! are written as — the same paths, kinds of change, tolerances and counts (checked by the
//! proptests below against the walk itself).

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::value_diff::{push_index, push_key, Change, Closeness};
use super::{Groups, Policy};
use crate::frame::from_atif::Builder;
use crate::frame::Text;

/// Rows or records per part of a diff (parts are diffed side by side).
const PER_PART: usize = 4096;

/// A scalar as it is written to JSON.
#[derive(Debug, Clone, Copy)]
pub(super) enum Leaf<'a> {
    Int(i64),
    /// serde_json writes a float that is not finite as `null`.
    Float(f64),
    Str(&'a str),
}

#[derive(PartialEq)]
enum Kind {
    Int,
    Float,
    Null,
    Str,
}

impl Leaf<'_> {
    fn kind(self) -> Kind {
        match self {
            Leaf::Int(_) => Kind::Int,
            Leaf::Float(x) if x.is_finite() => Kind::Float,
            Leaf::Float(_) => Kind::Null,
            Leaf::Str(_) => Kind::Str,
        }
    }

    pub(super) fn value(self) -> Value {
        match self {
            Leaf::Int(i) => i.into(),
            Leaf::Float(x) => x.into(),
            Leaf::Str(s) => s.into(),
        }
    }
}

/// Both leaves at `path`, compared as the walk compares their values; returns the values
/// that differ (0 or 1). `site`: the walk's place, when every path it has there has one
/// pattern ([`Groups::add_at`]).
fn leaf_diff(
    path: &str,
    (a, b): (Leaf, Leaf),
    tol: &dyn Closeness,
    g: &mut Groups,
    site: Option<usize>,
) -> usize {
    let mut add = |numbers, change: &dyn Fn() -> Change| match site {
        Some(site) => g.add_at(site, path, numbers, change),
        None => g.add(path, 1, numbers, change),
    };
    let change = |typed: bool| {
        move || {
            let (left, right) = (a.value(), b.value());
            if typed {
                Change::Type { left, right }
            } else {
                Change::Value { left, right }
            }
        }
    };
    let numbers = match (a, b) {
        _ if a.kind() != b.kind() => {
            add(None, &change(true));
            return 1;
        }
        (Leaf::Int(x), Leaf::Int(y)) if x != y => Some((x as f64, y as f64)),
        (Leaf::Float(x), Leaf::Float(y)) if x.is_finite() && x != y && !tol.close(path, x, y) => {
            Some((x, y))
        }
        // Differing strings that both parse as numbers count their difference (as a
        // table's numeric cells do).
        (Leaf::Str(x), Leaf::Str(y)) if x != y => x.parse().ok().zip(y.parse().ok()),
        _ => return 0,
    };
    add(numbers, &change(false));
    1
}

/// A row of an array of arrays of scalars (a matrix row, a segment).
pub(super) trait Lane {
    fn len(&self) -> usize;
    fn leaf(&self, j: usize) -> Leaf<'_>;

    fn value(&self) -> Value {
        Value::Array((0..self.len()).map(|j| self.leaf(j).value()).collect())
    }
}

/// [`leaf_count`](super::value_diff::leaf_count) of the array of `n` rows `row(i)`.
pub(super) fn array_leaves<L: Lane>(n: usize, row: impl Fn(usize) -> L) -> usize {
    if n == 0 {
        return 1;
    }
    (0..n).map(|i| row(i).len().max(1)).sum()
}

/// The differences of the arrays at `at` of `na` rows `a(i)` and `nb` rows `b(i)`, grouped
/// as the walk over their values groups them, and how many values differ.
#[allow(clippy::too_many_arguments)]
pub(super) fn arrays<'p, L: Lane>(
    file: &'p str,
    at: &str,
    na: usize,
    a: impl Fn(usize) -> L + Sync,
    nb: usize,
    b: impl Fn(usize) -> L + Sync,
    policy: &'p Policy,
    builder: Builder,
) -> (Groups<'p>, usize) {
    let row = |i: usize, left: bool| if left { a(i) } else { b(i) };
    array_diff(
        file,
        at,
        (na, nb),
        (policy, builder),
        |path, i, tol, g| {
            let (x, y) = (a(i), b(i));
            let row = path.len();
            let mut differing = 0;
            for j in 0..x.len().min(y.len()) {
                push_index(path, j);
                // Every leaf's path has the one pattern `at[*][*]`.
                differing += leaf_diff(path, (x.leaf(j), y.leaf(j)), tol, g, Some(0));
                path.truncate(row);
            }
            let cell = |j, left| if left { x.leaf(j) } else { y.leaf(j) }.value();
            differing + tails(path, (x.len(), y.len()), g, |_, _| 1, cell)
        },
        |i, left| row(i, left).len().max(1),
        |i, left| row(i, left).value(),
    )
}

/// The arrays at `at`, `na` and `nb` elements long, grouped as the walk over their values
/// groups them, and how many values differ: the elements both have compared by `element`
/// (at the element's path) a part at a time side by side, then each element past the end
/// of the shorter array one difference covering `size` values, `value` its example.
fn array_diff<'p>(
    file: &'p str,
    at: &str,
    (na, nb): (usize, usize),
    (policy, builder): (&'p Policy, Builder),
    element: impl Fn(&mut String, usize, &dyn Closeness, &mut Groups) -> usize + Sync,
    size: impl Fn(usize, bool) -> usize,
    value: impl Fn(usize, bool) -> Value,
) -> (Groups<'p>, usize) {
    let tol = policy.tolerances(file);
    let mut parts = in_parts(file, (policy, builder), na.min(nb), |path, i, g| {
        path.push_str(at);
        push_index(path, i);
        element(path, i, &tol, g)
    });
    let mut g = Groups::new(file, policy, builder);
    let differing = tails(&mut at.to_string(), (na, nb), &mut g, size, value);
    parts.push((g, differing));
    Groups::fold(parts).expect("the tails part")
}

/// `element(path, i, groups)` for `i` in `0..n`, in parts of [`PER_PART`] diffed side by
/// side (`path` comes empty); each part's groups and values that differ, in order.
fn in_parts<'p>(
    file: &'p str,
    (policy, builder): (&'p Policy, Builder),
    n: usize,
    element: impl Fn(&mut String, usize, &mut Groups<'p>) -> usize + Sync,
) -> Vec<(Groups<'p>, usize)> {
    let starts: Vec<usize> = (0..n).step_by(PER_PART).collect();
    starts
        .par_iter()
        .map(|&start| {
            let mut g = Groups::new(file, policy, builder);
            let mut differing = 0;
            let mut path = String::new();
            for i in start..(start + PER_PART).min(n) {
                path.clear();
                differing += element(&mut path, i, &mut g);
            }
            (g, differing)
        })
        .collect()
}

/// The elements of two lists at `path`, `na` and `nb` long, past the end of the shorter
/// one: each one difference covering `size(i, left)` values, `value(i, left)` its example
/// (built only for a pattern's first); returns the values that differ.
fn tails(
    path: &mut String,
    (na, nb): (usize, usize),
    g: &mut Groups,
    size: impl Fn(usize, bool) -> usize,
    value: impl Fn(usize, bool) -> Value,
) -> usize {
    let list = path.len();
    let mut differing = 0;
    for (i, left) in [(nb..na, true), (na..nb, false)]
        .into_iter()
        .flat_map(|(r, left)| r.map(move |i| (i, left)))
    {
        push_index(path, i);
        let n = size(i, left);
        g.add_only(path, n, || only(left, value(i, left)));
        differing += n;
        path.truncate(list);
    }
    differing
}

fn only(left: bool, value: Value) -> Change {
    if left {
        Change::OnlyLeft { value }
    } else {
        Change::OnlyRight { value }
    }
}

/// A record of an object or array of records (a call's metrics, a spike): the same
/// members, in the same order, in every record: scalars, then optionally a list of
/// strings.
pub(super) trait Record: Sync {
    const KEYS: &'static [&'static str];
    /// The key of the list of strings after the scalars, if the record has one.
    const LIST: Option<&'static str> = None;
    fn leaf(&self, j: usize) -> Leaf<'_>;
    fn list(&self) -> &[Text] {
        &[]
    }

    fn value(&self) -> Value {
        let mut m: serde_json::Map<String, Value> = Self::KEYS
            .iter()
            .enumerate()
            .map(|(j, k)| (k.to_string(), self.leaf(j).value()))
            .collect();
        if let Some(k) = Self::LIST {
            let list = self.list().iter().map(|s| Value::from(s.as_str()));
            m.insert(k.to_string(), list.collect());
        }
        Value::Object(m)
    }

    /// [`leaf_count`](super::value_diff::leaf_count) of [`Record::value`].
    fn leaves(&self) -> usize {
        let list = if Self::LIST.is_some() {
            self.list().len().max(1)
        } else {
            0
        };
        (Self::KEYS.len() + list).max(1)
    }
}

/// Two records at `path`, member by member; returns the values that differ. `sites`:
/// whether every record of the walk has a path of one pattern (each member then has its
/// site, [`Groups::add_at`]).
fn record_diff<R: Record>(
    path: &mut String,
    (x, y): (&R, &R),
    tol: &dyn Closeness,
    g: &mut Groups,
    sites: bool,
) -> usize {
    let mut differing = 0;
    let record = path.len();
    for (j, key) in R::KEYS.iter().enumerate() {
        push_key(path, key);
        let site = sites.then_some(j);
        differing += leaf_diff(path, (x.leaf(j), y.leaf(j)), tol, g, site);
        path.truncate(record);
    }
    if let Some(key) = R::LIST {
        push_key(path, key);
        let list = path.len();
        let (a, b) = (x.list(), y.list());
        for (j, (u, v)) in a.iter().zip(b).enumerate() {
            push_index(path, j);
            let site = sites.then_some(R::KEYS.len());
            differing += leaf_diff(path, (Leaf::Str(u), Leaf::Str(v)), tol, g, site);
            path.truncate(list);
        }
        let string = |j: usize, left| if left { &a[j] } else { &b[j] }.as_str().into();
        differing += tails(path, (a.len(), b.len()), g, |_, _| 1, string);
        path.truncate(record);
    }
    differing
}

/// The differences of the arrays of records at `at`, grouped as the walk over their
/// values groups them, and how many values differ.
pub(super) fn record_arrays<'p, R: Record>(
    file: &'p str,
    at: &str,
    a: &[R],
    b: &[R],
    policy: &'p Policy,
    builder: Builder,
) -> (Groups<'p>, usize) {
    let record = |i: usize, left: bool| if left { &a[i] } else { &b[i] };
    array_diff(
        file,
        at,
        (a.len(), b.len()),
        (policy, builder),
        // `at[*]`: every record's path has one pattern.
        |path, i, tol, g| record_diff(path, (&a[i], &b[i]), tol, g, true),
        |i, left| record(i, left).leaves(),
        |i, left| record(i, left).value(),
    )
}

/// [`leaf_count`](super::value_diff::leaf_count) of an array of records.
pub(super) fn record_array_leaves<R: Record>(a: &[R]) -> usize {
    if a.is_empty() {
        return 1;
    }
    a.iter().map(R::leaves).sum()
}

/// An object of records in document order, its keys as the drift compares them (renamed).
/// The keys are borrowed (at 100,000 requests a path's `node_metrics` has about a million).
pub(super) struct Records<'k, R> {
    entries: Vec<(&'k str, R)>,
    /// Key → place in `entries`, made on the first lookup that the same place in the other
    /// object does not answer (at a million keys about 40 MB, not needed when both objects
    /// list the same keys in the same order), or when the keys repeat.
    index: std::sync::OnceLock<FxHashMap<&'k str, usize>>,
}

impl<'k, R: Record> Records<'k, R> {
    /// `entries` in the order they are inserted into the JSON object: a key inserted again
    /// keeps its first place and takes the later record.
    pub(super) fn new(entries: impl IntoIterator<Item = (&'k str, R)>) -> Self {
        let entries: Vec<(&str, R)> = entries.into_iter().collect();
        let index = std::sync::OnceLock::new();
        if !repeats_a_key(&entries) {
            return Records { entries, index };
        }
        let mut out: Vec<(&str, R)> = Vec::with_capacity(entries.len());
        let mut places: FxHashMap<&str, usize> = FxHashMap::default();
        for (k, r) in entries {
            match places.entry(k) {
                std::collections::hash_map::Entry::Occupied(i) => out[*i.get()].1 = r,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(out.len());
                    out.push((k, r));
                }
            }
        }
        let _ = index.set(places);
        Records {
            entries: out,
            index,
        }
    }

    /// The index of the keys.
    fn index(&self) -> &FxHashMap<&'k str, usize> {
        self.index.get_or_init(|| {
            let keys = self.entries.iter().enumerate();
            keys.map(|(i, &(k, _))| (k, i)).collect()
        })
    }

    /// [`leaf_count`](super::value_diff::leaf_count) of the object.
    pub(super) fn leaves(&self) -> usize {
        if self.entries.is_empty() {
            return 1;
        }
        self.entries.iter().map(|(_, r)| r.leaves()).sum()
    }

    fn get(&self, i: usize, key: &str) -> Option<&R> {
        match self.entries.get(i) {
            Some((k, r)) if *k == key => Some(r),
            _ => self.index().get(key).map(|&j| &self.entries[j].1),
        }
    }
}

/// Whether a key of `entries` is there twice: their hashes sorted, equal neighbours'
/// keys compared (about a tenth of the memory of a map of them).
fn repeats_a_key<R>(entries: &[(&str, R)]) -> bool {
    use std::hash::BuildHasher;
    let hasher = rustc_hash::FxBuildHasher;
    let mut hashes: Vec<(u64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (hasher.hash_one(k), i))
        .collect();
    hashes.sort_unstable();
    hashes.chunk_by(|a, b| a.0 == b.0).any(|same| {
        same.len() > 1
            && same
                .iter()
                .enumerate()
                .any(|(n, &(_, i))| same[..n].iter().any(|&(_, j)| entries[i].0 == entries[j].0))
    })
}

/// The differences of the objects of records at `at`, grouped as the walk over their
/// values groups them, and how many values differ.
pub(super) fn records<'p, R: Record>(
    file: &'p str,
    at: &str,
    a: &Records<R>,
    b: &Records<R>,
    policy: &'p Policy,
    builder: Builder,
) -> (Groups<'p>, usize) {
    let tol = policy.tolerances(file);
    let mut parts = in_parts(file, (policy, builder), a.entries.len(), |path, i, g| {
        let &(k, ref x) = &a.entries[i];
        path.push_str(at);
        push_key(path, k);
        let Some(y) = b.get(i, k) else {
            let n = x.leaves();
            g.add_only(path, n, || Change::OnlyLeft { value: x.value() });
            return n;
        };
        // A key the pattern stars (a number, a renamed UUID) is a record path of one pattern.
        record_diff(path, (x, y), &tol, g, super::starred(k))
    });
    // The right object's records the left one lacks.
    let mut g = Groups::new(file, policy, builder);
    let mut differing = 0;
    let mut path = String::new();
    for (i, &(k, ref y)) in b.entries.iter().enumerate() {
        let same_place = a.entries.get(i).is_some_and(|&(ak, _)| ak == k);
        if !same_place && !a.index().contains_key(k) {
            path.clear();
            path.push_str(at);
            push_key(&mut path, k);
            let n = y.leaves();
            g.add_only(&path, n, || Change::OnlyRight { value: y.value() });
            differing += n;
        }
    }
    parts.push((g, differing));
    Groups::fold(parts).expect("the right-only part")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::json_groups;
    use crate::drift::value_diff::leaf_count;
    use proptest::prelude::*;

    #[test]
    fn a_repeated_key_is_found_wherever_it_is() {
        let entries = |keys: &[&'static str]| -> Vec<(&'static str, ())> {
            keys.iter().map(|&k| (k, ())).collect()
        };
        assert!(!repeats_a_key(&entries(&[])));
        assert!(!repeats_a_key(&entries(&["U1", "U2", "u1", "a"])));
        assert!(repeats_a_key(&entries(&["U1", "U2", "U1"])));
        assert!(repeats_a_key(&entries(&["x", "a", "b", "c", "d", "x"])));
    }

    fn leaf() -> impl Strategy<Value = Leaf<'static>> {
        prop_oneof![
            3 => (-2i64..2).prop_map(Leaf::Int),
            3 => (-2i32..2).prop_map(|x| Leaf::Float(f64::from(x))),
            1 => Just(Leaf::Float(0.5)),
            1 => Just(Leaf::Float(f64::NAN)),
            1 => Just(Leaf::Float(f64::INFINITY)),
            2 => prop_oneof![Just("a"), Just("b"), Just("1"), Just("nan")].prop_map(Leaf::Str),
        ]
    }

    impl Lane for Vec<Leaf<'static>> {
        fn len(&self) -> usize {
            self.len()
        }
        fn leaf(&self, j: usize) -> Leaf<'_> {
            self[j]
        }
    }

    #[derive(Debug, Clone)]
    struct Rec([Leaf<'static>; 2]);

    impl Record for Rec {
        const KEYS: &'static [&'static str] = &["x", "y"];
        fn leaf(&self, j: usize) -> Leaf<'_> {
            self.0[j]
        }
    }

    /// A record with a list of strings after its scalars.
    #[derive(Debug, Clone)]
    struct Listed(Leaf<'static>, Vec<Text>);

    impl Record for Listed {
        const KEYS: &'static [&'static str] = &["x"];
        const LIST: Option<&'static str> = Some("l");
        fn leaf(&self, _: usize) -> Leaf<'_> {
            self.0
        }
        fn list(&self) -> &[Text] {
            &self.1
        }
    }

    fn listed() -> impl Strategy<Value = Listed> {
        let s = prop_oneof![Just("a"), Just("b"), Just("1")].prop_map(Text::from);
        (leaf(), prop::collection::vec(s, 0..3)).prop_map(|(x, l)| Listed(x, l))
    }

    /// A policy with a file tolerance, a tolerance by path (row or key 1 only) and a
    /// threshold, so the paths the tolerances are asked at and the counts matter.
    fn policy(rel: f64) -> Policy {
        Policy::from_toml(&format!(
            "[tolerance.files.\"t.json\"]\nrel = {rel:?}\n\
             [[tolerance.paths]]\npattern = \"*1*\"\nabs = 1.0\n\
             [[threshold]]\npattern = \"t.json:a.b*\"\nmax_values_pct = 20.0\n"
        ))
        .unwrap()
    }

    /// The walk's groups of `a` and `b` placed at `a.b`.
    fn walked(a: Value, b: Value, policy: &Policy) -> (Vec<super::super::PatternDrift>, usize) {
        let at = |v: Value| serde_json::json!({"a": {"b": v}});
        let (a, b) = (at(a), at(b));
        let compared = leaf_count(&a).max(leaf_count(&b));
        let (g, n) = json_groups("t.json", &a, &b, policy, Builder::Pr1751);
        (g.finish(compared), n)
    }

    proptest! {
        #[test]
        fn arrays_drift_as_their_values(
            a in prop::collection::vec(prop::collection::vec(leaf(), 0..4), 0..5),
            b in prop::collection::vec(prop::collection::vec(leaf(), 0..4), 0..5),
            rel in prop_oneof![Just(0.0), Just(0.5)],
        ) {
            let policy = policy(rel);
            let value = |m: &[Vec<Leaf<'static>>]| Value::Array(m.iter().map(Lane::value).collect());
            let (av, bv) = (value(&a), value(&b));
            prop_assert_eq!(array_leaves(a.len(), |i| a[i].clone()), leaf_count(&av));
            let compared = leaf_count(&av).max(leaf_count(&bv)) ;
            let (g, n) = arrays("t.json", "a.b", a.len(), |i| a[i].clone(), b.len(), |i| b[i].clone(), &policy, Builder::Pr1751);
            // As text: a difference of "nan" strings is NaN, which equals nothing.
            prop_assert_eq!(format!("{:?}", (g.finish(compared), n)), format!("{:?}", walked(av, bv, &policy)));
        }

        #[test]
        fn record_arrays_drift_as_their_values(
            a in prop::collection::vec(listed(), 0..4),
            b in prop::collection::vec(listed(), 0..4),
            rel in prop_oneof![Just(0.0), Just(0.5)],
        ) {
            let policy = policy(rel);
            let value = |v: &[Listed]| Value::Array(v.iter().map(Record::value).collect());
            let (av, bv) = (value(&a), value(&b));
            prop_assert_eq!(record_array_leaves(&a), leaf_count(&av));
            let compared = leaf_count(&av).max(leaf_count(&bv));
            let (g, n) = record_arrays("t.json", "a.b", &a, &b, &policy, Builder::Pr1751);
            prop_assert_eq!(format!("{:?}", (g.finish(compared), n)), format!("{:?}", walked(av, bv, &policy)));
        }

        #[test]
        fn records_drift_as_their_values(
            a in prop::collection::vec((prop_oneof![Just("1"), Just("k"), Just("U2"), Just("z")], leaf(), leaf()), 0..5),
            b in prop::collection::vec((prop_oneof![Just("1"), Just("k"), Just("U2"), Just("z")], leaf(), leaf()), 0..5),
            rel in prop_oneof![Just(0.0), Just(0.5)],
        ) {
            let policy = policy(rel);
            let recs = |v: &[(&'static str, Leaf<'static>, Leaf<'static>)]| {
                Records::new(v.iter().map(|&(k, x, y)| (k, Rec([x, y]))))
            };
            // Inserted into an object as `to_json` does (a repeated key keeps its place).
            let value = |v: &[(&'static str, Leaf<'static>, Leaf<'static>)]| {
                let mut m = serde_json::Map::new();
                for &(k, x, y) in v {
                    m.insert(k.to_string(), Rec([x, y]).value());
                }
                Value::Object(m)
            };
            let (ra, rb) = (recs(&a), recs(&b));
            let (av, bv) = (value(&a), value(&b));
            prop_assert_eq!(ra.leaves(), leaf_count(&av));
            let compared = leaf_count(&av).max(leaf_count(&bv));
            let (g, n) = records("t.json", "a.b", &ra, &rb, &policy, Builder::Pr1751);
            // As text: a difference of "nan" strings is NaN, which equals nothing.
            prop_assert_eq!(format!("{:?}", (g.finish(compared), n)), format!("{:?}", walked(av, bv, &policy)));
        }
    }
}
