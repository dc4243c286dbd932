# Sourced by scripts/test.sh: a Kafka-protocol broker (tansu, Apache-2.0) on a free loopback
# port for the Kafka backend tests, with its data in memory. Builds tansu 0.6.0 once (about
# 15 minutes of compiling) with scripts/tansu-group-expiry.patch applied to its group
# coordinator (0.6.0 keeps a consumer-group member that died without leaving, and its
# partitions, in the group for good; the patch expires it as Kafka does, so the SIGKILL
# test of two processors can run), starts it, waits until it answers, exports
# TAILOR_TEST_KAFKA and TAILOR_TEST_TANSU (the binary) and adds its stop to the caller's
# $on_exit. A TAILOR_TEST_KAFKA already set is used as is (tansu is then built only when the
# caller sets tansu_needed=1: the test command does, for the tests that start brokers of
# their own).
tansu_root="${TAILOR_TANSU_ROOT:-$HOME/.cache/tailor/tansu-0.6.0-group-expiry}"
export TAILOR_TEST_TANSU="${TAILOR_TEST_TANSU:-$tansu_root/bin/tansu}"
if [ ! -x "$TAILOR_TEST_TANSU" ] && { [ -z "${TAILOR_TEST_KAFKA:-}" ] || [ "${tansu_needed:-}" = 1 ]; }; then
    echo "==> building tansu 0.6.0 with scripts/tansu-group-expiry.patch (a Kafka-protocol broker for the Kafka backend tests; once, about 15 minutes)"
    tansu_src=$(mktemp -d)
    # The sources come through cargo itself: a scratch package depending on both crates,
    # fetched, then copied out of cargo's registry cache.
    mkdir -p "$tansu_src/fetch/src"
    printf '[package]\nname = "tansu-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[dependencies]\ntansu = "=0.6.0"\ntansu-broker = "=0.6.0"\n' > "$tansu_src/fetch/Cargo.toml"
    echo 'fn main() {}' > "$tansu_src/fetch/src/main.rs"
    cargo fetch --quiet --manifest-path "$tansu_src/fetch/Cargo.toml"
    for crate in tansu tansu-broker; do
        cp -r "$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-0.6.0" | head -n 1)" "$tansu_src/"
    done
    patch -s -p1 -d "$tansu_src/tansu-broker-0.6.0" < scripts/tansu-group-expiry.patch
    printf '\n[patch.crates-io]\ntansu-broker = { path = "../tansu-broker-0.6.0" }\n' >> "$tansu_src/tansu-0.6.0/Cargo.toml"
    # The crate's own Cargo.lock pins every dependency; resolving once records the patched
    # path for tansu-broker and changes nothing else.
    cargo metadata --format-version 1 --manifest-path "$tansu_src/tansu-0.6.0/Cargo.toml" >/dev/null
    CARGO_TARGET_DIR="${TAILOR_TANSU_TARGET:-$tansu_src/target}" \
        cargo install --locked --path "$tansu_src/tansu-0.6.0" --features dynostore --root "$tansu_root"
    rm -rf "$tansu_src"
fi
if [ -z "${TAILOR_TEST_KAFKA:-}" ]; then
    kafka_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    kafka_log="${TMPDIR:-/tmp}/tailor-test-tansu-$$.log"
    "$TAILOR_TEST_TANSU" broker --storage-engine memory://tansu/ \
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
