#!/usr/bin/env bash
# Capture benchmark: packets/s captured and kernel drops of `rustniffer -i` and of
# `tcpdump -w /dev/null`, side by side on the same bounded, generated load.
#
# Usage (as root):  bash bench/capture.sh
#
# Settings (environment):
#   WHERE=lo|veth   capture on loopback (default), or on one end of a veth pair whose
#                   other end is in a network namespace created (and deleted) here
#   LOAD=http|bulk|udp
#                   http (default): many keep-alive connections of small request/response
#                   exchanges, one packet per message; bulk: a few connections streaming
#                   small writes, which the stack merges into large segments; udp: small
#                   datagrams as fast as they go (the highest packet rate; rustniffer
#                   captures and decodes them, then skips them as not TCP)
#   RUNS=3          runs per tool, alternating rustniffer and tcpdump
#   BUFFER_MB=32    kernel ring size for both tools (rustniffer --buffer-size, tcpdump -B)
#   CONNS=2000 REQUESTS=50 THREADS=8      the http load: 2000 x 50 exchanges
#   STREAMS=4 WRITES=200000 SIZE=100      the bulk load
#   SENDERS=2 DATAGRAMS=1000000 DGRAM_SIZE=64   the udp load (per sender)
#   PIN=            a CPU list (taskset) for the tool and the load together, to make
#                   them compete for the same CPUs (e.g. PIN=0)
#
# Each tool is stopped with SIGINT a while after the load ended, once its ring has been
# read (tcpdump hands partly filled blocks over after its 1 s timeout). Packets/s is the
# packets captured divided by the duration of the load. CPU is the tool's user+system
# time over the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

WHERE=${WHERE:-lo}
LOAD=${LOAD:-http}
RUNS=${RUNS:-3}
BUFFER_MB=${BUFFER_MB:-32}
CONNS=${CONNS:-2000}
REQUESTS=${REQUESTS:-50}
THREADS=${THREADS:-8}
STREAMS=${STREAMS:-4}
WRITES=${WRITES:-200000}
SIZE=${SIZE:-100}
SENDERS=${SENDERS:-2}
DATAGRAMS=${DATAGRAMS:-1000000}
DGRAM_SIZE=${DGRAM_SIZE:-64}
PIN=${PIN:-}
NETNS=rnbench$$
SETTLE=1.5

if [ "$(id -u)" != 0 ]; then
    echo "capture.sh: run as root (live capture and network namespaces need it)" >&2
    exit 1
fi
command -v tcpdump >/dev/null || { echo "capture.sh: tcpdump is missing" >&2; exit 1; }

# Two builds: examples turn on the `testing` feature, the measured binary stays as shipped.
cargo build --release --quiet --bin rustniffer
cargo build --release --quiet --example loadgen
RUSTNIFFER=$PWD/target/release/rustniffer
LOADGEN=$PWD/target/release/examples/loadgen
TMP=$(mktemp -d)
SERVER_PID=
SINK_PID=

# A command prefix (not a function: `$!` of a background function would be a subshell,
# which does not pass SIGINT on).
PINNED=()
if [ -n "$PIN" ]; then PINNED=(taskset -c "$PIN"); fi

cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
    if [ "$WHERE" = veth ]; then
        ip link del "$IFACE" 2>/dev/null || true
        ip netns del "$NETNS" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

case "$WHERE" in
lo)
    IFACE=lo
    "${PINNED[@]}" "$LOADGEN" serve 127.0.0.1:0 >"$TMP/server" &
    SERVER_PID=$!
    "${PINNED[@]}" "$LOADGEN" udpsink 127.0.0.1:0 >"$TMP/sink" &
    SINK_PID=$!
    ;;
veth)
    IFACE=rnb0$$
    ip netns add "$NETNS"
    ip link add "$IFACE" type veth peer name rnb1 netns "$NETNS"
    ip addr add 10.199.0.1/24 dev "$IFACE"
    ip link set "$IFACE" up
    ip netns exec "$NETNS" ip addr add 10.199.0.2/24 dev rnb1
    ip netns exec "$NETNS" ip link set rnb1 up
    ip netns exec "$NETNS" ip link set lo up
    "${PINNED[@]}" ip netns exec "$NETNS" "$LOADGEN" serve 10.199.0.2:0 >"$TMP/server" &
    SERVER_PID=$!
    "${PINNED[@]}" ip netns exec "$NETNS" "$LOADGEN" udpsink 10.199.0.2:0 >"$TMP/sink" &
    SINK_PID=$!
    ;;
*)
    echo "capture.sh: WHERE is lo or veth" >&2
    exit 1
    ;;
esac
for _ in $(seq 50); do [ -s "$TMP/server" ] && [ -s "$TMP/sink" ] && break; sleep 0.1; done
ADDR=$(cat "$TMP/server")
SINK=$(cat "$TMP/sink")
[ -n "$ADDR" ] && [ -n "$SINK" ] || { echo "capture.sh: the load servers did not start" >&2; exit 1; }

load() {
    case "$LOAD" in
    http) "${PINNED[@]}" "$LOADGEN" drive "$ADDR" "$CONNS" "$REQUESTS" "$THREADS" ;;
    bulk) "${PINNED[@]}" "$LOADGEN" blast "$ADDR" "$STREAMS" "$WRITES" "$SIZE" ;;
    udp) "${PINNED[@]}" "$LOADGEN" udp "$SINK" "$SENDERS" "$DATAGRAMS" "$DGRAM_SIZE" ;;
    *) echo "capture.sh: LOAD is http, bulk or udp" >&2; exit 1 ;;
    esac
}

# CPU seconds (user + system) a live process used so far.
cpu_seconds() {
    local ticks
    ticks=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# run TOOL: starts the tool, waits until it listens, runs the load, stops the tool;
# prints "TOOL LOAD_SECONDS CAPTURED DROPPED CPU_SECONDS".
run() {
    local tool=$1 pid err=$TMP/$1.err
    : >"$err"
    case "$tool" in
    rustniffer)
        "${PINNED[@]}" "$RUSTNIFFER" -i "$IFACE" --buffer-size "$BUFFER_MB" >/dev/null 2>"$err" &
        pid=$!
        ;;
    tcpdump)
        "${PINNED[@]}" tcpdump -i "$IFACE" -B $((BUFFER_MB * 1024)) -w /dev/null 2>"$err" &
        pid=$!
        ;;
    esac
    for _ in $(seq 100); do grep -q "listening on" "$err" && break; sleep 0.05; done
    grep -q "listening on" "$err" || { cat "$err" >&2; exit 1; }
    local result
    result=$(load)
    sleep "$SETTLE"
    local cpu
    cpu=$(cpu_seconds "$pid")
    kill -INT "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null && echo "capture.sh: $tool ignored SIGINT for 5 s" >&2
    wait "$pid" || true
    local captured dropped
    case "$tool" in
    rustniffer)
        captured=$(sed -n 's/^rustniffer: \([0-9]*\) packets captured, \([0-9]*\) dropped by the kernel$/\1/p' "$err")
        dropped=$(sed -n 's/^rustniffer: \([0-9]*\) packets captured, \([0-9]*\) dropped by the kernel$/\2/p' "$err")
        ;;
    tcpdump)
        captured=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured$/\1/p' "$err")
        dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$err")
        ;;
    esac
    echo "$tool ${result%% *} ${captured:-?} ${dropped:-?} $cpu"
}

echo "capture benchmark: $WHERE ($IFACE), load $LOAD, ring ${BUFFER_MB} MiB, $RUNS runs each${PIN:+, pinned to CPUs $PIN}"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
printf '%-11s %8s %10s %9s %12s %8s\n' tool load_s captured dropped packets/s cpu_s
for i in $(seq "$RUNS"); do
    for tool in rustniffer tcpdump; do
        run "$tool"
    done
done | tee "$TMP/results" | awk '{ pps = ($2 > 0 && $3 ~ /^[0-9]+$/) ? $3 / $2 : 0;
    printf "%-11s %8.3f %10s %9s %12.0f %8s\n", $1, $2, $3, $4, pps, $5 }'

echo "median:"
for tool in rustniffer tcpdump; do
    awk -v t="$tool" '$1 == t && $3 ~ /^[0-9]+$/ { print $3 / $2, $4, $5 }' "$TMP/results" |
        sort -n | awk -v t="$tool" '{ pps[NR] = $1; drop[NR] = $2; cpu[NR] = $3 }
            END { if (NR) { m = int((NR + 1) / 2);
                printf "%-11s %12.0f packets/s, %s dropped, %s s CPU (run of median rate)\n", t, pps[m], drop[m], cpu[m] } }'
done
