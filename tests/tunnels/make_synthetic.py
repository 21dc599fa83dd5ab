#!/usr/bin/env python3
"""Writes the synthetic tunnel captures of tests/tunnels/pcaps (synthetic-*.pcap): the
encapsulations and link types this machine's kernel cannot make (see make_captures.sh),
and cases a kernel does not make on demand (two VNIs with the same inner 4-tuple at
once, outer fragments, deep nesting). Each capture holds whole HTTP/1.1 connections
(handshake, request, response, FIN both ways), written byte by byte from the RFC
layouts, independently of rustniffer's packet builder. Deterministic: tests/tunnels.rs
writes them again into a scratch directory (the first argument) and compares.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "pcaps")
T0 = 1_700_000_000
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10

# Link types (tcpdump.org LINKTYPE_*).
ETHERNET, PPP, PPP_HDLC, PPP_ETHER, C_HDLC, NFLOG = 1, 9, 50, 51, 104, 239


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def addr(text):
    """IPv4 or IPv6 address bytes."""
    import ipaddress
    return ipaddress.ip_address(text).packed


def ip(src, dst, proto, payload, ident=0, frag=0x4000):
    """IPv4 (RFC 791) or IPv6 (RFC 8200) datagram; IPv4 header checksum filled in.
    `frag` is the IPv4 flags and fragment offset word (default: DF)."""
    s, d = addr(src), addr(dst)
    if len(s) == 4:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, s, d)
        return h[:10] + struct.pack("!H", checksum(h)) + h[12:] + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, s, d) + payload


def tcp_ip(src, sport, dst, dport, flags, seq, ack, payload=b""):
    """An IP datagram holding a TCP segment (RFC 9293 §3.1), checksum filled in."""
    s, d = addr(src), addr(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    if len(s) == 4:
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = s + d + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    return ip(src, dst, 6, tcp)


def ethernet(ethertype, payload, vlans=()):
    f = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01"
    for vid in vlans:
        f += struct.pack("!HH", 0x8100, vid)
    return f + struct.pack("!H", ethertype) + payload


def ether_ip(datagram, vlans=()):
    return ethernet(0x86DD if datagram[0] >> 4 == 6 else 0x0800, datagram, vlans)


def udp(sport, dport, payload):
    """RFC 768; checksum 0 (not computed)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def vxlan(vni, frame):
    """RFC 7348 §5: I flag, VNI."""
    return struct.pack("!II", 0x08000000, vni << 8) + frame


def geneve(vni, protocol, options, payload):
    """RFC 8926 §3.4: options length in 4-byte units, protocol type, VNI."""
    return struct.pack("!BBHI", len(options) // 4, 0, protocol, vni << 8) + options + payload


def gtp_u(teid, datagram):
    """3GPP TS 29.281 §5.1: G-PDU with the sequence fields and a PDU Session Container
    extension header (type 0x85), as 5G cores send."""
    rest = struct.pack("!HBB", 0, 0, 0x85) + bytes([1, 0x10, 0x09, 0]) + datagram
    return struct.pack("!BBHI", 0x34, 0xFF, len(rest), teid) + rest


def gre(protocol, payload, key=None, seq=None, csum=False):
    """RFC 2784/2890: optional checksum (computed), key and sequence number."""
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    fields = b""
    if key is not None:
        fields += struct.pack("!I", key)
    if seq is not None:
        fields += struct.pack("!I", seq)
    if csum:
        body = struct.pack("!HH", flags, protocol) + b"\0\0\0\0" + fields + payload
        return body[:4] + struct.pack("!HH", checksum(body), 0) + body[8:]
    return struct.pack("!HH", flags, protocol) + fields + payload


def erspan2(session, frame):
    """ERSPAN type II: version 1, VLAN 0, COS 0, session id, index 0."""
    return struct.pack("!HHI", 0x1000, session & 0x3FF, 0) + frame


def erspan3(session, frame):
    """ERSPAN type III: version 2, session id, timestamp, SGT, flags with O set, then
    the 8-byte platform-specific sub-header (platform id 3)."""
    return struct.pack("!HHIHH", 0x2000, session & 0x3FF, 0, 0, 1) + bytes([0x18, 0, 0, 0, 0, 0, 0, 0]) + frame


def mpls(labels, payload):
    """RFC 3032 label stack entries, S on the last, TTL 64."""
    out = b""
    for i, label in enumerate(labels):
        out += struct.pack("!I", label << 12 | (0x100 if i == len(labels) - 1 else 0) | 64)
    return out + payload


def pppoe(session, datagram):
    """RFC 2516 §4 session header, then the PPP protocol (0x0021 IPv4, 0x0057 IPv6)."""
    proto = 0x0057 if datagram[0] >> 4 == 6 else 0x0021
    return struct.pack("!BBHHH", 0x11, 0, session, len(datagram) + 2, proto) + datagram


def nflog(datagram):
    """Linux NFLOG: AF_INET, version 0, group 5; a prefix TLV and the packet TLV, in
    little-endian (an x86 capturing host), each padded to 4 bytes."""
    def tlv(kind, value):
        t = struct.pack("<HH", 4 + len(value), kind) + value
        return t + b"\0" * (-len(t) % 4)
    return bytes([2, 0, 0, 5]) + tlv(10, b"web\0") + tlv(9, datagram)


def conversation(client, cport, server, sport, path, body=b"hello\n", port_http=80):
    """The datagrams of one HTTP/1.1 connection, client's and server's, in order:
    (from_client, datagram)."""
    c_isn, s_isn = 1000 + cport, 5000 + cport
    req = b"GET %s HTTP/1.1\r\nHost: example\r\n\r\n" % path
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    c = lambda flags, seq, ack, data=b"": (True, tcp_ip(client, cport, server, port_http, flags, seq, ack, data))
    s = lambda flags, seq, ack, data=b"": (False, tcp_ip(server, port_http, client, cport, flags, seq, ack, data))
    c1, s1 = c_isn + 1, s_isn + 1
    return [
        c(SYN, c_isn, 0),
        s(SYN | ACK, s_isn, c1),
        c(ACK, c1, s1),
        c(PSH | ACK, c1, s1, req),
        s(PSH | ACK, s1, c1 + len(req), resp),
        c(ACK, c1 + len(req), s1 + len(resp)),
        c(FIN | ACK, c1 + len(req), s1 + len(resp)),
        s(FIN | ACK, s1 + len(resp), c1 + len(req) + 1),
        c(ACK, c1 + len(req) + 1, s1 + len(resp) + 1),
    ]


def write(name, link, frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link)
    for i, data in enumerate(frames):
        us = i * 1000
        out += struct.pack("<IIII", T0 + us // 1_000_000, us % 1_000_000, len(data), len(data)) + data
    with open(os.path.join(OUT, "synthetic-%s.pcap" % name), "wb") as f:
        f.write(out)


def two(wrap, client="10.1.0.1", server="10.1.0.2"):
    """Two connections, each packet wrapped by `wrap(from_client, datagram)`."""
    frames = []
    for port, path in ((40001, b"/one"), (40002, b"/two")):
        frames += [wrap(fc, d) for fc, d in conversation(client, port, server, 80, path)]
    return frames


def outer(fc, a, b, proto, payload, ident=0):
    """The outer datagram from a to b (client side) or b to a, in Ethernet."""
    src, dst = (a, b) if fc else (b, a)
    return ether_ip(ip(src, dst, proto, payload, ident))


def main():
    os.makedirs(OUT, exist_ok=True)
    A4, B4, A6, B6 = "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"
    write("geneve", ETHERNET, two(lambda fc, d: outer(
        fc, A4, B4, 17, udp(30000, 6081, geneve(5001, 0x6558, bytes([1, 2, 0x80, 1, 0xAA, 0xBB, 0xCC, 0xDD]), ether_ip(d))))))
    write("gtpu", ETHERNET, two(lambda fc, d: outer(
        fc, A4, B4, 17, udp(2152, 2152, gtp_u(0x100 if fc else 0x200, d))), "10.45.0.7", "203.0.113.80"))
    write("gre-key", ETHERNET, two(lambda fc, d: outer(fc, A4, B4, 47, gre(0x0800, d, key=77))))
    write("gretap", ETHERNET, two(lambda fc, d: outer(fc, A4, B4, 47, gre(0x6558, ether_ip(d), seq=1, csum=True))))
    write("ip6gre", ETHERNET, two(lambda fc, d: outer(fc, A6, B6, 47, gre(0x86DD, d)), "fd00::1", "fd00::2"))
    write("erspan2", ETHERNET, two(lambda fc, d: outer(fc, A4, B4, 47, gre(0x88BE, erspan2(300, ether_ip(d)), seq=1))))
    write("erspan3", ETHERNET, two(lambda fc, d: outer(fc, A4, B4, 47, gre(0x22EB, erspan3(301, ether_ip(d)), seq=1))))
    write("ipip", ETHERNET, two(lambda fc, d: outer(fc, A4, B4, 4, d)))
    write("sit", ETHERNET, two(lambda fc, d: outer(fc, A4, B4, 41, d), "fd41::1", "fd41::2"))
    write("ip4ip6", ETHERNET, two(lambda fc, d: outer(fc, A6, B6, 4, d)))
    write("ip6ip6", ETHERNET, two(lambda fc, d: outer(fc, A6, B6, 41, d), "fd66::1", "fd66::2"))
    write("mpls", ETHERNET, two(lambda fc, d: ethernet(0x8847, mpls([16 if fc else 17, 100], d))))
    write("pppoe", ETHERNET, two(lambda fc, d: ethernet(0x8864, pppoe(0x1234, d))))
    write("ppp", PPP, two(lambda fc, d: b"\xff\x03" + struct.pack("!H", 0x0021) + d))
    write("ppp-hdlc", PPP_HDLC, two(lambda fc, d: b"\xff\x03" + struct.pack("!H", 0x0021) + d))
    write("chdlc", C_HDLC, two(lambda fc, d: b"\x0f\x00" + struct.pack("!H", 0x0800) + d))
    write("nflog", NFLOG, two(lambda fc, d: nflog(d)))
    # Issue 14's nesting: VLAN → IPv4 → UDP → VXLAN → Ethernet → VLAN → IPv6 → TCP.
    write("nested", ETHERNET, two(lambda fc, d: ethernet(0x0800, ip(
        *((A4, B4) if fc else (B4, A4)), 17, udp(40000, 4789, vxlan(42, ether_ip(d, vlans=[100])))), vlans=[200]),
        "fd43::1", "fd43::2"))
    # MPLS → GRE (key 5) → VXLAN 9 → Ethernet → IPv4: three levels.
    write("mpls-gre-vxlan", ETHERNET, two(lambda fc, d: ethernet(0x8847, mpls([16], ip(
        *((A4, B4) if fc else (B4, A4)), 47, gre(0x0800, ip(
            *(("10.0.0.1", "10.0.0.2") if fc else ("10.0.0.2", "10.0.0.1")), 17,
            udp(40000, 4789, vxlan(9, ether_ip(d)))), key=5))))))
    # The same inner 4-tuple in VNI 1 and VNI 2 at the same time: two connections.
    a = [outer(fc, A4, B4, 17, udp(1, 4789, vxlan(1, ether_ip(d))))
         for fc, d in conversation("10.1.0.1", 40000, "10.1.0.2", 80, b"/vni-one")]
    b = [outer(fc, A4, B4, 17, udp(1, 4789, vxlan(2, ether_ip(d))))
         for fc, d in conversation("10.1.0.1", 40000, "10.1.0.2", 80, b"/vni-two", b"world\n")]
    write("two-vnis", ETHERNET, [f for pair in zip(a, b) for f in pair])
    # A response too big for the underlay: the outer VXLAN datagram is fragmented.
    frames = []
    for i, (fc, d) in enumerate(conversation("10.1.0.1", 40000, "10.1.0.2", 80, b"/big", b"x" * 2000)):
        payload = udp(1, 4789, vxlan(42, ether_ip(d)))
        src, dst = (A4, B4) if fc else (B4, A4)
        size = 1480
        for off in range(0, len(payload), size):
            more = off + size < len(payload)
            frames.append(ether_ip(ip(src, dst, 17, payload[off:off + size], ident=i + 1,
                                      frag=(0x2000 if more else 0) | off // 8)))
    write("vxlan-fragmented", ETHERNET, frames)


if __name__ == "__main__":
    main()
