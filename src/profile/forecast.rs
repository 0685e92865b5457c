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

/// NAT's forecast training matrices.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrices {
    /// Calls per window.
    pub matrix_length: usize,
    /// The feature rows.
    pub x: Vec<Vec<f64>>,
    /// The target rows.
    pub y: Vec<Vec<f64>>,
    /// numpy's dtype: int64 on the IST path, float64 on the ATIF path.
    pub integer: bool,
    /// Per request, its rows (for the forecasts).
    pub runs: Vec<Rows>,
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
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for run in &runs {
        for i in 0..run.len() {
            x.push(window(run, i, n).concat());
            let mut yy = Vec::with_capacity(3 * n);
            for j in 1..=n {
                yy.extend(run.get(i + j).copied().unwrap_or([0.0; 3]));
            }
            y.push(yy);
        }
    }
    Matrices {
        matrix_length: n,
        x,
        y,
        integer,
        runs,
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

/// Solve `(AᵀA + λI) w = Aᵀb` for each target column (Gaussian elimination, partial pivoting).
fn ridge(a: &[Vec<f64>], b: &[Vec<f64>], lambda: f64) -> Vec<Vec<f64>> {
    let p = a.first().map_or(0, Vec::len);
    let q = b.first().map_or(0, Vec::len);
    let mut m = vec![vec![0.0; p + q]; p];
    for (row, target) in a.iter().zip(b) {
        for i in 0..p {
            for j in 0..p {
                m[i][j] += row[i] * row[j];
            }
            for t in 0..q {
                m[i][p + t] += row[i] * target[t];
            }
        }
    }
    for (i, r) in m.iter_mut().enumerate() {
        r[i] += lambda;
    }
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
    let (doc, mats) = forecast_parts(frame, flavor);
    with_matrices(doc, mats.as_ref())
}

/// `forecast.json` from [`forecast_parts`]'s parts: the matrices, if any, put back after
/// `n_samples`.
pub fn with_matrices(mut doc: Value, mats: Option<&Matrices>) -> Value {
    if let (Some(m), Value::Object(o)) = (mats, &mut doc) {
        o.shift_insert(2, "X".into(), cells(&m.x, m.integer));
        o.shift_insert(3, "Y".into(), cells(&m.y, m.integer));
    }
    doc
}

/// `forecast.json` apart from its matrices: when NAT's matrices are built, they are
/// returned and the value lacks its members `X` and `Y` (which [`forecast`] puts back as
/// [`cell`]s after `n_samples`, [`with_matrices`]). The drift compares the matrices as numbers: at 100,000
/// requests they are 2 × 10.8M cells, 32 bytes each as JSON values.
pub fn forecast_parts(frame: &Frame, flavor: Flavor) -> (Value, Option<Matrices>) {
    let mats = match matrices(frame, flavor) {
        Ok(m) => m,
        Err(e) => {
            let doc = json!({"matrix_length": null, "n_samples": 0, "X": null, "Y": null, "error": e.to_string(),
                          "model": model_doc(), "forecasts": []});
            return (doc, None);
        }
    };
    let n = mats.matrix_length;
    let b: Vec<Vec<f64>> = mats.y.iter().map(|r| r[..3].to_vec()).collect();
    let w = ridge(&mats.x, &b, 1.0);
    // Runtime line: runtime = c0 + c1 · calls.
    let runtimes = crate::profile::confidence::workflow_run_times(frame);
    let calls: Vec<f64> = mats.runs.iter().map(|r| r.len() as f64).collect();
    let (c0, c1) = line_fit(&calls, &runtimes);
    let forecasts: Vec<Value> = mats
        .runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let feat: Vec<f64> = window(run, run.len() - 1, n).concat();
            let pred: Vec<f64> = (0..3).map(|t| feat.iter().zip(&w).map(|(f, wr)| f * wr[t]).sum()).collect();
            json!({"request": i, "llm_calls": run.len(),
                   "next_call": {"seconds_between_calls": pred[0], "prompt_tokens": pred[1], "completion_tokens": pred[2]},
                   "runtime_s": c0 + c1 * run.len() as f64})
        })
        .collect();
    let doc = crate::profile::object([
        ("matrix_length", json!(n)),
        ("n_samples", json!(mats.x.len())),
        ("error", Value::Null),
        ("model", model_doc()),
        ("forecasts", Value::Array(forecasts)),
    ]);
    (doc, Some(mats))
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

/// A matrix as `forecast.json` holds it.
pub fn cells(m: &[Vec<f64>], integer: bool) -> Value {
    Value::Array(
        m.iter()
            .map(|r| Value::Array(r.iter().map(|&v| cell(v, integer)).collect()))
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

    #[test]
    fn ridge_recovers_a_linear_map() {
        let a: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![i as f64, (i * i % 7) as f64])
            .collect();
        let b: Vec<Vec<f64>> = a.iter().map(|r| vec![2.0 * r[0] - r[1]]).collect();
        let w = ridge(&a, &b, 1e-9);
        assert!(
            (w[0][0] - 2.0).abs() < 1e-6 && (w[1][0] + 1.0).abs() < 1e-6,
            "{w:?}"
        );
    }
}
