#!/usr/bin/env bash
# Records the diagnosis report's captures in tests/report/pcaps/ from real programs on
# loopback (127.0.0.1, ports 18200-18219 only): nginx with its keepalive_timeout, curl,
# Python requests sessions, the tiny asyncio pool and the aborting server of clients.py,
# each capture taken by tcpdump on lo, and nghttpd with nghttp for HTTP/2 (Debian
# nghttp2-server, nghttp2-client). Run as root; needs nginx, curl, tcpdump, python3
# with requests, nghttpd, nghttp. See README.md beside this script for what each
# capture shows.
#
#   tests/report/make_captures.sh [OUTDIR]      (default: tests/report/pcaps)
#   ONLY=h2 tests/report/make_captures.sh       only the HTTP/2 capture
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/capture.sh"
out=${1:-$here/pcaps}
mkdir -p "$out"
out=$(cd "$out" && pwd)
clients="python3 $here/clients.py"

require_tools nginx curl tcpdump python3 nghttpd nghttp

P_CLOSE=18200     # nginx: nonpersistent.pcap
P_UNUSED=18201    # nginx: keepalive_unused.pcap
P_REUSE=18202     # nginx: keepalive_reuse.pcap
P_POOL=18203      # nginx, keepalive_timeout 5 s: client_pool_timeout.pcap
P_SERVER=18204    # nginx, keepalive_timeout 1 s: server_timeout.pcap
P_RST=18205       # clients.py rst-server: rst_storm.pcap
P_H2=18207        # nghttpd (h2c): h2_per_request.pcap

capture_init

www=$tmp/www
mkdir -p "$www" "$tmp/nginx"
printf 'hello, small file\n' >"$www/small"

# HTTP/2 not multiplexed: an h2c client (prior knowledge) run once per request, 10
# requests, so each connection carries one stream.
nghttpd --no-tls -a 127.0.0.1 -d "$www" $P_H2 >/dev/null 2>&1 &
pids+=($!)
wait_port $P_H2
start_capture "$out/h2_per_request.pcap" "tcp port $P_H2"
for _ in $(seq 10); do
    timeout 5 nghttp -H ':authority: h2.test' "http://127.0.0.1:$P_H2/small" >/dev/null
done
stop_capture "$out/h2_per_request.pcap"
[ "${ONLY:-}" = h2 ] && exit 0
cat >"$tmp/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 256; }
http {
    default_type text/plain;
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server_tokens off;
    server {
        listen 127.0.0.1:$P_CLOSE;
        listen 127.0.0.1:$P_UNUSED;
        listen 127.0.0.1:$P_REUSE;
        listen 127.0.0.1:$P_POOL;
        keepalive_timeout 5s;
        root $www;
    }
    server {
        listen 127.0.0.1:$P_SERVER;
        keepalive_timeout 1s;
        root $www;
    }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)
for p in $P_CLOSE $P_UNUSED $P_REUSE $P_POOL $P_SERVER; do wait_port "$p"; done

# The article's scenario 1: non-persistent connections (Connection: close), 12 requests.
start_capture "$out/nonpersistent.pcap" "tcp port $P_CLOSE"
for _ in $(seq 12); do
    curl -sS --max-time 5 -o /dev/null -H 'Connection: close' -H 'Host: close.test' \
        "http://127.0.0.1:$P_CLOSE/small"
done
stop_capture "$out/nonpersistent.pcap"

# Scenario 2: keep-alive asked (HTTP/1.1) but not reused: a new session per request.
start_capture "$out/keepalive_unused.pcap" "tcp port $P_UNUSED"
$clients single-sessions "http://127.0.0.1:$P_UNUSED/small" 12
stop_capture "$out/keepalive_unused.pcap"

# Scenario 3: working keep-alive: 20 requests on one session.
start_capture "$out/keepalive_reuse.pcap" "tcp port $P_REUSE"
$clients session "http://127.0.0.1:$P_REUSE/small" 20
stop_capture "$out/keepalive_reuse.pcap"

# A client pool with a 2 s idle timeout against a server with a 5 s one: the client
# closes first, about 2 s after its last exchange, on each of 12 connections.
start_capture "$out/client_pool_timeout.pcap" "tcp port $P_POOL"
$clients pool 127.0.0.1 $P_POOL --conns 12 --requests 3 --idle-timeout 2
stop_capture "$out/client_pool_timeout.pcap"

# The reverse: the server closes first at its 1 s keep-alive timeout; the client pool
# (5 s) reuses half of the connections after 1.5 s idle and hits the closed ones (RST);
# the other half close when they see the server's FIN.
start_capture "$out/server_timeout.pcap" "tcp port $P_SERVER"
$clients pool 127.0.0.1 $P_SERVER --conns 12 --requests 2 --idle-timeout 5 --reuse-after 1.5
stop_capture "$out/server_timeout.pcap"

# An RST storm: a server that aborts every connection after reading its request.
$clients rst-server $P_RST 15 >"$tmp/rst.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$tmp/rst.out" 2>/dev/null && break; sleep 0.1; done
start_capture "$out/rst_storm.pcap" "tcp port $P_RST"
for _ in $(seq 15); do
    curl -sS --max-time 5 -o /dev/null -H 'Host: abort.test' "http://127.0.0.1:$P_RST/" 2>/dev/null || true
done
stop_capture "$out/rst_storm.pcap"
