#!/usr/bin/env bash
# The example topology of deploy/README.md on one machine, on loopback: a Kafka-protocol
# broker (tansu, in memory; built once with cargo by scripts/kafka-broker.sh, or
# TAILOR_KAFKA=host:port for your own), Redis (the one on 127.0.0.1:6379, else a private redis-server), and three Tailor
# processes sharing one data directory:
#
#   collector                  http://127.0.0.1:${BASE_PORT}     POST /v1/batch …
#   api                        http://127.0.0.1:${BASE_PORT+1}   GET /v1/recommendations …
#   processor,lake,trainer     http://127.0.0.1:${BASE_PORT+2}   /metrics, /v1/status
#
# Usage: deploy/local-cluster.sh [--smoke] [--base-port 8180] [--data-dir DIR]
#   --smoke  send a few events, check they come out of the API, stop (exit status tells)
# TAILOR_BIN names the binary (default: a release build, built here if missing);
# TAILOR_KAFKA=host:port and TAILOR_REDIS=redis://host:port use servers you run.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
base_port=8180
data_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --base-port) base_port="$2"; shift ;;
        --data-dir) data_dir="$2"; shift ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

on_exit=""
trap 'eval "$on_exit"' EXIT

bin="${TAILOR_BIN:-target/release/tailor}"
if [ ! -x "$bin" ]; then
    echo "==> building $bin"
    cargo build --release -p tailor
fi
if [ -z "$data_dir" ]; then
    data_dir=$(mktemp -d "${TMPDIR:-/tmp}/tailor-cluster.XXXXXX")
    on_exit+="rm -rf '$data_dir';"
fi

# The broker: scripts/kafka-broker.sh starts tansu unless TAILOR_TEST_KAFKA is set.
if [ -n "${TAILOR_KAFKA:-}" ]; then export TAILOR_TEST_KAFKA="$TAILOR_KAFKA"; fi
source scripts/kafka-broker.sh
kafka="$TAILOR_TEST_KAFKA"

if [ -n "${TAILOR_REDIS:-}" ]; then
    redis="${TAILOR_REDIS%/}"
elif [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; then
    redis="redis://127.0.0.1:6379"
else
    redis_port=$((base_port + 9))
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes >/dev/null
    on_exit+="redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1 || true;"
    redis="redis://127.0.0.1:$redis_port"
fi
run_id="$(date +%s)-$$"

config="$data_dir/tailor.toml"
cat >"$config" <<TOML
data_dir = "$data_dir"
online = "$redis/0?prefix=cluster-$run_id:&ttl_secs=3600"

[log]
url = "kafka://$kafka/cluster-$run_id"
partitions = 4

[log.kafka]
replication_factor = 1
# tansu 0.6 miscounts the end offset of multi-record batches (ADR 0012); real Kafka does not.
properties = { "batch.num.messages" = "1" }

[lake]
roll_secs = 2
TOML

pids=()
start() {
    local roles="$1" port="$2"
    "$bin" serve --roles "$roles" --listen "127.0.0.1:$port" --config "$config" >"$data_dir/$roles.out" 2>"$data_dir/$roles.log" &
    pids+=($!)
    on_exit="kill ${pids[-1]} 2>/dev/null || true; wait ${pids[-1]} 2>/dev/null || true;$on_exit"
}
start "processor,lake,trainer" $((base_port + 2))
start collector "$base_port"
start api $((base_port + 1))
for port in "$base_port" $((base_port + 1)) $((base_port + 2)); do
    for _ in $(seq 1 300); do
        if curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$port/ready" >/dev/null || {
        echo "the process on port $port did not get ready; logs in $data_dir/*.log" >&2
        tail -n 20 "$data_dir"/*.log >&2
        exit 1
    }
done
collector="http://127.0.0.1:$base_port"
api="http://127.0.0.1:$((base_port + 1))"
processor="http://127.0.0.1:$((base_port + 2))"
echo "==> collector $collector · api $api · processor,lake,trainer $processor"
echo "    broker $kafka · redis $redis · data $data_dir"

if [ "$smoke" = 1 ]; then
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    batch='{"batch":['
    for i in $(seq 0 19); do
        [ "$i" -gt 0 ] && batch+=','
        batch+="{\"type\":\"track\",\"event\":\"Product Viewed\",\"userId\":\"u$((i % 4))\",\"messageId\":\"smoke-$i\",\"timestamp\":\"$now\",\"properties\":{\"product_id\":\"p$((i % 5))\"}}"
    done
    batch+=']}'
    curl -fsS -H 'content-type: application/json' -d "$batch" "$collector/v1/batch"
    echo
    for _ in $(seq 1 300); do
        views=$(curl -fsS "$api/v1/features/item/p0" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["values"]["item_views_7d"])' 2>/dev/null || true)
        if [ "$views" = "4" ]; then break; fi
        sleep 0.1
    done
    if [ "$views" != "4" ]; then
        echo "smoke: item p0 has ${views:-no} views at the api, expected 4" >&2
        tail -n 20 "$data_dir"/*.log >&2
        exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' "$api/v1/batch" -d '{}')
    [ "$code" = 421 ] || { echo "smoke: the api answered $code to /v1/batch, expected 421" >&2; exit 1; }
    curl -fsS "$api/v1/recommendations?user_id=u1&k=3"
    echo
    echo "smoke: ok"
    exit 0
fi

echo "    try: curl -d '{\"batch\":[…]}' $collector/v1/batch ; curl '$api/v1/recommendations?user_id=u1'"
echo "    Ctrl-C stops everything."
wait -n "${pids[@]}" || true
echo "a process exited; logs in $data_dir/*.log" >&2
