#!/usr/bin/env bash
# Benchmark harness (not part of the test suite; nothing here is asserted on time).
#
#   bench/run.sh [SCENARIO...]        scenarios: concurrent keepalive churn bulk h2 h2-serial
#
# Builds release, writes the deterministic captures into $BENCH_DIR (default
# ${TMPDIR:-/tmp}/rustniffer-bench; regenerated only when the generator changed),
# checks the records once, then runs rustniffer (default format, article format, -r, and
# the article format with --exchanges messages, --connections, --report and both
# --connections --report, and --threads 2) and `tcpdump -r FILE -w /dev/null` alternately $RUNS times
# (default 5) and prints a table of medians: wall time, MB/s, packets/s, exchanges/s,
# peak RSS, CPU time and the ratio to tcpdump measured in the same run; then each
# variant against the article format. COMMANDS=connections-report,... runs only those
# beside tcpdump and the article format (names in bench/measure.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/rustniffer-bench}

if ! command -v tcpdump >/dev/null 2>&1; then
    echo "bench/run.sh: tcpdump is needed for the floor measurement" >&2
    exit 1
fi

target=${CARGO_TARGET_DIR:-target}
# Two builds: examples turn on the `testing` feature, the measured binary stays as shipped.
cargo build --release --quiet --bin rustniffer
cargo build --release --quiet --example gen_bench --example bench_measure

# The captures depend only on the generator and the code that writes packets.
stamp=$(cat bench/gen.rs src/decode/build.rs src/capture/file/writer.rs | sha256sum | cut -c1-16)
mkdir -p "$DIR"
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    scenarios=(concurrent keepalive churn bulk)
    # h2 and h2-serial are real traffic recorded once on loopback: only where their
    # programs exist.
    if command -v nghttpd >/dev/null && command -v h2load >/dev/null; then
        scenarios+=(h2 h2-serial)
    fi
fi
for s in "${scenarios[@]}"; do
    if [ "$s" = h2 ] || [ "$s" = h2-serial ]; then
        bash bench/h2_capture.sh "$DIR" "$s"
        continue
    fi
    if [ "$(cat "$DIR/$s.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$DIR/$s.pcap" ]; then
        "$target/release/examples/gen_bench" "$DIR" "$s"
        echo "$stamp" > "$DIR/$s.stamp"
    fi
done

echo "rustniffer $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'), captures in $DIR"
exec "$target/release/examples/bench_measure" --binary "$target/release/rustniffer" --dir "$DIR" --runs "$RUNS" \
    ${COMMANDS:+--commands "$COMMANDS"} "${scenarios[@]}"
