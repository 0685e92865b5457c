//! Every deliberate difference from NAT, in one place, with its reason.
//!
//! A conformance test that tolerates a difference names it here, and `atif-drift
//! differences` prints this list, so no difference is hidden.

use serde::Serialize;
use serde_json::Value;

/// UUID → its name (`U0`, `U1`, …), in order of first appearance. Keyed by the UUID's 128
/// bits (a UUID as [`uuid_bits`] reads one has no other spelling): at 100,000 requests the
/// drift's names held as strings were a tenth of its peak memory.
#[derive(Debug, Default)]
pub struct Names {
    /// UUID ([`key`]) → the number of its name. Keyed by two `u64`, not a `u128`: an entry
    /// is then 24 bytes, not 32 (a `u128` is aligned to 16).
    numbers: rustc_hash::FxHashMap<[u64; 2], u32>,
    /// The names as shared text, by number, made when first asked for ([`Names::text`]):
    /// numbers from `names.len()` on have none yet. A report renamed in place
    /// ([`rename_owned`]) writes its names' digits and never makes them.
    names: Vec<crate::frame::Text>,
    /// The names one after the other (`U0U1…`), written by [`Names::spell_all`] for
    /// [`Names::by_number`]: one buffer, not a shared text per name (a table of a million
    /// UUIDs made a million of them, one by one).
    spelled: String,
    /// How many names `spelled` holds.
    spelled_names: u32,
}

/// Names are equal when they number the same UUIDs alike (whichever texts were made).
impl PartialEq for Names {
    fn eq(&self, other: &Names) -> bool {
        self.numbers == other.numbers
    }
}

impl Names {
    /// The name of `text` when it is a UUID that has one.
    pub fn get(&self, text: &str) -> Option<crate::frame::Text> {
        let n = *self.numbers.get(&key(uuid_bits(text.as_bytes())?))?;
        Some(match self.names.get(n as usize) {
            Some(name) => name.clone(),
            None => name_text(n),
        })
    }

    /// The name numbered `n` (by [`note_uuid`]; spelled by [`Names::spell_all`]).
    pub fn by_number(&self, n: u32) -> &str {
        let start = spelled_before(n);
        let len = 1 + digits(n);
        &self.spelled[start..start + len]
    }

    /// Spell every name numbered so far, for [`Names::by_number`].
    pub fn spell_all(&mut self) {
        if let Some(last) = (self.numbers.len() as u32).checked_sub(1) {
            self.spell(last);
        }
    }

    /// Spell the names through number `n` in `spelled`, its room reserved once (spelled
    /// one UUID at a time as they were numbered, the buffer grew by doubling: about 0.15 µs
    /// a name, half a second per frame of a million names).
    fn spell(&mut self, n: u32) {
        let mut buf = [0u8; NAME_MAX];
        let total = spelled_before(n) + 1 + digits(n);
        self.spelled
            .reserve_exact(total.saturating_sub(self.spelled.len()));
        while self.spelled_names <= n {
            let name = name_bytes(self.spelled_names, &mut buf);
            self.spelled
                .push_str(std::str::from_utf8(name).expect("ASCII digits"));
            self.spelled_names += 1;
        }
    }

    /// The name numbered `n` as shared text, made now (with every name before it) when it
    /// has not been yet.
    fn text(&mut self, n: u32) -> &crate::frame::Text {
        let n = n as usize;
        while self.names.len() <= n {
            self.names.push(name_text(self.names.len() as u32));
        }
        &self.names[n]
    }
}

/// A deliberate difference from NAT.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Difference {
    /// Stable identifier, used by tests and reports.
    pub id: &'static str,
    /// What it concerns (`convert`, `profile`, …).
    pub area: &'static str,
    /// What NAT does.
    pub nat: &'static str,
    /// What atif-drift does.
    pub ours: &'static str,
    /// Why.
    pub reason: &'static str,
}

/// Every deliberate difference, in the order they are listed to users.
pub const DIFFERENCES: &[Difference] = &[
    Difference {
        id: "atof.dedupe-order",
        area: "dedupe, convert --from atof",
        nat: "NeMo Relay (not NAT) visits LLM-span pairs in HashMap order, random per process: when one span absorbs \
              two with conflicting metrics, the merged metrics change from run to run (scenario d5)",
        ours: "pairs are visited sorted by (start, end, uuid): the result is always the same, one of Relay's outcomes",
        reason: "same inputs, same output",
    },
    Difference {
        id: "atof.annotations",
        area: "convert --from atof",
        nat: "NeMo Relay's exporter also reads in-memory codec annotations of each LLM event (normalised request, \
              response and usage) and estimates cost_usd from its pricing table",
        ours: "only what the ATOF event JSON carries (OpenAI chat, Anthropic messages, `reasoning`, usage); no cost estimate",
        reason: "annotations and prices are not in ATOF files; on Relay's 18 scenarios and our 12 random mixes the output is equal",
    },
    Difference {
        id: "mooncake.tokenizer",
        area: "mooncake",
        nat: "Dynamo's converter (not NAT) tokenizes with a HuggingFace tokenizer: --tokenizer, else inferred from \
              Llama 3.x model names, else deepseek-ai/DeepSeek-R1-Distill-Llama-8B, downloaded from the Hub",
        ours: "cl100k_base built in (tiktoken-rs), or --tokenizer with a local tokenizer.json; no inference from model names",
        reason: "nothing is fetched at run time; input_length and hash_ids equal Dynamo's only with the same tokenizer",
    },
    Difference {
        id: "mooncake.recovery",
        area: "mooncake",
        nat: "Dynamo's converter reads any JSON request leniently (dict .get with defaults), and recovers a file that \
              does not parse by cutting it at each \"request_number\"",
        ours: "requests are read as NAT IntermediateSteps; a file that does not load is recovered the same way, and a \
               chunk that is JSON but not a valid request is skipped with a warning naming it",
        reason: "no silent guesses about malformed steps; every skipped request is reported",
    },
    Difference {
        id: "telemetry.bad-lines",
        area: "convert --from telemetry",
        nat: "Dynamo's convert_telemetry.py (not NAT) stops with a Python traceback on a line that is not JSON (a blank \
              line included), not an object, or an llm_call without session_id or timestamp",
        ours: "an error naming the file and line; --skip-bad-lines skips such a line with a warning; blank lines are skipped",
        reason: "a clear error instead of a traceback; a trailing blank line is no reason to fail",
    },
    Difference {
        id: "telemetry.unordered-keys",
        area: "convert --from telemetry",
        nat: "llm_call keys (session_id, timestamp) of types Python cannot order (a string and a number) fail the sort only \
              when its merge happens to compare such a pair",
        ours: "an error naming both lines whenever the sort compares such a pair",
        reason: "the same input either converts or fails with a message, whatever the sort's path",
    },
    Difference {
        id: "telemetry.lenient-shapes",
        area: "convert --from telemetry",
        nat: "`messages` that is null or a number, a system prompt that is a non-empty non-string, or a non-string \
              `text` part stop the script (iteration, .startswith, \"\\n\".join)",
        ours: "such `messages` count as none, such a system prompt classifies as `unknown`, such a text part is written \
               as Python's str() of it",
        reason: "one odd event should not lose the whole file; every other shape is read as Dynamo reads it",
    },
    Difference {
        id: "convert.session-id",
        area: "convert",
        nat: "IntermediateStepToATIFConverter draws a random uuid4 session_id unless given one; `nat eval` passes the \
              type-tagged dataset item id (`builtins.str:'calc_01'`)",
        ours: "session_id = `request-<n>` (n = request index), as NAT's convert_to_atif.py oracle passes it",
        reason: "a uuid4 makes output nondeterministic, and the dataset item id is not in the IST trace file",
    },
    Difference {
        id: "convert.eval-export-nulls",
        area: "convert",
        nat: "`nat eval`'s workflow_output_atif.json writes every optional field, `null` when absent \
              (model_dump without exclude_none)",
        ours: "optional fields that are absent are omitted, as Trajectory.to_json_dict() (exclude_none) writes them",
        reason: "the same data; ATIF readers treat null and absent alike, and to_json_dict is NAT's own export form",
    },
    Difference {
        id: "convert.python-literal-sets",
        area: "convert",
        nat: "a tool input logged as a Python set literal is parsed by ast.literal_eval into a set, whose string \
              iteration order depends on PYTHONHASHSEED",
        ours: "set elements are kept in the order written",
        reason: "NAT's order is not reproducible across runs",
    },
    Difference {
        id: "convert.python-literal-edge-cases",
        area: "convert",
        nat: "ast.literal_eval also accepts complex numbers, integers beyond 64 bits and `\\N{…}` escapes; a JSON \
              tool input containing NaN/Infinity parses with json.loads",
        ours: "those inputs are not parsed as dicts, so the call's arguments become {\"input\": <text>}",
        reason: "no faithful JSON form (complex, >64-bit ints) or not worth a Unicode name table; never seen in NAT traces",
    },
    Difference {
        id: "pyfmt.unicode-version",
        area: "convert",
        nat: "repr() of strings escapes characters that Python 3.11's Unicode 14 database calls non-printable",
        ours: "uses the Unicode database of the unicode-general-category crate",
        reason: "characters assigned after Unicode 14 may be escaped differently; none occur in NAT traces seen so far",
    },
    Difference {
        id: "profile.stable-sort-ties",
        area: "profile",
        nat: "pandas' single-column sort_values is an unstable quicksort (numpy's SIMD sort): rows with equal \
              timestamps come out in a CPU-dependent order (SPEC quirk Q22); this changes token uniqueness when two \
              LLM_STARTs of one model in one request share a timestamp",
        ours: "stable sort: rows with equal timestamps keep their trace order",
        reason: "NAT's order is not reproducible across machines; ties are rare in real traces (none in the corpus)",
    },
    Difference {
        id: "profile.active-uuids-order",
        area: "profile",
        nat: "concurrency_spike_analysis.spike_intervals[*].active_uuids is list(set(...)): its order follows \
              Python's string hashing, so it changes with PYTHONHASHSEED (random in every real `nat eval` run; SPEC Q10)",
        ours: "the distinct UUIDs in the order their calls appear in the call trees (depth-first)",
        reason: "NAT's order is random; the set, its size and everything derived from it are equal",
    },
    Difference {
        id: "profile.trie-generated-at",
        area: "profile",
        nat: "prediction_trie.json `generated_at` is the wall clock when the file was written",
        ours: "the time of the trace's last event (ISO 8601, UTC)",
        reason: "same input, same bytes: a wall-clock value would make every run differ",
    },
    Difference {
        id: "atif.row-uuids",
        area: "profile --path atif",
        nat: "the ATIF-native frame builder gives every TOOL_END row and every LLM call a fresh random uuid4",
        ours: "uuid-shaped ids derived from (trajectory, step, call), sorting in creation order",
        reason: "random ids make every run differ; outputs are compared after renaming UUIDs in order of first appearance",
    },
    Difference {
        id: "atif.missing-ancestry",
        area: "profile --path atif",
        nat: "a step whose `extra` lacks `ancestry` (or holds keys AtifAncestry forbids) fails pydantic validation and \
              aborts the run",
        ours: "missing ancestry fields default to NAT's row defaults (`root`, empty parents); unknown keys are ignored",
        reason: "ATIF from other producers (NeMo Relay, Harbor) need not carry NAT's extras; the profile still runs",
    },
    Difference {
        id: "tokens.saturate",
        area: "convert, profile --path atif",
        nat: "token sums are Python integers of any size",
        ours: "token sums saturate at 2^63 - 1",
        reason: "no real count comes near; a hostile input must not overflow (tests/bad_inputs/ist_huge_tokens.json)",
    },
];

/// Replace every UUID-shaped token of `text` by `U0`, `U1`, … in order of first appearance,
/// so outputs with random row UUIDs (listed difference `atif.row-uuids`) can be compared.
pub fn rename_uuids(text: &str) -> String {
    rename_in(text, &mut Names::default()).into_owned()
}

/// [`rename_uuids`] on a JSON value, in place: strings and keys in document order (a key
/// before its value), so the names are those the renaming of the value's JSON text gives.
pub fn rename_uuids_value(v: &mut Value) {
    rename_uuids_value_with(v, &mut Names::default());
}

/// [`rename_uuids_value`] continuing the names of `names` (a document renamed in parts, in
/// document order, gets the names renaming it whole would give).
pub fn rename_uuids_value_with(v: &mut Value, names: &mut Names) {
    fn walk(v: &mut Value, names: &mut Names) {
        match v {
            Value::String(s) => {
                if let std::borrow::Cow::Owned(t) = rename_in(s, names) {
                    *s = t;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, names)),
            Value::Object(m) if m.keys().any(|k| uuids_in(k).next().is_some()) => {
                let len = m.len();
                for (k, mut x) in std::mem::replace(m, serde_json::Map::with_capacity(len)) {
                    let k = rename_in(&k, names).into_owned();
                    walk(&mut x, names);
                    m.insert(k, x);
                }
            }
            Value::Object(m) => m.values_mut().for_each(|x| walk(x, names)),
            _ => {}
        }
    }
    walk(v, names);
}

/// Where `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}` matches in `text`
/// (leftmost first, not overlapping), found from the dashes (memchr) instead of a regex
/// engine: a UUID's first dash is its 9th byte.
fn uuids_in(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    uuid_bits_in(text).map(|(at, _)| at)
}

/// [`uuids_in`], with each UUID's bits.
fn uuid_bits_in(text: &str) -> impl Iterator<Item = ((usize, usize), u128)> + '_ {
    let b = text.as_bytes();
    let mut from = 0; // end of the last match
    std::iter::from_fn(move || {
        let (start, bits) = next_uuid(b, from)?;
        from = start + 36;
        Some(((start, start + 36), bits))
    })
}

/// The first UUID of `b` that starts at `from` or later, as [`uuids_in`] finds them: where it
/// starts, and its bits.
fn next_uuid(b: &[u8], from: usize) -> Option<(usize, u128)> {
    // A UUID's first dash is its ninth byte: a dash before `from + 8` starts none.
    let mut search = from + 8;
    while search < b.len() {
        let dash = search + memchr::memchr(b'-', &b[search..])?;
        let start = dash - 8;
        if let Some(bits) = b.get(start..start + 36).and_then(uuid_bits) {
            return Some((start, bits));
        }
        search = dash + 1;
    }
    None
}

/// The 128 bits of `b` when it is a UUID as [`uuids_in`] finds them: 8-4-4-4-12 lowercase
/// hex digits.
fn uuid_bits(b: &[u8]) -> Option<u128> {
    let b: &[u8; 36] = b.try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // Each group's digits by table, their invalid flags (bit 4) or-ed together: one branch
    // per UUID, not one per byte (millions of UUIDs are read per output renamed).
    let mut bits = 0u128;
    let mut invalid = 0u8;
    for group in [&b[0..8], &b[9..13], &b[14..18], &b[19..23], &b[24..36]] {
        for &c in group {
            let d = HEX[usize::from(c)];
            invalid |= d;
            bits = bits << 4 | u128::from(d & 0xf);
        }
    }
    (invalid & 0x10 == 0).then_some(bits)
}

/// A byte's value as a lowercase hex digit, or `0x10` when it is not one.
const HEX: [u8; 256] = {
    let mut t = [0x10u8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// The name of the UUID of these `bits`: the next one (`U<number of names so far>`) when it
/// has none yet.
fn name_of(bits: u128, names: &mut Names) -> &crate::frame::Text {
    let n = number_of(bits, names);
    names.text(n)
}

/// The longest name: `U` and the ten digits of a `u32`.
const NAME_MAX: usize = 11;

/// The number of decimal digits of `n`.
fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// The length of the names numbered before `n`, one after the other (`U0U1…`).
fn spelled_before(n: u32) -> usize {
    // Each name is `U` and its digits; the numbers of d digits are 10^(d-1) .. 10^d (0 has one).
    let mut len = n as usize;
    let (mut low, mut d) = (0u64, 1);
    while low < u64::from(n) {
        let high = 10u64.pow(d as u32).min(u64::from(n));
        len += (high - low) as usize * d;
        (low, d) = (high, d + 1);
    }
    len
}

/// Name number `n` (`U` and its digits), written at the end of `buf` (a name is made for
/// each of millions of UUIDs: `format!` grew a string for it, a copy per digit or two).
fn name_bytes(mut n: u32, buf: &mut [u8; NAME_MAX]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    i -= 1;
    buf[i] = b'U';
    &buf[i..]
}

/// Name number `n` as shared text.
fn name_text(n: u32) -> crate::frame::Text {
    let mut buf = [0u8; NAME_MAX];
    let name = std::str::from_utf8(name_bytes(n, &mut buf)).expect("ASCII digits");
    crate::frame::Text::from(name)
}

/// A UUID's bits as [`Names`] keys them.
fn key(bits: u128) -> [u64; 2] {
    [(bits >> 64) as u64, bits as u64]
}

/// The number of the name of the UUID of these `bits` (numbered now when it has none yet).
fn number_of(bits: u128, names: &mut Names) -> u32 {
    let next = names.numbers.len() as u32;
    *names.numbers.entry(key(bits)).or_insert(next)
}

/// When `text` is one UUID: name it as [`rename_in`] would, without copying its name out, and
/// return the number of its name ([`Names::by_number`] once [`Names::spell_all`] has spelled
/// it), so that a caller reading it again need not look it up.
pub fn note_uuid(text: &str, names: &mut Names) -> Option<u32> {
    Some(number_of(uuid_bits(text.as_bytes())?, names))
}

/// [`rename_in`] of shared text: a whole UUID becomes its name (shared by every place that
/// names it), text without a UUID stays itself.
pub fn rename_text(text: &crate::frame::Text, names: &mut Names) -> crate::frame::Text {
    if let Some(bits) = uuid_bits(text.as_bytes()) {
        return name_of(bits, names).clone();
    }
    match rename_in(text, names) {
        std::borrow::Cow::Borrowed(_) => text.clone(),
        std::borrow::Cow::Owned(t) => t.into(),
    }
}

/// `text` with every UUID in it renamed by `names` (borrowed when there is none).
pub fn rename_in<'t>(text: &'t str, names: &mut Names) -> std::borrow::Cow<'t, str> {
    // Most strings are shorter than a UUID or are exactly one (the metrics' `active_uuids`,
    // node keys): those skip the scan.
    if text.len() < 36 {
        return std::borrow::Cow::Borrowed(text);
    }
    if let Some(bits) = uuid_bits(text.as_bytes()) {
        return std::borrow::Cow::Owned(name_of(bits, names).to_string());
    }
    let mut out = String::new();
    let mut last = 0;
    for ((start, end), bits) in uuid_bits_in(text) {
        if last == 0 {
            out.reserve(text.len());
        }
        out.push_str(&text[last..start]);
        out.push_str(name_of(bits, names));
        last = end;
    }
    if last == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    std::borrow::Cow::Owned(out)
}

/// [`rename_in`] of an owned text, in its own buffer: a name (`U` and at most twenty digits)
/// is shorter than the UUID it replaces, so the renamed text is written over the text as it
/// is read (a long report is not held twice).
pub fn rename_owned(text: String, names: &mut Names) -> String {
    let mut b = text.into_bytes();
    // Bytes before `read` are done with; the renamed text so far is `b[..write]`.
    let (mut read, mut write) = (0, 0);
    while let Some((start, bits)) = next_uuid(&b, read) {
        b.copy_within(read..start, write);
        write += start - read;
        // The name is at most 11 bytes: it fits where the 36 of the UUID were.
        let mut buf = [0u8; NAME_MAX];
        let name = name_bytes(number_of(bits, names), &mut buf);
        b[write..write + name.len()].copy_from_slice(name);
        write += name.len();
        read = start + 36;
    }
    b.copy_within(read.., write);
    b.truncate(write + (b.len() - read));
    String::from_utf8(b).expect("ASCII UUIDs replaced by ASCII names")
}

/// Remove a `prediction_trie.json` value's `generated_at`, so it compares equal to NAT's apart
/// from the listed `profile.trie-generated-at`.
pub fn drop_generated_at(v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        m.remove("generated_at");
    }
}

/// Sort every `active_uuids` list of a `workflow_profiling_metrics.json` value, so it
/// compares equal to NAT's apart from the listed `profile.active-uuids-order`.
pub fn normalize_active_uuids(metrics: &mut Value) {
    if let Some(Value::Array(spikes)) =
        metrics.pointer_mut("/concurrency_spike_analysis/spike_intervals")
    {
        for s in spikes {
            if let Some(Value::Array(u)) = s.get_mut("active_uuids") {
                u.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
}

/// Apply the listed convert differences to a list of trajectories so they compare equal
/// to NAT's eval export: drop `session_id` (`convert.session-id`) and every `null`
/// (`convert.eval-export-nulls`).
pub fn normalize_eval_export(trajectories: &mut Value) {
    fn strip_nulls(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip_nulls);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_nulls),
            _ => {}
        }
    }
    if let Value::Array(items) = trajectories {
        for t in items.iter_mut() {
            if let Value::Object(m) = t {
                m.remove("session_id");
            }
        }
    }
    strip_nulls(trajectories);
}

/// A Markdown table of [`DIFFERENCES`].
pub fn markdown() -> String {
    let mut s = String::from("| id | area | NAT | atif-drift | reason |\n|---|---|---|---|---|\n");
    for d in DIFFERENCES {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            d.id,
            d.area,
            d.nat.split_whitespace().collect::<Vec<_>>().join(" "),
            d.ours,
            d.reason
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    /// A name read back from the spelled names is the name of its number, across the
    /// numbers' lengths (the place of a name is computed, not stored).
    #[test]
    fn spelled_names_are_read_back_by_number() {
        let mut names = Names::default();
        names.spell(1_000_010);
        let mut buf = [0u8; NAME_MAX];
        for n in (0..12_000).chain(999_990..=1_000_010) {
            let name = std::str::from_utf8(name_bytes(n, &mut buf)).unwrap();
            assert_eq!(names.by_number(n), name, "{n}");
        }
        assert_eq!(spelled_before(u32::MAX), {
            let before_last_digit = spelled_before(1_000_000_000);
            before_last_digit + (u32::MAX as usize - 1_000_000_000) * 11
        });
    }

    #[test]
    fn a_uuid_is_named_by_its_bits() {
        let u = "0123abcd-4567-89ef-0123-456789abcdef";
        let hex: String = u.chars().filter(|&c| c != '-').collect();
        assert_eq!(uuid_bits(u.as_bytes()), u128::from_str_radix(&hex, 16).ok());
        for not in [
            "0123ABCD-4567-89ef-0123-456789abcdef",
            "0123abcd-4567-89ef-0123-456789abcdeg",
            "0123abcd04567-89ef-0123-456789abcdef",
            "0123abcd-4567-89ef-0123-456789abcde",
        ] {
            assert_eq!(uuid_bits(not.as_bytes()), None, "{not}");
        }
        // Names in order of first appearance, one per UUID.
        let other = "0123abcd-4567-89ef-0123-456789abcdee";
        let mut names = Names::default();
        let text = format!("{u} {other} {u}");
        assert_eq!(rename_in(&text, &mut names), "U0 U1 U0");
        assert_eq!(names.get(other).as_deref(), Some("U1"));
        assert_eq!(names.get("not a uuid"), None);
    }

    #[test]
    fn a_name_is_u_and_its_number() {
        let mut buf = [0u8; NAME_MAX];
        for n in [0, 7, 10, 99, 100, 123_456, u32::MAX] {
            assert_eq!(name_bytes(n, &mut buf), format!("U{n}").as_bytes());
        }
    }

    proptest::proptest! {
        /// A UUID's bits are its hex digits read as one number; anything else has none.
        #[test]
        fn uuid_bits_read_the_hex_digits(
            uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            // One byte replaced (by a digit's or a dash's neighbours, or another digit or
            // dash), or a byte cut off or added.
            edit in proptest::option::of((0usize..37, proptest::sample::select(
                vec![b'0', b'9', b'a', b'f', b'-', b'/', b':', b'`', b'g', b'A', b'F', b',', b'.'],
            ))),
        ) {
            let mut bytes = uuid.into_bytes();
            match edit {
                Some((36, c)) => bytes.push(c),
                Some((i, b'.')) => { bytes.remove(i); }
                Some((i, c)) => bytes[i] = c,
                None => {}
            }
            let text = String::from_utf8(bytes).unwrap();
            let re = regex::Regex::new(
                r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            )
            .unwrap();
            let hex: String = text.chars().filter(|&c| c != '-').collect();
            let want = re.is_match(&text).then(|| u128::from_str_radix(&hex, 16).unwrap());
            proptest::prop_assert_eq!(uuid_bits(text.as_bytes()), want);
        }

        /// The dash scan finds what the regex finds, on text dense in near-UUIDs.
        #[test]
        fn uuid_scan_equals_the_regex(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::sample::select(vec![
                    "00000000-0000-4000-8000-000000000000", "0123abcd-", "-", "a", "F", "9",
                    "ffffffff-ffff-ffff-ffff-ffffffffffff", "0000-0000", "\u{e9}", ",",
                ]).prop_map(str::to_string),
                "[0-9a-f-]{0,40}",
            ], 0..12),
        ) {
            let text = parts.concat();
            let re = regex::Regex::new(
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            )
            .unwrap();
            let want: Vec<(usize, usize)> =
                re.find_iter(&text).map(|m| (m.start(), m.end())).collect();
            proptest::prop_assert_eq!(uuids_in(&text).collect::<Vec<_>>(), want);
        }

        /// Renaming in place gives the text and the names renaming a copy gives, continuing
        /// names already given.
        #[test]
        fn renaming_in_place_equals_renaming_a_copy(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::sample::select(vec![
                    "00000000-0000-4000-8000-000000000000", "0123abcd-", "-", "a", "\u{e9}",
                    "ffffffff-ffff-ffff-ffff-ffffffffffff", "00000000-0000-4000-8000-00000000000",
                    "11111111-0000-4000-8000-000000000000",
                ]).prop_map(str::to_string),
                "[0-9a-f-]{0,40}",
            ], 0..12),
            known in proptest::bool::ANY,
        ) {
            let text = parts.concat();
            let mut names = Names::default();
            if known {
                note_uuid("11111111-0000-4000-8000-000000000000", &mut names);
            }
            let mut again = Names::default();
            if known {
                note_uuid("11111111-0000-4000-8000-000000000000", &mut again);
            }
            let want = rename_in(&text, &mut names).into_owned();
            proptest::prop_assert_eq!(rename_owned(text, &mut again), want);
            proptest::prop_assert_eq!(again, names);
        }
    }

    #[test]
    fn value_renaming_numbers_like_the_text() {
        let text = r#"{"a": "11111111-0000-4000-8000-000000000000", "22222222-0000-4000-8000-000000000000": ["x 11111111-0000-4000-8000-000000000000 33333333-0000-4000-8000-000000000000"]}"#;
        let mut v: Value = serde_json::from_str(text).unwrap();
        rename_uuids_value(&mut v);
        let want: Value = serde_json::from_str(&rename_uuids(text)).unwrap();
        assert_eq!(v, want);
        assert_eq!(v["U1"][0], "x U0 U2");
    }
}
