//! Forecasting: NAT builds training matrices from the frame, fits a RandomForest
//! (3 trees, depth 2, unseeded) and only pickles it (`forecasting/models/random_forest_regressor.py`).
//! Neither the pickle nor its predictions are comparable, so `forecast.json` holds:
//!
//! - the matrices exactly as NAT builds them (`matrix_length`, `X`, `Y`; or NAT's failure),
//!   comparable with the oracle's `oracle_extras/forecast_training_data.json`;
//! - forecasts from a deterministic model of ours, so the two paths' forecasts can be diffed:
//!   * **next call** of each request: ridge regression (λ = 1, closed form, no intercept
//!     scaling tricks) from NAT's flattened window `X` to the first future row of `Y`
//!     (`seconds_between_calls`, `prompt_tokens`, `completion_tokens`), applied to the
//!     request's last window (NAT's `_prep_single`: last `matrix_length` calls, zero-padded,
//!     current completion zeroed);
//!   * **runtime** of each request: least-squares line of observed runtime (last − first
//!     event) against the request's number of LLM calls, evaluated at its call count.

use rustc_hash::FxHashMap;

use serde_json::{json, Value};

use crate::event::EventType;
use crate::frame::Frame;

use super::Flavor;

/// NAT's per-request `[seconds_between_calls, prompt_tokens, completion_tokens]` rows.
pub type Rows = Vec<[f64; 3]>;

/// NAT's forecast training matrices, kept as the per-request rows they are made of: a row of
/// `X` or `Y` is a window of its request's rows ([`Matrices::x`], [`Matrices::y`]), read
/// where it is used (at 100,000 light requests the matrices are 2 × 10.8M cells per path;
/// built as rows of `f64`s, the three paths' took about 0.7 GB).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrices {
    /// Calls per window.
    pub matrix_length: usize,
    /// numpy's dtype: int64 on the IST path, float64 on the ATIF path.
    pub integer: bool,
    /// Per request, its rows (for the forecasts).
    pub runs: Vec<Rows>,
    /// Per sample (a row of `X` and of `Y`, in order): its request's index in `runs` and
    /// its call's position in that request.
    samples: Vec<(u32, u32)>,
}

impl Matrices {
    /// How many rows `X` and `Y` have (`n_samples`).
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// Row `i` of `X`: the sample's window of `matrix_length` calls, ending at its own,
    /// flattened ([`window`]).
    pub fn x(&self, i: usize) -> MatrixRow<'_> {
        self.row(i, false)
    }

    /// Row `i` of `Y`: the `matrix_length` calls after the sample's, zero-padded,
    /// flattened.
    pub fn y(&self, i: usize) -> MatrixRow<'_> {
        self.row(i, true)
    }

    fn row(&self, i: usize, target: bool) -> MatrixRow<'_> {
        let (run, at) = self.samples[i];
        MatrixRow {
            run: &self.runs[run as usize],
            at: at as usize,
            n: self.matrix_length,
            target,
        }
    }
}

/// `X` or `Y` of [`Matrices`], as the function giving its row `i`: [`Matrices::x`] or
/// [`Matrices::y`].
pub type MatrixOf = for<'m> fn(&'m Matrices, usize) -> MatrixRow<'m>;

/// A row of [`Matrices`]' `X` or `Y`, read a cell at a time.
#[derive(Debug, Clone, Copy)]
pub struct MatrixRow<'a> {
    run: &'a [[f64; 3]],
    /// The sample's position in `run`.
    at: usize,
    /// The matrix length.
    n: usize,
    /// `Y` (the calls after the sample), not `X` (the window ending at it).
    target: bool,
}

impl MatrixRow<'_> {
    /// Its cells: three per call of the window.
    pub fn len(&self) -> usize {
        3 * self.n
    }

    /// Whether it has no cell (a matrix length of 0).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Cell `j`.
    pub fn get(&self, j: usize) -> f64 {
        let (k, c) = (j / 3, j % 3);
        let call = if self.target {
            self.at + 1 + k
        } else if c == 2 && k + 1 == self.n {
            // The current completion, zeroed.
            return 0.0;
        } else {
            match (self.at + k + 1).checked_sub(self.n) {
                Some(call) => call,
                None => return 0.0,
            }
        };
        self.run.get(call).map_or(0.0, |r| r[c])
    }

    /// Its cells.
    pub fn to_vec(&self) -> Vec<f64> {
        (0..self.len()).map(|j| self.get(j)).collect()
    }
}

/// The matrices as the flavor's NAT builds them.
/// Why NAT's forecast fit fails, in the words of the Python exception it raises (written
/// into `forecast.json`'s `error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// 1.6.0rc1: no example has an LLM_END.
    #[error("ValueError: DataFrame contains no forecastable LLM_END rows. Filter out tool-only or zero-token traces before training.")]
    NoForecastableRows,
    /// 1.9.0: the trace has no request.
    #[error("ZeroDivisionError: division by zero (no requests)")]
    NoRequests,
    /// 1.9.0: an LLM_END whose UUID no earlier LLM_START had.
    #[error("KeyError: '{uuid}' (LLM_END without an earlier LLM_START)")]
    EndWithoutStart {
        /// The LLM_END's UUID (`None` when it has none).
        uuid: String,
    },
    /// 1.9.0: a request without LLM_END.
    #[error("IndexError: tuple index out of range (request {request} has no LLM_END)")]
    RequestWithoutEnd {
        /// The request's index.
        request: usize,
    },
}

/// The matrices as the flavor's NAT builds them.
pub fn matrices(frame: &Frame, flavor: Flavor) -> Result<Matrices, FitError> {
    match flavor {
        Flavor::Nat190 => matrices_ist(frame),
        Flavor::Nat160rc1 => matrices_from_frame(frame),
    }
}

/// 1.6.0rc1 `_extract_from_dataframe`: per example (time order), each LLM_END gives
/// `[seconds since the previous LLM_END (0.0 for the first), prompt, completion]`;
/// examples without LLM_END are left out; none at all is an error.
fn matrices_from_frame(frame: &Frame) -> Result<Matrices, FitError> {
    let mut runs: Vec<Rows> = Vec::new();
    for (_, idx) in frame.rows_by_example_in_time() {
        let mut prev: Option<f64> = None;
        let mut run = Vec::new();
        for i in idx {
            let r = &frame.rows[i];
            if r.event_type == EventType::LLM_END {
                let ts = r.event_timestamp;
                run.push([
                    prev.map_or(0.0, |p| ts - p),
                    r.prompt_tokens().unwrap_or(0) as f64,
                    r.completion_tokens().unwrap_or(0) as f64,
                ]);
                prev = Some(ts);
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
    }
    if runs.is_empty() {
        return Err(FitError::NoForecastableRows);
    }
    Ok(assemble(runs, false))
}

fn assemble(runs: Vec<Rows>, integer: bool) -> Matrices {
    let total: usize = runs.iter().map(Vec::len).sum();
    let n = total.div_ceil(runs.len());
    let position = |k: usize| u32::try_from(k).expect("fewer than 2^32 requests and calls");
    let samples = runs
        .iter()
        .enumerate()
        .flat_map(|(r, run)| (0..run.len()).map(move |at| (position(r), position(at))))
        .collect();
    Matrices {
        matrix_length: n,
        integer,
        runs,
        samples,
    }
}

/// `_extract_token_usage_meta` + `_preprocess_for_forecasting` + `_flatten_features`.
/// `Err` where NAT's fit fails (and writes no model): an LLM_END without an earlier
/// LLM_START of its UUID (KeyError), or a request without LLM_END (IndexError) (Q15).
fn matrices_ist(frame: &Frame) -> Result<Matrices, FitError> {
    let mut by_example: Vec<Vec<usize>> = vec![Vec::new(); frame.examples];
    for (i, r) in frame.rows.iter().enumerate() {
        if r.example_number() < by_example.len() {
            by_example[r.example_number()].push(i);
        }
    }
    if by_example.is_empty() {
        return Err(FitError::NoRequests);
    }
    let mut sbc: FxHashMap<&str, i64> = FxHashMap::default();
    let mut runs: Vec<Rows> = Vec::new();
    for rows in &by_example {
        let mut run = Vec::new();
        for &i in rows {
            let r = &frame.rows[i];
            let uuid = r.uuid.as_deref().unwrap_or("None");
            match r.event_type {
                EventType::LLM_START => {
                    sbc.insert(uuid, r.seconds_between_calls);
                }
                EventType::LLM_END => {
                    let s = *sbc.get(uuid).ok_or_else(|| FitError::EndWithoutStart {
                        uuid: uuid.to_string(),
                    })?;
                    run.push([
                        s as f64,
                        r.prompt_tokens().unwrap_or(0) as f64,
                        r.completion_tokens().unwrap_or(0) as f64,
                    ]);
                }
                _ => {}
            }
        }
        runs.push(run);
    }
    if let Some(i) = runs.iter().position(Vec::is_empty) {
        return Err(FitError::RequestWithoutEnd { request: i });
    }
    Ok(assemble(runs, true))
}

/// Rows `[i-n+1 ..= i]`, zero-padded at the top, current completion zeroed.
fn window(run: &[[f64; 3]], i: usize, n: usize) -> Vec<[f64; 3]> {
    let mut w: Vec<[f64; 3]> = (0..n)
        .map(|k| {
            let idx = i as i64 - (n - 1 - k) as i64;
            if idx >= 0 {
                run[idx as usize]
            } else {
                [0.0; 3]
            }
        })
        .collect();
    w[n - 1][2] = 0.0;
    w
}

/// Solve `(AᵀA + λI) w = Aᵀb` for each target column (Gaussian elimination, partial pivoting),
/// `A` and `b` of `rows` rows, `p` and `q` columns, row `i` written by `row(i, a, b)`.
/// `AᵀA` is symmetric: its upper triangle is summed and mirrored (each cell the same
/// products in the same order as the whole square's).
fn ridge(
    (rows, p, q): (usize, usize, usize),
    row: impl Fn(usize, &mut [f64], &mut [f64]),
    lambda: f64,
) -> Vec<Vec<f64>> {
    let mut m = vec![vec![0.0; p + q]; p];
    let (mut a, mut b) = (vec![0.0; p], vec![0.0; q]);
    for k in 0..rows {
        row(k, &mut a, &mut b);
        for (i, mi) in m.iter_mut().enumerate() {
            let ai = a[i];
            for (x, aj) in mi[i..p].iter_mut().zip(&a[i..]) {
                *x += ai * aj;
            }
            for (x, bt) in mi[p..].iter_mut().zip(&b) {
                *x += ai * bt;
            }
        }
    }
    for i in 1..p {
        let (above, below) = m.split_at_mut(i);
        for (j, row) in above.iter().enumerate() {
            below[0][j] = row[i];
        }
    }
    for (i, r) in m.iter_mut().enumerate() {
        r[i] += lambda;
    }
    solve(m, p, q)
}

/// The solution of `[M | T] = (AᵀA + λI | Aᵀb)`, `p` unknowns and `q` targets: Gaussian
/// elimination with partial pivoting (an unknown whose pivot is 0 is 0).
fn solve(mut m: Vec<Vec<f64>>, p: usize, q: usize) -> Vec<Vec<f64>> {
    for col in 0..p {
        let piv = (col..p)
            .max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))
            .unwrap_or(col);
        m.swap(col, piv);
        let d = m[col][col];
        if d == 0.0 {
            continue;
        }
        let pivot = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            let f = row[col] / d;
            if r != col && f != 0.0 {
                for (x, pv) in row[col..].iter_mut().zip(&pivot[col..]) {
                    *x -= f * pv;
                }
            }
        }
    }
    (0..p)
        .map(|i| {
            (0..q)
                .map(|t| {
                    if m[i][i] == 0.0 {
                        0.0
                    } else {
                        m[i][p + t] / m[i][i]
                    }
                })
                .collect()
        })
        .collect()
}

/// `forecast.json`.
pub fn forecast(frame: &Frame, flavor: Flavor) -> Value {
    forecast_parts(frame, flavor).whole()
}

/// `forecast.json` in parts: the value without its members `X`, `Y` and `forecasts`, and
/// those as the numbers they are built from. The drift compares the matrices and the
/// forecasts as numbers: at 100,000 requests the matrices are 2 × 10.8M cells, 32 bytes
/// each as JSON values, and the forecasts 100,000 ordered maps of maps.
pub struct Parts {
    /// The file without `X`, `Y` (when the matrices are built) and `forecasts`.
    pub doc: Value,
    /// NAT's matrices, when it builds them (`X` and `Y` are `null` in `doc` otherwise).
    pub mats: Option<Matrices>,
    /// `forecasts`, one per request with an LLM call (none without matrices).
    pub forecasts: Vec<Forecast>,
}

impl Parts {
    /// The whole file: the matrices, if any, put back after `n_samples`, and the forecasts
    /// last.
    pub fn whole(&self) -> Value {
        let mut doc = self.doc.clone();
        if let Value::Object(o) = &mut doc {
            if let Some(m) = &self.mats {
                let rows = |row: MatrixOf| (0..m.samples()).map(move |i| row(m, i).to_vec());
                o.shift_insert(2, "X".into(), cells(rows(Matrices::x), m.integer));
                o.shift_insert(3, "Y".into(), cells(rows(Matrices::y), m.integer));
            }
            let forecasts = self.forecasts.iter().map(Forecast::value).collect();
            o.insert("forecasts".into(), Value::Array(forecasts));
        }
        doc
    }
}

/// An entry of `forecasts`: a request's next call and runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The request's place among those with an LLM call (`Matrices::runs`).
    pub request: usize,
    /// Its LLM calls.
    pub llm_calls: usize,
    /// `next_call`: seconds between calls, prompt tokens, completion tokens.
    pub next_call: [f64; 3],
    /// The runtime the line predicts for its calls.
    pub runtime_s: f64,
}

impl Forecast {
    /// The entry as `forecast.json` writes it.
    pub fn value(&self) -> Value {
        let [seconds, prompt, completion] = self.next_call;
        json!({"request": self.request, "llm_calls": self.llm_calls,
               "next_call": {"seconds_between_calls": seconds, "prompt_tokens": prompt, "completion_tokens": completion},
               "runtime_s": self.runtime_s})
    }
}

/// `forecast.json` in [`Parts`].
pub fn forecast_parts(frame: &Frame, flavor: Flavor) -> Parts {
    let mats = match matrices(frame, flavor) {
        Ok(m) => m,
        Err(e) => {
            let doc = json!({"matrix_length": null, "n_samples": 0, "X": null, "Y": null, "error": e.to_string(),
                          "model": model_doc()});
            return Parts {
                doc,
                mats: None,
                forecasts: Vec::new(),
            };
        }
    };
    let n = mats.matrix_length;
    // The first future row of `Y`.
    let w = ridge(
        (mats.samples(), 3 * n, 3),
        |i, a, b| {
            let (x, y) = (mats.x(i), mats.y(i));
            a.iter_mut().enumerate().for_each(|(j, v)| *v = x.get(j));
            b.iter_mut().enumerate().for_each(|(j, v)| *v = y.get(j));
        },
        1.0,
    );
    // Runtime line: runtime = c0 + c1 · calls.
    let runtimes = crate::profile::confidence::workflow_run_times(frame);
    let calls: Vec<f64> = mats.runs.iter().map(|r| r.len() as f64).collect();
    let (c0, c1) = line_fit(&calls, &runtimes);
    let forecasts = mats
        .runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let feat: Vec<f64> = window(run, run.len() - 1, n).concat();
            let pred = |t: usize| feat.iter().zip(&w).map(|(f, wr)| f * wr[t]).sum();
            Forecast {
                request: i,
                llm_calls: run.len(),
                next_call: [pred(0), pred(1), pred(2)],
                runtime_s: c0 + c1 * run.len() as f64,
            }
        })
        .collect();
    let doc = crate::profile::object([
        ("matrix_length", json!(n)),
        ("n_samples", json!(mats.samples())),
        ("error", Value::Null),
        ("model", model_doc()),
    ]);
    Parts {
        doc,
        mats: Some(mats),
        forecasts,
    }
}

/// A matrix cell as `forecast.json` holds it: an integer where numpy's dtype is int64
/// (the IST path), else a float (`null` when not finite, as serde_json writes it).
pub fn cell(v: f64, integer: bool) -> Value {
    if integer {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// A matrix (its rows) as `forecast.json` holds it.
pub fn cells(rows: impl IntoIterator<Item = Vec<f64>>, integer: bool) -> Value {
    Value::Array(
        rows.into_iter()
            .map(|r| Value::Array(r.into_iter().map(|v| cell(v, integer)).collect()))
            .collect(),
    )
}

fn line_fit(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len().min(y.len()) as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().take(x.len()).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

fn model_doc() -> Value {
    json!({
        "next_call": "ridge regression (lambda 1) from NAT's flattened window X to the first future row of Y, applied to each request's last window",
        "runtime_s": "least-squares line of request runtime against its number of LLM calls",
        "nat_model": "RandomForestRegressor(n_estimators=3, max_depth=2), unseeded and only pickled by NAT: not reproduced",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pad_and_zero_the_current_completion() {
        let run = vec![[1.0, 10.0, 5.0], [2.0, 20.0, 6.0], [3.0, 30.0, 7.0]];
        assert_eq!(window(&run, 0, 2), vec![[0.0, 0.0, 0.0], [1.0, 10.0, 0.0]]);
        assert_eq!(window(&run, 2, 2), vec![[2.0, 20.0, 6.0], [3.0, 30.0, 0.0]]);
    }

    /// The rows read from the runs are NAT's: `X` the window ending at each call, `Y` the
    /// calls after it, zero-padded (requests of 1, 3 and 6 calls: a matrix length of 4).
    #[test]
    fn matrix_rows_are_the_windows_of_the_runs() {
        let call = |r: usize, k: usize| [k as f64 + 0.5, (10 * r + k) as f64, (100 + k) as f64];
        let runs: Vec<Rows> = [1, 3, 6]
            .iter()
            .enumerate()
            .map(|(r, &n)| (0..n).map(|k| call(r, k)).collect())
            .collect();
        let m = assemble(runs.clone(), true);
        let n = m.matrix_length;
        assert_eq!((n, m.samples()), (4, 10));
        let mut i = 0;
        for run in &runs {
            for at in 0..run.len() {
                let y: Vec<f64> = (1..=n)
                    .flat_map(|j| run.get(at + j).copied().unwrap_or([0.0; 3]))
                    .collect();
                assert_eq!(m.x(i).to_vec(), window(run, at, n).concat(), "X[{i}]");
                assert_eq!(m.y(i).to_vec(), y, "Y[{i}]");
                assert_eq!((m.x(i).len(), m.y(i).len()), (3 * n, 3 * n));
                i += 1;
            }
        }
    }

    /// The upper triangle summed and mirrored gives, bit for bit, the whole square summed.
    #[test]
    fn ridge_sums_as_the_whole_square() {
        let (rows, p) = (40, 5);
        let cell = |i: usize, j: usize| ((i * 7 + j * 13) % 17) as f64 / 3.0 - 1.1;
        let a: Vec<Vec<f64>> = (0..rows)
            .map(|i| (0..p).map(|j| cell(i, j)).collect())
            .collect();
        let b: Vec<Vec<f64>> = (0..rows).map(|i| vec![cell(i, 9), cell(i, 11)]).collect();
        let mut square = vec![vec![0.0; p]; p];
        for r in &a {
            for i in 0..p {
                for j in 0..p {
                    square[i][j] += r[i] * r[j];
                }
            }
        }
        let w = ridge(
            (rows, p, 2),
            |i, x, y| {
                x.copy_from_slice(&a[i]);
                y.copy_from_slice(&b[i]);
            },
            1.0,
        );
        let mut full = square;
        for (i, r) in full.iter_mut().enumerate() {
            r[i] += 1.0;
            r.extend((0..2).map(|t| a.iter().zip(&b).fold(0.0, |s, (x, y)| s + x[i] * y[t])));
        }
        let want = solve(full, p, 2);
        let bits =
            |w: &[Vec<f64>]| -> Vec<u64> { w.iter().flatten().map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&w), bits(&want));
    }

    #[test]
    fn ridge_recovers_a_linear_map() {
        let a: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![i as f64, (i * i % 7) as f64])
            .collect();
        let b: Vec<Vec<f64>> = a.iter().map(|r| vec![2.0 * r[0] - r[1]]).collect();
        let w = ridge(
            (a.len(), 2, 1),
            |i, x, y| {
                x.copy_from_slice(&a[i]);
                y.copy_from_slice(&b[i]);
            },
            1e-9,
        );
        assert!(
            (w[0][0] - 2.0).abs() < 1e-6 && (w[1][0] + 1.0).abs() < 1e-6,
            "{w:?}"
        );
    }
}
