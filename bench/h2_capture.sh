#!/usr/bin/env bash
# Records an HTTP/2 benchmark capture once: h2load sends 100,000 requests over 4
# clear-text HTTP/2 connections to nghttpd on loopback, captured by tcpdump into
# DIR/NAME.pcap, with DIR/NAME.info (packets, exchanges = streams, bytes) for
# bench_measure. NAME is `h2` (20 concurrent streams per connection: `h2load -m 20`)
# or `h2-serial` (one stream at a time per connection: `-m 1`). Needs root (tcpdump),
# nghttpd and h2load (Debian nghttp2-server, nghttp2-client). Real traffic: timings
# vary from one recording to the next, the stream count does not.
#
#   bench/h2_capture.sh DIR [NAME]
set -euo pipefail
dir=$1
name=${2:-h2}
case $name in
    h2) port=18189 streams=20 ;;
    h2-serial) port=18501 streams=1 ;;
    *) echo "bench/h2_capture.sh: unknown capture $name" >&2; exit 1 ;;
esac
for tool in nghttpd h2load tcpdump; do
    command -v "$tool" >/dev/null || { echo "bench/h2_capture.sh: $tool is missing" >&2; exit 1; }
done
[ -f "$dir/$name.pcap" ] && [ -f "$dir/$name.info" ] && exit 0
tmp=$(mktemp -d /tmp/rustniffer-h2-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
printf 'hello, small file\n' >"$tmp/small"
nghttpd --no-tls -d "$tmp" "$port" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
tcpdump -i lo --immediate-mode -U -s 262144 -B 262144 -w "$dir/$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
pids+=($tcpdump_pid)
for _ in $(seq 100); do
    grep -q "listening on" "$tmp/tcpdump.err" && break
    sleep 0.1
done
sleep 0.3
timeout 120 h2load -n 100000 -c 4 -m "$streams" "http://127.0.0.1:$port/small" | grep -E "requests:|status codes:"
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
grep -E "captured|dropped" "$tmp/tcpdump.err" >&2
packets=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$tmp/tcpdump.err")
dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$tmp/tcpdump.err")
if [ "${dropped:-0}" != 0 ]; then
    echo "bench/h2_capture.sh: the kernel dropped $dropped packets: record again" >&2
    rm -f "$dir/$name.pcap"
    exit 1
fi
printf 'packets %s\nexchanges 100000\nbytes %s\n' "$packets" "$(stat -c %s "$dir/$name.pcap")" >"$dir/$name.info"
