#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (the official Segment
# SDK, moto's S3 server and an OpenAPI validator from PyPI, cargo-nextest if missing), checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import segment.analytics, moto.server, openapi_spec_validator" 2>/dev/null; then
    echo "==> installing segment-analytics-python, moto[server] (an S3 API for the lake tests) and openapi-spec-validator into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check segment-analytics-python==2.4.0 "moto[server]==5.1.*" "openapi-spec-validator==0.7.*"
fi
export TAILOR_TEST_PYTHON="$PWD/.venv/bin/python"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
