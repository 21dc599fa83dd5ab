#!/usr/bin/env bash
# Records the WebSocket captures in tests/protocols/pcaps/ws_*.pcap from Python
# `websockets` servers and clients talking on loopback (127.0.0.1, ports 18190-18192, or
# $WS_PORT to $WS_PORT+2), each capture taken by tcpdump on lo. Run as root (tcpdump);
# needs tcpdump and /usr/bin/python3 with python3-websockets. See README.md beside this
# script.
#
#   tests/protocols/make_ws_captures.sh [OUTDIR]      (default: tests/protocols/pcaps)
#   CAPTURES="ws_zombie ws_silent" tests/protocols/make_ws_captures.sh   (only those)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/capture.sh"
out=${1:-$here/pcaps}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ws="/usr/bin/python3 $here/ws_helpers.py"

require_tools tcpdump
/usr/bin/python3 -c 'import websockets' || { echo "make_ws_captures.sh: python3-websockets is missing" >&2; exit 1; }

base=${WS_PORT:-18190}
P_PLAIN=$base                 # server without extensions: ws_chat, ws_server_close, ws_vanish, ws_silent, ws_zombie
P_DEFLATE=$((base + 1))       # permessage-deflate with context takeover: ws_deflate
P_NO_TAKEOVER=$((base + 2))   # permessage-deflate, no context takeover either way: ws_deflate_no_takeover

capture_init

$ws server $P_PLAIN plain & pids+=($!)
$ws server $P_DEFLATE deflate & pids+=($!)
$ws server $P_NO_TAKEOVER deflate-no-takeover & pids+=($!)
# The probes connect and leave before the captures start.
for p in $P_PLAIN $P_DEFLATE $P_NO_TAKEOVER; do wait_port "$p"; done

wanted() { # NAME: recorded unless $CAPTURES names others
    [ -z "${CAPTURES:-}" ] || [[ " $CAPTURES " == *" $1 "* ]]
}
capture() { # NAME PORT SCENARIO [EXTENSIONS]
    wanted "$1" || return 0
    start_capture "$out/$1.pcap" "tcp port $2"
    $ws client "$2" "$3" "${4:-plain}"
    stop_capture "$out/$1.pcap"
}
# The zombie: three messages, then only keepalive pings until the capture ends; its
# client closes only after that, so the capture ends with the connection open and idle.
zombie() { # NAME PORT
    wanted "$1" || return 0
    start_capture "$out/$1.pcap" "tcp port $2"
    WS_RELEASE=$tmp/zombie-release $ws client "$2" zombie & local client=$!
    sleep 5   # the messages take a few ms; then about 6 s of pings with stop_capture's 1 s
    stop_capture "$out/$1.pcap"
    touch "$tmp/zombie-release"
    wait "$client"
}
capture ws_chat $P_PLAIN chat
capture ws_deflate $P_DEFLATE deflate deflate
capture ws_deflate_no_takeover $P_NO_TAKEOVER deflate deflate-no-takeover
capture ws_server_close $P_PLAIN server-close
capture ws_vanish $P_PLAIN vanish
capture ws_silent $P_PLAIN silent
zombie ws_zombie $P_PLAIN
