#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (the official Segment
# Python SDK, the Segment and RudderStack Node and browser SDKs from npm (Debian's nodejs and
# npm if missing), moto's S3 server, an OpenAPI validator, selenium and confluent-kafka (an independent Kafka reader) from PyPI; Debian's chromium and
# chromium-driver for the browser test; Debian's redis-server, started privately, if no Redis
# answers on 127.0.0.1:6379; Debian's prometheus for promtool; Debian's wrk for the load test;
# a tansu Kafka-protocol broker on a free loopback port, built with cargo once (tansu 0.6.0 with
# scripts/tansu-group-expiry.patch, see scripts/kafka-broker.sh); and
# cargo-nextest if missing), checks
# formatting and lints, runs every test, ends with a short fuzz run (scripts/fuzz.sh, which
# installs cargo-afl once), and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
# Services started below add their stop commands here.
on_exit=""
trap 'eval "$on_exit"' EXIT

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import segment.analytics, moto.server, openapi_spec_validator, selenium, confluent_kafka" 2>/dev/null; then
    echo "==> installing segment-analytics-python, moto[server] (an S3 API for the lake tests), openapi-spec-validator, selenium and confluent-kafka into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check segment-analytics-python==2.4.0 "moto[server]==5.1.*" "openapi-spec-validator==0.7.*" "selenium==4.*" "confluent-kafka==2.*"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "==> installing nodejs and npm (the live tests of the Node and browser SDKs)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
# The SDKs the live SDK tests drive, at the versions crates/tailor-server/tests/sdk/package.json
# pins, in .npm-sdks/ (git-ignored); installed again only when that list changes.
sdk_manifest=crates/tailor-server/tests/sdk/package.json
if ! cmp -s "$sdk_manifest" .npm-sdks/package.json || [ ! -d .npm-sdks/node_modules/@rudderstack/analytics-js ]; then
    echo "==> installing the Segment and RudderStack SDKs from npm into .npm-sdks"
    rm -rf .npm-sdks
    mkdir -p .npm-sdks
    cp "$sdk_manifest" .npm-sdks/package.json
    npm install --prefix .npm-sdks --no-audit --no-fund --no-package-lock --ignore-scripts --loglevel=error
fi
export TAILOR_TEST_NODE_MODULES="$PWD/.npm-sdks/node_modules"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "==> installing chromium and chromium-driver (the browser test drives the demo shop)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
if ! command -v promtool >/dev/null 2>&1; then
    echo "==> installing prometheus (promtool checks a live /metrics scrape and the alert rules)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
fi
if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk (the load test drives ingest and recommendations with it)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
export TAILOR_TEST_PYTHON="$PWD/.venv/bin/python"
if [ -z "${TAILOR_TEST_REDIS_URL:-}" ]; then
    if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; then
        export TAILOR_TEST_REDIS_URL="redis://127.0.0.1:6379"
    else
        if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
            echo "==> installing redis-server (the Redis online-store tests)"
            sudo=""
            if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
            $sudo apt-get update -qq
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
        fi
        redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        echo "==> starting a private redis-server on 127.0.0.1:$redis_port (no Redis answers on 6379)"
        redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes >/dev/null
        on_exit+="redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1 || true;"
        for _ in $(seq 50); do
            if [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = "PONG" ]; then break; fi
            sleep 0.1
        done
        export TAILOR_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
    fi
fi
# A Kafka-protocol broker for the Kafka log tests (builds the patched tansu once).
tansu_needed=1
source scripts/kafka-broker.sh

# A clean run gains nothing from incremental compilation, whose caches take gigabytes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> tests"
# nextest runs every test in its own process: each crate's integration tests share one
# binary (tests/it), and servers started in-process must not share globals.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> installing cargo-nextest (once)"
    cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --locked --no-fail-fast
echo "==> fuzz"
# Replays fuzz/corpus, then AFL++ for a few seconds per target (docs/testing.md "Fuzzing").
scripts/fuzz.sh "${TAILOR_FUZZ_SECONDS:-10}"
