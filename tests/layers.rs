//! The library's layers only look down: a module may use the modules listed before it in
//! `LAYERS` and never one listed after it. Checked on the source text (`crate::name` paths
//! and `use crate::{..}` groups outside comments).

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::repo;

/// Bottom first. Modules on one line share a layer and may not use each other.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["json", "divisible", "device", "alloc", "plot"],
    &["run"],
    &["data"],
    &["arch"],
    &["space", "zoo"],
    &["kernels"],
    &["nn"],
    &["cost", "onnx", "pretrained"],
    &["eval"],
    &["supernet"],
    &["latency"],
    &["benchmark"],
    &["search"],
    &["train"],
    &["report", "bench"],
    &["cli"],
];

fn level(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

/// Top-level modules a file's code names through `crate::`.
fn used(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_uses_one_above_it() {
    let src = repo("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = BTreeMap::new();
    let mut seen = 0;
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let mine = level(&top).unwrap_or_else(|| panic!("module `{top}` is in no layer"));
        for m in used(&std::fs::read_to_string(f).unwrap()) {
            if m == top || m == "self" || m.is_empty() {
                continue;
            }
            seen += 1;
            let theirs = level(&m)
                .unwrap_or_else(|| panic!("{}: `crate::{m}` is in no layer", rel.display()));
            if theirs >= mine {
                wrong.insert(format!("{} uses crate::{m}", rel.display()), ());
            }
        }
    }
    assert!(seen > 100, "the scan found only {seen} crate paths");
    assert!(
        wrong.is_empty(),
        "imports that look up or sideways: {:?}",
        wrong.keys()
    );
}
