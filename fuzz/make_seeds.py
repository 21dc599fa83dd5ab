#!/usr/bin/env python3
"""Writes starting inputs for the fuzz targets from the conformance corpus.

    fuzz/make_seeds.py [CONFORMANCE_DIR]   (default ../../shared/conformance)

seeds/decode: each classic pcap's frames in the decode target's framing;
seeds/analyzers: TCP payloads (HTTP messages, TLS hellos);
seeds/format: the format strings of the corpus's command lines, NUL-terminated,
followed by a request/response pair. The capture target reads the pcaps directly.
Run once; `cargo fuzz cmin` keeps what adds coverage.
"""
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../shared/conformance")
LINKS = [1, 101, 113, 276, 0, 108, 228, 229, 12, 14]  # fuzz_targets/decode.rs order


def write(target, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def classic_frames(blob):
    magic = blob[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    link = struct.unpack(e + "I", blob[20:24])[0] & 0xFFFF
    frames, at = [], 24
    while at + 16 <= len(blob):
        caplen = struct.unpack(e + "I", blob[at + 8 : at + 12])[0]
        frames.append(blob[at + 16 : at + 16 + caplen])
        at += 16 + caplen
    return link, frames


def tcp_payload(link, f):
    at = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4}.get(link, 0)
    if link == 1:
        while f[at - 2 : at] in (b"\x81\x00", b"\x88\xa8"):
            at += 4
    ip = f[at:]
    if not ip:
        return b""
    if ip[0] >> 4 == 4 and len(ip) >= 20 and ip[9] == 6:
        tcp = ip[(ip[0] & 15) * 4 : struct.unpack(">H", ip[2:4])[0]]
    elif ip[0] >> 4 == 6 and len(ip) >= 40 and ip[6] == 6:
        tcp = ip[40 : 40 + struct.unpack(">H", ip[4:6])[0]]
    else:
        return b""
    return tcp[(tcp[12] >> 4) * 4 :] if len(tcp) >= 20 else b""


payloads = set()
for name in sorted(os.listdir(os.path.join(CORPUS, "pcaps"))):
    with open(os.path.join(CORPUS, "pcaps", name), "rb") as f:
        link, frames = classic_frames(f.read())
    if link not in LINKS:
        continue
    seed = bytes([LINKS.index(link), 4])
    for frame in frames[:64]:
        seed += struct.pack("<HbB", len(frame), 0, 0) + frame
        payloads.add(tcp_payload(link, frame)[:4096])
    write("decode", seed)
for p in sorted(payloads):
    if p:
        write("analyzers", b"host:" + p)

pairs = sorted(p for p in payloads if p.startswith((b"GET ", b"POST ", b"HTTP/")))
with open(os.path.join(CORPUS, "cases.tsv"), encoding="utf-8") as f:
    next(f)
    formats = set()
    for line in f:
        args = json.loads(line.split("\t")[2])
        for flag in ("-l", "--log-format", "-a", "--append-log-format"):
            if flag in args and args.index(flag) + 1 < len(args):
                formats.add(args[args.index(flag) + 1])
for i, fmt in enumerate(sorted(formats)):
    rest = pairs[i % len(pairs)] if pairs else b""
    write("format", fmt.encode() + b"\0" + rest[:1024])
