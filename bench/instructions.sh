#!/usr/bin/env bash
# Instruction counts (valgrind's callgrind: repeatable on a noisy machine, unlike wall
# time) of rustniffer and of `tcpdump -r FILE -w /dev/null` on the benchmark captures.
# Run bench/run.sh once first: it builds and writes the captures.
#
#   bench/instructions.sh [BINARY]      default: target/release/rustniffer
#
# rustniffer runs with the article format (the default format for `bulk`, as in the
# targets); with JSON=1 it also counts `--json` and `--json -l ARTICLE` and prints their
# ratios to the article format. SCENARIOS="keepalive churn" limits the captures; the
# default list has `h2` and `h2-serial` when their captures exist (bench/h2_capture.sh).
# Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/rustniffer-bench}
BINARY=${1:-target/release/rustniffer}
ARTICLE='%request.timestamp %dest.ip %dest.port c=%connection.time i=%idle.time.0 req=%request.time resp=%response.time i2=%idle.time.1 s=%session.time %connection %close.originator req_h=%request.header.connection resp_h=%response.header.connection'

if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench/instructions.sh: valgrind is needed (apt-get install valgrind)" >&2
    exit 1
fi

count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        sed -n 's/.*I *refs: *//p' | tr -d ,
}

echo "| scenario | tcpdump -r -w instructions | rustniffer instructions | ratio |"
echo "|---|---:|---:|---:|"
json_rows=()
default_scenarios="concurrent keepalive churn bulk"
for s in h2 h2-serial; do
    [ -f "$DIR/$s.pcap" ] && default_scenarios="$default_scenarios $s"
done
for s in ${SCENARIOS:-$default_scenarios}; do
    file=$DIR/$s.pcap
    [ -f "$file" ] || { echo "bench/instructions.sh: $file missing (run bench/run.sh)" >&2; exit 1; }
    floor=$(count tcpdump -r "$file" -w /dev/null)
    if [ "$s" = bulk ]; then
        ours=$(count "$BINARY" -f "$file")
    else
        ours=$(count "$BINARY" -f "$file" -l "$ARTICLE")
    fi
    awk -v s="$s" -v f="$floor" -v o="$ours" 'BEGIN { printf "| %s | %.0f | %.0f | %.2f |\n", s, f, o, o / f }'
    if [ "${JSON:-0}" = 1 ]; then
        article=$(count "$BINARY" -f "$file" -l "$ARTICLE")
        json=$(count "$BINARY" -f "$file" --json)
        json_article=$(count "$BINARY" -f "$file" --json -l "$ARTICLE")
        json_rows+=("$(awk -v s="$s" -v a="$article" -v j="$json" -v k="$json_article" 'BEGIN { printf "| %s | %.0f | %.0f (%.2f) | %.0f (%.2f) |", s, a, j, j / a, k, k / a }')")
    fi
done
if [ ${#json_rows[@]} -gt 0 ]; then
    echo
    echo "| scenario | -l ARTICLE instructions | --json (÷ ARTICLE) | --json -l ARTICLE (÷ ARTICLE) |"
    echo "|---|---:|---:|---:|"
    printf '%s\n' "${json_rows[@]}"
fi
