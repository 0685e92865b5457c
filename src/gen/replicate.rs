//! Large benchmark inputs from a small trace, as `shared/oracle/replicate_traces.py` makes
//! them: request k is a copy of input request `k mod R`, its timestamps shifted by
//! `(k div R) × stride` (stride = the input's time span + 1 s, so replicas do not overlap),
//! and every id (UUIDs, parent and function ids; not `root`) replaced by a fresh uuid-shaped
//! id, consistently within the copy.

use crate::trace::ist::{IntermediateStep, IstRequest, IstTrace};

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn fresh(copy: usize, id: &str) -> String {
    if id == "root" || id.is_empty() {
        return id.to_string();
    }
    format!(
        "{copy:08x}-{:04x}-4000-8000-{:012x}",
        (fnv(id) >> 48) & 0xffff,
        fnv(id) & 0xffff_ffff_ffff
    )
}

fn remap(step: &mut IntermediateStep, copy: usize, shift: f64) {
    step.parent_id = fresh(copy, &step.parent_id);
    let a = &mut step.function_ancestry;
    a.function_id = fresh(copy, &a.function_id);
    a.parent_id = a.parent_id.as_deref().map(|p| fresh(copy, p));
    let p = &mut step.payload;
    p.uuid = fresh(copy, &p.uuid);
    p.event_timestamp += shift;
    p.span_event_timestamp = p.span_event_timestamp.map(|t| t + shift);
}

/// `n` requests replicated from `trace` (which must have at least one request).
pub fn replicate(trace: &IstTrace, n: usize) -> IstTrace {
    let r = Replicator::new(trace);
    IstTrace {
        requests: (0..n).filter_map(|k| r.request(k)).collect(),
    }
}

/// Replicas one request at a time (large inputs are written without being held).
pub(crate) struct Replicator<'a> {
    trace: &'a IstTrace,
    stride: f64,
}

impl<'a> Replicator<'a> {
    /// A replicator of `trace`'s requests.
    pub fn new(trace: &'a IstTrace) -> Self {
        let ts = trace
            .requests
            .iter()
            .flat_map(|q| &q.intermediate_steps)
            .map(|s| s.ts());
        let (lo, hi) = ts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
            (a.min(t), b.max(t))
        });
        let stride = if hi >= lo { hi - lo + 1.0 } else { 1.0 };
        Replicator { trace, stride }
    }

    /// Request `k` of the replicated trace (`None` when the trace has no requests).
    pub fn request(&self, k: usize) -> Option<IstRequest> {
        let r = self.trace.requests.len().max(1);
        let src = self.trace.requests.get(k % r)?;
        let mut q = IstRequest {
            request_number: Some(k.into()),
            intermediate_steps: src.intermediate_steps.clone(),
            extra: Default::default(),
        };
        let shift = (k / r) as f64 * self.stride;
        for s in &mut q.intermediate_steps {
            remap(s, k, shift);
        }
        Some(q)
    }
}

/// [`replicate`]'s trace written as NAT writes its trace file (`json.dump`, indent 2: the
/// bytes of `pyjson::dumps(&trace::ist::traces_json(&replicate(trace, n)))`), a request at a
/// time, so that inputs larger than memory can be made.
pub fn write_replica(
    trace: &IstTrace,
    n: usize,
    out: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    let replicator = Replicator::new(trace);
    let requests = (0..n).map_while(|k| Some((k, replicator.request(k)?)));
    crate::pyjson::write_list(
        requests.map(|(k, q)| crate::trace::ist::request_json(k, &q.intermediate_steps)),
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_a_request_at_a_time_as_nat_writes_the_whole_file() {
        let src = crate::trace::corpus_ist("sample");
        for n in [0, 1, 7] {
            let mut out = Vec::new();
            write_replica(&src, n, &mut out).unwrap();
            let whole = crate::pyjson::dumps(&crate::trace::ist::traces_json(&replicate(&src, n)));
            assert_eq!(String::from_utf8(out).unwrap(), whole, "{n} requests");
        }
    }

    #[test]
    fn copies_keep_pairs_and_do_not_overlap() {
        let t = crate::trace::load::load_bytes(
            std::path::Path::new("t.json"),
            serde_json::to_string(&crate::gen::bad_inputs::base_ist())
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let crate::trace::Trace::Ist(t) = t else {
            panic!()
        };
        let big = replicate(&t, 3);
        assert_eq!(big.requests.len(), 3);
        let (a, b) = (
            &big.requests[0].intermediate_steps,
            &big.requests[1].intermediate_steps,
        );
        assert_eq!(a[1].payload.uuid, a[2].payload.uuid, "START/END still pair");
        assert_ne!(
            a[1].payload.uuid, b[1].payload.uuid,
            "ids differ across copies"
        );
        assert!(b[0].ts() > a[a.len() - 1].ts(), "copies do not overlap");
        assert_eq!(a[0].function_ancestry.parent_id.as_deref(), Some("root"));
    }
}
