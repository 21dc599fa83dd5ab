#!/usr/bin/env python3
"""Writes the synthetic captures of tests/rules/pcaps: one small capture per TCP
lifecycle rule of SPEC §3.5 and §3.6 that real captures show but the conformance corpus
cannot. Each is an Ethernet/IPv4 pcap written byte by byte from the RFC layouts
(independently of rustniffer's own packet builder). Run from anywhere; the output is
deterministic, so re-running it leaves the committed files unchanged (the test suite
checks that by writing them again into a scratch directory given as argument).

The expected outputs in tests/rules/expected were written by hand from the SPEC rules,
not by running rustniffer; cases.tsv says which rule each case shows.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The directory whose pcaps/ receives the captures: this one, or the first argument.
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
CLIENT = (bytes([192, 0, 2, 1]), 40000)
SERVER = (bytes([198, 51, 100, 2]), 80)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src, dst, flags, seq, ack, payload=b"", window=65535):
    """Ethernet + IPv4 (RFC 791) + TCP (RFC 9293 §3.1), checksums filled in."""
    (sip, sport), (dip, dport) = src, dst
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, window, 0, 0) + payload
    pseudo = sip + dip + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", 0x0800)
    return eth + ip + tcp


def write(name, packets):
    """packets: (microseconds after T0, frame bytes)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for us, data in packets:
        out += struct.pack("<IIII", T0 + us // 1_000_000, us % 1_000_000, len(data), len(data))
        out += data
    with open(os.path.join(OUT, "pcaps", name), "wb") as f:
        f.write(out)


class Conn:
    """One connection between CLIENT (its port may change) and SERVER."""

    def __init__(self, port=40000, isn_c=1000, isn_s=5000):
        self.c = (CLIENT[0], port)
        self.isn_c, self.isn_s = isn_c, isn_s

    def cli(self, flags, seq, ack, payload=b""):
        return frame(self.c, SERVER, flags, self.isn_c + seq, self.isn_s + ack, payload)

    def srv(self, flags, seq, ack, payload=b""):
        return frame(SERVER, self.c, flags, self.isn_s + seq, self.isn_c + ack, payload)

    def handshake(self, t):
        return [
            (t, frame(self.c, SERVER, SYN, self.isn_c, 0)),
            (t + 100, frame(SERVER, self.c, SYN | ACK, self.isn_s, self.isn_c + 1)),
            (t + 200, self.cli(ACK, 1, 1)),
        ]


REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"  # 27 bytes
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"  # 38 bytes
Q, R = 1 + len(REQ), 1 + len(RESP)  # relative sequence numbers after the data


def exchange(c, t):
    return [(t, c.cli(PSH | ACK, 1, 1, REQ)), (t + 1000, c.srv(PSH | ACK, 1, Q, RESP))]


def close_retransmitted_fin():
    """§3.5: the client's last ACK is missing from the capture; the server's FIN
    retransmission (an accepted packet with ACK, after both FINs) closes."""
    c = Conn()
    p = c.handshake(0) + exchange(c, 1000)
    p += [
        (10_000, c.cli(FIN | ACK, Q, R)),
        (10_100, c.srv(FIN | ACK, R, Q + 1)),
        # (the client's ACK of the server's FIN was not captured)
        (210_100, c.srv(FIN | ACK, R, Q + 1)),
    ]
    write("close_retransmitted_fin.pcap", p)


def close_simultaneous():
    """§3.5: the FINs cross; the first packet with ACK after both closes, here the
    server's, although it acknowledges nothing new."""
    c = Conn()
    p = c.handshake(0) + exchange(c, 1000)
    p += [
        (10_000, c.cli(FIN | ACK, Q, R)),
        (10_050, c.srv(FIN | ACK, R, Q)),
        (10_300, c.srv(ACK, R + 1, Q + 1)),
        (10_400, c.cli(ACK, Q + 1, R + 1)),
    ]
    write("close_simultaneous.pcap", p)


def rst_refused_then_retry():
    """§3.5: a bare RST (no ACK flag, sequence number 0) refuses the SYN; the client's
    retry on the same 4-tuple one second later is a new connection with its exchange."""
    c = Conn()
    p = [
        (0, frame(c.c, SERVER, SYN, c.isn_c, 0)),
        (150, frame(SERVER, c.c, RST, 0, 0)),
    ]
    r = Conn(isn_c=9000, isn_s=7000)
    p += r.handshake(1_000_000) + exchange(r, 1_001_000)
    p += [
        (1_010_000, r.srv(FIN | ACK, R, Q)),
        (1_010_100, r.cli(FIN | ACK, Q, R + 1)),
        (1_010_200, r.srv(ACK, R + 1, Q + 1)),
    ]
    write("rst_refused_then_retry.pcap", p)


def rst_from_client_before_syn_ack():
    """§3.5: before the SYN-ACK the client's RST (and a server RST off sequence
    number 0) is not accepted: the connection stays opening until the end."""
    c = Conn()
    p = [
        (0, frame(c.c, SERVER, SYN, c.isn_c, 0)),
        (100, frame(SERVER, c.c, RST | ACK, 777, c.isn_c + 1)),
        (200, frame(c.c, SERVER, RST, c.isn_c + 1, 0)),
    ]
    d = Conn(port=40001)
    p += d.handshake(500_000) + exchange(d, 501_000)
    write("rst_from_client_before_syn_ack.pcap", p)


def midstream_rst():
    """§3.6: with -m an RST of an unknown 4-tuple creates a connection and closes it
    at once, closed by its sender (its payload ignored). Without -m it is ignored."""
    c = Conn()
    p = [
        (0, c.srv(RST | ACK, 100, 200, b"reset text")),
        (1_000, c.srv(ACK, 100, 200, b"late")),
    ]
    write("midstream_rst.pcap", p)


if __name__ == "__main__":
    close_retransmitted_fin()
    close_simultaneous()
    rst_refused_then_retry()
    rst_from_client_before_syn_ack()
    midstream_rst()
