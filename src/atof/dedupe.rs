//! LLM-span dedupe: when one provider call is observed twice (an agent hook *and* a
//! gateway, two gateway hops…), keep one span and fill its metrics from the others.
//!
//! Two rules:
//! - [`Mode::Relay`]: NeMo Relay 0.10.4's (`nemo_relay::observability::atif`, PR #183). Every
//!   pair of spans is tested; a pair matches when it has the same non-null parent, compatible
//!   models (equal, or either missing), closed-interval overlap, and either identical
//!   request+response signatures or the complementary hook/gateway evidence (one side a
//!   non-exact hook, the other a gateway, with equal request signatures or a shared
//!   correlation key). The lower fidelity score is suppressed, equal scores keep both; a
//!   suppressed span's metrics fill its winner's gaps. Relay visits pairs in HashMap order;
//!   we visit them sorted by (start, end, uuid), so where Relay's metrics depend on the process
//!   (a winner absorbing two spans with conflicting values) ours are one of its outcomes,
//!   always the same.
//! - [`Mode::Strict`]: the stricter guard and deterministic tie-break asked for in the review
//!   of NeMo Flow PR #183. Spans, sorted by (start, end, uuid), join *clusters* (one cluster =
//!   one physical call) under `strict_match`:
//!   1. same non-null parent;
//!   2. models: both present and equal once a date snapshot suffix (`-2026-01-15`,
//!      `-20260115`) is dropped, or both missing; one missing only with identical signatures
//!      or a shared correlation key (a model on one side only is a hint of another call);
//!   3. time: half-open overlap (`a.start < b.end && b.start < a.end`: back-to-back calls do
//!      not merge), or, with a shared correlation key, a gap of at most
//!      `STRICT_SKEW_US` (two clocks recording one call);
//!   4. evidence: correlation keys, when both sides carry some, must share one (and then
//!      suffice); otherwise identical request+response signatures, or a hook/gateway pair
//!      with equal request signatures *and* compatible responses (equal signatures, the
//!      hook's message length equal to the other's, or equal prompt and completion counts);
//!   5. a cluster holds at most one span per observer (span name + gateway path / hook kind):
//!      one observer never sees one call twice, so a gateway cannot absorb two hooks;
//!   6. the span joins the cluster with the nearest matching member (sum of start and end
//!      distances; ties → the earlier cluster);
//!   7. per cluster the highest fidelity wins; ties → earlier end, then smaller uuid; the
//!      winner's metrics are filled from the others in (fidelity desc, end, uuid) order.
//!
//!   It is order-independent and never chains (a suppressed span absorbs nothing).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{LlmSpan, Metrics};

/// Largest gap between two observations of one call sharing a request id (strict mode).
pub(crate) const STRICT_SKEW_US: i64 = 50_000;

/// Which LLM-span dedupe rule to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// NeMo Relay 0.10.4's rule.
    #[default]
    Relay,
    /// The stricter rule (see the module documentation).
    Strict,
}

/// What dedupe decided.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dedupe {
    /// Uuids of suppressed spans.
    pub suppressed: BTreeSet<String>,
    /// Per kept span: metrics to fill its own gaps with (from the spans it absorbed).
    pub supplemental: BTreeMap<String, Metrics>,
    /// `(kept, suppressed)` pairs, in decision order.
    pub merges: Vec<(String, String)>,
}

impl Dedupe {
    /// `win` absorbs `lose`: `lose` is suppressed, its metrics fill `win`'s gaps.
    fn absorb(&mut self, win: &LlmSpan, lose: &LlmSpan) {
        self.suppressed.insert(lose.uuid.clone());
        if let Some(m) = &lose.metrics {
            self.supplemental
                .entry(win.uuid.clone())
                .or_default()
                .fill_missing(m);
        }
        self.merges.push((win.uuid.clone(), lose.uuid.clone()));
    }

    /// The metrics of a kept span after the merge: its own, gaps filled.
    pub fn merged_metrics(&self, span: &LlmSpan) -> Option<Metrics> {
        match (&span.metrics, self.supplemental.get(&span.uuid)) {
            (None, None) => None,
            (Some(m), None) => Some(m.clone()),
            (None, Some(s)) => Some(s.clone()),
            (Some(m), Some(s)) => {
                let mut m = m.clone();
                m.fill_missing(s);
                Some(m)
            }
        }
    }
}

fn overlap_closed(a: &LlmSpan, b: &LlmSpan) -> bool {
    a.start_us <= b.end_us && b.start_us <= a.end_us
}

fn same_parent(a: &LlmSpan, b: &LlmSpan) -> bool {
    a.parent_uuid.is_some() && a.parent_uuid == b.parent_uuid
}

fn same_signatures(a: &LlmSpan, b: &LlmSpan) -> bool {
    a.request_signature == b.request_signature && a.response_signature == b.response_signature
}

fn shared_key(a: &LlmSpan, b: &LlmSpan) -> bool {
    !a.correlation_keys.is_disjoint(&b.correlation_keys)
}

/// Relay's `same_physical_llm_request`.
pub(crate) fn relay_match(a: &LlmSpan, b: &LlmSpan) -> bool {
    let models = match (&a.model, &b.model) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let complementary = ((a.non_exact && a.hook && b.gateway)
        || (b.non_exact && b.hook && a.gateway))
        && (a.request_signature == b.request_signature || shared_key(a, b));
    same_parent(a, b) && models && overlap_closed(a, b) && (same_signatures(a, b) || complementary)
}

/// A model name without a trailing date snapshot (`acme-chat-2026-01-15` → `acme-chat`).
pub(crate) fn model_family(model: &str) -> &str {
    let b = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if b.len() > 11 && b[b.len() - 11] == b'-' {
        let d = &b[b.len() - 10..];
        if digits(&d[0..4]) && d[4] == b'-' && digits(&d[5..7]) && d[7] == b'-' && digits(&d[8..]) {
            return &model[..model.len() - 11];
        }
    }
    if b.len() > 9 && b[b.len() - 9] == b'-' && digits(&b[b.len() - 8..]) {
        return &model[..model.len() - 9];
    }
    model
}

/// The strict rule for one pair (points 1–4 of the module documentation).
pub(crate) fn strict_match(a: &LlmSpan, b: &LlmSpan) -> bool {
    if !same_parent(a, b) {
        return false;
    }
    let keys_both = !a.correlation_keys.is_empty() && !b.correlation_keys.is_empty();
    let keyed = keys_both && shared_key(a, b);
    if keys_both && !keyed {
        return false;
    }
    let identical = same_signatures(a, b);
    let models = match (&a.model, &b.model) {
        (Some(x), Some(y)) => model_family(x) == model_family(y),
        (None, None) => true,
        _ => identical || keyed,
    };
    let overlap = a.start_us < b.end_us && b.start_us < a.end_us;
    let gap = (a.start_us - b.end_us).max(b.start_us - a.end_us);
    let time = overlap || (keyed && gap <= STRICT_SKEW_US);
    let counts = |s: &LlmSpan| {
        s.metrics
            .as_ref()
            .and_then(|m| Some((m.prompt_tokens?, m.completion_tokens?)))
    };
    let responses_agree = a.response_signature == b.response_signature
        || (a.response_chars.is_some() && a.response_chars == b.response_chars)
        || (counts(a).is_some() && counts(a) == counts(b));
    let hook_gateway = (a.hook && b.gateway) || (b.hook && a.gateway);
    let evidence = keyed
        || identical
        || (hook_gateway && a.request_signature == b.request_signature && responses_agree);
    models && time && evidence
}

/// Winner order: higher fidelity, then earlier end, then smaller uuid.
fn rank(s: &LlmSpan) -> (std::cmp::Reverse<u8>, i64, &str) {
    (std::cmp::Reverse(s.fidelity), s.end_us, s.uuid.as_str())
}

/// Dedupe `spans` (as [`super::llm_spans`] returns them) with `mode`.
pub fn dedupe(spans: &[LlmSpan], mode: Mode) -> Dedupe {
    match mode {
        Mode::Relay => relay(spans),
        Mode::Strict => strict(spans),
    }
}

fn relay(spans: &[LlmSpan]) -> Dedupe {
    let mut d = Dedupe::default();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if !relay_match(a, b) {
                continue;
            }
            let (win, lose) = match a.fidelity.cmp(&b.fidelity) {
                std::cmp::Ordering::Greater => (a, b),
                std::cmp::Ordering::Less => (b, a),
                std::cmp::Ordering::Equal => continue,
            };
            d.absorb(win, lose);
        }
    }
    d
}

fn strict(spans: &[LlmSpan]) -> Dedupe {
    let mut sorted: Vec<&LlmSpan> = spans.iter().collect();
    sorted.sort_by(|a, b| (a.start_us, a.end_us, &a.uuid).cmp(&(b.start_us, b.end_us, &b.uuid)));
    let mut clusters: Vec<Vec<&LlmSpan>> = Vec::new();
    for s in sorted {
        let best = clusters
            .iter()
            .enumerate()
            .filter(|(_, c)| c.iter().all(|m| m.observer != s.observer))
            .filter_map(|(i, c)| {
                c.iter()
                    .filter(|m| strict_match(m, s))
                    .map(|m| (m.start_us - s.start_us).abs() + (m.end_us - s.end_us).abs())
                    .min()
                    .map(|dist| (dist, i))
            })
            .min();
        match best {
            Some((_, i)) => clusters[i].push(s),
            None => clusters.push(vec![s]),
        }
    }
    let mut d = Dedupe::default();
    for mut c in clusters {
        c.sort_by(|a, b| rank(a).cmp(&rank(b)));
        let (win, rest) = c.split_first().expect("clusters are not empty");
        for lose in rest {
            d.absorb(win, lose);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_family_drops_date_snapshots_only() {
        assert_eq!(model_family("acme-chat-2026-01-15"), "acme-chat");
        assert_eq!(
            model_family("claude-3-5-sonnet-20241022"),
            "claude-3-5-sonnet"
        );
        assert_eq!(model_family("llama-3.1-70b"), "llama-3.1-70b");
        assert_eq!(model_family("gpt-4o"), "gpt-4o");
        assert_eq!(model_family("-2026-01-15"), "-2026-01-15");
    }
}
