//! The modules of `src/core` form no cycle (issue 14, point 7): shared transaction helpers live in
//! modules the commands use, and the writer's state (`runtime`) sits below the commands. Read from
//! the sources: `super::x`, `crate::core::x` and names re-exported by `core/mod.rs` count as uses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const CORE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/core");

#[test]
fn the_core_modules_form_no_cycle() {
    let graph = core_graph();
    assert!(graph.len() > 10, "the core's modules were read: {graph:?}");
    let cycles = cycles(&graph);
    assert!(cycles.is_empty(), "modules of src/core that use each other: {cycles:?}");
}

/// Each core module and the core modules it uses.
fn core_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules: Vec<String> = rust_files(Path::new(CORE))
        .into_iter()
        .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .filter(|stem| stem != "mod" && stem != "tests")
        .collect();
    let owners = reexports(&std::fs::read_to_string(Path::new(CORE).join("mod.rs")).unwrap());
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut uses = BTreeSet::new();
        for (source, nested) in sources_of(module) {
            for name in core_names(&source, nested) {
                let target = if modules.contains(&name) { Some(name) } else { owners.get(&name).cloned() };
                uses.extend(target.filter(|target| target != module));
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// `core/x.rs` (not nested) and the files under `core/x/` (nested: their `super` is `x`), without
/// test modules.
fn sources_of(module: &str) -> Vec<(String, bool)> {
    let mut sources = vec![(read_code(&Path::new(CORE).join(format!("{module}.rs"))), false)];
    let dir = Path::new(CORE).join(module);
    if dir.is_dir() {
        for path in rust_files(&dir) {
            if !path.file_stem().is_some_and(|stem| stem.to_string_lossy().starts_with("tests")) {
                sources.push((read_code(&path), true));
            }
        }
    }
    sources
}

/// The file without its `#[cfg(test)] mod tests { … }` (always last in this code base).
fn read_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

/// `pub use x::{A, B};` and `pub use x::A;` in `core/mod.rs`: name → module.
fn reexports(mod_rs: &str) -> HashMap<String, String> {
    let mut owners = HashMap::new();
    for statement in mod_rs.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.split_once("::") else { continue };
        for name in identifiers(names) {
            owners.insert(name, module.trim().to_owned());
        }
    }
    owners
}

/// Every name reached through the core's root: `crate::core::…`, and `super::…` in a core module
/// (`super::super::…` in a nested one). A `{…}` group gives each of its names.
fn core_names(source: &str, nested: bool) -> Vec<String> {
    let roots: &[&str] = if nested { &["crate::core::", "super::super::"] } else { &["crate::core::", "super::"] };
    let mut names = Vec::new();
    for root in roots {
        let mut rest = source;
        while let Some(at) = rest.find(root) {
            rest = &rest[at + root.len()..];
            // `super::super::x` seen from `super::` in a non-nested file is not a core name.
            if !nested && *root == "super::" && rest.starts_with("super::") {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                names.extend(identifiers(&group[..end]));
            } else {
                names.extend(identifiers(rest).into_iter().take(1));
            }
        }
    }
    names
}

fn identifiers(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| word.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_'))
        .map(str::to_owned)
        .collect()
}

/// The strongly connected groups of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(walk: &mut Walk<'a>, node: &'a str) {
        let n = walk.index.len();
        walk.index.insert(node, n);
        walk.low.insert(node, n);
        walk.stack.push(node);
        for next in walk.graph.get(node).into_iter().flatten() {
            if !walk.index.contains_key(next.as_str()) {
                visit(walk, next);
                let low = walk.low[node].min(walk.low[next.as_str()]);
                walk.low.insert(node, low);
            } else if walk.stack.contains(&next.as_str()) {
                let low = walk.low[node].min(walk.index[next.as_str()]);
                walk.low.insert(node, low);
            }
        }
        if walk.low[node] == walk.index[node] {
            let at = walk.stack.iter().rposition(|n| *n == node).unwrap();
            let group: Vec<String> = walk.stack.drain(at..).map(str::to_owned).collect();
            if group.len() > 1 {
                walk.found.push(group);
            }
        }
    }
    let mut walk = Walk { graph, index: HashMap::new(), low: HashMap::new(), stack: Vec::new(), found: Vec::new() };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.found
}

#[test]
fn a_planted_cycle_is_found() {
    let edge = |from: &str, to: &[&str]| (from.to_owned(), to.iter().map(|t| (*t).to_owned()).collect());
    let graph = BTreeMap::from([edge("a", &["b"]), edge("b", &["c"]), edge("c", &["a"]), edge("d", &["a"])]);
    let found = cycles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].iter().cloned().collect::<BTreeSet<_>>(), ["a", "b", "c"].map(String::from).into());
    assert_eq!(core_names("use super::{Foo, bar::Baz};", false), ["Foo", "bar", "Baz"]);
}
