#!/usr/bin/env bash
# Load test with an external load generator: two wrk processes at the same time for a bounded
# duration, one POSTing Segment batches to /v1/batch (scripts/load/ingest.lua: ever-new
# messageIds, many users and products, e-commerce events) and one GETting
# /v1/recommendations for many users (scripts/load/recommend.lua). Each prints one JSON line
# (throughput, p50/p90/p99/max latency, non-2xx, socket errors, error rate); a table follows.
# Then it waits until the server has processed everything and checks that its events log
# grew by exactly the events wrk's ingest side got acknowledged.
#
# Starts `tailor serve` on a free 127.0.0.1 port over a temporary data directory (the
# binary: --bin, else target/release/tailor, built if missing), or targets a running server
# with --url (loopback only). Installs Debian's wrk if it is missing (as root or with sudo;
# --no-install to fail instead). Stops what it started on exit.
#
# Exits non-zero if a scenario's error rate is over --max-error-rate (default 0.01), or if
# the log of a server it started does not hold exactly the acknowledged events.
#
#   scripts/load.sh                                  # 20 s against a fresh release server
#   scripts/load.sh --duration 300 --ingest-connections 16
#   scripts/load.sh --url http://127.0.0.1:8080 --write-key KEY --read-key KEY
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    echo
    cat <<'EOF'
Options:
  --url URL                  target a running server (http://127.0.0.1:PORT or localhost)
  --bin PATH                 tailor binary to start (default target/release/tailor)
  --duration SECS            how long both scenarios send (default 20)
  --grace SECS               at most this long for the ingest side's last answers (default 10)
  --ingest-connections N     ingest connections, one wrk thread each (default 8)
  --recs-connections N       recommendation connections (default 8, over 2 wrk threads)
  --batch N                  events per batch (default 50)
  --users N --items N        ids the events and requests draw from (default 10000, 5000)
  --k N                      recommendations per request (default 10)
  --timeout SECS             wrk's request timeout: slower answers count as errors (default 2)
  --max-error-rate R         fail above this share of errors in a scenario (default 0.01)
  --write-key KEY            basic-auth user for /v1/batch when the server has keys
  --read-key KEY             bearer key for /v1/recommendations when the server has keys
  --no-install               fail if wrk is missing instead of installing it
EOF
}

url="" bin="" duration=20 grace=10 ingest_conns=8 recs_conns=8 batch=50 users=10000 items=5000
k=10 timeout=2 max_error_rate=0.01 write_key="" read_key="" install=1
while [ $# -gt 0 ]; do
    case "$1" in
        --url) url="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --duration) duration="${2%s}"; shift 2 ;;
        --grace) grace="${2%s}"; shift 2 ;;
        --ingest-connections) ingest_conns="$2"; shift 2 ;;
        --recs-connections) recs_conns="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --users) users="$2"; shift 2 ;;
        --items) items="$2"; shift 2 ;;
        --k) k="$2"; shift 2 ;;
        --timeout) timeout="${2%s}"; shift 2 ;;
        --max-error-rate) max_error_rate="$2"; shift 2 ;;
        --write-key) write_key="$2"; shift 2 ;;
        --read-key) read_key="$2"; shift 2 ;;
        --no-install) install=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in duration grace ingest_conns recs_conns batch users items k timeout; do
    if ! [[ "${!v}" =~ ^[1-9][0-9]*$ ]]; then
        echo "load.sh: ${v//_/-} must be a positive whole number, not '${!v}'" >&2
        exit 2
    fi
done

url="${url%/}"
if [ -n "$url" ] && ! [[ "$url" =~ ^http://(127\.0\.0\.1|localhost):[0-9]+$ ]]; then
    echo "load.sh: --url must be http://127.0.0.1:PORT or http://localhost:PORT (loopback only), not $url" >&2
    exit 2
fi

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$install" -eq 0 ]; then
        echo "load.sh: wrk is not installed (apt-get install wrk, or scripts/test.sh installs it)" >&2
        exit 1
    fi
    echo "==> installing wrk (the HTTP load generator)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tailor-load.XXXXXX")
pids=()
server_pid=""
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$server_pid" ]; then
        if [ "$rc" -ne 0 ] && [ -s "$work/serve.log" ]; then
            echo "--- the end of tailor serve's log:" >&2
            tail -n 20 "$work/serve.log" >&2
        fi
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$url" ]; then
    if [ -z "$bin" ]; then
        bin=target/release/tailor
        if [ ! -x "$bin" ]; then
            echo "==> cargo build --release -p tailor (the first release build takes a while)"
            cargo build --release -p tailor
        fi
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    url="http://127.0.0.1:$port"
    echo "==> starting $bin serve on $url (data in $work/data, log in $work/serve.log)"
    TAILOR_LOG="${TAILOR_LOG:-warn}" "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
        >"$work/serve.log" 2>&1 &
    server_pid=$!
fi
ready_by=$((SECONDS + 30))
while [ "$SECONDS" -lt "$ready_by" ]; do
    if curl -sf "$url/ready" >/dev/null 2>&1; then break; fi
    if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
        echo "load.sh: tailor serve exited at start; its log:" >&2
        cat "$work/serve.log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -sf "$url/ready" >/dev/null || { echo "load.sh: $url is not ready after 30 s" >&2; exit 1; }

# Events in the log (all partitions) and dead letters, from /v1/status.
log_counts() {
    curl -sf "$url/v1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sum(s["log"]["events_end_offsets"]), s["log"]["dead_letter_end_offset"], s["live"]["lag"])'
}
read -r events_before dead_before _ < <(log_counts)

ingest_headers=() recs_headers=()
if [ -n "$write_key" ]; then
    ingest_headers=(-H "Authorization: Basic $(printf '%s:' "$write_key" | base64 -w0)")
fi
if [ -n "$read_key" ]; then
    recs_headers=(-H "Authorization: Bearer $read_key")
fi
run="load-$(date +%s)-$$"
echo "==> ${duration}s of load on $url: ingest $ingest_conns connections × $batch events per batch, recommendations $recs_conns connections (k=$k)"
# One connection per ingest thread: each waits for its last batch's answer before it stops
# and notes that in ingest.stopped (ingest.lua); wrk itself runs until -d, so it is ended
# (SIGINT: it prints its summary) once every thread has stopped.
: >"$work/ingest.stopped"
wrk -t "$ingest_conns" -c "$ingest_conns" -d "$((duration + grace))s" --timeout "${timeout}s" \
    "${ingest_headers[@]}" -s scripts/load/ingest.lua "$url" -- \
    "duration=$duration" "batch=$batch" "users=$users" "items=$items" "run=$run" \
    "stopfile=$work/ingest.stopped" >"$work/ingest.out" 2>&1 &
ingest_pid=$!
pids+=($ingest_pid)
recs_threads=$((recs_conns < 2 ? recs_conns : 2))
wrk -t "$recs_threads" -c "$recs_conns" -d "${duration}s" --timeout "${timeout}s" \
    "${recs_headers[@]}" -s scripts/load/recommend.lua "$url" -- "users=$users" "k=$k" \
    >"$work/recs.out" 2>&1 &
pids+=($!)
while kill -0 "$ingest_pid" 2>/dev/null; do
    if [ "$(wc -l <"$work/ingest.stopped")" -ge "$ingest_conns" ]; then
        kill -INT "$ingest_pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
pids=()
for f in ingest recs; do
    echo "--- wrk, $f:"
    grep -v '^{"scenario"' "$work/$f.out" | sed 's/^/    /'
done
if [ "$status" -ne 0 ]; then
    echo "load.sh: wrk failed (exit $status)" >&2
    exit 1
fi
grep -h '^{"scenario"' "$work/ingest.out" "$work/recs.out" | tee "$work/results.jsonl"
if [ "$(wc -l <"$work/results.jsonl")" -ne 2 ]; then
    echo "load.sh: a wrk script printed no summary (see its output above)" >&2
    exit 1
fi

# Everything acknowledged must be in the log once the server has caught up.
acked=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["events_acked"])' "$work/results.jsonl")
stored=0 dead=0 caught_up_by=$((SECONDS + 60))
while [ "$SECONDS" -lt "$caught_up_by" ]; do
    read -r events_now dead_now lag < <(log_counts)
    stored=$((events_now - events_before)) dead=$((dead_now - dead_before))
    if [ "$lag" -eq 0 ] && [ "$stored" -ge "$acked" ]; then break; fi
    sleep 0.1
done

python3 - "$work/results.jsonl" "$max_error_rate" "$stored" "$dead" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
limit = float(sys.argv[2])
print()
print(f"{'scenario':<10} {'req/s':>9} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'requests':>9} {'errors':>7} {'error rate':>10}")
for r in rows:
    events = f"{r['events_per_s']:,.0f}" if "events_per_s" in r else "-"
    print(f"{r['scenario']:<10} {r['requests_per_s']:>9,.0f} {events:>10} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
          f"{r['max_ms']:>8.1f} {r['requests']:>9,} {r['errors']:>7,} {r['error_rate']:>10.4%}")
ingest = rows[0]
print(f"\ningest: {ingest['events_acked']:,} events acknowledged of {ingest['events_sent']:,} sent "
      f"({ingest['duplicates']} duplicates, {ingest['rejected']} rejected, {ingest['unanswered']} batches unanswered); "
      f"the log grew by {int(sys.argv[3]):,} events and {int(sys.argv[4]):,} dead letters")
bad = [r["scenario"] for r in rows if r["error_rate"] > limit]
if bad:
    print(f"load.sh: error rate over {limit:.2%} in {', '.join(bad)}", file=sys.stderr)
    sys.exit(1)
EOF
if [ "$stored" -ne "$acked" ]; then
    if [ -n "$server_pid" ]; then
        echo "load.sh: the log grew by $stored events but wrk got $acked acknowledged" >&2
        exit 1
    fi
    echo "note: the log grew by $stored events, wrk got $acked acknowledged (other clients of $url?)"
fi
