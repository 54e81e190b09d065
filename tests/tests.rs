//! The integration tests: one binary (one link), one module per area, and `util` for what
//! they share. Tests are named `area::test`, so a filter selects an area:
//! `cargo test --release --test tests -- supernet:: kernels::`.

mod util;

mod api;
mod benchmark;
mod cli;
mod composition;
mod export;
mod folder;
mod formats;
mod kernels;
mod latency;
mod layers;
mod library;
mod pretrained;
mod search;
mod supernet;
mod train;

/// Cargo builds only this file and its modules (`autotests = false` in Cargo.toml): a file
/// of tests/ that is no module here would never be compiled.
#[test]
fn every_file_of_tests_is_a_module() {
    let dir = util::repo("tests");
    let root = std::fs::read_to_string(dir.join("tests.rs")).unwrap();
    let modules: Vec<&str> = root
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            files += 1;
            let name = p.file_stem().unwrap().to_str().unwrap();
            assert!(
                name == "tests" || modules.contains(&name),
                "tests/{name}.rs is not compiled: add `mod {name};` to tests/tests.rs"
            );
        }
    }
    assert_eq!(files, modules.len() + 1, "{modules:?}");
}
