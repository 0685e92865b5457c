//! `common_prefixes` (`inference_optimization/prompt_caching.py:get_common_prefixes`).
//!
//! Groups **all** rows by `llm_name` (so LLM_END rows add `""` inputs and a `""` group holds
//! every non-LLM row: quirk Q2), builds a character trie of the inputs, keeps prefixes used
//! by at least `min_frequency` of the group's rows, longest first, dropping any prefix that
//! is a substring of one already kept.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::frame::Frame;

struct Node {
    count: u32,
    parent: u32,
    ch: char,
    depth: u32,
    children: Vec<(char, u32)>,
}

struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn build<'a>(strings: impl Iterator<Item = &'a str>) -> Trie {
        let mut t = Trie {
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
