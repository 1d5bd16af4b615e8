//! Modules depend downward only: among sibling modules (children of one parent, each
//! with its whole subtree) the `crate::…` and `super::…` references must not form a
//! cycle. Checks `core/src`, `server/src` and `cli/src`; the same rules as
//! `/var/tmp/tools/cycles.py` (each `.rs` file is a module, `mod.rs`/`lib.rs`/`main.rs`
//! stand for their folder, a reference resolves to the longest existing module path,
//! and references between a module and its ancestors or descendants are containment).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A module path below the crate root (`["policy", "mute"]`); empty for the root.
type ModPath = Vec<String>;

/// A reference from one module (file) to another.
type Edge = (ModPath, ModPath);

/// One cycle among siblings: the modules, and for each sibling edge (from, to) a few
/// file-level edges that make it.
#[derive(Debug)]
struct Cycle {
    modules: Vec<ModPath>,
    edges: Vec<(ModPath, ModPath, Vec<Edge>)>,
}

/// The source with comments, string literals and char literals blanked out (newlines
/// kept), so that only code is searched for paths.
fn strip_comments_and_strings(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r'))) && !prev_ident && {
            // A raw string: r"…", r#"…"#, br"…".
            let mut j = i + if c == 'b' { 2 } else { 1 };
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            chars.get(j) == Some(&'"')
        } {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while chars[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&ch) => {
                        blank(&mut out, ch);
                        j += 1;
                    }
                }
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}'), or else a lifetime (kept).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The paths a `use` tree names (`crate::{a::b, c::{d, e as f}}` → `crate::a::b`,
/// `crate::c::d`, `crate::c::e`); `self` and `*` add nothing.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn split_top(tree: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in tree.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&tree[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&tree[start..]);
        parts
    }
    fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
        path.split("::")
            .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
            .map(str::to_owned)
    }
    fn rec(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        for part in split_top(tree) {
            if part.is_empty() {
                continue;
            }
            if let (Some(open), Some(close)) = (part.find('{'), part.rfind('}')) {
                let mut inner_prefix = prefix.to_vec();
                inner_prefix.extend(segments(part[..open].trim_end_matches(':')));
                rec(&inner_prefix, &part[open + 1..close], out);
            } else {
                let path = part.split(" as ").next().unwrap_or(part);
                let mut full = prefix.to_vec();
                full.extend(segments(path.trim()));
                out.push(full);
            }
        }
    }
    // Keep ` as ` recognisable; drop every other bit of whitespace.
    let compact: String = tree
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" as ", "\u{0}")
        .replace(' ', "")
        .replace('\u{0}', " as ");
    let mut out = Vec::new();
    rec(&[], &compact, &mut out);
    out
}

/// Every `crate::…` / `super::…` reference in `code` (already stripped): `use` trees,
/// and paths written inline (`crate::policy::mute::MuteSet::compile(…)`).
fn references(code: &str) -> Vec<Vec<String>> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut refs = Vec::new();
    // `use` statements starting at `crate` or `super`.
    let mut rest = code;
    while let Some(pos) = rest.find("use") {
        let before_ok = rest[..pos].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = &rest[pos + 3..];
        let after_ok = after.starts_with(char::is_whitespace);
        if before_ok && after_ok {
            let tree = after.trim_start();
            if (tree.starts_with("crate") || tree.starts_with("super"))
                && let Some(end) = tree.find(';')
            {
                refs.extend(expand_use_tree(&tree[..end]));
            }
        }
        rest = after;
    }
    // Inline paths: `crate` or `super` followed by at least one `::segment`.
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !is_ident(bytes[i - 1]);
        let starts = |w: &str| {
            w.chars()
                .enumerate()
                .all(|(k, c)| bytes.get(i + k) == Some(&c))
        };
        let head = if at_word && starts("crate") {
            "crate"
        } else if at_word && starts("super") {
            "super"
        } else {
            i += 1;
            continue;
        };
        let mut j = i + head.len();
        if bytes.get(j).is_some_and(|&c| is_ident(c)) {
            i = j;
            continue;
        }
        let mut path = vec![head.to_owned()];
        while bytes.get(j) == Some(&':') && bytes.get(j + 1) == Some(&':') {
            let start = j + 2;
            let mut end = start;
            while bytes.get(end).is_some_and(|&c| is_ident(c)) {
                end += 1;
            }
            let segment: String = bytes[start..end].iter().collect();
            if segment.is_empty() || segment.starts_with(|c: char| c.is_ascii_digit()) {
                break;
            }
            path.push(segment);
            j = end;
        }
        if path.len() > 1 {
            refs.push(path);
        }
        i = j;
    }
    refs
}

/// The module a source file stands for, from its path relative to the crate's `src`.
fn module_of(relative: &str) -> ModPath {
    let without_ext = relative.strip_suffix(".rs").unwrap_or(relative);
    let mut parts: ModPath = without_ext.split(['/', '\\']).map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Sibling-module cycles among `files` (path relative to `src`, source text).
fn sibling_cycles(files: &[(String, String)]) -> Vec<Cycle> {
    let modules: BTreeSet<ModPath> = files.iter().map(|(p, _)| module_of(p)).collect();
    let resolve = |path: &[String]| -> Option<ModPath> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains(p))
    };
    // File-level edges.
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    for (relative, source) in files {
        let here = module_of(relative);
        for reference in references(&strip_comments_and_strings(source)) {
            let path: ModPath = if reference[0] == "crate" {
                reference[1..].to_vec()
            } else {
                // A file's `super` is its parent module.
                let mut base = here.clone();
                let mut rest = &reference[..];
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                base
            };
            if let Some(target) = resolve(&path)
                && target != here
            {
                edges.insert((here.clone(), target));
            }
        }
    }
    // Sibling edges: the children of the deepest common ancestor on each side.
    let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (a, b) in &edges {
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        if common == a.len() || common == b.len() {
            continue; // containment
        }
        let (pa, pb) = (a[..=common].to_vec(), b[..=common].to_vec());
        graph.entry(pb.clone()).or_default();
        graph.entry(pa).or_default().insert(pb);
    }
    strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|mut modules| {
            modules.sort();
            let mut cycle_edges = Vec::new();
            for a in &modules {
                for b in graph[a].iter().filter(|b| modules.contains(b)) {
                    let examples = edges
                        .iter()
                        .filter(|(x, y)| x.starts_with(a) && y.starts_with(b))
                        .take(4)
                        .cloned()
                        .collect();
                    cycle_edges.push((a.clone(), b.clone(), examples));
                }
            }
            Cycle {
                modules,
                edges: cycle_edges,
            }
        })
        .collect()
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'g> {
        graph: &'g BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'g ModPath, usize>,
        low: BTreeMap<&'g ModPath, usize>,
        stack: Vec<&'g ModPath>,
        on_stack: BTreeSet<&'g ModPath>,
        components: Vec<Vec<ModPath>>,
    }
    fn visit<'g>(state: &mut State<'g>, v: &'g ModPath) {
        let n = state.index.len();
        state.index.insert(v, n);
        state.low.insert(v, n);
        state.stack.push(v);
        state.on_stack.insert(v);
        for w in &state.graph[v] {
            if !state.index.contains_key(w) {
                visit(state, w);
                let low = state.low[v].min(state.low[w]);
                state.low.insert(v, low);
            } else if state.on_stack.contains(w) {
                let low = state.low[v].min(state.index[w]);
                state.low.insert(v, low);
            }
        }
        if state.low[v] == state.index[v] {
            let mut component = Vec::new();
            while let Some(w) = state.stack.pop() {
                state.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            state.components.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.components
}

/// Every `.rs` file under `src`, as (path relative to `src` with `/`, source).
fn read_sources(src: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).expect("under src");
                let relative = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let source = fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                out.push((relative, source));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    out
}

fn describe(crate_src: &str, cycle: &Cycle) -> String {
    let name = |m: &ModPath| {
        if m.is_empty() {
            "(root)".to_owned()
        } else {
            m.join("::")
        }
    };
    let mut text = format!(
        "{crate_src}: CYCLE {}\n",
        cycle
            .modules
            .iter()
            .map(name)
            .collect::<Vec<_>>()
            .join(" <-> ")
    );
    for (a, b, examples) in &cycle.edges {
        let files: Vec<String> = examples
            .iter()
            .map(|(x, y)| format!("{} -> {}", x.join("/"), y.join("/")))
            .collect();
        text += &format!(
            "    {} -> {}  e.g. {}\n",
            name(a),
            name(b),
            files.join(", ")
        );
    }
    text
}

#[test]
fn no_sibling_module_cycles_in_core_server_cli() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut report = String::new();
    for crate_src in ["core/src", "server/src", "cli/src"] {
        let files = read_sources(&workspace.join(crate_src));
        assert!(!files.is_empty(), "no sources found in {crate_src}");
        for cycle in sibling_cycles(&files) {
            report += &describe(crate_src, &cycle);
        }
    }
    assert!(
        report.is_empty(),
        "modules must depend downward only; sibling import cycles:\n{report}"
    );
}

#[test]
fn finds_a_known_cycle_and_ignores_containment_comments_and_strings() {
    let file = |path: &str, source: &str| (path.to_owned(), source.to_owned());
    let files = vec![
        file("lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n"),
        // a -> b through a grouped use tree.
        file(
            "a/mod.rs",
            "use crate::{b::{x::Thing, y}, c as _};\nmod inner;",
        ),
        // b -> a through `super` from a child file, inline in an expression.
        file("b/mod.rs", "pub mod x;\npub mod y;\n"),
        file("b/x.rs", "pub fn f() { super::super::a::inner::g(); }"),
        file("b/y.rs", "use super::x; // crate::d::Nope in a comment\n"),
        file("a/inner.rs", "use super::super::a; use crate::a::inner;"),
        // c -> d only in a string, a block comment and a raw string: no edge.
        file(
            "c.rs",
            "/* crate::d::X */ const S: &str = \"crate::d::Y\"; const R: &str = r#\"crate::d::Z\"#;",
        ),
        file(
            "d.rs",
            "use crate::c::S; fn l<'a>(x: &'a str) -> char { '\"' }",
        ),
    ];
    let cycles = sibling_cycles(&files);
    let found: Vec<Vec<String>> = cycles
        .iter()
        .map(|c| c.modules.iter().map(|m| m.join("::")).collect())
        .collect();
    assert_eq!(
        found,
        vec![vec!["a".to_owned(), "b".to_owned()]],
        "{cycles:?}"
    );
    let edges = &cycles[0].edges;
    assert!(edges.iter().any(|(a, b, ex)| a == &["b"]
        && b == &["a"]
        && ex.contains(&(
            vec!["b".into(), "x".into()],
            vec!["a".into(), "inner".into()]
        ))));

    // Breaking the cycle (b no longer reaches a) leaves none: c -> d was never an edge.
    let fixed: Vec<_> = files
        .into_iter()
        .map(|(p, s)| {
            if p == "b/x.rs" {
                (p, "pub fn f() {}".to_owned())
            } else {
                (p, s)
            }
        })
        .collect();
    assert!(sibling_cycles(&fixed).is_empty());
}

#[test]
fn use_trees_expand_to_every_path() {
    let paths = expand_use_tree("crate::{a::b, c::{self, d, e as f}, g::*}");
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "crate::a::b",
            "crate::c",
            "crate::c::d",
            "crate::c::e",
            "crate::g"
        ]
    );
}
