#!/usr/bin/env bash
# Installs the project's tools into .venv: the AWS emulator (moto server), cargo-lambda (with
# zig, for local runs and arm64 builds) and cfn-lint (for template.yaml). `setup.sh sam` also
# installs the SAM CLI (`sam build`, `sam deploy`) into .venv-sam, since it pins its own boto3;
# no test needs it (`sam validate --lint` only runs cfn-lint, which `make lint` runs itself).
# `setup.sh tools` installs .venv only (no scanners: the demo needs none). Idempotent: a second
# run with the same pins does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every Python tool comes from a hashed lock (scripts/requirements/*.txt, made from the pins in
# *.in by scripts/lock_requirements.sh): `--require-hashes` refuses a file whose hash is not the
# one locked, and any package the lock does not name. pip itself is the venv's own (an upgrade
# from the index would be the one unchecked download). The lock is for one Python minor version;
# on another, the pins are installed without hashes, with a warning. `--no-compile`: Python
# compiles a module when it is first imported, and these packages hold thousands never imported
# here (moto emulates every AWS service).
LOCKED_PYTHON="$(sed -n 's/^# Locked for Python \([0-9.]*\) .*/\1/p' scripts/requirements/tools.txt)"
PYTHON_NOW="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
install_locked() { # venv, lock name
  if [ "$PYTHON_NOW" = "$LOCKED_PYTHON" ]; then
    "$1/bin/pip" install --quiet --disable-pip-version-check --no-compile --require-hashes -r "scripts/requirements/$2.txt"
  else
    echo "setup: warning: Python ${PYTHON_NOW}, the lock is for ${LOCKED_PYTHON}: installing $2.in's pins without hashes (run scripts/lock_requirements.sh)" >&2
    "$1/bin/pip" install --quiet --disable-pip-version-check --no-compile -r "scripts/requirements/$2.in"
  fi
}
lock_sum() { cat scripts/requirements/*.txt | sha256sum | cut -c1-12; }
pins() { grep -v '^#' "scripts/requirements/$1.in" | paste -sd' '; }

SAM_CLI_VERSION=1.170.0

if [ "${1:-}" = "sam" ]; then
  SAM_STAMP=".venv-sam/.installed-aws-sam-cli-${SAM_CLI_VERSION}"
  if [ ! -f "$SAM_STAMP" ]; then
    echo "setup: installing the SAM CLI ${SAM_CLI_VERSION} into .venv-sam (first time only, about 1-2 minutes)"
    python3 -m venv .venv-sam
    .venv-sam/bin/pip install --quiet --disable-pip-version-check --upgrade pip
    .venv-sam/bin/pip install --quiet --disable-pip-version-check "aws-sam-cli==${SAM_CLI_VERSION}"
    touch "$SAM_STAMP"
  fi
  echo "setup: SAM CLI ${SAM_CLI_VERSION} in .venv-sam (export PATH=\$PWD/.venv-sam/bin:\$PATH)"
  exit 0
fi

# The template scanners (`make lint`) in a venv of their own: checkov pins libraries moto's
# server needs in other versions. `setup.sh tools` (what `make demo` runs) leaves them out.
# It installs beside .venv, in the background: two installs at once took 67 s on a new two-core
# machine, one after the other 159 s.
LINT_STAMP=".venv-lint/.installed-lock-$(lock_sum)"
lint_pid=""
if [ "${1:-}" != "tools" ] && [ ! -f "$LINT_STAMP" ]; then
  echo "setup: installing $(pins lint) into .venv-lint (first time only, about 1-2 minutes)"
  (
    lint_start=$SECONDS
    rm -rf .venv-lint
    python3 -m venv .venv-lint
    install_locked .venv-lint lint
    touch "$LINT_STAMP"
    echo "setup: scanners installed in .venv-lint in $((SECONDS - lint_start)) s"
  ) &
  lint_pid=$!
fi

STAMP=".venv/.installed-lock-$(lock_sum)"
if [ ! -f "$STAMP" ]; then
  echo "setup: installing $(pins tools) into .venv (first time only, about 1 minute)"
  start=$SECONDS
  rm -rf .venv
  python3 -m venv .venv
  install_locked .venv tools
  touch "$STAMP"
  echo "setup: tools installed in .venv in $((SECONDS - start)) s"
fi
if [ -n "$lint_pid" ] && ! wait "$lint_pid"; then
  echo "setup: installing the scanners into .venv-lint failed (see above)" >&2
  exit 1
fi
