#!/usr/bin/env bash
# `make test` lints through clippy-driver as the workspace's compiler, passing `-D warnings` in
# CLIPPY_ARGS, clippy's own encoding (what `cargo clippy` sets). Should a clippy release stop
# reading it, lints would only warn and the build pass: this compiles one known lint with the
# same two variables and fails unless clippy refuses it.
set -euo pipefail
driver="$1"
args="$2"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
printf 'pub fn probe(v: &[u8]) -> bool {\n    v.len() == 0\n}\n' > "$dir/probe.rs"
if CLIPPY_ARGS="$args" "$driver" rustc --edition 2021 --crate-type lib --emit metadata \
  -o "$dir/probe.rmeta" "$dir/probe.rs" 2> "$dir/out"; then
  echo "check_clippy_wrapper: clippy-driver passed a known lint (clippy::len_zero) with CLIPPY_ARGS=$args:" >&2
  echo "it no longer reads -D warnings there; make test would not fail on lints (see LINTED_BUILD in the Makefile)" >&2
  exit 1
fi
grep -q "len_zero" "$dir/out" || { cat "$dir/out" >&2; echo "check_clippy_wrapper: clippy-driver failed, not on the probe's lint" >&2; exit 1; }
echo "check_clippy_wrapper: clippy-driver refuses a lint under CLIPPY_ARGS"
