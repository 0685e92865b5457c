//! Any bytes split as a JSON list two ways: in memory (objects and lists sixty-four bytes at a
//! time, `list_reader::container_end`) and streamed through a tiny buffer (the byte-at-a-time
//! machine). Wherever either split is of a valid list (every element parses as JSON), both are
//! the same, each element's depth included: they may differ only on a backslash outside a
//! string, which no valid element holds.
#![no_main]
use atif_drift::trace::list_reader::ListReader;
use libfuzzer_sys::fuzz_target;

type Split = Option<Vec<(Vec<u8>, usize)>>;

fn streamed(data: &[u8]) -> Split {
    let mut r = ListReader::new(std::io::BufReader::with_capacity(3, data));
    let (mut out, mut all) = (Vec::new(), Vec::new());
    while r.next_element(&mut out).ok()? {
        all.push((out.clone(), r.depth()));
    }
    Some(all)
}

fn in_memory(data: &[u8]) -> Split {
    let mut r = ListReader::new(data);
    let mut all = Vec::new();
    while let Some(e) = r.next_slice().ok()? {
        all.push((e.to_vec(), r.depth()));
    }
    Some(all)
}

fn valid(s: &Split) -> bool {
    s.as_ref().is_some_and(|all| {
        all.iter()
            .all(|(e, _)| serde_json::from_slice::<serde_json::Value>(e).is_ok())
    })
}

fuzz_target!(|data: &[u8]| {
    let (a, b) = (streamed(data), in_memory(data));
    if valid(&a) || valid(&b) {
        assert_eq!(a, b);
    }
});
