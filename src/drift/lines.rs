//! The line diff of two texts: what `similar::TextDiff::from_lines` (Myers) gives, with the
//! lines numbered by one hash table of ours instead of similar's.
//!
//! similar numbers the lines of the changed middle with a keyed hash of each line
//! (`IdentifyDistinct`) before its Myers preflight numbers them again. On the workflow
//! reports of 100,000 requests (about 2.4 million lines against 1.7 million, nearly all
//! changed) that numbering was most of the diff's time, and the IST report was numbered
//! again for each builder. Here the old text's lines are numbered once ([`Numbered`]), the
//! new text's looked up in that table, and similar's own steps run on the numbers:
//! trimming the common prefix and suffix, Myers on the middle, and the compaction and
//! replace hooks over the whole (`TextDiffConfig::capture_ops_pretrimmed`). Every step of
//! similar's compares lines only for equality, and equal lines have equal numbers here, so
//! the operations are the same; `tests` holds them to `TextDiff::from_lines`.

use rustc_hash::FxHashMap;
use similar::algorithms::{diff_deadline, Capture, Compact, DiffHook, NoFinishHook, Replace};
use similar::{Algorithm, Change, DiffOp};

/// Below this many lines on both sides similar diffs the lines themselves, not numbers.
const NUMBERED_ABOVE: usize = 100;

/// A text's lines, each with its terminator (`\n`, `\r\n` or `\r`) as similar splits them,
/// and their numbers: equal lines have equal numbers.
pub(super) struct Numbered<'t> {
    lines: Vec<&'t str>,
    numbers: Vec<u32>,
    /// Line → number.
    table: FxHashMap<&'t str, u32>,
}

impl<'t> Numbered<'t> {
    pub(super) fn new(text: &'t str) -> Numbered<'t> {
        let lines = split_lines(text);
        let mut table = FxHashMap::default();
        table.reserve(lines.len());
        let numbers = lines
            .iter()
            .map(|&l| {
                let next = table.len() as u32;
                *table.entry(l).or_insert(next)
            })
            .collect();
        Numbered {
            lines,
            numbers,
            table,
        }
    }

    /// The numbers of `lines` (another text's): this text's number where a line is one of
    /// its lines; the lines this text lacks share one number of their own. Every comparison
    /// similar makes (Myers, its preflight, the compaction hook) is of an old line with a new
    /// one, so lines of the new text need not be told apart from each other (similar's
    /// `IdentifyDistinct::new_matching_old` numbers them so too).
    fn number(&self, lines: &[&str]) -> Vec<u32> {
        let absent = self.table.len() as u32;
        let number = |l: &&str| self.table.get(l).copied().unwrap_or(absent);
        lines.iter().map(number).collect()
    }

    /// Every change from this text to `new`, in order, as `TextDiff::from_lines(old,
    /// new).iter_all_changes()` gives them.
    pub(super) fn changes<'s>(&'s self, new: &'t str) -> Changes<'s, 't> {
        let new = split_lines(new);
        let ops = ops(&self.lines, &self.numbers, &new, &self.number(&new));
        Changes {
            old: &self.lines,
            new,
            ops,
        }
    }
}

/// The changes from one text to another ([`Numbered::changes`]): both texts' lines and
/// similar's operations on them.
pub(super) struct Changes<'s, 't> {
    old: &'s [&'t str],
    new: Vec<&'t str>,
    ops: Vec<DiffOp>,
}

impl<'t> Changes<'_, 't> {
    pub(super) fn iter(&self) -> impl Iterator<Item = Change<&'t str>> + '_ {
        self.ops
            .iter()
            .flat_map(|op| op.iter_changes(self.old, &self.new[..]))
    }
}

/// similar's `tokenize_lines`: each line with its terminator; `\r\n` is one terminator.
fn split_lines(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut from = 0;
    while let Some(at) = memchr::memchr2(b'\n', b'\r', &b[from..]) {
        let at = from + at;
        let end = if b[at] == b'\r' && b.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
        lines.push(&text[start..end]);
        (start, from) = (end, end);
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// similar's operations for the lines `old` and `new` (numbered `a` and `b`), with
/// `Algorithm::Myers` and no deadline (`TextDiffConfig::capture_ops`).
fn ops(old: &[&str], a: &[u32], new: &[&str], b: &[u32]) -> Vec<DiffOp> {
    if a.len() <= NUMBERED_ABOVE && b.len() <= NUMBERED_ABOVE {
        return similar::capture_diff_slices(Algorithm::Myers, old, new);
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (old_middle, new_middle) = (prefix..a.len() - suffix, prefix..b.len() - suffix);
    let mut d = Compact::new(Replace::new(Capture::new()), a, b);
    let unfailing = "the capture hook does not fail";
    if prefix > 0 {
        d.equal(0, 0, prefix).expect(unfailing);
    }
    if !old_middle.is_empty() && !new_middle.is_empty() {
        let mut middle = NoFinishHook::new(&mut d);
        diff_deadline(
            Algorithm::Myers,
            &mut middle,
            a,
            old_middle,
            b,
            new_middle,
            None,
        )
        .expect(unfailing);
    } else if !old_middle.is_empty() {
        d.delete(old_middle.start, old_middle.len(), new_middle.start)
            .expect(unfailing);
    } else if !new_middle.is_empty() {
        d.insert(old_middle.start, new_middle.start, new_middle.len())
            .expect(unfailing);
    }
    if suffix > 0 {
        d.equal(a.len() - suffix, b.len() - suffix, suffix)
            .expect(unfailing);
    }
    d.finish().expect(unfailing);
    d.into_inner().into_inner().into_ops()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// `(tag, line)` of every change, as similar's text diff gives them.
    fn similar_changes(a: &str, b: &str) -> Vec<(similar::ChangeTag, String)> {
        let d = similar::TextDiff::from_lines(a, b);
        let changes = d.iter_all_changes();
        changes.map(|c| (c.tag(), c.value().to_string())).collect()
    }

    fn our_changes(a: &str, b: &str) -> Vec<(similar::ChangeTag, String)> {
        let old = super::Numbered::new(a);
        let changes = old.changes(b);
        let list = changes.iter().map(|c| (c.tag(), c.value().to_string()));
        list.collect()
    }

    /// A text of `lines` drawn from a few (so that lines repeat, within a side and across),
    /// with every terminator similar knows.
    fn text(lines: usize) -> impl Strategy<Value = String> {
        let line = proptest::sample::select(vec![
            "a\n",
            "b\n",
            "c\n",
            "=== S ===\n",
            "---- T ----\n",
            "a\r\n",
            "a\r",
            "\n",
            "d",
            "x\n",
        ]);
        proptest::collection::vec(line, 0..lines).prop_map(|v| v.concat())
    }

    /// A text of many lines and the same text edited (lines deleted, changed and added), so
    /// that both sides pass the 100-line mark and share a prefix, a suffix and runs.
    fn edited() -> impl Strategy<Value = (String, String)> {
        let line = proptest::sample::select(vec!["a", "b", "c", "d", "e", "=== S ===", "- x"]);
        let lines = proptest::collection::vec(line.clone(), 0..400);
        let edits = proptest::collection::vec((0usize..400, 0u8..3, line), 0..60);
        (lines, edits).prop_map(|(old, edits)| {
            let mut new = old.clone();
            for (at, what, l) in edits {
                let at = at.min(new.len());
                match what {
                    0 if at < new.len() => {
                        new.remove(at);
                    }
                    1 if at < new.len() => new[at] = l,
                    _ => new.insert(at, l),
                }
            }
            let join = |v: Vec<&str>| v.iter().map(|l| format!("{l}\n")).collect::<String>();
            (join(old), join(new))
        })
    }

    proptest! {
        #[test]
        fn changes_equal_similars_on_short_texts(a in text(30), b in text(30)) {
            prop_assert_eq!(our_changes(&a, &b), similar_changes(&a, &b));
        }

        #[test]
        fn changes_equal_similars_past_the_numbering_mark(a in text(300), b in text(300)) {
            prop_assert_eq!(our_changes(&a, &b), similar_changes(&a, &b));
        }

        #[test]
        fn changes_equal_similars_on_edited_texts((a, b) in edited()) {
            prop_assert_eq!(our_changes(&a, &b), similar_changes(&a, &b));
        }
    }

    #[test]
    fn lines_keep_their_terminators() {
        let lines = super::split_lines("a\nb\r\nc\rd\n\ne");
        assert_eq!(lines, ["a\n", "b\r\n", "c\r", "d\n", "\n", "e"]);
        assert!(super::split_lines("").is_empty());
    }
}
