#!/usr/bin/env python3
"""Writes starting inputs for the h2_frames and hpack fuzz targets (fuzz/seeds/TARGET),
built from RFC 9113 frame layouts and the RFC 7541 Appendix C header blocks.

    fuzz/make_h2_seeds.py

Run once; fuzz/cmin.sh keeps what adds coverage.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 7541 C.3, C.4 (requests, 4096-byte table), C.5, C.6 (responses, 256-byte table).
C3 = ["828684410f7777772e6578616d706c652e636f6d", "828684be58086e6f2d6361636865",
      "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]
C4 = ["828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf",
      "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
C5 = ["4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
      "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
      "6c65 2e63 6f6d",
      "4803 3330 37c1 c0bf",
      "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
      "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
      "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
      "3d31"]
C6 = ["4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
      "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
      "4883 640e ffc1 c0bf",
      "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
      "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
      "9587 3160 65c0 03ed 4ee5 b106 3d50 07"]
C2 = ["400a637573746f6d2d6b65790d637573746f6d2d686561646572", "040c2f73616d706c652f70617468",
      "100870617373776f726406736563726574", "82"]
SIZE_256 = "3fe101"  # dynamic table size update to 256


def write(target, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def blocks(control, hexes):
    out = bytes([control])
    for h in hexes:
        b = bytes.fromhex(h)
        out += bytes([len(b)]) + b
    return out


# hpack: control byte, then length-prefixed blocks.
for control, series in [(0, C2[:1]), (0, C2[1:2]), (0, C2[2:3]), (0, C2[3:]), (0, C3), (0, C4),
                        (3, [SIZE_256 + C5[0]] + C5[1:]), (3, [SIZE_256 + C6[0]] + C6[1:]),
                        (4, C3), (8, C4)]:
    if all(len(bytes.fromhex(h)) < 256 for h in series):
        write("hpack", blocks(control, series))

# h2_frames: three control bytes (cuts seed, gap place, bit 0 client), then frames.
settings = struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535) + struct.pack(">HI", 1, 4096)
req = bytes.fromhex(C4[0])
client = (PREFACE + frame(4, 0, 0, settings) + frame(8, 0, 0, struct.pack(">I", 1 << 20))
          + frame(1, 0x25, 1, struct.pack(">IB", 0x80000000, 15) + req)
          + frame(1, 0x0c, 3, bytes([2]) + req[:5] + b"\0\0") + frame(9, 0x04, 3, req[5:])
          + frame(0, 0x09, 3, bytes([4]) + b"body" + b"\0" * 4)
          + frame(6, 0, 0, b"pingpong") + frame(4, 1, 0, b"") + frame(3, 0, 1, struct.pack(">I", 8))
          + frame(2, 0, 5, struct.pack(">IB", 3, 200)) + frame(0x0b, 0, 0, b"unknown"))
write("h2_frames", bytes([7, 3, 1]) + client)
resp = bytes.fromhex(C6[0])
server = (frame(4, 0, 0, struct.pack(">HI", 5, 32768)) + frame(4, 1, 0, b"")
          + frame(5, 0x0c, 1, bytes([1]) + struct.pack(">I", 2) + resp + b"\0")
          + frame(1, 0x04, 1, resp) + frame(0, 0, 1, b"x" * 3000) + frame(0, 1, 1, b"")
          + frame(6, 1, 0, b"pingpong") + frame(7, 0, 0, struct.pack(">II", 3, 0) + b"bye"))
write("h2_frames", bytes([11, 5, 2]) + server)
write("h2_frames", bytes([1, 0, 0]) + frame(0, 0, 1, b"y" * 20000))
