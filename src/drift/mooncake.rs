//! The drift between the mooncake rows of the IST path and of the ATIF path: what a replay
//! with aiperf would do differently.

use rustc_hash::{FxHashMap, FxHashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::value_diff::Change;
use crate::mooncake::{InputSource, Row};

/// Rows are paired by (session, turn): the k-th row of a session on each side.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MooncakeDrift {
    /// Rows on the IST path.
    pub rows_ist: usize,
    /// Rows on the ATIF path.
    pub rows_atif: usize,
    /// Rows of the ATIF side whose input_length is the recorded prompt_tokens (no text).
    pub atif_rows_without_text: usize,
    /// Rows found on both paths (by session and turn).
    pub paired: usize,
    /// Rows only on the IST path.
    pub only_ist: usize,
    /// Rows only on the ATIF path.
    pub only_atif: usize,
    /// Paired rows whose `input_length` differs.
    pub input_length_differs: usize,
    /// Total input tokens on the IST path.
    pub input_tokens_ist: i64,
    /// Total input tokens on the ATIF path.
    pub input_tokens_atif: i64,
    /// Paired rows whose `output_length` differs.
    pub output_length_differs: usize,
    /// Total output tokens on the IST path.
    pub output_tokens_ist: i64,
    /// Total output tokens on the ATIF path.
    pub output_tokens_atif: i64,
    /// Paired rows whose `delay` differs.
    pub delay_differs: usize,
    /// Share of the IST rows' hash blocks that the paired ATIF row has at the same position
    /// with the same id (1.0: the replay sends the same prefixes).
    pub hash_prefix_overlap: f64,
    /// Prefix-cache reuse each replay would show: share of hash blocks already sent by an
    /// earlier row of the file (`None` when the side has no hash blocks).
    pub block_reuse_ist: Option<f64>,
    /// The share of hash blocks reused across rows on the ATIF path (`None` without text).
    pub block_reuse_atif: Option<f64>,
}

fn block_reuse(rows: &[Row]) -> Option<f64> {
    let mut seen = FxHashSet::default();
    let (mut total, mut reused) = (0usize, 0usize);
    for r in rows {
        for &id in &r.hash_ids {
            total += 1;
            if !seen.insert(id) {
                reused += 1;
            }
        }
    }
    (total > 0).then(|| reused as f64 / total as f64)
}

/// `(session, turn)` keys of `rows`, in row order.
fn keyed(rows: &[Row]) -> Vec<((&str, usize), usize)> {
    let mut turn = FxHashMap::<&str, usize>::default();
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let k = turn.entry(r.session_id.as_str()).or_insert(0);
            *k += 1;
            ((r.session_id.as_str(), *k - 1), i)
        })
        .collect()
}

fn num(n: i64) -> Value {
    Value::from(n)
}

/// One difference of the rows: its path (`rows.<i>.<field>`, or `rows.<i>`) and the change.
pub type Sink<'s> = dyn FnMut(&str, Change) + 's;

/// The IST row `i` (`a`) and the ATIF row paired with it (`b`): their differing fields
/// counted in `d` and handed to `diffs`; returns how many leading hash blocks they share.
fn paired_rows(i: usize, a: &Row, b: &Row, d: &mut MooncakeDrift, diffs: &mut Sink) -> usize {
    let mut field = |name: &str, l: Value, r: Value| {
        if l != r {
            diffs(
                &format!("rows.{i}.{name}"),
                Change::Value { left: l, right: r },
            );
            true
        } else {
            false
        }
    };
    if field("input_length", num(a.input_length), num(b.input_length)) {
        d.input_length_differs += 1;
    }
    if field("output_length", num(a.output_length), num(b.output_length)) {
        d.output_length_differs += 1;
    }
    let delay = |r: &Row| r.delay.map_or(Value::Null, Value::from);
    if field("delay", delay(a), delay(b)) {
        d.delay_differs += 1;
    }
    let common = a
        .hash_ids
        .iter()
        .zip(&b.hash_ids)
        .take_while(|(x, y)| x == y)
        .count();
    if a.hash_ids != b.hash_ids {
        diffs(
            &format!("rows.{i}.hash_ids"),
            Change::Value {
                left: Value::String(format!("{} blocks", a.hash_ids.len())),
                right: Value::String(format!(
                    "{} blocks, {common} leading in common",
                    b.hash_ids.len()
                )),
            },
        );
    }
    common
}

/// Compare the two sides' rows. Returns the summary and the number of values compared, and
/// hands each difference to `diffs` as it is found, with paths `rows.<i>.<field>` (`i`: the
/// IST row, or the ATIF row for rows only on that side), for the drift engine's policy
/// grouping (held as a list, the differences of 100,000 light requests were about 0.6 GB).
pub fn diff(ist: &[Row], atif: &[Row], diffs: &mut Sink) -> (MooncakeDrift, usize) {
    let mut d = MooncakeDrift {
        rows_ist: ist.len(),
        rows_atif: atif.len(),
        atif_rows_without_text: atif
            .iter()
            .filter(|r| r.source == InputSource::PromptTokens)
            .count(),
        input_tokens_ist: ist.iter().map(|r| r.input_length).sum(),
        input_tokens_atif: atif.iter().map(|r| r.input_length).sum(),
        output_tokens_ist: ist.iter().map(|r| r.output_length).sum(),
        output_tokens_atif: atif.iter().map(|r| r.output_length).sum(),
        block_reuse_ist: block_reuse(ist),
        block_reuse_atif: block_reuse(atif),
        ..Default::default()
    };
    let right: FxHashMap<(&str, usize), usize> = keyed(atif).into_iter().collect();
    let mut matched = FxHashSet::default();
    let mut compared = 0;
    let (mut blocks, mut shared) = (0usize, 0usize);
    for (key, i) in keyed(ist) {
        let a = &ist[i];
        let Some(&j) = right.get(&key) else {
            d.only_ist += 1;
            compared += 1;
            diffs(
                &format!("rows.{i}"),
                Change::OnlyLeft {
                    value: Value::String(format!("{} turn {}", key.0, key.1)),
                },
            );
            continue;
        };
        matched.insert(j);
        d.paired += 1;
        compared += 4;
        let common = paired_rows(i, a, &atif[j], &mut d, diffs);
        blocks += a.hash_ids.len();
        shared += common;
    }
    for (j, r) in atif
        .iter()
        .enumerate()
        .filter(|(j, _)| !matched.contains(j))
    {
        d.only_atif += 1;
        compared += 1;
        diffs(
            &format!("rows.{j}"),
            Change::OnlyRight {
                value: Value::String(r.session_id.clone()),
            },
        );
    }
    d.hash_prefix_overlap = if blocks == 0 {
        1.0
    } else {
        shared as f64 / blocks as f64
    };
    (d, compared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: &str, input: i64, out: i64, ids: &[u64], delay: Option<u64>) -> Row {
        Row {
            session_id: s.into(),
            input_length: input,
            output_length: out,
            hash_ids: ids.to_vec(),
            delay,
            source: if ids.is_empty() {
                InputSource::PromptTokens
            } else {
                InputSource::Text
            },
        }
    }

    /// [`diff`], its differences' paths collected.
    fn diff_paths(ist: &[Row], atif: &[Row]) -> (MooncakeDrift, Vec<String>, usize) {
        let mut paths = Vec::new();
        let (d, compared) = diff(ist, atif, &mut |p, _| paths.push(p.to_string()));
        (d, paths, compared)
    }

    #[test]
    fn pairs_by_session_turn_and_counts_each_kind_of_difference() {
        let ist = vec![
            row("conv_0", 10, 2, &[0, 1], None),
            row("conv_0", 12, 3, &[0, 1, 2], Some(500)),
            row("conv_1", 5, 1, &[3], None),
        ];
        let atif = vec![
            row("conv_0", 11, 2, &[], None),
            row("conv_0", 12, 4, &[0, 1, 2], Some(500)),
            row("conv_2", 5, 1, &[], None),
        ];
        let (d, paths, compared) = diff_paths(&ist, &atif);
        assert_eq!((d.paired, d.only_ist, d.only_atif), (2, 1, 1));
        assert_eq!((d.input_length_differs, d.output_length_differs), (1, 1));
        assert_eq!(d.delay_differs, 0);
        assert_eq!(d.atif_rows_without_text, 2);
        // 5 IST blocks in paired rows, 3 of them shared at the same position.
        assert!((d.hash_prefix_overlap - 3.0 / 5.0).abs() < 1e-12);
        // IST reuses 2 of 6 blocks (0 and 1 again); the ATIF side 0 of 3.
        assert_eq!(d.block_reuse_ist, Some(2.0 / 6.0));
        assert_eq!(d.block_reuse_atif, Some(0.0));
        assert_eq!(compared, 2 * 4 + 2);
        assert_eq!(
            paths,
            [
                "rows.0.input_length",
                "rows.0.hash_ids",
                "rows.1.output_length",
                "rows.2",
                "rows.2"
            ]
        );
    }

    #[test]
    fn identical_rows_have_no_drift() {
        let rows = vec![row("conv_0", 10, 2, &[0, 1], None)];
        let (d, paths, _) = diff_paths(&rows, &rows);
        assert!(paths.is_empty());
        assert_eq!(d.hash_prefix_overlap, 1.0);
    }
}
