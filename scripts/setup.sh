#!/usr/bin/env bash
# Installs the project's tools into .venv: the AWS emulator (moto server) and cargo-lambda.
# Idempotent: a second run with the same pins does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2
STAMP=".venv/.installed-moto-${MOTO_VERSION}-cargo-lambda-${CARGO_LAMBDA_VERSION}"

if [ -f "$STAMP" ]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/pip install --quiet --disable-pip-version-check \
  "moto[server]==${MOTO_VERSION}" "cargo-lambda==${CARGO_LAMBDA_VERSION}"
touch "$STAMP"
echo "setup: moto ${MOTO_VERSION} and cargo-lambda ${CARGO_LAMBDA_VERSION} installed in .venv"
