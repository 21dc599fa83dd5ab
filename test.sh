#!/usr/bin/env bash
# The whole test suite, with its own set-up: formatting, lints, unit and integration
# tests (the conformance corpus in ../shared/conformance included).
set -euo pipefail
cd "$(dirname "$0")"

# Set-up: tcpdump is the reference for the packet-filter differential test.
if ! command -v tcpdump >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing tcpdump (reference for the filter tests)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump >/dev/null
    else
        echo "test.sh: tcpdump is missing and cannot be installed here; the filter differential test will fail" >&2
    fi
fi
export RUSTNIFFER_REQUIRE_TCPDUMP=1

if [ ! -f ../shared/conformance/cases.tsv ] && [ -z "${RUSTNIFFER_CONFORMANCE:-}" ]; then
    echo "test.sh: the conformance corpus is expected at ../shared/conformance" >&2
    exit 1
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --release

# Fuzz smoke run: every target for 30 s from the committed corpus (new inputs go to
# a scratch directory). fuzz/run.sh installs cargo-fuzz when it is missing.
fuzz_scratch=$(mktemp -d)
trap 'rm -rf "$fuzz_scratch"' EXIT
FUZZ_NEW_INPUTS="$fuzz_scratch" bash fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-30}"
