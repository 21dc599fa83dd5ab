#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each (default 30), one after the
# other, growing fuzz/corpus/TARGET. Stops at the first crash; the input is saved under
# fuzz/artifacts/TARGET/ (reproduce: cargo fuzz run TARGET FILE).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# With FUZZ_NEW_INPUTS=DIR, new inputs go to DIR/TARGET and the committed corpus is
# only read (what the test suite's smoke run does).
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer=address...): RUSTC_BOOTSTRAP=1 lets
# the installed stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")"
each=${1:-30}
shift || true
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O >/dev/null

new_inputs=${FUZZ_NEW_INPUTS:-corpus}
for t in "${targets[@]}"; do
    mkdir -p "$new_inputs/$t" "corpus/$t"
    dirs=("$new_inputs/$t")
    [ "$new_inputs" = corpus ] || dirs+=("corpus/$t")
    [ -d "seeds/$t" ] && dirs+=("seeds/$t")
    # The capture target starts from the conformance captures themselves.
    if [ "$t" = capture ] && [ -d ../../shared/conformance/pcaps ]; then
        dirs+=(../../shared/conformance/pcaps)
    fi
    echo "fuzz/run.sh: $t for ${each}s"
    log=$(mktemp)
    status=0
    cargo fuzz run -O "$t" "${dirs[@]}" -- \
        -max_total_time="$each" -timeout=10 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 ||
        status=$?
    grep -E "^(INFO: seed corpus|Done |stat::(number_of_executed_units|peak_rss_mb))" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        rm -f "$log"
        echo "fuzz/run.sh: $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
        exit "$status"
    fi
    rm -f "$log"
done
