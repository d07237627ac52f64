#!/usr/bin/env bash
# Installs the project's tools into .venv: the AWS emulator (moto server), cargo-lambda (with
# zig, for local runs and arm64 builds) and cfn-lint (for template.yaml). `setup.sh sam` also
# installs the SAM CLI (`sam build`, `sam deploy`) into .venv-sam, since it pins its own boto3;
# no test needs it (`sam validate --lint` only runs cfn-lint, which `make lint` runs itself).
# Idempotent: a second run with the same pins does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2
CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
CHECKOV_VERSION=3.3.30
CFN_LINT_SERVERLESS_VERSION=0.3.6

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
# server needs in other versions.
LINT_STAMP=".venv-lint/.installed-checkov-${CHECKOV_VERSION}-cfn-lint-serverless-${CFN_LINT_SERVERLESS_VERSION}-cfn-lint-${CFN_LINT_VERSION}"
if [ ! -f "$LINT_STAMP" ]; then
  echo "setup: installing checkov ${CHECKOV_VERSION} and cfn-lint-serverless ${CFN_LINT_SERVERLESS_VERSION} into .venv-lint (first time only, about 1-2 minutes)"
  lint_start=$SECONDS
  rm -rf .venv-lint
  python3 -m venv .venv-lint
  .venv-lint/bin/pip install --quiet --disable-pip-version-check --upgrade pip
  .venv-lint/bin/pip install --quiet --disable-pip-version-check \
    "checkov==${CHECKOV_VERSION}" "cfn-lint-serverless==${CFN_LINT_SERVERLESS_VERSION}" "cfn-lint==${CFN_LINT_VERSION}"
  touch "$LINT_STAMP"
  echo "setup: scanners installed in .venv-lint in $((SECONDS - lint_start)) s"
fi

STAMP=".venv/.installed-moto-${MOTO_VERSION}-cargo-lambda-${CARGO_LAMBDA_VERSION}-cfn-lint-${CFN_LINT_VERSION}"
if [ -f "$STAMP" ]; then
  exit 0
fi
echo "setup: installing moto ${MOTO_VERSION}, cargo-lambda ${CARGO_LAMBDA_VERSION} (with zig) and cfn-lint ${CFN_LINT_VERSION} into .venv (first time only, about 1 minute)"
start=$SECONDS
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/pip install --quiet --disable-pip-version-check \
  "moto[server]==${MOTO_VERSION}" "cargo-lambda==${CARGO_LAMBDA_VERSION}" "cfn-lint==${CFN_LINT_VERSION}"
touch "$STAMP"
echo "setup: tools installed in .venv in $((SECONDS - start)) s"
