#!/usr/bin/env bash
# Builds every function under functions/ for Lambda (arm64, provided.al2023) with cargo-lambda and zig from
# .venv, then prints each bootstrap's size and checks it is an aarch64 executable.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu >/dev/null
functions=$(ls functions)
cargo lambda build --locked --release --arm64 $(printf -- '-p %s ' $functions)
status=0
for function in $functions; do
  bootstrap="target/lambda/${function}/bootstrap"
  size=$(stat -c %s "$bootstrap")
  # ELF header: e_machine at offset 18, 0xB7 (183) is AArch64.
  machine=$(od -An -tu2 -j18 -N2 "$bootstrap" | tr -d ' ')
  arch=$([ "$machine" = "183" ] && echo aarch64 || echo "not aarch64 (e_machine $machine)")
  printf '%-13s %6.2f MB  %s\n' "$function" "$(echo "$size" | awk '{print $1/1000000}')" "$arch"
  [ "$machine" = "183" ] || status=1
done
exit $status
