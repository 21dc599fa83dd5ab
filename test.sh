#!/usr/bin/env bash
# The whole test suite, with its own set-up: formatting, lints, unit and integration
# tests (the conformance corpus in ../shared/conformance included), for the default
# build and again with the `python` feature.
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

# Set-up for the `python` feature: PyO3 embeds libpython, so it needs a Python 3 with its
# headers and shared library: $PYO3_PYTHON when set, else the system Python (its library
# is on the loader path and its standard library is readable by every user, which
# `-U nobody` with Python needs), else `python3` from PATH (pyenv).
python_for_pyo3() {
    local candidate
    for candidate in "${PYO3_PYTHON:-}" /usr/bin/python3 "$(command -v python3 || true)"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        if "$candidate" - 2>/dev/null <<'PY'
import os, sys, sysconfig
v = sysconfig.get_config_var
ok = (sys.version_info >= (3, 8)
      and v("Py_ENABLE_SHARED")
      and os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
      and os.path.exists(os.path.join(v("LIBDIR") or "", v("LDLIBRARY") or "-")))
sys.exit(0 if ok else 1)
PY
        then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}
if ! PYO3_PYTHON=$(python_for_pyo3); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing python3-dev (headers and libpython for the python feature)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev >/dev/null
    fi
    if ! PYO3_PYTHON=$(python_for_pyo3); then
        echo "test.sh: no Python 3 with headers and a shared libpython: the python feature cannot be built (install python3-dev)" >&2
        exit 1
    fi
fi
export PYO3_PYTHON
echo "test.sh: the python feature builds against $PYO3_PYTHON ($("$PYO3_PYTHON" --version 2>&1))"

if [ ! -f ../shared/conformance/cases.tsv ] && [ -z "${RUSTNIFFER_CONFORMANCE:-}" ]; then
    echo "test.sh: the conformance corpus is expected at ../shared/conformance" >&2
    exit 1
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --all-targets --quiet --features python -- -D warnings
cargo test --release
cargo test --release --features python

# Fuzz smoke run: every target for 30 s from the committed corpus (new inputs go to
# a scratch directory). fuzz/run.sh installs cargo-fuzz when it is missing.
fuzz_scratch=$(mktemp -d)
trap 'rm -rf "$fuzz_scratch"' EXIT
FUZZ_NEW_INPUTS="$fuzz_scratch" bash fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-30}"
