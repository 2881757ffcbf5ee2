//! The shape of the house: modules of `host/src` import each other without
//! cycles (so there is a layering, each module only looking down), and no
//! file grows past one job's size.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest a source file may be, its unit tests not counted.
const MAX_LINES: usize = 400;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its module path (`plugin::load`,
/// `cli::run`; `mod.rs` names its directory).
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let name = if prefix.is_empty() {
            stem.clone()
        } else {
            format!("{prefix}::{stem}")
        };
        if path.is_dir() {
            modules(&path, &name, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = match stem.as_str() {
                "mod" => prefix.to_string(),
                "lib" | "main" => continue,
                _ => name,
            };
            out.insert(name, path);
        }
    }
}

/// The file's text without its `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The modules `text` (the code of module `name`) refers to: `crate::a::b`
/// paths, and `super::x` paths of submodules. A reference resolves to the
/// longest module path that exists; submodules of one directory module
/// count as that module when seen from outside it.
fn references(name: &str, text: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let parent = name.rsplit_once("::").map(|(p, _)| p.to_string());
    let mut found = BTreeSet::new();
    let paths = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("crate::") || word.starts_with("super::"));
    for path in paths {
        let (base, rest) = if let Some(rest) = path.strip_prefix("crate::") {
            (String::new(), rest)
        } else {
            match (&parent, path.strip_prefix("super::")) {
                (Some(parent), Some(rest)) => (parent.clone(), rest),
                _ => continue,
            }
        };
        let mut target = base.clone();
        // `super::{a, b}`: the parent itself (`crate::{..}` is the root).
        let mut best = (rest.is_empty() && !base.is_empty()).then(|| base.clone());
        for part in rest.split("::") {
            target = if target.is_empty() {
                part.to_string()
            } else {
                format!("{target}::{part}")
            };
            if known.contains_key(&target) {
                best = Some(target.clone());
            }
        }
        if let Some(target) = best {
            found.insert(target);
        }
    }
    found.remove(name);
    found
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// The graph of the library (`crate::` is the library) and of the
/// command line (`cli`, whose `crate::` is the binary).
fn graphs() -> Vec<BTreeMap<String, BTreeSet<String>>> {
    let mut all = BTreeMap::new();
    modules(&src(), "", &mut all);
    let (cli, lib): (BTreeMap<_, _>, BTreeMap<_, _>) = all
        .into_iter()
        .partition(|(name, _)| name == "cli" || name.starts_with("cli::"));
    [lib, cli]
        .into_iter()
        .map(|known| {
            known
                .iter()
                .map(|(name, path)| (name.clone(), references(name, &code(path), &known)))
                .collect()
        })
        .collect()
}

#[test]
fn modules_import_each_other_without_cycles() {
    for graph in graphs() {
        assert!(graph.len() > 5, "the module list was not found: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_check_can_fail() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&graph).is_some());
}

#[test]
fn no_file_is_longer_than_one_job() {
    let mut all = BTreeMap::new();
    modules(&src(), "", &mut all);
    for (name, path) in &all {
        let lines = code(path).lines().count();
        assert!(
            lines <= MAX_LINES,
            "{name} ({}) has {lines} lines of code, over {MAX_LINES}",
            path.display()
        );
    }
}

/// Prints who imports whom, for the record.
#[test]
fn print_the_module_graph() {
    let mut all = BTreeMap::new();
    modules(&src(), "", &mut all);
    for graph in graphs() {
        for (name, uses) in &graph {
            let lines = code(&all[name]).lines().count();
            eprintln!(
                "{name:<16} {lines:>4}  -> {}",
                uses.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
}
