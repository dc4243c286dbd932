#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ through cargo-afl (stable Rust). Builds the targets of
# fuzz/ (its own workspace, Cargo.lock and target dir), replays every input of each target's
# corpus (fuzz/corpus/<target>/: seeds and crash regressions) through the target once, then
# runs afl-fuzz on each target for SECONDS (default 60; 0: build and replay only). Exits
# non-zero if a corpus input or a found input crashes a target, printing the input's path and
# the panic. Crashes land in fuzz/out/<target>/default/crashes/ (cleared by the next run of that
# target); fix the bug, then copy the input to fuzz/corpus/<target>/crash-<what> as a
# regression check.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (all targets by default)
# Environment: FUZZ_OUT (default fuzz/out), FUZZ_TARGET_DIR (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(segment_batch schema log_frame log_segment checkpoint feature_state features_config)
seconds="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); fi
case "$seconds" in
    '' | *[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in
        *" $t "*) ;;
        *) echo "fuzz.sh: unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2 ;;
    esac
done

# cargo-afl builds AFL++ (vendored in the crate) when it is installed; `config --build`
# builds it again for a new Rust toolchain.
afl_version=0.18.2
if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $afl_version"; then
    echo "==> installing cargo-afl $afl_version (builds AFL++; once, into ~/.cargo/bin)"
    cargo install cargo-afl --version "$afl_version" --locked
fi
if ! cargo afl build --help >/dev/null 2>&1; then
    echo "==> building AFL++ for this Rust toolchain (cargo afl config --build)"
    cargo afl config --build
fi

target_dir="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
out="${FUZZ_OUT:-$PWD/fuzz/out}"
echo "==> building the fuzz targets (instrumented, release)"
start=$(date +%s)
(cd fuzz && CARGO_TARGET_DIR="$target_dir" cargo afl build --release --locked --bins)
echo "    built in $(($(date +%s) - start)) s"
bin="$target_dir/release"

failed=0
report() { # target, input: print the input's path and what the target says on it
    echo "!!! $1 crashes on $2" >&2
    local says
    says=$({ RUST_BACKTRACE=0 "$bin/$1" <"$2"; } 2>&1 || true)
    printf '%s\n' "$says" | head -n 20 | sed 's/^/    /' >&2
    failed=1
}

echo "==> replaying the corpus"
for t in "${targets[@]}"; do
    n=0
    for f in fuzz/corpus/"$t"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        if ! timeout 60 "$bin/$t" <"$f" >/dev/null 2>&1; then report "$t" "$f"; fi
    done
    echo "    $t: $n inputs"
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: corpus inputs crash (see above)" >&2
    exit 1
fi
if [ "$seconds" -eq 0 ]; then exit 0; fi

# What afl-fuzz needs on a shared CI box: no CPU-governor or core-dump checks, no core
# binding (other jobs use the cores), no UI.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    AFL_NO_AFFINITY=1 AFL_NO_CRASH_README=1 AFL_FAST_CAL=1 AFL_SUPPRESS_ERROR_SUMMARY=1
mkdir -p "$out"
for t in "${targets[@]}"; do
    echo "==> afl-fuzz $t for $seconds s"
    rm -rf "${out:?}/$t"
    if ! cargo afl fuzz -i "fuzz/corpus/$t" -o "$out/$t" -V "$seconds" -- "$bin/$t" \
        >"$out/$t.log" 2>&1; then
        echo "!!! afl-fuzz failed on $t; the end of $out/$t.log:" >&2
        tail -n 30 "$out/$t.log" >&2
        failed=1
        continue
    fi
    stats="$out/$t/default/fuzzer_stats"
    if [ -f "$stats" ]; then
        awk -F' *: *' '$1 ~ /^(execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg)$/ \
            { printf "    %s=%s", $1, $2 } END { print "" }' "$stats"
    fi
    for f in "$out/$t"/default/crashes/id:*; do
        [ -f "$f" ] || continue
        report "$t" "$f"
    done
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: crashes found (inputs above); fix them, then add each input to fuzz/corpus/<target>/ as crash-<what>" >&2
    exit 1
fi
echo "==> fuzz: no crash"
