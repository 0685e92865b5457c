//! `common_prefixes` (`inference_optimization/prompt_caching.py:get_common_prefixes`).
//!
//! Groups **all** rows by `llm_name` (so LLM_END rows add `""` inputs and a `""` group holds
//! every non-LLM row: quirk Q2), builds a character trie of the inputs, keeps prefixes used
//! by at least `min_frequency` of the group's rows, longest first, dropping any prefix that
//! is a substring of one already kept.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::frame::Frame;

/// A node of the trie of the texts: a run of characters that no text branches off or ends
/// inside, so that each of its characters has the same count. NAT's trie has a node per
/// character (walked a character at a time, a long prompt shared by every call was most of
/// the analysis): its nodes are these runs, cut at every character.
struct Node<'a> {
    /// The texts through it.
    count: u32,
    parent: u32,
    /// Its characters (a part of a text).
    run: &'a str,
    /// Characters from the root to the end of its run.
    depth: u32,
    /// In insertion order, each with its run's first character.
    children: Vec<(char, u32)>,
}

struct Trie<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Trie<'a> {
    fn build(strings: impl Iterator<Item = &'a str>) -> Trie<'a> {
        let mut t = Trie {
            nodes: vec![Node {
                count: 0,
                parent: 0,
                run: "",
                depth: 0,
                children: vec![],
            }],
        };
        for s in strings {
            t.nodes[0].count += 1;
            let (mut at, mut rest) = (0usize, s);
            while let Some(c) = rest.chars().next() {
                let Some(i) = t.nodes[at].children.iter().position(|&(x, _)| x == c) else {
                    // The rest of the text is a new run.
                    let n = t.nodes.len() as u32;
                    let depth = t.nodes[at].depth + chars(rest);
                    t.nodes.push(Node {
                        count: 1,
                        parent: at as u32,
                        run: rest,
                        depth,
                        children: vec![],
                    });
                    t.nodes[at].children.push((c, n));
                    break;
                };
                let child = t.nodes[at].children[i].1 as usize;
                let run = t.nodes[child].run;
                let common = common_prefix(run, rest);
                let next = if common < run.len() {
                    // The text branches off or ends inside the run: its head becomes a node
                    // of its own, in the run's place among its parent's children.
                    let (head, tail) = run.split_at(common);
                    let mid = t.nodes.len();
                    let first = tail.chars().next().expect("a non-empty tail");
                    t.nodes.push(Node {
                        count: t.nodes[child].count,
                        parent: at as u32,
                        run: head,
                        depth: t.nodes[at].depth + chars(head),
                        children: vec![(first, child as u32)],
                    });
                    t.nodes[child].run = tail;
                    t.nodes[child].parent = mid as u32;
                    t.nodes[at].children[i].1 = mid as u32;
                    mid
                } else {
                    child
                };
                t.nodes[next].count += 1;
                (at, rest) = (next, &rest[common..]);
            }
        }
        t
    }

    /// The depth of the first character of node `n`'s run.
    fn first_depth(&self, n: usize) -> u32 {
        self.nodes[self.nodes[n].parent as usize].depth + 1
    }

    /// The text from the root through the character at `depth` of node `n`'s run.
    fn text(&self, n: usize, depth: u32) -> String {
        let within = (depth - self.first_depth(n) + 1) as usize;
        let run = self.nodes[n].run;
        let end = run.char_indices().nth(within).map_or(run.len(), |(i, _)| i);
        let mut runs = vec![&run[..end]];
        let mut at = self.nodes[n].parent as usize;
        while at != 0 {
            runs.push(self.nodes[at].run);
            at = self.nodes[at].parent as usize;
        }
        runs.iter().rev().copied().collect()
    }
}

/// How many characters `s` has.
fn chars(s: &str) -> u32 {
    u32::try_from(s.chars().count()).expect("a text of fewer than 2^32 characters")
}

/// The bytes `a` and `b` share at their start, cut to a whole character.
fn common_prefix(a: &str, b: &str) -> usize {
    if b.starts_with(a) {
        return a.len();
    }
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// One kept prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixInfo {
    /// The prefix text.
    pub prefix: String,
    /// Its length in characters.
    pub prefix_length: usize,
    /// Calls that start with it.
    pub calls_count: u32,
    /// Their share of the group's calls.
    pub calls_percentage: f64,
}

/// One `llm_name` group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Calls in the group.
    pub total_calls: usize,
    /// Its common prefixes.
    pub prefix_info: Vec<PrefixInfo>,
}

/// Common prefixes per `llm_name`, in groupby (sorted) order.
pub fn common_prefixes(frame: &Frame, min_frequency: f64) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &frame.rows {
        let Some(name) = r.llm_name.as_deref() else {
            continue;
        };
        // `astype(str)`: None becomes "None".
        groups
            .entry(name)
            .or_default()
            .push(r.llm_text_input.as_deref().unwrap_or("None"));
    }
    groups
        .into_iter()
        .map(|(name, texts)| {
            let total = texts.len();
            (
                name.to_string(),
                Group {
                    total_calls: total,
                    prefix_info: group_prefixes(&texts, min_frequency),
                },
            )
        })
        .collect()
}

fn group_prefixes(texts: &[&str], min_frequency: f64) -> Vec<PrefixInfo> {
    let total = texts.len() as f64;
    let trie = Trie::build(texts.iter().copied());
    // NAT's traversal: explicit stack from the root, pop from the end, children pushed in
    // insertion order. Counts only shrink with depth, so a failing node's subtree fails too
    // and can be skipped without changing the order of the nodes that pass. A run's
    // characters are NAT's nodes one below the other (each the only child of the one
    // before), visited in turn. A character is (its run's node, its depth).
    let passes = |n: usize| f64::from(trie.nodes[n].count) / total >= min_frequency;
    let mut found: Vec<(usize, u32)> = Vec::new();
    let mut stack = vec![0usize];
    while let Some(n) = stack.pop() {
        if n != 0 {
            if !passes(n) {
                continue;
            }
            found.extend((trie.first_depth(n)..=trie.nodes[n].depth).map(|d| (n, d)));
        }
        stack.extend(trie.nodes[n].children.iter().map(|&(_, c)| c as usize));
    }
    // sorted(key=(length, count), reverse=True) is stable.
    found.sort_by(|&(a, da), &(b, db)| (db, trie.nodes[b].count).cmp(&(da, trie.nodes[a].count)));
    let mut kept: Vec<((usize, u32), String)> = Vec::new();
    for (n, d) in found {
        // An ancestor of a kept character is its prefix, hence a substring: skip without
        // building text. (A kept character is at least as deep: deepest first.)
        let is_ancestor = kept.iter().any(|&((k, _), _)| {
            let mut k = k;
            while k != 0 && trie.first_depth(k) > d {
                k = trie.nodes[k].parent as usize;
            }
            k == n
        });
        if is_ancestor {
            continue;
        }
        let text = trie.text(n, d);
        if kept.iter().any(|(_, k)| k.contains(&text)) {
            continue;
        }
        kept.push(((n, d), text));
    }
    kept.into_iter()
        .map(|((n, d), prefix)| PrefixInfo {
            prefix_length: d as usize,
            calls_count: trie.nodes[n].count,
            calls_percentage: f64::from(trie.nodes[n].count) / total,
            prefix,
        })
        .collect()
}

/// The groups as NAT writes them.
pub fn to_json(groups: &BTreeMap<String, Group>) -> Value {
    let mut m = Map::new();
    for (name, g) in groups {
        let info: Vec<Value> = g
            .prefix_info
            .iter()
            .map(|p| {
                json!({"prefix": p.prefix, "prefix_length": p.prefix_length,
                            "calls_count": p.calls_count, "calls_percentage": p.calls_percentage})
            })
            .collect();
        m.insert(
            name.clone(),
            json!({"total_calls": g.total_calls, "prefix_info": info}),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    // NAT's trie as it is, a node per character: the reference the runs are held to.
    struct Node {
        count: u32,
        parent: u32,
        ch: char,
        depth: u32,
        children: Vec<(char, u32)>,
    }

    struct CharTrie {
        nodes: Vec<Node>,
    }

    impl CharTrie {
        fn build<'a>(strings: impl Iterator<Item = &'a str>) -> CharTrie {
            let mut t = CharTrie {
                nodes: vec![Node {
                    count: 0,
                    parent: 0,
                    ch: '\0',
                    depth: 0,
                    children: vec![],
                }],
            };
            for s in strings {
                let mut at = 0usize;
                t.nodes[0].count += 1;
                for ch in s.chars() {
                    let next = match t.nodes[at].children.iter().find(|(c, _)| *c == ch) {
                        Some(&(_, n)) => n as usize,
                        None => {
                            let n = t.nodes.len();
                            let depth = t.nodes[at].depth + 1;
                            t.nodes.push(Node {
                                count: 0,
                                parent: at as u32,
                                ch,
                                depth,
                                children: vec![],
                            });
                            t.nodes[at].children.push((ch, n as u32));
                            n
                        }
                    };
                    t.nodes[next].count += 1;
                    at = next;
                }
            }
            t
        }

        fn text(&self, mut n: usize) -> String {
            let mut chars = Vec::with_capacity(self.nodes[n].depth as usize);
            while n != 0 {
                chars.push(self.nodes[n].ch);
                n = self.nodes[n].parent as usize;
            }
            chars.iter().rev().collect()
        }
    }

    fn reference(texts: &[&str], min_frequency: f64) -> Vec<PrefixInfo> {
        let total = texts.len() as f64;
        let trie = CharTrie::build(texts.iter().copied());
        // NAT's traversal: explicit stack from the root, pop from the end, children pushed in
        // insertion order. Counts only shrink with depth, so a failing node's subtree fails too
        // and can be skipped without changing the order of the nodes that pass.
        let passes = |n: usize| f64::from(trie.nodes[n].count) / total >= min_frequency;
        let mut found: Vec<usize> = Vec::new();
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            if n != 0 {
                if !passes(n) {
                    continue;
                }
                found.push(n);
            }
            stack.extend(trie.nodes[n].children.iter().map(|&(_, c)| c as usize));
        }
        // sorted(key=(length, count), reverse=True) is stable.
        found.sort_by(|&a, &b| {
            let (na, nb) = (&trie.nodes[a], &trie.nodes[b]);
            (nb.depth, nb.count).cmp(&(na.depth, na.count))
        });
        let mut kept: Vec<(usize, String)> = Vec::new();
        for n in found {
            // An ancestor of a kept node is its prefix, hence a substring: skip without building text.
            let is_ancestor = kept.iter().any(|&(k, _)| {
                let mut k = k;
                while trie.nodes[k].depth > trie.nodes[n].depth {
                    k = trie.nodes[k].parent as usize;
                }
                k == n
            });
            if is_ancestor {
                continue;
            }
            let text = trie.text(n);
            if kept.iter().any(|(_, k)| k.contains(&text)) {
                continue;
            }
            kept.push((n, text));
        }
        kept.into_iter()
            .map(|(n, prefix)| PrefixInfo {
                prefix_length: trie.nodes[n].depth as usize,
                calls_count: trie.nodes[n].count,
                calls_percentage: f64::from(trie.nodes[n].count) / total,
                prefix,
            })
            .collect()
    }
    proptest::proptest! {
        /// The trie of runs keeps the prefixes NAT's trie of characters keeps, in its order,
        /// with their counts: texts sharing heads, ending inside others, repeated, empty,
        /// with characters of several bytes (two of them sharing their first byte).
        #[test]
        fn runs_keep_the_prefixes_characters_keep(
            texts in proptest::collection::vec("[abé\u{e8}\u{4e2d}]{0,8}", 1..12),
            min_frequency in proptest::sample::select(vec![0.0, 0.1, 0.3, 0.5, 0.9, 1.0]),
        ) {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(
                group_prefixes(&texts, min_frequency),
                reference(&texts, min_frequency)
            );
        }
    }
}
