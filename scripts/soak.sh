#!/usr/bin/env bash
# Soak test for longer than the test command's 150 s: runs crates/tailor/tests/it/soak.rs
# (a child `tailor serve` under constant load of ever-new users and items, with small
# capacities; resident memory must level off and every state stay within its capacity)
# for --duration seconds, on a release build by default. Prints RSS and state sizes every
# ten seconds and the peaks at the end. TAILOR_SOAK_ENV=TAILOR__KEY=value,… adds server
# settings.
#
#   scripts/soak.sh                     # 10 minutes, release build
#   scripts/soak.sh --duration 3600     # an hour
#   scripts/soak.sh --debug --duration 300
set -euo pipefail
cd "$(dirname "$0")/.."

duration=600
profile=(--release)
while [ $# -gt 0 ]; do
    case "$1" in
        --duration)
            duration="${2:?--duration needs seconds}"
            shift 2
            ;;
        --debug)
            profile=()
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "scripts/soak.sh: unknown argument $1 (see --help)" >&2
            exit 2
            ;;
    esac
done
case "$duration" in
    '' | *[!0-9]*)
        echo "scripts/soak.sh: --duration must be whole seconds, got $duration" >&2
        exit 2
        ;;
esac
if [ "$duration" -lt 30 ]; then
    echo "scripts/soak.sh: --duration must be at least 30" >&2
    exit 2
fi
TAILOR_SOAK_SECS="$duration" exec cargo test "${profile[@]}" -p tailor --test it -- soak:: --nocapture
