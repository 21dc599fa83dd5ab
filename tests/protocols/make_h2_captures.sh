#!/usr/bin/env bash
# Records the HTTP/2 captures tests/protocols/pcaps/h2_*.pcap from real programs talking
# clear-text HTTP/2 on loopback (127.0.0.1 only): nghttpd with h2load, nghttp and curl
# (prior knowledge and the h2c upgrade), and the gRPC-style server and client of
# h2_grpc.py (Python h2). Each capture is taken by tcpdump on lo.
# Run as root (tcpdump); needs nghttpd, nghttp, h2load (Debian nghttp2-server,
# nghttp2-client), curl, openssl, tcpdump and /usr/bin/python3 with h2 (Debian
# python3-h2).
# See README.md beside this script for what each capture shows.
#
#   tests/protocols/make_h2_captures.sh [OUTDIR]      (default: tests/protocols/pcaps)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/capture.sh"
out=${1:-$here/pcaps}
mkdir -p "$out"
out=$(cd "$out" && pwd)

require_tools nghttpd nghttp h2load curl openssl tcpdump
/usr/bin/python3 -c 'import h2' || { echo "make_h2_captures.sh: python3-h2 is missing" >&2; exit 1; }

# Ports: one per scenario, all on 127.0.0.1 (18180-18189 are this script's).
P_LOAD=18180     # nghttpd: h2_h2load.pcap
P_NGHTTP=18181   # nghttpd: h2_nghttp.pcap
P_PRIOR=18182    # nghttpd: h2_curl_prior.pcap
P_UPGRADE=18183  # h2_grpc.py upgrade (nghttpd does not answer Upgrade: h2c): h2_curl_upgrade.pcap
P_GRPC=18184     # h2_grpc.py: h2_grpc.pcap
P_TLS=18185      # openssl s_server: h2_tls12_alpn.pcap
P_MID=18502      # nghttpd: h2_midstream.pcap

capture_init

# --- files --------------------------------------------------------------------------------
www=$tmp/www
mkdir -p "$www"
printf 'hello, small file\n' >"$www/small"
for i in $(seq 1 5); do printf 'page %d of five\n' "$i" >"$www/page$i"; done
head -c 20000 /dev/zero | tr '\0' 'x' >"$www/medium"

# One nghttpd per scenario, clear text; each waits for its port before its capture (the
# probe's connection is outside the capture).
for port in $P_LOAD $P_NGHTTP $P_PRIOR $P_MID; do
    nghttpd --no-tls -d "$www" "$port" >/dev/null 2>&1 &
    pids+=($!)
    wait_port "$port"
done

# --- h2_h2load.pcap: 200 requests on 2 connections, 20 concurrent streams each -------------
start_capture "$out/h2_h2load.pcap" "tcp port $P_LOAD"
timeout 20 h2load -n 200 -c 2 -m 20 "http://127.0.0.1:$P_LOAD/small" >/dev/null
stop_capture "$out/h2_h2load.pcap"

# --- h2_nghttp.pcap: several URLs on one connection, one missing (404) --------------------
start_capture "$out/h2_nghttp.pcap" "tcp port $P_NGHTTP"
timeout 10 nghttp -n "http://127.0.0.1:$P_NGHTTP/page1" "http://127.0.0.1:$P_NGHTTP/page2" \
    "http://127.0.0.1:$P_NGHTTP/medium" "http://127.0.0.1:$P_NGHTTP/missing" \
    "http://127.0.0.1:$P_NGHTTP/page3"
stop_capture "$out/h2_nghttp.pcap"

# --- h2_curl_prior.pcap: curl with prior knowledge, a GET then a POST, one connection each -
# (curl 7.88 fails to reuse one connection with nghttpd: "Error in the HTTP2 framing layer")
start_capture "$out/h2_curl_prior.pcap" "tcp port $P_PRIOR"
timeout 10 curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$P_PRIOR/page4"
timeout 10 curl -s -o /dev/null --http2-prior-knowledge -d 'name=value&x=1' \
    "http://127.0.0.1:$P_PRIOR/page5"
stop_capture "$out/h2_curl_prior.pcap"

# --- h2_curl_upgrade.pcap: HTTP/1.1 Upgrade: h2c answered 101, the request is stream 1 ----
/usr/bin/python3 "$here/h2_grpc.py" upgrade "$P_UPGRADE" &
pids+=($!)
sleep 0.5
start_capture "$out/h2_curl_upgrade.pcap" "tcp port $P_UPGRADE"
timeout 10 curl -s -o /dev/null --http2 "http://127.0.0.1:$P_UPGRADE/page1"
stop_capture "$out/h2_curl_upgrade.pcap"

# --- h2_grpc.pcap: trailers, a cancelled call, PINGs both ways, GOAWAY from the server -----
/usr/bin/python3 "$here/h2_grpc.py" server "$P_GRPC" &
pids+=($!)
sleep 0.5
start_capture "$out/h2_grpc.pcap" "tcp port $P_GRPC"
timeout 10 /usr/bin/python3 "$here/h2_grpc.py" client "$P_GRPC"
stop_capture "$out/h2_grpc.pcap"

# --- h2_midstream.pcap: a connection captured from its third request on (read with -m) ----
/usr/bin/python3 "$here/h2_midstream.py" "$P_MID" "$tmp/go" >"$tmp/mid.out" &
mid_pid=$!
pids+=($mid_pid)
for _ in $(seq 100); do
    grep -q "waiting for the capture" "$tmp/mid.out" && break
    sleep 0.1
done
start_capture "$out/h2_midstream.pcap" "tcp port $P_MID"
touch "$tmp/go"
wait "$mid_pid"
stop_capture "$out/h2_midstream.pcap"

# --- h2_tls12_alpn.pcap: TLS 1.2 whose ServerHello chooses ALPN h2 (visible in 1.2) -----
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 30 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
openssl s_server -accept "127.0.0.1:$P_TLS" -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    -tls1_2 -alpn h2 -www -naccept 1 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
start_capture "$out/h2_tls12_alpn.pcap" "tcp port $P_TLS"
# openssl's -www server speaks HTTP/1.0 whatever ALPN chose: a GET gets its status page,
# which is all a passive observer needs to see (ciphertext, cut by record turns).
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" \
    -tls1_2 -alpn h2 -servername example.test -ign_eof >/dev/null 2>&1 || true
stop_capture "$out/h2_tls12_alpn.pcap"
