//! The drift of `forecast.json`, its training matrices and forecasts compared as numbers.
//!
//! `X` and `Y` are most of the file: at 100,000 requests 2 × 10.8M cells per path, which as
//! JSON values took 3 GB beside the frames, and most of the stage's time. Each path's
//! matrices are kept as the `f64`s they are built from, and compared cell by cell as the
//! walk over the written values compares them: the same paths, the same kind of change
//! (an int64 cell against a float64 one is a type change), the same tolerance and counts.
//! `forecasts` (a record per request) is compared so too, record by record. The rest of the
//! file is compared as JSON. The result is the whole files' (checked in the tests below, and
//! by the 10k and corpus reports being unchanged).

use rayon::prelude::*;
use serde_json::Value;

use super::typed::{self, array_leaves, Lane, Leaf};
use super::value_diff::leaf_count;
use super::{
    both_paths, diff_json, json_groups, normalize_json, Groups, OutputDrift, Paths, Policy,
};
use crate::frame::from_atif::Builder;
use crate::frame::Frame;
use crate::profile::forecast::{forecast_parts, Forecast, Matrices, MatrixOf, MatrixRow, Parts};

const FILE: &str = "forecast.json";

/// One path's `forecast.json` as the drift compares it: the rest of the file normalized, the
/// matrices when NAT builds them, and the forecasts.
fn side(frame: &Frame, flavor: crate::profile::Flavor) -> Parts {
    let mut parts = forecast_parts(frame, flavor);
    normalize_json(&mut parts.doc);
    parts
}

/// A `forecasts` entry: its members in the file's order, `next_call`'s three inside it.
impl typed::Record for Forecast {
    const KEYS: &'static [&'static str] = &[
        "request",
        "llm_calls",
        "next_call.seconds_between_calls",
        "next_call.prompt_tokens",
        "next_call.completion_tokens",
        "runtime_s",
    ];

    fn leaf(&self, j: usize) -> Leaf<'_> {
        match j {
            0 => Leaf::Int(self.request as i64),
            1 => Leaf::Int(self.llm_calls as i64),
            2..=4 => Leaf::Float(self.next_call[j - 2]),
            _ => Leaf::Float(self.runtime_s),
        }
    }

    fn value(&self) -> Value {
        Forecast::value(self)
    }
}

/// Per builder, the drift of `forecast.json`; `None` when the forecast is off or a frame
/// is empty (the unit-by-unit path handles those).
pub(super) fn drift(paths: &Paths) -> Option<Vec<OutputDrift>> {
    if !paths.cfg.token_usage_forecast || paths.any_empty() {
        return None;
    }
    let (builders, policy) = (paths.builders, paths.policy);
    let (left, rights) = both_paths(paths, |f, p| side(f, p.flavor()));
    Some(
        rights
            .par_iter()
            .zip(builders)
            .map(|(right, &b)| side_drift(&left, right, policy, b))
            .collect(),
    )
}

fn side_drift(l: &Parts, r: &Parts, policy: &Policy, builder: Builder) -> OutputDrift {
    let (Some(lm), Some(rm)) = (&l.mats, &r.mats) else {
        return diff_json(FILE, &l.whole(), &r.whole(), policy, builder);
    };
    let (doc, (matrices, forecasts)) = rayon::join(
        || json_groups(FILE, &l.doc, &r.doc, policy, builder),
        || {
            rayon::join(
                || {
                    [("X", Matrices::x as MatrixOf), ("Y", Matrices::y)]
                        .into_par_iter()
                        .map(|(name, row)| {
                            matrix_groups(name, rows(lm, row), rows(rm, row), policy, builder)
                        })
                        .collect::<Vec<_>>()
                },
                || {
                    let (a, b) = (&l.forecasts, &r.forecasts);
                    typed::record_arrays(FILE, "forecasts", a, b, policy, builder)
                },
            )
        },
    );
    // Document order: `X` and `Y` come after `n_samples`, `forecasts` last; their patterns
    // are theirs alone, so the order of the folds only keeps each pattern's first example
    // first.
    let parts = std::iter::once(doc).chain(matrices).chain([forecasts]);
    let (groups, differing) = Groups::fold(parts).expect("the document part");
    let leaves = |s: &Parts, m: &Matrices| {
        let matrix = |row: MatrixOf| {
            let (n, cells) = rows(m, row);
            array_leaves(n, cells)
        };
        leaf_count(&s.doc)
            + matrix(Matrices::x)
            + matrix(Matrices::y)
            + typed::record_array_leaves(&s.forecasts)
    };
    let compared = leaves(l, lm).max(leaves(r, rm));
    OutputDrift {
        file: FILE.into(),
        compared,
        differing,
        patterns: groups.finish(compared),
    }
}

/// Matrix `row` of `m` (`X` or `Y`): its rows, and its row `i`'s cells.
fn rows<'m>(
    m: &'m Matrices,
    row: MatrixOf,
) -> (usize, impl Fn(usize) -> Cells<MatrixRow<'m>> + Sync + 'm) {
    (m.samples(), move |i| Cells(row(m, i), m.integer))
}

/// A matrix row's cells (a row of [`Matrices`], or a slice of them in the tests).
trait MatrixCells {
    fn len(&self) -> usize;
    fn get(&self, j: usize) -> f64;
}

impl MatrixCells for MatrixRow<'_> {
    fn len(&self) -> usize {
        MatrixRow::len(self)
    }

    fn get(&self, j: usize) -> f64 {
        MatrixRow::get(self, j)
    }
}

impl MatrixCells for &[f64] {
    fn len(&self) -> usize {
        <[f64]>::len(self)
    }

    fn get(&self, j: usize) -> f64 {
        self[j]
    }
}

/// A matrix row: its cells, integers or not.
struct Cells<C>(C, bool);

impl<C: MatrixCells> Lane for Cells<C> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn leaf(&self, j: usize) -> Leaf<'_> {
        let v = self.0.get(j);
        if self.1 {
            Leaf::Int(v as i64)
        } else {
            Leaf::Float(v)
        }
    }
}

/// The differences of matrix `name` (a member of the root) of `(rows, row i)` on each side,
/// grouped as the JSON walk over their [`cells`](crate::profile::forecast::cells) groups
/// them, and how many values differ.
fn matrix_groups<'a, C: MatrixCells>(
    name: &str,
    (na, a): (usize, impl Fn(usize) -> Cells<C> + Sync),
    (nb, b): (usize, impl Fn(usize) -> Cells<C> + Sync),
    policy: &'a Policy,
    builder: Builder,
) -> (Groups<'a>, usize) {
    typed::arrays(FILE, name, na, a, nb, b, policy, builder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProfilerConfig;
    use crate::drift::testing::{corpus_frames, paths, whole_files_drift};
    use crate::profile::forecast::cells;
    use crate::profile::Unit;
    use proptest::prelude::*;

    #[test]
    fn typed_matrices_drift_as_the_whole_files() {
        let cfg = ProfilerConfig::all_on();
        let policy = Policy::default();
        let builders = [Builder::Pr1751, Builder::Faithful];
        let mut compared_matrices = false;
        for item in ["nested_trip_planner", "react_calculator", "sample"] {
            let (ist, frames) = corpus_frames(item, &builders, &cfg);
            let got =
                drift(&paths((&ist, &frames), &builders, &cfg, &policy)).expect("frames with rows");
            let want = whole_files_drift((&ist, &frames), &builders, &cfg, &policy, Unit::Forecast);
            for ((got, want), b) in got.into_iter().zip(want).zip(&builders) {
                compared_matrices |= want[0]
                    .patterns
                    .iter()
                    .any(|p| p.pattern.contains("X[*][*]"));
                assert_eq!(vec![got], want, "{item} {b:?}");
            }
        }
        assert!(compared_matrices, "a case where the matrices differ");
    }

    /// A matrix of rows of cells: its rows, and its row `i`'s cells.
    fn slices<'m>(
        m: &'m (Vec<Vec<f64>>, bool),
    ) -> (usize, impl Fn(usize) -> Cells<&'m [f64]> + Sync + 'm) {
        (m.0.len(), move |i| Cells(m.0[i].as_slice(), m.1))
    }

    /// Small matrices, int64 or float64, with NaN and infinities, rows of any length.
    fn matrix() -> impl Strategy<Value = (Vec<Vec<f64>>, bool)> {
        let v = prop_oneof![
            4 => (-3i32..3).prop_map(f64::from),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(0.5),
        ];
        (
            prop::collection::vec(prop::collection::vec(v, 0..4), 0..5),
            any::<bool>(),
        )
    }

    /// A few forecasts: integers, floats (NaN and infinities among them), any count.
    fn forecasts() -> impl Strategy<Value = Vec<Forecast>> {
        let v = prop_oneof![
            4 => (-3i32..3).prop_map(f64::from),
            1 => Just(f64::NAN),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(0.5),
        ];
        let forecast = (0usize..3, 0usize..3, [v.clone(), v.clone(), v.clone()], v).prop_map(
            |(request, llm_calls, next_call, runtime_s)| Forecast {
                request,
                llm_calls,
                next_call,
                runtime_s,
            },
        );
        prop::collection::vec(forecast, 0..4)
    }

    proptest! {
        #[test]
        fn matrix_cells_drift_as_their_values(a in matrix(), b in matrix(), rel in prop_oneof![Just(0.0), Just(0.5)]) {
            // A file tolerance, one by path (row 1 only), and a threshold.
            let policy = Policy::from_toml(&format!(
                "[tolerance.files.\"forecast.json\"]\nrel = {rel:?}\n\
                 [[tolerance.paths]]\npattern = \"X\\\\[1\\\\]*\"\nabs = 1.0\n\
                 [[threshold]]\npattern = \"forecast.json:X*\"\nmax_values_pct = 20.0\n"
            ))
            .unwrap();
            let b_ = Builder::Pr1751;
            let finish = |(g, n): (Groups, usize), compared| (g.finish(compared), n);
            let (av, bv) = (cells(a.0.clone(), a.1), cells(b.0.clone(), b.1));
            let compared = leaf_count(&av).max(leaf_count(&bv));
            prop_assert_eq!(
                leaf_count(&av),
                array_leaves(a.0.len(), |i| Cells(a.0[i].as_slice(), a.1))
            );
            let doc = |m: Value| {
                Value::Object(std::iter::once(("X".to_string(), m)).collect())
            };
            let want = finish(json_groups(FILE, &doc(av), &doc(bv), &policy, b_), compared);
            let got = finish(matrix_groups("X", slices(&a), slices(&b), &policy, b_), compared);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn forecasts_drift_as_their_values(a in forecasts(), b in forecasts(), rel in prop_oneof![Just(0.0), Just(0.5)]) {
            // A file tolerance, one by path (entry 1's next call only), and a threshold.
            let policy = Policy::from_toml(&format!(
                "[tolerance.files.\"forecast.json\"]\nrel = {rel:?}\n\
                 [[tolerance.paths]]\npattern = \"forecasts\\\\[1\\\\].next_call*\"\nabs = 1.0\n\
                 [[threshold]]\npattern = \"forecast.json:forecasts*\"\nmax_values_pct = 20.0\n"
            ))
            .unwrap();
            let b_ = Builder::Pr1751;
            let finish = |(g, n): (Groups, usize), compared| (g.finish(compared), n);
            let doc = |f: &[Forecast]| {
                let list = Value::Array(f.iter().map(Forecast::value).collect());
                Value::Object(std::iter::once(("forecasts".to_string(), list)).collect())
            };
            let (av, bv) = (doc(&a), doc(&b));
            prop_assert_eq!(leaf_count(&av), typed::record_array_leaves(&a));
            let compared = leaf_count(&av).max(leaf_count(&bv));
            let want = finish(json_groups(FILE, &av, &bv, &policy, b_), compared);
            let got = finish(typed::record_arrays(FILE, "forecasts", &a, &b, &policy, b_), compared);
            prop_assert_eq!(got, want);
        }
    }
}
