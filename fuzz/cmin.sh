#!/usr/bin/env bash
# Minimises each target's corpus (or those named) in place: keeps the smallest set of
# inputs of fuzz/corpus/TARGET and fuzz/seeds/TARGET that covers everything they cover
# together (libFuzzer -merge=1). The conformance captures, which run.sh also reads for the
# capture target, are left out: the corpus must not hold copies of them.
#
#   fuzz/cmin.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O >/dev/null
bin_dir=target/$(rustc -vV | sed -n 's/^host: //p')/release
for t in "${targets[@]}"; do
    sources=("corpus/$t")
    [ -d "seeds/$t" ] && sources+=("seeds/$t")
    merged=$(mktemp -d)
    "$bin_dir/$t" -merge=1 -timeout=10 "$merged" "${sources[@]}" 2>&1 | grep -E "^MERGE-OUTER: [0-9]+ new files" || true
    rm -rf "corpus/$t"
    mkdir -p "corpus/$t"
    cp "$merged"/* "corpus/$t/" 2>/dev/null || true
    rm -rf "$merged"
    echo "fuzz/cmin.sh: $t: $(ls "corpus/$t" | wc -l) inputs, $(du -sh "corpus/$t" | cut -f1)"
done
