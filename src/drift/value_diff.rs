//! Path-addressed differences between two JSON values (deepdiff-style): value changes
//! (numbers within a tolerance), type changes, and keys or items on one side only.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Numeric tolerance: two numbers are equal when `|a-b| <= abs` or `|a-b| <= rel·max(|a|,|b|)`.
/// Integers against integers are always compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerance {
    /// Largest absolute difference that counts as equal.
    pub abs: f64,
    /// Largest difference relative to the larger magnitude that counts as equal.
    pub rel: f64,
}

impl Tolerance {
    /// Only equal numbers are equal.
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// Whether `a` and `b` are equal within this tolerance (NaN equals NaN).
    pub fn close(&self, a: f64, b: f64) -> bool {
        if a == b || (a.is_nan() && b.is_nan()) {
            return true;
        }
        let d = (a - b).abs();
        d <= self.abs || d <= self.rel * a.abs().max(b.abs())
    }
}

/// Which two numbers at a path count as equal: a [`Tolerance`] per path (any
/// `Fn(&str) -> Tolerance`), or something that decides faster (`policy::FileTolerances`).
pub trait Closeness {
    /// Whether `a` and `b` at `path` count as equal.
    fn close(&self, path: &str, a: f64, b: f64) -> bool;
}

impl<F: Fn(&str) -> Tolerance> Closeness for F {
    fn close(&self, path: &str, a: f64, b: f64) -> bool {
        self(path).close(a, b)
    }
}

/// What changed at a path: a value, a type, or a member on one side only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Same type, different value.
    Value {
        /// The left side's value.
        left: Value,
        /// The right side's value.
        right: Value,
    },
    /// Different JSON types (an int `0` against a float `0.0` counts here).
    Type {
        /// The left side's value.
        left: Value,
        /// The right side's value.
        right: Value,
    },
    /// Present only on the left.
    OnlyLeft {
        /// The value.
        value: Value,
    },
    /// Present only on the right.
    OnlyRight {
        /// The value.
        value: Value,
    },
}

/// One difference between two JSON values: where, and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// e.g. `confidence_intervals.llm_latency_confidence_intervals.p95`, `steps[3].message`.
    pub path: String,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every difference between `left` and `right`, in document order.
pub fn diff(left: &Value, right: &Value, tol: Tolerance) -> Vec<Difference> {
    diff_with(left, right, &|_: &str| tol)
}

/// [`diff`] with a tolerance chosen per path (e.g. absolute for timestamps). The tolerance is
/// asked for only where two numbers differ; paths are built in one reused buffer and copied
/// only for differences.
pub(crate) fn diff_with(left: &Value, right: &Value, tol: &dyn Closeness) -> Vec<Difference> {
    let mut out = Vec::new();
    visit(left, right, tol, &mut |path, change| {
        out.push(Difference {
            path: path.to_string(),
            change: change.to_owned(),
        })
    });
    out
}

/// A difference as [`visit`] sees it: borrowing both sides, nothing copied.
#[derive(Debug, Clone, Copy)]
pub enum ChangeRef<'a> {
    /// Same type, different value.
    Value(&'a Value, &'a Value),
    /// Different JSON types.
    Type(&'a Value, &'a Value),
    /// Present only on the left.
    OnlyLeft(&'a Value),
    /// Present only on the right.
    OnlyRight(&'a Value),
}

impl ChangeRef<'_> {
    /// The owned [`Change`] (the values copied).
    pub fn to_owned(self) -> Change {
        match self {
            ChangeRef::Value(l, r) => Change::Value {
                left: l.clone(),
                right: r.clone(),
            },
            ChangeRef::Type(l, r) => Change::Type {
                left: l.clone(),
                right: r.clone(),
            },
            ChangeRef::OnlyLeft(v) => Change::OnlyLeft { value: v.clone() },
            ChangeRef::OnlyRight(v) => Change::OnlyRight { value: v.clone() },
        }
    }

    /// Values this difference covers: a changed scalar counts once, a subtree on one side
    /// only (or replaced by another type) counts all its values.
    pub fn values(self) -> usize {
        match self {
            ChangeRef::Value(l, r) | ChangeRef::Type(l, r) => leaf_count(l).max(leaf_count(r)),
            ChangeRef::OnlyLeft(v) | ChangeRef::OnlyRight(v) => leaf_count(v),
        }
    }
}

/// Every difference between `left` and `right`, in document order, given to `f` with its
/// path (`a.b[2].c`) instead of collected: the drift engine aggregates millions of them.
pub fn visit(
    left: &Value,
    right: &Value,
    tol: &dyn Closeness,
    f: &mut dyn FnMut(&str, ChangeRef<'_>),
) {
    let mut path = String::new();
    walk(left, right, &mut path, tol, f);
}

/// What a walk calls at each difference: its path and the change.
pub type OnChange<'f> = dyn FnMut(&str, ChangeRef<'_>) + 'f;

type Members<'a> = Vec<(&'a String, &'a Value)>;

/// A piece of a walk over two values. [`split`] cuts a walk into pieces, in document order;
/// visiting the pieces in that order ([`visit_part`]) gives the differences, paths included,
/// that [`visit`] gives, so the pieces can be visited side by side and their results joined
/// in order.
#[derive(Debug)]
pub enum Part<'a> {
    /// Everything under `path`.
    Walk(String, &'a Value, &'a Value),
    /// These members of the left object at `path`, each against the right object's (the
    /// right object's members at the same positions first, then the right object).
    Members(String, Members<'a>, Members<'a>, &'a Map),
    /// The members of the right object at `path` that the left one lacks.
    RightOnly(
        String,
        &'a serde_json::Map<String, Value>,
        &'a serde_json::Map<String, Value>,
    ),
    /// Elements `range` of both arrays at `path` (within the shorter one).
    Elements(String, &'a [Value], &'a [Value], std::ops::Range<usize>),
    /// The elements past the end of the shorter array at `path`.
    Tails(String, &'a [Value], &'a [Value]),
}

/// Cut the walk of `left` against `right` into pieces: objects and arrays are opened down
/// to `depth` levels; members and elements of larger ones are taken `chunk` at a time.
pub fn split<'a>(left: &'a Value, right: &'a Value, depth: usize, chunk: usize) -> Vec<Part<'a>> {
    let mut out = Vec::new();
    split_into(left, right, String::new(), depth, chunk.max(1), &mut out);
    out
}

fn split_into<'a>(
    l: &'a Value,
    r: &'a Value,
    path: String,
    depth: usize,
    chunk: usize,
    out: &mut Vec<Part<'a>>,
) {
    match (l, r) {
        (Value::Object(a), Value::Object(b)) if depth > 0 => {
            if a.len() <= chunk {
                for (k, x) in a {
                    match b.get(k) {
                        Some(y) => {
                            let mut p = path.clone();
                            push_key(&mut p, k);
                            split_into(x, y, p, depth - 1, chunk, out);
                        }
                        None => out.push(Part::Members(path.clone(), vec![(k, x)], vec![], b)),
                    }
                }
            } else {
                let members: Members = a.iter().collect();
                let same_place: Members = b.iter().collect();
                for (i, c) in members.chunks(chunk).enumerate() {
                    let at = (i * chunk).min(same_place.len());
                    let end = (at + chunk).min(same_place.len());
                    out.push(Part::Members(
                        path.clone(),
                        c.to_vec(),
                        same_place[at..end].to_vec(),
                        b,
                    ));
                }
            }
            out.push(Part::RightOnly(path, a, b));
        }
        (Value::Array(a), Value::Array(b)) if depth > 0 => {
            let n = a.len().min(b.len());
            if n <= chunk {
                for i in 0..n {
                    let mut p = path.clone();
                    push_index(&mut p, i);
                    split_into(&a[i], &b[i], p, depth - 1, chunk, out);
                }
            } else {
                for start in (0..n).step_by(chunk) {
                    out.push(Part::Elements(
                        path.clone(),
                        a,
                        b,
                        start..(start + chunk).min(n),
                    ));
                }
            }
            out.push(Part::Tails(path, a, b));
        }
        _ => out.push(Part::Walk(path, l, r)),
    }
}

/// The differences of one piece of a walk, as [`visit`] gives them.
pub fn visit_part<'a>(part: &Part<'a>, tol: &dyn Closeness, f: &mut OnChange) {
    match part {
        Part::Walk(path, l, r) => walk(l, r, &mut path.clone(), tol, f),
        Part::Members(path, m, same_place, b) => members(
            m.iter().copied(),
            same_place.iter().copied(),
            b,
            &mut path.clone(),
            tol,
            f,
        ),
        Part::RightOnly(path, a, b) => right_only(a, b, &mut path.clone(), f),
        Part::Elements(path, a, b, range) => {
            elements(a, b, range.clone(), &mut path.clone(), tol, f)
        }
        Part::Tails(path, a, b) => tails(a, b, &mut path.clone(), f),
    }
}

/// Append `.key` (or `key` at the root) to `path`; returns the length to restore.
pub(super) fn push_key(path: &mut String, key: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    len
}

/// Append `[i]` to `path`; returns the length to restore.
pub(super) fn push_index(path: &mut String, i: usize) -> usize {
    let len = path.len();
    path.push('[');
    path.push_str(itoa::Buffer::new().format(i));
    path.push(']');
    len
}

fn walk<'a>(
    l: &'a Value,
    r: &'a Value,
    path: &mut String,
    tol: &dyn Closeness,
    f: &mut dyn FnMut(&str, ChangeRef<'a>),
) {
    match (l, r) {
        (Value::Object(a), Value::Object(b)) => {
            members(a.iter(), b.iter(), b, path, tol, f);
            right_only(a, b, path, f);
        }
        (Value::Array(a), Value::Array(b)) => {
            elements(a, b, 0..a.len().min(b.len()), path, tol, f);
            tails(a, b, path, f);
        }
        _ if kind(l) != kind(r) => f(path, ChangeRef::Type(l, r)),
        (Value::Number(a), Value::Number(b)) => {
            let equal = match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => {
                    let (x, y) = (
                        a.as_f64().unwrap_or(f64::NAN),
                        b.as_f64().unwrap_or(f64::NAN),
                    );
                    x == y || (x.is_nan() && y.is_nan()) || tol.close(path, x, y)
                }
            };
            if !equal {
                f(path, ChangeRef::Value(l, r));
            }
        }
        _ if l != r => f(path, ChangeRef::Value(l, r)),
        _ => {}
    }
}

type Map = serde_json::Map<String, Value>;

/// These members of the left object, each against the right object's. `same_place` is the
/// right object's members at the same positions: when the key there is the same (two
/// outputs of one schema, or keys renamed in the same order) the member is taken from
/// there, else looked up (`Map`'s SipHash, which the millions of members of a large
/// output would otherwise each pay).
fn members<'a>(
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    mut same_place: impl Iterator<Item = (&'a String, &'a Value)>,
    b: &'a Map,
    path: &mut String,
    tol: &dyn Closeness,
    f: &mut dyn FnMut(&str, ChangeRef<'a>),
) {
    for (k, x) in members {
        let len = push_key(path, k);
        let y = match same_place.next() {
            Some((bk, y)) if bk == k => Some(y),
            _ => b.get(k),
        };
        match y {
            Some(y) => walk(x, y, path, tol, f),
            None => f(path, ChangeRef::OnlyLeft(x)),
        }
        path.truncate(len);
    }
}

/// The right object's members that the left one lacks (a key at the same position in both
/// is in both without a lookup).
fn right_only<'a>(a: &Map, b: &'a Map, path: &mut String, f: &mut dyn FnMut(&str, ChangeRef<'a>)) {
    let mut same_place = a.keys();
    for (k, y) in b {
        if same_place.next() != Some(k) && !a.contains_key(k) {
            let len = push_key(path, k);
            f(path, ChangeRef::OnlyRight(y));
            path.truncate(len);
        }
    }
}

/// Elements `range` of both arrays (within the shorter one).
fn elements<'a>(
    a: &'a [Value],
    b: &'a [Value],
    range: std::ops::Range<usize>,
    path: &mut String,
    tol: &dyn Closeness,
    f: &mut dyn FnMut(&str, ChangeRef<'a>),
) {
    for i in range {
        let len = push_index(path, i);
        walk(&a[i], &b[i], path, tol, f);
        path.truncate(len);
    }
}

/// The elements past the end of the shorter array.
fn tails<'a>(
    a: &'a [Value],
    b: &'a [Value],
    path: &mut String,
    f: &mut dyn FnMut(&str, ChangeRef<'a>),
) {
    for (i, x) in a.iter().enumerate().skip(b.len()) {
        let len = push_index(path, i);
        f(path, ChangeRef::OnlyLeft(x));
        path.truncate(len);
    }
    for (i, y) in b.iter().enumerate().skip(a.len()) {
        let len = push_index(path, i);
        f(path, ChangeRef::OnlyRight(y));
        path.truncate(len);
    }
}

/// Number of leaf values (scalars) in a JSON value; an empty container counts as one.
pub fn leaf_count(v: &Value) -> usize {
    match v {
        Value::Array(a) if !a.is_empty() => a.iter().map(leaf_count).sum(),
        Value::Object(m) if !m.is_empty() => m.values().map(leaf_count).sum(),
        _ => 1,
    }
}

/// How many leaf values differ: a changed scalar counts once, a subtree on one side only
/// (or replaced by another type) counts all its values.
pub fn differing_values(left: &Value, right: &Value, tol: Tolerance) -> usize {
    let mut n = 0;
    visit(left, right, &|_: &str| tol, &mut |_, c| n += c.values());
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_kinds() {
        let a = json!({"x": {"p90": 1.0, "n": 3, "z": 0}, "l": [1, 2], "only": true});
        let b = json!({"x": {"p90": 1.0 + 1e-12, "n": 4, "z": 0.0}, "l": [1], "new": null});
        let d = diff(
            &a,
            &b,
            Tolerance {
                abs: 0.0,
                rel: 1e-9,
            },
        );
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["x.n", "x.z", "l[1]", "only", "new"]);
        assert!(matches!(d[1].change, Change::Type { .. }));
        assert!(diff(&a, &a, Tolerance::EXACT).is_empty());
    }

    /// Small JSON values whose keys and shapes overlap often.
    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            (0i64..3).prop_map(Value::from),
            (0.0f64..2.0).prop_map(Value::from),
            "[ab]".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[k-o]", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The walk's specification: members found by key, right-only members after them.
    fn by_lookup(l: &Value, r: &Value, path: String, out: &mut Vec<(String, Change)>) {
        let key = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match (l, r) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, x) in a {
                    match b.get(k) {
                        Some(y) => by_lookup(x, y, key(k), out),
                        None => out.push((key(k), Change::OnlyLeft { value: x.clone() })),
                    }
                }
                for (k, y) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                    out.push((key(k), Change::OnlyRight { value: y.clone() }));
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                for i in 0..a.len().max(b.len()) {
                    let p = format!("{path}[{i}]");
                    match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => by_lookup(x, y, p, out),
                        (Some(x), None) => out.push((p, Change::OnlyLeft { value: x.clone() })),
                        (None, Some(y)) => out.push((p, Change::OnlyRight { value: y.clone() })),
                        (None, None) => unreachable!(),
                    }
                }
            }
            _ => {
                let mut d = diff(l, r, Tolerance { abs: 0.0, rel: 0.5 });
                out.extend(d.pop().map(|d| (path, d.change)));
            }
        }
    }

    proptest::proptest! {
        /// The walk (which pairs members by position where the keys agree) gives the
        /// differences of lookups by key, in the same order.
        #[test]
        fn walk_is_lookup_by_key(a in json(), b in json()) {
            let mut want = Vec::new();
            by_lookup(&a, &b, String::new(), &mut want);
            let got: Vec<_> = diff(&a, &b, Tolerance { abs: 0.0, rel: 0.5 })
                .into_iter()
                .map(|d| (d.path, d.change))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// Pieces visited in order give exactly the differences of one walk.
        #[test]
        fn pieces_in_order_are_one_walk(
            a in json(), b in json(), depth in 0usize..4, chunk in 1usize..4,
        ) {
            let tol = |_: &str| Tolerance { abs: 0.0, rel: 0.5 };
            let mut whole = Vec::new();
            visit(&a, &b, &tol, &mut |p, c| whole.push((p.to_string(), c.to_owned())));
            let mut pieces = Vec::new();
            for part in split(&a, &b, depth, chunk) {
                visit_part(&part, &tol, &mut |p, c| pieces.push((p.to_string(), c.to_owned())));
            }
            proptest::prop_assert_eq!(pieces, whole);
        }
    }
}
