#!/usr/bin/env bash
# Regenerates the hashed Python locks (scripts/requirements/*.txt) from their pins (*.in) with
# pip-tools in a throw-away venv: every package the tools need, at one version, with the hash of
# every file PyPI offers for it. scripts/setup.sh installs them with `--require-hashes`, so a
# file that changed on the index (or a dependency nobody pinned) stops the install. Run it after
# changing a pin in a *.in file, then commit both (setup.sh reinstalls when a lock changes).
set -euo pipefail
cd "$(dirname "$0")/requirements"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check pip-tools
python="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
for name in tools lint; do
  {
    echo "# Locked for Python ${python} by scripts/lock_requirements.sh from ${name}.in: do not edit."
    "$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-header --no-emit-find-links \
      --output-file - "${name}.in"
  } > "${name}.txt"
  echo "lock: ${name}.txt ($(grep -c '==' "${name}.txt") packages)"
done
