# Shared by the scripts that record test captures from real programs on loopback
# (tests/protocols/make_*.sh, tests/report/make_captures.sh): a scratch directory,
# background programs stopped on exit, and tcpdump on lo. Sourced, not run:
#
#   . "$here/../lib/capture.sh"   (messages then speak as the sourcing script)
#   capture_init             makes $tmp, $pids and the exit trap that stops tcpdump
#                            and every pid in $pids
#   require_tools TOOL...    exits with a message naming the first one missing
#   wait_port PORT           until something accepts on 127.0.0.1:PORT (10 s at most)
#   start_capture FILE FILTER   tcpdump -i lo into FILE, back once it listens
#   stop_capture FILE        a second for the last ACKs and FINs, then stops tcpdump
#                            and prints how many packets FILE got

capture_name=$(basename "$0")

capture_init() {
    tmp=$(mktemp -d "/tmp/rustniffer-${capture_name%.sh}.XXXXXX")
    chmod 755 "$tmp" # nginx workers run as nobody and read files below it
    pids=()
    tcpdump_pid=
    trap capture_cleanup EXIT
}

capture_cleanup() {
    if [ -n "$tcpdump_pid" ]; then kill -INT "$tcpdump_pid" 2>/dev/null || true; fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    rm -rf "$tmp"
}

require_tools() { # TOOL...
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$capture_name: $tool is missing" >&2; exit 1; }
    done
}

wait_port() { # PORT
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$capture_name: nothing listens on $1" >&2
    exit 1
}

start_capture() { # FILE FILTER
    : >"$tmp/tcpdump.err"
    tcpdump -i lo --immediate-mode -U -s 262144 -Z root -w "$1" "$2" 2>"$tmp/tcpdump.err" &
    tcpdump_pid=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$tmp/tcpdump.err" && break
        sleep 0.1
    done
    grep -q "listening on" "$tmp/tcpdump.err" || { cat "$tmp/tcpdump.err" >&2; exit 1; }
    sleep 0.3
}

stop_capture() { # FILE
    sleep 1 # the last ACKs and FINs
    kill -INT "$tcpdump_pid"
    wait "$tcpdump_pid" || true
    tcpdump_pid=
    sleep 0.2
    echo "$capture_name: $(basename "$1"): $(grep 'packets captured' "$tmp/tcpdump.err")"
}
