#!/usr/bin/env bash
# The whole test suite, with its own set-up: formatting, lints, unit and integration
# tests (the conformance corpus in ../shared/conformance included), for the default
# build and again with the `python` and `otlp` features. It installs (as root, with apt-get) what
# the tests need: tcpdump, tshark and chromium (the HTML report test), and with pip the
# Python packages jsonschema, opentelemetry-proto and protobuf.
set -uo pipefail
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

# Set-up: GNU time measures the binary's own peak memory in tests/bounds.rs.
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing time (peak memory of the bounds tests)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi

# Set-up: tshark is the oracle of the protocol test (tests/protocols.rs, which runs
# tests/protocols/compare.py on the captures of tests/protocols/pcaps).
if ! command -v tshark >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing tshark (oracle for the protocol tests)"
        apt-get update -qq >/dev/null
        # wireshark-common asks whether non-root users may capture: no, without asking
        if command -v debconf-set-selections >/dev/null 2>&1; then
            echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null
    else
        echo "test.sh: tshark is missing and cannot be installed here; the protocol oracle test will fail" >&2
    fi
fi
export RUSTNIFFER_REQUIRE_TSHARK=1

# Set-up: the `jsonschema` package validates every `--json` record of the tests against
# schema/record.schema.json (tests/json.rs runs tests/json/validate.py with python3).
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
    echo "test.sh: installing the jsonschema Python package (validator of the --json output)"
    python3 -m pip install -q jsonschema >/dev/null 2>&1 \
        || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
             && apt-get update -qq >/dev/null \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jsonschema >/dev/null; } \
        || echo "test.sh: jsonschema cannot be installed here; the JSON schema test will fail" >&2
fi
export RUSTNIFFER_REQUIRE_JSONSCHEMA=1

# Set-up: the OTLP receiver of tests/otlp.rs (tests/otlp/receiver.py) decodes what
# `--otlp-endpoint` sends with the official `opentelemetry-proto` package and `protobuf`
# (PyPI).
if ! python3 -c 'import opentelemetry.proto, google.protobuf' >/dev/null 2>&1; then
    echo "test.sh: installing the opentelemetry-proto and protobuf Python packages (the OTLP receiver)"
    python3 -m pip install -q opentelemetry-proto protobuf >/dev/null 2>&1 \
        || echo "test.sh: opentelemetry-proto cannot be installed here; the OTLP test will fail" >&2
fi
export RUSTNIFFER_REQUIRE_OTLP_PROTO=1

# Set-up: a real Prometheus (and its promtool) scrapes live capture in tests/metrics.rs.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing prometheus (the scraper of the metrics test)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "test.sh: prometheus is missing and cannot be installed here; the metrics test will fail" >&2
    fi
fi
export RUSTNIFFER_REQUIRE_PROMETHEUS=1

# Set-up: headless chromium renders the HTML diagnosis report (tests/report.rs: the
# screenshot must not be blank, the page must log nothing on the console).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing chromium (renders the HTML report)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test.sh: chromium is missing and cannot be installed here; the HTML report test will fail" >&2
    fi
fi
export RUSTNIFFER_REQUIRE_CHROMIUM=1

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

# The steps. Each runs to its end even when an earlier one failed, so that the closing
# line counts everything: "N passed, N failed" over every test of every test binary,
# plus one for each check (formatting, each lint run, each fuzz target). The exit
# status is 0 only when nothing failed.
#
# Builds: the tests use the `ci` profile (Cargo.toml: optimised, no fat LTO, parallel
# code generation), built once for the default features and once more for each of the
# `python` and `otlp` features, only for the test binaries that the feature changes;
# `target/release` is left alone, so `target/release/rustniffer` stays whatever `cargo
# build --release` made (the default build, without libpython or OTLP export).
passed=0
failed=0
failed_steps=()
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# A check: one pass or one failure.
check() {
    local name=$1
    shift
    echo "test.sh: $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_steps+=("$name")
    fi
}

# cargo test: adds up the "test result:" lines of every test binary it ran; a binary
# that died before its result line, or a build failure, counts as one failure.
cargo_tests() {
    local name=$1
    shift
    local log="$log_dir/test.log"
    echo "test.sh: $name"
    local status=0
    cargo test --profile ci --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
    local sums
    sums=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$log" |
        awk '{p += $1; f += $2} END {print p + 0, f + 0}')
    local p=${sums% *} f=${sums#* }
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        failed=$((failed + 1))
    fi
    if [ "$status" -ne 0 ]; then
        failed_steps+=("$name")
    fi
}

check "formatting (cargo fmt --check)" cargo fmt --check
check "lints, default features" cargo clippy --all-targets --quiet -- -D warnings
check "lints, feature python" cargo clippy --all-targets --quiet --features python -- -D warnings
check "lints, feature otlp" cargo clippy --all-targets --quiet --features otlp -- -D warnings
cargo_tests "tests, default features"
cargo_tests "tests, feature python (the library, the binary and the tests it changes)" \
    --features python --lib --bins --test extensions --test conformance
cargo_tests "tests, feature otlp (the library, the binary and the OTLP test)" \
    --features otlp --lib --bins --test otlp

# Fuzz smoke run: every target for 30 s from the committed corpus (new inputs go to a
# scratch directory). fuzz/run.sh installs cargo-fuzz when it is missing, builds every
# target once, and stops at the first crash.
fuzz_scratch="$log_dir/fuzz"
mkdir -p "$fuzz_scratch"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-fuzz (the fuzz smoke run)"
    cargo install --locked --quiet cargo-fuzz
fi
fuzz_targets=$(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list)
check "fuzz targets build" bash -c 'cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O >/dev/null'
for target in $fuzz_targets; do
    check "fuzz smoke run: $target" env FUZZ_NEW_INPUTS="$fuzz_scratch" \
        bash fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-30}" "$target"
done

if [ ${#failed_steps[@]} -gt 0 ]; then
    printf 'test.sh: failed: %s\n' "${failed_steps[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
