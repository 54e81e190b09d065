#!/usr/bin/env bash
# A crate outside this repository that uses dmasking's public API with the engine alone
# (`default-features = false, features = ["flex"]`): examples/custom_search.rs as its
# main. It shares this repository's target directory and Cargo.lock, so only the two
# crates themselves compile.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "uses-dmasking"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
dmasking = { path = "$repo", default-features = false, features = ["flex"] }
TOML
cp "$repo/examples/custom_search.rs" "$dir/src/main.rs"
cp "$repo/Cargo.lock" "$dir/Cargo.lock"
out=$(CARGO_TARGET_DIR="$repo/target" cargo run --release --quiet --manifest-path "$dir/Cargo.toml")
echo "$out"
grep -q "^derived: " <<< "$out"
grep -q "^retrained: test top-1 " <<< "$out"
grep -q "^predicted: " <<< "$out"
