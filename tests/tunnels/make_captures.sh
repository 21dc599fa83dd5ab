#!/usr/bin/env bash
# Kernel-made tunnel captures for tests/tunnels.rs: two network namespaces joined by a
# veth pair (the underlay), a tunnel device in each, an HTTP server (python3 -m
# http.server) in one and curl in the other across the tunnel, tcpdump on the underlay
# veth. Needs root. Writes tests/tunnels/pcaps/kernel-*.pcap (or into $1/).
#
# Only the tunnel types this kernel has are made (ip link add ... type X fails with
# "Unknown device type" otherwise, and the case is skipped with a note); the others are
# written by make_synthetic.py. Every namespace and link made here is deleted on exit,
# failure included.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/pcaps}
mkdir -p "$OUT"
A=rnt-tun-a
B=rnt-tun-b
WORK=$(mktemp -d)
SERVER_PID=
DUMP_PID=

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$DUMP_PID" ] && kill "$DUMP_PID" 2>/dev/null || true
    # Deleting a namespace deletes the links inside it (the veth pair too).
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

a() { ip netns exec "$A" "$@"; }
b() { ip netns exec "$B" "$@"; }

ip netns add "$A"
ip netns add "$B"
ip link add rnt-ua type veth peer name rnt-ub
ip link set rnt-ua netns "$A"
ip link set rnt-ub netns "$B"
a ip link set lo up
b ip link set lo up
a ip link set rnt-ua up
b ip link set rnt-ub up
a ip addr add 192.0.2.1/24 dev rnt-ua
b ip addr add 192.0.2.2/24 dev rnt-ub
a ip addr add 2001:db8::1/64 dev rnt-ua nodad
b ip addr add 2001:db8::2/64 dev rnt-ub nodad
echo hello > "$WORK/index.html"

# capture NAME SERVER_IP: captures two HTTP connections to SERVER_IP:8000 on the underlay.
capture() {
    local name=$1 server=$2 url
    case $server in *:*) url="http://[$server]:8000" ;; *) url="http://$server:8000" ;; esac
    # `ip netns exec` runs the program in its own process: $! is tcpdump's pid.
    ip netns exec "$A" tcpdump -i rnt-ua --immediate-mode -U -s 262144 -w "$OUT/kernel-$name.pcap" \
        'not arp and not icmp6' 2>"$WORK/dump.err" &
    DUMP_PID=$!
    for _ in $(seq 100); do grep -q "listening on" "$WORK/dump.err" && break; sleep 0.05; done
    ip netns exec "$B" python3 -m http.server 8000 --bind "$server" --directory "$WORK" >/dev/null 2>&1 &
    SERVER_PID=$!
    local ok=
    for _ in $(seq 100); do
        if a curl -s -m 2 -o /dev/null "$url/"; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "make_captures.sh: $name: no answer across the tunnel" >&2; exit 1; }
    a curl -s -m 5 -o /dev/null "$url/index.html?second"
    sleep 1
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
    kill -INT "$DUMP_PID"; wait "$DUMP_PID" 2>/dev/null || true; DUMP_PID=
    echo "kernel-$name.pcap: $(tcpdump -r "$OUT/kernel-$name.pcap" 2>/dev/null | wc -l) packets" >&2
}

# tunnel NS DEV TYPE-ARGS...: `ip link add` in NS, or a note and status 1 when the kernel
# lacks the type.
tunnel() {
    local ns=$1 dev=$2
    shift 2
    if ! ip netns exec "$ns" ip link add "$dev" "$@" 2>"$WORK/link.err"; then
        echo "skipped $dev: $(cat "$WORK/link.err")" >&2
        return 1
    fi
    ip netns exec "$ns" ip link set "$dev" up
}

# both DEV TYPE-ARGS-A TYPE-ARGS-B: the same tunnel device in both namespaces.
both() {
    local dev=$1 args_a=$2 args_b=$3
    # shellcheck disable=SC2086
    tunnel "$A" "$dev" $args_a && tunnel "$B" "$dev" $args_b
}

drop() { a ip link del "$1" 2>/dev/null || true; b ip link del "$1" 2>/dev/null || true; }

# VXLAN on the IANA port, IPv4 underlay, VNI 42.
if both rnt-vx "type vxlan id 42 dstport 4789 local 192.0.2.1 remote 192.0.2.2 dev rnt-ua" \
    "type vxlan id 42 dstport 4789 local 192.0.2.2 remote 192.0.2.1 dev rnt-ub"; then
    a ip addr add 10.42.0.1/24 dev rnt-vx
    b ip addr add 10.42.0.2/24 dev rnt-vx
    capture vxlan 10.42.0.2
    drop rnt-vx
fi

# VXLAN on Linux's port 8472 (Flannel), VNI 7.
if both rnt-vx "type vxlan id 7 dstport 8472 local 192.0.2.1 remote 192.0.2.2 dev rnt-ua" \
    "type vxlan id 7 dstport 8472 local 192.0.2.2 remote 192.0.2.1 dev rnt-ub"; then
    a ip addr add 10.7.0.1/24 dev rnt-vx
    b ip addr add 10.7.0.2/24 dev rnt-vx
    capture vxlan-8472 10.7.0.2
    drop rnt-vx
fi

# VXLAN over an IPv6 underlay, IPv6 inside.
if both rnt-vx "type vxlan id 600 dstport 4789 local 2001:db8::1 remote 2001:db8::2 dev rnt-ua" \
    "type vxlan id 600 dstport 4789 local 2001:db8::2 remote 2001:db8::1 dev rnt-ub"; then
    a ip addr add fd60::1/64 dev rnt-vx nodad
    b ip addr add fd60::2/64 dev rnt-vx nodad
    capture vxlan6 fd60::2
    drop rnt-vx
fi

# The nesting of issue 14: VLAN 200 on the underlay → IPv4 → UDP → VXLAN 43 → Ethernet
# → VLAN 100 → IPv6 → TCP.
if both rnt-ua.200 "link rnt-ua type vlan id 200" "link rnt-ub type vlan id 200"; then
    a ip addr add 198.51.100.1/24 dev rnt-ua.200
    b ip addr add 198.51.100.2/24 dev rnt-ua.200
    if both rnt-vx "type vxlan id 43 dstport 4789 local 198.51.100.1 remote 198.51.100.2 dev rnt-ua.200" \
        "type vxlan id 43 dstport 4789 local 198.51.100.2 remote 198.51.100.1 dev rnt-ua.200" &&
        both rnt-vx.100 "link rnt-vx type vlan id 100" "link rnt-vx type vlan id 100"; then
        a ip addr add fd43::1/64 dev rnt-vx.100 nodad
        b ip addr add fd43::2/64 dev rnt-vx.100 nodad
        capture vlan-vxlan-vlan6 fd43::2
    fi
    drop rnt-vx
    a ip link del rnt-ua.200 2>/dev/null || true
    b ip link del rnt-ua.200 2>/dev/null || true
fi

# VXLAN in VXLAN: VNI 1 on the underlay, VNI 2 over VNI 1's addresses.
if both rnt-vx1 "type vxlan id 1 dstport 4789 local 192.0.2.1 remote 192.0.2.2 dev rnt-ua" \
    "type vxlan id 1 dstport 4789 local 192.0.2.2 remote 192.0.2.1 dev rnt-ub"; then
    a ip addr add 172.16.1.1/24 dev rnt-vx1
    b ip addr add 172.16.1.2/24 dev rnt-vx1
    if both rnt-vx2 "type vxlan id 2 dstport 8472 local 172.16.1.1 remote 172.16.1.2 dev rnt-vx1" \
        "type vxlan id 2 dstport 8472 local 172.16.1.2 remote 172.16.1.1 dev rnt-vx1"; then
        a ip addr add 172.16.2.1/24 dev rnt-vx2
        b ip addr add 172.16.2.2/24 dev rnt-vx2
        capture vxlan-in-vxlan 172.16.2.2
        drop rnt-vx2
    fi
    drop rnt-vx1
fi

# The types this kernel may lack: each is tried, and skipped with a note.
if both rnt-gnv "type geneve id 5001 remote 192.0.2.2" "type geneve id 5001 remote 192.0.2.1"; then
    a ip addr add 10.50.0.1/24 dev rnt-gnv
    b ip addr add 10.50.0.2/24 dev rnt-gnv
    capture geneve 10.50.0.2
    drop rnt-gnv
fi
if both rnt-gt "type gretap local 192.0.2.1 remote 192.0.2.2 key 77" \
    "type gretap local 192.0.2.2 remote 192.0.2.1 key 77"; then
    a ip addr add 10.77.0.1/24 dev rnt-gt
    b ip addr add 10.77.0.2/24 dev rnt-gt
    capture gretap 10.77.0.2
    drop rnt-gt
fi
if both rnt-ipip "type ipip local 192.0.2.1 remote 192.0.2.2" \
    "type ipip local 192.0.2.2 remote 192.0.2.1"; then
    a ip addr add 10.4.0.1/24 dev rnt-ipip
    b ip addr add 10.4.0.2/24 dev rnt-ipip
    capture ipip 10.4.0.2
    drop rnt-ipip
fi
if both rnt-sit "type sit local 192.0.2.1 remote 192.0.2.2" \
    "type sit local 192.0.2.2 remote 192.0.2.1"; then
    a ip addr add fd41::1/64 dev rnt-sit nodad
    b ip addr add fd41::2/64 dev rnt-sit nodad
    capture sit fd41::2
    drop rnt-sit
fi
if both rnt-6t "type ip6tnl local 2001:db8::1 remote 2001:db8::2 mode any" \
    "type ip6tnl local 2001:db8::2 remote 2001:db8::1 mode any"; then
    a ip addr add 10.46.0.1/24 dev rnt-6t
    b ip addr add 10.46.0.2/24 dev rnt-6t
    capture ip4ip6 10.46.0.2
    drop rnt-6t
fi
if both rnt-ers "type erspan seq key 100 local 192.0.2.1 remote 192.0.2.2 erspan_ver 1 erspan 123" \
    "type erspan seq key 100 local 192.0.2.2 remote 192.0.2.1 erspan_ver 1 erspan 123"; then
    a ip addr add 10.88.0.1/24 dev rnt-ers
    b ip addr add 10.88.0.2/24 dev rnt-ers
    capture erspan2 10.88.0.2
    drop rnt-ers
fi
