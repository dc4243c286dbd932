# Sourced by scripts/test.sh: a Kafka-protocol broker (tansu, Apache-2.0) on a free loopback
# port for the Kafka backend tests, with its data in memory. Installs tansu once (about 10
# minutes of compiling), starts it, waits until it answers, exports TAILOR_TEST_KAFKA and
# adds its stop to the caller's $on_exit. A TAILOR_TEST_KAFKA already set is used as is.
if [ -z "${TAILOR_TEST_KAFKA:-}" ]; then
    if ! command -v tansu >/dev/null 2>&1; then
        echo "==> installing tansu (a Kafka-protocol broker for the Kafka backend tests; once, about 10 minutes)"
        cargo install --locked tansu --version 0.6.0 --features dynostore
    fi
    kafka_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    kafka_log="${TMPDIR:-/tmp}/tailor-test-tansu-$$.log"
    tansu broker --storage-engine memory://tansu/ \
        --listener-url "tcp://127.0.0.1:${kafka_port}" \
        --advertised-listener-url "tcp://127.0.0.1:${kafka_port}" >"$kafka_log" 2>&1 &
    kafka_pid=$!
    on_exit+="kill $kafka_pid 2>/dev/null || true;"
    for _ in $(seq 1 100); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', ${kafka_port}), 0.2)" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$kafka_pid" 2>/dev/null; then
            echo "tansu exited at start; its log ($kafka_log):" >&2
            cat "$kafka_log" >&2
            exit 1
        fi
        sleep 0.1
    done
    export TAILOR_TEST_KAFKA="127.0.0.1:${kafka_port}"
    echo "==> Kafka-protocol broker (tansu) on ${TAILOR_TEST_KAFKA}, log in ${kafka_log}"
fi
