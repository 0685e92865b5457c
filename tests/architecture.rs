//! ARCHITECTURE.md's layer table, enforced (a "tidy" test, as rust-analyzer's): every
//! `crate::` edge in `src/` is one the table allows, every module has a row, the allowed
//! graph has no cycle, and modules marked pure touch no file, process, environment or
//! standard stream. Failures name the file and line. Items under `#[cfg(test)]` (a module's
//! tests) are not checked; code after them is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of the layer table.
#[derive(Debug)]
struct Layer {
    pure: bool,
    may_use: BTreeSet<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The table between `<!-- layers:begin -->` and `<!-- layers:end -->`.
fn layers(markdown: &str) -> BTreeMap<String, Layer> {
    let start = markdown
        .find("<!-- layers:begin -->")
        .expect("layers:begin marker");
    let end = markdown
        .find("<!-- layers:end -->")
        .expect("layers:end marker");
    let mut out = BTreeMap::new();
    for line in markdown[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let may_use = cells[3]
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty() && *m != "—")
            .map(String::from)
            .collect();
        out.insert(
            name,
            Layer {
                pure: cells[2] == "yes",
                may_use,
            },
        );
    }
    out
}

/// The source without comments, with the same line breaks (so offsets keep their lines).
/// `text` with every item under `#[cfg(test)]` blanked (its lines kept, so line numbers
/// stay): the item runs to its `;` or to the `}` closing its first `{`, braces inside
/// strings, characters and comments not counted.
fn without_tests(text: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(at) = text[from..].find(ATTR).map(|i| from + i) {
        out.push_str(&text[from..at]);
        let end = item_end(b, at + ATTR.len());
        out.extend(
            text[at..end]
                .chars()
                .map(|c| if c == '\n' { c } else { ' ' }),
        );
        from = end;
    }
    out.push_str(&text[from..]);
    out
}

/// Where the item starting at `i` ends: after its `;`, or after the `}` closing its first `{`.
fn item_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'r' if b.get(i + 1).is_some_and(|&c| c == b'"' || c == b'#')
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                // A raw string: r"…", r#"…"#.
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) == Some(&b'"') {
                    let close: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    i += 2 + hashes;
                    while i < b.len() && !b[i..].starts_with(&close) {
                        i += 1;
                    }
                    i += close.len();
                    continue;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            // A character literal ('{', '\''), not a lifetime ('a).
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal (a URL) is rare in code lines; good enough here.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module names a `crate::` path starting at `rest` names: `a` in
/// `crate::a::b`, and `a`, `b` in `crate::{a::x, b}`.
fn named_modules(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    if !rest.starts_with('{') {
        return vec![ident(rest)];
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => {
                depth += 1;
                expect = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect = true,
            c if c.is_whitespace() => {}
            _ if expect && depth == 1 => {
                out.push(ident(&rest[i..]));
                expect = false;
            }
            _ => {}
        }
    }
    out
}

/// Every `crate::` edge of one file's code: (line, module named).
fn edges(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c == '$' || c.is_ascii_alphanumeric() || c == '_') {
            continue; // `$crate::` in a macro, or part of a longer name
        }
        let line = code[..at].matches('\n').count() + 1;
        for m in named_modules(&code[at + "crate::".len()..]) {
            // The crate root re-exports `error::{Error, Result}`.
            let m = match m.as_str() {
                "Error" | "Result" => "error".to_string(),
                _ => m,
            };
            if !m.is_empty() {
                out.push((line, m));
            }
        }
    }
    out
}

/// What a pure module must not contain.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::env",
    "std::process",
    "std::net",
    "File::",
    "OpenOptions",
    "println!",
    "eprintln!",
    "print!(",
    "eprint!(",
    "stdout()",
    "stderr()",
    "\"/proc",
];

/// The violations in the file `rel` (of module `module`) with source `text`.
fn check_file(rel: &str, module: &str, text: &str, table: &BTreeMap<String, Layer>) -> Vec<String> {
    let code = strip_comments(&without_tests(text));
    let mut out = Vec::new();
    let Some(layer) = table.get(module) else {
        return vec![format!(
            "{rel}: module `{module}` has no row in ARCHITECTURE.md's layer table"
        )];
    };
    for (line, used) in edges(&code) {
        if used != module && !layer.may_use.contains(&used) {
            let allowed: Vec<&str> = layer.may_use.iter().map(String::as_str).collect();
            out.push(format!(
                "{rel}:{line}: `{module}` uses `crate::{used}`, which ARCHITECTURE.md does not allow \
                 (it may use: {})",
                if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") }
            ));
        }
    }
    if layer.pure {
        for (n, l) in code.lines().enumerate() {
            let grouped_std = l.contains("std::{")
                && ["fs", "env", "process", "net"]
                    .iter()
                    .any(|m| l.contains(&format!("{m},")) || l.contains(&format!("{m}}}")));
            if let Some(bad) = IMPURE.iter().find(|p| l.contains(*p)) {
                out.push(format!(
                    "{rel}:{}: `{module}` is pure in ARCHITECTURE.md but uses `{bad}`",
                    n + 1
                ));
            } else if grouped_std {
                out.push(format!(
                    "{rel}:{}: `{module}` is pure in ARCHITECTURE.md but imports I/O from std",
                    n + 1
                ));
            }
        }
    }
    if text.contains("clap::") {
        out.push(format!(
            "{rel}: the library uses the CLI's crate (clap): only src/main.rs may"
        ));
    }
    out
}

/// A cycle in `graph`, as the modules on it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|x| x == n).unwrap_or(0);
                let mut c = stack[i..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The library's source files (not the binary's), with their top-level module.
fn sources() -> Vec<(String, String, String)> {
    let src = root().join("src");
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let e = e.unwrap();
        let p = e.path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(p).unwrap();
        out.push((format!("src/{}", rel.display()), module, text));
    }
    out
}

#[test]
fn the_layer_table_holds() {
    let md = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = layers(&md);
    assert!(table.len() >= 20, "layer table: {} rows", table.len());
    let mut problems = Vec::new();
    // Every module has a row, every row a module, every "may use" a row.
    let modules: BTreeSet<String> = sources().into_iter().map(|(_, m, _)| m).collect();
    for m in table.keys().filter(|m| !modules.contains(*m)) {
        problems.push(format!(
            "ARCHITECTURE.md: `{m}` is in the table but not in src/"
        ));
    }
    for (m, l) in &table {
        for u in l.may_use.iter().filter(|u| !table.contains_key(*u)) {
            problems.push(format!(
                "ARCHITECTURE.md: `{m}` may use `{u}`, which has no row"
            ));
        }
    }
    let mut actual: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, module, text) in sources() {
        problems.extend(check_file(&rel, &module, &text, &table));
        let code = strip_comments(&without_tests(&text));
        for (_, used) in edges(&code).into_iter().filter(|(_, u)| *u != module) {
            actual.entry(module.clone()).or_default().insert(used);
        }
    }
    let allowed: BTreeMap<String, BTreeSet<String>> = table
        .iter()
        .map(|(m, l)| (m.clone(), l.may_use.clone()))
        .collect();
    if let Some(c) = cycle(&allowed) {
        problems.push(format!(
            "ARCHITECTURE.md allows a cycle: {}",
            c.join(" -> ")
        ));
    }
    if let Some(c) = cycle(&actual) {
        problems.push(format!("src/ has a module cycle: {}", c.join(" -> ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself finds what it must: a forbidden edge (in every `use` form), file
/// system use in a pure module, a module without a row, a cycle.
#[test]
fn the_checker_catches_forbidden_edges() {
    let md = "<!-- layers:begin -->\n| module | pure | may use | owns |\n|---|---|---|---|\n\
              | `drift` | yes | frame | x |\n| `frame` | yes | — | x |\n| `trace` | no | — | x |\n\
              <!-- layers:end -->";
    let table = layers(md);
    let check = |src: &str| check_file("src/drift/x.rs", "drift", src, &table);
    assert!(check("use crate::frame::Frame;\n").is_empty());
    assert!(check("// crate::trace in a comment\nfn f() {}\n").is_empty());
    assert!(check("macro_rules! m { () => { $crate::trace::x() } }\n").is_empty());
    for bad in [
        "use crate::trace::load_file;\n",
        "use crate::{frame, trace::ist};\n",
        "use crate::{\n    frame::Frame,\n    trace,\n};\n",
        "fn f() { crate::trace::load_file(); }\n",
    ] {
        let p = check(bad);
        assert!(
            p.iter().any(|p| p.contains("crate::trace")),
            "{bad:?}: {p:?}"
        );
    }
    let p = check("fn f() {}\nfn g() { let _ = std::fs::read(\"x\"); }\n");
    assert!(
        p.iter()
            .any(|p| p.starts_with("src/drift/x.rs:2:") && p.contains("std::fs")),
        "{p:?}"
    );
    assert!(!check("use std::{env, fmt};\n").is_empty());
    // Tests inside the module are not checked; code after them is.
    assert!(check("fn f() {}\n#[cfg(test)]\nmod tests { use crate::trace; }\n").is_empty());
    let after = "#[cfg(test)]\nmod tests {\n    const S: &str = \"}\";\n    const C: char = '}';\n    \
                 const R: &str = r#\"}\"#;\n    // }\n    fn f<'a>(x: &'a str) -> &'a str { x }\n}\n\
                 #[cfg(test)]\nmod more;\nuse crate::trace::load_file;\n";
    let p = check(after);
    assert!(
        p.iter()
            .any(|p| p.starts_with("src/drift/x.rs:11:") && p.contains("crate::trace")),
        "{p:?}"
    );
    assert!(!check_file("src/new.rs", "new", "", &table).is_empty());
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(cycle(&g).is_some());
    assert!(Path::new(&root().join("ARCHITECTURE.md")).exists());
}
