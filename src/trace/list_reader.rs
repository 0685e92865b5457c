//! The elements of a JSON list read from a file one at a time, each as its own bytes, so
//! that a large trace is never held whole.
//!
//! The reader checks the list's structure (`[`, elements separated by `,`, `]`, nothing but
//! whitespace after it) and finds each element's end (strings and escapes skipped); it does
//! not validate the elements themselves: their parser does. Anything that is not such a list
//! is [`NotAList`], and the caller then reads the file whole, where the error is reported.

use std::io::BufRead;

/// The input is not a JSON list as this reader expects one (or could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAList;

/// Reads a JSON array one element at a time.
pub struct ListReader<R> {
    r: R,
    started: bool,
    done: bool,
    /// How deep the last element nested.
    depth: usize,
}

/// Whether `c` may be structural: `"`, a bracket, a brace, and with `COMMA` `,`; also
/// 0x02 (and with `COMMA` 0x0C), which valid JSON has only inside strings (the caller looks
/// at the byte). `| 0x20` makes `[` `{` and `]` `}`, and leaves `"` and `,` as they are.
fn may_be_structural<const COMMA: bool>(c: u8) -> bool {
    matches!(c | 0x20, b'{' | b'}' | b'"') || (COMMA && c | 0x20 == b',')
}

/// Where the first byte of `bytes[from..]` that [`may_be_structural`] is, commas
/// included. Outside strings most of an indented trace's bytes are indentation: eight
/// bytes are looked at at a time.
pub(crate) fn next_structural(bytes: &[u8], from: usize) -> Option<usize> {
    next_of::<true>(bytes, from)
}

/// Where the first `"` or `\\` of `bytes[from..]` is: a string's end, or an escape in it.
/// Most of a trace's strings are short (15 bytes on average in real ones): their first
/// sixteen bytes are looked at eight at a time, the rest with `memchr`.
pub(crate) fn next_quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    for _ in 0..2 {
        let Some(word) = bytes.get(i..i + 8) else {
            break;
        };
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let hits = zeros(w ^ (u64::from(b'"') * ONES)) | zeros(w ^ (u64::from(b'\\') * ONES));
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    memchr::memchr2(b'"', b'\\', bytes.get(i..)?).map(|k| i + k)
}

/// A byte in each lane of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each zero byte of `x` (and maybe of bytes after the first: the lowest
/// is exact).
fn zeros(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & (0x80 * ONES)
}

/// [`next_structural`] for [`may_be_structural`] with or without commas.
fn next_of<const COMMA: bool>(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes")) | (0x20 * ONES);
        let mut hits = zeros(w ^ (u64::from(b'{') * ONES))
            | zeros(w ^ (u64::from(b'}') * ONES))
            | zeros(w ^ (u64::from(b'"') * ONES));
        if COMMA {
            hits |= zeros(w ^ (u64::from(b',') * ONES));
        }
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    rest.iter()
        .position(|&c| may_be_structural::<COMMA>(c))
        .map(|k| i + k)
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

impl<R: BufRead> ListReader<R> {
    /// A reader of the array `r` holds.
    pub fn new(r: R) -> Self {
        ListReader {
            r,
            started: false,
            done: false,
            depth: 0,
        }
    }

    /// The next non-whitespace byte, not consumed; `None` at the end of the input.
    fn peek(&mut self) -> Result<Option<u8>, NotAList> {
        loop {
            let buf = self.r.fill_buf().map_err(|_| NotAList)?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|&c| !is_ws(c)) {
                Some(i) => {
                    let c = buf[i];
                    self.r.consume(i);
                    return Ok(Some(c));
                }
                None => {
                    let n = buf.len();
                    self.r.consume(n);
                }
            }
        }
    }

    /// Past the closing `]`: only whitespace may follow.
    fn finish(&mut self) -> Result<bool, NotAList> {
        self.r.consume(1);
        self.done = true;
        match self.peek()? {
            None => Ok(false),
            Some(_) => Err(NotAList),
        }
    }

    /// How deep the last element nests: its own `{` or `[` is level 1, a scalar is 0 (what
    /// `trace::load::too_deep` counts on its bytes, found by the same scan).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The next element's bytes into `out` (cleared first): `Ok(true)`, or `Ok(false)` after
    /// the list's end.
    pub fn next_element(&mut self, out: &mut Vec<u8>) -> Result<bool, NotAList> {
        out.clear();
        if !self.before_element()? {
            return Ok(false);
        }
        self.element(out)?;
        Ok(true)
    }

    /// Up to the next element's first byte (`[` or `,` consumed): `Ok(false)` after the
    /// list's end.
    fn before_element(&mut self) -> Result<bool, NotAList> {
        if self.done {
            return Ok(false);
        }
        if !self.started {
            if self.peek()? != Some(b'[') {
                return Err(NotAList);
            }
            self.r.consume(1);
            self.started = true;
            if self.peek()? == Some(b']') {
                return self.finish();
            }
        } else {
            match self.peek()? {
                Some(b']') => return self.finish(),
                Some(b',') => self.r.consume(1),
                _ => return Err(NotAList),
            }
        }
        match self.peek()? {
            None | Some(b',' | b']' | b'}') => Err(NotAList),
            Some(_) => Ok(true),
        }
    }

    /// One element: an object, list or string up to its closing byte, a scalar up to the
    /// next `,`, `]` or whitespace.
    ///
    /// Kept in one piece: one byte-level state machine (string, escape, nesting), the list
    /// reader's hot loop.
    fn element(&mut self, out: &mut impl Sink) -> Result<(), NotAList> {
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        self.depth = 0;
        loop {
            let buf = self.r.fill_buf().map_err(|_| NotAList)?;
            if buf.is_empty() {
                // Only a scalar can end at the end of the input (and the list is then
                // unterminated: the next call says so).
                return if depth == 0 && !in_str && out.len() > 0 {
                    Ok(())
                } else {
                    Err(NotAList)
                };
            }
            let mut end = None;
            let mut i = 0;
            while i < buf.len() {
                if esc {
                    esc = false;
                    i += 1;
                    continue;
                }
                if in_str {
                    match next_quote_or_backslash(buf, i) {
                        None => i = buf.len(),
                        Some(k) => {
                            i = k;
                            if buf[i] == b'\\' {
                                esc = true;
                            } else {
                                in_str = false;
                                if depth == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                if depth > 0 {
                    // Inside an element, outside strings: only quotes and brackets matter.
                    // (Commas do not matter there.)
                    match next_of::<false>(buf, i) {
                        Some(k) => i = k,
                        None => break,
                    }
                }
                match buf[i] {
                    b'"' => in_str = true,
                    b'{' | b'[' => {
                        depth += 1;
                        self.depth = self.depth.max(depth);
                    }
                    b'}' | b']' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    c if depth == 0 && (c == b',' || is_ws(c)) => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let take = end.unwrap_or(buf.len());
            out.take(&buf[..take]);
            self.r.consume(take);
            if end.is_some() {
                return Ok(());
            }
        }
    }
}

impl<'a> ListReader<&'a [u8]> {
    /// The next element of a list held in memory, as a part of it (no copy): `Ok(None)` after
    /// the list's end. An object or a list (a trace's requests) is found sixty-four bytes at
    /// a time ([`container_end`]); any other element byte by byte.
    pub fn next_slice(&mut self) -> Result<Option<&'a [u8]>, NotAList> {
        if !self.before_element()? {
            return Ok(None);
        }
        let rest: &'a [u8] = self.r;
        if matches!(rest.first(), Some(b'{' | b'[')) {
            let (n, depth) = container_end(rest).ok_or(NotAList)?;
            self.depth = depth;
            self.r = &rest[n..];
            return Ok(Some(&rest[..n]));
        }
        let mut n = Count(0);
        self.element(&mut n)?;
        Ok(Some(&rest[..n.0]))
    }
}

/// Where the object or list that `bytes` starts with ends (just past its closing byte), and
/// how deep it nests (its own level is 1); `None` when it does not end in `bytes`.
///
/// The byte machine of [`ListReader::element`], sixty-four bytes at a time (simdjson's first
/// stage): each block's quotes, backslashes and brackets as bit masks, the escaped bytes
/// from the runs of backslashes, the strings' bytes as the running parity of the unescaped
/// quotes; then only the brackets outside strings are looked at one by one. In valid JSON a
/// backslash is only in a string, and there both read the same; a backslash outside a
/// string is read differently, and the element holding it does not parse either way.
pub(crate) fn container_end(bytes: &[u8]) -> Option<(usize, usize)> {
    debug_assert!(matches!(bytes.first(), Some(b'{' | b'[')));
    let (mut depth, mut deepest) = (0usize, 0usize);
    // Carried from block to block: whether the next byte is escaped, and (all ones or
    // none) whether the block ended inside a string.
    let (mut next_escaped, mut in_string) = (0u64, 0u64);
    let mut tail = [b' '; 64];
    let mut at = 0;
    while at < bytes.len() {
        let block: &[u8; 64] = match bytes.get(at..at + 64) {
            Some(b) => b.try_into().expect("sixty-four bytes"),
            None => {
                let rest = &bytes[at..];
                tail[..rest.len()].copy_from_slice(rest);
                &tail
            }
        };
        #[cfg(target_arch = "x86_64")]
        if let Some(ahead) = bytes.get(at + PREFETCH_AHEAD) {
            // SAFETY: a prefetch is only a hint, of a byte of `bytes`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (ahead as *const u8).cast::<i8>(),
                )
            }
        }
        let c = Classes::of(block);
        let escaped = escaped_bytes(c.backslash, &mut next_escaped);
        let strings = prefix_xor(c.quote & !escaped) ^ in_string;
        in_string = 0u64.wrapping_sub(strings >> 63);
        let open = c.open & !strings;
        let mut brackets = (c.open | c.close) & !strings;
        while brackets != 0 {
            let k = brackets.trailing_zeros() as usize;
            if open >> k & 1 == 1 {
                depth += 1;
                deepest = deepest.max(depth);
            } else {
                depth -= 1;
                if depth == 0 {
                    return Some((at + k + 1, deepest));
                }
            }
            brackets &= brackets - 1;
        }
        at += 64;
    }
    None
}

/// How far ahead of its block [`container_end`] asks for the input (32 cache lines). Its
/// bracket loop's branches keep the processor from running ahead to the next loads, and this
/// machine's prefetcher did not either: without it the scan waited on memory for each block
/// (10,000 real requests, 2.8 GB: 1.70 s; 0.51 s with it; 1 KiB ahead 0.56 s, 4 KiB 0.51 s).
const PREFETCH_AHEAD: usize = 2048;

/// One bit per byte of a 64-byte block (bit `k` for byte `k`): its quotes, backslashes,
/// opening and closing brackets or braces.
#[derive(Debug, Default, PartialEq)]
struct Classes {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl Classes {
    /// Sixteen bytes at a time (SSE2: every x86-64 has it).
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Classes {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        let mut c = Classes::default();
        for (k, part) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is part of every x86-64; `part` is sixteen readable bytes, loaded
            // unaligned.
            unsafe {
                let v = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
                // `| 0x20` makes `[` `{` and `]` `}` (as `may_be_structural`).
                let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                let bits = |x: __m128i, b: u8| {
                    let eq = _mm_cmpeq_epi8(x, _mm_set1_epi8(b as i8));
                    u64::from(_mm_movemask_epi8(eq) as u16) << (16 * k)
                };
                c.quote |= bits(v, b'"');
                c.backslash |= bits(v, b'\\');
                c.open |= bits(folded, b'{');
                c.close |= bits(folded, b'}');
            }
        }
        c
    }

    /// Byte by byte, elsewhere.
    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Classes {
        Classes::bytewise(block)
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn bytewise(block: &[u8; 64]) -> Classes {
        let mut c = Classes::default();
        for (k, &b) in block.iter().enumerate() {
            let bit = 1u64 << k;
            match b {
                b'"' => c.quote |= bit,
                b'\\' => c.backslash |= bit,
                b'{' | b'[' => c.open |= bit,
                b'}' | b']' => c.close |= bit,
                _ => {}
            }
        }
        c
    }
}

/// The bytes a backslash escapes, given the block's backslashes and whether its first byte
/// is escaped (`next_escaped`, 0 or 1, updated for the next block). A run of backslashes
/// escapes every other byte from its start, and the byte after it when the run is odd
/// (simdjson's escape scanner: the run's starts subtracted from odd bit positions).
fn escaped_bytes(backslash: u64, next_escaped: &mut u64) -> u64 {
    const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
    let potential = backslash & !*next_escaped;
    let codes = ((potential << 1) | ODD_BITS).wrapping_sub(potential) ^ ODD_BITS;
    let escaped = codes ^ (backslash | *next_escaped);
    *next_escaped = (codes & backslash) >> 63;
    escaped
}

/// Bit `k` is the parity of bits `0..=k` of `x`.
fn prefix_xor(mut x: u64) -> u64 {
    for s in [1, 2, 4, 8, 16, 32] {
        x ^= x << s;
    }
    x
}

/// Where an element's bytes go as they are found.
trait Sink {
    fn take(&mut self, bytes: &[u8]);
    fn len(&self) -> usize;
}

impl Sink for Vec<u8> {
    fn take(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Only counts them.
struct Count(usize);

impl Sink for Count {
    fn take(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn may_be_structural_names_these() {
        let named: Vec<u8> = (0..=255u8)
            .filter(|&c| may_be_structural::<true>(c))
            .collect();
        assert_eq!(named, b"\x02\x0c\",[]{}");
        let named: Vec<u8> = (0..=255u8)
            .filter(|&c| may_be_structural::<false>(c))
            .collect();
        assert_eq!(named, b"\x02\"[]{}");
    }

    proptest! {
        /// Eight bytes at a time, the first byte that may be structural, from any start
        /// (these bytes, all of them: `may_be_structural_names_these`), with commas or not.
        #[test]
        fn next_structural_is_the_first_one(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'"'), Just(b'['), Just(b'}'), Just(b','),
                             Just(0x02u8), Just(0x0C), Just(b'Y'), Just(b'\\'), any::<u8>()],
                0..40,
            ),
            from in 0usize..40,
        ) {
            let first = |is: fn(u8) -> bool| {
                bytes.iter().enumerate().skip(from).find(|&(_, &c)| is(c)).map(|(k, _)| k)
            };
            prop_assert_eq!(next_of::<true>(&bytes, from), first(may_be_structural::<true>));
            prop_assert_eq!(next_of::<false>(&bytes, from), first(may_be_structural::<false>));
            prop_assert_eq!(
                next_quote_or_backslash(&bytes, from),
                first(|c| c == b'"' || c == b'\\')
            );
        }
    }

    /// The elements as this reader splits them, read through a tiny buffer (every element
    /// crosses buffer ends); in memory, the same elements as parts of the text, or the same
    /// refusal.
    fn split(text: &str) -> Result<Vec<String>, NotAList> {
        Ok(split_with_depths(text)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// [`split`], with each element's depth (the same both ways).
    fn split_with_depths(text: &str) -> Result<Vec<(String, usize)>, NotAList> {
        let streamed = (|| {
            let mut r = ListReader::new(std::io::BufReader::with_capacity(3, text.as_bytes()));
            let mut out = Vec::new();
            let mut all = Vec::new();
            while r.next_element(&mut out)? {
                all.push((String::from_utf8(out.clone()).unwrap(), r.depth()));
            }
            Ok(all)
        })();
        let in_memory = (|| {
            let mut r = ListReader::new(text.as_bytes());
            let mut all = Vec::new();
            while let Some(e) = r.next_slice()? {
                all.push((String::from_utf8(e.to_vec()).unwrap(), r.depth()));
            }
            Ok(all)
        })();
        assert_eq!(streamed, in_memory, "{text:?}");
        streamed
    }

    /// Escaped bytes found byte by byte: a backslash not itself escaped escapes the next.
    fn escaped_one_by_one(backslash: u64, mut next: bool) -> (u64, bool) {
        let mut escaped = 0;
        for k in 0..64 {
            if next {
                escaped |= 1 << k;
                next = false;
            } else if backslash >> k & 1 == 1 {
                next = true;
            }
        }
        (escaped, next)
    }

    proptest! {
        /// The escape scanner's bit arithmetic is the byte-by-byte rule, runs of
        /// backslashes of every length and a run carried in from the block before included.
        #[test]
        fn escapes_are_found_as_byte_by_byte(
            backslash in prop_oneof![any::<u64>(), (0u32..64, 1u32..64).prop_map(|(at, n)| {
                // One run of `n` backslashes from `at` (to the block's end at most).
                (u64::MAX >> (64 - n)).wrapping_shl(at)
            })],
            carried: bool,
        ) {
            let mut next = u64::from(carried);
            let got = escaped_bytes(backslash, &mut next);
            prop_assert_eq!((got, next == 1), escaped_one_by_one(backslash, carried));
        }

        /// The vector classes are the byte-by-byte ones.
        #[test]
        fn block_classes_are_the_bytes(
            block in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(b'['), Just(b']'), Just(b'{'),
                            Just(b'}'), Just(b'|'), Just(0x02u8), Just(0x7Bu8 | 0x80), any::<u8>()],
                64,
            ),
        ) {
            let block: [u8; 64] = block.try_into().unwrap();
            prop_assert_eq!(Classes::of(&block), Classes::bytewise(&block));
        }

        /// Large elements (strings with runs of backslashes and escaped quotes, brackets in
        /// strings, deep nesting), across many 64-byte blocks: split, with their depths, as
        /// byte by byte; cut anywhere, refused as byte by byte.
        #[test]
        fn blocks_split_as_bytes_do(
            values in proptest::collection::vec(
                any_value(),
                1..4,
            ),
            pretty: bool,
            cut in any::<proptest::sample::Index>(),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&values).unwrap()
            } else {
                serde_json::to_string(&values).unwrap()
            };
            let got = split_with_depths(&text).unwrap();
            prop_assert_eq!(got.len(), values.len());
            for ((e, _), v) in got.iter().zip(&values) {
                prop_assert_eq!(&serde_json::from_str::<serde_json::Value>(e).unwrap(), v);
            }
            let cut = cut.index(text.len());
            if text.is_char_boundary(cut) {
                let _ = split_with_depths(&text[..cut]);
            }
        }
    }

    /// JSON values of strings full of what the scan looks at, nested up to six deep.
    fn any_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            "[a\\\\\"\\[\\]{},é\u{1}]{0,90}".prop_map(Value::String),
            any::<i32>().prop_map(Value::from),
            Just(Value::Null),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a\\\\\"{]{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn lists_and_not_lists() {
        assert_eq!(
            split(" [ {\"a\": [1, \"]\\\"\"]} ,\n\"x\\\\\", 12 , [] ] \n").unwrap(),
            ["{\"a\": [1, \"]\\\"\"]}", "\"x\\\\\"", "12", "[]"]
        );
        assert_eq!(split("[]").unwrap(), Vec::<String>::new());
        for bad in [
            "", "{}", "[1,]", "[,1]", "[1 2]", "[1", "[1] x", "[{]", "[\"a]",
        ] {
            assert_eq!(split(bad), Err(NotAList), "{bad:?}");
        }
    }

    proptest! {
        /// A list serde_json writes (compact or pretty) splits into its elements' texts.
        #[test]
        fn splits_what_serde_json_writes(
            items in proptest::collection::vec(
                proptest::collection::btree_map("[a-c\"\\\\\\]\\[{},]{0,4}", 0i64..100, 0..3),
                0..5,
            ),
            pretty: bool,
        ) {
            let values: Vec<serde_json::Value> =
                items.iter().map(|m| serde_json::to_value(m).unwrap()).collect();
            let text = if pretty {
                serde_json::to_string_pretty(&values).unwrap()
            } else {
                serde_json::to_string(&values).unwrap()
            };
            let got: Vec<serde_json::Value> = split(&text)
                .unwrap()
                .iter()
                .map(|e| serde_json::from_str(e).unwrap())
                .collect();
            prop_assert_eq!(got, values);
        }
    }
}
