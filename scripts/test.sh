#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (the official Segment
# SDK, moto's S3 server, an OpenAPI validator and selenium from PyPI; Debian's chromium and
# chromium-driver for the browser test), checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import segment.analytics, moto.server, openapi_spec_validator, selenium" 2>/dev/null; then
    echo "==> installing segment-analytics-python, moto[server] (an S3 API for the lake tests), openapi-spec-validator and selenium into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check segment-analytics-python==2.4.0 "moto[server]==5.1.*" "openapi-spec-validator==0.7.*" "selenium==4.*"
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "==> installing chromium and chromium-driver (the browser test drives the demo shop)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
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
