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
    /// the list's end.
    pub fn next_slice(&mut self) -> Result<Option<&'a [u8]>, NotAList> {
        if !self.before_element()? {
            return Ok(None);
        }
        let rest: &'a [u8] = self.r;
        let mut n = Count(0);
        self.element(&mut n)?;
        Ok(Some(&rest[..n.0]))
    }
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
        let streamed = (|| {
            let mut r = ListReader::new(std::io::BufReader::with_capacity(3, text.as_bytes()));
            let mut out = Vec::new();
            let mut all = Vec::new();
            while r.next_element(&mut out)? {
                all.push(String::from_utf8(out.clone()).unwrap());
            }
            Ok(all)
        })();
        let in_memory = (|| {
            let mut r = ListReader::new(text.as_bytes());
            let mut all = Vec::new();
            while let Some(e) = r.next_slice()? {
                all.push(String::from_utf8(e.to_vec()).unwrap());
            }
            Ok(all)
        })();
        assert_eq!(streamed, in_memory, "{text:?}");
        streamed
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
