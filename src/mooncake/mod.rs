//! Mooncake trace export: one JSONL row per LLM call, for replaying an agent's LLM load with
//! aiperf (`--custom-dataset-type mooncake_trace`), from IST with the semantics of Dynamo's
//! NAT converter (ai-dynamo/dynamo `benchmarks/`, see `../shared/fixtures/atif/NOTES.md`),
//! and from ATIF with the closest equivalent.
//!
//! Rules (IST, Dynamo's):
//! - within a request, each `LLM_END` whose `UUID` matches an `LLM_START` is one call (a START
//!   without END, or an END without START, is dropped); calls are ordered by the END's
//!   `event_timestamp` (stable);
//! - text = the `content` of each `metadata.chat_inputs` message (dicts with a truthy
//!   content, `str()` of it) or the message itself (strings), joined by `"\n"`; a call with
//!   empty text is skipped (warning);
//! - `input_length` = token count of that text (no special tokens); `hash_ids` = ids of its
//!   chained blocks of `block_size` tokens (see `BlockHasher`), shared across the file;
//! - `output_length` = the END's `completion_tokens`; `session_id` = `conv_<request_number>`;
//!   `delay` on every row of a session after its first;
//! - `--skip-requests` then `--num-requests` select requests; a request without calls is
//!   skipped (warning); a truncated file is recovered request by request
//!   ([`recover_truncated`]).
//!
//! ATIF: each agent step with `metrics` is one call (the steps NAT's ATIF-native profiler
//! reads as `LLM_END`), subagent trajectories included, ordered by step timestamp. ATIF from
//! NAT has no prompt text, so `input_length` is the step's `prompt_tokens` and `hash_ids` is
//! empty ([`InputSource::PromptTokens`]); where an exporter keeps the request
//! (`extra.llm_request.messages`, NeMo Relay: on the agent step or the user step before it)
//! its messages give the text as on the IST side. That difference is reported as drift.

pub mod telemetry;

use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::pyfmt::{py_str, truthy};
use crate::trace::atif::{AtifTrace, Step, Trajectory};
use crate::trace::ist::{EventType, IstRequest};

/// Dynamo's `DEFAULT_BLOCK_SIZE` in its current converter (an earlier README said 128).
pub const DEFAULT_BLOCK_SIZE: usize = 64;
/// Dynamo's `--delay` default, in milliseconds.
pub const DEFAULT_DELAY_MS: u64 = 500;

/// The tokenizer that counts input tokens and cuts them into blocks.
pub enum Tokenizer {
    /// OpenAI's cl100k_base BPE, shipped inside tiktoken-rs (the default: nothing is fetched).
    Cl100k(&'static tiktoken_rs::CoreBPE),
    /// A HuggingFace `tokenizer.json` (e.g. the model's own, as Dynamo uses).
    HuggingFace {
        /// The `tokenizer.json` it was read from.
        path: String,
        /// The tokenizer.
        tokenizer: Box<tokenizers::Tokenizer>,
    },
}

impl Tokenizer {
    /// OpenAI's cl100k_base.
    pub fn cl100k() -> Self {
        Tokenizer::Cl100k(tiktoken_rs::cl100k_base_singleton())
    }

    /// Load a HuggingFace `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = crate::fsio::read_regular(path, crate::fsio::SMALL_FILE_LIMIT)?;
        let tokenizer = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| Error::Format {
            path: path.to_path_buf(),
            message: format!("not a HuggingFace tokenizer.json: {e}"),
        })?;
        Ok(Tokenizer::HuggingFace {
            path: path.display().to_string(),
            tokenizer: Box::new(tokenizer),
        })
    }

    /// The tokenizer's name as reports print it.
    pub fn name(&self) -> String {
        match self {
            Tokenizer::Cl100k(_) => "cl100k_base".into(),
            Tokenizer::HuggingFace { path, .. } => path.clone(),
        }
    }

    /// Token ids of `text`, without special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, Error> {
        match self {
            Tokenizer::Cl100k(bpe) => Ok(bpe.encode_ordinary(text)),
            Tokenizer::HuggingFace { path, tokenizer } => tokenizer
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| Error::Other(format!("{path}: cannot tokenize: {e}"))),
        }
    }
}

/// Which requests to export and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Tokens per hash block.
    pub block_size: usize,
    /// Milliseconds between a session's turns; `None`: no `delay` field.
    pub delay: Option<u64>,
    /// Requests skipped at the start.
    pub skip_requests: usize,
    /// At most this many requests (all when absent).
    pub num_requests: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_size: DEFAULT_BLOCK_SIZE,
            delay: Some(DEFAULT_DELAY_MS),
            skip_requests: 0,
            num_requests: None,
        }
    }
}

/// One LLM call as the exporter sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmCall {
    /// The prompt text; `None` when the source has none (NAT's ATIF).
    pub text: Option<String>,
    /// Prompt tokens the call reports.
    pub prompt_tokens: i64,
    /// Completion tokens the call reports.
    pub completion_tokens: i64,
    /// The call's end time (epoch seconds), its sort key.
    pub end_ts: f64,
}

/// The calls of one request (one ATIF trajectory), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The session (request) id.
    pub session_id: String,
    /// Its LLM calls, in order.
    pub calls: Vec<LlmCall>,
}

/// Where a row's `input_length` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSource {
    /// Tokens of the prompt text, with `hash_ids`.
    Text,
    /// The recorded `prompt_tokens` (no text): no `hash_ids`.
    PromptTokens,
}

/// One mooncake row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The session the row belongs to.
    pub session_id: String,
    /// Input tokens.
    pub input_length: i64,
    /// Output tokens.
    pub output_length: i64,
    /// The hash of each block of the input.
    pub hash_ids: Vec<u64>,
    /// Milliseconds since the session's previous row.
    pub delay: Option<u64>,
    /// Where the input came from (its text, or the reported token count).
    pub source: InputSource,
}

/// The rows, and a warning for everything skipped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Export {
    /// The rows, in order.
    pub rows: Vec<Row>,
    /// What could not be converted exactly.
    pub warnings: Vec<String>,
}

/// A block size of 0 cuts no block: refused.
pub(crate) fn check_block_size(block_size: usize) -> Result<(), Error> {
    if block_size == 0 {
        return Err(Error::Other("--block-size must be positive".into()));
    }
    Ok(())
}

/// Dynamo's (aiperf's) `RollingHasher`: block `k` of a text is identified by (id of block
/// `k-1`, its tokens); ids are consecutive integers from 0 in order of first appearance,
/// shared by every text given to one hasher, so equal prefixes get equal leading ids.
#[derive(Debug, Default)]
pub(crate) struct BlockHasher {
    /// Keyed with FxHash, not SipHash: a key is a block of tokens (hundreds of them), hashed
    /// for every block of every prompt.
    ids: rustc_hash::FxHashMap<(i64, Vec<u32>), u64>,
}

impl BlockHasher {
    /// The hashes of `tokens`' blocks of `block_size`, each chained to the ones before.
    pub fn hash(&mut self, tokens: &[u32], block_size: usize) -> Vec<u64> {
        let mut parent: i64 = -1;
        let mut out = Vec::with_capacity(tokens.len().div_ceil(block_size.max(1)));
        for block in tokens.chunks(block_size.max(1)) {
            let next = self.ids.len() as u64;
            let id = *self.ids.entry((parent, block.to_vec())).or_insert(next);
            out.push(id);
            parent = id as i64;
        }
        out
    }
}

/// Dynamo's `chat_inputs_to_text`: contents of dict messages (when truthy) and string
/// messages as they are, joined by newlines.
pub(crate) fn messages_text(messages: &Value) -> String {
    let Some(list) = messages.as_array() else {
        return String::new();
    };
    let mut texts = Vec::new();
    for m in list {
        match m {
            Value::Object(o) => {
                if let Some(c) = o.get("content").filter(|c| truthy(c)) {
                    texts.push(py_str(c));
                }
            }
            Value::String(s) => texts.push(s.clone()),
            _ => {}
        }
    }
    texts.join("\n")
}

/// `conv_<request_number>` (`str()` of the value as Python prints it; 0 when absent).
fn ist_session_id(req: &IstRequest) -> String {
    match &req.request_number {
        None => "conv_0".into(),
        Some(v) => format!("conv_{}", py_str(v)),
    }
}

fn sort_by_end(calls: &mut [LlmCall]) {
    calls.sort_by(|a, b| a.end_ts.total_cmp(&b.end_ts));
}

/// The LLM calls of each IST request (Dynamo's `extract_llm_calls`).
pub fn sessions_from_ist(requests: &[IstRequest]) -> Vec<Session> {
    requests.iter().map(session_from_ist).collect()
}

/// The LLM calls of one IST request.
pub fn session_from_ist(req: &IstRequest) -> Session {
    let mut starts = rustc_hash::FxHashMap::default();
    for s in &req.intermediate_steps {
        if s.payload.event_type == EventType::LLM_START && !s.payload.uuid.is_empty() {
            starts.insert(s.payload.uuid.as_str(), &s.payload);
        }
    }
    let mut calls = Vec::new();
    for s in &req.intermediate_steps {
        let p = &s.payload;
        if p.event_type != EventType::LLM_END || p.uuid.is_empty() {
            continue;
        }
        let Some(start) = starts.get(p.uuid.as_str()) else {
            continue;
        };
        let chat_inputs = start
            .metadata
            .as_ref()
            .and_then(|m| m.get("chat_inputs"))
            .unwrap_or(Value::Null);
        let usage = p.usage_info.clone().unwrap_or_default().token_usage;
        calls.push(LlmCall {
            text: Some(messages_text(&chat_inputs)),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            end_ts: p.event_timestamp,
        });
    }
    sort_by_end(&mut calls);
    Session {
        session_id: ist_session_id(req),
        calls,
    }
}

/// The request messages an exporter kept for an agent step: its own
/// `extra.llm_request.messages`, else those of the user step right before it.
fn request_messages<'a>(step: &'a Step, prev: Option<&'a Step>) -> Option<&'a Value> {
    let own = |s: &'a Step| {
        s.extra
            .as_ref()
            .and_then(|e| e.get("llm_request"))
            .and_then(|r| r.get("messages"))
    };
    own(step).or_else(|| prev.filter(|p| p.source == "user").and_then(own))
}

fn atif_calls(t: &Trajectory, out: &mut Vec<LlmCall>) {
    let keep = crate::loss::kept(t.extra.as_ref());
    let mut prev: Option<&Step> = None;
    // (IST position when kept, call), put in IST order before the sort by end time.
    let mut calls: Vec<(Option<u64>, LlmCall)> = Vec::new();
    for step in &t.steps {
        if step.source == "agent" {
            let call = match keep.is_empty() {
                true => step.metrics.as_ref().map(|m| {
                    let ts = step
                        .timestamp
                        .as_deref()
                        .and_then(crate::pyfmt::iso_to_epoch);
                    LlmCall {
                        text: request_messages(step, prev).map(messages_text),
                        prompt_tokens: m.prompt_tokens.unwrap_or(0),
                        completion_tokens: m.completion_tokens.unwrap_or(0),
                        end_ts: ts.unwrap_or(0.0),
                    }
                }),
                false => kept_call(step, prev, keep),
            };
            if let Some((seq, c)) = call.map(|c| (seq_of(step, keep), c)) {
                calls.push((seq, c));
            }
        }
        prev = Some(step);
    }
    if keep.has("event-order") {
        calls.sort_by_key(|(seq, _)| *seq);
    }
    out.extend(calls.into_iter().map(|(_, c)| c));
    for sub in t.subagent_trajectories.iter().flatten() {
        atif_calls(sub, out);
    }
}

/// The IST position of the event an agent step stands for (loss `event-order`).
fn seq_of(step: &Step, keep: crate::loss::Keep) -> Option<u64> {
    crate::loss::records(step.extra.as_ref(), keep, "anchor")
        .first()?
        .get("seq")?
        .as_u64()
}

/// The call of an agent step of a trajectory that keeps losses (`convert --keep`), as the
/// IST side sees it where the losses are kept: an LLM_END (`event-kinds`) with a UUID
/// (`step-uuid`) and an LLM_START (`llm-start-time`), the prompt's messages of its last
/// START (`prompt-text`), its exact end time; NAT's ATIF rules where they are not.
fn kept_call(step: &Step, prev: Option<&Step>, keep: crate::loss::Keep) -> Option<LlmCall> {
    use crate::loss::records;
    let extra = step.extra.as_ref();
    let anchor = records(extra, keep, "anchor")
        .into_iter()
        .next()
        .unwrap_or_default();
    let is_llm = match keep.has("event-kinds") {
        true => anchor.get("event_type").and_then(Value::as_str) == Some("LLM_END"),
        false => step.metrics.is_some(),
    };
    let starts = records(extra, keep, "start");
    if !is_llm
        || (keep.has("step-uuid") && anchor.get("uuid").and_then(Value::as_str) == Some(""))
        || (keep.has("llm-start-time") && starts.is_empty())
    {
        return None;
    }
    let text = match keep.has("prompt-text") {
        true => Some(messages_text(
            starts
                .last()
                .and_then(|s| s.get("chat_inputs"))
                .unwrap_or(&Value::Null),
        )),
        false => request_messages(step, prev).map(messages_text),
    };
    let end_ts = anchor
        .get("event_timestamp")
        .and_then(Value::as_f64)
        .or_else(|| extra?.get("invocation")?.get("end_timestamp")?.as_f64())
        .or_else(|| {
            step.timestamp
                .as_deref()
                .and_then(crate::pyfmt::iso_to_epoch)
        })
        .unwrap_or(0.0);
    let m = step.metrics.clone().unwrap_or_default();
    Some(LlmCall {
        text,
        prompt_tokens: m.prompt_tokens.unwrap_or(0),
        completion_tokens: m.completion_tokens.unwrap_or(0),
        end_ts,
    })
}

/// One session per trajectory: `request-<n>` (NAT's converter) → `conv_<n>`, like the IST
/// side; any other session id `s` → `conv_<s>`. In NAT eval's `workflow_output_atif.json`
/// the session ids are the items' (`builtins.str:'calc_01'`) and the trajectories come in the
/// eval items' order, which is the IST trace's request order: trajectory `i` is `conv_<i>`,
/// so the sessions pair with the IST side's by request.
pub fn sessions_from_atif(trace: &AtifTrace) -> Vec<Session> {
    let by_position = trace.layout == crate::trace::atif::AtifLayout::EvalOutput;
    trace
        .trajectories()
        .enumerate()
        .map(|(i, t)| {
            let mut s = session_from_atif(i, t);
            if by_position {
                s.session_id = format!("conv_{i}");
            }
            s
        })
        .collect()
}

/// The LLM calls of trajectory number `i` (with its subagents').
pub fn session_from_atif(i: usize, t: &Trajectory) -> Session {
    let sid = t.session_id.clone().unwrap_or_else(|| i.to_string());
    let n = sid.strip_prefix("request-").unwrap_or(&sid);
    let mut calls = Vec::new();
    atif_calls(t, &mut calls);
    sort_by_end(&mut calls);
    Session {
        session_id: format!("conv_{n}"),
        calls,
    }
}

/// Dynamo's `convert_to_mooncake`: select requests, skip calls without text, tokenize and
/// hash every text with one hasher, add delays.
pub fn rows(sessions: &[Session], tok: &Tokenizer, opts: &Options) -> Result<Export, Error> {
    check_block_size(opts.block_size)?;
    let mut export = Export::default();
    let mut hasher = BlockHasher::default();
    // The sessions seen, and each distinct prompt's tokens (keyed by the whole prompt text:
    // FxHash, not SipHash).
    let mut seen = rustc_hash::FxHashSet::<&str>::default();
    let mut tokens_of = rustc_hash::FxHashMap::<&str, Vec<u32>>::default();
    let selected = sessions
        .iter()
        .skip(opts.skip_requests)
        .take(opts.num_requests.unwrap_or(usize::MAX));
    for s in selected {
        if s.calls.is_empty() {
            export
                .warnings
                .push(format!("{}: no LLM calls, request skipped", s.session_id));
            continue;
        }
        for (k, c) in s.calls.iter().enumerate() {
            let (input_length, hash_ids, source) = match &c.text {
                Some(t) if t.is_empty() => {
                    export.warnings.push(format!(
                        "{} call {k}: empty prompt text, call skipped",
                        s.session_id
                    ));
                    continue;
                }
                Some(t) => {
                    // Agents resend the same prompts (replicas, retries): tokenize each text once.
                    let tokens = match tokens_of.get(t.as_str()) {
                        Some(v) => v,
                        None => tokens_of.entry(t.as_str()).or_insert(tok.encode(t)?),
                    };
                    let ids = hasher.hash(tokens, opts.block_size);
                    (tokens.len() as i64, ids, InputSource::Text)
                }
                None => (c.prompt_tokens, Vec::new(), InputSource::PromptTokens),
            };
            let first = seen.insert(s.session_id.as_str());
            export.rows.push(Row {
                session_id: s.session_id.clone(),
                input_length,
                output_length: c.completion_tokens,
                hash_ids,
                delay: opts.delay.filter(|_| !first),
                source,
            });
        }
    }
    Ok(export)
}

/// JSONL as Dynamo writes it (`json.dumps` per row: `", "` and `": "` separators).
pub fn to_jsonl(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let ids: Vec<String> = r.hash_ids.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "{{\"session_id\": {}, \"input_length\": {}, \"output_length\": {}, \"hash_ids\": [{}]",
            crate::pyjson::dumps(&Value::String(r.session_id.clone())),
            r.input_length,
            r.output_length,
            ids.join(", ")
        ));
        if let Some(d) = r.delay {
            out.push_str(&format!(", \"delay\": {d}"));
        }
        out.push_str("}\n");
    }
    out
}

/// Dynamo's `load_json_robust` for a truncated `all_requests_profiler_traces.json`: each
/// `"request_number": <digits>` marks a request, taken from the `{` before it to the `{`
/// before the next one (trailing whitespace and comma removed); requests that do not parse
/// are skipped with a warning. Errors when no request marker is found.
pub fn recover_truncated(text: &str) -> Result<(Vec<IstRequest>, Vec<String>), String> {
    let re = regex::Regex::new(r#""request_number":\s*(\d+)"#).expect("valid regex");
    let marks: Vec<(usize, String)> = re
        .captures_iter(text)
        .map(|c| (c.get(0).map_or(0, |m| m.start()), c[1].to_string()))
        .collect();
    if marks.is_empty() {
        return Err("no valid requests found in file".into());
    }
    let open_before = |at: usize| text[..at].rfind('{');
    let mut requests = Vec::new();
    let mut warnings = Vec::new();
    for (i, (at, number)) in marks.iter().enumerate() {
        // Python's rfind returns -1 when there is none, and content[-1:end] is then empty
        // or the last character: either way not a request.
        let Some(start) = open_before(*at) else {
            warnings.push(format!("request {number}: no opening brace, skipped"));
            continue;
        };
        let end = match marks.get(i + 1) {
            Some((next, _)) => open_before(*next).unwrap_or(0),
            None => text.len(),
        };
        let chunk = if end > start { &text[start..end] } else { "" };
        let chunk = chunk.trim_end().trim_end_matches(',');
        match serde_json::from_str::<IstRequest>(chunk) {
            Ok(r) => requests.push(r),
            Err(e) => warnings.push(format!("request {number}: cannot parse ({e}), skipped")),
        }
    }
    Ok((requests, warnings))
}

/// The sessions of a trace file: IST (recovered request by request when the file does not
/// parse, e.g. truncated) or ATIF. Warnings name what recovery skipped.
pub fn sessions_of_file(
    path: &Path,
    opts: &crate::trace::LoadOptions,
) -> Result<(Vec<Session>, Vec<String>), Error> {
    use crate::trace::Trace;
    match crate::trace::load_file(path, opts) {
        Ok(Trace::Ist(ist)) => Ok((sessions_from_ist(&ist.requests), vec![])),
        Ok(Trace::Atif(atif)) => Ok((sessions_from_atif(&atif), vec![])),
        Ok(Trace::Atof(_)) => Err(Error::Format {
            path: path.to_path_buf(),
            message: "an ATOF event stream: convert it to ATIF first (--to atif)".into(),
        }),
        Err(e @ Error::Json { .. }) => {
            let bytes = crate::trace::load::read_bytes(path, opts)?;
            let text = String::from_utf8_lossy(&bytes);
            let Ok((requests, mut warnings)) = recover_truncated(&text) else {
                return Err(e);
            };
            warnings.insert(
                0,
                format!(
                    "{e}; recovered {} requests one by one, as Dynamo's converter does",
                    requests.len()
                ),
            );
            Ok((sessions_from_ist(&requests), warnings))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_are_shared_by_equal_prefixes_and_chained() {
        let mut h = BlockHasher::default();
        assert_eq!(h.hash(&[1, 2, 3, 4, 5], 2), vec![0, 1, 2]);
        // Same first block, different second: shares id 0 only.
        assert_eq!(h.hash(&[1, 2, 9, 9], 2), vec![0, 3]);
        // A block equal in tokens but under another parent gets a new id.
        assert_eq!(h.hash(&[3, 4], 2), vec![4]);
        assert_eq!(h.hash(&[], 2), Vec::<u64>::new());
    }

    #[test]
    fn messages_text_follows_dynamo() {
        let v: Value = serde_json::json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": ""},
            {"role": "user", "content": 0},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            "",
            "plain",
            7
        ]);
        assert_eq!(
            messages_text(&v),
            "sys\n[{'type': 'text', 'text': 'hi'}]\n\nplain"
        );
        assert_eq!(messages_text(&Value::Null), "");
    }

    #[test]
    fn jsonl_matches_python_json_dumps() {
        let rows = vec![
            Row {
                session_id: "conv_0".into(),
                input_length: 3,
                output_length: 2,
                hash_ids: vec![0, 1],
                delay: None,
                source: InputSource::Text,
            },
            Row {
                session_id: "conv_0".into(),
                input_length: 1,
                output_length: 0,
                hash_ids: vec![],
                delay: Some(500),
                source: InputSource::Text,
            },
        ];
        assert_eq!(
            to_jsonl(&rows),
            "{\"session_id\": \"conv_0\", \"input_length\": 3, \"output_length\": 2, \"hash_ids\": [0, 1]}\n\
             {\"session_id\": \"conv_0\", \"input_length\": 1, \"output_length\": 0, \"hash_ids\": [], \"delay\": 500}\n"
        );
    }

    #[test]
    fn cl100k_counts_tokens_without_special_tokens() {
        let t = Tokenizer::cl100k();
        assert_eq!(t.encode("hello world").unwrap().len(), 2);
        // The special token's text is encoded as ordinary text, never as the special id.
        assert!(!t.encode("<|endoftext|>").unwrap().contains(&100257));
    }
}
