#!/usr/bin/env bash
# Installs the project's tools into .venv: the AWS emulator (moto server), cargo-lambda (with
# zig, for local runs and arm64 builds) and cfn-lint (for template.yaml); and the SAM CLI (for
# `sam validate --lint`, `sam build`, `sam deploy`) into .venv-sam, since it pins its own boto3.
# Idempotent: a second run with the same pins does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2
CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
SAM_STAMP=".venv-sam/.installed-aws-sam-cli-${SAM_CLI_VERSION}"
if [ ! -f "$SAM_STAMP" ]; then
  python3 -m venv .venv-sam
  .venv-sam/bin/pip install --quiet --disable-pip-version-check --upgrade pip
  .venv-sam/bin/pip install --quiet --disable-pip-version-check "aws-sam-cli==${SAM_CLI_VERSION}"
  touch "$SAM_STAMP"
  echo "setup: aws-sam-cli ${SAM_CLI_VERSION} installed in .venv-sam"
fi

STAMP=".venv/.installed-moto-${MOTO_VERSION}-cargo-lambda-${CARGO_LAMBDA_VERSION}-cfn-lint-${CFN_LINT_VERSION}"

if [ -f "$STAMP" ]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/pip install --quiet --disable-pip-version-check \
  "moto[server]==${MOTO_VERSION}" "cargo-lambda==${CARGO_LAMBDA_VERSION}" "cfn-lint==${CFN_LINT_VERSION}"
touch "$STAMP"
echo "setup: moto ${MOTO_VERSION}, cargo-lambda ${CARGO_LAMBDA_VERSION}, cfn-lint ${CFN_LINT_VERSION} installed in .venv"
