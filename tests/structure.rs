//! The shape of the code, checked on the host: imports only point down the layers, no file or
//! top-level module imports itself back in a circle, and the request-path diagram in the README
//! is the one in `src/pipeline.rs`.
//!
//! The layers, from the bottom (a module may import its own layer and the ones below it):
//!
//! ```text
//! leaves      platform http digest reader bindings deployment memo
//! error       error
//! observe     observe
//! metrics     metrics
//! domains     routing upstream resilience security auth cache rate_limit aggregate changes
//!             condition policy firewall
//! config      config
//! exchange    context exchange
//! operators   openapi admin
//! stages      stages
//! pipeline    pipeline
//! entry       lib.rs
//! ```

// A structure check that cannot read the tree should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → layer.
const LAYERS: &[(&str, u8)] = &[
    ("platform", 0),
    ("http", 0),
    ("digest", 0),
    ("reader", 0),
    ("bindings", 0),
    ("deployment", 0),
    ("memo", 0),
    ("error", 1),
    ("observe", 2),
    ("metrics", 3),
    ("routing", 4),
    ("upstream", 4),
    ("resilience", 4),
    ("security", 4),
    ("auth", 4),
    ("cache", 4),
    ("rate_limit", 4),
    ("aggregate", 4),
    ("changes", 4),
    ("condition", 4),
    ("policy", 4),
    ("firewall", 4),
    ("config", 5),
    ("context", 6),
    ("exchange", 6),
    ("openapi", 7),
    ("admin", 7),
    ("stages", 8),
    ("pipeline", 9),
];
/// What no domain may import.
const ABOVE_DOMAINS: &[&str] = &["config", "stages", "pipeline", "admin"];
const DOMAINS: &[&str] = &[
    "routing",
    "upstream",
    "resilience",
    "security",
    "auth",
    "cache",
    "rate_limit",
    "aggregate",
    "changes",
    "condition",
    "policy",
    "firewall",
];

#[test]
fn imports_point_down_the_layers_without_circles() {
    let sources = read_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(sources.len() > 50, "the tree was not read");
    let problems = check(&sources);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_circles_and_arrows_running_up() {
    let tree = |files: &[(&str, &str)]| -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect()
    };
    let clean = tree(&[
        ("lib.rs", "pub mod cache; pub mod http;"),
        ("cache/mod.rs", "pub mod key; pub mod plan;"),
        (
            "cache/plan.rs",
            "use super::key::base_key;\nuse crate::http::{self, header};",
        ),
        (
            "cache/key.rs",
            "// use crate::cache::plan;\nconst S: &str = \"crate::cache::plan\";",
        ),
        ("http.rs", "#[cfg(test)] mod tests { use super::*; }"),
    ]);
    assert_eq!(check(&clean), Vec::<String>::new());

    let circle = tree(&[
        ("lib.rs", "pub mod cache;"),
        (
            "cache/mod.rs",
            "pub mod key;\nuse key::Key;\npub const BINDING: &str = \"CACHE\";",
        ),
        (
            "cache/key.rs",
            "pub struct Key;\nfn f() { let _ = super::BINDING; }",
        ),
    ]);
    let found = check(&circle).join("\n");
    assert!(
        found.contains("circle of files: cache/key.rs, cache/mod.rs"),
        "{found}"
    );

    let upward = tree(&[
        ("lib.rs", "pub mod cache; pub mod config; pub mod http;"),
        ("config/mod.rs", "use crate::cache::Policy;"),
        (
            "cache/mod.rs",
            "use crate::{config::Gateway, http};\npub struct Policy;",
        ),
        ("http.rs", "mod tests { use super::super::cache; }"),
    ]);
    let found = check(&upward).join("\n");
    assert!(
        found.contains("cache/mod.rs imports config/mod.rs"),
        "{found}"
    );
    assert!(found.contains("a domain imports config"), "{found}");
    assert!(found.contains("http.rs imports cache/mod.rs"), "{found}");
    assert!(
        found.contains("circle of top-level modules: cache, config"),
        "{found}"
    );

    let unknown = tree(&[("lib.rs", "pub mod gadgets;"), ("gadgets.rs", "")]);
    assert!(check(&unknown)
        .join("\n")
        .contains("'gadgets' has no layer"));
}

#[test]
fn the_readme_shows_the_pipelines_diagram() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pipeline = std::fs::read_to_string(root.join("src/pipeline.rs")).expect("pipeline.rs");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let from_docs: Vec<&str> = pipeline
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .collect();
    let diagram = fenced(&from_docs.join("\n")).expect("a text diagram in pipeline.rs");
    assert!(diagram.contains("upstream"), "{diagram}");
    assert!(
        readme.contains(&diagram),
        "README.md's request-path diagram differs from src/pipeline.rs; copy this one:\n{diagram}"
    );
}

/// The first ```text block, without its fences, each line without the doc comment's space.
fn fenced(docs: &str) -> Option<String> {
    let start = docs.find("```text\n")? + "```text\n".len();
    let end = start + docs[start..].find("```")?;
    let lines: Vec<&str> = docs[start..end]
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    Some(lines.join("\n"))
}

/// Every `.rs` file below `dir` (the binaries aside: they are crates of their own), by path
/// relative to it.
fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("readable src") {
            let path = entry.expect("entry").path();
            let relative = path
                .strip_prefix(dir)
                .expect("below src")
                .to_string_lossy()
                .replace('\\', "/");
            if path.is_dir() {
                if relative != "bin" {
                    pending.push(path);
                }
            } else if relative.ends_with(".rs") {
                out.insert(relative, std::fs::read_to_string(&path).expect("utf-8"));
            }
        }
    }
    out
}

/// Every problem with the tree's imports, one line each.
fn check(sources: &BTreeMap<String, String>) -> Vec<String> {
    let modules: BTreeMap<Vec<String>, String> = sources
        .keys()
        .map(|file| (module_of(file), file.clone()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, source) in sources {
        let here = module_of(file);
        let targets = edges.entry(file.clone()).or_default();
        for path in references(source) {
            let Some(absolute) = resolve(&here, &path, &modules) else {
                continue;
            };
            if let Some(target) = longest_module(&absolute, &modules) {
                if target != *file {
                    targets.insert(target);
                }
            }
        }
    }
    let layer = |file: &str| -> Option<(String, u8)> {
        let top = module_of(file).first().cloned()?;
        LAYERS
            .iter()
            .find(|(name, _)| *name == top)
            .map(|(_, l)| (top, *l))
    };
    let mut problems = Vec::new();
    for file in sources.keys() {
        if let Some(top) = module_of(file).first() {
            if layer(file).is_none() {
                problems.push(format!(
                    "'{top}' has no layer: add it to LAYERS in tests/structure.rs"
                ));
            }
        }
    }
    problems.dedup();
    for (from, targets) in &edges {
        let Some((from_top, from_layer)) = layer(from) else {
            continue;
        };
        for to in targets {
            let Some((to_top, to_layer)) = layer(to) else {
                continue;
            };
            if from_top != to_top && to_layer > from_layer {
                problems.push(format!("{from} imports {to}, which is in a layer above it"));
            }
            if DOMAINS.contains(&from_top.as_str()) && ABOVE_DOMAINS.contains(&to_top.as_str()) {
                problems.push(format!("a domain imports {to_top}: {from} imports {to}"));
            }
        }
    }
    for circle in circles(&edges) {
        problems.push(format!("circle of files: {}", circle.join(", ")));
    }
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &edges {
        let top = |file: &str| module_of(file).first().cloned().unwrap_or_default();
        for to in targets {
            if top(from) != top(to) && !top(from).is_empty() && !top(to).is_empty() {
                folders.entry(top(from)).or_default().insert(top(to));
            }
        }
    }
    for circle in circles(&folders) {
        problems.push(format!(
            "circle of top-level modules: {}",
            circle.join(", ")
        ));
    }
    problems
}

/// `cache/keep.rs` → `[cache, keep]`, `cache/mod.rs` → `[cache]`, `lib.rs` → `[]`.
fn module_of(file: &str) -> Vec<String> {
    let path = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The file of the longest module that `path` starts with.
fn longest_module(path: &[String], modules: &BTreeMap<Vec<String>, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n]).cloned())
}

/// A path as written (`crate::a::b`, `super::x`, `self::y`, `child::z`), made absolute from the
/// module `here`; `None` for paths into other crates.
fn resolve(
    here: &[String],
    path: &Reference,
    modules: &BTreeMap<Vec<String>, String>,
) -> Option<Vec<String>> {
    // Inside an inline module (`mod tests { … }`) `super` first leaves that module.
    let mut base: Vec<String> = here.to_vec();
    let mut segments = path.segments.iter().peekable();
    let mut inline = path.inline_depth;
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            base.clear();
        }
        Some("super") | Some("self") => {
            while let Some(word) = segments.peek().map(|s| s.as_str()) {
                match word {
                    "super" if inline > 0 => inline -= 1,
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
        }
        Some(first) => {
            // A path that starts with a child module of this file (uniform paths).
            let mut child = base.clone();
            child.push(first.to_string());
            if inline > 0 || !modules.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    base.extend(segments.cloned());
    Some(base)
}

/// A path found in the source, and how many inline modules deep it was written.
#[derive(Debug)]
struct Reference {
    segments: Vec<String>,
    inline_depth: usize,
}

/// Every path in `source` that could name a module of this crate: the trees of `use` items
/// and the paths in code. Comments and literals are skipped.
fn references(source: &str) -> Vec<Reference> {
    let tokens = tokens(&strip(source));
    let mut out = Vec::new();
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push(depth);
                depth += 1;
                i += 3;
                continue;
            }
            "use" => {
                let end = tokens[i..]
                    .iter()
                    .position(|t| t == ";")
                    .map_or(tokens.len(), |e| i + e);
                for segments in expand(&tokens[i + 1..end]) {
                    out.push(Reference {
                        segments,
                        inline_depth: inline.len(),
                    });
                }
                i = end + 1;
                continue;
            }
            // The start of a path: `crate::`, `super::`, `self::`, or a name that `resolve`
            // keeps only when it is a child module of this file.
            word if is_ident(word)
                && tokens.get(i + 1).map(String::as_str) == Some("::")
                && (i == 0 || tokens[i - 1] != "::") =>
            {
                let mut segments = vec![word.to_string()];
                let mut j = i + 1;
                while tokens.get(j).map(String::as_str) == Some("::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(t))
                {
                    segments.push(tokens[j + 1].clone());
                    j += 2;
                }
                out.push(Reference {
                    segments,
                    inline_depth: inline.len(),
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The paths of a `use` tree: `a::{self, b::{c, d}}` → `a`, `a::b::c`, `a::b::d`.
fn expand(tokens: &[String]) -> Vec<Vec<String>> {
    fn walk(tokens: &[String], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = prefix.clone();
        let mut i = 0;
        while i < tokens.len() {
            match tokens[i].as_str() {
                "::" | "pub" => {}
                "{" => {
                    // Split the group at top-level commas.
                    let mut level = 0;
                    let mut start = i + 1;
                    for j in i + 1..tokens.len() {
                        match tokens[j].as_str() {
                            "{" => level += 1,
                            "}" if level == 0 => {
                                walk(&tokens[start..j], path.clone(), out);
                                return;
                            }
                            "}" => level -= 1,
                            "," if level == 0 => {
                                walk(&tokens[start..j], path.clone(), out);
                                start = j + 1;
                            }
                            _ => {}
                        }
                    }
                    return;
                }
                "as" => break,
                word if is_ident(word) => path.push(word.to_string()),
                _ => {}
            }
            i += 1;
        }
        if path.len() > prefix.len() || !prefix.is_empty() {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(tokens, Vec::new(), &mut out);
    out
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && token.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_string());
            i += 2;
            continue;
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
        i += 1;
    }
    out
}

/// The code without comments, string literals and character literals.
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut level = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    level += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    level -= 1;
                    i += 2;
                    if level == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…" or r#"…"#, as many hashes as it opened with.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal, not a lifetime.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The strongly connected groups of more than one node (Tarjan), each sorted.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        edges: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(state: &mut State<'g>, node: &'g str) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        if let Some(targets) = state.edges.get(node) {
            for target in targets {
                let target = target.as_str();
                if !state.index.contains_key(target) {
                    visit(state, target);
                    let low = state.low[node].min(state.low[target]);
                    state.low.insert(node, low);
                } else if state.on_stack.contains(target) {
                    let low = state.low[node].min(state.index[target]);
                    state.low.insert(node, low);
                }
            }
        }
        if state.low[node] == state.index[node] {
            let mut group = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                group.push(member.to_string());
                if member == node {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                state.found.push(group);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}
