#!/usr/bin/env bash
# Records the protocol captures in tests/protocols/pcaps/ from real programs talking on
# loopback (127.0.0.1 only): nginx, curl, tinyproxy, openssl s_server/s_client and the
# small Python programs of helpers.py, each capture taken by tcpdump on lo.
# Run as root (tcpdump); needs nginx, curl, tinyproxy, openssl, tcpdump, python3.
# See README.md beside this script for what each capture shows.
#
#   tests/protocols/make_captures.sh [OUTDIR]      (default: tests/protocols/pcaps)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/capture.sh"
out=${1:-$here/pcaps}
mkdir -p "$out"
out=$(cd "$out" && pwd)
helpers="python3 $here/helpers.py"

require_tools nginx curl tinyproxy openssl tcpdump python3

# Ports: one per scenario (and per server), all on 127.0.0.1.
P_KEEPALIVE=18081  # nginx: nginx_keepalive.pcap
P_UPLOAD=18082     # helpers.py upload-server: curl_post.pcap
P_PIPELINE=18083   # nginx: pipelined.pcap
P_CLOSE=18084      # helpers.py close-server: http10_close.pcap
P_PROXY=18085      # tinyproxy: connect_proxy.pcap
P_TUNNEL_TLS=18443 # nginx ssl: connect_proxy.pcap (the tunnel's far end)
P_ALPN=18444       # openssl s_server: tls_alpn.pcap
P_KEEP20=18086     # nginx: keepalive_20.pcap, keepalive_gap.pcap

capture_init

# --- files and certificates -------------------------------------------------------------
www=$tmp/www
mkdir -p "$www"
printf 'hello, small file\n' >"$www/small"
# 100 KB of text made of words (gzip shrinks it to a few tens of KB: several chunks)
python3 - "$www/big.txt" <<'PY'
import random, sys
rng = random.Random(7)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(3000)]
text = ''
while len(text) < 102400:
    text += ' '.join(rng.choice(words) for _ in range(12)) + '\n'
open(sys.argv[1], 'w').write(text[:102400])
PY
for i in $(seq 1 20); do printf 'page %d of twenty\n' "$i" >"$www/page$i"; done
# Fixed modification times: nginx's ETag is "<mtime hex>-<size hex>".
touch -d @1700000000 "$www"/*
small_etag=$(printf '"%x-%x"' 1700000000 "$(stat -c %s "$www/small")")

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 30 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

# --- nginx --------------------------------------------------------------------------------
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    etag on;
    gzip on;
    gzip_types text/plain;
    server_tokens off;
    server {
        listen 127.0.0.1:$P_KEEPALIVE;
        listen 127.0.0.1:$P_PIPELINE;
        listen 127.0.0.1:$P_KEEP20;
        root $www;
        location = /empty { return 204; }
    }
    server {
        listen 127.0.0.1:$P_TUNNEL_TLS ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        root $www;
    }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)
for p in $P_KEEPALIVE $P_PIPELINE $P_KEEP20 $P_TUNNEL_TLS; do $helpers wait-port "$p"; done

# --- nginx_keepalive.pcap: six requests on one connection ---------------------------------
base=http://127.0.0.1:$P_KEEPALIVE
start_capture "$out/nginx_keepalive.pcap" "tcp port $P_KEEPALIVE"
curl -sS --max-time 10 -o /dev/null "$base/small" \
    --next -sS --max-time 10 -o /dev/null -I "$base/small" \
    --next -sS --max-time 10 -o /dev/null -H "If-None-Match: $small_etag" "$base/small" \
    --next -sS --max-time 10 -o /dev/null "$base/empty" \
    --next -sS --max-time 10 -o /dev/null -H 'Accept-Encoding: gzip' "$base/big.txt" \
    --next -sS --max-time 10 -o /dev/null "$base/missing"
stop_capture "$out/nginx_keepalive.pcap"

# --- curl_post.pcap: 100-continue, chunked request body, HTTP/1.0 -------------------------
$helpers upload-server $P_UPLOAD &
pids+=($!)
$helpers wait-port $P_UPLOAD
head -c 98304 "$www/big.txt" >"$tmp/post.bin"    # 96 KB: keeps the capture small
head -c 20000 "$www/big.txt" >"$tmp/chunked.bin"
start_capture "$out/curl_post.pcap" "tcp port $P_UPLOAD"
curl -sS --max-time 10 -o /dev/null -H 'Expect: 100-continue' -H 'Content-Type: text/plain' \
    --data-binary @"$tmp/post.bin" "http://127.0.0.1:$P_UPLOAD/upload"
curl -sS --max-time 10 -o /dev/null -H 'Transfer-Encoding: chunked' -H 'Content-Type: text/plain' \
    --data-binary @"$tmp/chunked.bin" "http://127.0.0.1:$P_UPLOAD/chunked"
curl -sS --max-time 10 -o /dev/null --http1.0 "http://127.0.0.1:$P_UPLOAD/old"
stop_capture "$out/curl_post.pcap"

# --- pipelined.pcap: all requests in one write ---------------------------------------------
start_capture "$out/pipelined.pcap" "tcp port $P_PIPELINE"
$helpers pipeline $P_PIPELINE /small /page1 /page2 /missing /page3
$helpers pipeline $P_PIPELINE /page4 HEAD:/small /page5
stop_capture "$out/pipelined.pcap"

# --- http10_close.pcap: a close-delimited response body ------------------------------------
$helpers close-server $P_CLOSE 1 &
close_pid=$!
pids+=($close_pid)
$helpers wait-port $P_CLOSE  # a probe without a request: the server does not count it
start_capture "$out/http10_close.pcap" "tcp port $P_CLOSE"
curl -sS --max-time 10 -o /dev/null --http1.0 "http://127.0.0.1:$P_CLOSE/stream"
wait "$close_pid" || true
stop_capture "$out/http10_close.pcap"

# --- connect_proxy.pcap: CONNECT through tinyproxy, then TLS in the tunnel ------------------
mkdir -p "$tmp/tinyproxy"
cat >"$tmp/tinyproxy/tinyproxy.conf" <<CONF
Port $P_PROXY
Listen 127.0.0.1
Timeout 30
MaxClients 8
Allow 127.0.0.1
ConnectPort $P_TUNNEL_TLS
DisableViaHeader Yes
LogLevel Critical
PidFile "$tmp/tinyproxy/tinyproxy.pid"
LogFile "$tmp/tinyproxy/tinyproxy.log"
CONF
tinyproxy -d -c "$tmp/tinyproxy/tinyproxy.conf" &
pids+=($!)
$helpers wait-port $P_PROXY
start_capture "$out/connect_proxy.pcap" "tcp port $P_PROXY or tcp port $P_TUNNEL_TLS"
curl -sS --max-time 10 -o /dev/null -k -p -x "http://127.0.0.1:$P_PROXY" "https://127.0.0.1:$P_TUNNEL_TLS/small"
stop_capture "$out/connect_proxy.pcap"

# --- tls_alpn.pcap: TLS handshakes with SNI, ALPN, TLS 1.2 and 1.3 --------------------------
openssl s_server -accept "127.0.0.1:$P_ALPN" -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    -alpn h2,http/1.1 -www -quiet >/dev/null 2>&1 &
pids+=($!)
sleep 1
s_client() { # ARGS...: one handshake, an HTTP/1.0 request, then the server closes
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -connect "127.0.0.1:$P_ALPN" \
        -servername example.test -ign_eof "$@" >/dev/null 2>&1 || true
}
start_capture "$out/tls_alpn.pcap" "tcp port $P_ALPN"
s_client -alpn h2
s_client -alpn http/1.1
s_client -tls1_2
s_client -tls1_3
s_client -alpn foo/1,bar/2  # no protocol in common: the server ends the handshake with an alert
curl -sS --max-time 10 -o /dev/null -k --http1.1 --resolve "example.test:$P_ALPN:127.0.0.1" \
    "https://example.test:$P_ALPN/"
stop_capture "$out/tls_alpn.pcap"

# --- keepalive_20.pcap and keepalive_gap.pcap: 20 requests, then one response left out -----
urls=()
for i in $(seq 1 20); do
    [ "$i" -gt 1 ] && urls+=(--next)
    urls+=(-sS --max-time 10 -o /dev/null "http://127.0.0.1:$P_KEEP20/page$i")
done
start_capture "$out/keepalive_20.pcap" "tcp port $P_KEEP20"
curl "${urls[@]}"
stop_capture "$out/keepalive_20.pcap"
$helpers drop-frame "$out/keepalive_20.pcap" "$out/keepalive_gap.pcap" $P_KEEP20 10

ls -l "$out"
